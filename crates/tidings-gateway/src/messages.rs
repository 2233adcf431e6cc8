//! Client frames about messages: send, pull, ack, history, ping.

use std::future::Future;

use tidings_core::Error;
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tidings_proto::logic::v1 as logic;
use tidings_proto::sync::v1 as sync;

use crate::frame_limit::{answer_budget, fit};
use crate::session::{Conn, Identity};

/// Queues a send in the gateway's batcher *now*, so sends keep the order
/// they were read in; the returned future waits for logic's answer.
pub(crate) fn send(
    conn: &Conn,
    identity: &Identity,
    send: client::Send,
) -> impl Future<Output = Result<Out, Error>> + Send + 'static {
    let answer = conn.gateway.sends.submit(logic::SendRequest {
        sender_id: identity.user.to_string(),
        sender_device: identity.device.to_string(),
        conversation_id: send.conversation_id,
        client_msg_id: send.client_msg_id,
        kind: send.kind,
        body: send.body,
        // Only the server API sends as a system sender.
        system_sender: false,
    });
    async move {
        let ack = answer
            .await
            .map_err(|_| Error::unavailable("the send was dropped; resend it"))??;
        Ok(Out::SendAck(client::SendAck {
            message_id: ack.message_id,
            conversation_id: ack.conversation_id,
            conv_seq: ack.conv_seq,
            created_at_ms: ack.created_at_ms,
            duplicate: ack.duplicate,
        }))
    }
}

pub(crate) async fn pull(
    conn: &Conn,
    identity: &Identity,
    pull: client::Pull,
) -> Result<Out, Error> {
    let max_frame_bytes = conn.gateway.config.max_frame_bytes;
    let page = conn
        .gateway
        .backends
        .sync
        .clone()
        .pull(sync::PullRequest {
            user_id: identity.user.to_string(),
            after: pull.after,
            limit: pull.limit,
            max_bytes: answer_budget(max_frame_bytes),
        })
        .await?
        .into_inner();
    // Cut by the plain size before compressing: the compressed page is
    // smaller still, and the device can size its decompression by the
    // frame limit.
    let page = fit(
        Out::PullResult(client::PullResult {
            entries: page.entries,
            head: page.head,
            has_more: page.has_more,
            truncated: page.truncated,
            conversation_heads: page
                .conversation_heads
                .into_iter()
                .map(|h| client::ConversationHead {
                    conversation_id: h.conversation_id,
                    head: h.head,
                })
                .collect(),
            compressed_entries: Vec::new(),
        }),
        max_frame_bytes,
    )?;
    let Out::PullResult(page) = page else {
        return Ok(page);
    };
    Ok(Out::PullResult(crate::compression::compress_page(
        identity.compress_above,
        page,
    )))
}

pub(crate) async fn ack(conn: &Conn, identity: &Identity, ack: client::Ack) -> Result<Out, Error> {
    conn.gateway
        .backends
        .sync
        .clone()
        .ack_checkpoint(sync::AckCheckpointRequest {
            user_id: identity.user.to_string(),
            device_id: identity.device.to_string(),
            checkpoint: ack.checkpoint,
        })
        .await?;
    Ok(Out::AckResult(client::AckResult {
        checkpoint: ack.checkpoint,
    }))
}

pub(crate) async fn history(
    conn: &Conn,
    identity: &Identity,
    history: client::History,
) -> Result<Out, Error> {
    let page = conn
        .gateway
        .backends
        .logic
        .clone()
        .history(logic::HistoryRequest {
            user_id: identity.user.to_string(),
            conversation_id: history.conversation_id,
            before: history.before,
            limit: history.limit,
            max_bytes: answer_budget(conn.gateway.config.max_frame_bytes),
        })
        .await?
        .into_inner();
    Ok(Out::HistoryResult(client::HistoryResult {
        messages: page.messages,
        has_more: page.has_more,
    }))
}
