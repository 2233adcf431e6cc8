//! `wss://` at the gateway (`[gateway.tls]`): a client trusting the test CA
//! says hello, sends and receives over TLS; one that does not is refused in
//! the handshake; a certificate written over the files is served to new
//! connections while old ones keep working, and a bad one is not.

#[path = "common/certs.rs"]
mod certs;

use std::path::Path;
use std::time::Duration;

use certs::{Ca, Leaf, leaf, new_ca};
use tidings_client::proto::server_frame::Frame;
use tidings_client::{ClientError, Connection, dev_token, trusting};
use tidings_testkit::{TestServer, dm, test_config};

const WAIT: Duration = Duration::from_secs(10);
/// `gateway.tls.reload_check_ms` of these tests.
const RELOAD_CHECK_MS: u64 = 100;

fn write_pair(dir: &Path, cert: &Leaf) {
    std::fs::write(dir.join("tls.crt"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("tls.key"), &cert.key_pem).unwrap();
}

async fn start(dir: &Path) -> TestServer {
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    TestServer::start_with(move |config| {
        config.gateway.tls.cert_file = cert_file.display().to_string();
        config.gateway.tls.key_file = key_file.display().to_string();
        config.gateway.tls.reload_check_ms = RELOAD_CHECK_MS;
    })
    .await
}

fn wss_url(server: &TestServer) -> String {
    let url = server.url();
    assert!(
        url.starts_with("wss://"),
        "the server names its TLS port wss: {url}"
    );
    url
}

/// A connection over `wss://` trusting `ca`, said hello as `user`.
async fn connect(url: &str, ca: &Ca, user: &str, device: &str) -> Connection {
    let conn = Connection::connect_with_tls(url, trusting(ca.pem.as_bytes()).unwrap())
        .await
        .expect("wss connection");
    conn.hello(&dev_token(user), device, 0).await.unwrap();
    conn
}

/// The server's own certificate as `conn` saw it.
fn peer_cert(conn: &Connection) -> Vec<u8> {
    conn.peer_certificates().expect("over TLS")[0].to_vec()
}

/// `from` sends `text` in alice and bob's conversation; `to` gets it as a
/// push.
async fn send_and_receive(from: &Connection, to: &Connection, client_id: &str, text: &str) {
    let conversation = dm("alice", "bob");
    let ack = from
        .send_message(&conversation, client_id, "text", text.as_bytes().to_vec())
        .await
        .unwrap();
    loop {
        let frame = to.next_push(WAIT).await.expect("push arrives");
        let Some(Frame::Push(push)) = frame.frame else {
            continue;
        };
        let message = push.entry.unwrap().message.unwrap();
        // Members' devices get their own messages too: skip earlier ones.
        if message.message_id == ack.message_id {
            assert_eq!(message.body, text.as_bytes());
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_serves_trusted_clients_refuses_others_and_reloads_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("Tidings test CA");
    let first = leaf(&ca, 1);
    write_pair(dir.path(), &first);
    let server = start(dir.path()).await;
    let url = wss_url(&server);

    // Hello, send and receive over wss://.
    let alice = connect(&url, &ca, "alice", "a1").await;
    let bob = connect(&url, &ca, "bob", "b1").await;
    assert_eq!(peer_cert(&alice), first.der);
    send_and_receive(&alice, &bob, "c-1", "over tls").await;

    // A client that does not trust the CA is refused in the handshake.
    let stranger = new_ca("Some other CA");
    let refused = Connection::connect_with_tls(&url, trusting(stranger.pem.as_bytes()).unwrap())
        .await
        .expect_err("an untrusted certificate is refused");
    let ClientError::Transport(e) = &refused else {
        panic!("expected a TLS error, got {refused:?}");
    };
    let tokio_tungstenite::tungstenite::Error::Io(io) = &**e else {
        panic!("expected the TLS handshake to fail, got {e:?}");
    };
    let tls_error = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    assert!(
        matches!(
            tls_error,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{io:?}"
    );
    // Nor does plain ws:// get a WebSocket from the TLS port.
    let plain_url = format!("ws://{}/ws", server.addresses.gateway_ws);
    let plain = tokio::time::timeout(WAIT, Connection::connect(&plain_url)).await;
    assert!(matches!(plain, Ok(Err(_))), "plain ws:// on the TLS port");

    // A bad new certificate file keeps the old certificate.
    std::fs::write(dir.path().join("tls.crt"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(3 * RELOAD_CHECK_MS)).await;
    let during = connect(&url, &ca, "carol", "c1").await;
    assert_eq!(peer_cert(&during), first.der, "the old certificate stays");

    // Rotation: a new certificate (new serial, new key) over the files.
    let second = leaf(&ca, 2);
    assert_ne!(second.der, first.der);
    write_pair(dir.path(), &second);
    tokio::time::sleep(Duration::from_millis(3 * RELOAD_CHECK_MS)).await;
    let alice_again = connect(&url, &ca, "alice", "a2").await;
    assert_eq!(
        peer_cert(&alice_again),
        second.der,
        "new connections see the new certificate"
    );
    // Connections opened before keep working, both ways.
    send_and_receive(&alice, &bob, "c-2", "after rotation").await;
    send_and_receive(&bob, &alice, "c-3", "still here").await;
    send_and_receive(&alice_again, &bob, "c-4", "from the new connection").await;
    assert!(!alice.is_closed() && !bob.is_closed());

    server.shutdown().await;
}

#[tokio::test]
async fn a_certificate_that_does_not_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("Tidings test CA");
    let good = leaf(&ca, 1);
    let other = leaf(&ca, 2);
    // The key of another certificate.
    std::fs::write(dir.path().join("tls.crt"), &good.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &other.key_pem).unwrap();
    let mut config = test_config(dir.path());
    config.gateway.tls.cert_file = dir.path().join("tls.crt").display().to_string();
    config.gateway.tls.key_file = dir.path().join("tls.key").display().to_string();
    let error = tidings::AllInOne::start(config.clone())
        .await
        .err()
        .expect("a key of another certificate fails the start")
        .to_string();
    assert!(error.contains("gateway.tls"), "{error}");

    config.gateway.tls.key_file = String::new();
    let error = tidings::TidingsConfig::validate(&config).unwrap_err();
    assert!(error.starts_with("gateway.tls.cert_file"), "{error}");
}
