//! `commodore run`: build the tree from the config, run it until a signal or the
//! root gives up, and turn the ending into the process exit status.

use crate::config::Config;
use crate::demo;
use commodore_actors::journal::{Journal, Store};
use commodore_actors::kernel::{ChildSpec, Handle, Kernel, Root, RootExit, SupervisorSpec};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The supervision tree of ARCHITECTURE.md, as far as it exists yet: `master` with
/// `journal` (started first, stopped last) and `engines`, one subtree per
/// `[[engines]]` entry.
pub fn tree(cfg: &Config, kernel: &Kernel) -> SupervisorSpec {
    let engines = cfg.engines.iter().fold(
        SupervisorSpec::new("engines", cfg.root_supervision()),
        |s, e| {
            s.child(ChildSpec::supervisor(demo::engine(
                &e.id,
                cfg.engine_supervision(),
            )))
        },
    );
    let journal = ChildSpec::worker(
        "journal",
        &Handle::new(),
        Journal::factory(journal_path(cfg), kernel.clone()),
    );
    SupervisorSpec::new("master", cfg.root_supervision())
        .child(journal)
        .child(ChildSpec::supervisor(engines))
}

pub fn journal_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("journal.sqlite")
}

/// Runs the daemon; returns the process exit status (0 clean, 1 root gave up or
/// the journal cannot be opened).
pub async fn run(cfg: Config) -> i32 {
    // Crash-only: whatever the last run left in the journal is where this one
    // continues. For now: the event sequence.
    let path = journal_path(&cfg);
    let last_seq = match Store::open(&path).and_then(|s| s.last_seq()) {
        Ok(seq) => seq,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return 1;
        }
    };
    let kernel = Kernel::new(last_seq + 1);
    let logged = Arc::new(AtomicU64::new(0));
    let mut events = kernel.events().subscribe(4096);
    let logged2 = logged.clone();
    actix_rt::spawn(async move {
        while let Some(e) = events.rx.recv().await {
            log_event(&e);
            logged2.store(e.seq, Ordering::Relaxed);
        }
    });

    let mut root = Root::start(tree(&cfg, &kernel), &kernel);
    let ids: Vec<&str> = cfg.engines.iter().map(|e| e.id.as_str()).collect();
    tracing::info!(engines = ?ids, data_dir = %cfg.data_dir.display(), "commodore started; Ctrl-C stops it in order");

    let stop = root.shutdown_handle();
    actix_rt::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: stopping in reverse start order");
        stop.begin();
    });

    let exit = root.wait().await;
    // Events published after the logger's last turn.
    for e in kernel
        .events()
        .recent(logged.load(Ordering::Relaxed), usize::MAX)
    {
        log_event(&e);
    }
    final_flush(&path, &kernel);
    match &exit {
        RootExit::Stopped => tracing::info!("stopped cleanly"),
        RootExit::GaveUp(reason) => {
            tracing::error!(%reason, "the root supervisor gave up; exiting with status 1");
        }
    }
    exit.exit_code()
}

/// Runs once the tree has ended, however it ended: the journal worker stopped with
/// its subtree, so the last events (the master's own) are written here.
fn final_flush(path: &Path, kernel: &Kernel) {
    let flushed = Store::open(path).and_then(|mut s| {
        let last = s.last_seq()?;
        s.append_events(&kernel.events().recent(last, usize::MAX))
    });
    if let Err(e) = flushed {
        tracing::error!("final journal flush failed: {e}");
    }
}

fn log_event(e: &commodore_actors::kernel::Event) {
    tracing::info!(seq = e.seq, kind = e.kind.as_str(), path = %e.path, detail = %e.detail, "event");
}

async fn wait_for_signal() {
    use std::future::Future;
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still works");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    std::future::poll_fn(|cx| {
        if term.poll_recv(cx).is_ready() || ctrl_c.as_mut().poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
