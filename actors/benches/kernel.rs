//! Supervised vs bare actix, in the same run: tell throughput and ask round trip.
//!
//! Run through `scripts/bench.sh`, which prints the ratios. Both sides use the same
//! mailbox capacity and the same bounded `try_send`, and flush each batch of tells
//! with one ask, so neither side is measured on a mailbox that grows without bound.

use actix::prelude::*;
use commodore_actors::kernel::{
    ChildSpec, Ctx, Handle, Handles, Kernel, Root, SupervisorConfig, SupervisorSpec, Worker,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

const BATCH: usize = 256;
const MAILBOX: usize = 1024;

#[derive(Message)]
#[rtype(result = "u64")]
struct Tick;

#[derive(Message)]
#[rtype(result = "u64")]
struct Get;

#[derive(Default)]
struct Bare {
    n: u64,
}

impl Actor for Bare {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX);
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
struct Supervised {
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

fn quiet_config() -> SupervisorConfig {
    SupervisorConfig {
        probe_interval: Duration::from_secs(3600),
        ..SupervisorConfig::default()
    }
}

fn supervised(sys: &SystemRunner) -> (Root, Handle<Supervised>) {
    sys.block_on(async {
        let h = Handle::new();
        let spec = SupervisorSpec::new("bench", quiet_config())
            .child(ChildSpec::worker("w", &h, Supervised::default).mailbox(MAILBOX));
        let root = Root::start(spec, &Kernel::new(1));
        while h.ask(Get).await.is_err() {
            tokio::task::yield_now().await;
        }
        (root, h)
    })
}

fn tell(c: &mut Criterion) {
    let sys = System::new();
    let bare = sys.block_on(async { Bare::default().start() });
    let (_root, h) = supervised(&sys);
    let mut g = c.benchmark_group("tell");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    for _ in 0..BATCH {
                        bare.try_send(Tick).expect("room in the mailbox");
                    }
                    bare.send(Get).await.unwrap();
                }
                t0.elapsed()
            })
        })
    });
    g.bench_function("supervised", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    for _ in 0..BATCH {
                        h.tell(Tick)
                            .map_err(|e| e.to_string())
                            .expect("room in the mailbox");
                    }
                    h.ask(Get).await.unwrap();
                }
                t0.elapsed()
            })
        })
    });
    g.finish();
}

fn ask(c: &mut Criterion) {
    let sys = System::new();
    let bare = sys.block_on(async { Bare::default().start() });
    let (_root, h) = supervised(&sys);
    let mut g = c.benchmark_group("ask");
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    bare.send(Tick).await.unwrap();
                }
                t0.elapsed()
            })
        })
    });
    g.bench_function("supervised", |b| {
        b.iter_custom(|iters| {
            sys.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    h.ask(Tick).await.unwrap();
                }
                t0.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = tell, ask
}
criterion_main!(benches);
