//! The supervision kernel: OTP-grade supervision over actix.
//!
//! This module knows nothing about trading and imports nothing else of the project.
//!
//! - [`SupervisorSpec`] / [`ChildSpec`]: a tree of supervisors and workers, with
//!   strategies (`one_for_one`, `one_for_all`, `rest_for_one`), restart types
//!   (`permanent`, `transient`, `temporary`), restart intensity, backoff, liveness
//!   probes and shutdown timeouts.
//! - [`Worker`] / [`Handles`]: the user's actor logic; the kernel's [`Cell`] runs it
//!   and turns every panic into a supervised failure.
//! - [`Handle`]: a stable address that reaches the current instance across restarts.
//! - [`Kernel`]: the shared event bus, the registry of the live tree (paths, states,
//!   restarts), and fault injection by path.
//! - [`Root`]: starts a tree, shuts it down in order, and reports how it ended.
//!
//! Message delivery across restarts (the contract):
//! - a panic caught in a handler, hook or timer restarts the worker *in place*: the
//!   message that panicked is answered with [`CallError::Panicked`], every message
//!   queued behind it is delivered to the successor;
//! - when an instance is *re-created* (hang, panic in a spawned future, stop), asks
//!   queued in the dead mailbox are answered with [`CallError::Lost`], and asks and
//!   tells sent before the successor is up fail at once with `Restarting` (a tell
//!   gives its message back). Nothing is dropped without its sender being told.

mod cell;
mod event;
mod fault;
mod intensity;
mod registry;
mod spawn;
mod spec;
mod step;
mod supervisor;
mod throttle;

pub use cell::{CallError, Cell, CellReply, Ctx, Envelope, Handle, Handles, TellError, Worker};
pub use event::{Event, EventBus, EventKind, Pending, StampSource, Subscription};
pub use fault::{CrashPoint, Fault, FaultKind, MAX_FAULT_COUNT, MAX_FAULT_MS};
pub use intensity::{Backoff, Intensity, RestartWindow, SplitMix64};
pub use registry::{NodeInfo, NodeKind, NodeState, Registry};
pub use spec::{
    ArbiterPool, ChildSpec, Restart, Strategy, SupervisorConfig, SupervisorSpec, DEFAULT_MAILBOX,
};
pub use step::{StepDown, Steps};
pub use supervisor::{Supervisor, MAX_CHILDREN};
pub use throttle::{Admit, Summary, Throttle, BURST, WINDOW};

use actix::{Addr, Message, Recipient};
use spawn::{ExitCause, KillSwitch, ReportTo, Reporter};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The kernel's own messages to every supervised actor. They bypass the mailbox
/// capacity (they are few: one probe per interval at most).
pub enum Control {
    Probe(oneshot::Sender<()>),
    Stop,
    Fault(Fault),
    Child(ChildOp, String, oneshot::Sender<Result<(), String>>),
    /// A new child from a spec, started at once, last in start order.
    StartChild(Box<ChildSpec>, oneshot::Sender<Result<(), String>>),
    /// The children, in start order.
    Children(oneshot::Sender<Result<Vec<ChildInfo>, String>>),
}

/// One child of a supervisor, as [`Kernel::which_children`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    pub name: String,
    pub path: String,
    /// A supervisor (else a worker).
    pub supervisor: bool,
    pub restart: Restart,
    pub state: NodeState,
}

/// OTP's `count_children`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildCounts {
    /// Children with a spec (running or not).
    pub specs: usize,
    /// Running (or restarting in place).
    pub active: usize,
    pub supervisors: usize,
    pub workers: usize,
}

impl Message for Control {
    type Result = ();
}

/// Operations on a supervisor's child, by name (OTP's terminate/restart/delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildOp {
    /// Deliver a fault to it (how faults reach workers).
    Inject(Fault),
    /// Stop it and keep it stopped (also cancels a pending restart).
    Stop,
    /// Start a stopped child again.
    Restart,
    /// Stop it and forget it.
    Remove,
    /// Forget a stopped child (OTP's `delete_child`); refused while it runs.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("unknown actor path {0:?}: GET /v1/tree lists every path")]
    UnknownPath(String),
    #[error("invalid fault: {0}")]
    InvalidFault(String),
    #[error("{0} is not running")]
    NotRunning(String),
    #[error("{0}")]
    Refused(String),
}

