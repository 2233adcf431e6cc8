//! The router against real allocator servers on one section table: it learns
//! a section's owner from the structured `wrong_owner` refusal and retries
//! there, and forgets an owner that stopped answering, so the section moves
//! to an instance that can claim it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_sequence::{Allocator, SequenceConfig, SequenceServer, section_of};
use tidings_sequence_client::CommitOutcome::{Committed, Unknown};
use tidings_sequence_client::SequenceRouter;
use tidings_storage::SectionStore;
use tidings_storage::embedded::EmbeddedStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECTIONS: u32 = 4;
const KEY: &str = "user:routed";
const LEASE: Duration = Duration::from_millis(600);

struct Instance {
    address: SocketAddr,
    allocator: Arc<Allocator>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

async fn start(name: &str, store: Arc<dyn SectionStore>) -> Instance {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = SequenceConfig {
        sections: SECTIONS,
        step: 5,
        commit_deadline_ms: 100,
        lease_ms: LEASE.as_millis() as u64,
        instance_id: name.to_string(),
        ..SequenceConfig::default()
    };
    let allocator = Arc::new(Allocator::new(config, store, &address.to_string()));
    let service = SequenceServer::new(allocator.clone()).into_service();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
    });
    Instance {
        address,
        allocator,
        stop,
        server,
    }
}

#[tokio::test]
async fn router_follows_the_owner_named_in_the_refusal_and_forgets_a_dead_one() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn SectionStore> = EmbeddedStore::open(dir.path()).unwrap();
    let a = start("seq-a", store.clone()).await;
    let b = start("seq-b", store.clone()).await;
    let key = vec![KEY.to_string()];

    // A owns the key's section (no lease keeper runs: it lapses unless used).
    let first = a.allocator.allocate(&key).await.unwrap()[0];

    // The router's first guess for the section is B, which refuses, naming A.
    let section = section_of(KEY, SECTIONS) as usize;
    let mut instances = vec![String::new(); 2];
    instances[section % 2] = b.address.to_string();
    instances[(section + 1) % 2] = a.address.to_string();
    // These servers have no credential check; the router sends one anyway.
    let token = tidings_telemetry::ServiceToken::generate();
    let router = SequenceRouter::new(instances, SECTIONS, Duration::from_secs(5), token).unwrap();
    let second = router.allocate(&key).await.unwrap()[0];
    assert!(second > first);
    let refs = [(KEY.to_string(), second)];
    // A handed it out: A knows it committed, to the router and directly.
    assert_eq!(router.commit(&refs).await.unwrap(), [Committed]);
    assert_eq!(router.commit(&refs).await.unwrap(), [Committed]);
    assert_eq!(a.allocator.commit(&refs).await.unwrap(), [Committed]);

    // A goes away and its lease runs out: the router forgets it and B, asked
    // next, claims the section.
    a.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), a.server)
        .await
        .expect("A stops")
        .unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
    let third = router.allocate(&key).await.unwrap()[0];
    assert!(third > second);
    assert_eq!(
        router.commit(&[(KEY.to_string(), third)]).await.unwrap(),
        [Committed]
    );
    // A's seq was handed out under A's claim: B cannot tell.
    assert_eq!(router.commit(&refs).await.unwrap(), [Unknown]);
    assert_eq!(
        b.allocator.heads(&key).await.unwrap(),
        [third],
        "B serves the section now"
    );
    b.stop.send(()).unwrap();
}
