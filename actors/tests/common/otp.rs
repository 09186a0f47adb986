//! Support code for the port of OTP's `supervisor_SUITE`: a child whose init can be
//! told to fail (OTP's `supervisor_1:start_child(error)` and
//! `supervisor_deadlock`), the suite's supervisor flags, and small asserts.
//! Included with `#[path]` by the suite (common/mod.rs stays as it is).
#![allow(dead_code)]

use crate::common::{Boom, Get, Incr, Log};
use actix::Message;
use commodore_actors::kernel::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// OTP's supervisor flags `{Strategy, MaxR, MaxT}`: no backoff (OTP restarts at
/// once), children's shutdown 1000 ms as in the suite.
pub fn otp_cfg(strategy: Strategy, max_restarts: u32, period_secs: u64) -> SupervisorConfig {
    SupervisorConfig {
        strategy,
        intensity: Intensity {
            max_restarts,
            period: Duration::from_secs(period_secs),
        },
        backoff: Backoff::NONE,
        probe_interval: Duration::from_secs(1),
        probe_timeout: Duration::from_secs(3),
        shutdown_timeout: Duration::from_millis(1000),
        seed: 7,
    }
}

/// Which starts (1-based, counted across every instance) of a child fail in
/// their init (the started hook panics).
#[derive(Default)]
pub struct Plan {
    starts: AtomicU32,
    fail_from: AtomicU32,
    fail_until: AtomicU32,
}

impl Plan {
    pub fn new() -> Arc<Plan> {
        Arc::new(Plan::default())
    }
    /// Starts `from..until` fail.
    pub fn fail_starts(&self, from: u32, until: u32) {
        self.fail_from.store(from, Ordering::SeqCst);
        self.fail_until.store(until, Ordering::SeqCst);
    }
    /// Every start from the next one on fails.
    pub fn fail_from_now(&self) {
        self.fail_starts(self.starts() + 1, u32::MAX);
    }
    /// Starts succeed again.
    pub fn heal(&self) {
        self.fail_starts(0, 0);
    }
    /// Starts so far (factory calls).
    pub fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }
    fn fails(&self, n: u32) -> bool {
        n >= self.fail_from.load(Ordering::SeqCst) && n < self.fail_until.load(Ordering::SeqCst)
    }
}

/// The instance number of the running child (OTP's pid): which start made it.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Which;

/// The child stops itself: a normal exit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Exit;

/// OTP's `supervisor_1` child.
pub struct Kid {
    pub name: &'static str,
    pub n: u64,
    pub instance: u32,
    pub log: Log,
    plan: Arc<Plan>,
}

impl Worker for Kid {
    fn started(&mut self, _ctx: &mut Ctx<'_, Self>) {
        if self.plan.fails(self.instance) {
            self.log.push(format!("fail {}", self.name));
            panic!("init of {} failed (start #{})", self.name, self.instance);
        }
        self.log.push(format!("start {}", self.name));
    }
    fn stopping(&mut self, _ctx: &mut Ctx<'_, Self>) {
        self.log.push(format!("stop {}", self.name));
    }
}

impl Handles<Get> for Kid {
    fn handle(&mut self, _: Get, _: &mut Ctx<'_, Self>) -> u64 {
        self.n
    }
}

impl Handles<Incr> for Kid {
    fn handle(&mut self, _: Incr, _: &mut Ctx<'_, Self>) -> u64 {
        self.n += 1;
        self.n
    }
}

impl Handles<Boom> for Kid {
    fn handle(&mut self, _: Boom, _: &mut Ctx<'_, Self>) {
        panic!("{} died", self.name);
    }
}

impl Handles<Which> for Kid {
    fn handle(&mut self, _: Which, _: &mut Ctx<'_, Self>) -> u64 {
        u64::from(self.instance)
    }
}

impl Handles<Exit> for Kid {
    fn handle(&mut self, _: Exit, ctx: &mut Ctx<'_, Self>) {
        ctx.stop();
    }
}

/// A child named `name` whose starts follow `plan`.
pub fn kid_with(name: &'static str, log: &Log, plan: &Arc<Plan>) -> (ChildSpec, Handle<Kid>) {
    let h = Handle::new();
    let (log, plan) = (log.clone(), plan.clone());
    let spec = ChildSpec::worker(name, &h, move || Kid {
        name,
        n: 0,
        instance: plan.starts.fetch_add(1, Ordering::SeqCst) + 1,
        log: log.clone(),
        plan: plan.clone(),
    });
    (spec, h)
}

/// A child whose starts always succeed.
pub fn kid(name: &'static str, log: &Log) -> (ChildSpec, Handle<Kid>) {
    kid_with(name, log, &Plan::new())
}

/// How the tree ended, or `None` if it is still running after `within` (of
/// paused time).
pub async fn ended_within(root: &mut Root, within: Duration) -> Option<RootExit> {
    tokio::time::timeout(within, root.wait()).await.ok()
}

/// OTP's `{error, not_found}`: the path is unknown, or its supervisor has no
/// such child.
pub fn assert_not_found(r: Result<(), KernelError>, what: &str) {
    match r {
        Err(KernelError::UnknownPath(_)) => {}
        Err(KernelError::Refused(m)) if m.contains("no child") => {}
        other => panic!("{what}: expected not found, got {other:?}"),
    }
}

/// Events of `kind` at `path`.
pub fn count_at(k: &Kernel, kind: EventKind, path: &str) -> usize {
    crate::common::events(k)
        .into_iter()
        .filter(|(kd, p, _)| *kd == kind && p == path)
        .count()
}

/// The detail of the last `stopped` event at `path`.
pub fn stop_detail(k: &Kernel, path: &str) -> String {
    crate::common::events(k)
        .into_iter()
        .rfind(|(kd, p, _)| *kd == EventKind::Stopped && p == path)
        .map(|e| e.2)
        .unwrap_or_else(|| panic!("no stopped event at {path}"))
}

pub fn state(k: &Kernel, path: &str) -> Option<NodeState> {
    k.registry().state(path)
}
