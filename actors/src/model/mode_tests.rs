//! The tiers and the controller's hysteresis, without actors.

use super::*;

#[test]
fn choices_parse() {
    let t = Tiers::default();
    assert_eq!(t.choice("auto"), Ok(ModeChoice::Auto));
    assert_eq!(t.choice("MINI"), Ok(ModeChoice::Fixed(Tier::MINI)));
    assert_eq!(
        t.choice("mini").unwrap_err(),
        "unknown mode \"mini\": use one of NANO, MICRO, MINI, BALANCED or auto"
    );
}

#[test]
fn choosing_and_encoding() {
    let s = ModeState::initial(0);
    assert_eq!(s.chosen(ModeChoice::Auto, 1), None, "already auto");
    let m = s.chosen(ModeChoice::Fixed(Tier::MICRO), 2).unwrap();
    assert_eq!((m.current, m.auto), (Tier::MICRO, false));
    assert_eq!(m.encode(), "manual:MICRO");
    let tiers = Tiers::default();
    assert_eq!(ModeState::decode(&m.encode(), 2, &tiers), Ok(m.clone()));
    let a = m.chosen(ModeChoice::Auto, 3).unwrap();
    assert_eq!((a.current, a.auto), (Tier::MICRO, true));
    assert!(matches!(
        ModeState::decode("sometimes:NANO", 0, &tiers),
        Err(DecodeError::Corrupt(_))
    ));
    assert_eq!(
        ModeState::decode("manual:HUGE", 0, &tiers),
        Err(DecodeError::Unknown {
            name: "HUGE".into(),
            auto: false
        })
    );
    assert!(matches!(
        ModeState::decode("NANO", 0, &tiers),
        Err(DecodeError::Corrupt(_))
    ));
}

fn d(units: i64, scale: u32) -> Decimal {
    Decimal::new(units, scale)
}

#[test]
fn defaults_are_valid_and_match_the_tier_limits() {
    let t = Tiers::default();
    assert_eq!(t.validate(), Ok(()));
    for (tier, open) in [
        (Tier::NANO, 2),
        (Tier::MICRO, 3),
        (Tier::MINI, 4),
        (Tier::BALANCED, 6),
    ] {
        assert_eq!(t.params(tier).tier, tier);
        assert_eq!(t.params(tier).max_open_positions, open);
    }
    assert_eq!(t.lowest(), Tier::NANO);
    assert_eq!(t.params(Tier::MINI).threshold, Decimal::from(50_000));
}

#[test]
fn walking_across_the_micro_threshold_has_hysteresis() {
    let t = Tiers::default();
    // Up into MICRO at 10,000 × (1 + 0.10) = 11,000.
    assert_eq!(t.next_tier(Tier::NANO, d(10_999, 0)), Tier::NANO);
    assert_eq!(t.next_tier(Tier::NANO, d(1_099_999, 2)), Tier::NANO);
    assert_eq!(t.next_tier(Tier::NANO, d(11_000, 0)), Tier::MICRO);
    // Down out of MICRO below 10,000 × (1 − 0.20) = 8,000.
    assert_eq!(t.next_tier(Tier::MICRO, d(10_999, 0)), Tier::MICRO);
    assert_eq!(t.next_tier(Tier::MICRO, d(8_001, 0)), Tier::MICRO);
    assert_eq!(
        t.next_tier(Tier::MICRO, d(8_000, 0)),
        Tier::MICRO,
        "not below"
    );
    assert_eq!(t.next_tier(Tier::MICRO, d(799_999, 2)), Tier::NANO);
    // NANO's threshold is 0: nothing is below it.
    assert_eq!(t.next_tier(Tier::NANO, d(1, 2)), Tier::NANO);
    assert_eq!(t.next_tier(Tier::NANO, d(-500, 0)), Tier::NANO);
}

