//! Client frames that change a stored message: edit, recall, delete, react.
//! Each becomes a send of an event message (kind and body from
//! `tidings_core::events`) queued with the connection's other sends, so it
//! keeps their order, dedupe and exactly-once path. Whether the caller may do
//! it is logic's decision; the gateway only encodes the frame.

use std::future::Future;

use tidings_core::Error;
use tidings_core::events::{DELETE_KIND, EDIT_KIND, REACTION_KIND, RECALL_KIND};
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tidings_proto::common::v1 as common;

use crate::session::{Conn, Identity};

/// A frame's event, as a send: conversation, client_msg_id, kind, body.
pub(crate) struct EventSend {
    conversation_id: String,
    client_msg_id: String,
    kind: &'static str,
    body: Vec<u8>,
}

impl From<client::EditMessage> for EventSend {
    fn from(edit: client::EditMessage) -> Self {
        let body = prost::Message::encode_to_vec(&common::MessageEdit {
            target: edit.target,
            body: edit.body,
        });
        EventSend {
            conversation_id: edit.conversation_id,
            client_msg_id: edit.client_msg_id,
            kind: EDIT_KIND,
            body,
        }
    }
}

impl From<client::RecallMessage> for EventSend {
    fn from(recall: client::RecallMessage) -> Self {
        let body = prost::Message::encode_to_vec(&common::MessageRemoval {
            target: recall.target,
        });
        EventSend {
            conversation_id: recall.conversation_id,
            client_msg_id: recall.client_msg_id,
            kind: RECALL_KIND,
            body,
        }
    }
}

impl From<client::DeleteMessage> for EventSend {
    fn from(delete: client::DeleteMessage) -> Self {
        let body = prost::Message::encode_to_vec(&common::MessageRemoval {
            target: delete.target,
        });
        EventSend {
            conversation_id: delete.conversation_id,
            client_msg_id: delete.client_msg_id,
            kind: DELETE_KIND,
            body,
        }
    }
}

impl From<client::React> for EventSend {
    fn from(react: client::React) -> Self {
        let body = prost::Message::encode_to_vec(&common::Reaction {
            target: react.target,
            emoji: react.emoji,
            remove: react.remove,
        });
        EventSend {
            conversation_id: react.conversation_id,
            client_msg_id: react.client_msg_id,
            kind: REACTION_KIND,
            body,
        }
    }
}

/// Queues the event now, like a send (see `messages::send`).
pub(crate) fn send(
    conn: &Conn,
    identity: &Identity,
    event: impl Into<EventSend>,
) -> impl Future<Output = Result<Out, Error>> + Send + 'static {
    let event = event.into();
    crate::messages::send(
        conn,
        identity,
        client::Send {
            conversation_id: event.conversation_id,
            client_msg_id: event.client_msg_id,
            kind: event.kind.to_string(),
            body: event.body,
        },
    )
}
