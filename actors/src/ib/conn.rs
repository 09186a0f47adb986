//! One engine's connection to IB, on the pool's thread: connect (bounded),
//! reconcile, then serve until the connection falls; then back off
//! (jittered, exponential) and start again. Nothing here answers the
//! executor directly: IB's words go into the engine's book, and the
//! executor is told which orders moved.

use super::book::{Exec, Learned, Status};
use super::contract::{contract_of, instrument_of};
use super::{Cmd, IbSettings, Link};
use crate::clock::Clock;
use crate::model::{Order, Side};
use ibapi::accounts::PositionUpdate;
use ibapi::contracts::Contract;
use ibapi::orders::{
    Action, CommissionReport, ExecutionData, ExecutionFilter, OrderData, OrderUpdate, Orders,
    TimeInForce,
};
use ibapi::subscriptions::SubscriptionItem;
use ibapi::Client;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;

/// What the pool's connections share.
pub(crate) struct Shared {
    pub settings: Arc<IbSettings>,
    pub pacer: Arc<Mutex<super::pacing::Pacer>>,
    pub clock: Clock,
    pub stop: watch::Receiver<bool>,
}

/// How a session ended.
pub(crate) enum End {
    Stopped,
    /// The connection fell or could not be made; `connected` says whether
    /// it had been made (the backoff starts over then).
    Lost {
        why: String,
        connected: bool,
    },
}

pub(crate) async fn run(link: Arc<Link>, mut rx: mpsc::Receiver<Cmd>, mut sh: Shared) {
    let mut failures = 0u32;
    let started = sh.clock.instant();
    let mut contracts: HashMap<String, Contract> = HashMap::new();
    loop {
        if *sh.stop.borrow() {
            return;
        }
        let began = sh.clock.instant();
        let End::Lost { why, connected } =
            session(&link, &mut rx, &mut sh, &mut contracts, started).await
        else {
            return;
        };
        failures = next_failures(failures, connected, began, &sh.clock);
        tracing::warn!(engine = %link.engine, client_id = link.client_id, why = %why, "the IB connection is down: orders wait (unavailable) until it is back and reconciled");
        if !down_then_wait(&link, &mut sh, failures, why).await {
            return;
        }
    }
}

/// A session must hold this long for the backoff to start over: one that
/// connects and falls at once (a request IB refuses at every connect) keeps
/// backing off.
const HELD: Duration = Duration::from_secs(60);

/// The failure count after a session that began at `began`.
pub(crate) fn next_failures(
    failures: u32,
    connected: bool,
    began: tokio::time::Instant,
    clock: &Clock,
) -> u32 {
    if connected && clock.instant().duration_since(began) >= HELD {
        1
    } else {
        failures.saturating_add(1)
    }
}

/// After a session ended with `why`: the link is down (not ready, and
/// why), then the backoff before attempt `failures + 1`. `false` when the
/// pool stopped meanwhile.
pub(crate) async fn down_then_wait(
    link: &Link,
    sh: &mut Shared,
    failures: u32,
    why: String,
) -> bool {
    {
        let mut s = link.lock_status();
        s.ready = false;
        s.why = why;
    }
    let wait = backoff(
        failures,
        link.client_id,
        sh.settings.backoff_min,
        sh.settings.backoff_max,
    );
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = sh.stop.changed() => false,
    }
}

/// The wait before attempt `failures` (1, 2, ...): `min` doubled per
/// failure, capped at `max`, then drawn between half and all of it (so the
/// pool's connections do not all knock at once).
pub(crate) fn backoff(failures: u32, client_id: i32, min: Duration, max: Duration) -> Duration {
    let full = min
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max);
    let mut x = (u64::from(failures) << 32) ^ (client_id as u64) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let frac = (x % 1000) as u32; // 0..=999 thousandths
    full / 2 + (full / 2) * frac / 1000
}

