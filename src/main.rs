//! The `commodore` binary: the daemon and its operator face.

mod api;
mod assemble;
mod config;
mod ctl;
mod daemon;
mod metrics;
mod replay;
mod simulate;
mod sweep;
mod token;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "commodore",
    version,
    about = "A supervised, multi-commodity trading daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground until SIGINT/SIGTERM.
    Run {
        /// Config files applied over the embedded defaults, in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
        /// Start with an empty journal on purpose although the data dir shows
        /// a previous run (its order logs are moved aside, never replayed).
        #[arg(long)]
        fresh: bool,
    },
    /// A consistent copy of the journal (while the daemon runs or not).
    Backup {
        /// Config files (to find data_dir), in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
        /// The copy to write (a new file).
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Load and validate the configuration; print it resolved, secrets redacted.
    CheckConfig {
        /// Config files applied over the embedded defaults, in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
    },
    /// The same actor tree over recorded bars on a virtual clock, to the end
    /// of the data; prints a report and writes it as JSON and HTML.
    Replay {
        /// Config files applied over the embedded defaults, in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
        /// 1-minute bars: a CSV with the header at,symbol,open,high,low,close,volume
        /// (default: the bundled week, with its headlines).
        #[arg(long, value_name = "FILE")]
        data: Option<PathBuf>,
        /// Headlines: a CSV with the header at,symbol,headline (optional).
        #[arg(long, value_name = "FILE")]
        news: Option<PathBuf>,
        /// Where the report goes (default: <data_dir>/reports).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Faults to inject, chosen by --seed (0: none, and any failure fails the replay).
        #[arg(long, value_name = "N", default_value_t = 0)]
        faults: u32,
        /// The seed that chooses the faults and draws the paper broker's random slippage (broker.slippage_random_ticks).
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
    },
    /// Replay many seeds with faults, on every core; a table, and the command
    /// that reproduces each failing seed.
    Simulate {
        /// Config files applied over the embedded defaults, in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
        /// Seeds to run: A..B (B excluded), or one seed.
        #[arg(long, value_name = "A..B")]
        seeds: String,
        /// Faults per replay.
        #[arg(long, value_name = "N", default_value_t = 10)]
        faults: u32,
        /// 1-minute bars (default: the bundled week).
        #[arg(long, value_name = "FILE")]
        data: Option<PathBuf>,
        /// Headlines (optional).
        #[arg(long, value_name = "FILE")]
        news: Option<PathBuf>,
        /// Replays at once (default: one per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Replay a grid of strategy parameters, on every core; one table
    /// (JSON and HTML) ranked by a metric.
    Sweep {
        /// Config files applied over the embedded defaults, in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
        /// 1-minute bars: a CSV with the header at,symbol,open,high,low,close,volume.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Headlines (optional).
        #[arg(long, value_name = "FILE")]
        news: Option<PathBuf>,
        /// A parameter and its values: <strategy>.<parameter>=A..B:STEP, A,B,C
        /// or A (a kind's parameter, weight, stop_loss, take_profit or
        /// trailing_stop); repeat for a grid.
        #[arg(long = "param", value_name = "NAME=VALUES", required = true)]
        params: Vec<String>,
        /// Seeds A..B (B excluded), each run with --faults faults.
        #[arg(long, value_name = "A..B")]
        seeds: Option<String>,
        /// Faults per replay, chosen by each seed.
        #[arg(long, value_name = "N", default_value_t = 0)]
        faults: u32,
        /// The metric the table is ranked by: return, pnl, drawdown, sharpe,
        /// sortino, profit_factor, win_rate, expectancy.
        #[arg(long, value_name = "METRIC", default_value = "return")]
        rank: String,
        /// Where the table goes (default: <data_dir>/reports).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replays at once (default: one per core).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Check a journal's invariants (the replay's, and with --delivered the
    /// notifier's outbox): after a chaos run or a crash loop. Exit 1 when one
    /// fails, naming it.
    CheckJournal {
        /// Config files (to find data_dir), in order.
        #[arg(long = "config", value_name = "FILE")]
        config: Vec<PathBuf>,
        /// The journal (default: <data_dir>/journal.sqlite).
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// The dedupe keys a webhook receiver answered 2xx to, one per line:
        /// checks every notification is delivered or still pending.
        #[arg(long, value_name = "FILE")]
        delivered: Option<PathBuf>,
        /// With --delivered: a notification delivered twice fails the check
        /// (without: counted; a kill between an answer and its bookkeeping
        /// sends one again).
        #[arg(long)]
        exactly_once: bool,
    },
    /// Print a completion script for a shell (bash, zsh, fish, elvish,
    /// powershell): `commodore completions bash > /etc/bash_completion.d/commodore`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Talk to a running daemon over its HTTP control API.
    Ctl {
        /// Config files (to find control.listen and the token), in order.
        #[arg(long = "config", value_name = "FILE", global = true)]
        config: Vec<PathBuf>,
        /// Print the raw JSON answer.
        #[arg(long, global = true)]
        json: bool,
        /// The API's base URL (default: from control.listen).
        #[arg(long, global = true, value_name = "URL")]
        url: Option<String>,
        #[command(subcommand)]
        verb: ctl::Verb,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no configuration.
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "commodore",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let files = match &cli.command {
        Command::Completions { .. } => &Vec::new(),
        Command::Run { config, .. }
        | Command::CheckConfig { config }
        | Command::Backup { config, .. }
        | Command::CheckJournal { config, .. }
        | Command::Replay { config, .. }
        | Command::Simulate { config, .. }
        | Command::Sweep { config, .. }
        | Command::Ctl { config, .. } => config,
    };
    let cfg = match config::Config::load(files) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        // Printed above, before any configuration.
        Command::Completions { .. } => ExitCode::SUCCESS,
        Command::Backup { dest, .. } => {
            let journal = assemble::journal_path(&cfg.data_dir);
            match assemble::backup(&journal, &dest) {
                Ok(()) => {
                    println!("backup: {} -> {}", journal.display(), dest.display());
                    ExitCode::SUCCESS
                }
                Err((code, e)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(code)
                }
            }
        }
        Command::CheckJournal {
            journal,
            delivered,
            exactly_once,
            ..
        } => {
            let journal = journal.unwrap_or_else(|| assemble::journal_path(&cfg.data_dir));
            ExitCode::from(replay::check_journal(
                &journal,
                delivered.as_deref(),
                exactly_once,
            ))
        }
        Command::CheckConfig { .. } => {
            // What `run` checks before it starts, checked here too: a
            // webhook's URL variable that is not set.
            if let Err(e) = assemble::webhook_config(&cfg) {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            print!("{}", cfg.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Command::Ctl {
            json, url, verb, ..
        } => ExitCode::from(ctl::run(&cfg, &verb, json, url.as_deref())),
        Command::Simulate {
            config,
            seeds,
            faults,
            data,
            news,
            jobs,
        } => ExitCode::from(simulate::run(&simulate::Args {
            config,
            seeds,
            faults,
            data,
            news,
            jobs,
        }) as u8),
        Command::Sweep {
            config,
            data,
            news,
            params,
            seeds,
            faults,
            rank,
            out,
            jobs,
        } => ExitCode::from(sweep::run(
            &cfg,
            &sweep::Args {
                config,
                data,
                news,
                params,
                seeds,
                faults,
                rank,
                out,
                jobs,
            },
        ) as u8),
        Command::Replay {
            data,
            news,
            out,
            faults,
            seed,
            ..
        } => {
            let mut log = cfg.log.clone();
            // The trades are in the report; the log says what went wrong.
            if log.level == "info" {
                log.level = "warn".into();
            }
            init_logging(&log);
            let args = replay::Args {
                data,
                news,
                out,
                faults,
                seed,
            };
            let code = actix_rt::System::new().block_on(replay::run(cfg, args));
            ExitCode::from(code as u8)
        }
        Command::Run { fresh, .. } => {
            init_logging(&cfg.log);
            let code = actix_rt::System::new().block_on(daemon::run(cfg, files.clone(), fresh));
            ExitCode::from(code as u8)
        }
    }
}

fn init_logging(log: &config::Log) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    // Colour only for a person at a terminal, and never with NO_COLOR: a
    // log file, a pipe or journald gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match log.format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Pretty => builder.init(),
    }
}
