//! Contracts, sessions, holidays, positions and client order ids, without
//! actors.

use super::*;
use crate::model::Position;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn the_calendar_has_the_published_us_exchange_holidays() {
    let day = |y, m, d| days_from_civil(y, m, d);
    let us_exchange_holiday = |d| super::super::calendar::calendar().holiday(d);
    // The 2026 and 2027 closures, as published by the exchanges.
    let closed = [
        ((2026, 1, 1), "New Year's Day"),
        ((2026, 1, 19), "Martin Luther King Jr. Day"),
        ((2026, 2, 16), "Washington's Birthday"),
        ((2026, 4, 3), "Good Friday"),
        ((2026, 5, 25), "Memorial Day"),
        ((2026, 6, 19), "Juneteenth"),
        ((2026, 7, 3), "Independence Day"), // the 4th is a Saturday
        ((2026, 9, 7), "Labor Day"),
        ((2026, 11, 26), "Thanksgiving Day"),
        ((2026, 12, 25), "Christmas Day"),
        ((2027, 1, 1), "New Year's Day"),
        ((2027, 1, 18), "Martin Luther King Jr. Day"),
        ((2027, 2, 15), "Washington's Birthday"),
        ((2027, 3, 26), "Good Friday"), // Easter on 28 March
        ((2027, 5, 31), "Memorial Day"),
        ((2027, 6, 18), "Juneteenth"),      // the 19th is a Saturday
        ((2027, 7, 5), "Independence Day"), // the 4th is a Sunday
        ((2027, 9, 6), "Labor Day"),
        ((2027, 11, 25), "Thanksgiving Day"),
        ((2027, 12, 24), "Christmas Day"), // the 25th is a Saturday
    ];
    for ((y, m, d), name) in closed {
        assert_eq!(us_exchange_holiday(day(y, m, d)), Some(name), "{y}-{m}-{d}");
    }
    let weekdays_2026_2027 = (day(2026, 1, 1)..day(2028, 1, 1))
        .filter(|&d| weekday(d) < 5 && us_exchange_holiday(d).is_some())
        .count();
    assert_eq!(weekdays_2026_2027, closed.len(), "no other weekday closed");
    // New Year's Day 2028 is a Saturday: 31 December 2027 stays open.
    assert_eq!(us_exchange_holiday(day(2027, 12, 31)), None);
    assert_eq!(civil_from_days(day(2024, 2, 29)), (2024, 2, 29));

    let kc = contract("KC").unwrap();
    // Good Friday 2026, 12:00 UTC = 08:00 in New York, within the hours.
    let good_friday_noon = day(2026, 4, 3) as u64 * 86_400_000 + 12 * 3_600_000;
    assert_eq!(
        kc.why_closed(good_friday_noon).as_deref(),
        Some("KC is closed: Good Friday")
    );
    assert!(
        kc.is_open(good_friday_noon - 86_400_000),
        "the Thursday before"
    );
}

#[test]
fn sessions_follow_the_contract_hours_on_weekdays() {
    let kc = contract("KC").unwrap();
    // 2026-01-05 is a Monday.
    let monday = 1_767_571_200_000u64; // 2026-01-05T00:00:00Z
    let at = |h: u64, m: u64| monday + (h * 3600 + m * 60) * 1000;
    assert!(!kc.is_open(at(9, 14)));
    assert!(kc.is_open(at(9, 15)));
    assert!(kc.is_open(at(18, 29)));
    assert!(!kc.is_open(at(18, 30)));
    assert!(!kc.is_open(at(12, 0) + 5 * 86_400_000), "Saturday");
    assert!(contract("CC").unwrap().is_open(at(9, 45)));
    assert!(contract("ZZ").is_none());
    // Summer: New York is UTC-4, so the session is an hour earlier in UTC.
    let july6 = (days_from_civil(2026, 7, 6) * 86_400_000) as u64; // a Monday
    assert_eq!(weekday(days_from_civil(2026, 7, 6)), 0);
    let jat = |h: u64, m: u64| july6 + (h * 3600 + m * 60) * 1000;
    assert!(kc.is_open(jat(8, 15)), "04:15 EDT");
    assert!(!kc.is_open(jat(8, 14)));
    assert!(kc.is_open(jat(17, 29)));
    assert!(!kc.is_open(jat(17, 30)), "13:30 EDT");
    assert_eq!(kc.minutes_to_close(jat(17, 15)).map(|m| m.0), Some(15));
}

