//! `/metrics`: the OpenMetrics 1.0 text exposition (what Prometheus asks
//! for first), encoded by `prometheus-client`. It is always OpenMetrics: the
//! crate writes no other format, and a counter's `# TYPE` line names the
//! family without `_total`, which a parser of the older text format would
//! read as untyped samples; curl shows it as well.
//!
//! Most figures are read at scrape time from the registry and the status
//! view (a `Collector` over a [`Snapshot`]): the kernel and the engines
//! already count them, so there is no second set of counters to keep in
//! step. The latency histograms are the engines' own
//! (`StatusView::latency`), observed as orders are sent.

use commodore_actors::kernel::{NodeInfo, NodeKind, NodeState};
use commodore_actors::model::{ModeState, Outcome, RiskState};
use commodore_actors::view::{EngineFigures, Latencies, NotifierFigures, ReconcileView};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::fmt;

#[derive(Debug)]
pub struct Snapshot {
    pub tree: Vec<NodeInfo>,
    pub risk: RiskState,
    pub mode: ModeState,
    pub engines: Vec<(String, NodeState)>,
    /// Each engine's published figures.
    pub figures: Vec<(String, EngineFigures)>,
    pub notifier: NotifierFigures,
    /// `None` when the LLM analyzer is off.
    pub llm: Option<LlmFigures>,
    /// `None` where `/proc` cannot be read (not Linux).
    pub process: Option<Process>,
    pub uptime_s: u64,
    /// When the daemon started (Unix seconds, wall clock).
    pub started_s: u64,
    pub ready: bool,
    /// The last daily reconciliation.
    pub reconcile: ReconcileView,
}

/// The shared LLM path: today's spend against the budget, and its counters.
#[derive(Debug, Default)]
pub struct LlmFigures {
    pub spent: Decimal,
    pub budget: Decimal,
    pub calls: u64,
    pub errors: u64,
    pub over_budget: u64,
    pub busy: u64,
}

/// The process as the kernel reports it in `/proc/self`.
#[derive(Debug, Default, PartialEq)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

impl Process {
    /// Reads `/proc/self`; `None` where there is none.
    pub fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Process::parse(&stat, &status, &limits, open_fds)
    }

    /// `stat`: utime and stime are the 14th and 15th fields, in clock ticks
    /// (USER_HZ, 100 on Linux); the command name (2nd) may hold spaces, so
    /// fields are counted after its closing parenthesis. `status`: VmRSS,
    /// VmSize (kB) and Threads. `limits`: the soft "Max open files".
    pub fn parse(stat: &str, status: &str, limits: &str, open_fds: u64) -> Option<Process> {
        const USER_HZ: f64 = 100.0;
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // After the name: state is field 3, so utime (14) is index 11.
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let status_kb = |key: &str| {
            status.lines().find_map(|l| {
                let v = l.strip_prefix(key)?.trim();
                v.trim_end_matches("kB").trim().parse::<u64>().ok()
            })
        };
        let max_fds = limits.lines().find_map(|l| {
            let rest = l.strip_prefix("Max open files")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        });
        Some(Process {
            cpu_seconds: ticks as f64 / USER_HZ,
            resident_bytes: status_kb("VmRSS:")? * 1024,
            virtual_bytes: status_kb("VmSize:")? * 1024,
            threads: status_kb("Threads:")?,
            open_fds,
            max_fds,
        })
    }
}

/// The exposition: the snapshot's families, the latency histograms, `# EOF`.
pub fn render(snapshot: Snapshot, latency: &Latencies) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    registry.register(
        "commodore_tick_to_order_seconds",
        "From an engine taking a market event (bar, reading, batch) to the order it decided on handed to its executor, the durable journal write included.",
        latency.tick_to_order.clone(),
    );
    registry.register(
        "commodore_journal_append_seconds",
        "The durable append of an order to its engine's order log (fsync included), before it is sent.",
        latency.journal_append.clone(),
    );
    let mut out = String::with_capacity(16 * 1024);
    let encoded = prometheus_client::encoding::text::encode(&mut out, &registry);
    if let Err(e) = encoded {
        // Writing into a String does not fail; say so if it ever did.
        tracing::error!(error = %e, "the metrics could not be encoded");
    }
    out
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

