//! Limits on what one client can ask of a gateway (DESIGN §10): send and
//! read rates per connection and per user, and connections per user. A
//! limited request is answered `rate_limited` with the delay after which
//! the same request can pass; the connection stays, and nobody else's
//! requests wait for it.
//!
//! Rates are token buckets (`governor`): a burst of `*_burst` requests, then
//! `*_per_sec` on average. Per-user buckets and the connection count are
//! kept by each gateway for the users connected to it: a user spread over
//! several gateways gets each gateway's allowance. That bounds what one
//! connection or one device fleet can cost a gateway, which is the point;
//! a cluster-wide quota would need a shared counter on every request.
//! A limit of 0 is off.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as _;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use tidings_core::{Error, ErrorCode, UserId};
use tidings_telemetry::metrics::names;

/// Settings of the limits (`[gateway.limits]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sends (and room sends) per second of one connection, after a burst.
    pub connection_sends_per_sec: u32,
    pub connection_send_burst: u32,
    /// Sends per second of one user over all its connections here.
    pub user_sends_per_sec: u32,
    pub user_send_burst: u32,
    /// Reads (pulls, history, conversation pulls and lists) per second of
    /// one connection.
    pub connection_reads_per_sec: u32,
    pub connection_read_burst: u32,
    /// Reads per second of one user over all its connections here.
    pub user_reads_per_sec: u32,
    pub user_read_burst: u32,
    /// Open connections of one user on this gateway; past it hello is
    /// refused.
    pub connections_per_user: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // Far above what a person types or a well-behaved client pulls
        // (pulls follow pushes and reconnects), far below what a script
        // can push: a flood is slowed down before it costs other users.
        LimitsConfig {
            connection_sends_per_sec: 100,
            connection_send_burst: 200,
            user_sends_per_sec: 200,
            user_send_burst: 400,
            connection_reads_per_sec: 100,
            connection_read_burst: 200,
            user_reads_per_sec: 200,
            user_read_burst: 400,
            connections_per_user: 64,
        }
    }
}

impl LimitsConfig {
    /// No limit at all (benchmarks, and tests of something else).
    pub fn off() -> Self {
        LimitsConfig {
            connection_sends_per_sec: 0,
            connection_send_burst: 0,
            user_sends_per_sec: 0,
            user_send_burst: 0,
            connection_reads_per_sec: 0,
            connection_read_burst: 0,
            user_reads_per_sec: 0,
            user_read_burst: 0,
            connections_per_user: 0,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let pairs = [
            (
                "connection_send",
                self.connection_sends_per_sec,
                self.connection_send_burst,
            ),
            ("user_send", self.user_sends_per_sec, self.user_send_burst),
            (
                "connection_read",
                self.connection_reads_per_sec,
                self.connection_read_burst,
            ),
            ("user_read", self.user_reads_per_sec, self.user_read_burst),
        ];
        for (name, rate, burst) in pairs {
            if rate > 0 && burst == 0 {
                return Err(format!(
                    "gateway.limits.{name}_burst must be at least 1 when its rate is set"
                ));
            }
        }
        Ok(())
    }
}

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Send,
    Read,
}

