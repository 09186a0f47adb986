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