/// A label value with `\`, `"` and newlines escaped, as the format requires
/// (the encoder writes label values as they are).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample's labels.
type Labels = Vec<(&'static str, String)>;

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k, label(v))).collect()
}

/// Money and prices as the exposition's floats.
fn dollars(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// A family of gauges, one sample per label set.
fn gauges<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, V)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (l, v) in samples {
        m.encode_family(&l)?.encode_gauge(&v)?;
    }
    Ok(())
}

/// A family of counters (`name` without `_total`: the encoder adds it).
fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, u64)>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (l, v) in samples {
        counter(&mut m.encode_family(&l)?, v)?;
    }
    Ok(())
}

fn counter(m: &mut MetricEncoder, v: u64) -> fmt::Result {
    m.encode_counter::<NoLabelSet, u64, u64>(&v, None)
}

/// A gauge with one unlabelled sample.
fn gauge<V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: V,
) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

/// A counter with one unlabelled sample.
fn counter_one(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    counter(
        &mut enc.encode_descriptor(name, help, None, MetricType::Counter)?,
        v,
    )
}

/// The per-engine families of the engines' published figures, in order.
type PerEngine = (
    &'static str,
    MetricType,
    &'static str,
    fn(&EngineFigures) -> f64,
);

const PER_ENGINE: [PerEngine; 13] = [
    ("commodore_engine_events", MetricType::Counter, "Raw market events read (bars, headlines).", |f| f.activity.events_in as f64),
    ("commodore_engine_signals", MetricType::Counter, "Signals from the analyzer.", |f| f.activity.signals as f64),
    ("commodore_engine_orders", MetricType::Counter, "Orders sent to the executor.", |f| f.activity.orders as f64),
    ("commodore_engine_fills", MetricType::Counter, "Fills applied.", |f| f.activity.fills as f64),
    ("commodore_engine_rejected", MetricType::Counter, "Orders refused by the broker or the journal.", |f| f.activity.rejected as f64),
    ("commodore_engine_orders_ended", MetricType::Counter, "Orders that worked at the broker and ended before they filled in full (expired, cancelled).", |f| f.activity.ended as f64),
    ("commodore_engine_dropped", MetricType::Counter, "Market events, signals or outcome rows dropped at a bound.", |f| f.activity.dropped as f64),
    ("commodore_engine_equity_dollars", MetricType::Gauge, "Capital + realized - commissions + unrealized.", |f| dollars(f.equity)),
    ("commodore_engine_realized_pnl_dollars", MetricType::Gauge, "Realized PnL net of commissions.", |f| dollars(f.realized_pnl)),
    ("commodore_engine_unrealized_pnl_dollars", MetricType::Gauge, "Unrealized PnL of the open positions at the last prices.", |f| dollars(f.positions.iter().map(|p| p.unrealized_pnl).sum())),
    ("commodore_engine_exposure_dollars", MetricType::Gauge, "Signed notional of the position at the last price.", |f| dollars(f.exposure)),
    ("commodore_engine_breaker_open", MetricType::Gauge, "Circuit breaker: 0 closed, 1 open, 0.5 half-open (one trial order).", |f| match f.breaker.state.as_str() {
        "open" => 1.0,
        "half_open" => 0.5,
        _ => 0.0,
    }),
    ("commodore_engine_breaker_opens", MetricType::Counter, "Times the circuit breaker opened.", |f| f.breaker.opens as f64),
];

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let enc = &mut enc;
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
        gauges(
            enc,
            "commodore_build_info",
            "The running build: 1, with its version, profile and target as labels.",
            [(
                labels([
                    ("version", env!("CARGO_PKG_VERSION")),
                    ("profile", profile),
                    ("target", &target),
                ]),
                1i64,
            )],
        )?;
        self.actors(enc)?;
        gauge(
            enc,
            "commodore_risk_level",
            "Portfolio risk level: 0 NORMAL, 1 WARNING, 2 HALT, 3 PANIC.",
            i64::from(self.risk.level.rank()),
        )?;
        gauges(
            enc,
            "commodore_mode",
            "The capital tier in force: 1, with the tier as a label.",
            [(labels([("mode", self.mode.current.as_str())]), 1i64)],
        )?;
        gauge(
            enc,
            "commodore_mode_auto",
            "1 when the tier is chosen by the equity (auto), 0 when an operator set it.",
            i64::from(self.mode.auto),
        )?;
        self.engines(enc)?;
        self.positions(enc)?;
        self.notifier(enc)?;
        self.llm(enc)?;
        counter_one(
            enc,
            "commodore_reconcile_runs",
            "Daily reconciliations run by this process.",
            self.reconcile.runs,
        )?;
        gauge(enc, "commodore_reconcile_mismatches", "Engines the last daily reconciliation found differing from their broker or could not compare.", self.reconcile.mismatches.len() as i64)?;
        gauge(
            enc,
            "commodore_ready",
            "1 when /readyz answers 200.",
            i64::from(self.ready),
        )?;
        gauge(
            enc,
            "commodore_uptime_seconds",
            "Seconds since the daemon started.",
            self.uptime_s as i64,
        )?;
        self.process(enc)
    }
}

