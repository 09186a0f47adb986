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
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Counters an actor updates itself, without a round trip through its supervisor.
#[derive(Debug, Default)]
pub struct NodeStats {
    pub messages: AtomicU64,
}

pub(crate) struct NodeEntry {
    pub(crate) kind: NodeKind,
    pub(crate) state: NodeState,
    pub(crate) strategy: Option<Strategy>,
    pub(crate) restarts: u64,
    pub(crate) last_failure: Option<String>,
    pub(crate) control: Option<Recipient<Control>>,
    pub(crate) stats: Arc<NodeStats>,
    /// For workers: to mark their handles unavailable when their subtree is
    /// killed.
    pub(crate) starter: Option<Arc<dyn WorkerStarter>>,
    /// For steps: the fault armed on it.
    pub(crate) step: Option<Arc<StepSlot>>,
}

#[derive(Default)]
pub struct Registry {
    nodes: DashMap<String, NodeEntry>,
    /// Paths paused on purpose (by the operator). Kept apart from the nodes: a
    /// pause outlives restarts of the node and may be set before it first starts.
    paused: DashMap<String, ()>,
}

impl Registry {
    pub(crate) fn upsert(
        &self,
        path: &str,
        kind: NodeKind,
        strategy: Option<Strategy>,
    ) -> Arc<NodeStats> {
        self.nodes
            .entry(path.to_owned())
            .or_insert_with(|| NodeEntry {
                kind,
                state: NodeState::Starting,
                strategy,
                restarts: 0,
                last_failure: None,
                control: None,
                stats: Arc::new(NodeStats::default()),
                starter: None,
                step: None,
            })
            .stats
            .clone()
    }

    /// The node of a step below a worker; a worker started again finds the
    /// slot (and any fault armed on it) where it was.
    pub(crate) fn upsert_step(&self, path: &str) -> Arc<StepSlot> {
        self.upsert(path, NodeKind::Step, None);
        let mut e = self.nodes.get_mut(path).expect("just inserted");
        e.state = NodeState::Running;
        e.step.get_or_insert_with(Default::default).clone()
    }

    pub(crate) fn step(&self, path: &str) -> Option<Arc<StepSlot>> {
        self.nodes.get(path).and_then(|e| e.step.clone())
    }

    pub(crate) fn update(&self, path: &str, f: impl FnOnce(&mut NodeEntry)) {
        if let Some(mut e) = self.nodes.get_mut(path) {
            f(&mut e);
        }
    }

    /// Everything below `path` is gone with its (killed) supervisor: handles to its
    /// workers say `Restarting` instead of queueing into mailboxes nobody reads.
    pub(crate) fn invalidate_below(&self, path: &str) {
        let prefix = format!("{path}/");
        for mut e in self.nodes.iter_mut() {
            if e.key().starts_with(&prefix) {
                if let Some(s) = &e.starter {
                    s.unavailable(false);
                }
                e.state = NodeState::Restarting;
                e.control = None;
            }
        }
    }

    pub(crate) fn remove_subtree(&self, path: &str) {
        let prefix = format!("{path}/");
        self.nodes
            .retain(|k, _| k != path && !k.starts_with(&prefix));
    }

    pub(crate) fn control(
        &self,
        path: &str,
    ) -> Option<(NodeKind, NodeState, Option<Recipient<Control>>)> {
        self.nodes
            .get(path)
            .map(|e| (e.kind, e.state, e.control.clone()))
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
        let mut node = self.nodes.get(path).map(|e| info(e.key(), &e))?;
        node.state = self.overlay(path, node.kind, node.state);
        let mut children: Vec<String> = self
            .nodes
            .iter()
            .filter(|e| parent(e.key()) == Some(path))
            .map(|e| e.key().clone())
            .collect();
        children.sort();
        node.children = children;
        Some(node)
    }

    /// Every node, sorted by path (parents before their children).
    pub fn snapshot(&self) -> Vec<NodeInfo> {
        let mut all: Vec<NodeInfo> = self.nodes.iter().map(|e| info(e.key(), &e)).collect();
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

fn info(path: &str, e: &NodeEntry) -> NodeInfo {
    NodeInfo {
        path: path.to_owned(),
        kind: e.kind,
        state: e.state,
        strategy: e.strategy,
        restarts: e.restarts,
        last_failure: e.last_failure.clone(),
        children: Vec::new(),
        messages: e.stats.messages.load(Ordering::Relaxed),
    }
}
