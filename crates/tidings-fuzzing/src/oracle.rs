//! What the client protocol promises, checked against what one connection
//! received: every request answered exactly once and with its own frame type
//! (or the connection closed after an error frame with a stable code), the
//! hello-first rule, and the orderings the proto documents for pages.

use std::collections::HashMap;

use tidings_core::ErrorCode;
use tidings_proto::client::v1::{
    self as client, ServerFrame, client_frame::Frame as In, server_frame::Frame as Out,
};

use crate::plan::{Expect, Limits, Outgoing, Request};
use crate::script::Ending;

/// What the client saw on its connection.
#[derive(Debug, Default)]
pub struct Received {
    /// Every binary message, decoded, in arrival order.
    pub frames: Vec<ServerFrame>,
    /// Messages that were not one `ServerFrame` in a binary message.
    pub not_frames: Vec<String>,
    /// The connection ended before the client left it.
    pub ended_by_server: bool,
    /// The WebSocket close frame's code and reason, if one came.
    pub close: Option<(u16, String)>,
    /// The wait for answers ran out.
    pub timed_out: bool,
}

impl Received {
    /// Frames that answer something (all but pushes).
    pub fn answers(&self) -> usize {
        self.frames.iter().filter(|f| !is_push(f)).count()
    }
}

fn is_push(frame: &ServerFrame) -> bool {
    matches!(
        frame.frame,
        Some(Out::Push(_) | Out::ConversationPush(_) | Out::RoomMessage(_))
    )
}

