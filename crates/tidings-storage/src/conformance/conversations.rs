//! Conversation lists: the latest message and the read position only move
//! forward, independently of each other; lists come most recent first.

use tidings_core::{Message, Seq};

use super::{message, unique_conversation, unique_id};
use crate::{ConversationState, Tables};

/// Message `conv_seq` of `conversation`, sent at `created_at_ms`.
fn sent_at(conversation: &str, conv_seq: Seq, created_at_ms: i64) -> Message {
    Message {
        created_at_ms,
        ..message(conversation, conv_seq)
    }
}

/// The state a conversation has after `latest` (if any) and reads up to
/// `read_seq`.
fn state(conversation: &str, latest: Option<&Message>, read_seq: Seq) -> ConversationState {
    ConversationState {
        conversation_id: conversation.to_string(),
        last_conv_seq: latest.map_or(0, |m| m.conv_seq),
        last_message: latest.cloned(),
        read_seq,
        updated_at_ms: latest.map_or(0, |m| m.created_at_ms),
    }
}

/// One touch of `message` for each of `users`, as a call takes them.
fn for_each(users: &[String], message: &Message) -> Vec<(String, Message)> {
    users
        .iter()
        .map(|user| (user.clone(), message.clone()))
        .collect()
}

fn ids(list: &[ConversationState]) -> Vec<&str> {
    list.iter().map(|c| c.conversation_id.as_str()).collect()
}

/// A touch with a lower conv seq than the recorded one is ignored; the same
/// or a higher one replaces it, message and time included.
pub async fn conversations_touch_moves_forward_only(tables: &Tables) {
    let conversations = &tables.conversations;
    let user = unique_id("user");
    let conv = unique_conversation();
    let users = [user.clone()];

    let five = message(&conv, 5);
    conversations
        .touch_conversations(&for_each(&users, &five))
        .await
        .unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&five), 0)));

    conversations
        .touch_conversations(&for_each(&users, &sent_at(&conv, 3, i64::MAX / 2)))
        .await
        .unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&five), 0)));

    conversations
        .touch_conversations(&for_each(&users, &five))
        .await
        .unwrap();
    let seven = message(&conv, 7);
    conversations
        .touch_conversations(&for_each(&users, &seven))
        .await
        .unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&seven), 0)));
    let listed = conversations.list_conversations(&user).await.unwrap();
    assert_eq!(listed, [state(&conv, Some(&seven), 0)]);
}

/// One call touching one message for many users records it for each (a user
/// listed twice too), each forward-only on its own; others see nothing; an
/// empty call changes nothing.
pub async fn conversations_touch_many_users_at_once(tables: &Tables) {
    let conversations = &tables.conversations;
    let conv = unique_conversation();
    let (alice, bob, carol) = (unique_id("alice"), unique_id("bob"), unique_id("carol"));

    let ahead = message(&conv, 9);
    conversations
        .touch_conversations(&for_each(std::slice::from_ref(&carol), &ahead))
        .await
        .unwrap();
    let four = message(&conv, 4);
    let users = [alice.clone(), bob.clone(), carol.clone(), alice.clone()];
    conversations
        .touch_conversations(&for_each(&users, &four))
        .await
        .unwrap();
    conversations.touch_conversations(&[]).await.unwrap();

    for user in [&alice, &bob] {
        let found = conversations.get_conversation(user, &conv).await.unwrap();
        assert_eq!(found, Some(state(&conv, Some(&four), 0)), "{user}");
    }
    let found = conversations.get_conversation(&carol, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&ahead), 0)));
    let stranger = unique_id("stranger");
    assert_eq!(
        conversations
            .get_conversation(&stranger, &conv)
            .await
            .unwrap(),
        None
    );
    assert!(
        conversations
            .list_conversations(&stranger)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `set_read` creates the entry if needed, only moves forward, and neither
/// it nor a touch changes what the other recorded.
pub async fn conversations_set_read_forward_only_and_independent(tables: &Tables) {
    let conversations = &tables.conversations;
    let user = unique_id("user");
    let conv = unique_conversation();
    let users = [user.clone()];

    conversations.set_read(&user, &conv, 3).await.unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, None, 3)));
    conversations.set_read(&user, &conv, 2).await.unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, None, 3)));

    let six = message(&conv, 6);
    conversations
        .touch_conversations(&for_each(&users, &six))
        .await
        .unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&six), 3)));

    conversations.set_read(&user, &conv, 6).await.unwrap();
    conversations.set_read(&user, &conv, 5).await.unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&six), 6)));

    conversations
        .touch_conversations(&for_each(&users, &message(&conv, 4)))
        .await
        .unwrap();
    let eight = message(&conv, 8);
    conversations
        .touch_conversations(&for_each(&users, &eight))
        .await
        .unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&eight), 6)));

    // Read positions are per user.
    let other = unique_id("user");
    conversations.set_read(&other, &conv, 1).await.unwrap();
    let found = conversations.get_conversation(&user, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, Some(&eight), 6)));
    let found = conversations.get_conversation(&other, &conv).await.unwrap();
    assert_eq!(found, Some(state(&conv, None, 1)));

    // A read position of 0 still creates the entry.
    let fresh = unique_conversation();
    conversations.set_read(&other, &fresh, 0).await.unwrap();
    let found = conversations
        .get_conversation(&other, &fresh)
        .await
        .unwrap();
    assert_eq!(found, Some(state(&fresh, None, 0)));
}

