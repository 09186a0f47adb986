//! Liveness: every `probe_interval` each running child gets a probe; no answer
//! within `probe_timeout` means hung: killed, counted as a failure, re-created.
//!
//! Invariant: at most one probe in flight per child, and a late verdict about an
//! instance that is no longer current changes nothing.

use super::{ChildState, Phase, Supervisor};
use crate::kernel::Control;
use actix::fut::{wrap_future, ActorFutureExt};
use actix::{AsyncContext, Context};
use std::time::Duration;
use tokio::sync::oneshot;

impl Supervisor {
    pub(super) fn probe(&mut self, ctx: &mut Context<Self>) {
        if self.phase != Phase::Running {
            return;
        }
        let timeout = self.spec.config.probe_timeout;
        for j in 0..self.children.len() {
            let child = &mut self.children[j];
            let ChildState::Running(inst) = &child.state else {
                continue;
            };
            if child.probing {
                continue;
            }
            child.probing = true;
            let (tx, rx) = oneshot::channel();
            inst.control.do_send(Control::Probe(tx));
            let id = inst.id;
            ctx.spawn(wrap_future(tokio::time::timeout(timeout, rx)).map(
                move |res, sup: &mut Self, ctx| {
                    sup.children[j].probing = false;
                    // `Ok(Err(_))`: the child died; its exit report tells why.
                    if res.is_err() {
                        sup.hung(j, id, timeout, ctx);
                    }
                },
            ));
        }
    }

    fn hung(&mut self, j: usize, id: u64, timeout: Duration, ctx: &mut Context<Self>) {
        let child = &mut self.children[j];
        match std::mem::replace(&mut child.state, ChildState::Stopped) {
            ChildState::Running(mut inst) if inst.id == id => {
                inst.kill();
                let reason = format!("hung: no answer to the liveness probe within {timeout:?}");
                self.on_failure(j, None, None, reason, ctx);
            }
            other => child.state = other,
        }
    }
}
