//! TLS between services and mutual TLS as their credential (`[grpc.tls]`,
//! DESIGN §10), and TLS with client certificates at the server API
//! (`[server_api.tls]`), with certificates made here:
//!
//! - every service as its own process, with `client_auth = "required"` and
//!   no service token, carries a chat across two gateways (logic's pushes,
//!   the sequence router, sync's calls to logic: all over mTLS);
//! - a plain-text call, a TLS call without a client certificate and one with
//!   a certificate of another CA are refused in the handshake; a caller with
//!   a good certificate is served without any token, by tonic and grpcurl;
//! - a certificate written over the files is served to new connections, and
//!   a gateway started after the renewal is pushed to with it;
//! - the all-in-one in loopback mode calls its own services over mTLS, and
//!   `tidings health` checks a port over it;
//! - the server API serves JSON and gRPC over TLS to callers with a good
//!   certificate and an API key, and refuses callers without a certificate.
//!
//! The distributed shape runs on the CQL node and Redis `make test` starts.

#[path = "common/certs.rs"]
mod certs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use certs::{Ca, TlsDir, leaf, new_ca, text};
use tidings::config::{CallMode, ClientAuth};
use tidings_proto::sync::v1::PullRequest;
use tidings_proto::sync::v1::sync_service_client::SyncServiceClient;
use tidings_telemetry::ServiceDialer;
use tidings_testkit::{Cluster, TestServer, dm, service_channel, synced_device};
use tidings_tls::{ALPN_H2, ClientTls, ClientTlsOptions, ReloadingCert};
use tokio::io::AsyncReadExt as _;

const WAIT: Duration = Duration::from_secs(15);
/// `reload_check_ms` of these tests.
const RELOAD_CHECK_MS: u64 = 100;

/// A client trusting `ca_file`, presenting `cert` (a certificate directory)
/// when asked.
fn client(ca_file: &std::path::Path, cert: Option<&TlsDir>, alpn: &[&[u8]]) -> ClientTls {
    let client_cert = cert.map(|dir| {
        Arc::new(
            ReloadingCert::new(
                &dir.cert(),
                &dir.key(),
                Duration::from_millis(RELOAD_CHECK_MS),
                tidings_tls::provider(),
            )
            .unwrap(),
        )
    });
    ClientTls::new(&ClientTlsOptions {
        ca_file,
        client_cert,
        server_name: None,
        alpn,
    })
    .unwrap()
}

fn host_port(addr: &str) -> (&str, u16) {
    let (host, port) = addr.rsplit_once(':').unwrap();
    (host, port.parse().unwrap())
}

/// Why the server at `addr` ends a TLS session opened by `client`. Under
/// TLS 1.3 the client's half of the handshake ends first; the server's
/// verdict on its certificate arrives as an alert on the first read.
async fn refusal(addr: &str, client: &ClientTls) -> tidings_tls::rustls::Error {
    let (host, port) = host_port(addr);
    let outcome = tokio::time::timeout(WAIT, async {
        let mut stream = client.connect(host, port).await?;
        let mut buffer = [0u8; 64];
        loop {
            if stream.read(&mut buffer).await? == 0 {
                return Ok::<_, std::io::Error>(());
            }
        }
    })
    .await
    .expect("the server answers the handshake");
    let error = outcome.expect_err("the session is refused");
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<tidings_tls::rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS refusal: {error:?}"))
        .clone()
}

fn alert(description: tidings_tls::rustls::AlertDescription) -> tidings_tls::rustls::Error {
    tidings_tls::rustls::Error::AlertReceived(description)
}

