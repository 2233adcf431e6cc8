//! Typed requests: one method per request frame of the client protocol, each
//! returning the answer it calls for.

use tidings_proto::client::v1 as pb;
use tidings_proto::client::v1::{client_frame, server_frame};

use prost::Message as _;

use crate::connection::Connection;
use crate::error::{ClientError, Result};

/// Pull pages whose entries encode to more than this are sent compressed.
pub const DEFAULT_COMPRESS_ABOVE: u32 = 8 * 1024;

/// Largest decompressed pull page accepted.
const MAX_PAGE_BYTES: usize = 64 << 20;

impl Connection {
    /// Authenticates the connection; must be the first request. Pull pages
    /// above [`DEFAULT_COMPRESS_ABOVE`] bytes come compressed (and are
    /// decompressed by [`Connection::pull`]).
    pub async fn hello(
        &self,
        token: &str,
        device_id: &str,
        checkpoint: u64,
    ) -> Result<pb::Welcome> {
        self.hello_with(token, device_id, checkpoint, DEFAULT_COMPRESS_ABOVE)
            .await
    }

    /// [`Connection::hello`] choosing the compression threshold (0: never).
    pub async fn hello_with(
        &self,
        token: &str,
        device_id: &str,
        checkpoint: u64,
        compress_above: u32,
    ) -> Result<pb::Welcome> {
        let hello = pb::Hello {
            token: token.to_string(),
            device_id: device_id.to_string(),
            checkpoint,
            compress_above,
        };
        match self.request(client_frame::Frame::Hello(hello)).await?.frame {
            Some(server_frame::Frame::Welcome(welcome)) => Ok(welcome),
            other => Err(unexpected("welcome", other)),
        }
    }

    /// Sends a message; answers once it is stored and in every member's inbox.
    pub async fn send_message(
        &self,
        conversation_id: &str,
        client_msg_id: &str,
        kind: &str,
        body: Vec<u8>,
    ) -> Result<pb::SendAck> {
        let send = pb::Send {
            conversation_id: conversation_id.to_string(),
            client_msg_id: client_msg_id.to_string(),
            kind: kind.to_string(),
            body,
        };
        match self.request(client_frame::Frame::Send(send)).await?.frame {
            Some(server_frame::Frame::SendAck(ack)) => Ok(ack),
            other => Err(unexpected("send_ack", other)),
        }
    }

    /// One page of the caller's inbox after `after`; `limit` 0 means the server default.
    pub async fn pull(&self, after: u64, limit: u32) -> Result<pb::PullResult> {
        let pull = pb::Pull { after, limit };
        let mut result = match self.request(client_frame::Frame::Pull(pull)).await?.frame {
            Some(server_frame::Frame::PullResult(result)) => result,
            other => return Err(unexpected("pull_result", other)),
        };
        if !result.compressed_entries.is_empty() {
            let bytes = zstd::bulk::decompress(&result.compressed_entries, MAX_PAGE_BYTES)
                .map_err(|e| ClientError::Protocol(format!("compressed pull page: {e}")))?;
            result.entries = pb::InboxEntries::decode(bytes.as_slice())
                .map_err(|e| ClientError::Protocol(format!("compressed pull page: {e}")))?
                .entries;
            result.compressed_entries.clear();
        }
        Ok(result)
    }

    /// Records `checkpoint` server-side; returns the checkpoint the server recorded.
    pub async fn ack(&self, checkpoint: u64) -> Result<u64> {
        let ack = pb::Ack { checkpoint };
        match self.request(client_frame::Frame::Ack(ack)).await?.frame {
            Some(server_frame::Frame::AckResult(result)) => Ok(result.checkpoint),
            other => Err(unexpected("ack_result", other)),
        }
    }

    /// One page of a conversation's history, newest first, with `conv_seq < before`
    /// (`before` 0 means from the newest).
    pub async fn history(
        &self,
        conversation_id: &str,
        before: u64,
        limit: u32,
    ) -> Result<pb::HistoryResult> {
        let history = pb::History {
            conversation_id: conversation_id.to_string(),
            before,
            limit,
        };
        match self
            .request(client_frame::Frame::History(history))
            .await?
            .frame
        {
            Some(server_frame::Frame::HistoryResult(result)) => Ok(result),
            other => Err(unexpected("history_result", other)),
        }
    }

    /// Replaces the connection's token before it expires (the new token must
    /// name the same user); returns the new expiry in unix milliseconds (0:
    /// never). Without a refresh the server closes the connection when the
    /// token expires (close code 4001).
    pub async fn refresh(&self, token: &str) -> Result<u64> {
        let refresh = pb::Refresh {
            token: token.to_string(),
        };
        match self
            .request(client_frame::Frame::Refresh(refresh))
            .await?
            .frame
        {
            Some(server_frame::Frame::Refreshed(refreshed)) => Ok(refreshed.expires_at_ms),
            other => Err(unexpected("refreshed", other)),
        }
    }

    /// Round trip; returns the echoed nonce.
    pub async fn ping(&self, nonce: u64) -> Result<u64> {
        match self
            .request(client_frame::Frame::Ping(pb::Ping { nonce }))
            .await?
            .frame
        {
            Some(server_frame::Frame::Pong(pong)) => Ok(pong.nonce),
            other => Err(unexpected("pong", other)),
        }
    }
}

pub(crate) fn unexpected(expected: &'static str, got: Option<server_frame::Frame>) -> ClientError {
    ClientError::UnexpectedFrame {
        expected,
        got: match got {
            Some(frame) => format!("{frame:?}"),
            None => "a frame without a body".to_string(),
        },
    }
}
