//! The registry conformance suite, plus Redis-only behaviour, on
//! [`RedisRegistry`] against the server at `TIDINGS_TEST_REDIS` (default
//! `redis://127.0.0.1:16379`, which `scripts/redis.sh start` serves).
//!
//! Without a reachable Redis these tests fail with a hint; they never pass
//! silently. Keys use the prefix `tidings-test:` and expire on their own.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings_registry::{DeviceRoute, RedisRegistry, RedisRegistryOptions, Registry};
use tokio::sync::{OnceCell, RwLock, RwLockReadGuard};

const DEFAULT_URL: &str = "redis://127.0.0.1:16379";
const KEY_PREFIX: &str = "tidings-test:";
const TTL: Duration = Duration::from_secs(30);

/// The test reading server-wide command counters holds this for writing;
/// every other test of this file holds it for reading, so none of them adds
/// to the counters while they are read.
static SERVER_COUNTERS: RwLock<()> = RwLock::const_new(());

/// Whether the server answered a `PING`, found out once for all tests.
static REACHABLE: OnceCell<Result<(), String>> = OnceCell::const_new();

fn redis_url() -> String {
    std::env::var("TIDINGS_TEST_REDIS").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

async fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let connecting = client.get_multiplexed_async_connection();
    let mut connection = tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .map_err(|_| "no answer within 5 s".to_string())?
        .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The server's URL; fails the test at once, with a hint, when nothing
/// answers there (the registry itself would retry for seconds first).
async fn reachable_url() -> String {
    let url = redis_url();
    if let Err(e) = REACHABLE.get_or_init(|| ping(&url)).await {
        panic!(
            "no Redis reachable at {url}: {e}\n\
             start one with `scripts/redis.sh start` \
             (or set TIDINGS_TEST_REDIS to the URL of a running server)"
        );
    }
    url
}

async fn connect() -> RedisRegistry {
    let url = reachable_url().await;
    let options = RedisRegistryOptions {
        key_prefix: KEY_PREFIX.to_string(),
        ..Default::default()
    };
    match RedisRegistry::connect_with(&url, options).await {
        Ok(registry) => registry,
        Err(e) => panic!("the registry cannot use the Redis at {url}: {e}"),
    }
}

/// A registry that keeps the shared hold on the server counters while a test
/// uses it.
struct Shared {
    registry: RedisRegistry,
    _counters: RwLockReadGuard<'static, ()>,
}

impl Deref for Shared {
    type Target = RedisRegistry;

    fn deref(&self) -> &RedisRegistry {
        &self.registry
    }
}

async fn make() -> Shared {
    let counters = SERVER_COUNTERS.read().await;
    Shared {
        registry: connect().await,
        _counters: counters,
    }
}

tidings_registry::registry_conformance_tests!(make().await);

fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("r{}-{nanos}-", std::process::id())
}

fn route(device: &str, gateway: &str) -> DeviceRoute {
    DeviceRoute {
        device_id: device.to_string(),
        gateway: gateway.to_string(),
    }
}

async fn admin_connection() -> redis::aio::MultiplexedConnection {
    let url = reachable_url().await;
    redis::Client::open(url.as_str())
        .unwrap_or_else(|e| panic!("bad TIDINGS_TEST_REDIS {url}: {e}"))
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("no Redis at {url}: {e}; run `scripts/redis.sh start`"))
}

