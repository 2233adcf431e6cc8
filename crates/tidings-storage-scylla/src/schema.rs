//! The versioned CQL schema (`schema/*.cql`, compiled in) and `migrate`,
//! which applies it.
//!
//! `migrate` creates the keyspace and `schema_migrations`, then applies every
//! version not recorded there, in order, and records it. Every statement is
//! `IF NOT EXISTS`, an `ALTER` that sets the same options again, or an
//! `ALTER ... ADD` of one column that is skipped when the table has it (see
//! `column_additions`), so a version interrupted half-way is simply applied
//! again by the next run.
//! Run it from one place at a time (a deploy job): concurrent schema changes
//! from several clients are what CQL clusters handle worst.

use std::collections::BTreeSet;
use std::fmt;

use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::value::CqlTimestamp;

use crate::StorageError;
use crate::column_additions::{added_column, has_column};
use crate::config::ScyllaConfig;
use crate::driver_errors::classify;
use crate::session::{backend, open_session};

/// One schema version: portable CQL for every server, plus options only
/// ScyllaDB understands.
pub struct Migration {
    pub version: i32,
    pub description: &'static str,
    /// Statements for every server (Cassandra and ScyllaDB).
    pub portable: &'static str,
    /// Statements applied after `portable` on ScyllaDB only.
    pub scylla_only: &'static str,
}

/// Creates the keyspace and the migrations table.
const KEYSPACE: &str = include_str!("../schema/keyspace.cql");

/// Every version, in order. Append; never edit one that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "messages, inbox, seq_sections, dedupe, device_checkpoints",
        portable: include_str!("../schema/001_tables.cql"),
        scylla_only: include_str!("../schema/001_tables.scylla.cql"),
    },
    Migration {
        version: 2,
        description: "groups, group_members, user_groups, conversations",
        portable: include_str!("../schema/002_groups.cql"),
        scylla_only: include_str!("../schema/002_groups.scylla.cql"),
    },
    Migration {
        version: 3,
        description: "dedupe reservations: inbox seqs, state, stale seqs",
        portable: include_str!("../schema/003_dedupe_reservations.cql"),
        scylla_only: include_str!("../schema/003_dedupe_reservations.scylla.cql"),
    },
    Migration {
        version: 4,
        description: "message_events: edits, recalls, deletes, reactions by target",
        portable: include_str!("../schema/004_message_events.cql"),
        scylla_only: include_str!("../schema/004_message_events.scylla.cql"),
    },
    Migration {
        version: 5,
        description: "push_tokens: devices' push tokens for offline push",
        portable: include_str!("../schema/005_push_tokens.cql"),
        scylla_only: include_str!("../schema/005_push_tokens.scylla.cql"),
    },
];

/// The version this build reads and writes.
pub const LATEST_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Which server implementation answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Apache Cassandra (or another server without ScyllaDB's system tables).
    Cassandra,
    ScyllaDb,
}

impl fmt::Display for ServerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerKind::Cassandra => "cassandra",
            ServerKind::ScyllaDb => "scylladb",
        })
    }
}

/// What one `migrate` run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub keyspace: String,
    pub server: ServerKind,
    /// Versions this run applied, in order; empty when the schema was current.
    pub applied: Vec<i32>,
    /// Versions that an earlier run had applied.
    pub already_applied: Vec<i32>,
    /// ScyllaDB-only options the server refused, with its answer. The tables
    /// work without them.
    pub refused_options: Vec<String>,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions = |versions: &[i32]| {
            versions
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.applied.is_empty() {
            write!(
                f,
                "keyspace {} on {} is at schema version {LATEST_VERSION}: nothing to apply",
                self.keyspace, self.server
            )?;
        } else {
            write!(
                f,
                "keyspace {} on {}: applied schema version(s) {}, now at {LATEST_VERSION}",
                self.keyspace,
                self.server,
                versions(&self.applied)
            )?;
        }
        for refused in &self.refused_options {
            write!(f, "\n  option refused by the server: {refused}")?;
        }
        Ok(())
    }
}

