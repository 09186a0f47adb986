//! `/metrics` in the Prometheus text exposition format (version 0.0.4).
//!
//! Rendered from the registry and the status view at scrape time: the kernel
//! already counts restarts and messages per actor, so there is no second set of
//! counters to keep in step (and no exporter crate to build).

use commodore_actors::kernel::{NodeInfo, NodeKind, NodeState};
use commodore_actors::model::{Outcome, RiskState};
use commodore_actors::view::{EngineFigures, ReconcileView};
use std::fmt::Write;

pub struct Snapshot {
    pub tree: Vec<NodeInfo>,
    pub risk: RiskState,
    pub engines: Vec<(String, NodeState)>,
    /// Each engine's published figures.
    pub figures: Vec<(String, EngineFigures)>,
    pub uptime_s: u64,
    pub ready: bool,
    /// The last daily reconciliation.
    pub reconcile: ReconcileView,
}

const STATES: [(NodeState, &str); 7] = [
    (NodeState::Starting, "starting"),
    (NodeState::Running, "running"),
    (NodeState::Restarting, "restarting"),
    (NodeState::Paused, "paused"),
    (NodeState::Stopping, "stopping"),
    (NodeState::Stopped, "stopped"),
    (NodeState::Failed, "failed"),
];

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A metric family with one sample per item: name, type, help, value.
type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> String);

fn per_item<T>(out: &mut String, families: &[Family<T>], key: &str, items: &[(&str, &T)]) {
    for (name, kind, help, value) in families {
        family(out, name, kind, help);
        for (id, item) in items {
            let _ = writeln!(out, "{name}{{{key}=\"{}\"}} {}", label(id), value(item));
        }
    }
}

/// The per-actor families, in the order they are written.
const PER_ACTOR: [Family<NodeInfo>; 3] = [
    (
        "commodore_actor_restarts_total",
        "counter",
        "Restarts of the actor since the daemon started.",
        |n| n.restarts.to_string(),
    ),
    (
        "commodore_actor_messages_total",
        "counter",
        "Messages handled by the actor (workers) since the daemon started.",
        |n| n.messages.to_string(),
    ),
    (
        "commodore_actor_up",
        "gauge",
        "1 when the actor is running (or paused on purpose), else 0.",
        |n| u8::from(matches!(n.state, NodeState::Running | NodeState::Paused)).to_string(),
    ),
];

/// The per-engine families of the engines' published figures, in order.
const PER_ENGINE: [Family<EngineFigures>; 12] = [
    (
        "commodore_engine_events_total",
        "counter",
        "Raw market events read (bars, headlines).",
        |f| f.activity.events_in.to_string(),
    ),
    (
        "commodore_engine_signals_total",
        "counter",
        "Signals from the analyzer.",
        |f| f.activity.signals.to_string(),
    ),
    (
        "commodore_engine_orders_total",
        "counter",
        "Orders sent to the executor.",
        |f| f.activity.orders.to_string(),
    ),
    (
        "commodore_engine_fills_total",
        "counter",
        "Fills applied.",
        |f| f.activity.fills.to_string(),
    ),
    (
        "commodore_engine_rejected_total",
        "counter",
        "Orders refused by the broker or the journal.",
        |f| f.activity.rejected.to_string(),
    ),
    (
        "commodore_engine_orders_ended_total",
        "counter",
        "Orders that worked at the broker and ended before they filled in full (expired, cancelled).",
        |f| f.activity.ended.to_string(),
    ),
    (
        "commodore_engine_dropped_total",
        "counter",
        "Market events, signals or outcome rows dropped at a bound.",
        |f| f.activity.dropped.to_string(),
    ),
    (
        "commodore_engine_equity_dollars",
        "gauge",
        "Capital + realized - commissions + unrealized.",
        |f| f.equity.to_string(),
    ),
    (
        "commodore_engine_realized_pnl_dollars",
        "gauge",
        "Realized PnL net of commissions.",
        |f| f.realized_pnl.to_string(),
    ),
    (
        "commodore_engine_exposure_dollars",
        "gauge",
        "Signed notional of the position at the last price.",
        |f| f.exposure.to_string(),
    ),
    (
        "commodore_engine_breaker_open",
        "gauge",
        "Circuit breaker: 0 closed, 1 open, 0.5 half-open (one trial order).",
        |f| match f.breaker.state.as_str() {
            "open" => "1".to_owned(),
            "half_open" => "0.5".to_owned(),
            _ => "0".to_owned(),
        },
    ),
    (
        "commodore_engine_breaker_opens_total",
        "counter",
        "Times the circuit breaker opened.",
        |f| f.breaker.opens.to_string(),
    ),
];