#[test]
fn oscillating_equity_never_flaps() {
    let t = Tiers::default();
    // 9,000 .. 10,500 lies between 8,000 (down out of MICRO) and 11,000 (up
    // into MICRO): from either tier, nothing changes.
    let walk = [9_000, 10_500, 9_000, 10_000, 9_500, 10_500, 9_000, 10_499];
    for start in [Tier::NANO, Tier::MICRO] {
        let mut cur = start;
        for e in walk {
            cur = t.next_tier(cur, Decimal::from(e));
            assert_eq!(cur, start, "at {e}");
        }
    }
}

#[test]
fn large_moves_cross_several_tiers_at_once() {
    let t = Tiers::default();
    // 300,000 >= 250,000 × 1.10 = 275,000: straight to BALANCED.
    assert_eq!(t.next_tier(Tier::NANO, d(300_000, 0)), Tier::BALANCED);
    // 60,000 >= 50,000 × 1.10 = 55,000 but < 275,000: MINI.
    assert_eq!(t.next_tier(Tier::NANO, d(60_000, 0)), Tier::MINI);
    // 54,999 < 55,000: MICRO only.
    assert_eq!(t.next_tier(Tier::NANO, d(54_999, 0)), Tier::MICRO);
    // 5,000 < 250,000 × 0.80, < 50,000 × 0.80, < 10,000 × 0.80 = 8,000: NANO.
    assert_eq!(t.next_tier(Tier::BALANCED, d(5_000, 0)), Tier::NANO);
    // 30,000 < 40,000 (out of MINI) but >= 8,000 (MICRO stays): MICRO.
    assert_eq!(t.next_tier(Tier::BALANCED, d(30_000, 0)), Tier::MICRO);
    // 210,000 >= 200,000 (250,000 × 0.80): BALANCED stays.
    assert_eq!(t.next_tier(Tier::BALANCED, d(210_000, 0)), Tier::BALANCED);
}

#[test]
fn reasons_name_the_rule() {
    let t = Tiers::default();
    assert_eq!(
        t.reason(Tier::NANO, Tier::MICRO, d(11_000, 0)),
        "auto: equity $11000.00 >= MICRO threshold $10000 × 1.10"
    );
    assert_eq!(
        t.reason(Tier::MICRO, Tier::NANO, d(799_999, 2)),
        "auto: equity $7999.99 < MICRO threshold $10000 × 0.80"
    );
    // Several tiers down: the last rule was leaving MICRO.
    assert_eq!(
        t.reason(Tier::BALANCED, Tier::NANO, d(5_000, 0)),
        "auto: equity $5000.00 < MICRO threshold $10000 × 0.80"
    );
    // Truncated, not rounded: 7,999.999 must not read as 8,000.00.
    assert!(t
        .reason(Tier::MICRO, Tier::NANO, d(7_999_999, 3))
        .contains("$7999.99 <"));
}

