//! Typing signals (ephemeral): throttled here per connection and
//! conversation, forwarded by logic to the other members' gateways, written
//! to their connections by [`push_typing`]. Never stored.
//!
//! The throttle is the gateway's because it is per connection: logic sees at
//! most one signal per connection and conversation each
//! `gateway.typing_interval_ms`. Refused signals (not a member, unknown
//! conversation) free their slot again, so every one of them is answered
//! with its error rather than hidden behind the throttle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tidings_core::{ConversationId, Error};
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tidings_proto::gateway::v1::PushTypingRequest;
use tidings_proto::logic::v1 as logic;

use crate::Hub;
use crate::hub::Writes;
use crate::session::{Conn, Identity, server_frame};

/// Conversations remembered per connection before old slots are pruned.
const PRUNE_ABOVE: usize = 64;

/// When each conversation last had a typing signal forwarded from one
/// connection.
#[derive(Debug, Default)]
pub(crate) struct TypingThrottle {
    last_forwarded: Mutex<HashMap<String, Instant>>,
}

impl TypingThrottle {
    /// Takes the slot of `conversation` if its interval has passed; returns
    /// what to put back if the signal is refused after all.
    fn take(&self, conversation: &str, interval: Duration) -> Result<Option<Instant>, ()> {
        let mut last = self.last_forwarded.lock().expect("typing throttle lock");
        let now = Instant::now();
        if last.len() >= PRUNE_ABOVE {
            last.retain(|_, at| now.duration_since(*at) < interval);
        }
        let previous = last.get(conversation).copied();
        if previous.is_some_and(|at| now.duration_since(at) < interval) {
            return Err(());
        }
        last.insert(conversation.to_string(), now);
        Ok(previous)
    }

    /// Gives a slot taken by [`take`](Self::take) back.
    fn give_back(&self, conversation: &str, previous: Option<Instant>) {
        let mut last = self.last_forwarded.lock().expect("typing throttle lock");
        match previous {
            Some(at) => last.insert(conversation.to_string(), at),
            None => last.remove(conversation),
        };
    }
}

impl Conn {
    /// Forwards a typing signal unless this connection sent one to the
    /// conversation within the interval.
    pub(crate) async fn typing(
        &self,
        identity: &Identity,
        typing: client::Typing,
    ) -> Result<Out, Error> {
        // Malformed ids are refused here, without a call.
        ConversationId::parse(&typing.conversation_id)?;
        let conversation = typing.conversation_id;
        let interval = self.gateway.config.typing_interval();
        let Ok(previous) = self.typing.take(&conversation, interval) else {
            return Ok(answer(conversation, false));
        };
        let show_for = interval.saturating_mul(2).as_millis();
        let forwarded = self
            .gateway
            .backends
            .logic
            .clone()
            .typing(logic::TypingRequest {
                user_id: identity.user.to_string(),
                conversation_id: conversation.clone(),
                show_for_ms: u32::try_from(show_for).unwrap_or(u32::MAX),
            })
            .await;
        match forwarded {
            Ok(response) => Ok(answer(conversation, response.into_inner().forwarded)),
            Err(status) => {
                self.typing.give_back(&conversation, previous);
                Err(status.into())
            }
        }
    }
}

fn answer(conversation_id: String, forwarded: bool) -> Out {
    Out::TypingResult(client::TypingResult {
        conversation_id,
        forwarded,
    })
}

/// Writes a typing signal to every connection here of its recipients.
/// Ephemeral: a connection whose queue is full misses it and stays open.
pub(crate) fn push_typing(hub: &Hub, request: PushTypingRequest) -> Writes {
    let frame = server_frame(Out::TypingEvent(client::TypingEvent {
        conversation_id: request.conversation_id,
        user_id: request.user_id,
        expires_at_ms: request.expires_at_ms,
    }));
    let mut writes = Writes::default();
    for user in &request.recipient_ids {
        writes += hub.offer_to_user(user, &frame);
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_signal_per_interval_and_refusals_give_the_slot_back() {
        let throttle = TypingThrottle::default();
        let interval = Duration::from_secs(60);
        assert_eq!(throttle.take("dm:a:b", interval), Ok(None));
        assert!(throttle.take("dm:a:b", interval).is_err(), "throttled");
        assert_eq!(throttle.take("g:x", interval), Ok(None), "per conversation");

        throttle.give_back("g:x", None);
        assert_eq!(throttle.take("g:x", interval), Ok(None), "given back");
        assert!(
            throttle.take("g:x", Duration::ZERO).is_ok(),
            "interval passed"
        );
    }
}
