//! `commodore ctl`: the HTTP API's client. Human output by default, `--json` for
//! the raw answer. Exit 0 on success, 1 on an API error, 2 on a usage error (clap,
//! a bad `--url`, an unusable token), 3 when the daemon cannot be reached (or no
//! token exists yet: the daemon has not run with this config).

use crate::config::Config;
use crate::token;
use clap::Subcommand;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

pub const EXIT_API_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;

/// The risk levels, shown in `--help` and taken in any case.
fn level_parser() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["NORMAL", "WARNING", "HALT", "PANIC"])
        .map(|s| s.to_uppercase())
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Risk, mode and engines at a glance.
    Status,
    /// The supervision tree with every actor's state and restarts.
    Tree,
    /// Journaled events after a sequence number.
    Events {
        /// Show events with seq greater than this.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// At most this many (1 to 1000).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Stop an engine opening positions (its data keeps flowing).
    Pause {
        engine: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pause an engine and close every position it holds, at market (each
    /// contract month): before removing it from the configuration, say.
    Flatten {
        engine: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let a paused engine open positions again.
    Resume {
        engine: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop an engine's subtree (in-flight orders finish first); it stays
    /// stopped across restarts of the daemon until started.
    Stop {
        engine: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Start a stopped (or failed) engine again.
    Start {
        engine: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Raise the portfolio risk level.
    Escalate {
        #[arg(value_name = "LEVEL", value_parser = level_parser(), ignore_case = true)]
        level: String,
        #[arg(long)]
        reason: String,
    },
    /// Set the risk level to any value: the only way to lower it.
    ResetRisk {
        #[arg(value_name = "LEVEL", value_parser = level_parser(), ignore_case = true)]
        level: String,
        #[arg(long)]
        reason: String,
    },
    /// Fix the capital tier (one of `[mode].tiers`: NANO, MICRO, MINI, BALANCED by default) or hand it to `auto`.
    Mode {
        /// A tier of `[mode].tiers` (NANO, MICRO, MINI, BALANCED by default), or auto.
        #[arg(value_name = "MODE")]
        mode: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Inject a fault (needs faults.enabled = true and the paper broker).
    Fault {
        /// Actor path, e.g. master/engines/KC/analyzer (`ctl tree` lists them).
        path: String,
        #[arg(value_name = "KIND", value_parser = ["panic", "error", "hang", "stop", "slow"])]
        kind: String,
        #[arg(long)]
        count: Option<u32>,
        #[arg(long)]
        ms: Option<u64>,
    },
    /// Re-read the daemon's --config files and environment and apply them
    /// live (every error listed, nothing changed, when they are not valid).
    Reload {
        #[arg(long)]
        reason: Option<String>,
    },
    /// Drain in reverse start order, flush the journal, exit 0.
    Shutdown {
        #[arg(long)]
        reason: Option<String>,
    },
}

/// The API's base URL for a listen address (a wildcard address is reached on
/// loopback).
pub fn base_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

fn request(verb: &Verb) -> (Method, String, Option<Value>) {
    match verb {
        Verb::Status => (Method::GET, "/v1/status".into(), None),
        Verb::Tree => (Method::GET, "/v1/tree".into(), None),
        Verb::Events { since, limit } => {
            let mut p = format!("/v1/events?since={since}");
            if let Some(l) = limit {
                p.push_str(&format!("&limit={l}"));
            }
            (Method::GET, p, None)
        }
        Verb::Pause { engine, reason } => (
            Method::POST,
            format!("/v1/engines/{}/pause", path_segment(engine)),
            Some(json!({ "reason": reason })),
        ),
        Verb::Resume { engine, reason } => (
            Method::POST,
            format!("/v1/engines/{}/resume", path_segment(engine)),
            Some(json!({ "reason": reason })),
        ),
        Verb::Flatten { engine, reason } => (
            Method::POST,
            format!("/v1/engines/{}/flatten", path_segment(engine)),
            Some(json!({ "reason": reason })),
        ),
        Verb::Stop { engine, reason } => (
            Method::POST,
            format!("/v1/engines/{}/stop", path_segment(engine)),
            Some(json!({ "reason": reason })),
        ),
        Verb::Start { engine, reason } => (
            Method::POST,
            format!("/v1/engines/{}/start", path_segment(engine)),
            Some(json!({ "reason": reason })),
        ),
        Verb::Escalate { level, reason } => (
            Method::POST,
            "/v1/risk/escalate".into(),
            Some(json!({ "level": level, "reason": reason })),
        ),
        Verb::ResetRisk { level, reason } => (
            Method::POST,
            "/v1/risk/reset".into(),
            Some(json!({ "level": level, "reason": reason })),
        ),
        Verb::Mode { mode, reason } => (
            Method::POST,
            "/v1/mode".into(),
            Some(json!({ "mode": mode, "reason": reason })),
        ),
        Verb::Fault {
            path,
            kind,
            count,
            ms,
        } => {
            let mut b = json!({ "path": path, "kind": kind });
            if let Some(c) = count {
                b["count"] = json!(c);
            }
            if let Some(m) = ms {
                b["ms"] = json!(m);
            }
            (Method::POST, "/v1/faults".into(), Some(b))
        }
        Verb::Shutdown { reason } => (
            Method::POST,
            "/v1/shutdown".into(),
            Some(json!({ "reason": reason })),
        ),
        Verb::Reload { reason } => (
            Method::POST,
            "/v1/config/reload".into(),
            Some(json!({ "reason": reason })),
        ),
    }
}

/// Engine ids are checked by the daemon; only what would break the URL is
/// escaped here.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs one verb; returns the exit status.
pub fn run(cfg: &Config, verb: &Verb, json_out: bool, url: Option<&str>) -> u8 {
    match call(cfg, verb, url) {
        Ok(answer) => show(verb, &answer, json_out),
        Err(code) => code,
    }
}

/// What the daemon answered, and whose token was sent.
struct Answer {
    status: StatusCode,
    value: Value,
    token_source: String,
}

/// Sends the verb's request; `Err` is the exit status after the error is printed.
fn call(cfg: &Config, verb: &Verb, url: Option<&str>) -> Result<Answer, u8> {
    let base = base(cfg, url)?;
    let token = client_token(cfg)?;
    let client = Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| {
            eprintln!("error: cannot build the HTTP client: {e}");
            EXIT_API_ERROR
        })?;
    let (method, path, body) = request(verb);
    let mut req: RequestBuilder = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(&token.value);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().map_err(|e| {
        eprintln!(
            "error: commodore is not reachable at {base} ({e}); is `commodore run` running with this config? (check control.listen, or pass --url)"
        );
        EXIT_UNREACHABLE
    })?;
    let status = resp.status();
    let text = resp.text().map_err(|e| {
        eprintln!("error: the answer could not be read ({e}); the command may or may not have been carried out: check with `commodore ctl status`");
        EXIT_API_ERROR
    })?;
    let value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // Every answer of the API is JSON: a success that is not is not
        // commodore's (another service on that address), or a broken one;
        // never reported as done.
        Err(_) if status.is_success() => {
            eprintln!(
                "error: {base} answered {status} with a body that is not commodore's JSON; the command may or may not have been carried out: check --url / control.listen, then `commodore ctl status`"
            );
            return Err(EXIT_API_ERROR);
        }
        Err(_) => Value::String(text),
    };
    Ok(Answer {
        status,
        value,
        token_source: token.source.to_string(),
    })
}

/// The API's base URL: `--url` or the configured listen address.
fn base(cfg: &Config, url: Option<&str>) -> Result<String, u8> {
    let base = url.map_or_else(
        || base_url(cfg.control.listen),
        |u| u.trim_end_matches('/').to_owned(),
    );
    match reqwest::Url::parse(&base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(base),
        _ => {
            eprintln!("error: --url {base:?} is not an http:// or https:// URL");
            Err(EXIT_USAGE)
        }
    }
}

/// The daemon's token; none yet means the daemon has not run with this config.
fn client_token(cfg: &Config) -> Result<token::Token, u8> {
    token::for_client(cfg).map_err(|e| match e {
        token::ClientTokenError::Missing(e) => {
            eprintln!("error: {e}");
            EXIT_UNREACHABLE
        }
        token::ClientTokenError::Unusable(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    })
}

/// Prints the answer (human or `--json`); returns the exit status.
fn show(verb: &Verb, a: &Answer, json_out: bool) -> u8 {
    let value = &a.value;
    if !a.status.is_success() {
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        if json_out {
            println!("{value}");
        }
        if a.status == StatusCode::UNAUTHORIZED {
            eprintln!(
                "error: the daemon refused the token that ctl read from {}: give ctl the daemon's token (the same --config, so the same control.token_file, or the same COMMODORE_CONTROL_TOKEN)",
                a.token_source
            );
        } else {
            eprintln!("error: {message} (HTTP {})", a.status.as_u16());
            for e in value["errors"].as_array().into_iter().flatten() {
                eprintln!("  {}", e.as_str().unwrap_or_default());
            }
        }
        return EXIT_API_ERROR;
    }
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        );
    } else {
        print!("{}", human(verb, value));
    }
    0
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn risk_line(r: &Value) -> String {
    format!(
        "risk {} since {} ({})",
        s(&r["level"]),
        s(&r["since"]),
        s(&r["reason"])
    )
}

fn mode_line(m: &Value) -> String {
    let how = if m["auto"].as_bool() == Some(true) {
        "auto"
    } else {
        "fixed by the operator"
    };
    format!("mode {} ({how}) since {}", s(&m["current"]), s(&m["since"]))
}

/// The human form of an answer: one function per verb, each giving its lines.
pub fn human(verb: &Verb, v: &Value) -> String {
    let lines = match verb {
        Verb::Status => status_lines(v),
        Verb::Tree => tree_lines(v),
        Verb::Events { .. } => events_lines(v),
        Verb::Pause { .. } | Verb::Resume { .. } => vec![engine_line(v)],
        Verb::Flatten { .. } => vec![flatten_line(v)],
        Verb::Stop { .. } | Verb::Start { .. } => vec![lifecycle_line(v)],
        Verb::Escalate { .. } | Verb::ResetRisk { .. } => {
            vec![s(&v["message"]), risk_line(&v["risk"])]
        }
        Verb::Mode { .. } => mode_lines(v),
        Verb::Fault { .. } => vec![fault_line(&v["injected"])],
        Verb::Shutdown { .. } => {
            vec!["shutdown under way: the daemon drains in order and exits".into()]
        }
        Verb::Reload { .. } => reload_lines(v),
    };
    lines.into_iter().map(|l| l + "\n").collect()
}

fn reload_lines(v: &Value) -> Vec<String> {
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    let changed = list("changed");
    if changed.is_empty() {
        return vec!["configuration reloaded: nothing changed".into()];
    }
    let mut lines = vec![format!("configuration reloaded: {}", changed.join(", "))];
    for (what, k) in [
        ("rebuilt", "replaced"),
        ("added", "added"),
        ("removed", "removed"),
    ] {
        let ids = list(k);
        if !ids.is_empty() {
            lines.push(format!("engines {what}: {}", ids.join(", ")));
        }
    }
    lines
}

fn status_lines(v: &Value) -> Vec<String> {
    let mut lines = vec![
        format!(
            "commodore {}, up {}s (started {})",
            s(&v["version"]),
            s(&v["uptime_s"]),
            s(&v["started_at"])
        ),
        risk_line(&v["risk"]),
        mode_line(&v["mode"]),
        format!("equity {}, drawdown {}", s(&v["equity"]), s(&v["drawdown"])),
    ];
    for e in v["engines"].as_array().into_iter().flatten() {
        lines.push(format!(
            "engine {:<8} {:<10} restarts {:<4} positions {:<3} realized {} breaker {}",
            s(&e["id"]),
            s(&e["state"]),
            s(&e["restarts"]),
            e["positions"].as_array().map_or(0, Vec::len),
            s(&e["realized_pnl"]),
            s(&e["breaker"]["state"]),
        ));
    }
    lines
}

/// One line per node, indented by its depth in the tree.
fn tree_lines(v: &Value) -> Vec<String> {
    let node_line = |n: &Value| {
        let path = s(&n["path"]);
        let depth = path.matches('/').count();
        let name = path.rsplit('/').next().unwrap_or(&path).to_owned();
        let mut l = format!(
            "{}{name:<w$} {:<10} restarts {}",
            "  ".repeat(depth),
            s(&n["state"]),
            s(&n["restarts"]),
            w = 24usize.saturating_sub(2 * depth),
        );
        if let Some(f) = n["last_failure"].as_str() {
            l.push_str(&format!("  last failure: {f}"));
        }
        l
    };
    v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(node_line)
        .collect()
}

fn events_lines(v: &Value) -> Vec<String> {
    let mut lines: Vec<String> = v["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{:>6} {} {:<14} {} {}",
                s(&e["seq"]),
                s(&e["at"]),
                s(&e["kind"]),
                s(&e["path"]),
                s(&e["detail"])
            )
        })
        .collect();
    lines.push(format!("next: {}", s(&v["next"])));
    lines
}

/// Stop and start: what was asked (the subtree stops or starts after the
/// answer), and whether this request changed anything.
fn lifecycle_line(v: &Value) -> String {
    let e = &v["engine"];
    let id = s(&e["id"]);
    let asked = if e["stopped"].as_bool() == Some(true) {
        "stopping"
    } else {
        "starting"
    };
    if v["changed"].as_bool() == Some(true) {
        format!(
            "engine {id} {asked} (state now {}; see ctl status)",
            s(&e["state"])
        )
    } else {
        let what = if asked == "stopping" {
            "stopped"
        } else {
            "running"
        };
        format!("engine {id} already {what} (state {})", s(&e["state"]))
    }
}

/// Flatten: the engine paused, its positions closing.
fn flatten_line(v: &Value) -> String {
    let e = &v["engine"];
    let held: Vec<String> = e["positions"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|x| format!("{} {}", s(&x["qty"]), s(&x["symbol"])))
                .collect()
        })
        .unwrap_or_default();
    let closing = if held.is_empty() {
        "nothing held".to_owned()
    } else {
        format!("closing {} (ctl status shows them go)", held.join(", "))
    };
    format!("engine {} paused; {closing}", s(&e["id"]))
}

/// Pause and resume: what the engine is now, and whether this request changed it.
fn engine_line(v: &Value) -> String {
    let e = &v["engine"];
    let what = if e["paused"].as_bool() == Some(true) {
        "paused"
    } else {
        "not paused"
    };
    let changed = if v["changed"].as_bool() == Some(true) {
        "now"
    } else {
        "already"
    };
    format!(
        "engine {} {changed} {what} (state {})",
        s(&e["id"]),
        s(&e["state"])
    )
}

fn mode_lines(v: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if v["changed"].as_bool() != Some(true) {
        lines.push("mode unchanged".into());
    }
    lines.push(mode_line(&v["mode"]));
    lines
}

fn fault_line(i: &Value) -> String {
    format!(
        "injected {} into {} (count {}, ms {})",
        s(&i["kind"]),
        s(&i["path"]),
        s(&i["count"]),
        s(&i["ms"])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        assert_eq!(
            base_url("0.0.0.0:7421".parse().unwrap()),
            "http://127.0.0.1:7421"
        );
        assert_eq!(base_url("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(base_url("10.1.2.3:9".parse().unwrap()), "http://10.1.2.3:9");
    }

    #[test]
    fn engine_ids_cannot_break_the_url() {
        assert_eq!(path_segment("KC"), "KC");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
    fn verb(args: &[&str]) -> Verb {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(subcommand)]
            verb: Verb,
        }
        let mut argv = vec!["ctl"];
        argv.extend_from_slice(args);
        <Cli as clap::Parser>::parse_from(argv).verb
    }

    #[test]
    fn every_verb_has_its_human_form() {
        let risk = json!({"level": "HALT", "since": "2026-01-02T03:04:05.000Z", "reason": "r"});
        let mode = json!({"current": "MICRO", "auto": false, "since": "2026-01-02T03:04:05.000Z"});
        let status = json!({
            "version": "0.1.0", "uptime_s": 12, "started_at": "2026-01-02T03:04:05.000Z",
            "risk": risk, "mode": mode, "equity": "1000.5", "drawdown": "0.01",
            "engines": [{"id": "KC", "state": "running", "restarts": 1,
                "positions": [{}, {}], "realized_pnl": "-2.5", "breaker": {"state": "closed"}},
                {"id": "CL", "state": null, "restarts": 0, "realized_pnl": "0", "breaker": {}}],
        });
        assert_eq!(
            human(&verb(&["status"]), &status),
            "commodore 0.1.0, up 12s (started 2026-01-02T03:04:05.000Z)\n\
             risk HALT since 2026-01-02T03:04:05.000Z (r)\n\
             mode MICRO (fixed by the operator) since 2026-01-02T03:04:05.000Z\n\
             equity 1000.5, drawdown 0.01\n\
             engine KC       running    restarts 1    positions 2   realized -2.5 breaker closed\n\
             engine CL       -          restarts 0    positions 0   realized 0 breaker -\n"
        );
        let tree = json!({"nodes": [
            {"path": "master", "state": "running", "restarts": 0},
            {"path": "master/engines/KC", "state": "failed", "restarts": 3, "last_failure": "boom"},
        ]});
        assert_eq!(
            human(&verb(&["tree"]), &tree),
            "master                   running    restarts 0\n    \
             KC                   failed     restarts 3  last failure: boom\n"
        );
        assert_eq!(human(&verb(&["tree"]), &json!({})), "");
        let events = json!({"events": [{"seq": 7, "at": "T", "kind": "started", "path": "master", "detail": "d"}], "next": 7});
        assert_eq!(
            human(&verb(&["events"]), &events),
            "     7 T started        master d\nnext: 7\n"
        );
        let paused =
            json!({"engine": {"id": "KC", "paused": true, "state": "paused"}, "changed": true});
        assert_eq!(
            human(&verb(&["pause", "KC"]), &paused),
            "engine KC now paused (state paused)\n"
        );
        let flattening = json!({"engine": {"id": "KC", "paused": true, "positions": [
            {"symbol": "KCH26", "qty": "2"}, {"symbol": "KCK26", "qty": "-1"}]}, "changed": true});
        assert_eq!(
            human(&verb(&["flatten", "KC"]), &flattening),
            "engine KC paused; closing 2 KCH26, -1 KCK26 (ctl status shows them go)\n"
        );
        let flat =
            json!({"engine": {"id": "KC", "paused": true, "positions": []}, "changed": true});
        assert_eq!(
            human(&verb(&["flatten", "KC"]), &flat),
            "engine KC paused; nothing held\n"
        );
        let resumed =
            json!({"engine": {"id": "KC", "paused": false, "state": "running"}, "changed": false});
        assert_eq!(
            human(&verb(&["resume", "KC"]), &resumed),
            "engine KC already not paused (state running)\n"
        );
        let stopping =
            json!({"engine": {"id": "KC", "stopped": true, "state": "running"}, "changed": true});
        assert_eq!(
            human(&verb(&["stop", "KC"]), &stopping),
            "engine KC stopping (state now running; see ctl status)\n"
        );
        let running =
            json!({"engine": {"id": "KC", "stopped": false, "state": "running"}, "changed": false});
        assert_eq!(
            human(&verb(&["start", "KC"]), &running),
            "engine KC already running (state running)\n"
        );
        let raised = json!({"message": "raised to HALT", "risk": risk});
        assert_eq!(
            human(&verb(&["escalate", "HALT", "--reason", "x"]), &raised),
            "raised to HALT\nrisk HALT since 2026-01-02T03:04:05.000Z (r)\n"
        );
        assert_eq!(
            human(&verb(&["reset-risk", "HALT", "--reason", "x"]), &raised),
            human(&verb(&["escalate", "HALT", "--reason", "x"]), &raised)
        );
        let auto = json!({"current": "NANO", "auto": true, "since": "S"});
        assert_eq!(
            human(
                &verb(&["mode", "auto"]),
                &json!({"mode": auto, "changed": true})
            ),
            "mode NANO (auto) since S\n"
        );
        assert_eq!(
            human(
                &verb(&["mode", "auto"]),
                &json!({"mode": auto, "changed": false})
            ),
            "mode unchanged\nmode NANO (auto) since S\n"
        );
        let injected =
            json!({"injected": {"path": "master/x", "kind": "panic", "count": 1, "ms": 0}});
        assert_eq!(
            human(&verb(&["fault", "master/x", "panic"]), &injected),
            "injected panic into master/x (count 1, ms 0)\n"
        );
        assert_eq!(
            human(&verb(&["shutdown"]), &json!({})),
            "shutdown under way: the daemon drains in order and exits\n"
        );
    }
}
