//! Pure steps inside a worker, named in the tree so that faults reach them.
//!
//! Some parts of an actor are plain functions it calls in order (an engine's
//! validator, scorer, risk step and gate). They have no mailbox to fault, yet an
//! operator needs to see what the actor does when one of them fails. A worker
//! registers them as [`Steps`]: each is a node of kind `step` below the worker
//! (`master/engines/KC/engine/validator`), its state is its worker's, and
//! [`Kernel::inject`](super::Kernel::inject) arms a `panic` or an `error` on it
//! for its next `count` runs. [`Steps::run`] runs the step inside
//! `catch_unwind`: an injected or a real panic, or an injected error, is the
//! step being down, which the worker answers by its own degradation rule; the
//! worker itself does not fail.

use super::event::EventKind;
use super::fault::{Armed, Fault, FaultKind, OnMessage};
use super::spawn::panic_message;
use super::Kernel;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The fault armed on one step, and whether it is down now.
#[derive(Debug, Default)]
pub(crate) struct StepSlot {
    /// Set while a fault is armed: the common path reads only this.
    armed_flag: AtomicBool,
    armed: Mutex<Armed>,
    down: AtomicBool,
}

impl StepSlot {
    pub(crate) fn arm(&self, fault: Fault) {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        armed.arm(fault);
        self.armed_flag.store(true, Ordering::Release);
    }

    fn next_run(&self) -> OnMessage {
        if !self.armed_flag.load(Ordering::Acquire) {
            return OnMessage::Handle;
        }
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let what = armed.next_message();
        if !armed.is_armed() {
            self.armed_flag.store(false, Ordering::Release);
        }
        what
    }
}

/// Which faults a step takes: it has no mailbox to hang, slow or stop.
pub(crate) fn check_step_fault(path: &str, fault: &Fault) -> Result<(), String> {
    match fault.kind {
        FaultKind::Panic | FaultKind::Error => Ok(()),
        other => Err(format!(
            "{path} is a pure step inside its actor: it takes panic or error (for its next count runs), not {}",
            other.as_str()
        )),
    }
}

/// Why a step did not give its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDown(pub String);

impl std::fmt::Display for StepDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A worker's named steps. [`Steps::none`] until the worker registers them
/// (then every run just runs).
#[derive(Clone, Default)]
pub struct Steps {
    steps: Vec<(Arc<str>, Arc<StepSlot>)>,
    kernel: Option<Kernel>,
}

impl Steps {
    /// No registered steps: [`run`](Self::run) runs the function, and still
    /// turns a panic into [`StepDown`].
    pub fn none() -> Steps {
        Steps::default()
    }

    pub(crate) fn register(kernel: &Kernel, worker: &str, names: &[&str]) -> Steps {
        let steps = names
            .iter()
            .map(|name| {
                let path = format!("{worker}/{name}");
                let slot = kernel.registry().upsert_step(&path);
                (Arc::<str>::from(path), slot)
            })
            .collect();
        Steps {
            steps,
            kernel: Some(kernel.clone()),
        }
    }

    /// Runs step `idx` (its index in the names registered): `Ok` with its
    /// result, or `Err` when it panicked or an injected fault took its turn.
    /// The first failure after a success is a `failed` event of the step's
    /// path; every failure is logged.
    pub fn run<T>(&self, idx: usize, f: impl FnOnce() -> T) -> Result<T, StepDown> {
        let slot = self.steps.get(idx);
        let injected = slot.map_or(OnMessage::Handle, |(_, s)| s.next_run());
        let result = match injected {
            OnMessage::Error => Err("injected error".to_owned()),
            // As if the step had panicked, without unwinding (and without the
            // panic hook's backtrace on stderr at every run).
            OnMessage::Panic => Err("injected fault".to_owned()),
            _ => catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p)),
        };
        let Some((path, slot)) = slot else {
            return result.map_err(StepDown);
        };
        match result {
            Ok(v) => {
                slot.down.store(false, Ordering::Relaxed);
                Ok(v)
            }
            Err(why) => {
                if slot.down.swap(true, Ordering::Relaxed) {
                    // Logged and evented once per outage, not once per call.
                    tracing::debug!(step = %path, reason = %why, "step still down");
                } else {
                    tracing::warn!(step = %path, reason = %why, "step down");
                    if let Some(k) = &self.kernel {
                        k.events()
                            .publish(EventKind::Failed, path, format!("step down: {why}"));
                    }
                }
                Err(StepDown(why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{NodeKind, NodeState};

    #[test]
    fn a_step_runs_fails_by_fault_or_panic_and_says_so_once_per_outage() {
        let kernel = Kernel::new(1);
        let registry = kernel.registry();
        registry.upsert(&"w".into(), NodeKind::Worker, None);
        registry.update("w", |e| e.state = NodeState::Running);
        let steps = Steps::register(&kernel, "w", &["a", "b"]);
        assert_eq!(
            registry.node("w/a").map(|n| n.kind),
            Some(NodeKind::Step),
            "a node of the tree"
        );
        assert_eq!(steps.run(0, || 7), Ok(7));

        registry.step("w/a").unwrap().arm(Fault::error(2));
        assert_eq!(steps.run(0, || 7), Err(StepDown("injected error".into())));
        assert_eq!(steps.run(1, || 8), Ok(8), "only the step faulted");
        assert!(steps.run(0, || 7).is_err(), "count 2");
        assert_eq!(steps.run(0, || 7), Ok(7), "then it runs again");

        registry.step("w/a").unwrap().arm(Fault::panic());
        assert_eq!(steps.run(0, || 7), Err(StepDown("injected fault".into())));
        // A real panic inside the step is caught the same way.
        let r: Result<u8, _> = steps.run(1, || panic!("bug in b"));
        assert_eq!(r, Err(StepDown("bug in b".into())));

        let failed: Vec<String> = kernel
            .events()
            .recent(0, 100)
            .into_iter()
            .filter(|e| e.kind == EventKind::Failed)
            .map(|e| e.path)
            .collect();
        assert_eq!(
            failed,
            ["w/a", "w/a", "w/b"],
            "one event per outage (a down, up, down; b down), not per run"
        );
        // A step is as its worker is.
        assert_eq!(registry.state("w/a"), Some(NodeState::Running));
        registry.update("w", |e| e.state = NodeState::Failed);
        assert_eq!(registry.state("w/b"), Some(NodeState::Failed));
        assert!(check_step_fault("w/a", &Fault::hang(5)).is_err());
        assert!(check_step_fault("w/a", &Fault::error(1)).is_ok());
        assert_eq!(Steps::none().run(0, || 1), Ok(1));
    }
}
