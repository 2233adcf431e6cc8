//! Byte budgets of logic's paged answers: what to ask store for so that an
//! answer with logic's own fields added stays within the caller's
//! `max_bytes`, and how a conversation list's latest messages are cut to it.

use prost::Message as _;
use tidings_core::wire::{answer_budget, delimited_len, varint_len};
use tidings_proto::logic::v1 as pb;

/// The `max_bytes` to ask store's `Range` for when answering a
/// `PullConversation` with `max_bytes`: the answer adds the head to store's.
pub(crate) fn pull_conversation_range_bytes(max_bytes: u32, head: u64) -> u32 {
    let head_field = 1 + varint_len(head);
    let bytes = answer_budget(max_bytes).saturating_sub(head_field);
    // Never 0, which would mean "the largest"; a budget this small still
    // gets its one message.
    u32::try_from(bytes.max(1)).unwrap_or(u32::MAX)
}

/// Bytes of `messages` as a repeated field.
fn messages_bytes(messages: &[tidings_proto::common::v1::Message]) -> usize {
    messages
        .iter()
        .map(|m| delimited_len(m.encoded_len()))
        .sum()
}

/// Cuts the latest messages of `list` (most recent conversation first) so
/// the encoded list takes at most `budget` bytes: a conversation's newest
/// messages are kept first, and once one does not fit, the conversations
/// after it keep none. Every conversation stays listed: the device pages
/// the rest of any conversation through `History`.
pub(crate) fn fit_latest(list: &mut [pb::ConversationSummary], budget: usize) {
    let bare: usize = list
        .iter()
        .map(|s| delimited_len(s.encoded_len() - messages_bytes(&s.latest)))
        .sum();
    let mut left = budget.saturating_sub(bare);
    let mut full = false;
    for summary in list {
        let mut inner = summary.encoded_len() - messages_bytes(&summary.latest);
        let mut keep = 0;
        for message in &summary.latest {
            let grown = inner + delimited_len(message.encoded_len());
            // The message and the growth of the summary's length prefix.
            let cost = delimited_len(grown) - delimited_len(inner);
            if full || cost > left {
                full = true;
                break;
            }
            left -= cost;
            inner = grown;
            keep += 1;
        }
        summary.latest.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use tidings_proto::common::v1::Message;

    use super::*;

    fn summary(n: u64, latest: usize, body: usize) -> pb::ConversationSummary {
        pb::ConversationSummary {
            conversation_id: format!("g:group-{n}"),
            last_conv_seq: 100,
            read_seq: 90,
            unread: 10,
            latest: (0..latest as u64)
                .map(|i| Message {
                    message_id: format!("m{n}-{i}"),
                    conv_seq: 100 - i,
                    body: vec![1; body],
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn latest_messages_are_cut_to_the_budget_from_the_least_recent() {
        let mut list: Vec<_> = (1..=4).map(|n| summary(n, 5, 10_000)).collect();
        fit_latest(&mut list, 75_000);
        let kept: Vec<usize> = list.iter().map(|s| s.latest.len()).collect();
        assert_eq!(kept, [5, 2, 0, 0]);
        assert_eq!(list[1].latest[0].conv_seq, 100, "newest kept first");
        let answer = pb::ConversationListResponse {
            conversations: list,
        };
        assert!(answer.encoded_len() <= 75_000, "{}", answer.encoded_len());
        assert_eq!(answer.conversations.len(), 4);
    }

    #[test]
    fn a_list_that_fits_is_left_alone() {
        let mut list: Vec<_> = (1..=4).map(|n| summary(n, 5, 100)).collect();
        let before = list.clone();
        fit_latest(&mut list, 1 << 20);
        assert_eq!(list, before);
        let exact = pb::ConversationListResponse {
            conversations: before.clone(),
        }
        .encoded_len();
        fit_latest(&mut list, exact);
        assert_eq!(list, before, "a budget of exactly its size keeps all");
    }

    #[test]
    fn conversation_pulls_leave_room_for_the_head() {
        assert_eq!(pull_conversation_range_bytes(1000, 5), 998);
        assert_eq!(pull_conversation_range_bytes(1, 1 << 40), 1);
        let largest = pull_conversation_range_bytes(0, 5) as usize;
        assert_eq!(largest, answer_budget(0) - 2);
    }
}
