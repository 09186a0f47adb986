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

/// Kills the daemon when a test ends early (a failed assertion), so no test leaves
/// a process behind.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let mut child = Reap(
        commodore()
            .arg("run")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start commodore"),
    );
    let rx = stderr_lines(&mut child.0);
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, "path=master/engines/CC/analyzer", &mut seen),
        "the engines' children never started:\n{}",
        seen.join("\n")
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(
        wait_for(&rx, "stopped cleanly", &mut seen),
        "no clean stop:\n{}",
        seen.join("\n")
    );
    let status = child.0.wait().unwrap();
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

fn seq_of(line: &str) -> u64 {
    line.split("seq=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn journal_seqs(db: &std::path::Path) -> Vec<u64> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut stmt = c.prepare("SELECT seq FROM events ORDER BY seq").unwrap();
    let seqs = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|s| s.unwrap() as u64)
        .collect();
    seqs
}

#[test]
fn after_sigkill_the_event_sequence_continues_from_the_journal() {
    let dir = std::env::temp_dir().join(format!("commodore-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("journal.sqlite");

    // Run 1: up, journaled at least the start events, then SIGKILL.
    let mut child = Reap(
        commodore()
            .arg("run")
            .env("COMMODORE__DATA_DIR", &dir)
            .env("RUST_LOG", "info,commodore_actors::journal=debug")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = stderr_lines(&mut child.0);
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, "path=master/engines/CC/analyzer", &mut seen),
        "{}",
        seen.join("\n")
    );
    let analyzer_seq = seq_of(seen.last().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            wait_for(&rx, "journal wrote", &mut seen),
            "{}",
            seen.join("\n")
        );
        let line = seen.last().unwrap();
        let up_to: u64 = line
            .split("up_to_seq=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        if up_to >= analyzer_seq || std::time::Instant::now() > deadline {
            break;
        }
    }
    // SAFETY: sending a signal to our own child process.
    assert_eq!(
        unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGKILL) },
        0
    );
    child.0.wait().unwrap();
    let before = journal_seqs(&db);
    assert!(before.len() as u64 >= analyzer_seq, "journaled {before:?}");
    let last = *before.last().unwrap();

    // Run 2: continues at last + 1, stops cleanly.
    let mut child = Reap(
        commodore()
            .arg("run")
            .env("COMMODORE__DATA_DIR", &dir)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = stderr_lines(&mut child.0);
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, "kind=\"started\" path=master ", &mut seen),
        "{}",
        seen.join("\n")
    );
    assert_eq!(
        seq_of(seen.last().unwrap()),
        last + 1,
        "the sequence continues"
    );
    assert!(wait_for(&rx, "path=master/engines/CC/analyzer", &mut seen));
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    let after = journal_seqs(&db);
    assert!(
        after.windows(2).all(|w| w[1] == w[0] + 1),
        "no gaps, no duplicates: {after:?}"
    );
    assert_eq!(after[0], 1);
    assert!(*after.last().unwrap() > last);
    let _ = std::fs::remove_dir_all(&dir);
}
