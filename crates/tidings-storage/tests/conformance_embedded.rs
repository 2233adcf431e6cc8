//! The conformance suite against the embedded store, one temporary data
//! directory per test, plus what only an on-disk store can show: data
//! survives closing and reopening the directory.

use std::time::Duration;

use tempfile::TempDir;
use tidings_storage::conformance::{
    inbox_entry, message, unique_conversation, unique_id, unique_section,
};
use tidings_storage::embedded::EmbeddedStore;
use tidings_storage::{
    ConversationState, DedupeKey, DedupeRecord, DedupeState, DeviceCheckpoint, GroupInfo,
    GroupMember, PageLimit, PushToken, SectionState, Tables,
};

async fn fresh_tables() -> (Tables, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path()).expect("open embedded store");
    (Tables::from_backend(store), dir)
}

tidings_storage::storage_conformance_tests!(fresh_tables());

#[tokio::test]
async fn everything_survives_reopening_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conv = unique_conversation();
    let user = unique_id("user");
    let section = unique_section();
    let messages: Vec<_> = (1..=3).map(|s| message(&conv, s)).collect();
    let entries: Vec<_> = (1..=2)
        .map(|s| (user.clone(), inbox_entry(s, &conv, s)))
        .collect();
    let dedupe = DedupeRecord {
        conversation_id: conv.clone(),
        message_id: "msg-3".to_string(),
        created_at_ms: 42,
        conv_seq: 3,
        inbox_seqs: vec![(user.clone(), 2)],
        state: DedupeState::Reserved,
        stale_conv_seqs: vec![1],
        stale_inbox_seqs: vec![(user.clone(), 1)],
    };
    let dedupe_key = DedupeKey {
        sender: user.clone(),
        client_msg_id: "c3".to_string(),
    };
    let long_ttl = Duration::from_secs(3600);
    let group = GroupInfo {
        group_id: unique_id("g"),
        name: "team".to_string(),
        owner: user.clone(),
        created_at_ms: 5,
        large: true,
    };
    let founder = GroupMember {
        user_id: user.clone(),
        role: "owner".to_string(),
        joined_at_ms: 6,
    };
    let push_token = PushToken {
        device_id: "phone".to_string(),
        platform: "apns".to_string(),
        token: "phone-token".to_string(),
        updated_at_ms: 7,
    };

    {
        let tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
        tables.messages.append_messages(&messages).await.unwrap();
        tables.inbox.append_inbox(&entries, long_ttl).await.unwrap();
        let owner = tables
            .sections
            .claim_section(section, "seq-0", 1_000, 60_000)
            .await
            .unwrap();
        tables
            .sections
            .advance_max_seq(section, owner.epoch, 10_000)
            .await
            .unwrap();
        tables
            .dedupe
            .put_dedupe(&[(dedupe_key.clone(), dedupe.clone())], long_ttl)
            .await
            .unwrap();
        tables
            .checkpoints
            .put_checkpoint(&user, "phone", 2, 77)
            .await
            .unwrap();
        assert!(tables.groups.create_group(&group).await.unwrap());
        tables
            .groups
            .add_members(&group.group_id, std::slice::from_ref(&founder))
            .await
            .unwrap();
        tables
            .conversations
            .touch_conversations(&[(user.clone(), messages[2].clone())])
            .await
            .unwrap();
        tables
            .conversations
            .set_read(&user, &conv, 2)
            .await
            .unwrap();
        tables
            .push_tokens
            .put_push_token(&user, &push_token)
            .await
            .unwrap();
    }

    let tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
    let page = tables
        .messages
        .read_messages(&conv, 0, None, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(page.items, messages);
    let page = tables
        .inbox
        .read_inbox(&user, 0, 10, PageLimit::entries(10))
        .await
        .unwrap();
    let expected: Vec<_> = entries.into_iter().map(|(_, e)| e).collect();
    assert_eq!(page.entries, expected);
    assert!(!page.truncated);
    let state = tables.sections.load_section(section).await.unwrap();
    assert_eq!(
        state,
        Some(SectionState {
            max_seq: 10_000,
            epoch: 1,
            owner: "seq-0".to_string(),
            lease_until_ms: 61_000,
        })
    );
    let claimed = tables
        .sections
        .claim_section(section, "seq-0", 2_000, 60_000)
        .await
        .unwrap();
    assert_eq!(
        claimed,
        SectionState {
            max_seq: 10_000,
            epoch: 2,
            owner: "seq-0".to_string(),
            lease_until_ms: 62_000,
        }
    );
    assert_eq!(
        tables.dedupe.get_dedupe(&[dedupe_key]).await.unwrap(),
        [Some(dedupe)]
    );
    let listed = tables.checkpoints.list_checkpoints(&user).await.unwrap();
    let phone = DeviceCheckpoint {
        device_id: "phone".to_string(),
        checkpoint: 2,
        updated_at_ms: 77,
    };
    assert_eq!(listed, [phone]);
    let groups = &tables.groups;
    assert_eq!(
        groups.get_group(&group.group_id).await.unwrap(),
        Some(group.clone())
    );
    let members = groups
        .list_members(&group.group_id, None, 10)
        .await
        .unwrap();
    assert_eq!(members.items, [founder]);
    assert_eq!(groups.user_groups(&user).await.unwrap(), [group.group_id]);
    let listed = tables
        .conversations
        .list_conversations(&user)
        .await
        .unwrap();
    let expected = ConversationState {
        conversation_id: conv.clone(),
        last_conv_seq: 3,
        last_message: Some(messages[2].clone()),
        read_seq: 2,
        updated_at_ms: messages[2].created_at_ms,
    };
    assert_eq!(listed, [expected]);
    let tokens = tables
        .push_tokens
        .push_tokens(std::slice::from_ref(&user))
        .await
        .unwrap();
    assert_eq!(tokens, [vec![push_token]]);
}