/// Brings the keyspace of `config` to [`LATEST_VERSION`]. Idempotent: a
/// second run applies nothing.
pub async fn migrate(config: &ScyllaConfig) -> Result<MigrationReport, StorageError> {
    let session = open_session(config).await?;
    let server = detect_server(&session).await?;
    let keyspace = &config.keyspace;
    tracing::info!(%server, keyspace = %keyspace, "migrating cql schema");

    for statement in statements(KEYSPACE) {
        let cql = render(&statement, config);
        session
            .query_unpaged(cql, &[])
            .await
            .map_err(backend("create keyspace"))?;
    }
    await_schema_agreement(&session).await?;

    let recorded = applied_versions(&session, keyspace).await?;
    let mut report = MigrationReport {
        keyspace: keyspace.clone(),
        server,
        applied: Vec::new(),
        already_applied: recorded.iter().copied().collect(),
        refused_options: Vec::new(),
    };
    let record = session
        .prepare(format!(
            "INSERT INTO {keyspace}.schema_migrations (version, applied_at, description) \
             VALUES (?, ?, ?)"
        ))
        .await
        .map_err(backend("prepare schema_migrations insert"))?;
    for migration in MIGRATIONS {
        if recorded.contains(&migration.version) {
            continue;
        }
        for statement in statements(migration.portable) {
            if let Some((table, column)) = added_column(&statement)
                && has_column(&session, keyspace, &table, &column).await?
            {
                tracing::info!(version = migration.version, %table, %column, "column already added");
                continue;
            }
            session
                .query_unpaged(render(&statement, config), &[])
                .await
                .map_err(|e| {
                    let detail =
                        format!("cql migration {}: {e}\nin: {statement}", migration.version);
                    classify(&e, detail)
                })?;
        }
        if server == ServerKind::ScyllaDb {
            for statement in statements(migration.scylla_only) {
                if let Err(error) = session.query_unpaged(render(&statement, config), &[]).await {
                    tracing::warn!(version = migration.version, %error, "scylladb option refused");
                    report.refused_options.push(format!("{statement}: {error}"));
                }
            }
        }
        await_schema_agreement(&session).await?;
        let applied_at = CqlTimestamp(tidings_core::now_ms());
        session
            .execute_unpaged(
                &record,
                (migration.version, applied_at, migration.description),
            )
            .await
            .map_err(backend("record migration"))?;
        tracing::info!(version = migration.version, "schema version applied");
        report.applied.push(migration.version);
    }
    record_settings(&session, config).await?;
    Ok(report)
}

/// ScyllaDB has `system.scylla_local`; Cassandra does not.
async fn detect_server(session: &Session) -> Result<ServerKind, StorageError> {
    let rows = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables \
             WHERE keyspace_name = 'system' AND table_name = 'scylla_local'",
            &[],
        )
        .await
        .map_err(backend("detect server"))?
        .into_rows_result()
        .map_err(backend("detect server"))?;
    Ok(if rows.rows_num() > 0 {
        ServerKind::ScyllaDb
    } else {
        ServerKind::Cassandra
    })
}

async fn await_schema_agreement(session: &Session) -> Result<(), StorageError> {
    session
        .await_schema_agreement()
        .await
        .map(drop)
        .map_err(backend("await schema agreement"))
}

/// Versions recorded in `schema_migrations` (a table of a few rows: read whole).
pub(crate) async fn applied_versions(
    session: &Session,
    keyspace: &str,
) -> Result<BTreeSet<i32>, StorageError> {
    let cql = format!("SELECT version FROM {keyspace}.schema_migrations");
    let rows: Vec<(i32,)> = small_table(session, cql, "read schema_migrations").await?;
    Ok(rows.into_iter().map(|(version,)| version).collect())
}

