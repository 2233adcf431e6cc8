//! Behaviour every [`Registry`] implementation must show, written once and run
//! against each backend with
//! [`registry_conformance_tests!`](crate::registry_conformance_tests).
//!
//! Test bodies take a fresh registry and a unique prefix for user and room
//! ids, so a shared server (Redis) can run them side by side.

use std::time::Duration;

use crate::{DeviceRoute, Presence, PresenceFeed, PresenceNotice, Registry};

const TTL: Duration = Duration::from_secs(30);

fn route(device: &str, gateway: &str) -> DeviceRoute {
    DeviceRoute {
        device_id: device.to_string(),
        gateway: gateway.to_string(),
    }
}

/// Registered devices are found; unknown users have none.
pub async fn register_and_lookup(reg: &dyn Registry, p: &str) {
    let (alice, bob, carol) = (format!("{p}alice"), format!("{p}bob"), format!("{p}carol"));
    reg.register(&alice, "phone", "gw1:7401", TTL)
        .await
        .unwrap();
    reg.register(&alice, "laptop", "gw2:7401", TTL)
        .await
        .unwrap();
    reg.register(&bob, "phone", "gw1:7401", TTL).await.unwrap();
    let found = reg
        .lookup(&[alice.clone(), bob.clone(), carol.clone()])
        .await
        .unwrap();
    assert_eq!(
        found,
        vec![
            vec![route("laptop", "gw2:7401"), route("phone", "gw1:7401")],
            vec![route("phone", "gw1:7401")],
            vec![],
        ]
    );
}

