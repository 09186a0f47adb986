//! The live map of the tree: one entry per supervised actor, keyed by path.
//!
//! Supervisors write it as their children change state; readers (the operator API,
//! metrics, fault injection) take snapshots. It is the one shared view of the tree:
//! nobody reaches into a supervisor's own state.

use super::cell::WorkerStarter;
use super::spec::Strategy;
use super::step::StepSlot;
use super::Control;
use actix::Recipient;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Supervisor,
    Worker,
    /// A pure step inside a worker (see [`Steps`](super::Steps)): no mailbox of
    /// its own, its state is its worker's, it takes `panic` and `error` faults.
    Step,
}

/// The states of the operator contract (`GET /v1/tree`). The kernel itself uses all
/// but `paused`, which belongs to the actors that can be paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    Starting,
    Running,
    Restarting,
    Paused,
    /// Asked to stop, not stopped yet (`which_children`).
    Stopping,
    Stopped,
    Failed,
}

/// A snapshot of one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub path: String,
    pub kind: NodeKind,
    pub state: NodeState,
    /// The strategy of a supervisor; `None` for workers.
    pub strategy: Option<Strategy>,
    pub restarts: u64,
    pub last_failure: Option<String>,
    pub children: Vec<String>,
    /// Messages handled (workers) since the daemon started.
    pub messages: u64,
}

/// How the registry reaches a node, by kind.
pub(crate) enum Reach {
    /// Not started yet.
    None,
    /// A supervisor's control mailbox, while an instance of it runs.
    Supervisor(Option<Recipient<Control>>),
    /// A worker's starter: marks its handle unavailable when its subtree is
    /// killed, and counts its messages.
    Worker(Arc<dyn WorkerStarter>),
    /// A step's slot: the fault armed on it.
    Step(Arc<StepSlot>),
}

/// One node. Kept small: a tree may hold hundreds of thousands of them.
pub(crate) struct NodeEntry {
    pub(crate) kind: NodeKind,
    pub(crate) state: NodeState,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) restarts: u64,
    pub(crate) reach: Reach,
}

/// Keyed by path; the key is the same `Arc<str>` the supervisor holds for the
/// child, so a node costs no second copy of its path.
#[derive(Default)]
pub struct Registry {
    nodes: DashMap<Arc<str>, NodeEntry>,
    /// The last failure of each node that has failed (few do).
    failures: DashMap<Arc<str>, Box<str>>,
    /// Paths paused on purpose (by the operator). Kept apart from the nodes: a
    /// pause outlives restarts of the node and may be set before it first starts.
    paused: DashMap<String, ()>,
    /// Paths stopped on purpose (by the operator), whatever state the node
    /// is in: readiness counts them as meant.
    stopped: DashMap<String, ()>,
}

impl Registry {
    pub(crate) fn upsert(&self, path: &Arc<str>, kind: NodeKind, strategy: Option<Strategy>) {
        self.nodes.entry(path.clone()).or_insert_with(|| NodeEntry {
            kind,
            state: NodeState::Starting,
            strategy,
            restarts: 0,
            reach: Reach::None,
        });
    }

    /// The node of a step below a worker; a worker started again finds the
    /// slot (and any fault armed on it) where it was.
    pub(crate) fn upsert_step(&self, path: &str) -> Arc<StepSlot> {
        if let Some(slot) = self.step(path) {
            return slot;
        }
        self.upsert(&Arc::from(path), NodeKind::Step, None);
        let mut e = self.nodes.get_mut(path).expect("just inserted");
        e.state = NodeState::Running;
        if !matches!(e.reach, Reach::Step(_)) {
            e.reach = Reach::Step(Default::default());
        }
        match &e.reach {
            Reach::Step(slot) => slot.clone(),
            _ => unreachable!("set above"),
        }
    }

    pub(crate) fn step(&self, path: &str) -> Option<Arc<StepSlot>> {
        self.nodes.get(path).and_then(|e| match &e.reach {
            Reach::Step(slot) => Some(slot.clone()),
            _ => None,
        })
    }

    /// Records `reason` as the node's last failure.
    pub(crate) fn set_failure(&self, path: &Arc<str>, reason: &str) {
        self.failures.insert(path.clone(), reason.into());
    }

    pub(crate) fn update(&self, path: &str, f: impl FnOnce(&mut NodeEntry)) {
        if let Some(mut e) = self.nodes.get_mut(path) {
            f(&mut e);
        }
    }

    /// Everything below `path` is gone with its (killed) supervisor: handles to its
    /// workers say `Restarting` instead of queueing into mailboxes nobody reads.
    pub(crate) fn invalidate_below(&self, path: &str) {
        self.mark_below(path, false);
    }