/// Checks one connection's exchange; `sent` is how many messages of `plan`
/// went out before the client stopped (all, unless the server closed first).
pub fn check(
    plan: &[Outgoing],
    sent: usize,
    ending: Ending,
    received: &Received,
    limits: Limits,
) -> Result<(), String> {
    let mut failures = Vec::new();
    let mut fail = |why: String| failures.push(why);
    for bad in &received.not_frames {
        fail(format!("the server sent {bad}, not a ServerFrame"));
    }
    let sent = &plan[..sent.min(plan.len())];
    let requests: HashMap<u64, &Request> = sent
        .iter()
        .filter_map(|o| match &o.expect {
            Expect::Answer(request) => Some((request.id, request)),
            _ => None,
        })
        .collect();

    let mut answers: HashMap<u64, &Out> = HashMap::new();
    let mut refusals: Vec<&client::Error> = Vec::new();
    let mut closing_error: Option<&client::Error> = None;
    for frame in &received.frames {
        if let Some(error) = closing_error {
            fail(format!(
                "{frame:?} came after the error that closes the connection ({error:?})"
            ));
            break;
        }
        let Some(out) = &frame.frame else {
            fail(format!("a server frame with no frame type: {frame:?}"));
            continue;
        };
        if is_push(frame) {
            if frame.request_id != 0 {
                fail(format!(
                    "a push under request id {}, not 0: {frame:?}",
                    frame.request_id
                ));
            }
            continue;
        }
        if let Out::Error(error) = out {
            if let Err(why) = stable_error(error) {
                fail(format!("request {}: {why}", frame.request_id));
            }
            if !error.connection_kept {
                closing_error = Some(error);
            }
        }
        if frame.request_id == 0 {
            match out {
                Out::Error(error) => refusals.push(error),
                _ => fail(format!(
                    "an answer under request id 0, which no request used: {out:?}"
                )),
            }
            continue;
        }
        if !requests.contains_key(&frame.request_id) {
            fail(format!(
                "an answer to request {}, which was never sent: {out:?}",
                frame.request_id
            ));
        } else if answers.insert(frame.request_id, out).is_some() {
            fail(format!(
                "request {} was answered twice, the second time with {out:?}",
                frame.request_id
            ));
        }
    }

    // Refusals answer, in order, the messages that were not frames.
    let expected_refusals: Vec<ErrorCode> = sent
        .iter()
        .filter_map(|o| match o.expect {
            Expect::Refusal(code) => Some(code),
            _ => None,
        })
        .collect();
    for (i, error) in refusals.iter().enumerate() {
        let got = ErrorCode::from_client(error.code());
        match expected_refusals.get(i) {
            Some(&want) if got == Some(want) => {}
            Some(want) => fail(format!(
                "refusal {i} should be {want} but is {error:?} (earlier refusals: {:?})",
                &refusals[..i]
            )),
            None => fail(format!("an unexpected error under request id 0: {error:?}")),
        }
    }

    if closing_error.is_some() && received.timed_out {
        fail(format!(
            "the server sent an error with connection_kept false but kept the connection: {closing_error:?}"
        ));
    }

    // Everything sent is answered, unless the client left early or the server
    // said why it closes the connection.
    let excused = ending != Ending::AwaitAnswers || closing_error.is_some();
    if !excused {
        let unanswered: Vec<u64> = requests
            .keys()
            .filter(|id| !answers.contains_key(id))
            .copied()
            .collect();
        let missing_refusals = expected_refusals.len().saturating_sub(refusals.len());
        if !unanswered.is_empty() || missing_refusals > 0 {
            let why = if received.ended_by_server {
                format!(
                    "the server closed the connection (close frame {:?}) without an error frame saying why",
                    received.close
                )
            } else if received.timed_out {
                "the wait for answers ran out with the connection open".to_string()
            } else {
                "the client stopped waiting".to_string()
            };
            let mut unanswered = unanswered;
            unanswered.sort_unstable();
            fail(format!(
                "{why}: requests {unanswered:?} and {missing_refusals} refusals unanswered"
            ));
        }
    }

    for (id, out) in &answers {
        if let Err(why) = answer_fits(requests[id], out, limits) {
            fail(format!("request {id} ({:?}): {why}", requests[id].frame));
        }
    }
    if let Err(why) = session_rules(sent, &answers) {
        fail(why);
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// An error frame carries a code of the stable set, a message, and is not
/// `internal`, which the protocol keeps for bugs.
fn stable_error(error: &client::Error) -> Result<(), String> {
    match client::ErrorCode::try_from(error.code) {
        Ok(client::ErrorCode::Unspecified) | Err(_) => {
            Err(format!("an error frame without a stable code: {error:?}"))
        }
        Ok(client::ErrorCode::Internal) => Err(format!(
            "an internal error, a bug by the protocol's own definition: {error:?}"
        )),
        Ok(_) if error.message.is_empty() => Err(format!("an error without a message: {error:?}")),
        Ok(_) => Ok(()),
    }
}

fn code_of(error: &client::Error) -> Option<ErrorCode> {
    ErrorCode::from_client(error.code())
}

fn strictly_increasing(values: impl IntoIterator<Item = u64>) -> bool {
    let values: Vec<u64> = values.into_iter().collect();
    values.windows(2).all(|w| w[0] < w[1])
}

/// The answer is of the request's own type and keeps what the proto
/// documents about it.
fn answer_fits(request: &Request, out: &Out, limits: Limits) -> Result<(), String> {
    let Some(frame) = &request.frame else {
        return match out {
            Out::Error(e) if code_of(e) == Some(ErrorCode::UnknownFrame) => Ok(()),
            _ => Err(format!(
                "a frame with no frame type must get unknown_frame, got {out:?}"
            )),
        };
    };
    let ok = match (frame, out) {
        (In::Hello(_), Out::Error(e)) => {
            return match code_of(e) {
                Some(ErrorCode::UnknownFrame) => Err(format!("a hello refused as unknown: {e:?}")),
                _ => Ok(()),
            };
        }
        (_, Out::Error(e)) => {
            return match code_of(e) {
                Some(ErrorCode::UnknownFrame | ErrorCode::MalformedFrame) => {
                    Err(format!("a decoded frame refused as undecodable: {e:?}"))
                }
                _ => Ok(()),
            };
        }
        (In::Hello(hello), Out::Welcome(w)) => {
            hello.token.strip_prefix("dev:") == Some(w.user_id.as_str())
                && w.device_id == hello.device_id
                && w.max_frame_bytes as usize == limits.max_frame_bytes
        }
        (In::Send(send), Out::SendAck(ack)) => {
            ack.conversation_id == send.conversation_id
                && !ack.message_id.is_empty()
                && ack.conv_seq > 0
        }
        (In::Pull(pull), Out::PullResult(page)) => {
            strictly_increasing(page.entries.iter().map(|e| e.seq))
                && page
                    .entries
                    .iter()
                    .all(|e| pull.after < e.seq && e.seq <= page.head)
        }
        (In::Ack(ack), Out::AckResult(result)) => result.checkpoint == ack.checkpoint,
        (In::History(history), Out::HistoryResult(page)) => {
            // Newest first, all below `before` when one is given.
            strictly_increasing(page.messages.iter().rev().map(|m| m.conv_seq))
                && page.messages.iter().all(|m| {
                    m.conversation_id == history.conversation_id
                        && (history.before == 0 || m.conv_seq < history.before)
                })
        }
        (In::Ping(ping), Out::Pong(pong)) => pong.nonce == ping.nonce,
        (In::CreateGroup(create), Out::GroupResult(group)) => {
            group.conversation_id == format!("g:{}", group.group_id)
                && (create.group_id.is_empty() || create.group_id == group.group_id)
        }
        (In::AddMembers(change), Out::GroupResult(group)) => group.group_id == change.group_id,
        (In::RemoveMembers(change), Out::GroupResult(group)) => group.group_id == change.group_id,
        (In::ListMembers(list), Out::MembersResult(page)) => {
            let ids: Vec<&str> = page.members.iter().map(|m| m.user_id.as_str()).collect();
            ids.windows(2).all(|w| w[0] < w[1]) && ids.iter().all(|id| *id > list.after.as_str())
        }
        (In::ListGroups(_), Out::GroupsResult(_)) => true,
        (In::PullConversation(pull), Out::PullConversationResult(page)) => {
            strictly_increasing(page.messages.iter().map(|m| m.conv_seq))
                && page.messages.iter().all(|m| {
                    m.conversation_id == pull.conversation_id
                        && pull.after < m.conv_seq
                        && m.conv_seq <= page.head
                })
        }
        (In::ReadAck(read), Out::ReadAckResult(result)) => {
            result.conversation_id == read.conversation_id
        }
        (In::ConversationList(_), Out::ConversationListResult(_)) => true,
        (In::RoomJoin(join), Out::RoomResult(room)) => room.room_id == join.room_id,
        (In::RoomLeave(_), Out::RoomResult(room)) => room.room_id.is_empty(),
        (In::RoomSend(send), Out::RoomResult(room)) => room.room_id == send.room_id,
        _ => return Err(format!("answered with the wrong frame type: {out:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the answer breaks what the proto documents: {out:?}"
        ))
    }
}

/// Hello first: before a hello is welcomed every other request is refused
/// `unauthenticated`; after it, a hello is refused `already_authenticated`
/// and nothing is `unauthenticated`. Hello is served before the next frame
/// is read, so the order the client sent in is the order that counts.
fn session_rules(sent: &[Outgoing], answers: &HashMap<u64, &Out>) -> Result<(), String> {
    let mut welcomed: Option<u64> = None;
    for outgoing in sent {
        let Expect::Answer(request) = &outgoing.expect else {
            continue;
        };
        let Some(frame) = &request.frame else {
            continue;
        };
        let is_hello = matches!(frame, In::Hello(_));
        let Some(out) = answers.get(&request.id) else {
            if is_hello {
                // What follows depends on an outcome nobody saw.
                break;
            }
            continue;
        };
        let code = match out {
            Out::Error(e) => code_of(e),
            _ => None,
        };
        match (is_hello, welcomed, out) {
            (true, None, Out::Welcome(_)) => welcomed = Some(request.id),
            (true, None, _) => {
                if code == Some(ErrorCode::AlreadyAuthenticated) {
                    return Err(format!(
                        "hello {} refused as already authenticated before any welcome",
                        request.id
                    ));
                }
            }
            (true, Some(first), _) => {
                if code != Some(ErrorCode::AlreadyAuthenticated) {
                    return Err(format!(
                        "hello {} after the welcome of {first} got {out:?}, not already_authenticated",
                        request.id
                    ));
                }
            }
            (false, None, _) => {
                if code != Some(ErrorCode::Unauthenticated) {
                    return Err(format!(
                        "request {} before any welcome got {out:?}, not unauthenticated",
                        request.id
                    ));
                }
            }
            (false, Some(first), _) => {
                if code == Some(ErrorCode::Unauthenticated) {
                    return Err(format!(
                        "request {} after the welcome of {first} was refused as unauthenticated",
                        request.id
                    ));
                }
            }
        }
    }
    Ok(())
}