impl Snapshot {
    fn actors(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        // Steps are parts of an actor, not actors: their failures are the
        // engine's outcomes and `failed` events.
        let actors: Vec<&NodeInfo> = self
            .tree
            .iter()
            .filter(|n| n.kind != NodeKind::Step)
            .collect();
        let path = |n: &NodeInfo| labels([("path", n.path.as_str())]);
        counters(
            enc,
            "commodore_actor_restarts",
            "Restarts of the actor since the daemon started.",
            actors.iter().map(|n| (path(n), n.restarts)),
        )?;
        counters(
            enc,
            "commodore_actor_messages",
            "Messages handled by the actor (workers) since the daemon started.",
            actors.iter().map(|n| (path(n), n.messages)),
        )?;
        gauges(
            enc,
            "commodore_actor_up",
            "1 when the actor is running (or paused on purpose), else 0.",
            actors.iter().map(|n| {
                (
                    path(n),
                    i64::from(matches!(n.state, NodeState::Running | NodeState::Paused)),
                )
            }),
        )
    }

    fn engines(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        // One-hot: one sample per engine and state, 1 for its current one.
        gauges(
            enc,
            "commodore_engine_state",
            "1 for the engine's current state, 0 for the others.",
            self.engines.iter().flat_map(|(id, state)| {
                STATES.iter().map(move |(st, name)| {
                    (
                        labels([("engine", id.as_str()), ("state", name)]),
                        i64::from(state == st),
                    )
                })
            }),
        )?;
        for (name, kind, help, value) in PER_ENGINE {
            let samples = self
                .figures
                .iter()
                .map(|(id, f)| (labels([("engine", id.as_str())]), value(f)));
            match kind {
                MetricType::Counter => {
                    counters(enc, name, help, samples.map(|(l, v)| (l, v as u64)))?
                }
                _ => gauges(enc, name, help, samples)?,
            }
        }
        // Every outcome for every engine, 0 included, so a rate never lacks a series.
        counters(
            enc,
            "commodore_engine_outcomes",
            "Candidates by the one outcome each ended in.",
            self.figures.iter().flat_map(|(id, f)| {
                Outcome::ALL.iter().map(move |o| {
                    let n = f.activity.outcomes.get(o.as_str()).copied().unwrap_or(0);
                    (
                        labels([("engine", id.as_str()), ("outcome", o.as_str())]),
                        n,
                    )
                })
            }),
        )
    }