/// The certificate the server at `addr` shows `client`.
async fn served_cert(addr: &str, client: &ClientTls) -> Vec<u8> {
    let (host, port) = host_port(addr);
    let stream = client.connect(host, port).await.expect("TLS session");
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// The head of bob's inbox, read from sync over `dialer`'s channel.
async fn bob_head(sync: &str, dialer: &ServiceDialer) -> Result<u64, tonic::Status> {
    let channel = dialer.channel(sync, WAIT, WAIT).unwrap();
    let request = PullRequest {
        user_id: "bob".into(),
        after: u64::MAX,
        limit: 1,
        max_bytes: 0,
    };
    let page = SyncServiceClient::new(channel).pull(request).await?;
    Ok(page.into_inner().head)
}

/// Whether a call failed for want of a connection (the server hung up in or
/// right after the handshake), not with an answer of the server's.
/// Whether a call failed in the transport, never reaching a handler: a
/// status a server sent has no source error, one made from a broken or
/// refused connection does (plain text on a TLS port ends in an HTTP/2
/// protocol error, a failed handshake in `Unavailable`).
fn connection_refused(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable || std::error::Error::source(status).is_some()
}

fn grpcurl() -> PathBuf {
    let path = std::env::var("TIDINGS_GRPCURL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/grpcurl")
        });
    assert!(path.exists(), "grpcurl not found: run scripts/grpcurl.sh");
    path
}

