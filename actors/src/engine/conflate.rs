//! `Latest`: conflation in front of a bounded mailbox, for market data (the
//! latest price wins).
//!
//! A bar the receiver cannot take now (its mailbox is full, or it is between
//! two instances) is held here instead of dropped. A newer bar replaces the
//! held one, which is then dropped and counted: a stale price is worth nothing
//! once a fresher one exists. The held bar goes first at the next send, or at
//! [`Latest::flush`], which the sender calls every [`FLUSH_EVERY`] while it
//! holds one. So the receiver never sees an older bar after a newer one, at
//! most one bar per sender waits outside the mailbox, and once the receiver
//! catches up the first mark it reads is the latest there is, not one from
//! before it fell behind.

use crate::kernel::{Handle, Handles};
use actix::Message;
use std::time::Duration;

/// How often a sender retries the bar it holds.
pub const FLUSH_EVERY: Duration = Duration::from_millis(5);

/// Where a conflated message goes: `Err` gives the message back.
pub trait TrySend<M> {
    fn try_send(&self, m: M) -> Result<(), M>;
}

impl<W, M> TrySend<M> for Handle<W>
where
    W: Handles<M>,
    M: Message + Send + 'static,
    M::Result: Send,
{
    fn try_send(&self, m: M) -> Result<(), M> {
        self.tell(m).map_err(|e| e.into_inner())
    }
}

/// What became of a message given to [`Latest::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In the receiver's mailbox (after the one held before it, if any).
    Sent,
    /// Held: the receiver cannot take it now. Call `flush` later.
    Held,
    /// Held, and the older message held before it was dropped.
    Replaced,
}

/// At most one message waiting for room in front of a mailbox.
pub struct Latest<M> {
    held: Option<M>,
}

impl<M> Default for Latest<M> {
    fn default() -> Self {
        Latest { held: None }
    }
}

impl<M> Latest<M> {
    /// Sends `m` behind the held message; holds it when the receiver cannot
    /// take it (replacing, and dropping, an older held one).
    pub fn send(&mut self, to: &impl TrySend<M>, m: M) -> Delivery {
        if self.flush(to) {
            self.held = Some(m);
            return Delivery::Replaced;
        }
        match to.try_send(m) {
            Ok(()) => Delivery::Sent,
            Err(m) => {
                self.held = Some(m);
                Delivery::Held
            }
        }
    }

    /// Tries the held message again; `true` while one is still held.
    pub fn flush(&mut self, to: &impl TrySend<M>) -> bool {
        let Some(m) = self.held.take() else {
            return false;
        };
        match to.try_send(m) {
            Ok(()) => false,
            Err(m) => {
                self.held = Some(m);
                true
            }
        }
    }

    pub fn holding(&self) -> bool {
        self.held.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A mailbox of `cap` that its owner drains by hand.
    struct Mailbox {
        cap: usize,
        queue: RefCell<Vec<u32>>,
    }
    impl TrySend<u32> for Mailbox {
        fn try_send(&self, m: u32) -> Result<(), u32> {
            let mut q = self.queue.borrow_mut();
            if q.len() >= self.cap {
                return Err(m);
            }
            q.push(m);
            Ok(())
        }
    }

    #[test]
    fn the_latest_wins_and_order_is_kept() {
        let mb = Mailbox {
            cap: 2,
            queue: RefCell::new(vec![]),
        };
        let mut l = Latest::default();
        assert_eq!(l.send(&mb, 1), Delivery::Sent);
        assert_eq!(l.send(&mb, 2), Delivery::Sent);
        assert_eq!(l.send(&mb, 3), Delivery::Held);
        assert_eq!(
            l.send(&mb, 4),
            Delivery::Replaced,
            "3 is stale once 4 exists"
        );
        assert_eq!(l.send(&mb, 5), Delivery::Replaced);
        assert!(l.holding());
        assert!(l.flush(&mb), "still full: still held");
        // The receiver catches up: the first thing after the old ones is the latest.
        mb.queue.borrow_mut().clear();
        assert!(!l.flush(&mb));
        assert!(!l.holding());
        assert_eq!(*mb.queue.borrow(), vec![5]);
        // With room, the held message goes before the new one.
        mb.queue.borrow_mut().clear();
        assert_eq!(l.send(&mb, 6), Delivery::Sent);
        assert_eq!(l.send(&mb, 7), Delivery::Sent);
        assert_eq!(l.send(&mb, 8), Delivery::Held);
        mb.queue.borrow_mut().remove(0);
        assert_eq!(l.send(&mb, 9), Delivery::Held, "8 went in, 9 waits");
        assert_eq!(*mb.queue.borrow(), vec![7, 8]);
    }
}
