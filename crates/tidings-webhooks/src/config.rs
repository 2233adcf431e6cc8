//! Webhook settings (`[webhooks]` in the config file).
//!
//! Every event has its own optional section; an absent section turns that
//! event off, so a deployment without webhooks pays nothing:
//!
//! ```toml
//! [webhooks.before_send]
//! url = "http://moderation.internal:8080/tidings/before-send"
//! secret = "at least sixteen bytes"   # or TIDINGS__WEBHOOKS__BEFORE_SEND__SECRET
//! timeout_ms = 300
//! fail_open = true
//!
//! [webhooks.offline_push]
//! url = "http://push.internal:8080/tidings/offline-push"
//! secret = "another secret of sixteen bytes"
//! timeout_ms = 5000
//! retry = { max_attempts = 12, initial_backoff_ms = 500, max_backoff_ms = 300000, give_up_after_secs = 86400 }
//! ```

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use serde::Deserialize;

use crate::outbox::EventKind;

/// Shortest signing secret accepted: an HMAC key much shorter than the hash
/// is guessable offline from one signed request.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest before_send timeout: the send path waits for it.
pub const MAX_BEFORE_SEND_TIMEOUT_MS: u64 = 10_000;
/// Longest timeout of an asynchronous delivery.
pub const MAX_DELIVERY_TIMEOUT_MS: u64 = 60_000;

/// All webhook settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Called synchronously before a send is reserved; may veto or rewrite.
    pub before_send: Option<BeforeSendConfig>,
    /// One request per recipient with no online device after a commit.
    pub offline_push: Option<DeliveryConfig>,
    /// Every committed message, for the product's indexing and analytics.
    pub message_committed: Option<DeliveryConfig>,
    /// Every change of a group's membership.
    pub membership_changed: Option<DeliveryConfig>,
    /// How the outbox is drained.
    pub dispatcher: DispatcherConfig,
    /// Directory of the durable outbox, kept by the process that runs logic.
    /// Only opened when an asynchronous event is configured; in Kubernetes
    /// it belongs on a persistent volume, or a restarted pod starts with an
    /// empty outbox.
    pub outbox_dir: PathBuf,
    /// Most recipients in one offline_push request: a message to a large
    /// group is sent as several requests of at most this many.
    pub offline_push_max_recipients: usize,
}

/// The synchronous `before_send` hook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeforeSendConfig {
    /// `http://host:port/path` the hook is POSTed to.
    pub url: String,
    /// Key of the request signature.
    pub secret: SigningSecret,
    /// How long a send waits for the answer (milliseconds).
    #[serde(default = "default_before_send_timeout_ms")]
    pub timeout_ms: u64,
    /// When the hook times out or fails: `true` lets the send through
    /// unchecked, `false` refuses it.
    #[serde(default = "default_fail_open")]
    pub fail_open: bool,
}

/// An asynchronous event delivered from the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// `http://host:port/path` events are POSTed to.
    pub url: String,
    /// Key of the request signature.
    pub secret: SigningSecret,
    /// Deadline of one attempt, connection included (milliseconds).
    #[serde(default = "default_delivery_timeout_ms")]
    pub timeout_ms: u64,
    /// When to try again after a failed attempt, and when to stop.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// Capped exponential backoff with jitter, bounded by attempts and by age.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts before an event is given up (the first one included).
    pub max_attempts: u32,
    /// Wait after the first failed attempt (milliseconds); doubles after
    /// each further failure.
    pub initial_backoff_ms: u64,
    /// Longest wait between two attempts (milliseconds).
    pub max_backoff_ms: u64,
    /// An event older than this (seconds since it was enqueued) is given up
    /// after its next failure, whatever its attempt count.
    pub give_up_after_secs: u64,
}

/// How the dispatcher drains the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatcherConfig {
    /// Most deliveries in flight at once.
    pub max_in_flight: usize,
    /// How often the outbox is checked for due events when nothing woke the
    /// dispatcher (milliseconds).
    pub poll_interval_ms: u64,
    /// How long a leased event is kept from other leases (milliseconds);
    /// longer than every delivery timeout, so that a slow attempt is not
    /// overtaken by a second one.
    pub lease_ms: u64,
}

/// A signing secret; never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        SigningSecret(secret.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

fn default_before_send_timeout_ms() -> u64 {
    500
}

fn default_fail_open() -> bool {
    true
}

