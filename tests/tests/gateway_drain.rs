//! SIGTERM drains a gateway: every client gets a Close frame with 1012
//! (service restart) instead of a dropped socket (1006), sends in flight get
//! their ack or an `UNAVAILABLE` error within `gateway.drain_timeout_ms`,
//! the gateway's registry entries are gone, and the process exits. Both the
//! distributed gateway binary and the all-in-one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidings_client::{ClientError, Connection, Disconnect, dev_token};
use tidings_core::ErrorCode;
use tidings_registry::Registry as _;
use tidings_testkit::{Cluster, ProcessServer, ServiceProcess, dm, stored_messages, synced_device};

const WAIT: Duration = Duration::from_secs(15);
const DRAIN_MS: u64 = 3000;

/// A connection of `user` that has said hello, shared by sending tasks.
async fn connection(url: &str, user: &str, device: &str) -> Arc<Connection> {
    let conn = Connection::connect(url).await.unwrap();
    conn.hello(&dev_token(user), device, 0).await.unwrap();
    Arc::new(conn)
}

/// How `conn` ended, and when (from `since`).
async fn close_of(conn: &Connection, since: Instant) -> (Disconnect, Duration) {
    let ended = conn.wait_closed(WAIT).await.expect("the connection closed");
    (ended, since.elapsed())
}

fn assert_restart_close(ended: &Disconnect, who: &str) {
    match ended {
        Disconnect::ServerClosed { code, .. } => assert_eq!(*code, 1012, "{who}: {ended:?}"),
        other => panic!("{who}: expected a Close frame with 1012, got {other:?}"),
    }
}

