//! IB's words and ours, translated: an order as IB takes it (its type,
//! time in force, account and reference), and what IB says (open and
//! completed orders, statuses, executions, commission reports, notices,
//! execution times) into the engine's book.

use super::book::{Exec, Learned, Status};
use super::conn::dec;
use super::contract::instrument_of;
use super::Link;
use crate::clock::Clock;
use crate::model::{Order, Side};
use ibapi::orders::{Action, CommissionReport, ExecutionData, OrderData, OrderUpdate, TimeInForce};

/// An order IB reports, taken when its reference is ours. A completed
/// order's `total_quantity` is what was left unfilled. Its IB order id is
/// kept only when our client placed it (ids are per client; an order
/// another client id placed, under an earlier engine order, is known by
/// its reference, and only its client could cancel it).
pub(crate) fn learn(
    book: &mut super::Book,
    d: &OrderData,
    completed: bool,
    client_id: i32,
) -> Option<String> {
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

pub(crate) fn execution(book: &mut super::Book, clock: &Clock, d: &ExecutionData) {
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

pub(crate) fn commission(book: &mut super::Book, c: &CommissionReport) -> Option<String> {
    book.commission(&c.execution_id, dec(c.commission))
}

/// IB's word on an order, live.
pub(crate) fn apply(link: &Link, clock: &Clock, u: OrderUpdate) {
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
pub(crate) fn notice(link: &Link, id: Option<i32>, n: &ibapi::Notice) {
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

/// An execution's time as IB writes it: `yyyymmdd-hh:mm:ss` (UTC), or
/// `yyyymmdd hh:mm:ss ZONE` with an IANA zone (`US/Eastern`,
/// `America/New_York`: ICE softs' and many gateways' login zone; `UTC`). A
/// zone the time zone database does not know is not read (the caller takes
/// the time it learned of the execution).
pub(crate) fn exec_time_ms(text: &str) -> Option<u64> {
    use chrono::TimeZone;
    let text = text.trim();
    let (stamp, zone) = match text.split_once(' ') {
        Some((d, rest)) => match rest.split_once(' ') {
            Some((t, z)) => (format!("{d}-{t}"), z),
            None => (format!("{d}-{rest}"), "UTC"),
        },
        None => (text.to_owned(), "UTC"),
    };
    let local = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y%m%d-%H:%M:%S").ok()?;
    let zone: chrono_tz::Tz = zone.trim().parse().ok()?;
    // An hour that a switch to daylight time skips has no time; an hour it
    // repeats is read as its first.
    let at = zone.from_local_datetime(&local).earliest()?;
    Some(at.timestamp_millis().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn execution_times_are_read_in_their_zone_and_unknown_zones_are_not() {
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
        // Any zone of the database (Zurich is UTC+1 in March).
        assert_eq!(
            exec_time_ms("20260303 16:15:30 Europe/Zurich"),
            Some(1_772_550_930_000)
        );
        assert_eq!(exec_time_ms("20260303 10:15:30 Mars/Olympus"), None);
        // 02:30 on 8 March 2026 does not exist in New York.
        assert_eq!(exec_time_ms("20260308 02:30:00 US/Eastern"), None);
        assert_eq!(exec_time_ms("yesterday"), None);
        assert_eq!(utc_stamp(1_772_550_930_000), "20260303-15:15:30");
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