fn default_delivery_timeout_ms() -> u64 {
    5_000
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            before_send: None,
            offline_push: None,
            message_committed: None,
            membership_changed: None,
            dispatcher: DispatcherConfig::default(),
            outbox_dir: PathBuf::from("./webhooks"),
            offline_push_max_recipients: 500,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 12,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 5 * 60_000,
            give_up_after_secs: 24 * 3600,
        }
    }
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            max_in_flight: 16,
            poll_interval_ms: 250,
            lease_ms: 2 * MAX_DELIVERY_TIMEOUT_MS,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failed + 1` after `failed` failures: the
    /// capped exponential delay, half of it fixed and half scaled by
    /// `jitter` (in `[0, 1)`), so endpoints coming back are not hit by every
    /// event at the same instant while no wait drops below half the delay.
    pub fn backoff(&self, failed: u32, jitter: f64) -> Duration {
        let doublings = failed.saturating_sub(1).min(63);
        let delay = self
            .initial_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms);
        let half = delay / 2;
        let jittered = ((delay - half) as f64 * jitter.clamp(0.0, 1.0)) as u64;
        Duration::from_millis(half + jittered)
    }

    fn validate(&self, key: &str) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err(format!("{key}.max_attempts must be at least 1"));
        }
        if self.initial_backoff_ms == 0 {
            return Err(format!("{key}.initial_backoff_ms must be at least 1"));
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err(format!(
                "{key}.max_backoff_ms must be at least {key}.initial_backoff_ms"
            ));
        }
        if self.give_up_after_secs == 0 {
            return Err(format!("{key}.give_up_after_secs must be at least 1"));
        }
        Ok(())
    }
}

impl BeforeSendConfig {
    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let key = "webhooks.before_send";
        parse_url(&self.url, key)?;
        check_secret(&self.secret, key)?;
        check_timeout(self.timeout_ms, MAX_BEFORE_SEND_TIMEOUT_MS, key)
    }
}

impl WebhooksConfig {
    /// The endpoint of an asynchronous event, if that event is configured.
    pub fn delivery(&self, kind: EventKind) -> Option<&DeliveryConfig> {
        match kind {
            EventKind::OfflinePush => self.offline_push.as_ref(),
            EventKind::MessageCommitted => self.message_committed.as_ref(),
            EventKind::MembershipChanged => self.membership_changed.as_ref(),
        }
    }

    /// Whether any asynchronous event is configured (and so the outbox and
    /// the dispatcher are needed).
    pub fn has_async_events(&self) -> bool {
        EventKind::ALL
            .iter()
            .any(|kind| self.delivery(*kind).is_some())
    }

    /// Checks the values, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if self.has_async_events() && self.outbox_dir.as_os_str().is_empty() {
            return Err(
                "webhooks.outbox_dir must be set when an asynchronous event is configured".into(),
            );
        }
        if self.offline_push_max_recipients == 0 || self.offline_push_max_recipients > 10_000 {
            return Err("webhooks.offline_push_max_recipients must be between 1 and 10000".into());
        }
        if let Some(hook) = &self.before_send {
            hook.validate()?;
        }
        let mut longest_timeout_ms = 0;
        for kind in EventKind::ALL {
            let Some(delivery) = self.delivery(kind) else {
                continue;
            };
            let key = format!("webhooks.{}", kind.as_str());
            parse_url(&delivery.url, &key)?;
            check_secret(&delivery.secret, &key)?;
            check_timeout(delivery.timeout_ms, MAX_DELIVERY_TIMEOUT_MS, &key)?;
            delivery.retry.validate(&format!("{key}.retry"))?;
            longest_timeout_ms = longest_timeout_ms.max(delivery.timeout_ms);
        }
        let dispatcher = &self.dispatcher;
        if dispatcher.max_in_flight == 0 || dispatcher.max_in_flight > 1024 {
            return Err("webhooks.dispatcher.max_in_flight must be between 1 and 1024".into());
        }
        if dispatcher.poll_interval_ms < 10 {
            return Err("webhooks.dispatcher.poll_interval_ms must be at least 10".into());
        }
        if dispatcher.lease_ms <= longest_timeout_ms {
            return Err(format!(
                "webhooks.dispatcher.lease_ms must be longer than every timeout_ms \
                 ({longest_timeout_ms})"
            ));
        }
        Ok(())
    }
}

/// Parses an endpoint URL. Only plain `http` for now: TLS to endpoints
/// needs the client connector of `tidings-tls`, which is not wired here yet,
/// and silently sending `https` URLs in clear text would be worse than
/// refusing them.
pub(crate) fn parse_url(url: &str, key: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{key}.url is not a URL ({url:?}): {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{key}.url: https endpoints are not supported yet; use http inside the cluster"
            ));
        }
        _ => return Err(format!("{key}.url must start with http:// ({url:?})")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{key}.url has no host ({url:?})"));
    }
    Ok(uri)
}

fn check_secret(secret: &SigningSecret, key: &str) -> Result<(), String> {
    if secret.as_bytes().len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{key}.secret must be at least {MIN_SECRET_BYTES} bytes"
        ));
    }
    Ok(())
}

fn check_timeout(timeout_ms: u64, max_ms: u64, key: &str) -> Result<(), String> {
    if timeout_ms == 0 || timeout_ms > max_ms {
        return Err(format!("{key}.timeout_ms must be between 1 and {max_ms}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(url: &str) -> DeliveryConfig {
        DeliveryConfig {
            url: url.into(),
            secret: SigningSecret::new("0123456789abcdef"),
            timeout_ms: 1_000,
            retry: RetryPolicy::default(),
        }
    }

    #[test]
    fn defaults_are_valid_and_turn_everything_off() {
        let config = WebhooksConfig::default();
        config.validate().unwrap();
        assert!(config.before_send.is_none());
        assert!(EventKind::ALL.iter().all(|k| config.delivery(*k).is_none()));
    }

    #[test]
    fn a_section_parses_with_defaults_for_the_rest() {
        let config: WebhooksConfig = serde_json::from_str(
            r#"{"offline_push": {"url": "http://push:8080/hook", "secret": "0123456789abcdef"},
                "before_send": {"url": "http://mod:8080/hook", "secret": "0123456789abcdef",
                                "fail_open": false}}"#,
        )
        .unwrap();
        config.validate().unwrap();
        let push = config.delivery(EventKind::OfflinePush).unwrap();
        assert_eq!(push.timeout_ms, 5_000);
        assert_eq!(push.retry.max_attempts, 12);
        let hook = config.before_send.as_ref().unwrap();
        assert!(!hook.fail_open);
        assert_eq!(hook.timeout_ms, 500);
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: Result<WebhooksConfig, _> = serde_json::from_str(
            r#"{"offline_push": {"url": "http://a/", "secret": "0123456789abcdef", "tmeout_ms": 1}}"#,
        );
        assert!(parsed.unwrap_err().to_string().contains("tmeout_ms"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases: Vec<(WebhooksConfig, &str)> = vec![
            (
                WebhooksConfig {
                    offline_push: Some(delivery("ftp://push/")),
                    ..Default::default()
                },
                "webhooks.offline_push.url",
            ),
            (
                WebhooksConfig {
                    message_committed: Some(delivery("https://push/")),
                    ..Default::default()
                },
                "webhooks.message_committed.url",
            ),
            (
                WebhooksConfig {
                    membership_changed: Some(DeliveryConfig {
                        secret: SigningSecret::new("short"),
                        ..delivery("http://a/")
                    }),
                    ..Default::default()
                },
                "webhooks.membership_changed.secret",
            ),
            (
                WebhooksConfig {
                    offline_push: Some(DeliveryConfig {
                        retry: RetryPolicy {
                            max_backoff_ms: 1,
                            ..RetryPolicy::default()
                        },
                        ..delivery("http://a/")
                    }),
                    ..Default::default()
                },
                "webhooks.offline_push.retry.max_backoff_ms",
            ),
            (
                WebhooksConfig {
                    before_send: Some(BeforeSendConfig {
                        url: "http://a/".into(),
                        secret: SigningSecret::new("0123456789abcdef"),
                        timeout_ms: 60_000,
                        fail_open: true,
                    }),
                    ..Default::default()
                },
                "webhooks.before_send.timeout_ms",
            ),
            (
                WebhooksConfig {
                    offline_push: Some(delivery("http://a/")),
                    dispatcher: DispatcherConfig {
                        lease_ms: 500,
                        ..DispatcherConfig::default()
                    },
                    ..Default::default()
                },
                "webhooks.dispatcher.lease_ms",
            ),
        ];
        for (config, key) in cases {
            let error = config.validate().unwrap_err();
            assert!(error.starts_with(key), "{error:?} should name {key}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_below_half() {
        let policy = RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..RetryPolicy::default()
        };
        let ms = |failed, jitter| policy.backoff(failed, jitter).as_millis();
        assert_eq!(ms(1, 0.0), 50);
        assert_eq!(ms(1, 0.999_999), 99);
        assert_eq!(ms(2, 0.0), 100);
        assert_eq!(ms(3, 0.0), 200);
        assert_eq!(ms(5, 0.0), 500);
        assert_eq!(ms(5, 0.999_999), 999);
        assert_eq!(ms(u32::MAX, 0.0), 500);
    }
}
