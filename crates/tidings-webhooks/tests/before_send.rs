//! The before_send hook against a real HTTP endpoint: signed requests,
//! allow / reject / replace answers, and fail-open or fail-closed when the
//! endpoint is dead, slow or broken.

mod common;

use common::{Reply, SECRET, TestServer, dead_url};
use serde::Serialize;
use tidings_webhooks::config::{BeforeSendConfig, SigningSecret};
use tidings_webhooks::{BeforeSendHook, BeforeSendOutcome, WebhookClient, WebhookError};

#[derive(Serialize)]
struct Send<'a> {
    sender: &'a str,
    conversation_id: &'a str,
    client_msg_id: &'a str,
    text: &'a str,
}

const SEND: Send<'static> = Send {
    sender: "alice",
    conversation_id: "dm:alice:bob",
    client_msg_id: "c-1",
    text: "hello bob",
};

fn hook(url: String, fail_open: bool, timeout_ms: u64) -> BeforeSendHook {
    let config = BeforeSendConfig {
        url,
        secret: SigningSecret::new(SECRET),
        timeout_ms,
        fail_open,
    };
    BeforeSendHook::new(&config, WebhookClient::new()).unwrap()
}

#[tokio::test]
async fn allow_is_signed_and_carries_the_request() {
    let server = TestServer::start(Reply::Json(r#"{"action":"allow"}"#.into())).await;
    let outcome = hook(server.url(), false, 2_000)
        .check("alice/c-1", &SEND)
        .await;
    assert!(matches!(outcome, BeforeSendOutcome::Allow), "{outcome:?}");
    let recorded = server.recorded();
    assert_eq!(recorded.len(), 1);
    let request = &recorded[0];
    assert!(request.signature_ok, "the endpoint verifies the signature");
    assert_eq!(request.event, "before_send");
    assert_eq!(request.event_id, "alice/c-1");
    assert_eq!(request.body, serde_json::to_vec(&SEND).unwrap());
}

#[tokio::test]
async fn an_empty_answer_allows() {
    let server = TestServer::start(Reply::Status(204)).await;
    let outcome = hook(server.url(), false, 2_000).check("e", &SEND).await;
    assert!(matches!(outcome, BeforeSendOutcome::Allow), "{outcome:?}");
}

#[tokio::test]
async fn reject_carries_the_reason() {
    let server = TestServer::start(Reply::Json(
        r#"{"action":"reject","reason":"links are not allowed"}"#.into(),
    ))
    .await;
    let outcome = hook(server.url(), true, 2_000).check("e", &SEND).await;
    assert!(!outcome.allows_send());
    assert!(
        matches!(&outcome, BeforeSendOutcome::Reject { reason } if reason == "links are not allowed"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn replace_rewrites_the_body() {
    let server = TestServer::start(Reply::Json(
        r#"{"action":"replace","body":"hello ***"}"#.into(),
    ))
    .await;
    let outcome = hook(server.url(), false, 2_000).check("e", &SEND).await;
    assert!(outcome.allows_send());
    assert!(
        matches!(&outcome, BeforeSendOutcome::Replace { body } if body == b"hello ***"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_dead_endpoint_fails_open_or_closed_as_configured() {
    let (_, url) = dead_url().await;
    let open = hook(url.clone(), true, 2_000).check("e", &SEND).await;
    assert!(open.allows_send());
    assert!(
        matches!(
            open,
            BeforeSendOutcome::FailedOpen {
                error: WebhookError::Transport(_)
            }
        ),
        "{open:?}"
    );
    let closed = hook(url, false, 2_000).check("e", &SEND).await;
    assert!(!closed.allows_send());
    assert!(
        matches!(
            closed,
            BeforeSendOutcome::FailedClosed {
                error: WebhookError::Transport(_)
            }
        ),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_stalled_endpoint_times_out() {
    let server = TestServer::start(Reply::Stall).await;
    let outcome = hook(server.url(), false, 200).check("e", &SEND).await;
    assert!(
        matches!(
            outcome,
            BeforeSendOutcome::FailedClosed {
                error: WebhookError::Timeout(_)
            }
        ),
        "{outcome:?}"
    );
    let outcome = hook(server.url(), true, 200).check("e", &SEND).await;
    assert!(
        matches!(
            outcome,
            BeforeSendOutcome::FailedOpen {
                error: WebhookError::Timeout(_)
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_error_status_or_a_garbled_answer_is_a_failure() {
    let server = TestServer::start(Reply::Status(500)).await;
    let outcome = hook(server.url(), false, 2_000).check("e", &SEND).await;
    assert!(
        matches!(
            outcome,
            BeforeSendOutcome::FailedClosed {
                error: WebhookError::Status(500)
            }
        ),
        "{outcome:?}"
    );
    server.set_reply(Reply::Json(r#"{"action":"perhaps"}"#.into()));
    let outcome = hook(server.url(), false, 2_000).check("e", &SEND).await;
    assert!(
        matches!(
            outcome,
            BeforeSendOutcome::FailedClosed {
                error: WebhookError::BadAnswer(_)
            }
        ),
        "{outcome:?}"
    );
}
