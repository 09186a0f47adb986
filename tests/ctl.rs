//! `commodore ctl`: every verb against the real daemon, with the contract's
//! exit codes (0 ok, 1 API error, 2 usage, 3 unreachable).

mod common;

use common::{temp_dir, Daemon};
use serde_json::Value;

const FAULTS_ON: (&str, &str) = ("COMMODORE__FAULTS__ENABLED", "true");

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn ctl_speaks_every_verb_with_the_contract_exit_codes() {
    let dir = temp_dir("api-ctl");
    let d = Daemon::start(&dir, &[FAULTS_ON]);
    let ok = |args: &[&str]| {
        let o = d.ctl(args, &[]);
        assert_eq!(o.status.code(), Some(0), "ctl {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    assert!(ok(&["status"]).contains("risk NORMAL"));
    assert!(ok(&["tree"]).contains("portfolio_risk"));
    assert!(ok(&["escalate", "WARNING", "--reason", "ctl test"]).contains("raised to WARNING"));
    assert!(ok(&["escalate", "NORMAL", "--reason", "lower?"]).contains("stays WARNING"));
    assert!(ok(&["reset-risk", "NORMAL", "--reason", "ctl reset"]).contains("reset to NORMAL"));
    assert!(ok(&["pause", "KC", "--reason", "ctl"]).contains("engine KC now paused"));
    assert!(ok(&["resume", "KC"]).contains("engine KC now not paused"));
    assert!(ok(&["mode", "BALANCED"]).contains("mode BALANCED"));
    assert!(ok(&["mode", "auto"]).contains("(auto)"));
    assert!(ok(&[
        "fault",
        "master/engines/CC/sentinel",
        "error",
        "--count",
        "2"
    ])
    .contains("injected error"));
    assert!(ok(&["events", "--since", "0", "--limit", "5"]).contains("next: 5"));
    let raw: Value = serde_json::from_str(&ok(&["--json", "status"])).expect("--json prints JSON");
    assert_eq!(raw["risk"]["level"], "NORMAL");
    assert_eq!(raw["mode"]["auto"], true);

    // 2: a level that does not exist is refused before anything is sent,
    // with the levels that do.
    let o = d.ctl(&["escalate", "SEVERE", "--reason", "x"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("[possible values: NORMAL, WARNING, HALT, PANIC]"),
        "{}",
        stderr(&o)
    );
    // Any case is taken.
    assert!(ok(&["escalate", "warning", "--reason", "lower case"]).contains("WARNING"));
    let o = d.ctl(&["pause", "ZZ"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown engine"), "{}", stderr(&o));
    // 1: wrong token, with what to do.
    let o = d.ctl(&["status"], &[("COMMODORE_CONTROL_TOKEN", "not-the-token")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refused the token") && stderr(&o).contains("COMMODORE_CONTROL_TOKEN"),
        "{}",
        stderr(&o)
    );
    // 2: usage.
    assert_eq!(
        d.ctl(&["escalate", "HALT"], &[]).status.code(),
        Some(2),
        "--reason is required"
    );
    assert_eq!(d.ctl(&["frobnicate"], &[]).status.code(), Some(2));
    // 2: a URL that is none.
    let o = d.ctl(&["--url", "localhost:7421", "status"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // 3: nobody listens there.
    let o = d.ctl(
        &[
            "--url",
            &format!("http://127.0.0.1:{}", common::free_port()),
            "status",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("not reachable") && stderr(&o).contains("commodore run"),
        "{}",
        stderr(&o)
    );
    // 3: no token anywhere yet (the daemon never ran with this data_dir).
    let o = common::commodore()
        .args(["ctl", "status"])
        .env("COMMODORE__DATA_DIR", dir.join("elsewhere"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no control token"), "{}", stderr(&o));

    // 1: a 2xx that is not commodore's JSON (another service on that
    // address) is never reported as done.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = other.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        let _ = c.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
        );
    });
    let o = d.ctl(
        &[
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "escalate",
            "HALT",
            "--reason",
            "x",
        ],
        &[],
    );
    server.join().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not commodore's JSON") && stdout(&o).is_empty(),
        "{}",
        stderr(&o)
    );

    let o = d.ctl(&["shutdown", "--reason", "ctl"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `commodore completions SHELL` prints a completion script for the shell,
/// without a configuration or a daemon; an unknown shell is a usage error
/// naming the shells.
#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, needle) in [
        ("bash", "_commodore()"),
        ("zsh", "#compdef commodore"),
        ("fish", "complete -c commodore"),
    ] {
        let o = common::commodore()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(
            script.contains(needle),
            "{shell}: {}",
            &script[..script.len().min(200)]
        );
        assert!(
            script.contains("reset-risk"),
            "{shell} completes the ctl verbs"
        );
    }
    let o = common::commodore()
        .args(["completions", "ksh"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values: bash"));
}
