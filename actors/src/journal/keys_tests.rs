use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn every_key_keeps_its_name_and_reads_back() {
    let keys = [
        (StateKey::RiskLevel, "risk.level"),
        (StateKey::AccountPeak, "account.peak"),
        (StateKey::AccountCapital, "account.capital"),
        (StateKey::Mode, "mode"),
        (StateKey::EnginePaused("KC"), "engine.KC.paused"),
        (StateKey::EngineStopped("KC"), "engine.KC.stopped"),
        (StateKey::EngineBreaker("es-1_b"), "engine.es-1_b.breaker"),
        (StateKey::EngineGuard("NQ2"), "engine.NQ2.guard"),
        (StateKey::EngineCapital("KC"), "engine.KC.capital"),
        (StateKey::EngineRoll("KC"), "engine.KC.roll"),
        (StateKey::NotifierCursor, "notifier.cursor"),
        (StateKey::NotifierMilestone, "notifier.milestone"),
        (StateKey::JournalWriteCheck, "journal.write_check"),
        (StateKey::ReconcileLast, "reconcile.last"),
        (StateKey::JournalArchivedBefore, "journal.archived_before"),
    ];
    for (key, name) in keys {
        assert_eq!(key.name(), name);
        assert_eq!(key.to_string(), name);
        assert_eq!(StateKey::parse(name), Some(key), "{name}");
    }
    for what in EngineState::ALL {
        assert_eq!(what.key("KC").engine(), Some(("KC", what)));
    }
}

#[test]
fn names_no_build_writes_are_no_key() {
    for name in [
        "",
        "risk",
        "engine_x",
        "engine.",
        "engine..paused",
        "engine.KC",
        "engine.KC.open",
        "engine.K.C.paused",
        "engine.K C.paused",
        "mode ",
        "cursor",
    ] {
        assert_eq!(StateKey::parse(name), None, "{name:?}");
    }
}

#[test]
fn the_level_reads_and_writes_its_name() {
    for l in RiskLevel::ALL {
        let s = LevelRecord(l).encode();
        assert_eq!(s, l.as_str());
        assert_eq!(LevelRecord::decode(&s), Ok(LevelRecord(l)));
    }
    assert_eq!(
        LevelRecord::decode("HALT"),
        Ok(LevelRecord(RiskLevel::Halt))
    );
    let err = LevelRecord::decode("halt").unwrap_err();
    assert!(err.contains("unknown risk level \"halt\""), "{err}");
}

#[test]
fn decimals_and_the_cursor_read_as_today() {
    for s in ["102000.5", "100000", "0", "1e3x"] {
        match DecimalRecord::decode(s) {
            Some(r) => assert_eq!(r.encode(), s),
            None => assert_eq!(s, "1e3x"),
        }
    }
    assert_eq!(DecimalRecord::decode(""), None);
    assert_eq!(CursorRecord::decode("42"), Some(CursorRecord(42)));
    assert_eq!(CursorRecord(42).encode(), "42");
    assert_eq!(CursorRecord::decode("-1"), None);
    assert_eq!(CursorRecord::decode("x"), None);
    assert_eq!(WriteCheckRecord.encode(), "ok");
}

#[test]
fn the_paused_flag_is_true_or_false() {
    assert_eq!(FlagRecord::decode("true"), Ok(FlagRecord(true)));
    assert_eq!(FlagRecord::decode("false"), Ok(FlagRecord(false)));
    assert_eq!(FlagRecord(true).encode(), "true");
    assert_eq!(FlagRecord(false).encode(), "false");
    assert_eq!(
        FlagRecord::decode("yes"),
        Err("\"yes\" is neither true nor false".to_owned())
    );
    assert!(FlagRecord::decode("True").is_err());
}

#[test]
fn the_breaker_reads_what_earlier_builds_wrote() {
    for (s, rec) in [
        (
            "open:1700000000000:3",
            BreakerRecord {
                opened_at_ms: Some(1_700_000_000_000),
                opens: 3,
            },
        ),
        (
            "closed:4",
            BreakerRecord {
                opened_at_ms: None,
                opens: 4,
            },
        ),
        (
            "closed:0",
            BreakerRecord {
                opened_at_ms: None,
                opens: 0,
            },
        ),
    ] {
        assert_eq!(BreakerRecord::decode(s), Some(rec), "{s}");
        assert_eq!(rec.encode(), s);
    }
    for refused in [
        "ajar",
        "open:x:1",
        "open:1",
        "closed",
        "closed:1:2",
        "closed:-1",
        "half_open:1:2",
        "",
    ] {
        assert_eq!(BreakerRecord::decode(refused), None, "{refused}");
    }
}

