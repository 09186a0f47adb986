//! Driving the real `commodore` binary: start it on a free loopback port with its
//! own data directory, wait on its log lines (no sleeps), talk to its HTTP API.
#![allow(dead_code)] // each test binary uses a different part

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Drawdown escalations out of reach, for tests that need orders to keep
/// flowing at 3000x (a random walk can lose 3 % of a day quickly).
pub const NO_DRAWDOWN_GUARDS: [(&str, &str); 7] = [
    ("COMMODORE__RISK__DAY_DRAWDOWN_WARNING", "0.8"),
    ("COMMODORE__RISK__DAY_DRAWDOWN_HALT", "0.9"),
    ("COMMODORE__RISK__PEAK_DRAWDOWN_WARNING", "0.8"),
    ("COMMODORE__RISK__PEAK_DRAWDOWN_HALT", "0.9"),
    ("COMMODORE__RISK__ACCOUNT_DRAWDOWN_WARNING", "0.8"),
    ("COMMODORE__RISK__ACCOUNT_DRAWDOWN_HALT", "0.9"),
    ("COMMODORE__RISK__ACCOUNT_DRAWDOWN_PANIC", "0.95"),
];

pub fn commodore() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_commodore"));
    c.env_remove("RUST_LOG")
        .env_remove("COMMODORE_CONTROL_TOKEN")
        .env("NO_COLOR", "1");
    c
}

