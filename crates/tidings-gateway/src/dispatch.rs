//! The gateway's one dispatch table: which module serves each client frame,
//! and whether the connection's reader waits for it.
//!
//! Most frames run concurrently, up to the connection's in-flight limit, and
//! are answered as they finish (each answer names its request). Sends are
//! queued in read order before they run, so their conv seqs follow the order
//! the client sent them. Room frames change what the connection receives and
//! run in order, one at a time. Hello is the connection's own business (see
//! `connection`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tidings_core::{Error, ErrorCode};
use tidings_proto::client::v1::{
    ClientFrame, client_frame::Frame as In, server_frame::Frame as Out,
};

use crate::limits::Kind;
use crate::session::{Conn, Identity};

/// A frame's work, ready to run.
pub(crate) type Work = Pin<Box<dyn Future<Output = Result<Out, Error>> + Send + 'static>>;

/// How the reader treats a frame's work.
pub(crate) enum Mode {
    /// Run it beside the connection's other requests.
    Concurrent,
    /// Finish it before reading the next frame.
    InOrder,
}

/// Starts the work of an authenticated connection's frame (anything but
/// hello). Sends are queued here, before this returns.
pub(crate) fn start(conn: &Arc<Conn>, identity: &Arc<Identity>, frame: In) -> (Mode, Work) {
    if let Some(kind) = limit_kind(&frame)
        && let Err(limited) = conn.limits.check(&identity.user, kind)
    {
        return (Mode::Concurrent, Box::pin(async move { Err(limited) }));
    }
    let (c, id) = (Arc::clone(conn), Arc::clone(identity));
    match frame {
        In::Send(send) => (
            Mode::Concurrent,
            Box::pin(crate::messages::send(conn, identity, send)),
        ),
        // Events on stored messages are sends: queued now, in read order.
        In::EditMessage(edit) => (
            Mode::Concurrent,
            Box::pin(crate::message_events::send(conn, identity, edit)),
        ),
        In::RecallMessage(recall) => (
            Mode::Concurrent,
            Box::pin(crate::message_events::send(conn, identity, recall)),
        ),
        In::DeleteMessage(delete) => (
            Mode::Concurrent,
            Box::pin(crate::message_events::send(conn, identity, delete)),
        ),
        In::React(react) => (
            Mode::Concurrent,
            Box::pin(crate::message_events::send(conn, identity, react)),
        ),
        In::Pull(pull) => (
            Mode::Concurrent,
            Box::pin(async move { crate::messages::pull(&c, &id, pull).await }),
        ),
        In::Ack(ack) => (
            Mode::Concurrent,
            Box::pin(async move { crate::messages::ack(&c, &id, ack).await }),
        ),
        In::History(history) => (
            Mode::Concurrent,
            Box::pin(async move { crate::messages::history(&c, &id, history).await }),
        ),
        In::Ping(ping) => (
            Mode::Concurrent,
            Box::pin(async move {
                Ok(Out::Pong(tidings_proto::client::v1::Pong {
                    nonce: ping.nonce,
                }))
            }),
        ),
        In::RoomJoin(join) => (
            Mode::InOrder,
            Box::pin(async move { c.room_join(&id, join).await }),
        ),
        In::RoomLeave(_) => (
            Mode::InOrder,
            Box::pin(async move { c.room_leave(&id).await }),
        ),
        In::RoomSend(send) => (
            Mode::InOrder,
            Box::pin(async move { c.room_send(&id, send).await }),
        ),
        In::Typing(typing) => (
            Mode::Concurrent,
            Box::pin(async move { c.typing(&id, typing).await }),
        ),
        // In order, so a connection's watches change in the order it asked.
        In::PresenceSubscribe(subscribe) => (
            Mode::InOrder,
            Box::pin(async move { c.presence_subscribe(&id, subscribe).await }),
        ),
        In::PresenceUnsubscribe(unsubscribe) => (
            Mode::InOrder,
            Box::pin(async move { c.presence_unsubscribe(&id, unsubscribe).await }),
        ),
        // In order, so a register and a remove right after it end removed.
        In::RegisterPushToken(token) => (
            Mode::InOrder,
            Box::pin(async move { c.set_push_token(&id, Some(token)).await }),
        ),
        In::RemovePushToken(_) => (
            Mode::InOrder,
            Box::pin(async move { c.set_push_token(&id, None).await }),
        ),
        // The connection serves refresh itself: it moves its token expiry.
        In::Refresh(_) => (
            Mode::InOrder,
            Box::pin(async {
                Err(Error::new(
                    ErrorCode::Internal,
                    "refresh is served by the connection",
                ))
            }),
        ),
        In::Hello(_) => (
            Mode::InOrder,
            Box::pin(async {
                Err(Error::new(
                    ErrorCode::AlreadyAuthenticated,
                    "hello was already accepted on this connection",
                ))
            }),
        ),
        other @ (In::CreateGroup(_)
        | In::AddMembers(_)
        | In::RemoveMembers(_)
        | In::ListMembers(_)
        | In::ListGroups(_)
        | In::PullConversation(_)
        | In::ReadAck(_)
        | In::ConversationList(_)) => (
            Mode::Concurrent,
            Box::pin(async move {
                crate::groups::dispatch(&c.gateway, &id.user, &id.device, other).await
            }),
        ),
    }
}

/// The rate a frame counts against (`limits`), if any.
fn limit_kind(frame: &In) -> Option<Kind> {
    match frame {
        In::Send(_)
        | In::RoomSend(_)
        | In::EditMessage(_)
        | In::RecallMessage(_)
        | In::DeleteMessage(_)
        | In::React(_) => Some(Kind::Send),
        In::Pull(_) | In::History(_) | In::PullConversation(_) | In::ConversationList(_) => {
            Some(Kind::Read)
        }
        _ => None,
    }
}

/// The request type of a frame, as a metric label and span name.
pub(crate) fn frame_kind(frame: &ClientFrame) -> &'static str {
    match &frame.frame {
        None => "unknown",
        Some(In::Hello(_)) => "hello",
        Some(In::Send(_)) => "send",
        Some(In::Pull(_)) => "pull",
        Some(In::Ack(_)) => "ack",
        Some(In::History(_)) => "history",
        Some(In::Ping(_)) => "ping",
        Some(In::RoomJoin(_)) => "room_join",
        Some(In::RoomLeave(_)) => "room_leave",
        Some(In::RoomSend(_)) => "room_send",
        Some(In::Refresh(_)) => "refresh",
        Some(In::CreateGroup(_)) => "create_group",
        Some(In::AddMembers(_)) => "add_members",
        Some(In::RemoveMembers(_)) => "remove_members",
        Some(In::ListMembers(_)) => "list_members",
        Some(In::ListGroups(_)) => "list_groups",
        Some(In::PullConversation(_)) => "pull_conversation",
        Some(In::ReadAck(_)) => "read_ack",
        Some(In::ConversationList(_)) => "conversation_list",
        Some(In::EditMessage(_)) => "edit_message",
        Some(In::RecallMessage(_)) => "recall_message",
        Some(In::DeleteMessage(_)) => "delete_message",
        Some(In::React(_)) => "react",
        Some(In::Typing(_)) => "typing",
        Some(In::PresenceSubscribe(_)) => "presence_subscribe",
        Some(In::PresenceUnsubscribe(_)) => "presence_unsubscribe",
        Some(In::RegisterPushToken(_)) => "register_push_token",
        Some(In::RemovePushToken(_)) => "remove_push_token",
    }
}