#[test]
fn new_york_switches_to_daylight_time_on_the_us_dates() {
    // 2026: 8 March 07:00 UTC to 1 November 06:00 UTC.
    let d = |y, m, day, h: i64| ((days_from_civil(y, m, day) * 24 + h) * 3_600_000) as u64;
    assert_eq!(new_york_offset_min(d(2026, 3, 8, 6)), -300);
    assert_eq!(new_york_offset_min(d(2026, 3, 8, 7)), -240);
    assert_eq!(new_york_offset_min(d(2026, 11, 1, 5)), -240);
    assert_eq!(new_york_offset_min(d(2026, 11, 1, 6)), -300);
    // 2027: 14 March and 7 November.
    assert_eq!(new_york_offset_min(d(2027, 3, 14, 7)), -240);
    assert_eq!(new_york_offset_min(d(2027, 3, 13, 12)), -300);
    assert_eq!(new_york_offset_min(d(2027, 11, 7, 5)), -240);
    assert_eq!(new_york_offset_min(d(2027, 11, 7, 6)), -300);
    // Before 2007: the first Sunday of April to the last Sunday of October.
    assert_eq!(new_york_offset_min(d(2006, 3, 20, 12)), -300);
    assert_eq!(new_york_offset_min(d(2006, 4, 2, 6)), -300);
    assert_eq!(new_york_offset_min(d(2006, 4, 2, 7)), -240);
    assert_eq!(new_york_offset_min(d(2006, 10, 29, 5)), -240);
    assert_eq!(new_york_offset_min(d(2006, 10, 29, 6)), -300);
    assert_eq!(new_york_offset_min(d(2006, 11, 1, 12)), -300);
    assert_eq!(days_from_civil(2026, 1, 5), 20_458);
    assert_eq!(civil_from_days(20_458).0, 2026);
    assert_eq!(civil_from_days(days_from_civil(2024, 12, 31)).0, 2024);
}

#[test]
fn positions_average_realize_and_flip() {
    let kc = contract("KC").unwrap();
    let mut p = Position::default();
    assert_eq!(p.apply(Side::Buy, d("2"), d("300.00"), &kc), d("0"));
    assert_eq!(p.apply(Side::Buy, d("2"), d("302.00"), &kc), d("0"));
    assert_eq!((p.qty, p.avg_price()), (d("4"), d("301")));
    // Sell 1 at 303, FIFO: closes one lot bought at 300: 3 cents × $375 = $1,125.
    assert_eq!(p.apply(Side::Sell, d("1"), d("303.00"), &kc), d("1125"));
    assert_eq!(p.qty, d("3"));
    // Sell 5 at 300: closes 1 @ 300 (0) and 2 @ 302 (-2 cents × 2 × $375 =
    // -$1,500), opens 2 short at 300.
    assert_eq!(p.apply(Side::Sell, d("5"), d("300.00"), &kc), d("-1500"));
    assert_eq!((p.qty, p.avg_price()), (d("-2"), d("300")));
    assert_eq!(
        p.unrealized(d("299.00"), &kc),
        d("750"),
        "short gains when price falls"
    );
    assert_eq!(p.apply(Side::Buy, d("2"), d("299.50"), &kc), d("375"));
    assert_eq!(p, Position::default());
    // Thirds stay exact: no average is ever divided into PnL.
    let mut p = Position::default();
    for price in ["300.05", "300.10", "300.20"] {
        p.apply(Side::Buy, d("1"), d(price), &kc);
    }
    // (0.10 + 0.05 - 0.05) cents × $375 = $37.50.
    assert_eq!(p.apply(Side::Sell, d("3"), d("300.15"), &kc), d("37.50"));
    p.apply(Side::Buy, d("3"), d("300.05"), &kc);
    p.apply(Side::Buy, d("3"), d("300.10"), &kc);
    assert_eq!(p.avg_price(), d("300.075"));
}