struct KernelInner {
    events: EventBus,
    registry: Registry,
}

/// The shared part of a tree: its event bus and registry. Cheap to clone.
#[derive(Clone)]
pub struct Kernel(Arc<KernelInner>);

/// Events kept in memory for late readers of [`EventBus::recent`].
pub const RECENT_EVENTS: usize = 10_000;

impl Kernel {
    /// `first_seq`: the sequence number of the first event (the journal continues
    /// it across restarts of the process).
    pub fn new(first_seq: u64) -> Self {
        Kernel(Arc::new(KernelInner {
            events: EventBus::new(first_seq, RECENT_EVENTS).throttled(Throttle::default()),
            registry: Registry::default(),
        }))
    }

    /// [`Kernel::new`] whose events are stamped by `stamp` (the embedder's
    /// clock, e.g. market time) instead of the system clock.
    pub fn stamped(first_seq: u64, stamp: event::StampSource) -> Self {
        Kernel(Arc::new(KernelInner {
            events: EventBus::stamped(first_seq, RECENT_EVENTS, stamp)
                .throttled(Throttle::default()),
            registry: Registry::default(),
        }))
    }

    pub fn events(&self) -> &EventBus {
        &self.0.events
    }

    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// Every node of the tree, parents before children.
    pub fn tree(&self) -> Vec<NodeInfo> {
        self.0.registry.snapshot()
    }

    /// Registers the pure steps `names` of the worker at `worker` as nodes
    /// `<worker>/<name>` that faults can reach (see [`Steps`]).
    pub fn steps(&self, worker: &str, names: &[&str]) -> Steps {
        Steps::register(self, worker, names)
    }

    /// Injects `fault` into the actor at `path` (e.g. `master/engines/KC/analyzer`),
    /// or into a step of one (`master/engines/KC/engine/validator`).
    /// When this returns, the fault is in the actor's mailbox: whatever the caller
    /// sends it afterwards meets the fault.
    pub async fn inject(&self, path: &str, fault: Fault) -> Result<(), KernelError> {
        fault.validate().map_err(KernelError::InvalidFault)?;
        let (kind, state, control) = self
            .0
            .registry
            .control(path)
            .ok_or_else(|| KernelError::UnknownPath(path.to_owned()))?;
        if kind == NodeKind::Supervisor && matches!(fault.kind, FaultKind::Error | FaultKind::Slow)
        {
            return Err(KernelError::InvalidFault(format!(
                "{path} is a supervisor: it accepts panic, hang and stop; {} applies to workers",
                fault.kind.as_str()
            )));
        }
        let state = if kind == NodeKind::Step {
            step::check_step_fault(path, &fault).map_err(KernelError::InvalidFault)?;
            // As its worker is.
            self.0.registry.state(path).unwrap_or(NodeState::Stopped)
        } else {
            state
        };
        if state != NodeState::Running {
            return Err(KernelError::NotRunning(path.to_owned()));
        }
        match kind {
            NodeKind::Step => {
                let slot = self
                    .0
                    .registry
                    .step(path)
                    .ok_or_else(|| KernelError::UnknownPath(path.to_owned()))?;
                self.0
                    .events
                    .publish(EventKind::FaultInjected, path, fault.to_string());
                slot.arm(fault);
                Ok(())
            }
            NodeKind::Supervisor => {
                let control = control.ok_or_else(|| KernelError::NotRunning(path.to_owned()))?;
                self.0
                    .events
                    .publish(EventKind::FaultInjected, path, fault.to_string());
                control.do_send(Control::Fault(fault));
                Ok(())
            }
            // A worker is reached through its supervisor, which forwards the fault
            // into the worker's mailbox before it answers.
            NodeKind::Worker => {
                self.0
                    .events
                    .publish(EventKind::FaultInjected, path, fault.to_string());
                self.child_op(path, ChildOp::Inject(fault)).await
            }
        }
    }