/// Runs `command` (name, then arguments) on the admin connection.
async fn admin_query<T: redis::FromRedisValue>(
    admin: &mut redis::aio::MultiplexedConnection,
    command: &[&str],
) -> T {
    let (name, args) = command.split_first().expect("a command name");
    redis::cmd(name)
        .arg(args)
        .query_async(admin)
        .await
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// Reconnects race with the old gateway's clean-up, each gateway on its own
/// connection as in production; the newest registration always survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_and_unregisters_never_lose_the_newest_entry() {
    let _counters = SERVER_COUNTERS.read().await;
    let gateways: Vec<(Arc<RedisRegistry>, String)> = vec![
        (Arc::new(connect().await), "gw0:7401".to_string()),
        (Arc::new(connect().await), "gw1:7401".to_string()),
        (Arc::new(connect().await), "gw2:7401".to_string()),
    ];
    let register = |g: usize, user: &str| {
        let (registry, address) = gateways[g].clone();
        let user = user.to_string();
        tokio::spawn(async move { registry.register(&user, "phone", &address, TTL).await })
    };
    let unregister = |g: usize, user: &str| {
        let (registry, address) = gateways[g].clone();
        let user = user.to_string();
        tokio::spawn(async move { registry.unregister(&user, "phone", &address).await })
    };
    let reader = &gateways[0].0;
    let p = unique_prefix();

    for i in 0..200 {
        let user = format!("{p}user{i}");
        register(0, &user).await.unwrap().unwrap();

        // The device moved to gw1 while gw0 cleans up after the old connection.
        let (moved, cleaned) = tokio::join!(register(1, &user), unregister(0, &user));
        moved.unwrap().unwrap();
        cleaned.unwrap().unwrap();
        let found = reader.lookup(std::slice::from_ref(&user)).await.unwrap();
        assert_eq!(found, vec![vec![route("phone", "gw1:7401")]], "round {i}");

        // Two reconnects (gw0, gw2) race each other and gw1's clean-up.
        let (a, b, c) = tokio::join!(register(0, &user), register(2, &user), unregister(1, &user));
        a.unwrap().unwrap();
        b.unwrap().unwrap();
        c.unwrap().unwrap();
        let found = reader.lookup(std::slice::from_ref(&user)).await.unwrap();
        let [routes] = found.as_slice() else {
            panic!("round {i}: one list per user expected, got {found:?}")
        };
        let [winner] = routes.as_slice() else {
            panic!("round {i}: exactly one live route expected, got {routes:?}")
        };
        let (winner, loser) = match winner.gateway.as_str() {
            "gw0:7401" => (0, 2),
            "gw2:7401" => (2, 0),
            other => panic!("round {i}: route names {other}, which did not register last"),
        };
        // The loser's late clean-up must not erase the winner's entry.
        assert!(
            !unregister(loser, &user).await.unwrap().unwrap(),
            "round {i}"
        );
        assert!(
            unregister(winner, &user).await.unwrap().unwrap(),
            "round {i}"
        );
        let found = reader.lookup(std::slice::from_ref(&user)).await.unwrap();
        assert_eq!(found, vec![Vec::<DeviceRoute>::new()], "round {i}");
    }
}

async fn command_stats(admin: &mut redis::aio::MultiplexedConnection) -> String {
    admin_query(admin, &["INFO", "commandstats"]).await
}

fn command_calls(info: &str, command: &str) -> u64 {
    let label = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&label))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

/// A fan-out to 1,000 users is one pipeline: the server runs exactly one
/// `HGETALL` per user and one `TIME` for the whole batch.
#[tokio::test]
async fn lookup_of_1000_users_is_one_pipeline() {
    let _counters = SERVER_COUNTERS.write().await;
    let registry = connect().await;
    let mut admin = admin_connection().await;
    let p = unique_prefix();
    let users: Vec<String> = (0..1000).map(|i| format!("{p}user{i}")).collect();
    for (i, user) in users.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let gateway = format!("gw{}:7401", i % 7);
        registry
            .register(user, "phone", &gateway, TTL)
            .await
            .unwrap();
        if i % 3 == 0 {
            registry
                .register(user, "laptop", &gateway, TTL)
                .await
                .unwrap();
        }
    }

    // Other clients of a shared server may run commands meanwhile: retry a
    // few times until a measurement sees only ours.
    let mut measured = Vec::new();
    for _ in 0..5 {
        let before = command_stats(&mut admin).await;
        let found = registry.lookup(&users).await.unwrap();
        let after = command_stats(&mut admin).await;

        assert_eq!(found.len(), users.len());
        for (i, routes) in found.iter().enumerate() {
            let gateway = format!("gw{}:7401", i % 7);
            let expected = match (i % 2 == 0, i % 3 == 0) {
                (false, _) => vec![],
                (true, false) => vec![route("phone", &gateway)],
                (true, true) => vec![route("laptop", &gateway), route("phone", &gateway)],
            };
            assert_eq!(routes, &expected, "user{i}");
        }

        let hgetall = command_calls(&after, "hgetall") - command_calls(&before, "hgetall");
        let time = command_calls(&after, "time") - command_calls(&before, "time");
        if (hgetall, time) == (1000, 1) {
            return;
        }
        measured.push((hgetall, time));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("expected 1000 HGETALL and 1 TIME per look-up, measured (hgetall, time) {measured:?}");
}