    fn positions(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let each = || {
            self.figures.iter().flat_map(|(id, f)| {
                f.positions.iter().map(move |p| {
                    (
                        labels([("engine", id.as_str()), ("contract", p.symbol.as_str())]),
                        p,
                    )
                })
            })
        };
        gauges(
            enc,
            "commodore_position_contracts",
            "Open position per engine and contract, signed (short below 0).",
            each().map(|(l, p)| (l, dollars(p.qty))),
        )?;
        gauges(
            enc,
            "commodore_position_average_price",
            "Average entry price of the open position.",
            each().map(|(l, p)| (l, dollars(p.avg_price))),
        )?;
        gauges(
            enc,
            "commodore_position_unrealized_pnl_dollars",
            "Unrealized PnL of the open position at the last price.",
            each().map(|(l, p)| (l, dollars(p.unrealized_pnl))),
        )
    }

    fn notifier(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let n = &self.notifier;
        gauge(
            enc,
            "commodore_notifier_outbox",
            "Notifications waiting in the journal's outbox (the webhook backlog).",
            n.outbox as i64,
        )?;
        counter_one(
            enc,
            "commodore_notifier_delivered",
            "Notifications a webhook accepted.",
            n.delivered,
        )?;
        counter_one(
            enc,
            "commodore_notifier_retries",
            "Deliveries tried again (a webhook down, 429, 5xx).",
            n.retries,
        )?;
        counter_one(
            enc,
            "commodore_notifier_failed",
            "Notifications a webhook refused for good (4xx other than 429).",
            n.failed,
        )?;
        counter_one(
            enc,
            "commodore_notifier_dropped",
            "Trade and milestone notifications dropped at the outbox bound.",
            n.dropped,
        )
    }

    fn llm(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        gauge(
            enc,
            "commodore_llm_enabled",
            "1 when the LLM analyzer is on.",
            i64::from(self.llm.is_some()),
        )?;
        let Some(l) = &self.llm else {
            return Ok(());
        };
        gauge(
            enc,
            "commodore_llm_spend_dollars",
            "LLM spend today (UTC day), from token usage.",
            dollars(l.spent),
        )?;
        gauge(
            enc,
            "commodore_llm_budget_dollars",
            "The daily LLM budget; past it the rules analyzer takes over.",
            dollars(l.budget),
        )?;
        counter_one(enc, "commodore_llm_calls", "Calls to the LLM.", l.calls)?;
        counter_one(
            enc,
            "commodore_llm_errors",
            "LLM calls that failed (the rules answered instead).",
            l.errors,
        )?;
        counter_one(
            enc,
            "commodore_llm_over_budget",
            "Headlines the budget kept from the LLM.",
            l.over_budget,
        )?;
        counter_one(
            enc,
            "commodore_llm_busy",
            "Headlines refused at the limiter's bound (the rules answered).",
            l.busy,
        )
    }

