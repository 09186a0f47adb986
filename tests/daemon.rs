//! Black-box tests of the real `commodore` binary: start, ordered stop, kill -9.

mod common;

use common::{commodore, temp_dir, Daemon};
use std::path::Path;

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
    let mut d = Daemon::start(&dir, &[]);
    d.signal(libc::SIGINT);
    d.expect("stopped cleanly");
    assert_eq!(d.exit_code(), Some(0), "{}", d.seen.join("\n"));
    let order: Vec<&str> = d
        .seen
        .iter()
        .filter(|l| l.contains("kind=\"stopped\""))
        .filter_map(|l| {
            l.split("path=")
                .nth(1)
                .and_then(|p| p.split_whitespace().next())
        })
        .collect();
    // Reverse start order: the market sequencer first, CC before KC, an engine's guard
    // and feeds first, its engine last, engines before control, ..., the journal last
    // but for master.
    let pos = |p: &str| {
        order
            .iter()
            .position(|x| *x == p)
            .unwrap_or_else(|| panic!("{p} not stopped: {order:?}"))
    };
    assert!(pos("master/market") < pos("master/reconcile"));
    assert!(pos("master/reconcile") < pos("master/engines/CC/guard"));
    assert!(pos("master/engines/CC/guard") < pos("master/engines/CC/sentinel"));
    assert!(pos("master/engines/CC/sentinel") < pos("master/engines/CC/analyzer"));
    assert!(pos("master/engines/CC/analyzer") < pos("master/engines/CC/broker"));
    assert!(pos("master/engines/CC/broker") < pos("master/engines/CC/executor"));
    assert!(pos("master/engines/CC/executor") < pos("master/engines/CC/engine"));
    assert!(pos("master/engines/CC") < pos("master/engines/KC"));
    assert!(pos("master/engines") < pos("master/control"));
    assert!(pos("master/control") < pos("master/mode"));
    assert!(pos("master/mode") < pos("master/portfolio_risk"));
    assert!(pos("master/portfolio_risk") < pos("master/notifier"));
    assert!(pos("master/notifier") < pos("master/journal"));
    assert!(pos("master/journal") < pos("master"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_sigkill_the_event_sequence_continues_from_the_journal() {
    let dir = temp_dir("kill9");
    let db = dir.join("journal.sqlite");

    // Run 1: up, journaled at least the start events, then SIGKILL.
    let mut d = Daemon::start(&dir, &[]);
    let analyzer_seq = seq_of(
        d.seen
            .iter()
            .rev()
            .find(|l| l.contains("path=master/engines/CC/analyzer"))
            .unwrap(),
    );
    d.journaled(analyzer_seq);
    d.signal(libc::SIGKILL);
    d.exit_code();
    let before = journal_seqs(&db);
    assert!(before.len() as u64 >= analyzer_seq, "journaled {before:?}");
    let last = *before.last().unwrap();

    // Run 2: continues at last + 1, stops cleanly.
    let mut d = Daemon::start(&dir, &[]);
    let first = d
        .seen
        .iter()
        .find(|l| l.contains("kind=\"started\" path=master "))
        .expect("the root's start is logged");
    assert_eq!(seq_of(first), last + 1, "the sequence continues");
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let after = journal_seqs(&db);
    assert!(
        after.windows(2).all(|w| w[1] == w[0] + 1),
        "no gaps, no duplicates: {after:?}"
    );
    assert_eq!(after[0], 1);
    assert!(*after.last().unwrap() > last);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = temp_dir("json-log");
    let mut d = Daemon::spawn(
        &dir,
        common::free_port(),
        &[("COMMODORE__LOG__FORMAT", "json")],
    );
    let line = d.seen.last().unwrap().clone();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO", "{v}");
    assert!(
        v["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("commodore started"),
        "{v}"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(d.exit_code(), Some(0));
    for line in &d.seen {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_control_address_is_a_start_error_naming_the_key() {
    let dir = temp_dir("port-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = common::commodore()
        .arg("run")
        .env("COMMODORE__DATA_DIR", &dir)
        .env("COMMODORE__CONTROL__LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: control.listen: cannot listen on"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One daemon per data dir: a second `run` on it (another port) is refused
/// before it opens anything, naming the holder's pid; once the first has
/// stopped, the data dir is free again.
#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let dir = temp_dir("data-dir-lock");
    let mut d = Daemon::start(&dir, &[]);
    let second = || common::run_to_end(&dir, &[]);
    let out = second();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let pid = d.child.0.id();
    assert!(
        err.contains(&format!("is in use by another commodore (pid {pid})")),
        "{err}"
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    // Free again: a daemon starts on it (and is stopped at once).
    let mut d = Daemon::start(&dir, &[]);
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14, item 7: `commodore backup` copies a running daemon's journal
/// (never over a file), and a clean stop merges the write-ahead log, so
/// `journal.sqlite` copied alone is the whole journal.
#[test]
fn backup_copies_a_running_journal_and_a_clean_stop_leaves_the_file_whole() {
    let dir = temp_dir("daemon-backup");
    let mut d = Daemon::start(&dir, &[]);
    d.post(
        "/v1/risk/escalate",
        r#"{"level":"WARNING","reason":"backup test"}"#,
    );
    let backup = |dest: &std::path::Path| {
        commodore()
            .arg("backup")
            .arg(dest)
            .env("COMMODORE__DATA_DIR", &dir)
            .output()
            .unwrap()
    };
    let copy = dir.join("copy.sqlite");
    let out = backup(&copy);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let level: String = rusqlite::Connection::open(&copy)
        .unwrap()
        .query_row(
            "SELECT value FROM state WHERE key = 'risk.level'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(level.contains("WARNING"), "{level}");
    // Never over a file, and a wrong place says what to fix.
    let again = backup(&copy);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists: give a new file"));
    let nowhere = backup(&dir.join("no/such/dir/copy.sqlite"));
    assert_eq!(nowhere.status.code(), Some(2));

    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let live: i64 = rusqlite::Connection::open(dir.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    // The file alone, as an operator would copy it.
    let alone = dir.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    std::fs::copy(dir.join("journal.sqlite"), alone.join("journal.sqlite")).unwrap();
    let copied: i64 = rusqlite::Connection::open(alone.join("journal.sqlite"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(live > 10, "{live} events");
    assert_eq!(copied, live, "the write-ahead log was merged at the stop");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 14, item 3: a data dir that shows a previous run, without its
/// journal (deleted, or truncated to nothing), is refused, not a silent
/// fresh start at NORMAL, flat, seq 1; a damaged journal is refused naming
/// the file; `run --fresh` starts empty on purpose, the old order logs aside.
#[test]
fn a_missing_empty_or_damaged_journal_is_refused_and_run_fresh_starts_empty() {
    let dir = temp_dir("daemon-journal-missing");
    let mut d = Daemon::start(&dir, &[]);
    d.post(
        "/v1/risk/escalate",
        r#"{"level":"HALT","reason":"a previous run"}"#,
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let journal = dir.join("journal.sqlite");
    let saved = std::fs::read(&journal).unwrap();
    let run = |args: &[&str]| common::run_to_end(&dir, args);
    let refused = |what: &str| {
        let out = run(&[]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(what) && err.contains("journal.sqlite"),
            "{err}"
        );
        err
    };
    std::fs::remove_file(&journal).unwrap();
    let err = refused("is missing");
    assert!(
        err.contains("orders") && err.contains("run --fresh"),
        "{err}"
    );
    std::fs::write(&journal, b"").unwrap();
    refused("is empty");
    // Damage inside the file (its second page onwards overwritten).
    let mut damaged = saved.clone();
    for b in damaged.iter_mut().skip(4096).take(8192) {
        *b = 0x5a;
    }
    std::fs::write(&journal, &damaged).unwrap();
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("journal.sqlite") && err.contains("backup"),
        "{err}"
    );

    // On purpose: an empty journal, the old order logs kept aside.
    std::fs::remove_file(&journal).unwrap();
    // A previous run's order log: never replayed into the new journal.
    std::fs::create_dir_all(dir.join("orders")).unwrap();
    std::fs::write(dir.join("orders/OLD.log"), b"a previous run's orders\n").unwrap();
    let mut d = Daemon::spawn_args(&dir, common::free_port(), &["--fresh"], &[]);
    let st = d.get("/v1/status");
    assert_eq!(st["risk"]["level"], "NORMAL", "{st}");
    assert!(dir.join("orders.before-fresh/OLD.log").is_file());
    assert!(!dir.join("orders/OLD.log").exists());
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A restart storm (600 panics of one actor as fast as bars come, a restart
/// a millisecond after each)
/// is a few events, log lines and panic reports per actor and window, and a
/// `suppressed` event with the count; not one each (35,000 restarts wrote
/// 650 MB of log).
#[test]
fn a_restart_storm_is_summed_up_not_logged_one_by_one() {
    const PANICS: u64 = 600;
    let dir = temp_dir("restart-storm");
    let db = dir.join("journal.sqlite");
    let mut d = Daemon::start(
        &dir,
        &[
            ("COMMODORE__FAULTS__ENABLED", "true"),
            // A bar every 2 ms: the analyzer panics on each.
            ("COMMODORE__FEED__SPEED", "30000"),
            ("COMMODORE__ENGINE_SUPERVISION__MAX_RESTARTS", "10000"),
            ("COMMODORE__ENGINE_SUPERVISION__PERIOD", "1s"),
            ("COMMODORE__SUPERVISION__BACKOFF_MIN", "1ms"),
            ("COMMODORE__SUPERVISION__BACKOFF_MAX", "1ms"),
        ],
    );
    let path = "master/engines/KC/analyzer";
    let r = d.post(
        "/v1/faults",
        &format!(r#"{{"path":"{path}","kind":"panic","count":{PANICS}}}"#),
    );
    assert!(
        r["injected"].is_object() || r["injected"].is_string(),
        "{r}"
    );
    let restarted = (0..6_000).any(|_| {
        if d.node(path)["restarts"].as_u64().unwrap_or(0) >= PANICS {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        false
    });
    assert!(
        restarted,
        "the storm never ran its course: {}",
        d.node(path)
    );
    d.signal(libc::SIGINT);
    assert_eq!(d.exit_code(), Some(0));

    let c = rusqlite::Connection::open(&db).unwrap();
    let rows = |kind: &str| -> i64 {
        c.query_row(
            "SELECT COUNT(*) FROM events WHERE kind = ?1 AND path = ?2",
            [kind, path],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (failed, restarts) = (rows("failed"), rows("restarted"));
    assert!(
        failed < 100 && restarts < 100,
        "{failed} failed and {restarts} restarted events journaled for {PANICS} panics"
    );
    let counted: u64 = {
        let mut s = c
            .prepare("SELECT detail FROM events WHERE kind = 'suppressed' AND path = ?1")
            .unwrap();
        let details: Vec<String> = s
            .query_map([path], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        details
            .iter()
            .filter(|d| d.contains(" more failed events"))
            .map(|d| d.split(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(
        counted + failed as u64,
        PANICS,
        "every failure listed or counted"
    );
    let lines = |needle: &str| d.seen.iter().filter(|l| l.contains(needle)).count();
    assert!(
        lines("child failed") < 100 && lines("panicked at") < 100,
        "{} 'child failed' and {} panic report lines for {PANICS} panics",
        lines("child failed"),
        lines("panicked at")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_does_not_kill_the_daemon() {
    let dir = temp_dir("sighup");
    let mut d = Daemon::start(&dir, &[]);
    d.signal(libc::SIGHUP);
    // Nothing changed in the config: a reload that changes nothing.
    d.expect("configuration reloaded: nothing changed");
    assert_eq!(
        d.call_as(None, "GET", "/readyz", None).0,
        200,
        "still up and ready after SIGHUP"
    );
    d.signal(libc::SIGINT);
    d.expect("stopped cleanly");
    assert_eq!(d.exit_code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A log that goes to a pipe or a file carries no colour codes, even
/// without NO_COLOR; and a signal's line names the signal.
#[test]
fn logs_to_a_pipe_are_plain_and_a_signal_is_named() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("daemon-plain-log");
    let mut cmd = commodore();
    cmd.env_remove("NO_COLOR")
        .arg("run")
        .env("COMMODORE__DATA_DIR", &dir)
        .env(
            "COMMODORE__CONTROL__LISTEN",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .stderr(std::process::Stdio::piped());
    let mut child = common::Reap(cmd.spawn().unwrap());
    let err = child.0.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines().map_while(Result::ok);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let started = line.contains("commodore started");
        seen.push(line);
        if started {
            break;
        }
    }
    // SAFETY: a signal to our own child. Test code only.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM), 0);
    }
    seen.extend(lines);
    assert!(child.0.wait().unwrap().success());
    assert!(
        seen.iter().any(|l| l.contains("commodore started")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a piped log: {:?}",
        seen.iter().find(|l| l.contains('\u{1b}'))
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("signal received") && l.contains("signal=SIGTERM")),
        "{seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