#[test]
fn client_order_ids_are_deterministic_and_name_their_month() {
    assert_eq!(
        client_order_id("KC", "news", 42, "KCH26"),
        "KC-news-00000042-KCH26"
    );
    assert_eq!(
        client_order_id("KC", "news", 42, "KCH26"),
        client_order_id("KC", "news", 42, "KCH26")
    );
}

#[test]
fn an_instrument_names_its_contract_and_month() {
    use crate::model::calendar::ContractMonth;
    assert_eq!(root("KCH26"), "KC");
    assert_eq!(root("KC"), "KC");
    assert_eq!(root("ZZH26"), "ZZH26", "not a contract of ours");
    assert_eq!(
        month_of("CCK26"),
        Some(ContractMonth {
            year: 2026,
            month: 5
        })
    );
    assert_eq!(month_of("CC"), None);
    assert_eq!(contract("KCH26").unwrap().symbol, "KC");
}

#[test]
fn the_front_month_rolls_five_business_days_before_first_notice() {
    // KCH26: first notice Thursday 19 February 2026 (seven business days
    // before Monday 2 March); five business days before it is Wednesday
    // 11 February (Monday 16 February is Washington's Birthday).
    let kc = contract("KC").unwrap();
    let at = |date: &str| crate::engine::data::parse_utc(date).unwrap();
    assert_eq!(kc.front(at("2026-02-10T15:00:00Z"), 5), "KCH26");
    assert_eq!(kc.front(at("2026-02-11T09:15:00Z"), 5), "KCK26");
    // Cocoa's first notice is ten business days before: Friday 13 February,
    // so it rolled on Friday 6 February.
    let cc = contract("CC").unwrap();
    assert_eq!(cc.front(at("2026-02-05T15:00:00Z"), 5), "CCH26");
    assert_eq!(cc.front(at("2026-02-06T15:00:00Z"), 5), "CCK26");
    // A bar of the front month is the front's; another month's is not; a
    // bare symbol is the front series.
    assert!(kc.is_front("KCK26", at("2026-02-11T15:00:00Z"), 5));
    assert!(!kc.is_front("KCH26", at("2026-02-11T15:00:00Z"), 5));
    assert!(kc.is_front("KC", at("2026-02-11T15:00:00Z"), 5));
    // Past the calendar: no front month, the bare symbol.
    assert_eq!(kc.front(at("2031-01-06T15:00:00Z"), 5), "KC");
}

#[test]
fn the_front_month_worked_out_once_a_day_is_the_calendars_at_every_time() {
    // Every 20 minutes over a year: roll days, holidays, both clock changes.
    let kc = contract("KC").unwrap();
    let mut once_a_day = FrontMonth::new(kc.clone(), 5);
    let start = crate::engine::data::parse_utc("2026-01-01T00:00:00Z").unwrap();
    let mut changes = 0;
    let mut last = String::new();
    for i in 0..(366 * 72) {
        let at = start + i * 1_200_000;
        let cached = once_a_day.at(at).to_owned();
        assert_eq!(cached, kc.front(at, 5), "at {at}");
        if cached != last {
            changes += 1;
            last = cached;
        }
    }
    assert_eq!(
        changes, 6,
        "the first, then a roll into each of the five months"
    );
    assert!(once_a_day.is_front("KC", start));
    assert!(!once_a_day.is_front("KCZ26", start));
}
