//! Black-box tests of `commodore check-config` and config errors (exit 2).

use std::path::PathBuf;
use std::process::{Command, Output};

fn commodore(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_commodore"));
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("COMMODORE__") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run commodore")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("commodore-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str, body: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_config_prints_the_resolved_defaults_and_exits_0() {
    let out = commodore(&["check-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "[supervision]",
        "max_restarts = 10",
        "[engine_supervision]",
        "strategy = \"rest_for_one\"",
        "id = \"KC\"",
        "id = \"CC\"",
        "listen = \"127.0.0.1:7421\"",
        "kind = \"paper\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn later_files_and_the_environment_override_earlier_ones() {
    let dir = TempDir::new("override");
    let a = dir.file(
        "a.toml",
        "[supervision]\nmax_restarts = 3\nperiod = \"10s\"\n",
    );
    let b = dir.file("b.toml", "[supervision]\nmax_restarts = 4\n");
    let out = commodore(&["check-config", "--config", &a, "--config", &b], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("max_restarts = 4") && text.contains("period = \"10s\""),
        "{text}"
    );
    let out = commodore(
        &["check-config", "--config", &a],
        &[("COMMODORE__SUPERVISION__MAX_RESTARTS", "7")],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_restarts = 7"));
}

#[test]
fn secrets_are_redacted() {
    let dir = TempDir::new("secret");
    let f = dir.file(
        "hooks.toml",
        "[[notifier.webhooks]]\nkind = \"discord\"\nurl = \"https://discord.example/api/webhooks/1/SECRET-TOKEN\"\nevents = [\"risk\"]\n",
    );
    let out = commodore(&["check-config", "--config", &f], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("url = \"<redacted>\""), "{text}");
    assert!(!text.contains("SECRET-TOKEN") && !stderr(&out).contains("SECRET-TOKEN"));
}

#[test]
fn every_kind_of_config_error_exits_2_naming_file_and_key() {
    let dir = TempDir::new("errors");
    let cases = [
        (
            "unknown.toml",
            "[supervision]\nmax_restartz = 3\n",
            "supervision.max_restartz: unknown key",
        ),
        (
            "type.toml",
            "[supervision]\nmax_restarts = \"many\"\n",
            "supervision.max_restarts: expected an integer",
        ),
        (
            "range.toml",
            "[pipeline]\nmin_consensus = 1.5\n",
            "pipeline.min_consensus: must be between 0 and 1",
        ),
        (
            "duration.toml",
            "[breaker]\ncooldown = \"soon\"\n",
            "breaker.cooldown",
        ),
        (
            "strategy.toml",
            "[engine_supervision]\nstrategy = \"all_for_one\"\n",
            "engine_supervision.strategy",
        ),
        ("toplevel.toml", "dta_dir = \"x\"\n", "dta_dir: unknown key"),
        ("syntax.toml", "data_dir = \n", "not valid TOML"),
        (
            "dup.toml",
            "[[engines]]\nid = \"KC\"\n[[engines]]\nid = \"KC\"\n",
            "engines.id: \"KC\" appears twice",
        ),
        (
            "hook.toml",
            "[[notifier.webhooks]]\nkind = \"slack\"\n",
            "notifier.webhooks.url: set url",
        ),
        (
            "event.toml",
            "[[notifier.webhooks]]\nkind = \"json\"\nurl_env = \"X\"\nevents = [\"trades\"]\n",
            "unknown event kind \"trades\"",
        ),
        (
            "drawdown.toml",
            "[risk]\nday_drawdown_warning = 0.08\n",
            "risk.day_drawdown_halt: must be above its warning (0.08)",
        ),
        (
            "correlation.toml",
            "[risk]\ncorrelations = [{ a = \"KC\", b = \"XX\", rho = 0.2 }]\n",
            "risk.correlations: unknown symbol \"XX\"",
        ),
        (
            "rho.toml",
            "[risk]\ncorrelations = [{ a = \"KC\", b = \"CC\", rho = 1.5 }]\n",
            "rho in [-1, 1]",
        ),
        (
            "factor.toml",
            "[risk]\nwarning_size_factor = 0\n",
            "risk.warning_size_factor: must be above 0 and at most 1",
        ),
        (
            "risk_key.toml",
            "[risk]\nmax_drawdown = 0.1\n",
            "risk.max_drawdown: unknown key",
        ),
        (
            "engine_id.toml",
            "[[engines]]\nid = \"KC 1\"\nsymbol = \"KC\"\n",
            "engines.id: \"KC 1\" is not a valid id: 1 to 32 letters, digits, - or _",
        ),
        (
            "tier_name.toml",
            "[mode]\ntiers = [{ name = \"auto\", threshold = \"0\", size_factor = 1.0, max_open_positions = 2, strategies = [] }]\n",
            "mode.tiers.name: tier name \"auto\": use 1 to 32 capital letters",
        ),
        (
            "tier_dup.toml",
            "[mode]\ntiers = [{ name = \"SEED\", threshold = \"0\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"SEED\", threshold = \"5\", size_factor = 1.0, max_open_positions = 2, strategies = [] }]\n",
            "mode.tiers.name: tier SEED is listed twice",
        ),
        (
            "tier_start.toml",
            "[mode]\ntiers = [{ name = \"SEED\", threshold = \"100\", size_factor = 1.0, max_open_positions = 2, strategies = [] }]\n",
            "mode.tiers.threshold: the lowest tier (SEED) starts at 0",
        ),
        (
            "tier_count.toml",
            "[mode]\ntiers = [{ name = \"T0\", threshold = \"0\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T1\", threshold = \"1000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T2\", threshold = \"2000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T3\", threshold = \"3000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T4\", threshold = \"4000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T5\", threshold = \"5000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T6\", threshold = \"6000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T7\", threshold = \"7000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T8\", threshold = \"8000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T9\", threshold = \"9000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T10\", threshold = \"10000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T11\", threshold = \"11000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T12\", threshold = \"12000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T13\", threshold = \"13000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T14\", threshold = \"14000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T15\", threshold = \"15000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }, { name = \"T16\", threshold = \"16000\", size_factor = 1.0, max_open_positions = 2, strategies = [] }]\n",
            "mode.tiers: needs 1 to 16 tiers",
        ),
        (
            "tier_none.toml",
            "[mode]\ntiers = []\n",
            "mode.tiers: needs 1 to 16 tiers",
        ),
        (
            "broker_timeout.toml",
            "[broker]\ntimeout = \"0s\"\n",
            "broker.timeout: must be above 0 and at most 60s",
        ),
        (
            "broker_participation.toml",
            "[broker]\nparticipation = 1.5\n",
            "broker.participation: is 1.5: use a fraction above 0 and at most 1 of a bar's volume (1: no cap)",
        ),
        (
            "broker_spread.toml",
            "[broker]\nspread_ticks = 5000\n",
            "broker.spread_ticks: must be at most 1000 (ticks)",
        ),
        (
            "broker_latency.toml",
            "[broker]\nlatency = \"2h\"\n",
            "broker.latency: must be at most 1h of market time",
        ),
        // Accepted or misnamed before (issue 14, item 10).
        (
            "period.toml",
            "[supervision]\nperiod = \"0s\"\n",
            "supervision.period: must be above 0 and at most 24h",
        ),
        (
            "shutdown.toml",
            "[supervision]\nshutdown_timeout = \"100000h\"\n",
            "supervision.shutdown_timeout: must be above 0 and at most 10m",
        ),
        (
            "backoff.toml",
            "[supervision]\nbackoff_max = \"48h\"\n",
            "supervision.backoff_max: must be above 0 and at most 1h",
        ),
        (
            "level.toml",
            "[log]\nlevel = \"loud\"\n",
            "log.level: \"loud\" is not a level",
        ),
        (
            "flag.toml",
            "[faults]\nenabled = \"yes\"\n",
            "faults.enabled: \"yes\" is not true or false",
        ),
        (
            "engine_restarts.toml",
            "[engine_supervision]\nmax_restarts = 20000\n",
            "engine_supervision.max_restarts: must be at most 10000",
        ),
        (
            "engine_period.toml",
            "[engine_supervision]\nperiod = \"0s\"\n",
            "engine_supervision.period: must be above 0",
        ),
        (
            "space_url.toml",
            "[[notifier.webhooks]]\nkind = \"json\"\nurl = \"http://a b/c\"\n",
            "notifier.webhooks.url: is not a valid URL",
        ),
        (
            "indexed.toml",
            "[[engines]]\nid = \"KC\"\nsymbol = \"KC\"\ncapital = \"abc\"\n",
            "engines[0].capital: ",
        ),
    ];
    for (name, body, expect) in cases {
        let f = dir.file(name, body);
        for cmd in ["check-config", "run"] {
            let out = commodore(&[cmd, "--config", &f], &[]);
            assert_eq!(out.status.code(), Some(2), "{cmd} {name}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.starts_with(&format!("error: {f}: ")),
                "{cmd} {name}: names the file: {err}"
            );
            assert!(
                err.contains(expect),
                "{cmd} {name}: expected {expect:?} in {err}"
            );
            assert!(
                out.stdout.is_empty(),
                "nothing starts or prints before the error"
            );
        }
    }
    let out = commodore(
        &["check-config", "--config", "/nonexistent/commodore.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/commodore.toml: -: the file does not exist"));
}

#[test]
fn check_config_refuses_what_run_refuses_a_webhook_variable_that_is_not_set() {
    let dir = TempDir::new("url-env");
    let f = dir.file(
        "hook.toml",
        "[[notifier.webhooks]]\nkind = \"slack\"\nurl_env = \"COMMODORE_TEST_NEVER_SET_HOOK\"\n",
    );
    for cmd in ["check-config", "run"] {
        let out = commodore(&[cmd, "--config", &f], &[]);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(
                "notifier.webhooks.url_env (slack1): the variable COMMODORE_TEST_NEVER_SET_HOOK is not set"
            ),
            "{cmd}: {}",
            stderr(&out)
        );
    }
    // A switch from the environment says true or false, nothing else.
    let out = commodore(&["check-config"], &[("COMMODORE__FAULTS__ENABLED", "1")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("faults.enabled: 1 is not true or false"),
        "{}",
        stderr(&out)
    );
    let out = commodore(&["check-config"], &[("COMMODORE__FAULTS__ENABLED", "true")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn environment_errors_name_the_variable() {
    let out = commodore(
        &["check-config"],
        &[("COMMODORE__SUPERVISION__MAX_RESTARTS", "lots")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: environment (COMMODORE__SUPERVISION__MAX_RESTARTS): supervision.max_restarts:"
        ),
        "{err}"
    );
    let out = commodore(
        &["check-config"],
        &[("COMMODORE__SUPERVISION__PROBE_TIMEOUT", "0s")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("supervision.probe_timeout: must be above zero"),
        "{}",
        stderr(&out)
    );
}

/// The variables the examples' secrets come from (their headers say so).
const EXAMPLE_SECRETS: [(&str, &str); 4] = [
    (
        "COMMODORE_DISCORD_URL",
        "https://discord.example/api/webhooks/1/x",
    ),
    ("COMMODORE_SLACK_URL", "https://slack.example/services/x"),
    ("COMMODORE_HOOK_URL", "https://alerts.example/commodore"),
    ("COMMODORE_LLM_API_KEY", "sk-test"),
];

#[test]
fn every_example_config_passes_check_config_and_names_what_it_needs() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config/examples");
    let mut examples: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 4, "{examples:?}");
    for example in &examples {
        let out = commodore(&["check-config", "--config", example], &EXAMPLE_SECRETS);
        assert_eq!(out.status.code(), Some(0), "{example}: {}", stderr(&out));
        let resolved = String::from_utf8_lossy(&out.stdout);
        // Secrets from the environment are never printed back.
        for (_, secret) in EXAMPLE_SECRETS {
            assert!(!resolved.contains(secret), "{example} printed a secret");
        }
    }
    // The paper examples layered together, as an operator would.
    let mut args = vec!["check-config"];
    for e in examples.iter().filter(|e| !e.ends_with("/ib.toml")) {
        args.extend(["--config", e.as_str()]);
    }
    let out = commodore(&args, &EXAMPLE_SECRETS);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // IB over two engines on one contract is refused, saying why.
    let out = commodore(
        &[
            "check-config",
            "--config",
            &format!("{dir}/engines.toml"),
            "--config",
            &format!("{dir}/ib.toml"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("give each contract one engine"),
        "{}",
        stderr(&out)
    );
    // Without its secret, an example says which variable to set.
    for (file, var) in [
        ("webhooks.toml", "COMMODORE_DISCORD_URL"),
        ("llm.toml", "COMMODORE_LLM_API_KEY"),
    ] {
        let path = format!("{dir}/{file}");
        let env: Vec<(&str, &str)> = EXAMPLE_SECRETS
            .iter()
            .copied()
            .filter(|(k, _)| *k != var)
            .collect();
        let mut c = Command::new(env!("CARGO_BIN_EXE_commodore"));
        c.args(["check-config", "--config", &path]).env_remove(var);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{file}: {out:?}");
        assert!(stderr(&out).contains(var), "{file}: {}", stderr(&out));
    }
}