/// Layout settings that must never change for a keyspace, by name.
fn settings(config: &ScyllaConfig) -> [(&'static str, String); 2] {
    [
        (
            "message_bucket_bits",
            config.message_bucket_bits.to_string(),
        ),
        ("inbox_bucket_bits", config.inbox_bucket_bits.to_string()),
    ]
}

/// The layout settings of `config` that the keyspace has not recorded yet;
/// refuses any that it recorded with another value.
pub(crate) async fn unrecorded_settings(
    session: &Session,
    config: &ScyllaConfig,
) -> Result<Vec<(&'static str, String)>, StorageError> {
    let keyspace = &config.keyspace;
    let cql = format!("SELECT name, value FROM {keyspace}.storage_settings");
    let recorded: Vec<(String, Option<String>)> =
        small_table(session, cql, "read storage settings").await?;
    let mut unrecorded = Vec::new();
    for (name, value) in settings(config) {
        match recorded.iter().find(|(n, _)| n == name) {
            Some((_, stored)) => {
                let stored = stored.as_deref().unwrap_or_default();
                if stored != value {
                    return Err(StorageError::Backend(format!(
                        "scylla.{name} is {value} but keyspace {keyspace} was laid out with \
                         {stored}; it cannot change for an existing keyspace"
                    )));
                }
            }
            None => unrecorded.push((name, value)),
        }
    }
    Ok(unrecorded)
}

/// Records the layout settings on first use; refuses different ones later.
async fn record_settings(session: &Session, config: &ScyllaConfig) -> Result<(), StorageError> {
    let keyspace = &config.keyspace;
    for (name, value) in unrecorded_settings(session, config).await? {
        session
            .query_unpaged(
                format!("INSERT INTO {keyspace}.storage_settings (name, value) VALUES (?, ?)"),
                (name, value.as_str()),
            )
            .await
            .map_err(backend("record storage settings"))?;
    }
    Ok(())
}

/// Every row of a table of a few rows, in one unpaged read.
async fn small_table<R>(
    session: &Session,
    cql: String,
    action: &'static str,
) -> Result<Vec<R>, StorageError>
where
    R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
{
    let result = session
        .query_unpaged(cql, &[])
        .await
        .map_err(backend(action))?
        .into_rows_result()
        .map_err(backend(action))?;
    result
        .rows::<R>()
        .map_err(backend(action))?
        .collect::<Result<_, _>>()
        .map_err(backend(action))
}

/// Fills in `{keyspace}` and `{replication}`.
fn render(statement: &str, config: &ScyllaConfig) -> String {
    statement
        .replace("{keyspace}", &config.keyspace)
        .replace("{replication}", config.replication.trim())
}

/// The statements of a schema file: `--` comments dropped, split at `;`.
/// Schema files keep `;` out of string literals.
pub(crate) fn statements(file: &str) -> Vec<String> {
    let without_comments: String = file
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_statement() -> Vec<String> {
        let mut all = statements(KEYSPACE);
        for migration in MIGRATIONS {
            all.extend(statements(migration.portable));
            all.extend(statements(migration.scylla_only));
        }
        all
    }

    #[test]
    fn versions_increase_from_one() {
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        let expected: Vec<i32> = (1..=MIGRATIONS.len() as i32).collect();
        assert_eq!(versions, expected);
        assert_eq!(LATEST_VERSION, *versions.last().unwrap());
    }

    #[test]
    fn schema_never_filters() {
        let forbidden = ["ALLOW", "FILTERING"].join(" ");
        for statement in every_statement() {
            assert!(
                !statement.to_ascii_uppercase().contains(&forbidden),
                "{statement}"
            );
        }
    }

    #[test]
    fn every_creation_is_idempotent() {
        for statement in every_statement() {
            let upper = statement.to_ascii_uppercase();
            if upper.starts_with("CREATE") {
                assert!(upper.contains("IF NOT EXISTS"), "{statement}");
            } else {
                assert!(upper.starts_with("ALTER TABLE"), "{statement}");
            }
            assert!(statement.contains("{keyspace}"), "{statement}");
        }
    }

    /// `migrate` can only skip an addition it recognises, so every `ADD`
    /// adds exactly one plain column, in the portable files.
    #[test]
    fn every_column_addition_can_be_skipped() {
        let mut added = Vec::new();
        for migration in MIGRATIONS {
            for statement in statements(migration.portable) {
                let words: Vec<String> = statement
                    .split_whitespace()
                    .map(str::to_ascii_uppercase)
                    .collect();
                if words.iter().any(|word| word == "ADD") {
                    let column = added_column(&statement);
                    assert!(column.is_some(), "{statement}");
                    added.extend(column);
                }
            }
            for statement in statements(migration.scylla_only) {
                assert_eq!(added_column(&statement), None, "{statement}");
            }
        }
        let dedupe_columns: Vec<&str> = added
            .iter()
            .filter(|(table, _)| table == "dedupe")
            .map(|(_, column)| column.as_str())
            .collect();
        assert_eq!(
            dedupe_columns,
            ["inbox_seqs", "state", "stale_conv_seqs", "stale_inbox_seqs"]
        );
    }

    #[test]
    fn scylla_only_options_stay_out_of_portable_files() {
        for migration in MIGRATIONS {
            for statement in statements(migration.portable) {
                assert!(!statement.contains("IncrementalCompaction"), "{statement}");
                assert!(!statement.contains("tombstone_gc"), "{statement}");
            }
        }
    }

    #[test]
    fn reports_say_what_was_applied() {
        let mut report = MigrationReport {
            keyspace: "chat".into(),
            server: ServerKind::ScyllaDb,
            applied: vec![1],
            already_applied: Vec::new(),
            refused_options: Vec::new(),
        };
        assert_eq!(
            report.to_string(),
            format!(
                "keyspace chat on scylladb: applied schema version(s) 1, now at {LATEST_VERSION}"
            )
        );
        report.applied.clear();
        assert!(report.to_string().ends_with("nothing to apply"));
    }

    #[test]
    fn statements_drop_comments_and_split() {
        let file = "-- a comment; with a semicolon\nCREATE TABLE x (a int PRIMARY KEY);\n\n\
                    ALTER TABLE x -- trailing\n  WITH comment = 'y';\n";
        assert_eq!(
            statements(file),
            [
                "CREATE TABLE x (a int PRIMARY KEY)",
                "ALTER TABLE x WITH comment = 'y'"
            ]
        );
    }

    #[test]
    fn keyspace_statement_uses_the_configured_replication() {
        let config = ScyllaConfig {
            keyspace: "chat".into(),
            replication: "{'class': 'NetworkTopologyStrategy', 'eu': 3}".into(),
            ..ScyllaConfig::default()
        };
        let create = render(&statements(KEYSPACE)[0], &config);
        assert_eq!(
            create,
            "CREATE KEYSPACE IF NOT EXISTS chat WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'eu': 3}"
        );
    }
}
