//! Black-box tests of the real `commodore` binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn commodore() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_commodore"));
    c.env_remove("RUST_LOG").env("NO_COLOR", "1");
    c
}

/// Lines of the child's stderr, read on a thread so the test can wait with a bound.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (bounded) for a line containing `needle`; returns every line read so far.
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn run_starts_the_tree_and_stops_cleanly_on_sigint() {
    let mut child = commodore()
        .arg("run")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start commodore");
    let rx = stderr_lines(&mut child);
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, "path=master/engines/CC/analyzer", &mut seen),
        "the engines' children never started:\n{}",
        seen.join("\n")
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(
        wait_for(&rx, "stopped cleanly", &mut seen),
        "no clean stop:\n{}",
        seen.join("\n")
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
    let stops: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("kind=\"stopped\"") || l.contains("kind=stopped"))
        .collect();
    let order: Vec<&str> = stops
        .iter()
        .filter_map(|l| {
            l.split("path=")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
        })
        .collect();
    // Reverse start order: CC before KC, an engine's analyzer before its feed,
    // engines before master.
    let pos = |p: &str| {
        order
            .iter()
            .position(|x| *x == p)
            .unwrap_or_else(|| panic!("{p} not stopped: {order:?}"))
    };
    assert!(pos("master/engines/CC/analyzer") < pos("master/engines/CC/feed"));
    assert!(pos("master/engines/CC") < pos("master/engines/KC"));
    assert!(pos("master/engines") < pos("master"));
}
