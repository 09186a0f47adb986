//! A seeded replay's faults: `commodore replay --faults N --seed S` injects N
//! faults, each chosen by the seed: a node of the tree (an actor, a pure step
//! of an engine, an engine's subtree), a kind that node accepts, and a market
//! time within the data; broker errors (`error` on a broker) weigh as much
//! as any other node. The sequencer injects them on the market clock, so the
//! same data, config and seed give the same faults at the same moments, and
//! the same report.
//!
//! Left out on purpose: the root (`master`) and the `engines` supervisor (a
//! fault there ends the run: nothing is left to check but that it ended).

use crate::config::Config;
use commodore_actors::engine::decide::STEPS;
use commodore_actors::kernel::{Fault, FaultKind, SplitMix64};
use commodore_actors::market::ScheduledFault;
use commodore_actors::paths;

/// The most faults one replay takes (`--faults`).
pub const MAX_FAULTS: u32 = 10_000;

const WORKER: &[FaultKind] = &[
    FaultKind::Panic,
    FaultKind::Error,
    FaultKind::Hang,
    FaultKind::Stop,
    FaultKind::Slow,
];
const STEP: &[FaultKind] = &[FaultKind::Panic, FaultKind::Error];
const SUPERVISOR: &[FaultKind] = &[FaultKind::Panic, FaultKind::Hang, FaultKind::Stop];
const BROKER_ERROR: &[FaultKind] = &[FaultKind::Error];

/// Every node a fault may hit, with the kinds it accepts, in a stable order.
fn targets(cfg: &Config) -> Vec<(String, &'static [FaultKind])> {
    let mut out: Vec<(String, &'static [FaultKind])> = [
        paths::JOURNAL,
        paths::NOTIFIER,
        paths::PORTFOLIO_RISK,
        paths::MODE,
        paths::CONTROL,
        paths::MARKET,
    ]
    .iter()
    .map(|n| (paths::master_child(n), WORKER))
    .collect();
    for e in &cfg.engines {
        out.push((paths::engine(&e.id), SUPERVISOR));
        for n in [
            paths::ENGINE,
            paths::EXECUTOR,
            paths::BROKER,
            paths::ANALYZER,
            paths::SENTINEL,
            paths::GUARD,
        ] {
            out.push((paths::engine_child(&e.id, n), WORKER));
        }
        let engine = paths::engine_child(&e.id, paths::ENGINE);
        for step in STEPS {
            out.push((format!("{engine}/{step}"), STEP));
        }
        out.push((paths::engine_child(&e.id, paths::BROKER), BROKER_ERROR));
    }
    out
}

/// `count` faults chosen by `seed`, at market times in `[from_ms, to_ms)`,
/// in time order.
pub fn plan(cfg: &Config, count: u32, seed: u64, from_ms: u64, to_ms: u64) -> Vec<ScheduledFault> {
    let targets = targets(cfg);
    let mut rng = SplitMix64::new(seed);
    let mut pick = |n: u64| rng.next_u64() % n.max(1);
    let span = to_ms.saturating_sub(from_ms).max(1);
    let mut out: Vec<ScheduledFault> = (0..count)
        .map(|_| {
            let (path, kinds) = &targets[pick(targets.len() as u64) as usize];
            let kind = kinds[pick(kinds.len() as u64) as usize];
            let at_ms = from_ms + pick(span);
            let mut fault = Fault::new(kind);
            match kind {
                FaultKind::Panic => fault.count = 1 + pick(3) as u32,
                FaultKind::Error => fault.count = 1 + pick(8) as u32,
                FaultKind::Hang => fault.ms = 1_000 + pick(20_000),
                FaultKind::Slow => {
                    fault.count = 1 + pick(20) as u32;
                    fault.ms = 10 + pick(500);
                }
                FaultKind::Stop => {}
            }
            ScheduledFault {
                at_ms,
                path: path.clone(),
                fault,
            }
        })
        .collect();
    out.sort_by_key(|f| f.at_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::load(&[]).expect("the embedded defaults load")
    }

    #[test]
    fn the_seed_chooses_the_faults_and_the_same_seed_the_same_ones() {
        let cfg = cfg();
        let a = plan(&cfg, 50, 7, 1_000, 1_000_000);
        assert_eq!(a, plan(&cfg, 50, 7, 1_000, 1_000_000), "deterministic");
        assert_ne!(a, plan(&cfg, 50, 8, 1_000, 1_000_000), "the seed matters");
        assert_eq!(a.len(), 50);
        assert!(
            a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
            "in time order"
        );
        assert!(a.iter().all(|f| (1_000..1_000_000).contains(&f.at_ms)));
        // Every fault is one its node accepts; the root is never hit.
        let targets = targets(&cfg);
        for f in &a {
            assert_ne!(f.path, paths::MASTER);
            assert!(targets
                .iter()
                .any(|(p, kinds)| *p == f.path && kinds.contains(&f.fault.kind)));
        }
        // Over many seeds every kind and both engines are drawn.
        let many = plan(&cfg, 2_000, 1, 0, 10);
        for k in WORKER {
            assert!(many.iter().any(|f| f.fault.kind == *k), "{k:?} drawn");
        }
        assert!(many.iter().any(|f| f.path.contains("/KC/")));
        assert!(many.iter().any(|f| f.path.ends_with("/CC/engine/gate")));
        assert!(plan(&cfg, 0, 1, 0, 10).is_empty());
    }
}
