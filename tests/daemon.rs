//! Black-box tests of the real `commodore` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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

/// Starts `commodore run` with its own data directory; returns the process and the
/// lines of its stderr, read on a thread so the test can wait with a bound.
fn start(data_dir: &Path, rust_log: &str) -> (Reap, mpsc::Receiver<String>) {
    let mut child = Reap(
        commodore()
            .arg("run")
            .env("COMMODORE__DATA_DIR", data_dir)
            .env("RUST_LOG", rust_log)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start commodore"),
    );
    let (tx, rx) = mpsc::channel();
    let err = child.0.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn signal(child: &Reap, sig: libc::c_int) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, sig) }, 0);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("commodore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Waits (bounded) for a line containing `needle`; every line read goes to `seen`.
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

fn seq_of(line: &str) -> u64 {
    line.split("seq=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn journal_seqs(db: &Path) -> Vec<u64> {
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
fn run_starts_the_tree_and_stops_cleanly_on_sigint() {
    let dir = temp_dir("sigint");
    let (mut child, rx) = start(&dir, "info");
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, "path=master/engines/CC/analyzer", &mut seen),
        "the engines' children never started:\n{}",
        seen.join("\n")
    );
    signal(&child, libc::SIGINT);
    assert!(
        wait_for(&rx, "stopped cleanly", &mut seen),
        "no clean stop:\n{}",
        seen.join("\n")
    );
    assert_eq!(
        child.0.wait().unwrap().code(),
        Some(0),
        "{}",
        seen.join("\n")
    );
    let order: Vec<&str> = seen
        .iter()
        .filter(|l| l.contains("kind=\"stopped\""))
        .filter_map(|l| {
            l.split("path=")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
        })
        .collect();
    // Reverse start order: CC before KC, an engine's analyzer before its feed,
    // engines before the journal, the journal before master.
    let pos = |p: &str| {
        order
            .iter()
            .position(|x| *x == p)
            .unwrap_or_else(|| panic!("{p} not stopped: {order:?}"))
    };
    assert!(pos("master/engines/CC/analyzer") < pos("master/engines/CC/feed"));
    assert!(pos("master/engines/CC") < pos("master/engines/KC"));
    assert!(pos("master/engines") < pos("master/journal"));
    assert!(pos("master/journal") < pos("master"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_sigkill_the_event_sequence_continues_from_the_journal() {
    let dir = temp_dir("kill9");
    let db = dir.join("journal.sqlite");

    // Run 1: up, journaled at least the start events, then SIGKILL.
    let (mut child, rx) = start(&dir, "info,commodore_actors::journal=debug");
    let mut seen = Vec::new();
    assert!(
        wait_for(&rx, "path=master/engines/CC/analyzer", &mut seen),
        "{}",
        seen.join("\n")
    );
    let analyzer_seq = seq_of(seen.last().unwrap());
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
        if up_to >= analyzer_seq {
            break;
        }
    }
    signal(&child, libc::SIGKILL);
    child.0.wait().unwrap();
    let before = journal_seqs(&db);
    assert!(before.len() as u64 >= analyzer_seq, "journaled {before:?}");
    let last = *before.last().unwrap();

    // Run 2: continues at last + 1, stops cleanly.
    let (mut child, rx) = start(&dir, "info");
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
    signal(&child, libc::SIGINT);
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
