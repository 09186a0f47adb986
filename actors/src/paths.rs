//! The tree's paths, spelled once. A path is `/`-separated names from the
//! root (`master/engines/KC/analyzer`); operators, the API, the events and the
//! journal rows use them, so they are part of the public contract.
//!
//! Invariant: the name of every node of the master tree and of every engine
//! subtree is a constant here; whoever builds the tree, addresses a node or
//! reads a path back uses these, never a string of its own.

/// The root supervisor.
pub const MASTER: &str = "master";
/// The master's children, in start order.
pub const JOURNAL: &str = "journal";
pub const NOTIFIER: &str = "notifier";
pub const PORTFOLIO_RISK: &str = "portfolio_risk";
pub const MODE: &str = "mode";
pub const CONTROL: &str = "control";
pub const ENGINES: &str = "engines";
/// The daily reconciliation: after the engines (it asks their brokers).
pub const RECONCILE: &str = "reconcile";
/// The market clock's sequencer: after the engines, so it stops first.
pub const MARKET: &str = "market";

/// The children of an engine subtree, in start order (pollers `poller<i>`
/// come after the sentinel).
pub const ENGINE: &str = "engine";
pub const EXECUTOR: &str = "executor";
pub const BROKER: &str = "broker";
pub const ANALYZER: &str = "analyzer";
pub const SENTINEL: &str = "sentinel";
pub const GUARD: &str = "guard";

/// The name of an engine's `i`-th HTTP feed poller.
pub fn poller(i: usize) -> String {
    format!("poller{i}")
}

/// A child of the master: `master/<name>`.
pub fn master_child(name: &str) -> String {
    format!("{MASTER}/{name}")
}

/// An engine subtree: `master/engines/<id>`.
pub fn engine(id: &str) -> String {
    format!("{MASTER}/{ENGINES}/{id}")
}

/// A node of an engine subtree: `master/engines/<id>/<child>`.
pub fn engine_child(id: &str, child: &str) -> String {
    format!("{}/{child}", engine(id))
}

/// The sibling `name` of the node at `path` (`.../KC/engine` → `.../KC/guard`).
pub fn sibling(path: &str, name: &str) -> String {
    match path.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{name}"),
        None => name.to_owned(),
    }
}

/// The engine id when `path` is an engine subtree itself
/// (`master/engines/KC`), not one of its children.
pub fn engine_id(path: &str) -> Option<&str> {
    let id = path.strip_prefix(MASTER)?.strip_prefix('/')?;
    let id = id.strip_prefix(ENGINES)?.strip_prefix('/')?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_built_and_read_back_the_same_way() {
        assert_eq!(engine("KC"), "master/engines/KC");
        assert_eq!(engine_child("KC", ANALYZER), "master/engines/KC/analyzer");
        assert_eq!(master_child(PORTFOLIO_RISK), "master/portfolio_risk");
        assert_eq!(
            sibling(&engine_child("CC", ENGINE), GUARD),
            "master/engines/CC/guard"
        );
        assert_eq!(engine_id(&engine("KC")), Some("KC"));
        assert_eq!(engine_id(&engine_child("KC", ENGINE)), None);
        assert_eq!(engine_id("master/engines"), None);
        assert_eq!(engine_id("master/engines/"), None);
        assert_eq!(engine_id("master/mode"), None);
        assert_eq!(poller(2), "poller2");
    }
}
