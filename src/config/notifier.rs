//! `[notifier]` and its `[[notifier.webhooks]]`: where notifications go, how
//! many wait in the outbox, how failed deliveries are retried, and the equity
//! milestones. Keys left out of a webhook take the per-entry defaults in
//! `entries.rs`.
//!
//! Invariant: a webhook's URL carries its credentials, so it is a `Secret`
//! (never printed) and a webhook is known everywhere else by its name, which
//! is unique.

use super::durations::duration;
use super::secrets::Secret;
use super::{entries, invalid, Invalid};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// Event kinds a webhook may filter on.
pub const NOTIFY_EVENTS: &[&str] = &commodore_actors::notifier::webhook::KINDS;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notifier {
    pub webhooks: Vec<Webhook>,
    /// Notifications the outbox holds before it drops the oldest `trade` and
    /// `milestone` ones (`risk`, `error`, ... are never dropped).
    pub max_outbox: usize,
    /// Retry backoff of a failed delivery: doubling from min to max, jittered.
    #[serde(with = "duration")]
    pub backoff_min: Duration,
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// Account equity milestones in dollars (decimal strings), each notified
    /// once, the first time equity reaches it.
    pub milestones: Vec<Decimal>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub kind: WebhookKind,
    /// The URL itself (a secret: it carries the webhook's credentials).
    #[serde(default)]
    pub url: Option<Secret>,
    /// Or the name of an environment variable holding it.
    #[serde(default)]
    pub url_env: Option<String>,
    /// Event kinds to send; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// The webhook's name in logs, status and the outbox (never its URL);
    /// default `<kind><position>`, e.g. `discord1`.
    #[serde(default)]
    pub name: String,
    /// Requests per minute at most (a burst of as many).
    #[serde(default = "entries::webhook_rate_per_min")]
    pub rate_per_min: u32,
    /// One request's time limit; no answer in time is retried.
    #[serde(with = "duration", default = "entries::webhook_timeout")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    Discord,
    Slack,
    Json,
}

impl Notifier {
    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if !(100..=1_000_000).contains(&self.max_outbox) {
            return invalid("notifier.max_outbox", "must be between 100 and 1000000");
        }
        if self.backoff_min.is_zero()
            || self.backoff_min > self.backoff_max
            || self.backoff_max > Duration::from_secs(3600)
        {
            return invalid(
                "notifier.backoff_max",
                "need 0 < backoff_min <= backoff_max <= 1h",
            );
        }
        if self.milestones.iter().any(|m| *m <= Decimal::ZERO)
            || self.milestones.windows(2).any(|w| w[0] >= w[1])
        {
            return invalid(
                "notifier.milestones",
                "dollar amounts above 0, in rising order",
            );
        }
        let mut names = BTreeSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let name = w.name(i);
            validate_name(&name)?;
            if !names.insert(name.clone()) {
                return invalid("notifier.webhooks.name", format!("{name:?} appears twice"));
            }
            w.validate()?;
        }
        Ok(())
    }
}

/// A webhook's name goes into logs, status and the outbox's rows.
fn validate_name(name: &str) -> Result<(), Invalid> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || name.len() > 64
    {
        return invalid(
            "notifier.webhooks.name",
            "letters, digits, - and _ only, at most 64",
        );
    }
    Ok(())
}

impl Webhook {
    /// Its name: `name`, or `<kind><position from 1>`.
    pub fn name(&self, index: usize) -> String {
        if self.name.is_empty() {
            let kind = match self.kind {
                WebhookKind::Discord => "discord",
                WebhookKind::Slack => "slack",
                WebhookKind::Json => "json",
            };
            format!("{kind}{}", index + 1)
        } else {
            self.name.clone()
        }
    }

    /// The URL (from `url`, or the variable `url_env` names).
    pub fn url(&self) -> Result<String, String> {
        match (&self.url, &self.url_env) {
            (Some(u), _) => Ok(u.0.clone()),
            (None, Some(var)) => match std::env::var(var) {
                Ok(u) if http_url(&u).is_ok() => Ok(u),
                Ok(_) => Err(format!(
                    "the variable {var} does not hold an http(s):// URL with a host"
                )),
                Err(_) => Err(format!("the variable {var} is not set")),
            },
            (None, None) => Err("no url".into()),
        }
    }

    /// Everything but the name (which is checked with the others').
    fn validate(&self) -> Result<(), Invalid> {
        if !(1..=600).contains(&self.rate_per_min) {
            return invalid(
                "notifier.webhooks.rate_per_min",
                "must be between 1 and 600",
            );
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return invalid(
                "notifier.webhooks.timeout",
                "must be above 0 and at most 60s",
            );
        }
        match (&self.url, &self.url_env) {
            (Some(url), None) if http_url(&url.0).is_err() => {
                // The URL is a secret: the reason, never the URL.
                let why = http_url(&url.0).err().unwrap_or_default();
                return invalid("notifier.webhooks.url", why);
            }
            (Some(_), Some(_)) => {
                return invalid("notifier.webhooks.url", "set url or url_env, not both")
            }
            (None, None) => {
                return invalid(
                    "notifier.webhooks.url",
                    "set url, or url_env naming a variable that holds it",
                )
            }
            _ => {}
        }
        if let Some(bad) = self
            .events
            .iter()
            .find(|k| !NOTIFY_EVENTS.contains(&k.as_str()))
        {
            return invalid(
                "notifier.webhooks.events",
                format!(
                    "unknown event kind {bad:?}: use {}",
                    NOTIFY_EVENTS.join(", ")
                ),
            );
        }
        Ok(())
    }
}

/// Whether `u` is an http(s) URL with a host (`http://a b/c` is not): why
/// not, without the URL (a secret).
fn http_url(u: &str) -> Result<(), String> {
    if !(u.starts_with("https://") || u.starts_with("http://")) {
        return Err("must start with https:// or http://".into());
    }
    match reqwest::Url::parse(u) {
        Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err("must name a host".into()),
        Err(e) => Err(format!("is not a valid URL ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::over_defaults;
    use super::*;

    #[test]
    fn keys_left_out_of_a_webhook_take_the_entry_defaults() {
        let n =
            over_defaults("[[notifier.webhooks]]\nkind = \"slack\"\nurl = \"https://h.example\"\n")
                .notifier;
        let w = &n.webhooks[0];
        assert_eq!((w.rate_per_min, w.timeout), (30, Duration::from_secs(5)));
        assert_eq!(w.name(0), "slack1");
        assert_eq!(n.validate(), Ok(()));
    }

    #[test]
    fn a_generated_name_can_collide_with_a_given_one() {
        let n = over_defaults(
            "[[notifier.webhooks]]\nkind = \"slack\"\nurl = \"https://h\"\n[[notifier.webhooks]]\nkind = \"json\"\nurl = \"https://h\"\nname = \"slack1\"\n",
        )
        .notifier;
        assert_eq!(
            n.validate().unwrap_err(),
            (
                "notifier.webhooks.name".into(),
                "\"slack1\" appears twice".into()
            )
        );
    }
}
