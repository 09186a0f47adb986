//! The calendar file: the embedded one is valid and what the contracts use,
//! and every kind of mistake in a file is named with its entry.

use super::*;

const GOOD: &str = r#"
years = [2026, 2026]
[hours]
KC = { open = "04:15", close = "13:30" }
CC = { open = "04:45", close = "13:30" }
[delivery]
KC = { months = "HKNUZ", first_notice_business_days = 7 }
CC = { months = "HKNUZ", first_notice_business_days = 10 }
[[holidays]]
date = "2026-04-03"
name = "Good Friday"
[[early_closes]]
date = "2026-11-27"
close = "12:00"
symbols = ["KC"]
name = "Day after Thanksgiving"
"#;

fn d(y: i64, m: i64, dd: i64) -> i64 {
    days_from_civil(y, m, dd)
}

#[test]
fn the_embedded_calendar_is_valid_and_covers_the_bundled_data() {
    let c = Calendar::parse(EMBEDDED).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(&c, calendar());
    // The bundled bars are from January 2026.
    assert_eq!(
        c.session("KC", d(2026, 1, 5)),
        Ok((4 * 60 + 15, 13 * 60 + 30))
    );
    assert_eq!(
        c.session("CC", d(2026, 1, 5)),
        Ok((4 * 60 + 45, 13 * 60 + 30))
    );
    assert_eq!(c.holiday(d(2026, 12, 25)), Some("Christmas Day"));
}

#[test]
fn sessions_know_weekends_holidays_early_closes_and_uncovered_years() {
    let c = Calendar::parse(GOOD).unwrap();
    assert_eq!(
        c.session("KC", d(2026, 4, 3)),
        Err("KC is closed: Good Friday".into())
    );
    assert_eq!(
        c.session("KC", d(2026, 4, 4)),
        Err("KC is closed at the weekend".into())
    );
    assert_eq!(
        c.session("KC", d(2026, 11, 27)),
        Ok((255, 720)),
        "early close"
    );
    assert_eq!(
        c.session("CC", d(2026, 11, 27)),
        Ok((285, 810)),
        "the early close is KC's only"
    );
    let out = c.session("KC", d(2027, 1, 4)).unwrap_err();
    assert!(out.contains("does not cover 2027"), "{out}");
}

#[test]
fn every_mistake_is_named_with_its_entry() {
    let bad = r#"
years = [2026, 2026]
[hours]
KC = { open = "13:30", close = "04:15" }
XX = { open = "04:00", close = "05:00" }
[delivery]
KC = { months = "HKNUZ", first_notice_business_days = 0 }
CC = { months = "KHZ", first_notice_business_days = 10 }
YY = { months = "H", first_notice_business_days = 1 }
[[holidays]]
date = "2026-02-30"
name = "no such day"
[[holidays]]
date = "2027-01-01"
name = "outside"
[[holidays]]
date = "2026-04-04"
name = "a Saturday"
[[holidays]]
date = "2026-04-03"
name = "Good Friday"
[[holidays]]
date = "2026-04-03"
name = "Good Friday again"
[[early_closes]]
date = "2026-04-03"
close = "12:00"
[[early_closes]]
date = "2026-11-27"
close = "3pm"
[[early_closes]]
date = "2026-11-30"
close = "12:00"
symbols = ["ZZ"]
"#;
    let errors = Calendar::parse(bad).unwrap_err();
    let want = [
        "hours.KC: open 13:30 is not before close 04:15",
        "hours.XX: unknown contract",
        "hours.CC: missing",
        "holidays[0] (2026-02-30): date must be an existing YYYY-MM-DD",
        "holidays[1] (2027-01-01): outside years [2026, 2026]",
        "holidays[2] (2026-04-04): falls on a weekend",
        "holidays[4] (2026-04-03): listed twice",
        "early_closes[0] (2026-04-03): the market is closed all that day",
        "early_closes[1] (2026-11-27): close \"3pm\" must be \"HH:MM\"",
        "early_closes[2] (2026-11-30): unknown contracts",
        "delivery.KC: first_notice_business_days 0 must be 1 to 30",
        "delivery.CC: months \"KHZ\" must be month codes",
        "delivery.YY: unknown contract",
    ];
    for w in want {
        assert!(
            errors.iter().any(|e| e.contains(w)),
            "no {w:?} in {errors:#?}"
        );
    }
    assert_eq!(errors.len(), want.len(), "{errors:#?}");

    let syntax = Calendar::parse("years = [2026]").unwrap_err();
    assert_eq!(syntax.len(), 1, "{syntax:?}");
    let unknown = Calendar::parse(&GOOD.replace("years", "yeers")).unwrap_err();
    assert!(unknown[0].contains("yeers"), "{unknown:?}");
    let years = Calendar::parse(&GOOD.replace("[2026, 2026]", "[2027, 2026]")).unwrap_err();
    assert!(years[0].contains("years"), "{years:?}");
}

#[test]
fn an_early_close_outside_the_session_is_refused() {
    let late = GOOD.replace("close = \"12:00\"", "close = \"14:00\"");
    let e = Calendar::parse(&late).unwrap_err();
    assert!(e[0].contains("not inside the session"), "{e:?}");
}

#[test]
fn first_notice_roll_and_front_month_follow_business_days() {
    let c = calendar();
    let h26 = ContractMonth {
        year: 2026,
        month: 3,
    };
    assert_eq!(h26.label("KC"), "KCH26");
    assert_eq!(ContractMonth::parse("KCH26"), Some(("KC".into(), h26)));
    for bad in ["KCA26", "KC", "H26", "KCHxx", "KCH2"] {
        assert_eq!(ContractMonth::parse(bad), None, "{bad}");
    }
    // March 2026's first business day is Monday the 2nd. KC: seven business
    // days before, Thursday 19 February; CC: ten, skipping Presidents' Day
    // (16 February), Friday the 13th.
    assert_eq!(c.first_notice_day("KC", h26), Some(d(2026, 2, 19)));
    assert_eq!(c.first_notice_day("CC", h26), Some(d(2026, 2, 13)));
    assert_eq!(
        c.first_notice_day(
            "KC",
            ContractMonth {
                year: 2026,
                month: 4
            }
        ),
        None,
        "April is not listed"
    );
    // Rolled five business days before: 11 February (the holiday skipped).
    assert_eq!(c.roll_day("KC", h26, 5), Some(d(2026, 2, 11)));
    let k26 = ContractMonth {
        year: 2026,
        month: 5,
    };
    assert_eq!(c.front_month("KC", d(2026, 1, 5), 5), Some(h26));
    assert_eq!(c.front_month("KC", d(2026, 2, 10), 5), Some(h26));
    assert_eq!(
        c.front_month("KC", d(2026, 2, 11), 5),
        Some(k26),
        "roll day"
    );
    // December 2026 rolled on 12 November (Thanksgiving skipped): on
    // 1 December the front is March 2027.
    let z26 = ContractMonth {
        year: 2026,
        month: 12,
    };
    assert_eq!(c.roll_day("KC", z26, 5), Some(d(2026, 11, 12)));
    assert_eq!(
        c.front_month("KC", d(2026, 12, 1), 5),
        Some(ContractMonth {
            year: 2027,
            month: 3
        })
    );
    assert_eq!(c.next_month("KC", z26).unwrap().label("KC"), "KCH27");
    // Past the calendar's years: no front month rather than a guess.
    assert_eq!(c.front_month("KC", d(2028, 12, 1), 5), None);
}
