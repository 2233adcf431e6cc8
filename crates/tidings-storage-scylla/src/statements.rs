//! Every statement the store runs, prepared once at connect.
//!
//! Rules these statements keep (the tests check the first three): every one
//! of them binds the whole partition key of its table, except
//! `list_sections` (the routing table is a full scan of a table of at most a
//! few thousand rows); none uses ALLOW FILTERING; conditional (LWT)
//! statements touch only `seq_sections` and `groups` (creation and size
//! mode), never a table on the message path; range reads are paged with the
//! configured page size.

use futures_util::future::try_join_all;
use scylla::client::session::Session;
use scylla::statement::Consistency;
use scylla::statement::SerialConsistency;
use scylla::statement::prepared::PreparedStatement;

use crate::StorageError;
use crate::config::{ScyllaConfig, parse_serial_consistency};
use crate::driver_errors::classify;

/// How a statement is executed, which decides its driver settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plain write: idempotent, so the driver may retry it.
    Write,
    /// A read of one partition, paged.
    Read,
    /// A read at serial consistency: sees every completed LWT.
    SerialRead,
    /// A conditional write (LWT): never retried by the driver.
    Lwt,
    /// A paged read of a whole (small) table.
    Scan,
}

macro_rules! statements {
    ($( $(#[$doc:meta])* $name:ident: $kind:ident = $cql:literal; )+) => {
        /// The prepared statements of one store.
        pub(crate) struct Statements {
            $( $(#[$doc])* pub(crate) $name: PreparedStatement, )+
        }

        /// `(name, kind, CQL)` of every statement, in declaration order; `{ks}`
        /// stands for the keyspace.
        pub(crate) const TEMPLATES: &[(&str, Kind, &str)] = &[
            $( (stringify!($name), Kind::$kind, $cql), )+
        ];

        impl Statements {
            /// Prepares every statement for `config.keyspace`, all at once.
            pub(crate) async fn prepare(
                session: &Session,
                config: &ScyllaConfig,
            ) -> Result<Self, StorageError> {
                let preparing = TEMPLATES
                    .iter()
                    .map(|&(name, kind, cql)| prepare(session, config, name, kind, cql));
                let mut prepared = try_join_all(preparing).await?.into_iter();
                Ok(Statements {
                    $( $name: prepared.next().expect("one statement per template"), )+
                })
            }

            /// Every statement with its name and kind.
            pub(crate) fn all(&self) -> Vec<(&'static str, Kind, &PreparedStatement)> {
                vec![ $( (stringify!($name), Kind::$kind, &self.$name), )+ ]
            }
        }
    };
}

statements! {
    // Store timelines.
    insert_message: Write = "INSERT INTO {ks}.messages (conversation_id, bucket, conv_seq, \
        message_id, sender_id, sender_device, client_msg_id, kind, body, created_at) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    insert_message_bucket: Write =
        "INSERT INTO {ks}.message_buckets (conversation_id, bucket) VALUES (?, ?)";
    select_message_buckets: Read = "SELECT bucket FROM {ks}.message_buckets \
        WHERE conversation_id = ? AND bucket >= ? AND bucket <= ?";
    select_message_buckets_desc: Read = "SELECT bucket FROM {ks}.message_buckets \
        WHERE conversation_id = ? AND bucket >= ? AND bucket <= ? ORDER BY bucket DESC";
    select_messages: Read = "SELECT conv_seq, message_id, sender_id, sender_device, \
        client_msg_id, kind, body, created_at FROM {ks}.messages \
        WHERE conversation_id = ? AND bucket = ? AND conv_seq >= ? AND conv_seq <= ? LIMIT ?";
    select_message_senders: Read = "SELECT sender_id FROM {ks}.messages \
        WHERE conversation_id = ? AND bucket = ? AND conv_seq >= ? AND conv_seq <= ? LIMIT ?";
    delete_message: Write = "DELETE FROM {ks}.messages \
        WHERE conversation_id = ? AND bucket = ? AND conv_seq = ?";
    select_messages_desc: Read = "SELECT conv_seq, message_id, sender_id, sender_device, \
        client_msg_id, kind, body, created_at FROM {ks}.messages \
        WHERE conversation_id = ? AND bucket = ? AND conv_seq >= ? AND conv_seq <= ? \
        ORDER BY conv_seq DESC LIMIT ?";
    insert_message_event: Write = "INSERT INTO {ks}.message_events (conversation_id, bucket, \
        target_seq, event_seq, message_id, sender_id, sender_device, client_msg_id, kind, body, \
        created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    select_message_events: Read = "SELECT target_seq, event_seq, message_id, sender_id, \
        sender_device, client_msg_id, kind, body, created_at FROM {ks}.message_events \
        WHERE conversation_id = ? AND bucket = ? AND target_seq >= ? AND target_seq <= ? LIMIT ?";

    // Sync timelines and their expiry records.
    insert_inbox: Write = "INSERT INTO {ks}.inbox (user_id, bucket, seq, conversation_id, \
        conv_seq, message) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?";
    insert_inbox_bucket: Write = "INSERT INTO {ks}.inbox_buckets (user_id, bucket, expiry_day) \
        VALUES (?, ?, ?) USING TTL ?";
    select_inbox_buckets: Read = "SELECT bucket FROM {ks}.inbox_buckets \
        WHERE user_id = ? AND bucket >= ? AND bucket <= ?";
    select_inbox: Read = "SELECT seq, conversation_id, conv_seq, message FROM {ks}.inbox \
        WHERE user_id = ? AND bucket = ? AND seq >= ? AND seq <= ? LIMIT ?";
    delete_inbox_entry: Write =
        "DELETE FROM {ks}.inbox WHERE user_id = ? AND bucket = ? AND seq = ?";
    raise_inbox_expiry: Write = "UPDATE {ks}.inbox_expiry USING TIMESTAMP ? SET seq = ? \
        WHERE user_id = ? AND window_start_ms = ?";
    select_inbox_expiry: Read = "SELECT window_start_ms, seq FROM {ks}.inbox_expiry \
        WHERE user_id = ? AND window_start_ms <= ?";
    delete_inbox_expiry: Write = "DELETE FROM {ks}.inbox_expiry USING TIMESTAMP ? \
        WHERE user_id = ? AND window_start_ms = ?";

    // Allocator sections: the only conditional writes.
    select_section: Read = "SELECT max_seq, epoch, owner, lease_until_ms \
        FROM {ks}.seq_sections WHERE section = ?";
    select_section_serial: SerialRead = "SELECT max_seq, epoch, owner, lease_until_ms \
        FROM {ks}.seq_sections WHERE section = ?";
    insert_section: Lwt = "INSERT INTO {ks}.seq_sections (section, max_seq, epoch, owner, \
        lease_until_ms) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS";
    claim_section: Lwt = "UPDATE {ks}.seq_sections SET epoch = ?, owner = ?, lease_until_ms = ? \
        WHERE section = ? IF epoch = ? AND max_seq = ? AND owner = ? AND lease_until_ms = ?";
    renew_lease: Lwt = "UPDATE {ks}.seq_sections SET lease_until_ms = ? \
        WHERE section = ? IF epoch = ? AND lease_until_ms < ?";
    advance_max_seq: Lwt = "UPDATE {ks}.seq_sections SET max_seq = ? \
        WHERE section = ? IF epoch = ? AND max_seq < ?";
    release_section: Lwt = "UPDATE {ks}.seq_sections SET owner = '', lease_until_ms = 0 \
        WHERE section = ? IF epoch = ?";
    list_sections: Scan = "SELECT section, max_seq, epoch, owner, lease_until_ms \
        FROM {ks}.seq_sections";

    // Send idempotency.
    select_dedupe: Read = "SELECT conversation_id, conv_seq, message_id, created_at, \
        inbox_seqs, state, stale_conv_seqs, stale_inbox_seqs \
        FROM {ks}.dedupe WHERE sender_id = ? AND client_msg_id = ?";
    insert_dedupe: Write = "INSERT INTO {ks}.dedupe (sender_id, client_msg_id, \
        conversation_id, conv_seq, message_id, created_at, inbox_seqs, state, \
        stale_conv_seqs, stale_inbox_seqs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
        USING TTL ? AND TIMESTAMP ?";

    // Device checkpoints.
    select_checkpoint: Read = "SELECT checkpoint, updated_at FROM {ks}.device_checkpoints \
        WHERE user_id = ? AND device_id = ?";
    insert_checkpoint: Write = "INSERT INTO {ks}.device_checkpoints (user_id, device_id, \
        checkpoint, updated_at) VALUES (?, ?, ?, ?)";
    list_checkpoints: Read = "SELECT device_id, checkpoint, updated_at \
        FROM {ks}.device_checkpoints WHERE user_id = ?";

    // Push tokens: a put and a removal of one device replace each other by
    // the store's write timestamps.
    insert_push_token: Write = "INSERT INTO {ks}.push_tokens (user_id, device_id, platform, \
        push_token, updated_at_ms) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?";
    select_push_token: Read = "SELECT device_id FROM {ks}.push_tokens \
        WHERE user_id = ? AND device_id = ?";
    delete_push_token: Write = "DELETE FROM {ks}.push_tokens USING TIMESTAMP ? \
        WHERE user_id = ? AND device_id = ?";
    list_push_tokens: Read = "SELECT device_id, platform, push_token, updated_at_ms \
        FROM {ks}.push_tokens WHERE user_id = ?";

    // Groups: written only by transactions, off the message path.
    insert_group: Lwt = "INSERT INTO {ks}.groups (group_id, name, owner, created_at_ms, \
        large) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS";
    set_group_large: Lwt = "UPDATE {ks}.groups SET large = ? WHERE group_id = ? IF EXISTS";
    select_group: Read = "SELECT name, owner, created_at_ms, large FROM {ks}.groups \
        WHERE group_id = ?";
    select_group_serial: SerialRead = "SELECT name, owner, created_at_ms, large \
        FROM {ks}.groups WHERE group_id = ?";

    // Membership, both ways (written together in logged batches).
    insert_group_member: Write = "INSERT INTO {ks}.group_members (group_id, user_id, role, \
        joined_at_ms) VALUES (?, ?, ?, ?)";
    insert_user_group: Write =
        "INSERT INTO {ks}.user_groups (user_id, group_id) VALUES (?, ?)";
    delete_group_member: Write =
        "DELETE FROM {ks}.group_members WHERE group_id = ? AND user_id = ?";
    delete_user_group: Write = "DELETE FROM {ks}.user_groups WHERE user_id = ? AND group_id = ?";
    select_group_member: Read = "SELECT role, joined_at_ms FROM {ks}.group_members \
        WHERE group_id = ? AND user_id = ?";
    select_group_members_in: Read = "SELECT user_id, joined_at_ms FROM {ks}.group_members \
        WHERE group_id = ? AND user_id IN ?";
    list_group_members: Read = "SELECT user_id, role, joined_at_ms FROM {ks}.group_members \
        WHERE group_id = ? LIMIT ?";
    list_group_members_after: Read = "SELECT user_id, role, joined_at_ms \
        FROM {ks}.group_members WHERE group_id = ? AND user_id > ? LIMIT ?";
    count_group_members: Read = "SELECT COUNT(*) FROM {ks}.group_members WHERE group_id = ?";
    list_user_groups: Read = "SELECT group_id FROM {ks}.user_groups WHERE user_id = ?";

    // Conversation lists: forward-only through write timestamps (seqs).
    touch_conversation: Write = "UPDATE {ks}.conversations USING TIMESTAMP ? \
        SET last_conv_seq = ?, last_message = ?, updated_at_ms = ? \
        WHERE user_id = ? AND conversation_id = ?";
    set_read: Write = "UPDATE {ks}.conversations USING TIMESTAMP ? SET read_seq = ? \
        WHERE user_id = ? AND conversation_id = ?";
    select_conversation: Read = "SELECT last_conv_seq, last_message, read_seq, updated_at_ms \
        FROM {ks}.conversations WHERE user_id = ? AND conversation_id = ?";
    list_conversations: Read = "SELECT conversation_id, last_conv_seq, last_message, read_seq, \
        updated_at_ms FROM {ks}.conversations WHERE user_id = ?";
}

/// The CQL of a template for `keyspace`.
pub(crate) fn render(template: &str, keyspace: &str) -> String {
    template.replace("{ks}", keyspace)
}

async fn prepare(
    session: &Session,
    config: &ScyllaConfig,
    name: &'static str,
    kind: Kind,
    template: &str,
) -> Result<PreparedStatement, StorageError> {
    let cql = render(template, &config.keyspace);
    let mut statement = session.prepare(cql).await.map_err(|e| {
        let detail = format!(
            "cql prepare {name}: {e} (has `migrate` been run for keyspace {}?)",
            config.keyspace
        );
        classify(&e, detail)
    })?;
    statement.set_is_idempotent(kind != Kind::Lwt);
    if matches!(kind, Kind::Read | Kind::SerialRead | Kind::Scan) {
        statement.set_page_size(config.page_size_i32());
    }
    if kind == Kind::SerialRead {
        let serial =
            parse_serial_consistency(&config.serial_consistency).map_err(StorageError::Backend)?;
        statement.set_consistency(match serial {
            SerialConsistency::Serial => Consistency::Serial,
            SerialConsistency::LocalSerial => Consistency::LocalSerial,
        });
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_statement_filters() {
        let forbidden = ["ALLOW", "FILTERING"].join(" ");
        for (name, _, cql) in TEMPLATES {
            let normalized = cql.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                !normalized.to_ascii_uppercase().contains(&forbidden),
                "{name} filters"
            );
        }
    }

    /// Allocator sections and groups (creation, size mode), never the
    /// message path.
    #[test]
    fn lightweight_transactions_only_on_sections_and_groups() {
        let mut transactions = Vec::new();
        for (name, kind, cql) in TEMPLATES {
            let upper = cql.to_ascii_uppercase();
            let conditional = upper.contains(" IF ");
            assert_eq!(conditional, *kind == Kind::Lwt, "{name}");
            if conditional {
                let table = ["{ks}.seq_sections ", "{ks}.groups "]
                    .iter()
                    .find(|table| cql.contains(*table));
                assert!(table.is_some(), "{name}");
                transactions.push(*name);
            }
        }
        assert_eq!(
            transactions,
            [
                "insert_section",
                "claim_section",
                "renew_lease",
                "advance_max_seq",
                "release_section",
                "insert_group",
                "set_group_large"
            ]
        );
    }

    #[test]
    fn only_list_sections_scans() {
        let scans: Vec<&str> = TEMPLATES
            .iter()
            .filter(|(_, kind, cql)| *kind == Kind::Scan || !cql.contains(" WHERE "))
            .map(|(name, ..)| *name)
            .filter(|name| !name.starts_with("insert_"))
            .collect();
        assert_eq!(scans, ["list_sections"]);
    }

    /// Deletes remove one row of a timeline (abandoned seqs) or an expiry
    /// window by its own timestamp, a membership, or a device's push token
    /// by the store's write clock (so a token registered again after its
    /// removal is not hidden by it); never a row of `conversations`, whose
    /// cells move forward by timestamp and which a server-timestamped
    /// tombstone would hide from every later write.
    #[test]
    fn deletes_remove_single_rows_of_known_tables() {
        let mut deletes = Vec::new();
        for (name, _, cql) in TEMPLATES {
            let normalized = cql.split_whitespace().collect::<Vec<_>>().join(" ");
            if !normalized.to_ascii_uppercase().starts_with("DELETE") {
                continue;
            }
            assert!(!cql.contains("{ks}.conversations"), "{name}");
            if cql.contains("{ks}.inbox_expiry") || cql.contains("{ks}.push_tokens") {
                assert!(normalized.contains("USING TIMESTAMP ?"), "{name}");
            }
            deletes.push(*name);
        }
        assert_eq!(
            deletes,
            [
                "delete_message",
                "delete_inbox_entry",
                "delete_inbox_expiry",
                "delete_push_token",
                "delete_group_member",
                "delete_user_group"
            ]
        );
        for (name, row_key) in [
            ("delete_message", "AND conv_seq = ?"),
            ("delete_inbox_entry", "AND seq = ?"),
        ] {
            let (_, _, cql) = TEMPLATES.iter().find(|(n, ..)| *n == name).unwrap();
            assert!(cql.ends_with(row_key), "{name} deletes one row");
        }
    }

    #[test]
    fn every_statement_names_the_keyspace() {
        for (name, _, cql) in TEMPLATES {
            assert!(cql.contains("{ks}."), "{name}");
            assert!(!render(cql, "k").contains('{'), "{name}");
        }
    }
}
