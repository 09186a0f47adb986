//! Supervised vs bare actix, in the same run: tell throughput and ask round trip.
//!
//! Run through `scripts/bench.sh`, which prints the ratios. Both sides use the same
//! mailbox capacity and the same bounded `try_send`, and flush each batch of tells
//! with one ask, so neither side is measured on a mailbox that grows without bound.

use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

mod common;

use common::{Bare, Get, Tick};

const BATCH: usize = 256;

fn tell(c: &mut Criterion) {
    let sys = System::new();
    let bare = sys.block_on(async { Bare::default().start() });
    let (_root, h) = sys.block_on(common::supervised());
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
    let (_root, h) = sys.block_on(common::supervised());
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
