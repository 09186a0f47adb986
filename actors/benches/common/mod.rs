//! The two actors every benchmark compares: a bare actix actor and a supervised
//! worker doing the same work, with the same mailbox capacity.
#![allow(dead_code)]

use actix::prelude::*;
use commodore_actors::kernel::{
    Backoff, ChildSpec, Ctx, Handle, Handles, Intensity, Kernel, Root, Strategy, SupervisorConfig,
    SupervisorSpec, Worker, DEFAULT_MAILBOX,
};
use std::time::Duration;

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Tick;

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Get;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Boom;

#[derive(Default)]
pub struct Bare {
    n: u64,
}

impl Actor for Bare {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(DEFAULT_MAILBOX);
    }
}

impl Handler<Tick> for Bare {
    type Result = u64;
    fn handle(&mut self, _: Tick, _: &mut Context<Self>) -> u64 {
        self.n += 1;
        self.n
    }
}

impl Handler<Get> for Bare {
    type Result = u64;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
        self.n
    }
}

#[derive(Default)]
pub struct Supervised {
    n: u64,
}

impl Worker for Supervised {}

impl Handles<Tick> for Supervised {
    fn handle(&mut self, _: Tick, _: &mut Ctx<'_, Self>) -> u64 {
        self.n += 1;
        self.n
    }
}

impl Handles<Get> for Supervised {
    fn handle(&mut self, _: Get, _: &mut Ctx<'_, Self>) -> u64 {
        self.n
    }
}

impl Handles<Boom> for Supervised {
    fn handle(&mut self, _: Boom, _: &mut Ctx<'_, Self>) {
        panic!("bench boom")
    }
}

/// No probes during a run, immediate restarts, and an intensity that never gives
/// up (the window forgets after 1 ms).
pub fn config() -> SupervisorConfig {
    SupervisorConfig {
        strategy: Strategy::OneForOne,
        intensity: Intensity {
            max_restarts: 1000,
            period: Duration::from_millis(1),
        },
        backoff: Backoff::NONE,
        probe_interval: Duration::from_secs(3600),
        ..SupervisorConfig::default()
    }
}

/// One supervised worker under a root, up and answering.
pub async fn supervised() -> (Root, Handle<Supervised>) {
    let h = Handle::new();
    let spec = SupervisorSpec::new("bench", config()).child(ChildSpec::worker(
        "w",
        &h,
        Supervised::default,
    ));
    let root = Root::start(spec, &Kernel::new(1));
    while h.ask(Get).await.is_err() {
        tokio::task::yield_now().await;
    }
    (root, h)
}
