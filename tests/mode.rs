//! The capital-tier mode through the real binary: the automatic controller moves
//! the mode with the account's equity at start, an operator's tier reaches the
//! engines' next decisions (its strategies, sizes and open positions), and the
//! transition is notified to a webhook.

mod common;

use common::{temp_dir, Daemon, NO_DRAWDOWN_GUARDS};

const FAST: (&str, &str) = ("COMMODORE__FEED__SPEED", "3000");
const DECISIONS: (&str, &str) = (
    "RUST_LOG",
    "info,commodore_actors::journal=debug,commodore_actors::engine::actor=debug",
);

#[test]
fn the_controller_moves_up_with_equity_and_an_operator_tier_reaches_the_decisions() {
    let dir = temp_dir("mode-params");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mode.toml");
    // MICRO trades nothing: every candidate in MICRO ends `vetoed`, by name.
    std::fs::write(
        &file,
        r#"[mode]
tiers = [
  { name = "NANO", threshold = "0", size_factor = 0.25, max_open_positions = 2, strategies = ["news", "momentum"] },
  { name = "MICRO", threshold = "10000", size_factor = 0.5, max_open_positions = 3, strategies = [] },
  { name = "MINI", threshold = "50000", size_factor = 0.75, max_open_positions = 4, strategies = ["news", "momentum"] },
  { name = "BALANCED", threshold = "250000", size_factor = 1.0, max_open_positions = 6, strategies = ["news", "momentum"] },
]
"#,
    )
    .unwrap();
    let env = [[FAST, DECISIONS].as_slice(), &NO_DRAWDOWN_GUARDS].concat();
    let mut d = Daemon::spawn_args(
        &dir,
        common::free_port(),
        &["--config", file.to_str().unwrap()],
        &env,
    );
    // $500,000 of account equity: from NANO straight to BALANCED
    // (250,000 x 1.10 = 275,000 <= 500,000).
    d.expect_any("auto:NANO -> auto:BALANCED");
    let st = d.get("/v1/status");
    assert_eq!(st["mode"]["current"], "BALANCED", "{st}");
    assert_eq!(st["mode"]["auto"], true, "{st}");

    let v = d.post("/v1/mode", r#"{"mode":"MICRO","reason":"test"}"#);
    assert_eq!(v["mode"]["current"], "MICRO", "{v}");
    d.expect("is not enabled in mode MICRO");
    // A manual mode stays where the operator put it.
    assert_eq!(d.get("/v1/status")["mode"]["current"], "MICRO");
    // Back to auto: the controller takes over from MICRO.
    d.post("/v1/mode", r#"{"mode":"auto"}"#);
    d.expect("auto:MICRO -> auto:BALANCED");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A desk's own tiers replace the defaults: the controller moves between
/// them, the operator names them, a name that is not one of them is refused
/// with the list; started again with tiers that lack the journaled one, the
/// daemon starts from the lowest tier and says why.
#[test]
fn configured_tiers_replace_the_defaults_and_a_vanished_tier_falls_to_the_lowest() {
    let dir = temp_dir("mode-tiers");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiers.toml");
    std::fs::write(
        &file,
        r#"[mode]
tiers = [
  { name = "SEED", threshold = "0", size_factor = 0.2, max_open_positions = 1, strategies = ["news"] },
  { name = "GROWTH", threshold = "100000", size_factor = 0.6, max_open_positions = 3, strategies = ["news", "momentum"] },
  { name = "FULL", threshold = "400000", size_factor = 1.0, max_open_positions = 6, strategies = ["news", "momentum"] },
]
"#,
    )
    .unwrap();
    let args = ["--config", file.to_str().unwrap()];
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &args, &[]);
    // $500,000 of account equity >= 400,000 x 1.10: FULL.
    d.expect_any("auto:SEED -> auto:FULL");
    assert_eq!(d.get("/v1/status")["mode"]["current"], "FULL");
    let v = d.post("/v1/mode", r#"{"mode":"GROWTH","reason":"desk choice"}"#);
    assert_eq!(v["mode"]["current"], "GROWTH", "{v}");
    assert_eq!(v["mode"]["auto"], false, "{v}");
    let (status, v) = d.call("POST", "/v1/mode", Some(r#"{"mode":"MICRO"}"#));
    assert_eq!(status, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("use one of SEED, GROWTH, FULL or auto"),
        "{v}"
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));

    // The default tiers have no GROWTH: manual, from the lowest tier.
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &[], &[]);
    d.expect_any("which [mode].tiers no longer has");
    let st = d.get("/v1/status");
    assert_eq!(st["mode"]["current"], "NANO", "{st}");
    assert_eq!(
        st["mode"]["auto"], false,
        "the operator's manual choice stays manual"
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
