//! Limits on what one client can ask of a gateway (DESIGN §10): send and
//! read rates per connection and per user, and connections per user. A
//! limited request is answered `rate_limited` with the delay after which
//! the same request can pass; the connection stays, and nobody else's
//! requests wait for it.
//!
//! Rates are token buckets (`governor`): a burst of `*_burst` requests, then
//! `*_per_sec`, so that over any interval T a bucket admits at most
//! `burst + per_sec × T` requests, and a flood gets all of them. A request
//! takes a token from its connection's bucket and its user's, or from
//! neither: a refusal by one costs nothing in the other. Per-user buckets and the connection count are
//! kept by each gateway for the users connected to it: a user spread over
//! several gateways gets each gateway's allowance. That bounds what one
//! connection or one device fleet can cost a gateway, which is the point;
//! a cluster-wide quota would need a shared counter on every request.
//! A limit of 0 is off.

use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
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

/// `per_second` makes the period 1 s / rate to the nanosecond below: exact
/// for any rate that divides 10⁹ (the defaults do), otherwise each token
/// comes less than a nanosecond early (at 1,000/s, one token in a million),
/// far below what a client can measure.
fn quota(per_sec: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(Quota::per_second(rate).allow_burst(burst))
}

/// Per-user buckets: governor's keyed limiter, spent by its own check.
type UserBuckets<C> =
    RateLimiter<UserId, DefaultKeyedStateStore<UserId>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The gateway's per-user buckets, shared by all its connections. `C` is
/// the time every bucket reads: the default clock, or a fake one in tests.
pub(crate) struct UserLimits<C: Clock = DefaultClock> {
    config: LimitsConfig,
    /// Cloned into each connection's buckets: building a clock runs CPUID,
    /// which a VM traps, and a clone does not.
    clock: C,
    sends: Option<UserBuckets<C>>,
    reads: Option<UserBuckets<C>>,
}

impl UserLimits {
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        UserLimits::with_clock(config, DefaultClock::default())
    }
}

impl<C: Clock + Clone> UserLimits<C> {
    pub(crate) fn with_clock(config: &LimitsConfig, clock: C) -> Self {
        let keyed = |per_sec, burst| {
            let state = DefaultKeyedStateStore::<UserId>::default();
            quota(per_sec, burst).map(|quota| RateLimiter::new(quota, state, clock.clone()))
        };
        UserLimits {
            config: config.clone(),
            sends: keyed(config.user_sends_per_sec, config.user_send_burst),
            reads: keyed(config.user_reads_per_sec, config.user_read_burst),
            clock,
        }
    }

