//! `Recent`: the last `limit` keys seen, for "was this already handled?" checks
//! on the order and feed paths. Constant-time lookups; at the bound the oldest
//! key is forgotten (the journal stays the real guard against duplicates).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

pub struct Recent<K> {
    order: VecDeque<K>,
    set: HashSet<K>,
    limit: usize,
}

impl<K: Hash + Eq + Clone> Recent<K> {
    pub fn new(limit: usize) -> Recent<K> {
        Recent {
            order: VecDeque::new(),
            set: HashSet::new(),
            limit: limit.max(1),
        }
    }

    /// Remembers `key`; `false` when it was already remembered.
    pub fn insert(&mut self, key: K) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        if self.order.len() >= self.limit {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.set.insert(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_keys_only() {
        let mut r = Recent::new(2);
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.insert("b"));
        assert!(r.insert("c"), "a is forgotten");
        assert!(r.insert("a"));
        assert!(!r.insert("c"));
    }
}
