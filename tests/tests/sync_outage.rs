//! A send retried while sync is down, on the distributed shape (CQL node,
//! Redis, every service its own process): each attempt fails without leaving
//! a copy behind, and once sync is back the retry stores the message once, in
//! History and in every inbox.

use tidings_core::ErrorCode;
use tidings_proto::sync::v1::PullRequest;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_testkit::{
    Cluster, Service, dm, server_code, service_channel, stored_messages, synced_device,
};

#[tokio::test]
async fn retries_during_a_sync_outage_store_the_message_once() {
    let mut cluster = Cluster::start("sync_outage", &[]).unwrap();
    let gateway = cluster.gateway().unwrap();
    let conversation = dm("alice", "bob");
    let alice = synced_device(&gateway.ws_url(), "alice", "a1").await;
    alice
        .send(&conversation, "before", "text", "sync is up")
        .await
        .expect("a send while sync is up");

    cluster.kill(Service::Sync);
    for attempt in 0..4 {
        let refused = alice
            .send(&conversation, "during", "text", "sync is down")
            .await;
        assert_eq!(
            server_code(refused),
            ErrorCode::Unavailable,
            "attempt {attempt} is refused as unavailable (retry later) while sync is down"
        );
    }
    cluster.restart(Service::Sync).unwrap();
    let ack = alice
        .send(&conversation, "during", "text", "sync is down")
        .await
        .expect("the retry after the outage is acknowledged");

    let history = stored_messages(&cluster.store.addr("store"), &conversation).await;
    let keys: Vec<&str> = history.iter().map(|m| m.client_msg_id.as_str()).collect();
    assert_eq!(
        keys,
        ["before", "during"],
        "the store timeline holds each message once"
    );
    let mut sync = SyncServiceClient::new(service_channel(&cluster.sync.addr("sync")));
    for user in ["alice", "bob"] {
        let page = sync
            .pull(PullRequest {
                user_id: user.into(),
                after: 0,
                limit: 100,
                max_bytes: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let copies = page
            .entries
            .iter()
            .filter(|e| e.message.as_ref().unwrap().message_id == ack.message_id)
            .count();
        assert_eq!(copies, 1, "{user}'s inbox holds the retried message once");
    }
}