    /// The buckets of one new connection.
    pub(crate) fn connection(self: &Arc<Self>) -> ConnectionLimits<C> {
        let config = &self.config;
        let bucket = |per_sec, burst| {
            quota(per_sec, burst).map(|quota| Mutex::new(ConnectionBucket::new(quota, &self.clock)))
        };
        ConnectionLimits {
            users: Arc::clone(self),
            sends: bucket(
                config.connection_sends_per_sec,
                config.connection_send_burst,
            ),
            reads: bucket(
                config.connection_reads_per_sec,
                config.connection_read_burst,
            ),
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
pub(crate) struct ConnectionLimits<C: Clock = DefaultClock> {
    users: Arc<UserLimits<C>>,
    // Locked from a check's decision to its commit, so two requests of the
    // connection can never be admitted on one token. The connection's
    // reader checks one request at a time: nobody waits for the lock.
    sends: Option<Mutex<ConnectionBucket<C>>>,
    reads: Option<Mutex<ConnectionBucket<C>>>,
}

impl<C: Clock> ConnectionLimits<C> {
    /// Takes one token for a request of `kind` by `user` from both the
    /// connection's bucket and the user's, or from neither and says when to
    /// come back.
    ///
    /// governor's checks take the token whenever they admit, so the second
    /// bucket asked could refuse a request the first has already paid for.
    /// Instead the connection's bucket decides first without spending (see
    /// [`Proposed`]), the user's bucket then decides and spends, and only
    /// then is the connection's token taken. The user's bucket is shared
    /// with the user's other connections, so it is the one spent by
    /// governor's own atomic check; the connection's is decided and
    /// committed under its lock, so its decision still holds at the commit.
    pub(crate) fn check(&self, user: &UserId, kind: Kind) -> Result<(), Error> {
        let (mine, users, what, mine_limit, users_limit) = match kind {
            Kind::Send => (
                &self.sends,
                &self.users.sends,
                "sends",
                "connection_sends",
                "user_sends",
            ),
            Kind::Read => (
                &self.reads,
                &self.users.reads,
                "reads",
                "connection_reads",
                "user_reads",
            ),
        };
        let mine = mine
            .as_ref()
            .map(|bucket| bucket.lock().unwrap_or_else(PoisonError::into_inner));
        // The time is read from the limiter's own clock, and only for a
        // refusal: building a clock per request runs CPUID, which a VM traps
        // (measured: a quarter of the gateway's CPU under load).
        if let Some(bucket) = &mine
            && let Err(not_until) = bucket.limiter.check()
        {
            limited(mine_limit);
            let after = not_until.wait_time_from(bucket.limiter.clock().now());
            return Err(refusal(what, "this connection", after));
        }
        if let Some(limiter) = users
            && let Err(not_until) = limiter.check_key(user)
        {
            limited(users_limit);
            let after = not_until.wait_time_from(limiter.clock().now());
            return Err(refusal(what, &format!("user {user}"), after));
        }
        if let Some(bucket) = &mine {
            bucket.state.commit();
        }
        Ok(())
    }
}

/// One rate of one connection: governor's GCRA over a state that a check
/// only proposes to change.
struct ConnectionBucket<C: Clock> {
    limiter: RateLimiter<NotKeyed, Proposed, C, NoOpMiddleware<C::Instant>>,
    /// The limiter's state, to commit what its last check admitted.
    state: Proposed,
}

impl<C: Clock + Clone> ConnectionBucket<C> {
    fn new(quota: Quota, clock: &C) -> Self {
        let state = Proposed::default();
        ConnectionBucket {
            limiter: RateLimiter::new(quota, state.clone(), clock.clone()),
            state,
        }
    }
}

/// A direct limiter's state where a check that admits only records the
/// state it would leave, and [`Proposed::commit`] applies it: the check that
/// spends nothing which governor's limiters lack (`check` and `check_n`
/// both take the tokens when they admit). Callers serialise a check and its
/// commit ([`ConnectionLimits`] holds a lock across both), which is why
/// relaxed loads and stores are enough.
#[derive(Clone, Default)]
struct Proposed(Arc<ProposedState>);

#[derive(Default)]
struct ProposedState {
    /// governor's theoretical arrival time, in ns since the limiter's start;
    /// 0 for a bucket never used, as governor's own state has it.
    tat: AtomicU64,
    /// What the last admitting check would set `tat` to.
    next: AtomicU64,
}

impl Proposed {
    /// Spends the token the last admitting check decided on.
    fn commit(&self) {
        let next = self.0.next.load(Ordering::Relaxed);
        self.0.tat.store(next, Ordering::Relaxed);
    }
}

impl StateStore for Proposed {
    type Key = NotKeyed;

    fn measure_and_replace<T, F, E>(&self, _key: &NotKeyed, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let tat = NonZeroU64::new(self.0.tat.load(Ordering::Relaxed));
        let (admitted, next) = f(tat.map(|tat| Nanos::from(tat.get())))?;
        self.0.next.store(next.into(), Ordering::Relaxed);
        Ok(admitted)
    }
}

fn limited(limit: &'static str) {
    metrics::counter!(names::GATEWAY_LIMITED, "limit" => limit).increment(1);
}

fn refusal(what: &str, whose: &str, after: Duration) -> Error {
    // Whole milliseconds go on the wire: rounded up, so that a client that
    // waits what it is told finds its token there (rounded down, it would
    // come back a fraction of a millisecond early and be refused again).
    // At least 1: a retry-after of 0 reads as none.
    let millis = after.as_nanos().div_ceil(1_000_000).max(1);
    let after = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
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
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn alice() -> UserId {
        UserId::parse("alice").unwrap()
    }

    /// Limits whose buckets all read `clock`, which only moves when told.
    fn on_fake_time(
        config: LimitsConfig,
    ) -> (Arc<UserLimits<FakeRelativeClock>>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            Arc::new(UserLimits::with_clock(&config, clock.clone())),
            clock,
        )
    }

    /// The retry-after of a refusal, and whose bucket refused.
    fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> (Duration, String) {
        let refused = result.unwrap_err();
        assert_eq!(refused.code, ErrorCode::RateLimited);
        (
            refused.retry_after().expect("a retry-after"),
            refused.message,
        )
    }

    #[test]
    fn a_flood_is_admitted_its_burst_plus_the_rate_times_the_time_exactly() {
        const RATE: u32 = 50;
        const BURST: u32 = 100;
        let connection = LimitsConfig {
            connection_sends_per_sec: RATE,
            connection_send_burst: BURST,
            ..LimitsConfig::off()
        };
        let user = LimitsConfig {
            user_sends_per_sec: RATE,
            user_send_burst: BURST,
            ..LimitsConfig::off()
        };
        // Both on alike, as the benchmark sets them: a request needs a token
        // of each, so the burst is not granted twice.
        let both = LimitsConfig {
            user_sends_per_sec: RATE,
            user_send_burst: BURST,
            ..connection.clone()
        };
        for (name, config) in [("connection", connection), ("user", user), ("both", both)] {
            let (users, clock) = on_fake_time(config);
            let conn = users.connection();
            let mut admitted = 0u64;
            // Every millisecond for 5 s, requests until one is refused: the
            // refusals (thousands) must cost nothing.
            for ms in 0..=5_000u64 {
                while conn.check(&alice(), Kind::Send).is_ok() {
                    admitted += 1;
                }
                let expected = u64::from(BURST) + ms * u64::from(RATE) / 1_000;
                assert_eq!(admitted, expected, "{name}: admitted by {ms} ms");
                clock.advance(Duration::from_millis(1));
            }
            assert_eq!(admitted, 100 + 5 * 50, "{name}");
        }
    }

    #[test]
    fn a_refusal_by_the_user_bucket_does_not_spend_the_connection_bucket() {
        // The connection may have 3 at once, then 1/s; its user 1 at once,
        // then 10/s.
        let (users, clock) = on_fake_time(LimitsConfig {
            connection_sends_per_sec: 1,
            connection_send_burst: 3,
            user_sends_per_sec: 10,
            user_send_burst: 1,
            ..LimitsConfig::off()
        });
        let conn = users.connection();
        conn.check(&alice(), Kind::Send).unwrap();
        for _ in 0..10 {
            let (after, whose) = refused(conn.check(&alice(), Kind::Send));
            assert!(whose.contains("user alice"), "{whose}");
            assert_eq!(after, Duration::from_millis(100));
        }
        // The connection still has the two tokens of its burst the user's
        // refusals did not take: one per user token, 100 ms apart.
        for _ in 0..2 {
            clock.advance(Duration::from_millis(100));
            conn.check(&alice(), Kind::Send).unwrap();
        }
        clock.advance(Duration::from_millis(100));
        let (after, whose) = refused(conn.check(&alice(), Kind::Send));
        assert!(whose.contains("this connection"), "{whose}");
        // Its three tokens went at 0, 100 and 200 ms; the first is back at 1 s.
        assert_eq!(after, Duration::from_millis(700));
    }

    #[test]
    fn a_refusal_by_the_connection_bucket_does_not_spend_the_user_bucket() {
        // Each connection may have 1, its user 3 over all of them.
        let (users, _clock) = on_fake_time(LimitsConfig {
            connection_sends_per_sec: 1,
            connection_send_burst: 1,
            user_sends_per_sec: 1,
            user_send_burst: 3,
            ..LimitsConfig::off()
        });
        let flooding = users.connection();
        flooding.check(&alice(), Kind::Send).unwrap();
        for _ in 0..10 {
            let (after, whose) = refused(flooding.check(&alice(), Kind::Send));
            assert!(whose.contains("this connection"), "{whose}");
            assert_eq!(after, Duration::from_secs(1));
        }
        // The user's other connections get the two tokens left.
        for _ in 0..2 {
            users.connection().check(&alice(), Kind::Send).unwrap();
        }
        let (after, whose) = refused(users.connection().check(&alice(), Kind::Send));
        assert!(whose.contains("user alice"), "{whose}");
        assert_eq!(after, Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_the_time_until_the_next_token() {
        let (users, clock) = on_fake_time(LimitsConfig {
            connection_reads_per_sec: 10,
            connection_read_burst: 2,
            ..LimitsConfig::off()
        });
        let conn = users.connection();
        for _ in 0..2 {
            conn.check(&alice(), Kind::Read).unwrap();
        }
        assert_eq!(
            refused(conn.check(&alice(), Kind::Read)).0,
            Duration::from_millis(100)
        );
        clock.advance(Duration::from_millis(30));
        assert_eq!(
            refused(conn.check(&alice(), Kind::Read)).0,
            Duration::from_millis(70)
        );
        // A fraction of a millisecond is rounded up: waiting what is said
        // is always enough.
        clock.advance(Duration::from_micros(69_600));
        assert_eq!(
            refused(conn.check(&alice(), Kind::Read)).0,
            Duration::from_millis(1)
        );
        clock.advance(Duration::from_micros(400));
        conn.check(&alice(), Kind::Read).unwrap();
        assert_eq!(
            refused(conn.check(&alice(), Kind::Read)).0,
            Duration::from_millis(100)
        );
        // Sends have no limit here.
        for _ in 0..100 {
            conn.check(&alice(), Kind::Send).unwrap();
        }
    }

    #[test]
    fn forgetting_idle_users_gives_nobody_more_than_a_full_bucket() {
        let (users, clock) = on_fake_time(LimitsConfig {
            user_sends_per_sec: 10,
            user_send_burst: 2,
            ..LimitsConfig::off()
        });
        let conn = users.connection();
        for _ in 0..2 {
            conn.check(&alice(), Kind::Send).unwrap();
        }
        // Half refilled: kept, and still half empty.
        clock.advance(Duration::from_millis(100));
        users.forget_idle();
        conn.check(&alice(), Kind::Send).unwrap();
        refused(conn.check(&alice(), Kind::Send));
        // Long idle: forgotten, and a fresh bucket is a full one, no more.
        clock.advance(Duration::from_secs(60));
        users.forget_idle();
        for _ in 0..2 {
            conn.check(&alice(), Kind::Send).unwrap();
        }
        refused(conn.check(&alice(), Kind::Send));
    }

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
