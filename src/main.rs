//! The `commodore` binary: the daemon and its operator face.

mod api;
mod assemble;
mod config;
mod ctl;
mod daemon;
mod metrics;
mod replay;
mod token;

use clap::{Parser, Subcommand};
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
        /// 1-minute bars: a CSV with the header at,symbol,open,high,low,close,volume.
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Headlines: a CSV with the header at,symbol,headline (optional).
        #[arg(long, value_name = "FILE")]
        news: Option<PathBuf>,
        /// Where the report goes (default: <data_dir>/reports).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
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
    let files = match &cli.command {
        Command::Run { config }
        | Command::CheckConfig { config }
        | Command::Replay { config, .. }
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
        Command::CheckConfig { .. } => {
            print!("{}", cfg.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Command::Ctl {
            json, url, verb, ..
        } => ExitCode::from(ctl::run(&cfg, &verb, json, url.as_deref())),
        Command::Replay {
            data, news, out, ..
        } => {
            let mut log = cfg.log.clone();
            // The trades are in the report; the log says what went wrong.
            if log.level == "info" {
                log.level = "warn".into();
            }
            init_logging(&log);
            let code = actix_rt::System::new().block_on(replay::run(cfg, data, news, out));
            ExitCode::from(code as u8)
        }
        Command::Run { .. } => {
            init_logging(&cfg.log);
            let code = actix_rt::System::new().block_on(daemon::run(cfg));
            ExitCode::from(code as u8)
        }
    }
}

fn init_logging(log: &config::Log) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log.format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Pretty => builder.init(),
    }
}