/// Keys follow the documented layout, carry a key-level expiry, and vanish
/// once their last device expired without unregistering.
#[tokio::test]
async fn abandoned_users_vanish_from_redis() {
    let _counters = SERVER_COUNTERS.read().await;
    let registry = connect().await;
    let mut admin = admin_connection().await;
    let user = format!("{}gone", unique_prefix());
    let key = format!("{KEY_PREFIX}{{u:{user}}}:devices");

    registry
        .register(&user, "phone", "gw1:7401", Duration::from_millis(400))
        .await
        .unwrap();
    registry
        .register(&user, "tablet", "gw1:7401", Duration::from_millis(300))
        .await
        .unwrap();
    let pttl: i64 = admin_query(&mut admin, &["PTTL", &key]).await;
    assert!(0 < pttl && pttl <= 400, "key {key} has pttl {pttl}");
    let value: String = admin_query(&mut admin, &["HGET", &key, "phone"]).await;
    assert!(value.starts_with("gw1:7401|"), "stored value {value:?}");

    tokio::time::sleep(Duration::from_millis(600)).await;
    let exists: i64 = admin_query(&mut admin, &["EXISTS", &key]).await;
    assert_eq!(exists, 0, "key {key} outlived its last device");
}

/// Room keys follow the documented layout, carry a key-level expiry, and
/// vanish once their last gateway expired without leaving.
#[tokio::test]
async fn abandoned_rooms_vanish_from_redis() {
    let _counters = SERVER_COUNTERS.read().await;
    let registry = connect().await;
    let mut admin = admin_connection().await;
    let room = format!("{}gone-room", unique_prefix());
    let key = format!("{KEY_PREFIX}{{r:{room}}}:gateways");

    registry
        .join_room(&room, "gw1:7401", Duration::from_millis(400))
        .await
        .unwrap();
    registry
        .join_room(&room, "gw2:7401", Duration::from_millis(300))
        .await
        .unwrap();
    let pttl: i64 = admin_query(&mut admin, &["PTTL", &key]).await;
    assert!(0 < pttl && pttl <= 400, "key {key} has pttl {pttl}");
    let value: String = admin_query(&mut admin, &["HGET", &key, "gw1:7401"]).await;
    assert!(
        value.parse::<u64>().is_ok(),
        "stored value {value:?} is not an expiry in ms"
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    let exists: i64 = admin_query(&mut admin, &["EXISTS", &key]).await;
    assert_eq!(exists, 0, "key {key} outlived its last gateway");
}

/// A gateway's mark follows the documented layout with the gateway's ttl,
/// and a mark lost from Redis (as in a restart without data) is reported.
#[tokio::test]
async fn a_lost_gateway_mark_is_reported() {
    let _counters = SERVER_COUNTERS.read().await;
    let registry = connect().await;
    let mut admin = admin_connection().await;
    let gateway = format!("{}gw1:7401", unique_prefix());
    let key = format!("{KEY_PREFIX}{{g:{gateway}}}:mark");

    assert!(!registry.mark_gateway(&gateway, TTL).await.unwrap());
    assert!(registry.mark_gateway(&gateway, TTL).await.unwrap());
    let pttl: i64 = admin_query(&mut admin, &["PTTL", &key]).await;
    assert!(0 < pttl && pttl <= 30_000, "key {key} has pttl {pttl}");

    let deleted: i64 = admin_query(&mut admin, &["DEL", &key]).await;
    assert_eq!(deleted, 1);
    assert!(
        !registry.mark_gateway(&gateway, TTL).await.unwrap(),
        "a mark lost from Redis must be reported"
    );
    let _: i64 = admin_query(&mut admin, &["DEL", &key]).await;
}
