use crate::kernel::ShutdownHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// When the daemon started and whether it is stopping; the one way to begin the
/// shutdown (signals, `POST /v1/shutdown`), so that it begins once.
pub struct Lifecycle {
    pub started_at_ms: u64,
    stopping: AtomicBool,
    root: OnceLock<ShutdownHandle>,
    /// Told once when the shutdown begins (systemd's `STOPPING=1`).
    on_shutdown: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Lifecycle {
    pub fn new(started_at_ms: u64) -> Lifecycle {
        Lifecycle {
            started_at_ms,
            stopping: AtomicBool::new(false),
            root: OnceLock::new(),
            on_shutdown: OnceLock::new(),
        }
    }

    /// `f` runs when the shutdown begins, on the thread that begins it (at
    /// once if it has begun). One hook; a second is ignored.
    pub fn on_shutdown(&self, f: impl Fn() + Send + Sync + 'static) {
        if self.on_shutdown.set(Box::new(f)).is_ok() && self.is_stopping() {
            if let Some(f) = self.on_shutdown.get() {
                f();
            }
        }
    }

    /// Set once, right after the tree is started. A shutdown asked before that
    /// begins now.
    pub fn set_root(&self, root: ShutdownHandle) {
        if self.root.set(root).is_ok() && self.is_stopping() {
            if let Some(root) = self.root.get() {
                root.begin();
            }
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Begins the ordered shutdown; `false` when it had already begun.
    pub fn begin_shutdown(&self) -> bool {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return false;
        }
        if let Some(f) = self.on_shutdown.get() {
            f();
        }
        // Before the tree is up, `set_root` begins it.
        if let Some(root) = self.root.get() {
            root.begin();
        }
        true
    }
}
