//! Property test: random sequences of faults against a small model of OTP
//! supervision: which children restart, when intensity escalates, final states.

mod common;

use commodore_actors::kernel::*;
use common::*;
use proptest::prelude::{prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as _;
use std::time::Duration;

const N: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A panic in a handler (abnormal exit).
    Panic(usize),
    /// An injected `stop` (normal exit).
    Stop(usize),
    /// An injected `hang` longer than the probe timeout (a failure found by the
    /// liveness probe; the instance is re-created, not restarted in place).
    Hang(usize),
}

#[derive(Debug, Clone)]
struct Case {
    strategy: Strategy,
    restart: [Restart; N],
    max_restarts: u32,
    ops: Vec<Op>,
}

#[derive(Debug, Default, PartialEq)]
struct Model {
    alive: [bool; N],
    restarts: [u64; N],
    count: u32,
    gave_up: bool,
}

impl Model {
    fn run(case: &Case) -> Model {
        let mut m = Model {
            alive: [true; N],
            ..Model::default()
        };
        for op in &case.ops {
            let (i, abnormal) = match *op {
                Op::Panic(i) | Op::Hang(i) => (i, true),
                Op::Stop(i) => (i, false),
            };
            if m.gave_up || !m.alive[i] {
                continue;
            }
            let restart = case.restart[i];
            if (!abnormal && restart != Restart::Permanent) || restart == Restart::Temporary {
                m.alive[i] = false;
                continue;
            }
            m.count += 1;
            if m.count > case.max_restarts {
                m.gave_up = true;
                m.alive = [false; N];
                continue;
            }
            // OTP: the group is every child in range, also one that was down
            // (a transient one that exited normally); a temporary child that
            // ended is gone (its spec deleted).
            let in_group = |j: usize| j == i || m.alive[j] || case.restart[j] != Restart::Temporary;
            let set: Vec<usize> = match case.strategy {
                Strategy::OneForOne => vec![i],
                Strategy::OneForAll => (0..N).filter(|&j| in_group(j)).collect(),
                Strategy::RestForOne => (i..N).filter(|&j| in_group(j)).collect(),
            };
            for j in set {
                if j == i || case.restart[j] != Restart::Temporary {
                    m.restarts[j] += 1;
                    m.alive[j] = true;
                } else {
                    m.alive[j] = false;
                }
            }
        }
        m
    }
}

fn run_real(case: &Case) -> Model {
    actix_rt::System::new().block_on(async {
        tokio::time::pause();
        let log = Log::default();
        let names = ["c0", "c1", "c2"];
        let mut config = cfg(case.strategy);
        config.intensity = Intensity {
            max_restarts: case.max_restarts,
            period: Duration::from_secs(3600),
        };
        let mut spec = SupervisorSpec::new("root", config);
        let mut handles = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let (c, h) = counter(name, &log);
            spec = spec.child(c.restart(case.restart[j]));
            handles.push(h);
        }
        let k = Kernel::new(1);
        let mut root = start(spec, &k).await;
        idle(ms(1)).await;
        for op in &case.ops {
            let settle = match *op {
                Op::Panic(i) => {
                    let _ = handles[i].ask(Boom).await;
                    Duration::from_secs(2)
                }
                Op::Stop(i) => {
                    let _ = k.inject(&format!("root/{}", names[i]), Fault::stop()).await;
                    Duration::from_secs(2)
                }
                Op::Hang(i) => {
                    let _ = k
                        .inject(&format!("root/{}", names[i]), Fault::hang(600_000))
                        .await;
                    // Probe interval 1 s + timeout 3 s, then the backoff.
                    Duration::from_secs(6)
                }
            };
            // Longer than any backoff in `cfg` (10 ms .. 1 s, jittered).
            idle(settle).await;
        }
        let mut real = Model::default();
        for (j, name) in names.iter().enumerate() {
            let n = node(&k, &format!("root/{name}"));
            real.restarts[j] = n.restarts;
            real.alive[j] = n.state == NodeState::Running;
            let answer = handles[j].ask(Get).await;
            assert_eq!(
                answer.is_ok(),
                real.alive[j],
                "{name}: {answer:?} while {:?}",
                n.state
            );
        }
        real.gave_up = node(&k, "root").state == NodeState::Failed;
        if real.gave_up {
            assert!(matches!(root.wait().await, RootExit::GaveUp(_)));
        } else {
            assert_eq!(root.shutdown().await, RootExit::Stopped);
        }
        real
    })
}

fn strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::OneForOne),
        Just(Strategy::OneForAll),
        Just(Strategy::RestForOne)
    ]
}

fn restart() -> impl proptest::strategy::Strategy<Value = Restart> {
    prop_oneof![
        Just(Restart::Permanent),
        Just(Restart::Transient),
        Just(Restart::Temporary)
    ]
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        3 => (0..N).prop_map(Op::Panic),
        1 => (0..N).prop_map(Op::Stop),
        1 => (0..N).prop_map(Op::Hang),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn supervision_matches_the_model(
        strategy in strategy(),
        restart in [restart(), restart(), restart()],
        max_restarts in 0u32..5,
        ops in proptest::collection::vec(op(), 1..10),
    ) {
        let case = Case { strategy, restart, max_restarts, ops };
        let expected = Model::run(&case);
        let mut real = run_real(&case);
        real.count = expected.count; // not observable from outside
        prop_assert_eq!(real, expected, "case {:?}", case);
    }
}