async fn session(
    link: &Arc<Link>,
    rx: &mut mpsc::Receiver<Cmd>,
    sh: &mut Shared,
    contracts: &mut HashMap<String, Contract>,
    started: tokio::time::Instant,
) -> End {
    let s = sh.settings.clone();
    let client = match connect(&s, link.client_id).await {
        Ok(c) => c,
        Err(why) => {
            return End::Lost {
                why,
                connected: false,
            }
        }
    };
    {
        // What the last connection said of the account is not this one's.
        let mut st = link.lock_status();
        st.connects += 1;
        st.cash = None;
        st.net_liquidation = None;
    }
    *link.positions.lock().unwrap_or_else(|p| p.into_inner()) = None;
    let fell = |why: String| End::Lost {
        why,
        connected: true,
    };
    let pace = Pace {
        pacer: &sh.pacer,
        clock: sh.clock,
        started,
        link,
    };
    // The stream first, then the snapshots: nothing falls between them.
    pace.wait().await;
    let mut updates = match client.order_update_stream().await {
        Ok(u) => u,
        Err(e) => return fell(format!("IB refused the order update stream: {e}")),
    };
    let ended = match reconcile(&client, link, &s, &pace).await {
        Ok(ended) => ended,
        Err(why) => return fell(why),
    };
    pace.wait().await;
    let mut positions = match client.positions().await {
        Ok(p) => p,
        Err(e) => return fell(format!("IB refused the positions: {e}")),
    };
    pace.wait().await;
    let group = ibapi::accounts::types::AccountGroup("All".into());
    // IB serves two account summaries at a time: one refused (or ended) is
    // logged and the connection goes on without it (the cash unknown).
    let mut summary = match client
        .account_summary(&group, &["NetLiquidation", "TotalCashValue"])
        .await
    {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::warn!(engine = %link.engine, error = %e, "IB refused the account summary: the account's cash is not known");
            None
        }
    };
    let mut held: BTreeMap<i32, (String, Decimal)> = BTreeMap::new();
    // IB sends the positions, an end marker, then every change.
    let mut positions_complete = false;
    {
        let mut st = link.lock_status();
        st.ready = true;
        st.why.clear();
    }
    tracing::info!(engine = %link.engine, client_id = link.client_id, address = %s.address(), "IB connected and reconciled: orders go");
    // Everything open may have moved while we were away; what ended at the
    // reconciliation did.
    let mut moved = link.lock_book().open_ids();
    moved.extend(ended);
    link.tell_moved(moved);
    let mut stop = sh.stop.clone();
    let mut heartbeat = tokio::time::interval(s.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.reset();
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                pace.wait().await;
                match tokio::time::timeout(s.request_timeout, client.server_time()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return fell(format!("the connection to IB fell: {e}")),
                    Err(_) => return fell(format!(
                        "IB stopped answering: no reply to a heartbeat within {:?} (a hung or logged-out gateway)",
                        s.request_timeout
                    )),
                }
            }
            _ = stop.changed() => {
                client.disconnect().await;
                return End::Stopped;
            }
            cmd = rx.recv() => match cmd {
                None => return End::Stopped,
                Some(Cmd::Place(o)) => {
                    if let Err(why) = place(&client, link, &s, &pace, contracts, &o).await {
                        return fell(why);
                    }
                }
                Some(Cmd::Cancel(id)) => {
                    if let Err(why) = cancel(&client, link, &pace, &id).await {
                        return fell(why);
                    }
                }
            },
            u = updates.next() => match u {
                Some(Ok(SubscriptionItem::Data(u))) => apply(link, &sh.clock, u),
                Some(Ok(SubscriptionItem::Notice(n))) => notice(link, n.request_id, &n),
                Some(Err(e)) => return fell(format!("the connection to IB fell: {e}")),
                None => return fell("the connection to IB fell (its order stream ended)".into()),
            },
            p = positions.next() => match p {
                Some(Ok(SubscriptionItem::Data(PositionUpdate::Position(p)))) => {
                    if p.account == s.account {
                        if let Some(i) = instrument_of(&p.contract) {
                            held.insert(p.contract.contract_id, (i, dec(p.position)));
                        }
                        if positions_complete {
                            publish_positions(link, &held);
                        }
                    }
                }
                Some(Ok(SubscriptionItem::Data(PositionUpdate::PositionEnd))) => {
                    positions_complete = true;
                    publish_positions(link, &held);
                }
                Some(Ok(SubscriptionItem::Notice(_))) => {}
                Some(Err(e)) => return fell(format!("the connection to IB fell: {e}")),
                None => return fell("the connection to IB fell (its positions ended)".into()),
            },
            a = next_of(&mut summary) => match a {
                Some(Ok(SubscriptionItem::Data(ibapi::accounts::AccountSummaryResult::Summary(row)))) => {
                    if row.account == s.account {
                        let mut st = link.lock_status();
                        match row.tag.as_str() {
                            "NetLiquidation" => st.net_liquidation = Some(row.value),
                            "TotalCashValue" => st.cash = Some(row.value),
                            _ => {}
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) if fell_with(&e) => return fell(format!("the connection to IB fell: {e}")),
                Some(Err(e)) => {
                    tracing::warn!(engine = %link.engine, error = %e, "IB ended the account summary: the account's cash is no longer known");
                    summary = None;
                }
                None => summary = None,
            },
        }
    }
}