/// A list comes most recently updated first (ties by conversation id); a
/// newer message moves a conversation up, reading it does not.
pub async fn conversations_listed_by_update_time(tables: &Tables) {
    let conversations = &tables.conversations;
    let user = unique_id("user");
    let users = [user.clone()];
    let base = unique_conversation();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|suffix| format!("{base}-{suffix}"));

    let sends = [
        sent_at(&b, 10, 2_000),
        sent_at(&a, 50, 3_000),
        sent_at(&c, 1, 1_000),
        sent_at(&d, 7, 2_000),
    ];
    for sent in &sends {
        conversations
            .touch_conversations(&for_each(&users, sent))
            .await
            .unwrap();
    }
    let listed = conversations.list_conversations(&user).await.unwrap();
    assert_eq!(ids(&listed), [&a, &b, &d, &c].map(String::as_str));
    assert_eq!(listed[1], state(&b, Some(&sends[0]), 0));

    conversations.set_read(&user, &c, 1).await.unwrap();
    let listed = conversations.list_conversations(&user).await.unwrap();
    assert_eq!(ids(&listed), [&a, &b, &d, &c].map(String::as_str));
    assert_eq!(listed[3], state(&c, Some(&sends[2]), 1));

    let newer = sent_at(&c, 2, 4_000);
    conversations
        .touch_conversations(&for_each(&users, &newer))
        .await
        .unwrap();
    // Only read so far: listed after every conversation with a message.
    let e = format!("{base}-e");
    conversations.set_read(&user, &e, 4).await.unwrap();
    let listed = conversations.list_conversations(&user).await.unwrap();
    assert_eq!(ids(&listed), [&c, &a, &b, &d, &e].map(String::as_str));
    assert_eq!(listed[0], state(&c, Some(&newer), 1));
    assert_eq!(listed[4], state(&e, None, 4));
}