    /// Starts a new child of the supervisor at `supervisor` from `spec`, last
    /// in its start order (OTP's `start_child`). Refused when a child of that
    /// name exists, the supervisor is shutting down, or it holds
    /// [`MAX_CHILDREN`] records.
    pub async fn start_child(&self, supervisor: &str, spec: ChildSpec) -> Result<(), KernelError> {
        let control = self.supervisor_control(supervisor)?;
        let (tx, rx) = oneshot::channel();
        control.do_send(Control::StartChild(Box::new(spec), tx));
        match rx.await {
            Ok(r) => r.map_err(KernelError::Refused),
            Err(_) => Err(KernelError::NotRunning(supervisor.to_owned())),
        }
    }

    /// Stops the child at `path` and keeps its spec (OTP's `terminate_child`).
    pub async fn terminate_child(&self, path: &str) -> Result<(), KernelError> {
        self.child_op(path, ChildOp::Stop).await
    }

    /// Forgets the node at `path` and below in the registry when it is down
    /// (stopped or failed) and its supervisor keeps no record of it: a
    /// `temporary` child that ended, removed for good (`delete_child` is for
    /// children with a record). `false` while it runs.
    pub fn forget_ended(&self, path: &str) -> bool {
        match self.registry().state(path) {
            Some(NodeState::Stopped | NodeState::Failed) => {
                self.registry().remove_subtree(path);
                true
            }
            None => true,
            Some(_) => false,
        }
    }

