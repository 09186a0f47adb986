//! Figures criterion cannot give: the restart latency distribution and memory per
//! idle actor, each next to a bare-actix baseline measured in the same run (memory in
//! a fresh process per side). The same figures next to kameo and ractor come from
//! `benches/peers` (what `scripts/bench.sh` prints).
//! Prints one JSON object per figure on stdout; `scripts/bench.sh` makes the table.

use actix::prelude::*;
use commodore_actors::kernel::{ChildSpec, Handle, Kernel, Root, SupervisorSpec};
use std::alloc::{GlobalAlloc, Layout, System as SysAlloc};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{config, Bare, Boom, Get, Supervised as W, Tick};

struct Counting;
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// Counting live bytes needs a global allocator, which is an `unsafe` trait; it
// forwards every call unchanged to the system allocator. Bench code only.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        SysAlloc.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        SysAlloc.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        SysAlloc.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_nanos() as f64 / 1000.0
}

fn figure(name: &str, value: f64, unit: &str, baseline: f64, target: &str) {
    println!(
        "{{\"figure\":\"{name}\",\"value\":{value:.3},\"unit\":\"{unit}\",\"baseline\":{baseline:.3},\"target\":\"{target}\"}}"
    );
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

const RESTARTS: usize = 20_000;
const ACTORS: usize = 100_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

const ROUNDS: usize = 31;
const BATCH: usize = 256;
const BATCHES: usize = 200;
const ASKS: usize = 20_000;

/// Tell throughput and ask round trip, supervised vs bare, interleaved round by
/// round so that a noisy neighbour slows both sides alike; medians over rounds.
fn interleaved(sys: &SystemRunner) {
    sys.block_on(async {
        let bare = Bare::default().start();
        let (root, h) = common::supervised().await;
        let (mut tell_sup, mut tell_bare, mut ask_sup, mut ask_bare) =
            (vec![], vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let t0 = Instant::now();
            for _ in 0..BATCHES {
                for _ in 0..BATCH {
                    bare.try_send(Tick).expect("room");
                }
                bare.send(Get).await.unwrap();
            }
            tell_bare.push((BATCHES * (BATCH + 1)) as f64 / t0.elapsed().as_secs_f64() / 1e6);
            let t0 = Instant::now();
            for _ in 0..BATCHES {
                for _ in 0..BATCH {
                    h.tell(Tick).map_err(|e| e.to_string()).expect("room");
                }
                h.ask(Get).await.unwrap();
            }
            tell_sup.push((BATCHES * (BATCH + 1)) as f64 / t0.elapsed().as_secs_f64() / 1e6);
            let t0 = Instant::now();
            for _ in 0..ASKS {
                bare.send(Tick).await.unwrap();
            }
            ask_bare.push(t0.elapsed().as_nanos() as f64 / ASKS as f64 / 1000.0);
            let t0 = Instant::now();
            for _ in 0..ASKS {
                h.ask(Tick).await.unwrap();
            }
            ask_sup.push(t0.elapsed().as_nanos() as f64 / ASKS as f64 / 1000.0);
        }
        figure(
            "tell_throughput",
            median(tell_sup),
            "M msg/s",
            median(tell_bare),
            ">= 0.9x bare",
        );
        figure(
            "ask_round_trip",
            median(ask_sup),
            "us",
            median(ask_bare),
            "<= 1.1x bare",
        );
        root.shutdown().await;
    });
}

/// Set in a child process: start ACTORS idle actors of this kind, print the heap
/// and RSS they added per actor, exit.
const IDLE_ENV: &str = "KERNEL_FIGURES_IDLE";

fn idle_in_child(kind: &str) -> (f64, f64) {
    let exe = std::env::current_exe().expect("own executable");
    let out = std::process::Command::new(exe)
        .env(IDLE_ENV, kind)
        .output()
        .expect("run a child process");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "idle {kind} failed: {text}");
    let mut f = text.split_whitespace().map(|s| s.parse::<f64>().unwrap());
    (f.next().unwrap(), f.next().unwrap())
}

fn idle(kind: &str) -> ! {
    let sys = System::new();
    let (bytes, rss) = sys.block_on(async {
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let rss0 = rss_kib();
        let measure = || {
            (
                (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64 / ACTORS as f64,
                (rss_kib().saturating_sub(rss0)) as f64 * 1024.0 / ACTORS as f64,
            )
        };
        if kind == "bare" {
            let addrs: Vec<Addr<Bare>> = (0..ACTORS).map(|_| Bare::default().start()).collect();
            addrs[ACTORS - 1].send(Get).await.unwrap();
            return measure();
        }
        let mut spec = SupervisorSpec::new("mem", config());
        let mut handles = Vec::with_capacity(ACTORS);
        for i in 0..ACTORS {
            let h = Handle::new();
            spec = spec.child(ChildSpec::worker(&format!("w{i}"), &h, W::default));
            handles.push(h);
        }
        let k = Kernel::new(1);
        let _root = Root::start(spec, &k);
        while handles[ACTORS - 1].ask(Get).await.is_err() {
            tokio::task::yield_now().await;
        }
        measure()
    });
    println!("{bytes:.3} {rss:.3}");
    // No teardown of 100,000 actors: the figures are printed.
    std::process::exit(0)
}

fn main() {
    if let Ok(kind) = std::env::var(IDLE_ENV) {
        idle(&kind);
    }
    let sys = System::new();
    interleaved(&sys);
    // Thousands of panics follow: keep the default hook from printing each one
    // (only "bench boom" ones; anything else still reports).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let boom = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|s| *s == "bench boom");
        if !boom {
            default_hook(info);
        }
    }));

    // Restart latency: panic in a handler -> successor answers an ask.
    let (mut supervised, mut baseline) =
        (Vec::with_capacity(RESTARTS), Vec::with_capacity(RESTARTS));
    sys.block_on(async {
        let (root, h) = common::supervised().await;
        for _ in 0..RESTARTS {
            let t0 = Instant::now();
            let boom = h.ask(Boom);
            let get = h.ask(Get);
            let _ = boom.await;
            get.await.expect("successor answers");
            supervised.push(t0.elapsed());
        }
        // Baseline: what the same takes by hand with bare actix: catch the panic,
        // start a new actor (new address), ask it.
        for _ in 0..RESTARTS {
            let t0 = Instant::now();
            let _ = std::panic::catch_unwind(|| panic!("bench boom"));
            let addr = Bare::default().start();
            addr.send(Get).await.unwrap();
            baseline.push(t0.elapsed());
        }
        root.shutdown().await;
    });
    supervised.sort();
    baseline.sort();
    figure(
        "restart_latency_p50",
        percentile(&supervised, 0.5),
        "us",
        percentile(&baseline, 0.5),
        "<= 20 us",
    );
    figure(
        "restart_latency_p99",
        percentile(&supervised, 0.99),
        "us",
        percentile(&baseline, 0.99),
        "<= 200 us",
    );

    // Memory per idle actor: 100,000 supervised workers under one supervisor vs
    // 100,000 bare actix actors, each in a fresh process (this one, run again with
    // IDLE_ENV set), so that neither lives in pages freed by what ran before.
    let (sup_bytes, sup_rss) = idle_in_child("supervised");
    let (bare_bytes, bare_rss) = idle_in_child("bare");
    figure(
        "heap_per_idle_actor",
        sup_bytes,
        "B",
        bare_bytes,
        "<= 2048 B",
    );
    figure("rss_per_idle_actor", sup_rss, "B", bare_rss, "<= 2048 B");
}