/// Users "u1" and "u10", conversations "c1" and "c10": nothing of one shows
/// up under the other; unknown ones are `None` or empty.
pub async fn conversations_isolated_between_prefix_ids(tables: &Tables) {
    let conversations = &tables.conversations;
    let (u, c) = (unique_id("u"), unique_conversation());
    let (u1, u10) = (format!("{u}1"), format!("{u}10"));
    let (c1, c10) = (format!("{c}1"), format!("{c}10"));

    let in_c1 = message(&c1, 1);
    let in_c10 = message(&c10, 2);
    conversations
        .touch_conversations(&for_each(std::slice::from_ref(&u1), &in_c1))
        .await
        .unwrap();
    conversations
        .touch_conversations(&for_each(&[u1.clone(), u10.clone()], &in_c10))
        .await
        .unwrap();
    conversations.set_read(&u10, &c1, 9).await.unwrap();

    assert_eq!(
        conversations.get_conversation(&u1, &c1).await.unwrap(),
        Some(state(&c1, Some(&in_c1), 0))
    );
    assert_eq!(
        conversations.get_conversation(&u1, &c10).await.unwrap(),
        Some(state(&c10, Some(&in_c10), 0))
    );
    assert_eq!(
        conversations.get_conversation(&u10, &c1).await.unwrap(),
        Some(state(&c1, None, 9))
    );
    assert_eq!(conversations.get_conversation(&u1, &c).await.unwrap(), None);
    assert_eq!(conversations.get_conversation(&u, &c1).await.unwrap(), None);

    let listed = conversations.list_conversations(&u1).await.unwrap();
    assert_eq!(ids(&listed), [&c10, &c1].map(String::as_str));
    let listed = conversations.list_conversations(&u10).await.unwrap();
    assert_eq!(listed, [state(&c10, Some(&in_c10), 0), state(&c1, None, 9)]);
    assert!(
        conversations
            .list_conversations(&u)
            .await
            .unwrap()
            .is_empty()
    );
}

/// One call with many messages of several conversations for several users,
/// in no particular order: for each `(user, conversation)` the highest conv
/// seq wins wherever it stands in the batch, a recorded higher one is kept,
/// read positions are left alone, and lists come out ordered as usual.
pub async fn conversations_touch_batch_highest_seq_wins(tables: &Tables) {
    let conversations = &tables.conversations;
    let users = [unique_id("alice"), unique_id("bob"), unique_id("carol")];
    let base = unique_conversation();
    let convs = ["a", "b", "c"].map(|suffix| format!("{base}-{suffix}"));
    let [alice, bob, carol] = &users;
    let [a, b, c] = &convs;

    let ahead = message(b, 40);
    conversations
        .touch_conversations(&[(carol.clone(), ahead.clone())])
        .await
        .unwrap();
    conversations.set_read(bob, a, 2).await.unwrap();

    // The highest conv seq of each pair, and where it was put in the batch.
    let highest = |user: usize, conv: usize| 10 + 7 * user as Seq + 3 * conv as Seq;
    let mut touches = Vec::new();
    for round in 0..3 {
        for (u, user) in users.iter().enumerate() {
            for (k, conv) in convs.iter().enumerate() {
                // Rounds interleave so that the highest seq comes first for
                // some pairs, last for others, in the middle for the rest.
                let offset = ((u + k + round) % 3) as Seq;
                touches.push((user.clone(), message(conv, highest(u, k) - offset)));
            }
        }
    }
    // A second copy of some highest touches (same seq: overwrites itself),
    // and the whole batch reversed, so no order in the batch is favoured.
    touches.push((alice.clone(), message(a, highest(0, 0))));
    touches.extend(touches.clone().into_iter().rev());
    conversations.touch_conversations(&touches).await.unwrap();

    for (u, user) in users.iter().enumerate() {
        for (k, conv) in convs.iter().enumerate() {
            let found = conversations.get_conversation(user, conv).await.unwrap();
            let (latest, read_seq) = match (u, k) {
                (2, 1) => (ahead.clone(), 0),
                (1, 0) => (message(conv, highest(u, k)), 2),
                _ => (message(conv, highest(u, k)), 0),
            };
            assert_eq!(
                found,
                Some(state(conv, Some(&latest), read_seq)),
                "{user} in {conv}"
            );
        }
    }
    // `message` sends seq n at 1_700_000_000_000 + n: the highest seq is the
    // most recent.
    let listed = conversations.list_conversations(alice).await.unwrap();
    assert_eq!(ids(&listed), [c, b, a].map(String::as_str));
    let listed = conversations.list_conversations(carol).await.unwrap();
    assert_eq!(ids(&listed), [b, c, a].map(String::as_str));
    assert_eq!(listed[0], state(b, Some(&ahead), 0));
}