    /// Waits (polling the registry, at most `within`) until the child at
    /// `path` is no longer running or stopping: `terminate_child` answers
    /// once the stop has begun, and a subtree stops its children in order
    /// first. `false` when it is still stopping at the end.
    pub async fn wait_stopped(&self, path: &str, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match self.registry().state(path) {
                None | Some(NodeState::Stopped | NodeState::Failed) => return true,
                _ if tokio::time::Instant::now() >= deadline => return false,
                _ => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    /// Starts a stopped child again (OTP's `restart_child`).
    pub async fn restart_child(&self, path: &str) -> Result<(), KernelError> {
        self.child_op(path, ChildOp::Restart).await
    }

    /// Forgets a stopped child (OTP's `delete_child`); refused while it runs.
    pub async fn delete_child(&self, path: &str) -> Result<(), KernelError> {
        self.child_op(path, ChildOp::Delete).await
    }

    /// The children of the supervisor at `supervisor`, in start order (OTP's
    /// `which_children`).
    pub async fn which_children(&self, supervisor: &str) -> Result<Vec<ChildInfo>, KernelError> {
        let control = self.supervisor_control(supervisor)?;
        let (tx, rx) = oneshot::channel();
        control.do_send(Control::Children(tx));
        match rx.await {
            Ok(r) => r.map_err(KernelError::Refused),
            Err(_) => Err(KernelError::NotRunning(supervisor.to_owned())),
        }
    }

    /// OTP's `count_children`.
    pub async fn count_children(&self, supervisor: &str) -> Result<ChildCounts, KernelError> {
        let children = self.which_children(supervisor).await?;
        let mut c = ChildCounts {
            specs: children.len(),
            ..ChildCounts::default()
        };
        for child in &children {
            if matches!(child.state, NodeState::Running | NodeState::Paused) {
                c.active += 1;
            }
            if child.supervisor {
                c.supervisors += 1;
            } else {
                c.workers += 1;
            }
        }
        Ok(c)
    }

    fn supervisor_control(&self, supervisor: &str) -> Result<Recipient<Control>, KernelError> {
        let (kind, _, control) = self
            .0
            .registry
            .control(supervisor)
            .ok_or_else(|| KernelError::UnknownPath(supervisor.to_owned()))?;
        if kind != NodeKind::Supervisor {
            return Err(KernelError::Refused(format!(
                "{supervisor} is not a supervisor"
            )));
        }
        control.ok_or_else(|| KernelError::NotRunning(supervisor.to_owned()))
    }

    /// Asks the parent of `path` to stop, restart or remove that child.
    pub async fn child_op(&self, path: &str, op: ChildOp) -> Result<(), KernelError> {
        let (parent, name) = path
            .rsplit_once('/')
            .ok_or_else(|| KernelError::Refused(format!("{path} has no parent")))?;
        if self.0.registry.node(path).is_none() {
            return Err(KernelError::UnknownPath(path.to_owned()));
        }
        let (_, _, control) = self
            .0
            .registry
            .control(parent)
            .ok_or_else(|| KernelError::UnknownPath(parent.to_owned()))?;
        let control = control.ok_or_else(|| KernelError::NotRunning(parent.to_owned()))?;
        let (tx, rx) = oneshot::channel();
        control.do_send(Control::Child(op, name.to_owned(), tx));
        match rx.await {
            Ok(r) => r.map_err(KernelError::Refused),
            Err(_) => Err(KernelError::NotRunning(parent.to_owned())),
        }
    }
}

/// How a tree ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootExit {
    /// Shut down on request, every child stopped in order.
    Stopped,
    /// The root supervisor gave up (restart intensity exceeded), or died.
    GaveUp(String),
}

impl RootExit {
    /// The process exit status for this ending: 0 after a clean shutdown, 1 when
    /// the root gave up.
    pub fn exit_code(&self) -> i32 {
        match self {
            RootExit::Stopped => 0,
            RootExit::GaveUp(_) => 1,
        }
    }
}

/// Starts the orderly shutdown of a tree; calling it again changes nothing.
#[derive(Clone)]
pub struct ShutdownHandle(Addr<Supervisor>);

impl ShutdownHandle {
    pub fn begin(&self) {
        self.0.do_send(Control::Stop);
    }
}

/// A running tree.
pub struct Root {
    addr: Addr<Supervisor>,
    // Dropping the root's kill switch kills the tree: keep it as long as the Root.
    _kill: KillSwitch,
    exited: Option<oneshot::Receiver<ExitCause>>,
    kernel: Kernel,
    path: String,
}

impl Root {
    /// Starts the tree on the current arbiter (subtrees that ask for their own
    /// arbiter get one). Must be called inside an actix system.
    pub fn start(spec: SupervisorSpec, kernel: &Kernel) -> Root {
        let path: Arc<str> = spec.name.clone();
        let (tx, rx) = oneshot::channel();
        let reporter = Reporter::new(ReportTo::Root(tx));
        kernel
            .events()
            .publish(EventKind::Started, &path, "root supervisor");
        let (addr, kill) = supervisor::spawn_supervisor(
            spec.sealed(),
            path.clone(),
            kernel.clone(),
            reporter,
            true,
            true,
        );
        Root {
            addr,
            _kill: kill,
            exited: Some(rx),
            kernel: kernel.clone(),
            path: path.to_string(),
        }
    }

    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Starts an orderly shutdown (children in reverse start order, each within its
    /// shutdown timeout); [`Root::wait`] resolves when it is done.
    pub fn begin_shutdown(&self) {
        self.addr.do_send(Control::Stop);
    }

    /// A cloneable, `Send` way to start the shutdown from elsewhere (a signal
    /// handler, the operator API).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.addr.clone())
    }

    /// Waits until the tree has ended, and says how.
    pub async fn wait(&mut self) -> RootExit {
        let Some(rx) = self.exited.take() else {
            return RootExit::GaveUp("the root's end was already reported".to_owned());
        };
        let exit = match rx.await {
            Ok(ExitCause::Normal) => RootExit::Stopped,
            Ok(ExitCause::Failed(r)) => RootExit::GaveUp(r),
            Ok(ExitCause::Panicked(r)) => {
                RootExit::GaveUp(format!("the root supervisor panicked: {r}"))
            }
            Ok(ExitCause::Killed) | Ok(ExitCause::Lost) | Err(_) => {
                RootExit::GaveUp("the root supervisor's task was lost".to_owned())
            }
        };
        let kind = match &exit {
            RootExit::Stopped => EventKind::Stopped,
            RootExit::GaveUp(_) => EventKind::Failed,
        };
        let detail = match &exit {
            RootExit::Stopped => "root supervisor stopped".to_owned(),
            RootExit::GaveUp(r) => r.clone(),
        };
        self.kernel.events().publish(kind, &self.path, detail);
        exit
    }

    /// Shuts down and waits for the end.
    pub async fn shutdown(mut self) -> RootExit {
        self.begin_shutdown();
        self.wait().await
    }
}