/// Connects as `client_id` (IB's own reconnection off: ours reconciles
/// first), within `connect_timeout`.
pub(crate) async fn connect(s: &IbSettings, client_id: i32) -> Result<Client, String> {
    let connect = Client::builder()
        .address(s.address())
        .client_id(client_id)
        .max_reconnect_attempts(0)
        .connect();
    match tokio::time::timeout(s.connect_timeout, connect).await {
        Err(_) => Err(format!(
            "IB at {} did not complete the handshake within {:?}",
            s.address(),
            s.connect_timeout
        )),
        Ok(Err(e)) => Err(format!(
            "cannot connect to IB at {} as client id {client_id}: {e} (is TWS or IB Gateway running with the API enabled on that port?)",
            s.address(),
        )),
        Ok(Ok(c)) => Ok(c),
    }
}

/// The next item of a subscription that may be gone (then never).
pub(crate) async fn next_of<S: tokio_stream::Stream + Unpin>(s: &mut Option<S>) -> Option<S::Item> {
    match s {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Waits for a slot of the pool's shared pacer.
pub(crate) struct Pace<'a> {
    pub pacer: &'a Mutex<super::pacing::Pacer>,
    pub clock: Clock,
    pub started: tokio::time::Instant,
    pub link: &'a Link,
}

impl Pace<'_> {
    pub(crate) async fn wait(&self) {
        loop {
            let now = self.clock.instant().duration_since(self.started);
            let wait = self
                .pacer
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(now.as_micros() as u64);
            match wait {
                None => return,
                Some(w) => {
                    self.link.lock_status().paced += 1;
                    tokio::time::sleep(w).await;
                }
            }
        }
    }
}

/// The account's positions in this engine's contract, per instrument.
fn publish_positions(link: &Link, held: &BTreeMap<i32, (String, Decimal)>) {
    let mut out: BTreeMap<String, Decimal> = BTreeMap::new();
    for (instrument, qty) in held.values() {
        if crate::model::root(instrument) == link.symbol && !qty.is_zero() {
            *out.entry(instrument.clone()).or_default() += *qty;
        }
    }
    *link.positions.lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
}

/// Before anything is answered: IB's open orders, completed orders and
/// executions of this engine, by order reference. Returns the orders that
/// ended because IB never saw them.
async fn reconcile(
    client: &Client,
    link: &Link,
    s: &IbSettings,
    pace: &Pace<'_>,
) -> Result<Vec<String>, String> {
    let t = s.request_timeout;
    let mut seen: HashSet<String> = HashSet::new();
    pace.wait().await;
    let open = collect!(client.all_open_orders().await, t, "open orders");
    pace.wait().await;
    let done = collect!(client.completed_orders(false).await, t, "completed orders");
    {
        let mut book = link.lock_book();
        let open = open.into_iter().map(|o| (o, false));
        for (o, completed) in open.chain(done.into_iter().map(|o| (o, true))) {
            match o {
                Orders::OrderData(d) => {
                    if let Some(id) = learn(&mut book, &d, completed, link.client_id) {
                        seen.insert(id);
                    }
                }
                // Order ids are per client: another client's status is
                // not about our order of the same number.
                Orders::OrderStatus(st) if st.client_id == link.client_id => {
                    book.status(
                        st.order_id,
                        Status::of(st.status.as_str(), &st.why_held),
                        dec(st.filled),
                    );
                }
                Orders::OrderStatus(_) => {}
            }
        }
    }
    pace.wait().await;
    let filter = ExecutionFilter {
        account_code: s.account.clone(),
        last_n_days: 7,
        ..ExecutionFilter::default()
    };
    let execs = collect!(client.executions(filter).await, t, "executions");
    let mut book = link.lock_book();
    // Other engines' executions: their commissions are not ours to keep.
    let mut foreign: HashSet<String> = HashSet::new();
    for x in execs {
        match x {
            ibapi::orders::Executions::ExecutionData(d) => {
                if book.owns(&d.execution.order_reference) {
                    seen.insert(d.execution.order_reference.clone());
                    execution(&mut book, &pace.clock, &d);
                } else {
                    foreign.insert(d.execution.execution_id.clone());
                }
            }
            ibapi::orders::Executions::CommissionReport(c) => {
                if !foreign.contains(&c.execution_id) {
                    commission(&mut book, &c);
                }
            }
        }
    }
    let ended = book.unseen_after_reconnect(&|id| seen.contains(id));
    for id in &ended {
        tracing::warn!(engine = %link.engine, order = %id, "{}", match book.known(id) {
            crate::engine::broker::Known::Rejected(why) => why,
            _ => "ended".into(),
        });
    }
    tracing::info!(engine = %link.engine, orders = book.len(), "IB reconciled by order reference");
    Ok(ended)
}