    fn process(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        gauge(
            enc,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
            self.started_s as i64,
        )?;
        let Some(p) = &self.process else {
            return Ok(());
        };
        enc.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent, in seconds.",
            None,
            MetricType::Counter,
        )?
        .encode_counter::<NoLabelSet, f64, f64>(&p.cpu_seconds, None)?;
        gauge(
            enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes as i64,
        )?;
        gauge(
            enc,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.virtual_bytes as i64,
        )?;
        gauge(
            enc,
            "process_threads",
            "Threads of the process.",
            p.threads as i64,
        )?;
        gauge(
            enc,
            "process_open_fds",
            "Open file descriptors.",
            p.open_fds as i64,
        )?;
        if let Some(max) = p.max_fds {
            gauge(
                enc,
                "process_max_fds",
                "The limit of open file descriptors (soft).",
                max as i64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commodore_actors::kernel::NodeKind;
    use commodore_actors::model::{RiskLevel, Tier};
    use commodore_actors::view::PositionView;

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

    fn snapshot() -> Snapshot {
        Snapshot {
            tree: vec![
                node("master/engines/KC/feed", NodeState::Running, 2),
                node("odd\"path", NodeState::Failed, 0),
            ],
            risk: RiskState {
                level: RiskLevel::Halt,
                since_ms: 0,
                reason: "r".into(),
            },
            mode: ModeState {
                current: Tier::named("MICRO"),
                auto: true,
                since_ms: 0,
            },
            engines: vec![("KC".into(), NodeState::Paused)],
            figures: vec![("KC".into(), {
                let mut f = EngineFigures::default();
                f.activity.outcomes.insert("executed", 3);
                f.activity.orders = 3;
                f.breaker.state = "open".into();
                f.breaker.opens = 2;
                f.positions = vec![PositionView {
                    symbol: "KCH26".into(),
                    qty: Decimal::from(-2),
                    avg_price: "345.05".parse().unwrap(),
                    unrealized_pnl: "-412.5".parse().unwrap(),
                }];
                f
            })],
            notifier: NotifierFigures {
                outbox: 4,
                delivered: 9,
                retries: 1,
                failed: 2,
                dropped: 0,
            },
            llm: Some(LlmFigures {
                spent: "1.25".parse().unwrap(),
                budget: Decimal::from(5),
                calls: 40,
                ..LlmFigures::default()
            }),
            process: Some(Process {
                cpu_seconds: 1.5,
                resident_bytes: 20 << 20,
                virtual_bytes: 200 << 20,
                threads: 9,
                open_fds: 31,
                max_fds: Some(1024),
            }),
            uptime_s: 12,
            started_s: 1_767_600_000,
            ready: true,
            reconcile: ReconcileView {
                day: Some("2026-01-05".into()),
                matched: 1,
                mismatches: vec!["KC: KC: journal holds 1 contracts, the broker 2".into()],
                runs: 3,
            },
        }
    }

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let latency = Latencies::default();
        Latencies::observe(&latency.tick_to_order, "KC", 0.000_3);
        Latencies::observe(&latency.journal_append, "KC", 0.004);
        let text = render(snapshot(), &latency);
        for sample in [
            "commodore_actor_restarts_total{path=\"master/engines/KC/feed\"} 2\n",
            "commodore_actor_messages_total{path=\"master/engines/KC/feed\"} 7\n",
            "commodore_actor_up{path=\"odd\\\"path\"} 0\n",
            "commodore_risk_level 2\n",
            "commodore_mode{mode=\"MICRO\"} 1\n",
            "commodore_mode_auto 1\n",
            "commodore_engine_breaker_open{engine=\"KC\"} 1.0\n",
            "commodore_engine_breaker_opens_total{engine=\"KC\"} 2\n",
            "commodore_engine_state{engine=\"KC\",state=\"paused\"} 1\n",
            "commodore_engine_state{engine=\"KC\",state=\"running\"} 0\n",
            "commodore_uptime_seconds 12\n",
            "commodore_reconcile_runs_total 3\n",
            "commodore_reconcile_mismatches 1\n",
            "commodore_engine_outcomes_total{engine=\"KC\",outcome=\"executed\"} 3\n",
            "commodore_engine_outcomes_total{engine=\"KC\",outcome=\"vetoed\"} 0\n",
            "commodore_engine_orders_total{engine=\"KC\"} 3\n",
            "commodore_engine_unrealized_pnl_dollars{engine=\"KC\"} -412.5\n",
            "commodore_position_contracts{engine=\"KC\",contract=\"KCH26\"} -2.0\n",
            "commodore_position_average_price{engine=\"KC\",contract=\"KCH26\"} 345.05\n",
            "commodore_position_unrealized_pnl_dollars{engine=\"KC\",contract=\"KCH26\"} -412.5\n",
            "commodore_notifier_outbox 4\n",
            "commodore_notifier_failed_total 2\n",
            "commodore_llm_enabled 1\n",
            "commodore_llm_spend_dollars 1.25\n",
            "commodore_llm_budget_dollars 5.0\n",
            "commodore_llm_calls_total 40\n",
            "process_cpu_seconds_total 1.5\n",
            "process_resident_memory_bytes 20971520\n",
            "process_open_fds 31\n",
            "process_max_fds 1024\n",
            "process_start_time_seconds 1767600000\n",
            "commodore_tick_to_order_seconds_count{engine=\"KC\"} 1\n",
            "commodore_tick_to_order_seconds_bucket{le=\"0.00032\",engine=\"KC\"} 1\n",
            "commodore_tick_to_order_seconds_bucket{le=\"0.00016\",engine=\"KC\"} 0\n",
            "commodore_journal_append_seconds_count{engine=\"KC\"} 1\n",
        ] {
            assert!(text.contains(sample), "{sample} missing from:\n{text}");
        }
        let version = format!(
            "commodore_build_info{{version=\"{}\",",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&version), "{text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with EOF");
        // An engine a reload removed leaves the histograms.
        latency.forget("KC");
        let mut s = snapshot();
        s.figures.clear();
        s.engines.clear();
        let text = render(s, &latency);
        assert!(!text.contains("engine=\"KC\""), "{text}");
        // Every sample line belongs to a declared family.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            assert!(text.contains(&format!("# TYPE {family} ")), "{line}");
        }
    }

    #[test]
    fn every_metric_the_grafana_dashboard_asks_for_is_exposed() {
        let latency = Latencies::default();
        Latencies::observe(&latency.tick_to_order, "KC", 0.001);
        Latencies::observe(&latency.journal_append, "KC", 0.001);
        let text = render(snapshot(), &latency);
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../deploy/grafana/commodore.json")).unwrap();
        let mut asked = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let names = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("commodore_") || w.starts_with("process_"));
                for name in names {
                    let family = ["_total", "_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .unwrap_or(name);
                    assert!(
                        text.contains(&format!("# TYPE {family} ")),
                        "panel {:?} asks for {name}, which /metrics does not have",
                        panel["title"]
                    );
                    asked += 1;
                }
            }
        }
        assert!(asked >= 20, "{asked}");
    }

    #[test]
    fn openmetrics_ends_with_eof_and_an_llm_that_is_off_has_no_spend() {
        let mut s = snapshot();
        s.llm = None;
        s.process = None;
        let text = render(s, &Latencies::default());
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("commodore_llm_enabled 0\n"));
        assert!(!text.contains("commodore_llm_spend_dollars"));
        assert!(!text.contains("process_resident_memory_bytes"));
        assert!(text.contains("process_start_time_seconds "));
    }

    #[test]
    fn the_process_is_read_from_proc_and_a_name_with_spaces_does_not_shift_fields() {
        let stat = "4242 (tokio runtime) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 31 0 0 20 0 9 0 123 2097152 5000";
        let status = "Name:\tcommodore\nVmSize:\t  204800 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(
            Process::parse(stat, status, limits, 31),
            Some(Process {
                cpu_seconds: 2.81,
                resident_bytes: 20 << 20,
                virtual_bytes: 200 << 20,
                threads: 9,
                open_fds: 31,
                max_fds: Some(1024),
            })
        );
        assert_eq!(Process::parse("garbage", status, limits, 1), None);
        assert_eq!(Process::parse(stat, "Name: x\n", limits, 1), None);
        // On this machine (Linux) the process can read itself.
        let me = Process::read().expect("/proc/self");
        assert!(
            me.resident_bytes > 0 && me.threads >= 1 && me.open_fds >= 3,
            "{me:?}"
        );
    }
}
