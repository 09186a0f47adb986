//! Placeholder engine children until the engines issue gives every engine its real
//! subtree: a feed that ticks once a second into an analyzer that counts. Enough to
//! watch the supervision tree run, restart and stop.

use actix::Message;
use commodore_actors::kernel::{
    ChildSpec, Ctx, Handle, Handles, SupervisorConfig, SupervisorSpec, Worker,
};
use std::time::Duration;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Tick;

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Count;

#[derive(Default)]
pub struct Analyzer {
    ticks: u64,
}

impl Worker for Analyzer {}

impl Handles<Tick> for Analyzer {
    fn handle(&mut self, _: Tick, _: &mut Ctx<'_, Self>) {
        self.ticks += 1;
    }
}

impl Handles<Count> for Analyzer {
    fn handle(&mut self, _: Count, _: &mut Ctx<'_, Self>) -> u64 {
        self.ticks
    }
}

pub struct Feed {
    analyzer: Handle<Analyzer>,
    dropped: u64,
}

impl Worker for Feed {
    fn started(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.run_interval(Duration::from_secs(1), |feed, ctx| {
            // A full or restarting analyzer loses this tick: the next one is fresher.
            if feed.analyzer.tell(Tick).is_err() {
                feed.dropped += 1;
                tracing::debug!(
                    actor = ctx.path(),
                    dropped = feed.dropped,
                    "tick not delivered"
                );
            }
        });
    }
}

/// One engine's placeholder subtree, on its own arbiter.
pub fn engine(id: &str, config: SupervisorConfig) -> SupervisorSpec {
    let analyzer = Handle::<Analyzer>::new();
    let a2 = analyzer.clone();
    SupervisorSpec::new(id, config)
        .child(ChildSpec::worker("feed", &Handle::new(), move || Feed {
            analyzer: a2.clone(),
            dropped: 0,
        }))
        .child(ChildSpec::worker("analyzer", &analyzer, Analyzer::default))
        .on_own_arbiter()
}