/// A snapshot IB sends to its end marker, within `t`; `Err` with what to
/// say otherwise. (A macro: ibapi's decoder bound is private.)
macro_rules! collect {
    ($sub:expr, $t:expr, $what:literal) => {{
        let mut sub = $sub.map_err(|e| format!("IB refused the {}: {e}", $what))?;
        sub.collect_to_end_within($t)
            .await
            .map_err(|e| format!("IB did not send all its {} within {:?}: {e}", $what, $t))?
    }};
}
use collect;

/// An order IB reports, taken when its reference is ours. A completed
/// order's `total_quantity` is what was left unfilled. Its IB order id is
/// kept only when our client placed it (ids are per client; an order
/// another client id placed, under an earlier engine order, is known by
/// its reference, and only its client could cancel it).
fn learn(book: &mut super::Book, d: &OrderData, completed: bool, client_id: i32) -> Option<String> {
    let id = &d.order.order_ref;
    if !book.owns(id) {
        return None;
    }
    let instrument = id.rsplit('-').next().unwrap_or_default().to_owned();
    let instrument = if crate::model::month_of(&instrument).is_some() {
        instrument
    } else {
        instrument_of(&d.contract).unwrap_or(instrument)
    };
    book.learn(
        id,
        (d.order_id > 0 && d.order.client_id == client_id).then_some(d.order_id),
        Learned {
            instrument,
            side: match d.order.action {
                Action::Buy => Side::Buy,
                _ => Side::Sell,
            },
            qty: dec(if completed {
                d.order.total_quantity + d.order.filled_quantity
            } else {
                d.order.total_quantity
            }),
            status: Some(Status::of(d.order_state.status.as_str(), "")),
            filled: dec(if completed {
                d.order.filled_quantity
            } else {
                0.0
            }),
        },
    );
    Some(id.clone())
}

fn execution(book: &mut super::Book, clock: &Clock, d: &ExecutionData) {
    let at_ms = exec_time_ms(&d.execution.time).unwrap_or_else(|| clock.now_ms());
    let id = &d.execution.order_reference;
    let instrument = id.rsplit('-').next().unwrap_or_default();
    let instrument = if crate::model::month_of(instrument).is_some() {
        instrument.to_owned()
    } else {
        instrument_of(&d.contract).unwrap_or_else(|| instrument.to_owned())
    };
    let side = match d.execution.side {
        ibapi::orders::ExecutionSide::Bought => Side::Buy,
        _ => Side::Sell,
    };
    book.execution_of_unheard(
        id,
        &instrument,
        side,
        Exec {
            id: d.execution.execution_id.clone(),
            cum: dec(d.execution.cumulative_quantity),
            qty: dec(d.execution.shares),
            price: dec(d.execution.price),
            at_ms,
            commission: None,
        },
    );
}

fn commission(book: &mut super::Book, c: &CommissionReport) -> Option<String> {
    book.commission(&c.execution_id, dec(c.commission))
}

