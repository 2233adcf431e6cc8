//! The JSON bodies of `POST /api/v1/<Method>`: the proto messages with
//! camelCase field names (as the protobuf JSON mapping names them), missing
//! fields meaning their default, unknown fields refused. 64-bit integers
//! are JSON numbers. Message bodies are bytes: a request gives either
//! `text` (a UTF-8 string, sent as its bytes) or `body` (standard base64);
//! answers always carry `body` (base64) and also `text` when the bytes are
//! UTF-8.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use tidings_core::Error;
use tidings_proto::common::v1::Message as PbMessage;
use tidings_proto::server::v1::{self as pb, send_message_request::Sender};

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SendMessage {
    user_id: Option<String>,
    system: Option<String>,
    conversation_id: String,
    idempotency_key: String,
    kind: String,
    text: Option<String>,
    body: Option<String>,
    sender_device: String,
}

impl TryFrom<SendMessage> for pb::SendMessageRequest {
    type Error = Error;
    fn try_from(r: SendMessage) -> Result<Self, Error> {
        let sender = match (r.user_id, r.system) {
            (Some(user), None) => Some(Sender::UserId(user)),
            (None, Some(system)) => Some(Sender::System(system)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(Error::invalid("set userId or system, not both")),
        };
        let body = match (r.text, r.body) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(body)) => BASE64
                .decode(body.as_bytes())
                .map_err(|e| Error::invalid(format!("body is not standard base64: {e}")))?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => return Err(Error::invalid("set text or body, not both")),
        };
        Ok(pb::SendMessageRequest {
            sender,
            conversation_id: r.conversation_id,
            idempotency_key: r.idempotency_key,
            kind: r.kind,
            body,
            sender_device: r.sender_device,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SendMessageAnswer {
    message_id: String,
    conversation_id: String,
    conv_seq: u64,
    created_at_ms: i64,
    duplicate: bool,
    sender_id: String,
}

impl From<pb::SendMessageResponse> for SendMessageAnswer {
    fn from(a: pb::SendMessageResponse) -> Self {
        SendMessageAnswer {
            message_id: a.message_id,
            conversation_id: a.conversation_id,
            conv_seq: a.conv_seq,
            created_at_ms: a.created_at_ms,
            duplicate: a.duplicate,
            sender_id: a.sender_id,
        }
    }
}

/// A plain request body: the same fields as the proto message.
macro_rules! plain_request {
    ($name:ident => $pb:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(default, deny_unknown_fields, rename_all = "camelCase")]
        pub(crate) struct $name { $($field: $ty),* }

        impl TryFrom<$name> for pb::$pb {
            type Error = Error;
            fn try_from(r: $name) -> Result<Self, Error> {
                Ok(pb::$pb { $($field: r.$field),* })
            }
        }
    };
}

/// A plain answer body: the same fields as the proto message.
macro_rules! plain_answer {
    ($name:ident <= $pb:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Debug, Serialize)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name { $($field: $ty),* }

        impl From<pb::$pb> for $name {
            fn from(a: pb::$pb) -> Self {
                $name { $($field: a.$field),* }
            }
        }
    };
}

plain_request!(CreateGroup => CreateGroupRequest {
    owner_id: String, group_id: String, name: String, member_ids: Vec<String>,
});
plain_request!(ChangeMembers => ChangeMembersRequest {
    actor_id: String, group_id: String, user_ids: Vec<String>,
});
plain_request!(DeleteGroup => DeleteGroupRequest { actor_id: String, group_id: String });
plain_request!(DisconnectUser => DisconnectUserRequest { user_id: String, device_id: String });
plain_request!(ListOnlineDevices => ListOnlineDevicesRequest { user_ids: Vec<String> });
plain_request!(ReadHistory => ReadHistoryRequest {
    conversation_id: String, as_user_id: String, before: u64, limit: u32,
});
plain_request!(MintClientToken => MintClientTokenRequest { user_id: String, ttl_secs: u64 });

plain_answer!(
    Group
        <= Group {
            group_id: String,
            conversation_id: String,
            name: String,
            owner: String,
            member_count: u64,
            large: bool,
        }
);
plain_answer!(
    DeleteGroupAnswer
        <= DeleteGroupResponse {
            group_id: String,
            removed: u64
        }
);
plain_answer!(
    DisconnectUserAnswer
        <= DisconnectUserResponse {
            closed: u32,
            gateways: u32
        }
);
plain_answer!(
    MintClientTokenAnswer
        <= MintClientTokenResponse {
            token: String,
            expires_at: i64
        }
);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OnlineUser {
    user_id: String,
    device_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ListOnlineDevicesAnswer {
    users: Vec<OnlineUser>,
}

impl From<pb::ListOnlineDevicesResponse> for ListOnlineDevicesAnswer {
    fn from(a: pb::ListOnlineDevicesResponse) -> Self {
        ListOnlineDevicesAnswer {
            users: a
                .users
                .into_iter()
                .map(|u| OnlineUser {
                    user_id: u.user_id,
                    device_ids: u.device_ids,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message {
    message_id: String,
    conversation_id: String,
    conv_seq: u64,
    sender_id: String,
    sender_device: String,
    client_msg_id: String,
    kind: String,
    body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    created_at_ms: i64,
}

impl From<PbMessage> for Message {
    fn from(m: PbMessage) -> Self {
        Message {
            body: BASE64.encode(&m.body),
            text: String::from_utf8(m.body).ok(),
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            conv_seq: m.conv_seq,
            sender_id: m.sender_id,
            sender_device: m.sender_device,
            client_msg_id: m.client_msg_id,
            kind: m.kind,
            created_at_ms: m.created_at_ms,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadHistoryAnswer {
    messages: Vec<Message>,
    has_more: bool,
}

impl From<pb::ReadHistoryResponse> for ReadHistoryAnswer {
    fn from(a: pb::ReadHistoryResponse) -> Self {
        ReadHistoryAnswer {
            messages: a.messages.into_iter().map(Message::from).collect(),
            has_more: a.has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_takes_text_or_base64_body_and_one_sender() {
        let parse = |json: &str| {
            let body: SendMessage = serde_json::from_str(json).unwrap();
            pb::SendMessageRequest::try_from(body)
        };
        let text = parse(r#"{"system":"billing","conversationId":"g:x","text":"hé"}"#).unwrap();
        assert_eq!(text.body, "hé".as_bytes());
        assert_eq!(text.sender, Some(Sender::System("billing".into())));
        let bytes = parse(r#"{"userId":"a","body":"AAEC"}"#).unwrap();
        assert_eq!(bytes.body, vec![0, 1, 2]);
        assert!(parse(r#"{"userId":"a","text":"x","body":"AA=="}"#).is_err());
        assert!(parse(r#"{"userId":"a","system":"b"}"#).is_err());
        assert!(parse(r#"{"userId":"a","body":"not base64!"}"#).is_err());
        assert!(serde_json::from_str::<SendMessage>(r#"{"userid":"a"}"#).is_err());
    }

    #[test]
    fn answers_carry_text_only_for_utf8_bodies() {
        let message = |body: Vec<u8>| {
            serde_json::to_value(Message::from(PbMessage {
                body,
                ..Default::default()
            }))
            .unwrap()
        };
        let utf8 = message(b"hi".to_vec());
        assert_eq!(utf8["text"], "hi");
        assert_eq!(utf8["body"], "aGk=");
        assert!(message(vec![0xff]).get("text").is_none());
    }
}