#[tokio::test]
async fn expiry_floor_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let user = unique_id("user");
    let conv = unique_conversation();
    let entries: Vec<_> = (1..=2)
        .map(|s| (user.clone(), inbox_entry(s, &conv, s)))
        .collect();
    {
        let tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
        tables
            .inbox
            .append_inbox(&entries, Duration::from_secs(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // This read folds the expired window into the floor.
        assert!(
            tables
                .inbox
                .read_inbox(&user, 0, 10, PageLimit::entries(10))
                .await
                .unwrap()
                .truncated
        );
    }
    let tables = Tables::from_backend(EmbeddedStore::open(dir.path()).unwrap());
    let page = tables
        .inbox
        .read_inbox(&user, 0, 10, PageLimit::entries(10))
        .await
        .unwrap();
    assert!(page.entries.is_empty() && page.truncated);
    assert!(
        !tables
            .inbox
            .read_inbox(&user, 2, 10, PageLimit::entries(10))
            .await
            .unwrap()
            .truncated
    );
}

#[tokio::test]
async fn a_data_directory_has_one_owner() {
    let dir = tempfile::tempdir().unwrap();
    let _owner = EmbeddedStore::open(dir.path()).unwrap();
    assert!(EmbeddedStore::open(dir.path()).is_err());
}

/// A returned write (a delete, a dedupe batch and a push token too) is
/// already in the files on disk, not in a process buffer: a copy of the
/// directory taken while the store is still open (as a crash would leave it)
/// holds it. The copy is opened as a second store.
#[tokio::test]
async fn acknowledged_writes_are_in_the_files_before_close() {
    let dir = tempfile::tempdir().unwrap();
    let conv = unique_conversation();
    let user = unique_id("user");
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let tables = Tables::from_backend(store.clone());
    let messages: Vec<_> = (1..=3).map(|s| message(&conv, s)).collect();
    tables.messages.append_messages(&messages).await.unwrap();
    let entries = [(user.clone(), inbox_entry(1, &conv, 1))];
    tables
        .inbox
        .append_inbox(&entries, Duration::from_secs(3600))
        .await
        .unwrap();

    tables
        .messages
        .delete_messages(&[(conv.clone(), 2)])
        .await
        .unwrap();
    let key = DedupeKey {
        sender: user.clone(),
        client_msg_id: "c1".to_string(),
    };
    let reserved = DedupeRecord {
        conversation_id: conv.clone(),
        message_id: "msg-1".to_string(),
        created_at_ms: 1,
        conv_seq: 1,
        inbox_seqs: vec![(user.clone(), 1)],
        state: DedupeState::Reserved,
        stale_conv_seqs: Vec::new(),
        stale_inbox_seqs: Vec::new(),
    };
    tables
        .dedupe
        .put_dedupe(
            &[(key.clone(), reserved.clone())],
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let push_token = PushToken {
        device_id: "phone".to_string(),
        platform: "fcm".to_string(),
        token: "phone-token".to_string(),
        updated_at_ms: 1,
    };
    tables
        .push_tokens
        .put_push_token(&user, &push_token)
        .await
        .unwrap();

    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let crashed = Tables::from_backend(EmbeddedStore::open(copy.path()).unwrap());
    let page = crashed
        .messages
        .read_messages(&conv, 0, None, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(page.items, [messages[0].clone(), messages[2].clone()]);
    let page = crashed
        .inbox
        .read_inbox(&user, 0, 10, PageLimit::entries(10))
        .await
        .unwrap();
    assert_eq!(page.entries, [entries[0].1.clone()]);
    let found = crashed.dedupe.get_dedupe(&[key]).await.unwrap();
    assert_eq!(found, [Some(reserved)]);
    let tokens = crashed
        .push_tokens
        .push_tokens(std::slice::from_ref(&user))
        .await
        .unwrap();
    assert_eq!(tokens, [vec![push_token]]);
    drop(store);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