fn quota(per_sec: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

/// The gateway's per-user buckets, shared by all its connections.
pub(crate) struct UserLimits {
    config: LimitsConfig,
    sends: Option<DefaultKeyedRateLimiter<UserId>>,
    reads: Option<DefaultKeyedRateLimiter<UserId>>,
}

impl UserLimits {
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        UserLimits {
            config: config.clone(),
            sends: quota(config.user_sends_per_sec, config.user_send_burst).map(RateLimiter::keyed),
            reads: quota(config.user_reads_per_sec, config.user_read_burst).map(RateLimiter::keyed),
        }
    }

    /// The buckets of one new connection.
    pub(crate) fn connection(self: &Arc<Self>) -> ConnectionLimits {
        let config = &self.config;
        ConnectionLimits {
            users: Arc::clone(self),
            sends: quota(
                config.connection_sends_per_sec,
                config.connection_send_burst,
            )
            .map(RateLimiter::direct),
            reads: quota(
                config.connection_reads_per_sec,
                config.connection_read_burst,
            )
            .map(RateLimiter::direct),
        }
    }

    /// Refuses a hello past `connections_per_user` (`open`: the user's
    /// connections here before this one).
    pub(crate) fn admit(&self, user: &UserId, open: usize) -> Result<(), Error> {
        let cap = self.config.connections_per_user as usize;
        if cap > 0 && open >= cap {
            limited("connections_per_user");
            return Err(Error::new(
                ErrorCode::RateLimited,
                format!(
                    "{user} already has {open} connections to this gateway, the most allowed \
                     (gateway.limits.connections_per_user); close one first"
                ),
            ));
        }
        Ok(())
    }

    /// Forgets buckets that are full again, so idle users cost nothing.
    pub(crate) fn forget_idle(&self) {
        for limiter in [&self.sends, &self.reads].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// One connection's buckets.
pub(crate) struct ConnectionLimits {
    users: Arc<UserLimits>,
    sends: Option<DefaultDirectRateLimiter>,
    reads: Option<DefaultDirectRateLimiter>,
}

impl ConnectionLimits {
    /// Takes one token for a request of `kind` by `user`, or says when to
    /// come back. The connection's bucket is checked first, so a connection
    /// over its own limit does not use up its user's allowance.
    pub(crate) fn check(&self, user: &UserId, kind: Kind) -> Result<(), Error> {
        let (mine, users, what) = match kind {
            Kind::Send => (&self.sends, &self.users.sends, "sends"),
            Kind::Read => (&self.reads, &self.users.reads, "reads"),
        };
        // The time is read from the limiter's own clock, and only for a
        // refusal: building a clock per request runs CPUID, which a VM traps
        // (measured: a quarter of the gateway's CPU under load).
        if let Some(limiter) = mine
            && let Err(not_until) = limiter.check()
        {
            limited(if kind == Kind::Send {
                "connection_sends"
            } else {
                "connection_reads"
            });
            let after = not_until.wait_time_from(limiter.clock().now());
            return Err(refusal(what, "this connection", after));
        }
        if let Some(limiter) = users
            && let Err(not_until) = limiter.check_key(user)
        {
            limited(if kind == Kind::Send {
                "user_sends"
            } else {
                "user_reads"
            });
            let after = not_until.wait_time_from(limiter.clock().now());
            return Err(refusal(what, &format!("user {user}"), after));
        }
        Ok(())
    }
}

fn limited(limit: &'static str) {
    metrics::counter!(names::GATEWAY_LIMITED, "limit" => limit).increment(1);
}

fn refusal(what: &str, whose: &str, after: Duration) -> Error {
    let after = after.max(Duration::from_millis(1));
    Error::rate_limited(
        format!(
            "too many {what} from {whose}; retry in {} ms (gateway.limits)",
            after.as_millis()
        ),
        after,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sends: u32, burst: u32) -> LimitsConfig {
        LimitsConfig {
            connection_sends_per_sec: sends,
            connection_send_burst: burst,
            user_sends_per_sec: sends * 2,
            user_send_burst: burst * 2,
            ..LimitsConfig::off()
        }
    }

    #[test]
    fn a_connection_gets_its_burst_then_a_retry_after() {
        let users = Arc::new(UserLimits::new(&config(1, 3)));
        let conn = users.connection();
        let alice = UserId::parse("alice").unwrap();
        for _ in 0..3 {
            conn.check(&alice, Kind::Send).unwrap();
        }
        let refused = conn.check(&alice, Kind::Send).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        let after = refused.retry_after().expect("a retry-after");
        assert!(
            after > Duration::ZERO && after <= Duration::from_secs(1),
            "{after:?}"
        );
        assert!(
            refused.message.contains("this connection"),
            "{}",
            refused.message
        );
        // Reads have no limit here.
        for _ in 0..100 {
            conn.check(&alice, Kind::Read).unwrap();
        }
    }

    #[test]
    fn a_user_shares_one_allowance_over_its_connections_and_others_keep_theirs() {
        let users = Arc::new(UserLimits::new(&config(1, 3)));
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        let (a1, a2, a3) = (users.connection(), users.connection(), users.connection());
        for conn in [&a1, &a2] {
            for _ in 0..3 {
                conn.check(&alice, Kind::Send).unwrap();
            }
        }
        // A third connection has its own burst left, but the user's (twice a
        // connection's) is used up.
        let refused = a3.check(&alice, Kind::Send).unwrap_err();
        assert!(
            refused.message.contains("user alice"),
            "{}",
            refused.message
        );
        let b1 = users.connection();
        for _ in 0..3 {
            b1.check(&bob, Kind::Send).unwrap();
        }
        users.forget_idle();
    }

    #[test]
    fn connections_past_the_cap_are_refused_without_a_retry_after() {
        let users = UserLimits::new(&LimitsConfig {
            connections_per_user: 2,
            ..LimitsConfig::off()
        });
        let alice = UserId::parse("alice").unwrap();
        users.admit(&alice, 1).unwrap();
        let refused = users.admit(&alice, 2).unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        assert_eq!(refused.retry_after(), None);
        assert!(
            UserLimits::new(&LimitsConfig::off())
                .admit(&alice, 10_000)
                .is_ok()
        );
    }

    #[test]
    fn a_rate_without_a_burst_is_refused() {
        let bad = LimitsConfig {
            user_reads_per_sec: 5,
            user_read_burst: 0,
            ..LimitsConfig::off()
        };
        assert!(bad.validate().unwrap_err().contains("user_read_burst"));
        LimitsConfig::default().validate().unwrap();
    }
}