    /// Everything below `path` is down on purpose (its supervisor is held):
    /// handles to its workers say `Stopped`.
    pub(crate) fn stop_below(&self, path: &str) {
        self.mark_below(path, true);
    }

    fn mark_below(&self, path: &str, stopped: bool) {
        let prefix = format!("{path}/");
        for mut e in self.nodes.iter_mut() {
            if e.key().starts_with(&prefix) {
                match &mut e.reach {
                    Reach::Worker(s) => s.unavailable(stopped),
                    Reach::Supervisor(control) => *control = None,
                    Reach::None | Reach::Step(_) => {}
                }
                e.state = if stopped {
                    NodeState::Stopped
                } else {
                    NodeState::Restarting
                };
            }
        }
    }

    pub(crate) fn remove_subtree(&self, path: &str) {
        let prefix = format!("{path}/");
        self.nodes
            .retain(|k, _| &**k != path && !k.starts_with(&prefix));
        self.failures
            .retain(|k, _| &**k != path && !k.starts_with(&prefix));
    }

    pub(crate) fn control(
        &self,
        path: &str,
    ) -> Option<(NodeKind, NodeState, Option<Recipient<Control>>)> {
        self.nodes.get(path).map(|e| {
            let control = match &e.reach {
                Reach::Supervisor(c) => c.clone(),
                _ => None,
            };
            (e.kind, e.state, control)
        })
    }

    /// The state of one node (cheap: no children listed). A running node that is
    /// paused on purpose reads `paused`.
    pub fn state(&self, path: &str) -> Option<NodeState> {
        let (kind, state) = self.nodes.get(path).map(|e| (e.kind, e.state))?;
        Some(self.overlay(path, kind, state))
    }

    /// Marks `path` paused on purpose (or not). The kernel stops nothing: the actor
    /// reads [`Registry::is_paused`] and behaves accordingly; the tree shows a
    /// running node as `paused`.
    pub fn set_paused(&self, path: &str, paused: bool) {
        if paused {
            self.paused.insert(path.to_owned(), ());
        } else {
            self.paused.remove(path);
        }
    }

    pub fn is_paused(&self, path: &str) -> bool {
        self.paused.contains_key(path)
    }

    /// Marks `path` stopped on purpose (or not). Like the pause, the kernel
    /// only records it; whoever stops the node sets it.
    pub fn set_stopped(&self, path: &str, stopped: bool) {
        if stopped {
            self.stopped.insert(path.to_owned(), ());
        } else {
            self.stopped.remove(path);
        }
    }

    pub fn is_stopped(&self, path: &str) -> bool {
        self.stopped.contains_key(path)
    }

    fn overlay(&self, path: &str, kind: NodeKind, state: NodeState) -> NodeState {
        if kind == NodeKind::Step {
            // A step is as its worker is (paused included).
            return parent(path)
                .and_then(|p| self.state(p))
                .unwrap_or(NodeState::Stopped);
        }
        if state == NodeState::Running && self.is_paused(path) {
            NodeState::Paused
        } else {
            state
        }
    }

    /// One node, or `None` for an unknown path.
    pub fn node(&self, path: &str) -> Option<NodeInfo> {
        let mut node = self.nodes.get(path).map(|e| self.info(e.key(), &e))?;
        node.state = self.overlay(path, node.kind, node.state);
        let mut children: Vec<String> = self
            .nodes
            .iter()
            .filter(|e| parent(e.key()) == Some(path))
            .map(|e| e.key().to_string())
            .collect();
        children.sort();
        node.children = children;
        Some(node)
    }

    /// Every node, sorted by path (parents before their children).
    pub fn snapshot(&self) -> Vec<NodeInfo> {
        let mut all: Vec<NodeInfo> = self.nodes.iter().map(|e| self.info(e.key(), &e)).collect();
        for n in &mut all {
            n.state = self.overlay(&n.path, n.kind, n.state);
        }
        all.sort_by(|a, b| a.path.cmp(&b.path));
        let index: std::collections::HashMap<String, usize> = all
            .iter()
            .enumerate()
            .map(|(i, n)| (n.path.clone(), i))
            .collect();
        for i in 0..all.len() {
            if let Some(&p) = parent(&all[i].path).and_then(|p| index.get(p)) {
                let child = all[i].path.clone();
                all[p].children.push(child);
            }
        }
        all
    }

    fn info(&self, path: &str, e: &NodeEntry) -> NodeInfo {
        NodeInfo {
            path: path.to_owned(),
            kind: e.kind,
            state: e.state,
            strategy: e.strategy,
            restarts: e.restarts,
            last_failure: self.failures.get(path).map(|f| f.to_string()),
            children: Vec::new(),
            messages: match &e.reach {
                Reach::Worker(s) => s.messages(),
                _ => 0,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}