/// IB's word on an order, live.
fn apply(link: &Link, clock: &Clock, u: OrderUpdate) {
    let moved = {
        let mut book = link.lock_book();
        match u {
            OrderUpdate::OrderStatus(s) => book.status(
                s.order_id,
                Status::of(s.status.as_str(), &s.why_held),
                dec(s.filled),
            ),
            OrderUpdate::OpenOrder(d) => learn(&mut book, &d, false, link.client_id),
            OrderUpdate::ExecutionData(d) => {
                let id = d.execution.order_reference.clone();
                if book.owns(&id) {
                    execution(&mut book, clock, &d);
                    Some(id)
                } else {
                    None
                }
            }
            OrderUpdate::CommissionReport(c) => commission(&mut book, &c),
            OrderUpdate::OrderBound(_) => None,
        }
    };
    if let Some(id) = moved {
        link.tell_moved(vec![id]);
    }
}

/// IB's notices. An order rejection (IB's codes 200 to 399 but its
/// warnings, or a duplicate order id) bound to one of our order ids
/// refuses it if IB had not acknowledged it yet; anything else is logged.
/// The answers to a cancel (161, 10147, 10148: too late, unknown, already
/// done) change nothing: IB's statuses say what became of the order.
fn notice(link: &Link, id: Option<i32>, n: &ibapi::Notice) {
    let rejection = n.is_order_rejection() || n.code == 103;
    let refused = match id {
        Some(ib) if ib > 0 && rejection => link.lock_book().error_for(ib, n.code, &n.message),
        _ => None,
    };
    match refused {
        Some(order) => {
            link.lock_status().refused += 1;
            tracing::warn!(engine = %link.engine, order = %order, code = n.code, message = %n.message, "IB refused an order");
            link.tell_moved(vec![order]);
        }
        None => {
            tracing::info!(engine = %link.engine, code = n.code, message = %n.message, "IB notice")
        }
    }
}

/// Resolves the order's contract (cached) and writes it to IB.
async fn place(
    client: &Client,
    link: &Link,
    s: &IbSettings,
    pace: &Pace<'_>,
    contracts: &mut HashMap<String, Contract>,
    o: &Order,
) -> Result<(), String> {
    let id = &o.client_order_id;
    if link.lock_book().get(id).map(|e| &e.stage) != Some(&super::Stage::Queued) {
        // Ended while it waited (the connection fell).
        return Ok(());
    }
    let contract = match contracts.get(&o.symbol) {
        Some(c) => c.clone(),
        None => match resolve(client, s, pace, &o.symbol).await {
            Ok(c) => {
                contracts.insert(o.symbol.clone(), c.clone());
                c
            }
            Err(Resolve::Refused(why)) => {
                link.lock_book().refuse(id, &why);
                link.tell_moved(vec![id.clone()]);
                return Ok(());
            }
            Err(Resolve::Fell(why)) => return Err(why),
        },
    };
    let order = ib_order(o, &s.account);
    pace.wait().await;
    let ib_id = client.next_order_id();
    link.lock_book().placed(id, ib_id);
    match client.submit_order(ib_id, &contract, &order).await {
        Ok(()) => {
            tracing::info!(engine = %link.engine, order = %id, ib_order_id = ib_id, kind = %o.kind(), "placed at IB");
            Ok(())
        }
        Err(e) if fell_with(&e) => {
            // Whether IB has it, the reconciliation after the reconnect says.
            Err(format!("the connection to IB fell while placing {id}: {e}"))
        }
        Err(e) => {
            link.lock_book().refuse(id, &format!("not sent to IB: {e}"));
            link.tell_moved(vec![id.clone()]);
            Ok(())
        }
    }
}

enum Resolve {
    Refused(String),
    Fell(String),
}

