//! ICE softs futures as IB names them, pure: our instrument (`KCH26`) to
//! the contract IB resolves (symbol `KC`, `FUT`, the exchange, USD, the
//! contract month `202603`), and a contract IB reports back to our
//! instrument.

use crate::model::{month_of, root, KNOWN_SYMBOLS};
use ibapi::contracts::{Contract, Currency, Exchange, SecurityType, Symbol};

/// The contract to ask IB to resolve for `instrument` on `exchange`. A bare
/// symbol (no month) cannot be traded: the engine always names a month.
pub fn contract_of(instrument: &str, exchange: &str) -> Result<Contract, String> {
    let month = month_of(instrument).ok_or_else(|| {
        format!("{instrument:?} names no contract month: IB trades a month (KCH26), not a series")
    })?;
    Ok(Contract {
        symbol: Symbol::from(root(instrument)),
        security_type: SecurityType::Future,
        last_trade_date_or_contract_month: format!("{:04}{:02}", month.year, month.month),
        exchange: Exchange::from(exchange),
        currency: Currency::from("USD"),
        ..Contract::default()
    })
}

/// Our instrument for a contract IB reports (a position, an execution): its
/// symbol and the month of its contract month or last trade date (an ICE
/// soft's last trading day is in its delivery month). `None` for what is
/// not one of our futures.
pub fn instrument_of(c: &Contract) -> Option<String> {
    let symbol = c.symbol.to_string();
    if c.security_type != SecurityType::Future || !KNOWN_SYMBOLS.contains(&symbol.as_str()) {
        return None;
    }
    let ym = c.last_trade_date_or_contract_month.get(..6)?;
    let (year, month): (i64, u8) = (ym.get(..4)?.parse().ok()?, ym.get(4..)?.parse().ok()?);
    (1..=12)
        .contains(&month)
        .then(|| crate::model::calendar::ContractMonth { year, month }.label(&symbol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instrument_is_a_month_of_a_future_and_back() {
        let c = contract_of("KCH26", "NYBOT").unwrap();
        assert_eq!(c.symbol.to_string(), "KC");
        assert_eq!(c.last_trade_date_or_contract_month, "202603");
        assert_eq!(c.exchange.to_string(), "NYBOT");
        assert_eq!(instrument_of(&c).as_deref(), Some("KCH26"));
        // IB reports a future with its last trade date.
        let mut back = c.clone();
        back.last_trade_date_or_contract_month = "20260319".into();
        assert_eq!(instrument_of(&back).as_deref(), Some("KCH26"));
        let cc = contract_of("CCZ27", "NYBOT").unwrap();
        assert_eq!(instrument_of(&cc).as_deref(), Some("CCZ27"));
    }

    #[test]
    fn what_is_not_ours_is_refused() {
        let e = contract_of("KC", "NYBOT").unwrap_err();
        assert!(e.contains("names no contract month"), "{e}");
        let mut c = contract_of("KCH26", "NYBOT").unwrap();
        c.security_type = SecurityType::Stock;
        assert_eq!(instrument_of(&c), None);
        let mut c = contract_of("KCH26", "NYBOT").unwrap();
        c.symbol = Symbol::from("ES");
        assert_eq!(instrument_of(&c), None);
        c.symbol = Symbol::from("KC");
        c.last_trade_date_or_contract_month = "2026".into();
        assert_eq!(instrument_of(&c), None);
        c.last_trade_date_or_contract_month = "202613".into();
        assert_eq!(instrument_of(&c), None);
    }
}
