//! One engine's order connection, on the pool's thread: connect,
//! reconcile by order reference, then serve until the connection falls:
//! the orders to place and cancel (the link's bounded queue), and IB's
//! words (`words.rs`) into the engine's book. Nothing here answers the
//! executor directly: it is told which orders moved, and asks.

use super::book::Status;
use super::conn::{
    connect, dec, down_then_wait, fell_with, heartbeat as heartbeat_of, next_failures, next_of,
    End, Pace, Shared,
};
use super::contract::{contract_of, instrument_of};
use super::words::{apply, commission, execution, ib_order, learn, notice};
use super::{Cmd, IbSettings, Link};
use crate::model::Order;
use ibapi::accounts::PositionUpdate;
use ibapi::contracts::Contract;
use ibapi::orders::{ExecutionFilter, Orders};
use ibapi::subscriptions::SubscriptionItem;
use ibapi::Client;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

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
    let fell = End::fell;
    let pace = sh.pace(started, link);
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
                if let Err(why) = heartbeat_of(&client, &s, &pace).await {
                    return fell(why);
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