#[test]
fn guard_marks_read_what_earlier_builds_wrote() {
    let rec = GuardMarks {
        day: Some((3, d("100000"))),
        peak: d("100000"),
        asked: RiskLevel::Warning,
        applied: false,
    };
    assert_eq!(GuardMarks::decode("3:100000:100000:WARNING:0"), Some(rec));
    assert_eq!(rec.encode(), "3:100000:100000:WARNING:0");
    let fresh = GuardMarks {
        day: None,
        peak: Decimal::ZERO,
        asked: RiskLevel::Normal,
        applied: true,
    };
    assert_eq!(GuardMarks::decode("-:-:0:NORMAL:1"), Some(fresh));
    assert_eq!(fresh.encode(), "-:-:0:NORMAL:1");
    let frac = "20453:91800.25:102000.5:HALT:1";
    assert_eq!(GuardMarks::decode(frac).unwrap().encode(), frac);
    // Any applied flag but 1 reads as not applied, as it always did.
    assert!(!GuardMarks::decode("3:1:1:HALT:2").unwrap().applied);
    for refused in [
        "3:x:1:NORMAL:1",
        "nonsense",
        "-:5:1:NORMAL:1",
        "3:-:1:NORMAL:1",
        "3:1:1:LOW:1",
        "3:1:1:NORMAL:x",
        "3:1:1:NORMAL",
        "3:1:1:NORMAL:1:9",
        "3:1:y:NORMAL:1",
    ] {
        assert_eq!(GuardMarks::decode(refused), None, "{refused}");
    }
}

#[test]
fn the_mode_reads_what_earlier_builds_wrote() {
    for (s, auto, tier) in [
        ("auto:NANO", true, "NANO"),
        ("manual:MICRO", false, "MICRO"),
    ] {
        let rec = ModeRecord {
            auto,
            tier: tier.to_owned(),
        };
        assert_eq!(ModeRecord::decode(s), Ok(rec.clone()));
        assert_eq!(rec.encode(), s);
    }
    // A tier the configuration lacks is the mode's question: it reads here.
    assert_eq!(
        ModeRecord::decode("manual:HUGE").map(|r| r.tier),
        Ok("HUGE".to_owned())
    );
    assert_eq!(
        ModeRecord::decode("NANO"),
        Err("mode \"NANO\" is not <auto|manual>:<TIER>".to_owned())
    );
    assert_eq!(
        ModeRecord::decode("sometimes:NANO"),
        Err("mode \"sometimes:NANO\": \"sometimes\" is neither auto nor manual".to_owned())
    );
}

#[test]
fn the_last_reconciliation_is_day_time_and_equity() {
    let r = ReconcileRecord {
        day: 20_458,
        at_ms: 1_767_640_500_000,
        equity: d("501234.5"),
    };
    assert_eq!(r.encode(), "20458:1767640500000:501234.5");
    assert_eq!(
        ReconcileRecord::decode("20458:1767640500000:501234.5"),
        Some(r)
    );
    for bad in ["", "20458", "20458:1:x", "a:1:2", "1:2:3:4", "1:-2:3"] {
        assert_eq!(ReconcileRecord::decode(bad), None, "{bad}");
    }
}

#[test]
fn a_roll_under_way_reads_back_and_none_is_no_roll() {
    let r = RollRecord {
        from: "KCH26".into(),
        to: "KCK26".into(),
        qty: d("-3"),
        close_seq: 41,
        open_seq: 0,
        attempts: 0,
    };
    assert_eq!(r.encode(), "KCH26:KCK26:-3:41:0:0");
    assert_eq!(RollRecord::decode(&r.encode()), Ok(Some(r)));
    assert_eq!(RollRecord::decode("none"), Ok(None));
    for bad in [
        "",
        "KCH26:KCK26:3:1:0",
        "KCH26::3:1:0:0",
        "KCH26:KCK26:x:1:0:0",
        "a b:KCK26:1:1:0:0",
    ] {
        let e = RollRecord::decode(bad).unwrap_err();
        assert!(e.contains("<from>:<to>"), "{bad}: {e}");
    }
}