/// The whole exposition; the order of the families is part of what scrapers see.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::with_capacity(256 + s.tree.len() * 200);
    actors(&mut out, &s.tree);
    single(
        &mut out,
        "commodore_risk_level",
        "Portfolio risk level: 0 NORMAL, 1 WARNING, 2 HALT, 3 PANIC.",
        s.risk.level.rank(),
    );
    engine_states(&mut out, &s.engines);
    let engines: Vec<(&str, &EngineFigures)> =
        s.figures.iter().map(|(id, f)| (id.as_str(), f)).collect();
    per_item(&mut out, &PER_ENGINE, "engine", &engines);
    outcomes(&mut out, &s.figures);
    family(
        &mut out,
        "commodore_reconcile_runs_total",
        "counter",
        "Daily reconciliations run by this process.",
    );
    let _ = writeln!(out, "commodore_reconcile_runs_total {}", s.reconcile.runs);
    single(
        &mut out,
        "commodore_reconcile_mismatches",
        "Engines the last daily reconciliation found differing from their broker or could not compare.",
        s.reconcile.mismatches.len(),
    );
    single(
        &mut out,
        "commodore_ready",
        "1 when /readyz answers 200.",
        u8::from(s.ready),
    );
    single(
        &mut out,
        "commodore_uptime_seconds",
        "Seconds since the daemon started.",
        s.uptime_s,
    );
    out
}

/// A gauge with one unlabelled sample.
fn single(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn actors(out: &mut String, tree: &[NodeInfo]) {
    // Steps are parts of an actor, not actors: their failures are the
    // engine's outcomes and `failed` events.
    let actors: Vec<(&str, &NodeInfo)> = tree
        .iter()
        .filter(|n| n.kind != NodeKind::Step)
        .map(|n| (n.path.as_str(), n))
        .collect();
    per_item(out, &PER_ACTOR, "path", &actors);
}

/// One-hot: one sample per engine and state, 1 for the engine's current one.
fn engine_states(out: &mut String, engines: &[(String, NodeState)]) {
    family(
        out,
        "commodore_engine_state",
        "gauge",
        "1 for the engine's current state, 0 for the others.",
    );
    for (id, state) in engines {
        for (st, name) in STATES {
            let _ = writeln!(
                out,
                "commodore_engine_state{{engine=\"{}\",state=\"{name}\"}} {}",
                label(id),
                u8::from(*state == st)
            );
        }
    }
}

/// Every outcome for every engine, 0 included, so a rate never lacks a series.
fn outcomes(out: &mut String, figures: &[(String, EngineFigures)]) {
    family(
        out,
        "commodore_engine_outcomes_total",
        "counter",
        "Candidates by the one outcome each ended in.",
    );
    for (id, f) in figures {
        for o in Outcome::ALL {
            let n = f.activity.outcomes.get(o.as_str()).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "commodore_engine_outcomes_total{{engine=\"{}\",outcome=\"{}\"}} {n}",
                label(id),
                o.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::kernel::NodeKind;
    use commodore_actors::model::RiskLevel;

    fn node(path: &str, state: NodeState, restarts: u64) -> NodeInfo {
        NodeInfo {
            path: path.into(),
            kind: NodeKind::Worker,
            state,
            strategy: None,
            restarts,
            last_failure: None,
            children: vec![],
            messages: 7,
        }
    }

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let text = render(&Snapshot {
            tree: vec![
                node("master/engines/KC/feed", NodeState::Running, 2),
                node("odd\"path", NodeState::Failed, 0),
            ],
            risk: RiskState {
                level: RiskLevel::Halt,
                since_ms: 0,
                reason: "r".into(),
            },
            engines: vec![("KC".into(), NodeState::Paused)],
            figures: vec![("KC".into(), {
                let mut f = EngineFigures::default();
                f.activity.outcomes.insert("executed", 3);
                f.activity.orders = 3;
                f.breaker.state = "open".into();
                f.breaker.opens = 2;
                f
            })],
            uptime_s: 12,
            ready: true,
            reconcile: ReconcileView {
                day: Some("2026-01-05".into()),
                matched: 1,
                mismatches: vec!["KC: KC: journal holds 1 contracts, the broker 2".into()],
                runs: 3,
            },
        });
        assert!(
            text.contains("commodore_actor_restarts_total{path=\"master/engines/KC/feed\"} 2\n")
        );
        assert!(
            text.contains("commodore_actor_messages_total{path=\"master/engines/KC/feed\"} 7\n")
        );
        assert!(text.contains("commodore_actor_up{path=\"odd\\\"path\"} 0\n"));
        assert!(text.contains("commodore_risk_level 2\n"));
        assert!(text.contains("commodore_engine_breaker_open{engine=\"KC\"} 1\n"));
        assert!(text.contains("commodore_engine_breaker_opens_total{engine=\"KC\"} 2\n"));
        assert!(text.contains("commodore_engine_state{engine=\"KC\",state=\"paused\"} 1\n"));
        assert!(text.contains("commodore_engine_state{engine=\"KC\",state=\"running\"} 0\n"));
        assert!(text.contains("commodore_uptime_seconds 12\n"));
        assert!(text.contains("commodore_reconcile_runs_total 3\n"));
        assert!(text.contains("commodore_reconcile_mismatches 1\n"));
        assert!(text
            .contains("commodore_engine_outcomes_total{engine=\"KC\",outcome=\"executed\"} 3\n"));
        assert!(
            text.contains("commodore_engine_outcomes_total{engine=\"KC\",outcome=\"vetoed\"} 0\n")
        );
        assert!(text.contains("commodore_engine_orders_total{engine=\"KC\"} 3\n"));
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }
}