/// Kills the daemon when a test ends early (a failed assertion), so no test leaves
/// a process behind.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `commodore run ARGS` on the data dir `dir` and a free port, to its end
/// (for runs that are refused at start).
pub fn run_to_end(dir: &Path, args: &[&str]) -> Output {
    commodore()
        .arg("run")
        .args(args)
        .env("COMMODORE__DATA_DIR", dir)
        .env(
            "COMMODORE__CONTROL__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("commodore-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Bound on every wait for the daemon: generous, for a loaded 2-core machine.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct Daemon {
    pub child: Reap,
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
    pub dir: PathBuf,
    pub port: u16,
    http: reqwest::blocking::Client,
}

impl Daemon {
    /// Starts `commodore run` with data in `dir` and `env` on top, and waits until
    /// both engines' children have started.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_on(dir, free_port(), env)
    }

    pub fn start_on(dir: &Path, port: u16, env: &[(&str, &str)]) -> Daemon {
        let mut d = Daemon::spawn(dir, port, env);
        d.expect("path=master/engines/CC/analyzer");
        d.wait_ready();
        d
    }

    /// Waits (bounded) until `/readyz` answers 200: every engine's subtree has
    /// started all its children. A log line of one child says less (its
    /// siblings after it may still be starting).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + WAIT;
        let mut last = (0, Value::Null);
        while Instant::now() < deadline {
            last = self.call_as(None, "GET", "/readyz", None);
            if last.0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the daemon never became ready: {last:?}");
    }

    /// Starts `commodore run` and waits for its "started" log line only.
    pub fn spawn(dir: &Path, port: u16, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_args(dir, port, &[], env)
    }

    /// [`spawn`](Self::spawn) with more arguments for `run` (`--config FILE`).
    pub fn spawn_args(dir: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = commodore();
        cmd.arg("run")
            .args(args)
            .env("COMMODORE__DATA_DIR", dir)
            .env("COMMODORE__CONTROL__LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info,commodore_actors::journal=debug")
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = Reap(cmd.spawn().expect("start commodore"));
        let (tx, rx) = mpsc::channel();
        let err = child.0.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child,
            rx,
            seen: Vec::new(),
            dir: dir.to_owned(),
            port,
            http: reqwest::blocking::Client::builder()
                .timeout(WAIT)
                .build()
                .unwrap(),
        };
        d.expect("commodore started");
        d
    }

    /// Waits (bounded) for a log line containing `needle`.
    pub fn wait_for(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.seen.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Waits (bounded) for a log line containing any of `needles`: the one
    /// found.
    pub fn expect_one_of(&mut self, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.rx.recv_timeout(left) else {
                break;
            };
            let hit = needles.iter().find(|n| line.contains(**n)).copied();
            self.seen.push(line);
            if let Some(n) = hit {
                return n.to_owned();
            }
        }
        panic!(
            "no log line with any of {needles:?}:\n{}",
            self.seen.join("\n")
        );
    }

    /// Like [`expect`](Self::expect), but a line already read counts too.
    pub fn expect_any(&mut self, needle: &str) {
        if !self.seen.iter().any(|l| l.contains(needle)) {
            self.expect(needle);
        }
    }

    pub fn expect(&mut self, needle: &str) {
        assert!(
            self.wait_for(needle),
            "no log line with {needle:?}:\n{}",
            self.seen.join("\n")
        );
    }

    /// Waits until the journal has written at least `seq` (it logs every batch
    /// it writes, at debug).
    pub fn journaled(&mut self, seq: u64) {
        let up_to = |line: &str| -> u64 {
            line.split("up_to_seq=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        if self
            .seen
            .iter()
            .any(|l| l.contains("journal wrote") && up_to(l) >= seq)
        {
            return;
        }
        loop {
            self.expect("journal wrote");
            if up_to(self.seen.last().unwrap()) >= seq {
                return;
            }
        }
    }

    /// One node of `GET /v1/tree`, by path.
    pub fn node(&self, path: &str) -> Value {
        let tree = self.get("/v1/tree");
        tree["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["path"] == path))
            .unwrap_or_else(|| panic!("no node {path} in {tree}"))
            .clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("control.token"))
            .expect("the daemon wrote its token")
            .trim()
            .to_owned()
    }

    /// A request with the daemon's token; returns status and body (JSON when the
    /// body is JSON, else a string).
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call_as(Some(&self.token()), method, path, body)
    }

    pub fn call_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().expect("the daemon answers");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// `GET /metrics` as Prometheus asks for it (OpenMetrics): the content
    /// type and the text.
    pub fn scrape(&self) -> (String, String) {
        let resp = self
            .http
            .get(self.url("/metrics"))
            .bearer_auth(self.token())
            .header(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )
            .send()
            .expect("the daemon answers");
        assert_eq!(resp.status().as_u16(), 200);
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (kind, resp.text().unwrap())
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, v) = self.call("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    pub fn post(&self, path: &str, body: &str) -> Value {
        let (status, v) = self.call("POST", path, Some(body));
        assert_eq!(status, 200, "POST {path} {body}: {v}");
        v
    }

    // SAFETY: sending a signal to our own child process (std has no call for
    // SIGINT or SIGKILL by number). Test code only.
    #[allow(unsafe_code)]
    pub fn signal(&self, sig: libc::c_int) {
        assert_eq!(
            unsafe { libc::kill(self.child.0.id() as libc::pid_t, sig) },
            0
        );
    }

    /// Waits for the process to end; its exit code.
    pub fn exit_code(&mut self) -> Option<i32> {
        let code = self.child.0.wait().unwrap().code();
        // Keep the rest of the log for assertions.
        while let Ok(line) = self.rx.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        code
    }

    /// `commodore ctl` against this daemon.
    pub fn ctl(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = commodore();
        cmd.arg("ctl")
            .args(args)
            .env("COMMODORE__DATA_DIR", &self.dir)
            .env(
                "COMMODORE__CONTROL__LISTEN",
                format!("127.0.0.1:{}", self.port),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run ctl")
    }
}

/// The error code of an error body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no error body>")
}

/// The events of the daemon with `seq > since` (one page of 1000).
pub fn events(d: &Daemon, since: u64) -> Vec<Value> {
    d.get(&format!("/v1/events?since={since}&limit=1000"))["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// One engine's entry of a `/v1/status` answer.
pub fn engine(status: &Value, id: &str) -> Value {
    status["engines"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no engine {id} in {status}"))
}