/// The one contract IB lists for the instrument.
async fn resolve(
    client: &Client,
    s: &IbSettings,
    pace: &Pace<'_>,
    instrument: &str,
) -> Result<Contract, Resolve> {
    let wanted = contract_of(instrument, &s.exchange).map_err(Resolve::Refused)?;
    pace.wait().await;
    let found =
        match tokio::time::timeout(s.request_timeout, client.contract_details(&wanted)).await {
            Err(_) => {
                return Err(Resolve::Fell(format!(
                    "IB did not resolve {instrument} within {:?}",
                    s.request_timeout
                )))
            }
            Ok(Err(e)) if fell_with(&e) => {
                return Err(Resolve::Fell(format!(
                    "the connection to IB fell while resolving {instrument}: {e}"
                )))
            }
            Ok(Err(e)) => {
                return Err(Resolve::Refused(format!(
                    "IB could not resolve {instrument} on {}: {e}",
                    s.exchange
                )))
            }
            Ok(Ok(found)) => found,
        };
    match found.as_slice() {
        [one] => Ok(one.contract.clone()),
        [] => Err(Resolve::Refused(format!(
            "IB lists no {} future for {} on {}: check broker.ib.exchange and the month",
            wanted.symbol, wanted.last_trade_date_or_contract_month, s.exchange
        ))),
        many => Err(Resolve::Refused(format!(
            "IB lists {} contracts for {instrument} on {} ({}): not one, so nothing is sent",
            many.len(),
            s.exchange,
            many.iter()
                .map(|d| d.contract.local_symbol.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Whether an error of a request means the connection is gone (then the
/// session ends and the reconciliation decides), rather than a refusal of
/// the request itself.
pub(crate) fn fell_with(e: &ibapi::Error) -> bool {
    e.is_connection_lost()
        || matches!(
            e,
            ibapi::Error::ConnectionFailed
                | ibapi::Error::Shutdown
                | ibapi::Error::Io(_)
                | ibapi::Error::Cancelled
        )
}

/// Our order as IB's: market (good for the day) or limit (good till its
/// expiry, UTC), the account, and our client order id as the reference.
pub(crate) fn ib_order(o: &Order, account: &str) -> ibapi::orders::Order {
    let mut order = ibapi::orders::Order {
        action: match o.side {
            Side::Buy => Action::Buy,
            Side::Sell => Action::Sell,
        },
        total_quantity: f64::try_from(o.qty).unwrap_or_default(),
        order_type: "MKT".into(),
        tif: TimeInForce::Day,
        account: account.to_owned(),
        order_ref: o.client_order_id.clone(),
        transmit: true,
        ..ibapi::orders::Order::default()
    };
    if let Some(l) = &o.limit {
        order.order_type = "LMT".into();
        order.limit_price = f64::try_from(l.price).ok();
        order.tif = TimeInForce::GoodTillDate;
        order.good_till_date = utc_stamp(l.expires_ms);
    }
    order
}

/// `yyyymmdd-hh:mm:ss` in UTC, as IB reads a time with no zone.
fn utc_stamp(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y%m%d-%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// An execution's time as IB writes it: `yyyymmdd-hh:mm:ss` (UTC),
/// `yyyymmdd hh:mm:ss UTC`, or in New York's zone (`US/Eastern`,
/// `America/New_York`: ICE softs' and many gateways' login zone). Another
/// zone is not read (the caller takes the time it learned of the
/// execution).
pub(crate) fn exec_time_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (stamp, zone) = match text.split_once(' ') {
        Some((d, rest)) => match rest.split_once(' ') {
            Some((t, z)) => (format!("{d}-{t}"), z),
            None => (format!("{d}-{rest}"), "UTC"),
        },
        None => (text.to_owned(), "UTC"),
    };
    let local = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y%m%d-%H:%M:%S")
        .ok()?
        .and_utc()
        .timestamp_millis()
        .max(0) as u64;
    match zone {
        "UTC" | "GMT" | "Etc/UTC" => Some(local),
        "US/Eastern" | "America/New_York" | "EST5EDT" => {
            // The offset (EDT -4 h, EST -5 h) that agrees with itself.
            [-240i64, -300].into_iter().find_map(|off| {
                let utc = local.checked_add_signed(-off * 60_000)?;
                (crate::model::new_york_offset_min(utc) == off).then_some(utc)
            })
        }
        _ => None,
    }
}

/// Cancels what is left of an order at IB. IB's statuses come on the
/// order stream (and on the cancel's own answer, read here too).
async fn cancel(
    client: &Client,
    link: &Arc<Link>,
    pace: &Pace<'_>,
    id: &str,
) -> Result<(), String> {
    let Some(ib_id) = link.lock_book().get(id).and_then(|e| e.ib_id) else {
        return Ok(());
    };
    pace.wait().await;
    match client.cancel_order(ib_id, "").await {
        Ok(mut sub) => {
            let link = link.clone();
            tokio::spawn(async move {
                let until = tokio::time::sleep(Duration::from_secs(30));
                tokio::pin!(until);
                loop {
                    tokio::select! {
                        _ = &mut until => return,
                        item = sub.next() => match item {
                            Some(Ok(SubscriptionItem::Data(ibapi::orders::CancelOrder::OrderStatus(s)))) => {
                                let moved = link.lock_book().status(s.order_id, Status::of(s.status.as_str(), &s.why_held), dec(s.filled));
                                link.tell_moved(moved.into_iter().collect());
                            }
                            Some(Ok(SubscriptionItem::Notice(n))) => notice(&link, n.request_id.or(Some(ib_id)), &n),
                            _ => return,
                        }
                    }
                }
            });
            Ok(())
        }
        Err(e) => Err(format!(
            "the connection to IB fell while cancelling {id}: {e}"
        )),
    }
}

/// IB's numbers (f64) as decimals, by their shortest text: 312.05 stays
/// 312.05.
pub(crate) fn dec(x: f64) -> Decimal {
    if !x.is_finite() {
        return Decimal::ZERO;
    }
    Decimal::from_str(&format!("{x}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_cap_and_is_jittered() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(60));
        let w: Vec<Duration> = (1..=10).map(|f| backoff(f, 101, min, max)).collect();
        assert!(w[0] >= Duration::from_millis(250) && w[0] <= min, "{w:?}");
        assert!(
            w[3] >= Duration::from_secs(2) && w[3] <= Duration::from_secs(4),
            "{w:?}"
        );
        assert!(w[9] >= Duration::from_secs(30) && w[9] <= max, "{w:?}");
        // Two connections do not wait alike.
        assert_ne!(backoff(3, 101, min, max), backoff(3, 102, min, max));
    }

    #[test]
    fn execution_times_in_utc_are_read_and_others_are_not() {
        assert_eq!(exec_time_ms("20260303-15:15:30"), Some(1_772_550_930_000));
        assert_eq!(
            exec_time_ms("20260303 15:15:30 UTC"),
            Some(1_772_550_930_000)
        );
        // New York: EST in March before the switch, EDT in July.
        assert_eq!(
            exec_time_ms("20260303 10:15:30 US/Eastern"),
            Some(1_772_550_930_000)
        );
        assert_eq!(
            exec_time_ms("20260701 11:15:30 America/New_York"),
            exec_time_ms("20260701-15:15:30")
        );
        assert_eq!(exec_time_ms("20260303 10:15:30 Europe/Zurich"), None);
        assert_eq!(exec_time_ms("yesterday"), None);
        assert_eq!(utc_stamp(1_772_550_930_000), "20260303-15:15:30");
    }

    #[test]
    fn ib_numbers_keep_their_decimals() {
        assert_eq!(dec(312.05).to_string(), "312.05");
        assert_eq!(dec(2.0).to_string(), "2");
        assert_eq!(dec(f64::NAN), Decimal::ZERO);
    }

    #[test]
    fn an_order_carries_its_client_order_id_and_its_kind() {
        let mut o = Order {
            client_order_id: "KC-momentum-7-KCH26".into(),
            engine: "KC".into(),
            strategy: "momentum".into(),
            decision_seq: 7,
            symbol: "KCH26".into(),
            side: Side::Sell,
            qty: Decimal::from(2),
            ref_price: Decimal::from(300),
            at_ms: 0,
            limit: None,
        };
        let m = ib_order(&o, "DU123");
        assert_eq!(
            (m.order_type.as_str(), m.total_quantity, m.account.as_str()),
            ("MKT", 2.0, "DU123")
        );
        assert_eq!(m.order_ref, "KC-momentum-7-KCH26");
        assert_eq!(m.action, Action::Sell);
        o.limit = Some(crate::model::Limit {
            price: "301.05".parse().unwrap(),
            expires_ms: 1_772_550_930_000,
        });
        let l = ib_order(&o, "DU123");
        assert_eq!(
            (l.order_type.as_str(), l.limit_price),
            ("LMT", Some(301.05))
        );
        assert_eq!(l.tif, TimeInForce::GoodTillDate);
        assert_eq!(l.good_till_date, "20260303-15:15:30");
    }
}
