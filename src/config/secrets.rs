//! Values that must never be printed. Invariant: a `Secret`'s text leaves this
//! process only through the code that uses it (a webhook's request), never
//! through `Debug` or serialization (`check-config`, logs, status); it has no
//! `Display`.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A value that must never be printed: `Debug` and serialization show
/// `<redacted>`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub(super) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::super::notifier::Webhook;
    use super::super::{build, WebhookKind};
    use super::*;
    use std::time::Duration;

    #[test]
    fn secrets_never_print() {
        let w = Webhook {
            kind: WebhookKind::Slack,
            url: Some(Secret("https://hooks.example/T000/B000/XXXX".into())),
            url_env: None,
            events: vec![],
            name: String::new(),
            rate_per_min: 30,
            timeout: Duration::from_secs(5),
        };
        assert!(!format!("{w:?}").contains("XXXX"));
        let mut c = build(&[], false).unwrap();
        c.notifier.webhooks.push(w);
        let out = c.to_redacted_toml();
        assert!(out.contains("<redacted>") && !out.contains("XXXX"), "{out}");
    }
}
