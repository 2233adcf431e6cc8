//! The validation rules, on tokens signed here with the test keys of
//! `tests/fixtures/jwt`.

use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};

use super::*;

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";
const ED_A: &str = include_str!("../../../../tests/fixtures/jwt/ed25519-a.pem");
const ED_B: &str = include_str!("../../../../tests/fixtures/jwt/ed25519-b.pem");
const RSA: &str = include_str!("../../../../tests/fixtures/jwt/rsa.pem");
const JWKS_A: &str = include_str!("../../../../tests/fixtures/jwt/jwks-a.json");
const JWKS_B: &str = include_str!("../../../../tests/fixtures/jwt/jwks-b.json");

fn now() -> i64 {
    get_current_timestamp() as i64
}

fn claims(sub: &str, exp_in: i64) -> Value {
    json!({"sub": sub, "exp": now() + exp_in})
}

fn hs(claims: &Value) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    encode(&Header::new(Algorithm::HS256), claims, &key).unwrap()
}

fn signed(alg: Algorithm, kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(String::from);
    encode(&header, claims, &key).unwrap()
}

/// An authenticator with the HS secret and the JWKS file `jwks`.
async fn authenticator(
    jwks: &std::path::Path,
    tweak: impl FnOnce(&mut JwtConfig),
) -> JwtAuthenticator {
    let mut config = JwtConfig {
        hs_secret: SECRET.into(),
        jwks_file: jwks.display().to_string(),
        leeway_secs: 0,
        ..JwtConfig::default()
    };
    tweak(&mut config);
    JwtAuthenticator::from_config(&config).await.unwrap()
}

fn jwks_file(dir: &tempfile::TempDir, content: &str) -> std::path::PathBuf {
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, content).unwrap();
    path
}

async fn refusal(auth: &JwtAuthenticator, token: &str) -> String {
    let error = auth.authenticate(token).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::Unauthenticated, "{}", error.message);
    error.message
}

#[tokio::test]
async fn valid_tokens_name_the_user_and_their_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let auth = authenticator(&jwks_file(&dir, JWKS_A), |_| {}).await;
    let claims = claims("alice", 60);
    let expected_exp = claims["exp"].as_i64().unwrap() as u64 * 1000;
    for token in [
        hs(&claims),
        signed(Algorithm::EdDSA, Some("ed-a"), ED_A, &claims),
        signed(Algorithm::EdDSA, None, ED_A, &claims),
        signed(Algorithm::RS256, Some("rsa-1"), RSA, &claims),
    ] {
        let authenticated = auth.authenticate(&token).await.unwrap();
        assert_eq!(authenticated.user.as_str(), "alice");
        assert_eq!(authenticated.expires_at_ms, Some(expected_exp));
    }
}

#[tokio::test]
async fn claims_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let auth = authenticator(&jwks_file(&dir, JWKS_A), |c| {
        c.audience = "tidings".into();
        c.issuer = "https://idp.test".into();
    })
    .await;
    let good =
        json!({"sub": "bob", "exp": now() + 60, "aud": "tidings", "iss": "https://idp.test"});
    assert!(auth.authenticate(&hs(&good)).await.is_ok());
    let spoil = |key: &str, value: Value| {
        let mut claims = good.clone();
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(key),
            value => claims.as_object_mut().unwrap().insert(key.into(), value),
        };
        hs(&claims)
    };
    let cases = [
        (spoil("exp", json!(now() - 10)), "token expired"),
        (spoil("exp", Value::Null), "no exp claim"),
        (spoil("nbf", json!(now() + 60)), "not yet valid"),
        (spoil("aud", json!("other")), "wrong audience"),
        (spoil("aud", Value::Null), "no aud claim"),
        (spoil("iss", json!("https://evil.test")), "wrong issuer"),
        (spoil("sub", json!("a b")), "sub is not a user id"),
        (spoil("sub", Value::Null), "no sub claim"),
    ];
    for (token, why) in cases {
        let message = refusal(&auth, &token).await;
        assert!(message.contains(why), "{why}: {message}");
    }
}

