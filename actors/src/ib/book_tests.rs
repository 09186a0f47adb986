use super::*;

fn order(id: &str, side: Side, qty: i64) -> Order {
    Order {
        client_order_id: id.into(),
        engine: "KC".into(),
        strategy: "momentum".into(),
        decision_seq: 1,
        symbol: "KCH26".into(),
        side,
        qty: Decimal::from(qty),
        ref_price: Decimal::from(300),
        at_ms: 0,
        limit: None,
    }
}

fn exec(id: &str, qty: i64, price: &str) -> Exec {
    Exec {
        id: id.into(),
        cum: Decimal::ZERO,
        qty: Decimal::from(qty),
        price: price.parse().unwrap(),
        at_ms: 1_000,
        commission: None,
    }
}

const ID: &str = "KC-momentum-1-KCH26";

#[test]
fn an_order_fills_in_parts_each_once_with_its_commission() {
    let mut b = Book::new("KC");
    b.queue(&order(ID, Side::Buy, 3));
    assert_eq!(b.known(ID), Known::Working(vec![]));
    b.placed(ID, 7);
    assert_eq!(
        b.status(7, Status::Live, Decimal::ZERO).as_deref(),
        Some(ID)
    );
    assert!(b.execution(ID, exec("e1.01", 1, "300.05")));
    // The part waits for its commission.
    assert_eq!(b.known(ID), Known::Working(vec![]));
    assert_eq!(
        b.commission("e1.01", "2.5".parse().unwrap()).as_deref(),
        Some(ID)
    );
    let Known::Working(f) = b.known(ID) else {
        panic!()
    };
    assert_eq!(
        (f.len(), f[0].part, f[0].price.to_string()),
        (1, 1, "300.05".into())
    );
    // The same execution again (a reconciliation) is taken once.
    assert!(!b.execution(ID, exec("e1.01", 1, "300.05")));
    // A correction is not taken.
    assert!(!b.execution(ID, exec("e1.02", 1, "300.10")));
    // A commission before its execution waits for it.
    assert_eq!(b.commission("e2.01", "5".parse().unwrap()), None);
    assert!(b.execution(ID, exec("e2.01", 2, "300.10")));
    b.status(7, Status::Filled, Decimal::from(3));
    let Known::Filled(f) = b.known(ID) else {
        panic!("{:?}", b.known(ID))
    };
    assert_eq!(f.iter().map(|f| f.part).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(f[1].commission, Decimal::from(5));
    // A late status does not undo the fill.
    b.status(7, Status::Live, Decimal::from(1));
    assert!(matches!(b.known(ID), Known::Filled(_)));
    assert!(b.open_ids().is_empty());
}

#[test]
fn filled_waits_for_every_part_and_its_commission() {
    let mut b = Book::new("KC");
    b.queue(&order(ID, Side::Sell, 2));
    b.placed(ID, 7);
    b.status(7, Status::Filled, Decimal::from(2));
    assert_eq!(b.known(ID), Known::Working(vec![]));
    b.execution(ID, exec("e1.01", 2, "299"));
    assert_eq!(b.known(ID), Known::Working(vec![]));
    b.commission("e1.01", Decimal::ONE);
    assert!(matches!(b.known(ID), Known::Filled(f) if f.len() == 1));
}

#[test]
fn a_refusal_before_a_fill_rejects_and_a_cancel_ends_with_what_filled() {
    let mut b = Book::new("KC");
    b.queue(&order(ID, Side::Buy, 2));
    b.placed(ID, 7);
    assert_eq!(
        b.error_for(7, 201, "Order rejected - margin").as_deref(),
        Some(ID)
    );
    assert_eq!(
        b.known(ID),
        Known::Rejected("IB error 201: Order rejected - margin".into())
    );
    // IB's "Cancelled" after its refusal keeps the refusal.
    b.status(
        7,
        Status::Ended("cancelled at IB (Cancelled)".into()),
        Decimal::ZERO,
    );
    assert!(matches!(b.known(ID), Known::Rejected(_)));
    assert_eq!(b.error_for(99, 201, "not ours"), None);

    let id = "KC-momentum-2-KCH26";
    b.queue(&order(id, Side::Buy, 4));
    b.placed(id, 8);
    b.execution(id, exec("e3.01", 1, "300"));
    b.commission("e3.01", Decimal::ONE);
    b.status(
        8,
        Status::Ended("cancelled at IB (Cancelled)".into()),
        Decimal::from(1),
    );
    let Known::Ended { fills, why } = b.known(id) else {
        panic!("{:?}", b.known(id))
    };
    assert_eq!(
        (fills.len(), why.as_str()),
        (1, "cancelled at IB (Cancelled)")
    );
    // Ended, but IB's status says 2 filled and one part is missing: working.
    b.status(
        8,
        Status::Ended("cancelled at IB (Cancelled)".into()),
        Decimal::from(2),
    );
    assert!(matches!(b.known(id), Known::Working(_)));
}

#[test]
fn what_ib_never_saw_ends_after_a_reconnect_and_what_it_saw_is_learned() {
    let mut b = Book::new("KC");
    b.queue(&order("KC-m-1-KCH26", Side::Buy, 1));
    b.queue(&order("KC-m-2-KCH26", Side::Buy, 1));
    b.placed("KC-m-2-KCH26", 5);
    b.queue(&order("KC-m-3-KCH26", Side::Buy, 1));
    b.placed("KC-m-3-KCH26", 6);
    // A restart's reconciliation: IB reports an order we never had here.
    b.learn(
        "KC-m-4-KCK26",
        Some(9),
        Learned {
            instrument: "KCK26".into(),
            side: Side::Sell,
            qty: Decimal::ONE,
            status: Some(Status::Live),
            filled: Decimal::ZERO,
        },
    );
    let ended = b.unseen_after_reconnect(&|id| id == "KC-m-3-KCH26" || id == "KC-m-4-KCK26");
    assert_eq!(ended, ["KC-m-1-KCH26", "KC-m-2-KCH26"]);
    assert!(
        matches!(b.known("KC-m-1-KCH26"), Known::Rejected(w) if w.contains("fell before it was written"))
    );
    assert!(matches!(b.known("KC-m-2-KCH26"), Known::Rejected(w) if w.contains("no record")));
    assert_eq!(b.known("KC-m-3-KCH26"), Known::Working(vec![]));
    assert_eq!(b.known("KC-m-4-KCK26"), Known::Working(vec![]));
    assert_eq!(b.get("KC-m-4-KCK26").unwrap().side, Side::Sell);
    // A completed order of an earlier session, known by reference only.
    b.learn(
        "KC-m-5-KCH26",
        None,
        Learned {
            instrument: "KCH26".into(),
            side: Side::Buy,
            qty: Decimal::ONE,
            status: Some(Status::Filled),
            filled: Decimal::ONE,
        },
    );
    b.execution("KC-m-5-KCH26", exec("e9.01", 1, "301"));
    b.commission("e9.01", Decimal::ONE);
    assert!(matches!(b.known("KC-m-5-KCH26"), Known::Filled(_)));
}

#[test]
fn only_this_engines_references_are_its_own() {
    let b = Book::new("KC");
    assert!(b.owns("KC-momentum-12-KCH26"));
    assert!(!b.owns("KC2-momentum-12-KCH26"));
    assert!(!b.owns("CC-momentum-12-CCH26"));
    assert!(!b.owns("KC-manual"));
    assert!(!b.owns(""));
}

#[test]
fn the_book_is_bounded_and_keeps_what_is_open() {
    let mut b = Book::new("KC");
    b.queue(&order("KC-m-0-KCH26", Side::Buy, 1));
    for i in 1..=MAX_ORDERS + 10 {
        let id = format!("KC-m-{i}-KCH26");
        b.queue(&order(&id, Side::Buy, 1));
        b.refuse(&id, "test");
    }
    assert_eq!(b.len(), MAX_ORDERS);
    // The open one stays; the oldest done ones went.
    assert_eq!(b.known("KC-m-0-KCH26"), Known::Working(vec![]));
    assert_eq!(b.known("KC-m-1-KCH26"), Known::Unknown);
}

#[test]
fn parts_are_numbered_by_ibs_cumulative_quantity_whatever_order_they_are_learned_in() {
    let cum = |id: &str, qty: i64, c: i64| Exec {
        cum: Decimal::from(c),
        ..exec(id, qty, "300")
    };
    let parts = |b: &Book| -> Vec<(u32, Decimal)> {
        b.known(ID)
            .fills()
            .iter()
            .map(|f| (f.part, f.qty))
            .collect()
    };
    // Live: in order.
    let mut live = Book::new("KC");
    live.queue(&order(ID, Side::Buy, 6));
    live.placed(ID, 7);
    for (id, q, c) in [("a.01", 1, 1), ("b.01", 2, 3), ("c.01", 3, 6)] {
        live.execution(ID, cum(id, q, c));
        live.commission(id, Decimal::ONE);
    }
    // A restart learns them in another order: the same parts.
    let mut again = Book::new("KC");
    again.learn(
        ID,
        Some(7),
        Learned {
            instrument: "KCH26".into(),
            side: Side::Buy,
            qty: Decimal::from(6),
            status: Some(Status::Filled),
            filled: Decimal::from(6),
        },
    );
    for (id, q, c) in [("c.01", 3, 6), ("a.01", 1, 1), ("b.01", 2, 3)] {
        again.execution(ID, cum(id, q, c));
        again.commission(id, Decimal::ONE);
    }
    assert_eq!(parts(&again), parts(&live));
    assert_eq!(
        parts(&live),
        [
            (1, Decimal::ONE),
            (2, Decimal::from(2)),
            (3, Decimal::from(3))
        ]
    );
}

#[test]
fn a_notice_about_a_live_order_does_not_reject_it_and_ibs_status_overrides_a_refusal() {
    let mut b = Book::new("KC");
    b.queue(&order(ID, Side::Buy, 1));
    b.placed(ID, 7);
    b.status(7, Status::Live, Decimal::ZERO);
    // "Cannot cancel: the order is filled" about a live order: nothing.
    assert_eq!(
        b.error_for(7, 10148, "cannot be cancelled, state: Filled"),
        None
    );
    assert_eq!(b.known(ID), Known::Working(vec![]));
    // A refusal before IB's acknowledgement, then IB says it is live after all.
    let id = "KC-momentum-2-KCH26";
    b.queue(&order(id, Side::Buy, 1));
    b.placed(id, 8);
    assert!(b.error_for(8, 201, "rejected").is_some());
    assert!(matches!(b.known(id), Known::Rejected(_)));
    b.status(8, Status::Live, Decimal::ZERO);
    assert_eq!(b.known(id), Known::Working(vec![]));
}

#[test]
fn parts_that_add_up_fill_the_order_without_ibs_word() {
    let mut b = Book::new("KC");
    b.queue(&order(ID, Side::Buy, 2));
    b.placed(ID, 7);
    b.status(7, Status::Live, Decimal::ZERO);
    b.execution(ID, exec("e1.01", 2, "300"));
    b.commission("e1.01", Decimal::ONE);
    assert!(matches!(b.known(ID), Known::Filled(f) if f.len() == 1));
}

#[test]
fn executions_of_an_order_ib_no_longer_lists_are_learned_and_it_stays_working() {
    let mut b = Book::new("KC");
    let x = Exec {
        cum: Decimal::from(2),
        ..exec("e1.01", 2, "300")
    };
    assert!(b.execution_of_unheard(ID, "KCH26", Side::Sell, x));
    b.commission("e1.01", Decimal::ONE);
    let k = b.known(ID);
    assert!(
        matches!(&k, Known::Working(f) if f.len() == 1 && f[0].side == Side::Sell),
        "{k:?}"
    );
}

#[test]
fn a_gap_in_the_cumulative_quantity_holds_the_later_parts_back() {
    let mut b = Book::new("KC");
    b.queue(&order(ID, Side::Buy, 3));
    b.placed(ID, 7);
    let cum = |id: &str, qty: i64, c: i64| Exec {
        cum: Decimal::from(c),
        ..exec(id, qty, "300")
    };
    // The first execution (1, cum 1) is not heard of yet; the second is.
    b.execution(ID, cum("b.01", 2, 3));
    b.commission("b.01", Decimal::ONE);
    assert_eq!(b.known(ID), Known::Working(vec![]));
    b.execution(ID, cum("a.01", 1, 1));
    b.commission("a.01", Decimal::ONE);
    let k = b.known(ID);
    assert_eq!(
        k.fills()
            .iter()
            .map(|f| (f.part, f.qty))
            .collect::<Vec<_>>(),
        [(1, Decimal::ONE), (2, Decimal::from(2))]
    );
}
