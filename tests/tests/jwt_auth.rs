//! JWT authentication at the gateway, over real WebSocket connections to a
//! real all-in-one: what a client is told when its token is refused, that a
//! rotated JWKS file is followed, and that a connection lives as long as its
//! token (and its refreshes) do, then gets an error frame and a close.
//!
//! Test keys: tests/fixtures/jwt (see its README).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use tidings_client::proto::server_frame;
use tidings_client::{ClientError, Connection, Disconnect};
use tidings_core::ErrorCode;
use tidings_testkit::TestServer;

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &str = "jwt-auth-test-secret-of-32-bytes-or-more";
const AUDIENCE: &str = "tidings-test";
const ISSUER: &str = "https://idp.tidings.test";
/// The close code of a connection whose token expired.
const CLOSE_TOKEN_EXPIRED: u16 = 4001;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/jwt")
        .join(name)
}

fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).expect("fixture")
}

fn now() -> i64 {
    get_current_timestamp() as i64
}

/// Valid claims for `sub`, expiring in `exp_in` seconds.
fn claims(sub: &str, exp_in: i64) -> Value {
    json!({"sub": sub, "exp": now() + exp_in, "aud": AUDIENCE, "iss": ISSUER})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

/// A token signed with the Ed25519 fixture key `pem`, under `kid`.
fn ed_token(pem: &str, kid: &str, claims: &Value) -> String {
    let key = EncodingKey::from_ed_pem(read_fixture(pem).as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    encode(&header, claims, &key).unwrap()
}

fn hs_token(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(String::from);
    encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

/// An all-in-one taking JWTs: the HS secret and a JWKS file (a copy of
/// `jwks-a.json` in `dir`, which tests may overwrite), no leeway.
async fn jwt_server(dir: &Path) -> (TestServer, PathBuf) {
    let jwks = dir.join("jwks.json");
    std::fs::copy(fixture("jwks-a.json"), &jwks).unwrap();
    let jwks_file = jwks.display().to_string();
    let server = TestServer::start_with(|config| {
        let auth = &mut config.gateway.auth;
        auth.scheme = tidings::AuthScheme::Jwt;
        auth.jwt.hs_secret = SECRET.into();
        auth.jwt.jwks_file = jwks_file;
        auth.jwt.audience = AUDIENCE.into();
        auth.jwt.issuer = ISSUER.into();
        auth.jwt.leeway_secs = 0;
    })
    .await;
    (server, jwks)
}

/// Hello with `token` on a new connection.
async fn hello(server: &TestServer, token: &str) -> (Connection, Result<String, ClientError>) {
    let conn = Connection::connect(&server.url()).await.expect("connect");
    let welcome = conn.hello(token, "phone", 0).await.map(|w| w.user_id);
    (conn, welcome)
}

/// Hello with `token` must be refused as unauthenticated, saying `why`; the
/// connection stays.
async fn refused(server: &TestServer, token: &str, why: &str) {
    let (conn, answer) = hello(server, token).await;
    match answer {
        Err(ClientError::Server {
            code,
            message,
            connection_kept,
            ..
        }) => {
            assert_eq!(code, ErrorCode::Unauthenticated, "{why}: {message}");
            assert!(message.contains(why), "expected {why:?} in {message:?}");
            assert!(connection_kept, "{why}");
        }
        other => panic!("{why}: expected a refusal, got {other:?}"),
    }
    // Still open, and still waiting for a hello it accepts.
    match conn.ping(1).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::Unauthenticated),
        other => panic!("{why}: expected unauthenticated before hello, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_tokens_are_accepted_and_bad_ones_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _jwks) = jwt_server(dir.path()).await;

    let good = claims("alice", 60);
    for token in [
        ed_token("ed25519-a.pem", "ed-a", &good),
        hs_token(SECRET.as_bytes(), None, &good),
    ] {
        let (conn, welcome) = hello(&server, &token).await;
        assert_eq!(welcome.expect("accepted"), "alice");
        assert_eq!(conn.ping(7).await.unwrap(), 7);
    }

    let ed = |claims: &Value| ed_token("ed25519-a.pem", "ed-a", claims);
    refused(&server, &ed(&claims("alice", -5)), "token expired").await;
    let early = with(good.clone(), "nbf", json!(now() + 60));
    refused(&server, &ed(&early), "token not yet valid").await;
    let elsewhere = with(good.clone(), "aud", json!("another-product"));
    refused(&server, &ed(&elsewhere), "wrong audience").await;
    let foreign = with(good.clone(), "iss", json!("https://evil.test"));
    refused(&server, &ed(&foreign), "wrong issuer").await;
    // Signed by the other Ed25519 key, under ed-a's id.
    let forged = ed_token("ed25519-b.pem", "ed-a", &good);
    refused(&server, &forged, "bad signature").await;
    let wrong_secret = hs_token(b"another-secret-of-at-least-32-bytes!!", None, &good);
    refused(&server, &wrong_secret, "bad signature").await;

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&good)
    );
    refused(&server, &unsigned, "algorithm none not allowed").await;

    // HS256 "signed" with the RSA key's public modulus, naming the RSA key:
    // the classic confusion, refused before any signature check.
    let jwks: Value = serde_json::from_str(&read_fixture("jwks-a.json")).unwrap();
    let modulus = jwks["keys"][1]["n"].as_str().unwrap();
    let confused = hs_token(modulus.as_bytes(), Some("rsa-1"), &good);
    refused(
        &server,
        &confused,
        "algorithm HS256 not allowed for key \"rsa-1\"",
    )
    .await;

    refused(
        &server,
        &ed_token("ed25519-b.pem", "ed-b", &good),
        "unknown key id \"ed-b\"",
    )
    .await;
    refused(&server, "dev:alice", "malformed token").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_rotated_jwks_file_takes_the_new_key_and_drops_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let (server, jwks) = jwt_server(dir.path()).await;
    let good = claims("bob", 60);
    let old = ed_token("ed25519-a.pem", "ed-a", &good);
    let new = ed_token("ed25519-b.pem", "ed-b", &good);
    assert_eq!(hello(&server, &old).await.1.expect("old key before"), "bob");
    refused(&server, &new, "unknown key id \"ed-b\"").await;

    // The identity provider rotates: the new key replaces the old one.
    std::fs::write(&jwks, read_fixture("jwks-b.json")).unwrap();
    assert_eq!(hello(&server, &new).await.1.expect("new key after"), "bob");
    refused(&server, &old, "unknown key id \"ed-a\"").await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_refresh_keeps_the_connection_past_the_first_tokens_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _jwks) = jwt_server(dir.path()).await;
    let short = ed_token("ed25519-a.pem", "ed-a", &claims("carol", 2));
    let (conn, welcome) = hello(&server, &short).await;
    assert_eq!(welcome.unwrap(), "carol");

    // A token for someone else does not move this connection's expiry.
    let mallory = ed_token("ed25519-a.pem", "ed-a", &claims("mallory", 60));
    match conn.refresh(&mallory).await {
        Err(ClientError::Server {
            code,
            message,
            connection_kept,
            ..
        }) => {
            assert_eq!(code, ErrorCode::Unauthenticated, "{message}");
            assert!(message.contains("mallory"), "{message}");
            assert!(connection_kept);
        }
        other => panic!("a refresh for another user must be refused, got {other:?}"),
    }
    let renewed = claims("carol", 60);
    let expires_at_ms = conn
        .refresh(&ed_token("ed25519-a.pem", "ed-a", &renewed))
        .await
        .expect("refreshed");
    assert_eq!(expires_at_ms, renewed["exp"].as_u64().unwrap() * 1000);

    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(conn.ping(9).await.expect("alive past the first exp"), 9);
    assert!(conn.disconnect().is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_refresh_the_connection_gets_an_error_then_the_close() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _jwks) = jwt_server(dir.path()).await;
    let short = ed_token("ed25519-a.pem", "ed-a", &claims("dave", 2));
    let (conn, welcome) = hello(&server, &short).await;
    assert_eq!(welcome.unwrap(), "dave");

    let frame = conn.next_frame(WAIT).await.expect("the expiry error frame");
    let Some(server_frame::Frame::Error(error)) = frame.frame else {
        panic!("expected an error frame, got {frame:?}");
    };
    assert_eq!(frame.request_id, 0);
    assert_eq!(
        ErrorCode::from_client(error.code()),
        Some(ErrorCode::Unauthenticated)
    );
    assert!(
        error.message.starts_with("token expired"),
        "{}",
        error.message
    );
    assert!(!error.connection_kept);
    match conn.wait_closed(WAIT).await {
        Some(Disconnect::ServerClosed { code, .. }) => assert_eq!(code, CLOSE_TOKEN_EXPIRED),
        other => panic!("expected close {CLOSE_TOKEN_EXPIRED}, got {other:?}"),
    }
    server.shutdown().await;
}