/// grpcurl with `args`: whether it succeeded, and what it printed.
async fn run_grpcurl(args: &[String]) -> (bool, String) {
    let output = tokio::process::Command::new(grpcurl())
        .args(args)
        .output()
        .await
        .expect("grpcurl runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

fn grpc_tls_env(tls: &TlsDir) -> Vec<(&'static str, String)> {
    vec![
        ("TIDINGS__GRPC__SERVICE_TOKEN", String::new()),
        ("TIDINGS__GRPC__TLS__CERT_FILE", text(&tls.cert())),
        ("TIDINGS__GRPC__TLS__KEY_FILE", text(&tls.key())),
        ("TIDINGS__GRPC__TLS__CA_FILE", text(&tls.ca())),
        ("TIDINGS__GRPC__TLS__CLIENT_AUTH", "required".into()),
        (
            "TIDINGS__GRPC__TLS__RELOAD_CHECK_MS",
            RELOAD_CHECK_MS.to_string(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_chat_over_mutual_tls_and_refuse_callers_without_a_good_certificate() {
    let ca = new_ca("Tidings services CA");
    let first = leaf(&ca, 1);
    let tls = TlsDir::new(&ca, &first);
    let env = grpc_tls_env(&tls);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start("mtls", &env).unwrap();
    let gw1 = cluster.gateway().unwrap();
    let gw2 = cluster.gateway().unwrap();

    // A chat across gateways: devices reach logic and sync through their
    // gateway, logic allocates, stores and pushes to gateway 2, all over
    // mTLS with no service token anywhere.
    let alice = synced_device(&gw1.ws_url(), "alice", "a1").await;
    let mut bob = synced_device(&gw2.ws_url(), "bob", "b1").await;
    alice
        .send(&dm("alice", "bob"), "m-1", "text", "over mtls")
        .await
        .expect("send");
    let pushed = bob.next_push(WAIT).await.expect("the push reaches bob");
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"over mtls");

    // A caller with a certificate from the CA needs no token.
    let sync = cluster.sync.addr("sync");
    let trusted = ServiceDialer::new(None, Some(client(&tls.ca(), Some(&tls), &[ALPN_H2])));
    assert_eq!(bob_head(&sync, &trusted).await.expect("served"), 1);

    // Plain text, even with the test's service token, gets no answer.
    let plain = SyncServiceClient::new(service_channel(&sync))
        .pull(PullRequest {
            user_id: "bob".into(),
            after: 0,
            limit: 10,
            max_bytes: 0,
        })
        .await
        .expect_err("plain text on a TLS port");
    assert!(connection_refused(&plain), "{plain:?}");

    // TLS without a client certificate, or with one of another CA: refused
    // in the handshake, on every service's port, and no call gets through.
    let anonymous = client(&tls.ca(), None, &[ALPN_H2]);
    let other_ca = new_ca("Some other CA");
    let stranger_dir = TlsDir::new(&other_ca, &leaf(&other_ca, 7));
    let stranger = client(&tls.ca(), Some(&stranger_dir), &[ALPN_H2]);
    use tidings_tls::rustls::AlertDescription::{CertificateRequired, UnknownCA};
    for addr in [
        cluster.sequence.addr("sequence"),
        cluster.store.addr("store"),
        sync.clone(),
        cluster.logic.addr("logic"),
        gw1.addr("gateway_grpc"),
    ] {
        assert_eq!(refusal(&addr, &anonymous).await, alert(CertificateRequired));
        assert_eq!(refusal(&addr, &stranger).await, alert(UnknownCA));
    }
    let no_cert = ServiceDialer::new(None, Some(anonymous));
    let refused = bob_head(&sync, &no_cert).await.expect_err("no certificate");
    assert!(connection_refused(&refused), "{refused:?}");

    // grpcurl: with the certificate, reflection and calls are served without
    // a token; without it, or in plain text, nothing is.
    let with_cert = |more: &[&str]| {
        let mut args: Vec<String> = ["-cacert", &text(&tls.ca())].map(String::from).to_vec();
        args.extend(["-cert", &text(&tls.cert()), "-key", &text(&tls.key())].map(String::from));
        args.extend(more.iter().map(|s| s.to_string()));
        args
    };
    let pull = r#"{"userId":"bob","after":0,"limit":10}"#;
    let method = "tidings.sync.v1.SyncService/Pull";
    let (ok, printed) = run_grpcurl(&with_cert(&["-d", pull, &sync, method])).await;
    assert!(ok && printed.contains("\"entries\""), "{printed}");
    let no_cert_args = ["-cacert", &text(&tls.ca()), &sync, "list"].map(String::from);
    let (ok, printed) = run_grpcurl(&no_cert_args).await;
    assert!(!ok, "served without a certificate: {printed}");
    let (ok, printed) = run_grpcurl(&["-plaintext", &sync, "list"].map(String::from)).await;
    assert!(!ok, "served in plain text: {printed}");

    // Renewal: a new certificate over the files is served to new sessions,
    // and presented by services to the peers they dial from now on.
    let second = leaf(&ca, 2);
    tls.write(&second);
    tokio::time::sleep(Duration::from_millis(3 * RELOAD_CHECK_MS)).await;
    let trusting = client(&tls.ca(), Some(&tls), &[ALPN_H2]);
    assert_eq!(
        served_cert(&cluster.store.addr("store"), &trusting).await,
        second.der
    );
    let gw3 = cluster.gateway().unwrap();
    let mut carol = synced_device(&gw3.ws_url(), "carol", "c1").await;
    alice
        .send(&dm("alice", "carol"), "m-2", "text", "after renewal")
        .await
        .expect("send after the renewal");
    let pushed = carol.next_push(WAIT).await.expect("the push reaches carol");
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"after renewal");
    // Sessions opened before keep working.
    alice
        .send(&dm("alice", "bob"), "m-3", "text", "still here")
        .await
        .expect("send");
    let pushed = bob.next_push(WAIT).await.expect("the push reaches bob");
    assert_eq!(pushed[0].message.as_ref().unwrap().body, b"still here");
}

/// Sets `[grpc.tls]` with mutual TLS and no token on a test config.
fn mutual_tls(config: &mut tidings::TidingsConfig, tls: &TlsDir) {
    config.grpc.service_token.clear();
    config.grpc.tls.cert_file = text(&tls.cert());
    config.grpc.tls.key_file = text(&tls.key());
    config.grpc.tls.ca_file = text(&tls.ca());
    config.grpc.tls.client_auth = ClientAuth::Required;
    config.grpc.tls.reload_check_ms = RELOAD_CHECK_MS;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_in_loopback_mode_calls_its_services_over_mutual_tls() {
    let ca = new_ca("Tidings services CA");
    let tls = TlsDir::new(&ca, &leaf(&ca, 1));
    let server = TestServer::start_with(|config| {
        mutual_tls(config, &tls);
        config.all_in_one.calls = CallMode::Loopback;
    })
    .await;
    let alice = server.synced_device("alice", "a1").await;
    let mut bob = server.synced_device("bob", "b1").await;
    alice
        .send(&dm("alice", "bob"), "m-1", "text", "loopback mtls")
        .await
        .expect("send through the all-in-one's own mTLS calls");
    assert_eq!(bob.pull_all().await.expect("bob pulls").head, 1);

    let sync = server.addresses.sync.to_string();
    let anonymous = client(&tls.ca(), None, &[ALPN_H2]);
    use tidings_tls::rustls::AlertDescription::CertificateRequired;
    assert_eq!(refusal(&sync, &anonymous).await, alert(CertificateRequired));

    // What the chart's probes run: a health check over mTLS.
    let mut config = tidings_testkit::test_config(tls.path());
    mutual_tls(&mut config, &tls);
    tidings::health::check(&config, &sync, "", WAIT)
        .await
        .expect("healthy over mTLS");
    // Peers' certificates must carry `server_name` when it is set.
    config.grpc.tls.server_name = "localhost".into();
    tidings::health::check(&config, &sync, "tidings.sync.v1.SyncService", WAIT)
        .await
        .expect("the certificate names localhost");
    config.grpc.tls.server_name = "tidings-internal".into();
    let wrong = tidings::health::check(&config, &sync, "", WAIT)
        .await
        .expect_err("the certificate does not name tidings-internal");
    assert!(!wrong.to_string().is_empty());
    server.shutdown().await;
}

const KEY: &str = "key-backend-0123456789";

/// `POST /api/v1/ReadHistory` over HTTPS (HTTP/1.1) with the API key.
async fn read_history(addr: SocketAddr, client: &ClientTls) -> std::io::Result<u16> {
    use http_body_util::{BodyExt, Full};
    let stream = client.connect("127.0.0.1", addr.port()).await?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    let body = serde_json::json!({ "conversationId": dm("alice", "bob") }).to_string();
    let request = hyper::Request::post("/api/v1/ReadHistory")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Full::new(hyper::body::Bytes::from(body)))
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_api_serves_tls_to_callers_with_a_certificate_and_refuses_others() {
    let server_ca: Ca = new_ca("Tidings server API CA");
    let served = TlsDir::new(&server_ca, &leaf(&server_ca, 1));
    let callers_ca = new_ca("Product backend CA");
    let caller = TlsDir::new(&callers_ca, &leaf(&callers_ca, 1));
    let server = TestServer::start_with(|config| {
        let api = &mut config.server_api;
        api.keys = vec![tidings_server_api::config::ApiKeyConfig {
            name: "backend".into(),
            sha256: tidings_server_api::hash_key(KEY),
            scopes: vec![
                tidings_server_api::Scope::Read,
                tidings_server_api::Scope::Send,
            ],
        }];
        api.tls.cert_file = text(&served.cert());
        api.tls.key_file = text(&served.key());
        api.tls.client_ca_file = text(&caller.ca());
    })
    .await;
    let api = server.addresses.server_api;
    let http1: &[&[u8]] = &[tidings_tls::ALPN_HTTP1];

    // JSON over HTTPS with a certificate and the key: served.
    let good = client(&served.ca(), Some(&caller), http1);
    assert_eq!(read_history(api, &good).await.expect("served"), 200);
    // gRPC over TLS (grpcurl, by reflection): served with both.
    let args = [
        "-cacert",
        &text(&served.ca()),
        "-cert",
        &text(&caller.cert()),
        "-key",
        &text(&caller.key()),
        "-H",
        &format!("authorization: Bearer {KEY}"),
        &api.to_string(),
        "list",
    ]
    .map(String::from);
    let (ok, printed) = run_grpcurl(&args).await;
    assert!(
        ok && printed.contains("tidings.server.v1.ServerApi"),
        "{printed}"
    );

    // Without a certificate: refused in the handshake, the key unused.
    let anonymous = client(&served.ca(), None, http1);
    use tidings_tls::rustls::AlertDescription::CertificateRequired;
    assert_eq!(
        refusal(&api.to_string(), &anonymous).await,
        alert(CertificateRequired)
    );
    assert!(read_history(api, &anonymous).await.is_err());
    let no_cert = [&args[..2], &args[6..]].concat();
    let (ok, printed) = run_grpcurl(&no_cert).await;
    assert!(!ok, "served without a certificate: {printed}");
    server.shutdown().await;
}