#[test]
fn validate_catches_bad_tiers() {
    let err = |t: &Tiers| t.validate().unwrap_err();
    let mut t = Tiers::default();
    t.tiers[2].threshold = Decimal::from(5_000);
    let (key, what) = err(&t);
    assert_eq!(key, "tiers.threshold");
    assert!(what.contains("thresholds must rise"), "{what}");

    let mut t = Tiers::default();
    t.tiers[0].threshold = Decimal::from(100);
    assert!(err(&t).1.contains("lowest tier (NANO) starts at 0"));

    let mut t = Tiers::default();
    t.tiers[1].size_factor = Decimal::ZERO;
    let (key, what) = err(&t);
    assert_eq!(key, "tiers.size_factor");
    assert!(what.contains("MICRO's size_factor"), "{what}");

    let mut t = Tiers::default();
    t.tiers[3].strategies.push("Arbitrage".into());
    let what = err(&t).1;
    assert!(
        what.contains("\"Arbitrage\" is not a strategy name"),
        "{what}"
    );
    assert!(what.contains("list strategy kinds"), "{what}");
    // A well-formed name is the configuration's to know (`tier_strategies_known`).
    let mut t = Tiers::default();
    t.tiers[3].strategies.push("arbitrage".into());
    assert_eq!(t.validate(), Ok(()));

    let mut t = Tiers::default();
    t.tiers[3].strategies = vec!["news".into(), "news".into()];
    assert!(err(&t).1.contains("twice"));

    let mut t = Tiers::default();
    t.tiers[0].strategies.clear();
    assert_eq!(t.validate(), Ok(()), "a tier may trade nothing");

    let mut t = Tiers::default();
    t.tiers[0].max_open_positions = 0;
    assert!(t.validate().is_err());

    let mut t = Tiers::default();
    t.tiers.swap(0, 1);
    assert!(err(&t).1.contains("starts at 0"), "out of order");

    let mut t = Tiers::default();
    t.tiers[2].tier = Tier::MICRO;
    assert_eq!(err(&t), ("tiers.name", "tier MICRO is listed twice".into()));

    let mut t = Tiers::default();
    t.tiers.clear();
    assert!(err(&t).1.contains("needs 1 to 16 tiers"));
    let mut t = Tiers::default();
    let p = t.tiers[3].clone();
    for i in 0..13 {
        let mut q = p.clone();
        q.threshold += Decimal::from(i + 1);
        t.tiers.push(q);
    }
    assert!(err(&t).1.contains("got 17"));

    let t = Tiers {
        up_margin: Decimal::ONE,
        ..Tiers::default()
    };
    assert_eq!(err(&t).0, "up_margin");
    let t = Tiers {
        down_margin: Decimal::from(-1),
        ..Tiers::default()
    };
    assert_eq!(err(&t).0, "down_margin");
}

#[test]
fn tier_names_are_checked_and_compare_by_name() {
    for bad in ["", "auto", "micro", "1X", "A-B", &"X".repeat(33)] {
        assert!(Tier::check_name(bad).is_err(), "{bad:?}");
    }
    for good in ["SEED", "GROWTH_2", "X"] {
        assert_eq!(Tier::check_name(good), Ok(()));
    }
    assert_eq!(Tier::named("MICRO"), Tier::MICRO);
    let a = Tier::named("GROWTH");
    assert_eq!(a, Tier::named("GROWTH"));
    assert_eq!(a.as_str(), "GROWTH");
    assert_eq!(serde_json::to_string(&a).unwrap(), "\"GROWTH\"");
}

#[test]
fn three_configured_tiers_move_with_the_same_hysteresis() {
    let tier = |name: &str, threshold: i64| TierParams {
        tier: Tier::named(name),
        threshold: Decimal::from(threshold),
        size_factor: Decimal::ONE,
        max_open_positions: 2,
        strategies: vec!["news".into()],
    };
    let t = Tiers {
        tiers: vec![
            tier("SEED", 0),
            tier("GROWTH", 100_000),
            tier("FULL", 1_000_000),
        ],
        ..Tiers::default()
    };
    assert_eq!(t.validate(), Ok(()));
    let (seed, growth, full) = (
        Tier::named("SEED"),
        Tier::named("GROWTH"),
        Tier::named("FULL"),
    );
    assert_eq!(t.lowest(), seed);
    // Up into GROWTH at 110,000; down out of it below 80,000.
    assert_eq!(t.next_tier(seed, d(109_999, 0)), seed);
    assert_eq!(t.next_tier(seed, d(110_000, 0)), growth);
    assert_eq!(t.next_tier(growth, d(80_000, 0)), growth);
    assert_eq!(t.next_tier(growth, d(79_999, 0)), seed);
    assert_eq!(t.next_tier(seed, d(2_000_000, 0)), full);
    assert_eq!(
        t.reason(full, seed, d(10, 0)),
        "auto: equity $10.00 < GROWTH threshold $100000 × 0.80"
    );
    assert_eq!(t.choice("GROWTH"), Ok(ModeChoice::Fixed(growth)));
    assert!(t
        .choice("MICRO")
        .unwrap_err()
        .contains("SEED, GROWTH, FULL or auto"));
}