/// A reconnect elsewhere replaces the route; the old gateway's clean-up then
/// removes nothing.
pub async fn stale_unregister_keeps_newer_entry(reg: &dyn Registry, p: &str) {
    let user = format!("{p}dave");
    reg.register(&user, "phone", "gw1:7401", TTL).await.unwrap();
    reg.register(&user, "phone", "gw2:7401", TTL).await.unwrap();
    assert!(!reg.unregister(&user, "phone", "gw1:7401").await.unwrap());
    let found = reg.lookup(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(found, vec![vec![route("phone", "gw2:7401")]]);
    assert!(reg.unregister(&user, "phone", "gw2:7401").await.unwrap());
    let found = reg.lookup(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(found, vec![Vec::<DeviceRoute>::new()]);
}

/// Entries disappear after their ttl unless refreshed.
pub async fn entries_expire_unless_refreshed(reg: &dyn Registry, p: &str) {
    let (erin, frank) = (format!("{p}erin"), format!("{p}frank"));
    let short = Duration::from_millis(1500);
    reg.register(&erin, "phone", "gw1:7401", short)
        .await
        .unwrap();
    reg.register(&frank, "phone", "gw1:7401", short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    reg.register(&frank, "phone", "gw1:7401", short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let found = reg.lookup(&[erin, frank]).await.unwrap();
    assert_eq!(found, vec![vec![], vec![route("phone", "gw1:7401")]]);
}

/// A batched look-up of many users returns each user's routes in order.
pub async fn batched_lookup_keeps_order(reg: &dyn Registry, p: &str) {
    let users: Vec<String> = (0..50).map(|i| format!("{p}user{i}")).collect();
    for (i, u) in users.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        reg.register(u, "d", &format!("gw{i}:1"), TTL)
            .await
            .unwrap();
    }
    let found = reg.lookup(&users).await.unwrap();
    for (i, routes) in found.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(routes, &vec![route("d", &format!("gw{i}:1"))]);
        } else {
            assert!(routes.is_empty(), "user{i} was never registered");
        }
    }
}

/// A room lists every gateway that joined it, once each, sorted; rooms are
/// independent of each other and of users with the same id.
pub async fn rooms_list_their_gateways(reg: &dyn Registry, p: &str) {
    let (lobby, stage, quiet) = (
        format!("{p}lobby"),
        format!("{p}stage"),
        format!("{p}quiet"),
    );
    reg.join_room(&lobby, "gw2:7401", TTL).await.unwrap();
    reg.join_room(&lobby, "gw1:7401", TTL).await.unwrap();
    reg.join_room(&lobby, "gw1:7401", TTL).await.unwrap();
    reg.join_room(&stage, "gw3:7401", TTL).await.unwrap();
    reg.register(&lobby, "phone", "gw9:7401", TTL)
        .await
        .unwrap();
    assert_eq!(
        reg.room_gateways(&lobby).await.unwrap(),
        ["gw1:7401", "gw2:7401"]
    );
    assert_eq!(reg.room_gateways(&stage).await.unwrap(), ["gw3:7401"]);
    assert!(reg.room_gateways(&quiet).await.unwrap().is_empty());
    let found = reg.lookup(std::slice::from_ref(&lobby)).await.unwrap();
    assert_eq!(found, vec![vec![route("phone", "gw9:7401")]]);
}

/// Leaving removes only the leaving gateway; leaving twice removes nothing.
pub async fn leaving_a_room_removes_only_that_gateway(reg: &dyn Registry, p: &str) {
    let room = format!("{p}hall");
    reg.join_room(&room, "gw1:7401", TTL).await.unwrap();
    reg.join_room(&room, "gw2:7401", TTL).await.unwrap();
    assert!(reg.leave_room(&room, "gw1:7401").await.unwrap());
    assert_eq!(reg.room_gateways(&room).await.unwrap(), ["gw2:7401"]);
    assert!(!reg.leave_room(&room, "gw1:7401").await.unwrap());
    assert!(reg.leave_room(&room, "gw2:7401").await.unwrap());
    assert!(reg.room_gateways(&room).await.unwrap().is_empty());
    assert!(
        !reg.leave_room(&format!("{p}never"), "gw1:7401")
            .await
            .unwrap()
    );
    // A room left empty can be joined again.
    reg.join_room(&room, "gw3:7401", TTL).await.unwrap();
    assert_eq!(reg.room_gateways(&room).await.unwrap(), ["gw3:7401"]);
}

/// A gateway's room entry disappears after its ttl unless refreshed.
pub async fn room_entries_expire_unless_refreshed(reg: &dyn Registry, p: &str) {
    let room = format!("{p}party");
    let short = Duration::from_millis(1500);
    reg.join_room(&room, "gw1:7401", short).await.unwrap();
    reg.join_room(&room, "gw2:7401", short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    reg.join_room(&room, "gw2:7401", short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(reg.room_gateways(&room).await.unwrap(), ["gw2:7401"]);
    // A join after the expiry brings the gateway back.
    reg.join_room(&room, "gw1:7401", TTL).await.unwrap();
    assert_eq!(
        reg.room_gateways(&room).await.unwrap(),
        ["gw1:7401", "gw2:7401"]
    );
}

/// A gateway's mark says whether the previous one was kept: not on the
/// first mark, yes while it is refreshed, not once it expired. Marks of
/// different gateways are independent.
pub async fn gateway_marks_tell_whether_they_were_kept(reg: &dyn Registry, p: &str) {
    let (gw1, gw2) = (format!("{p}gw1:7401"), format!("{p}gw2:7401"));
    let short = Duration::from_millis(600);
    assert!(!reg.mark_gateway(&gw1, short).await.unwrap(), "first mark");
    assert!(reg.mark_gateway(&gw1, short).await.unwrap(), "refreshed");
    assert!(
        !reg.mark_gateway(&gw2, TTL).await.unwrap(),
        "another gateway"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!reg.mark_gateway(&gw1, TTL).await.unwrap(), "expired");
    assert!(reg.mark_gateway(&gw1, TTL).await.unwrap());
    assert!(reg.mark_gateway(&gw2, TTL).await.unwrap());
}

/// A user is online while one of its devices has a live entry, whichever
/// gateway holds it; offline it shows the latest last-seen recorded, and an
/// earlier moment never replaces a later one.
pub async fn presence_follows_devices_and_last_seen(reg: &dyn Registry, p: &str) {
    let (gina, hank, ivan) = (format!("{p}gina"), format!("{p}hank"), format!("{p}ivan"));
    let users = [gina.clone(), hank.clone(), ivan.clone()];
    let offline = Presence {
        online: false,
        last_seen_ms: 0,
    };
    assert_eq!(reg.presence(&users).await.unwrap(), [offline; 3]);
    assert!(reg.presence(&[]).await.unwrap().is_empty());

    reg.register(&gina, "phone", "gw1:7401", TTL).await.unwrap();
    reg.register(&gina, "laptop", "gw2:7401", TTL)
        .await
        .unwrap();
    reg.register(&hank, "phone", "gw1:7401", TTL).await.unwrap();
    let found = reg.presence(&users).await.unwrap();
    assert_eq!(
        found.iter().map(|p| p.online).collect::<Vec<_>>(),
        [true, true, false]
    );

    // One device of two leaves: still online.
    reg.record_last_seen(&gina, 1_000, TTL).await.unwrap();
    reg.unregister(&gina, "phone", "gw1:7401").await.unwrap();
    let found = reg.presence(std::slice::from_ref(&gina)).await.unwrap();
    assert!(found[0].online);

    reg.record_last_seen(&gina, 2_000, TTL).await.unwrap();
    reg.unregister(&gina, "laptop", "gw2:7401").await.unwrap();
    reg.record_last_seen(&gina, 1_500, TTL).await.unwrap();
    let found = reg.presence(&users).await.unwrap();
    assert_eq!(
        found,
        [
            Presence {
                online: false,
                last_seen_ms: 2_000
            },
            Presence {
                online: true,
                last_seen_ms: 0
            },
            offline,
        ]
    );
}

/// A last-seen moment disappears after its ttl.
pub async fn last_seen_expires(reg: &dyn Registry, p: &str) {
    let user = format!("{p}jane");
    reg.record_last_seen(&user, 5_000, Duration::from_millis(600))
        .await
        .unwrap();
    let found = reg.presence(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(found[0].last_seen_ms, 5_000);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let found = reg.presence(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(found[0].last_seen_ms, 0, "expired");
    // After the expiry any moment is recorded again, even an earlier one.
    reg.record_last_seen(&user, 4_000, TTL).await.unwrap();
    let found = reg.presence(std::slice::from_ref(&user)).await.unwrap();
    assert_eq!(found[0].last_seen_ms, 4_000);
}

/// The next notice about one of `users` (a shared server carries others'
/// notices too), within 5 s.
async fn next_notice_about(feed: &mut PresenceFeed, users: &[&str]) -> String {
    let wait = async {
        loop {
            match feed.next().await.expect("the feed lives") {
                PresenceNotice::Changed(user) if users.contains(&user.as_str()) => return user,
                PresenceNotice::Changed(_) | PresenceNotice::Missed => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("a notice within 5 s")
}

/// Every feed gets every notice published after it was taken, in order.
pub async fn presence_notices_reach_every_feed(reg: &dyn Registry, p: &str) {
    let (kate, leo) = (format!("{p}kate"), format!("{p}leo"));
    let ours = [kate.as_str(), leo.as_str()];
    let mut first = reg.presence_feed().await.unwrap();
    let mut second = reg.presence_feed().await.unwrap();
    reg.publish_presence(&kate).await.unwrap();
    reg.publish_presence(&leo).await.unwrap();
    for feed in [&mut first, &mut second] {
        assert_eq!(next_notice_about(feed, &ours).await, kate);
        assert_eq!(next_notice_about(feed, &ours).await, leo);
    }
}

/// Generates one `#[tokio::test]` per conformance body. `$make` is an async
/// expression evaluating to something that derefs to a `dyn Registry`.
#[macro_export]
macro_rules! registry_conformance_tests {
    ($make:expr) => {
        $crate::registry_conformance_tests!(@one $make, register_and_lookup);
        $crate::registry_conformance_tests!(@one $make, stale_unregister_keeps_newer_entry);
        $crate::registry_conformance_tests!(@one $make, entries_expire_unless_refreshed);
        $crate::registry_conformance_tests!(@one $make, batched_lookup_keeps_order);
        $crate::registry_conformance_tests!(@one $make, rooms_list_their_gateways);
        $crate::registry_conformance_tests!(@one $make, leaving_a_room_removes_only_that_gateway);
        $crate::registry_conformance_tests!(@one $make, room_entries_expire_unless_refreshed);
        $crate::registry_conformance_tests!(@one $make, gateway_marks_tell_whether_they_were_kept);
        $crate::registry_conformance_tests!(@one $make, presence_follows_devices_and_last_seen);
        $crate::registry_conformance_tests!(@one $make, last_seen_expires);
        $crate::registry_conformance_tests!(@one $make, presence_notices_reach_every_feed);
    };
    (@one $make:expr, $name:ident) => {
        #[tokio::test]
        async fn $name() {
            let registry = $make;
            let prefix = format!(
                "t{}-{}-",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            );
            $crate::conformance::$name(&*registry, &prefix).await;
        }
    };
}