/// SIGTERM `gateway` from a blocking thread; resolves to the exit status
/// and how long the process took to exit.
fn terminate(gateway: ServiceProcess) -> tokio::task::JoinHandle<(bool, Duration)> {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let status = gateway.terminate().expect("SIGTERM");
        (status.success(), started.elapsed())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_a_gateway_of_the_distributed_shape() {
    let drain_ms = DRAIN_MS.to_string();
    let cluster = Cluster::start(
        "drain",
        &[("TIDINGS__GATEWAY__DRAIN_TIMEOUT_MS", drain_ms.as_str())],
    )
    .unwrap();
    let survivor = cluster.gateway().unwrap();
    let registry = cluster.registry().await.unwrap();
    let conversation = dm("alice", "bob");

    // 1. A send in flight when SIGTERM arrives, answered before the deadline.
    let gw1 = cluster.gateway().unwrap();
    let gw1_grpc = gw1.addr("gateway_grpc");
    let alice = connection(&gw1.ws_url(), "alice", "a1").await;
    let mut bob = synced_device(&gw1.ws_url(), "bob", "b1").await;
    let dave = synced_device(&gw1.ws_url(), "dave", "d1").await;
    cluster.store.pause().unwrap();
    let in_flight = tokio::spawn({
        let (alice, conversation) = (Arc::clone(&alice), conversation.clone());
        async move {
            let result = alice
                .send_message(&conversation, "drain-1", "text", b"in flight".to_vec())
                .await;
            (result, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sigterm = Instant::now();
    let exited = terminate(gw1);
    let resume_store = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        cluster.store.resume().unwrap();
    };
    // Watched side by side from the SIGTERM on, so each close is timed
    // when it happens.
    let ((alice_end, alice_closed), (bob_end, bob_closed), (dave_end, dave_closed), in_flight, ()) = tokio::join!(
        close_of(&alice, sigterm),
        close_of(bob.connection(), sigterm),
        close_of(dave.connection(), sigterm),
        in_flight,
        resume_store,
    );
    let (result, answered) = in_flight.unwrap();
    let (clean, exit_took) = exited.await.unwrap();
    println!(
        "gateway 1 SIGTERM (store paused for 1 s): send answered {:?} at {} ms; close frames at {} / {} / {} ms; exit at {} ms",
        result
            .as_ref()
            .map(|ack| ack.conv_seq)
            .map_err(ClientError::code),
        answered.duration_since(sigterm).as_millis(),
        alice_closed.as_millis(),
        bob_closed.as_millis(),
        dave_closed.as_millis(),
        exit_took.as_millis()
    );
    // The store came back within the deadline: the send was answered before
    // the close (an ack, unless logic gave up on the store first).
    if let Err(e) = &result {
        assert!(e.code().is_some(), "no answer before the close: {e}");
    }
    assert!(
        answered <= sigterm + alice_closed,
        "answered after the close"
    );
    for (end, who) in [
        (&alice_end, "alice"),
        (&bob_end, "bob"),
        (&dave_end, "dave"),
    ] {
        assert_restart_close(end, who);
    }
    assert!(clean, "the drained gateway exits cleanly");
    assert!(
        exit_took < Duration::from_millis(DRAIN_MS + 4000),
        "{exit_took:?}"
    );
    // Dave, idle, was told at once; the sender only after its answer.
    assert!(dave_closed < Duration::from_millis(1000), "{dave_closed:?}");
    let users = ["alice", "bob", "dave"].map(String::from);
    for (user, routes) in users.iter().zip(registry.lookup(&users).await.unwrap()) {
        assert!(
            routes.iter().all(|route| route.gateway != gw1_grpc),
            "{user} still registered at the drained gateway: {routes:?}"
        );
    }

    // 2. A send still in flight at the deadline is answered UNAVAILABLE.
    let gw2 = cluster.gateway().unwrap();
    let alice = connection(&gw2.ws_url(), "alice", "a1").await;
    cluster.store.pause().unwrap();
    let in_flight = tokio::spawn({
        let (alice, conversation) = (Arc::clone(&alice), conversation.clone());
        async move {
            let result = alice
                .send_message(&conversation, "drain-2", "text", b"too late".to_vec())
                .await;
            (result, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sigterm = Instant::now();
    let exited = terminate(gw2);
    let (result, answered) = in_flight.await.unwrap();
    let (alice_end, alice_closed) = close_of(&alice, sigterm).await;
    let (clean, exit_took) = exited.await.unwrap();
    cluster.store.resume().unwrap();
    println!(
        "gateway 2 SIGTERM (store paused past the {DRAIN_MS} ms deadline): send answered {:?} at {} ms; close frame at {} ms; exit at {} ms",
        result.as_ref().map_err(ClientError::code),
        answered.duration_since(sigterm).as_millis(),
        alice_closed.as_millis(),
        exit_took.as_millis()
    );
    match result {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::Unavailable),
        other => panic!("expected UNAVAILABLE for the unfinished send, got {other:?}"),
    }
    assert_restart_close(&alice_end, "alice");
    assert!(clean);
    assert!(
        exit_took < Duration::from_millis(DRAIN_MS + 4000),
        "{exit_took:?}"
    );

    // 3. Everyone reconnects to the surviving gateway and resends what was
    // in flight with the same client_msg_id; each is stored once.
    let alice = connection(&survivor.ws_url(), "alice", "a1").await;
    let mut resent = Vec::new();
    for client_msg_id in ["drain-1", "drain-2"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        resent.push(loop {
            match alice
                .send_message(&conversation, client_msg_id, "text", b"again".to_vec())
                .await
            {
                Ok(ack) => break ack.message_id,
                Err(e) if Instant::now() < deadline && e.code() != Some(ErrorCode::Internal) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("resend of {client_msg_id}: {e}"),
            }
        });
    }
    if let Ok(ack) = &result {
        assert_eq!(ack.message_id, resent[0], "the resend is the same message");
    }
    let stored = stored_messages(&cluster.store.addr("store"), &conversation).await;
    for (client_msg_id, id) in ["drain-1", "drain-2"].iter().zip(&resent) {
        let copies: Vec<&str> = stored
            .iter()
            .filter(|m| m.client_msg_id == *client_msg_id)
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(copies, [id.as_str()], "{client_msg_id} stored once");
    }
    // Bob, reconnected to the survivor, gets both.
    bob.reconnect_to(&survivor.ws_url()).await.unwrap();
    bob.pull_all().await.unwrap();
    let applied: Vec<&str> = bob
        .applied()
        .iter()
        .map(|entry| entry.message.as_ref().unwrap().message_id.as_str())
        .collect();
    for id in &resent {
        assert!(applied.contains(&id.as_str()), "{id} not in {applied:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_the_all_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let drain_ms = DRAIN_MS.to_string();
    let server = ProcessServer::start(
        dir.path(),
        &[("TIDINGS__GATEWAY__DRAIN_TIMEOUT_MS", drain_ms.as_str())],
    )
    .unwrap();
    let url = server.ws_url.clone();
    let idle: Vec<Arc<Connection>> = futures_util::future::join_all((0..20).map(|i| {
        let url = url.clone();
        async move { connection(&url, &format!("idle{i}"), "d1").await }
    }))
    .await;
    // A sender that keeps sends in flight through the SIGTERM.
    let alice = connection(&url, "alice", "a1").await;
    let sender = tokio::spawn({
        let alice = Arc::clone(&alice);
        async move {
            let mut outcomes = Vec::new();
            for i in 0.. {
                let id = format!("storm-{i}");
                let outcome = alice
                    .send_message(&dm("alice", "idle0"), &id, "text", b"hi".to_vec())
                    .await;
                let stop = outcome.is_err();
                outcomes.push(outcome);
                if stop {
                    return outcomes;
                }
            }
            outcomes
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sigterm = Instant::now();
    let exited = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        (server.terminate().unwrap().success(), started.elapsed())
    });
    let ends = futures_util::future::join_all(
        idle.iter()
            .chain([&alice])
            .map(|conn| close_of(conn, sigterm)),
    )
    .await;
    let mut closes = Vec::new();
    for (end, at) in ends {
        assert_restart_close(&end, "client");
        closes.push(at);
    }
    let outcomes = sender.await.unwrap();
    let (clean, exit_took) = exited.await.unwrap();
    let acked = outcomes.iter().filter(|o| o.is_ok()).count();
    let last = outcomes.last().unwrap();
    println!(
        "all-in-one SIGTERM: {} clients got Close 1012 within {} ms; {acked} sends acked, the last one ended {:?}; exit at {} ms",
        closes.len(),
        closes.iter().max().unwrap().as_millis(),
        last.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        exit_took.as_millis()
    );
    assert!(acked > 0);
    // The send the drain caught was either answered UNAVAILABLE or never
    // read (the connection closed under it); it never waited for a timeout.
    match last {
        Err(ClientError::Server { code, .. }) => assert_eq!(*code, ErrorCode::Unavailable),
        Err(ClientError::Closed) => {}
        other => panic!("unexpected end of the sender: {other:?}"),
    }
    assert!(clean);
    assert!(
        exit_took < Duration::from_millis(DRAIN_MS + 4000),
        "{exit_took:?}"
    );
}