#[tokio::test]
async fn leeway_forgives_a_little_skew() {
    let dir = tempfile::tempdir().unwrap();
    let auth = authenticator(&jwks_file(&dir, JWKS_A), |c| c.leeway_secs = 30).await;
    assert!(auth.authenticate(&hs(&claims("carol", -10))).await.is_ok());
    let message = refusal(&auth, &hs(&claims("carol", -60))).await;
    assert!(message.contains("token expired"), "{message}");
}

#[tokio::test]
async fn signatures_and_algorithms_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let auth = authenticator(&jwks_file(&dir, JWKS_A), |_| {}).await;
    let claims = claims("dave", 60);

    // Signed by another key under ed-a's id.
    let forged = signed(Algorithm::EdDSA, Some("ed-a"), ED_B, &claims);
    assert!(refusal(&auth, &forged).await.contains("bad signature"));
    // The signature's first character: all six of its bits are signature
    // bits (the last one's low bits are padding, and changing only those
    // left the signature the same, or made it undecodable, a quarter of the
    // time).
    let mut tampered = hs(&claims);
    let at = tampered.rfind('.').unwrap() + 1;
    let flipped = if tampered[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..at + 1, flipped);
    assert!(refusal(&auth, &tampered).await.contains("bad signature"));

    // alg none, unsigned.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    assert!(
        refusal(&auth, &none)
            .await
            .contains("algorithm none not allowed")
    );

    // An HS token "signed" with the RSA key's public half, under its id.
    let rsa_jwk = &serde_json::from_str::<Value>(JWKS_A).unwrap()["keys"][1];
    let public_half = rsa_jwk["n"].as_str().unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let key = EncodingKey::from_secret(public_half.as_bytes()).unwrap();
    let confused = encode(&header, &claims, &key).unwrap();
    let message = refusal(&auth, &confused).await;
    assert!(
        message.contains("algorithm HS256 not allowed for key \"rsa-1\""),
        "{message}"
    );

    // An EdDSA token under the RSA key's id.
    let wrong_kind = signed(Algorithm::EdDSA, Some("rsa-1"), ED_A, &claims);
    assert!(refusal(&auth, &wrong_kind).await.contains("not allowed"));

    assert!(
        refusal(&auth, "not.a.jwt")
            .await
            .contains("malformed token")
    );
    assert!(
        refusal(&auth, "dev:alice")
            .await
            .contains("malformed token")
    );
}

#[tokio::test]
async fn without_a_secret_hs_tokens_are_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let auth = authenticator(&jwks_file(&dir, JWKS_A), |c| c.hs_secret.clear()).await;
    let message = refusal(&auth, &hs(&claims("erin", 60))).await;
    assert!(
        message.contains("algorithm HS256 not allowed: no HMAC key"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_key_id_reloads_the_file_once_then_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = jwks_file(&dir, JWKS_A);
    let auth = authenticator(&path, |_| {}).await;
    let claims = claims("frank", 60);
    let old = signed(Algorithm::EdDSA, Some("ed-a"), ED_A, &claims);
    let new = signed(Algorithm::EdDSA, Some("ed-b"), ED_B, &claims);
    assert!(auth.authenticate(&old).await.is_ok());
    assert!(
        refusal(&auth, &new)
            .await
            .contains("unknown key id \"ed-b\"")
    );
    // Rotation: the new key replaces the old one in the file.
    std::fs::write(&path, JWKS_B).unwrap();
    assert_eq!(
        auth.authenticate(&new).await.unwrap().user.as_str(),
        "frank"
    );
    assert!(
        refusal(&auth, &old)
            .await
            .contains("unknown key id \"ed-a\"")
    );
}

#[tokio::test]
async fn a_secret_file_may_end_with_a_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let config = JwtConfig {
        hs_secret_file: secret.display().to_string(),
        ..JwtConfig::default()
    };
    let auth = JwtAuthenticator::from_config(&config).await.unwrap();
    assert!(auth.authenticate(&hs(&claims("gina", 60))).await.is_ok());
    std::fs::write(&secret, "short\n").unwrap();
    let error = JwtAuthenticator::from_config(&config).await.err().unwrap();
    assert!(error.contains("gateway.auth.jwt.hs_secret_file"), "{error}");
}
