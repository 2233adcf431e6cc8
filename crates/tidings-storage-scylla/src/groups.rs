//! Groups and their membership: `groups (group_id)`, `group_members
//! ((group_id), user_id)` and `user_groups ((user_id), group_id)`.
//!
//! Group creation is `INSERT ... IF NOT EXISTS`, a lightweight transaction.
//! DESIGN §3 keeps LWT off the message path; creating a group is not on it
//! (it happens once per group, at a human's request), and it is the only way
//! to answer "was the id free?" exactly when two creations race. Switching
//! the size mode is `UPDATE ... IF EXISTS` (rare: when membership crosses
//! the threshold), so that it never creates a row for an unknown group and
//! the rows of `groups` are written by transactions only: mixing them with
//! plain writes on one row is unsafe.
//!
//! Each membership change writes both directions in one logged batch, so the
//! two tables agree once it is applied, even if the writer dies half-way.
//! Batches hold a few members each to stay well under the servers' batch size
//! warnings. Adding a member who is already in the group keeps its
//! `joined_at_ms`: the recorded ones are read first (read then write, no
//! transaction: two racing additions of one new member both write a join
//! time, and the later write wins, which is harmless).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::CqlValue;
use tidings_storage::{GroupInfo, GroupMember, GroupStore, MAX_PAGE, Page, StorageError};

use crate::session::backend;
use crate::store::ScyllaStore;

/// Members per logged batch (two statements each).
const MEMBERS_PER_BATCH: usize = 16;

/// Users per `IN` read of recorded members: ScyllaDB refuses more than 100
/// clustering keys in one query by default.
const MEMBERS_PER_READ: usize = 100;

/// Attempts of a group transaction that timed out.
const TRANSACTION_ATTEMPTS: u32 = 5;

/// Columns read back from `groups`.
type GroupRow = (Option<String>, Option<String>, Option<i64>, Option<bool>);

/// Columns read back by a member listing.
type MemberRow = (String, Option<String>, Option<i64>);

#[async_trait]
impl GroupStore for ScyllaStore {
    async fn create_group(&self, info: &GroupInfo) -> Result<bool, StorageError> {
        let values = (
            info.group_id.as_str(),
            info.name.as_str(),
            info.owner.as_str(),
            info.created_at_ms,
            info.large,
        );
        let statement = &self.statements.insert_group;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            match self.transaction("create group", statement, values).await {
                Ok(outcome) => return Ok(outcome.applied),
                Err(error) => {
                    // It may have been applied: a serial read completes any
                    // transaction left half-way and shows what won.
                    tracing::debug!(group_id = %info.group_id, attempt, %error, "group creation retried");
                    match self.read_group(&info.group_id, true).await? {
                        Some(stored) => return Ok(stored == *info),
                        None if attempt == TRANSACTION_ATTEMPTS => return Err(error),
                        None => backoff(attempt).await,
                    }
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn get_group(&self, group_id: &str) -> Result<Option<GroupInfo>, StorageError> {
        self.read_group(group_id, false).await
    }

    async fn set_large(&self, group_id: &str, large: bool) -> Result<bool, StorageError> {
        let statement = &self.statements.set_group_large;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            match self
                .transaction("set group size mode", statement, (large, group_id))
                .await
            {
                Ok(outcome) => return Ok(outcome.applied),
                // Setting the same value again is harmless: retry.
                Err(error) if attempt == TRANSACTION_ATTEMPTS => return Err(error),
                Err(error) => {
                    tracing::debug!(group_id, attempt, %error, "group size mode retried");
                    backoff(attempt).await;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    async fn add_members(
        &self,
        group_id: &str,
        members: &[GroupMember],
    ) -> Result<(), StorageError> {
        // Keyed by user, so the last entry of a user listed twice wins.
        let members: BTreeMap<&str, &GroupMember> = members
            .iter()
            .map(|member| (member.user_id.as_str(), member))
            .collect();
        let users: Vec<&str> = members.keys().copied().collect();
        let joined = self.recorded_join_times(group_id, &users).await?;
        let batches = users
            .chunks(MEMBERS_PER_BATCH)
            .map(|chunk| {
                let mut batch = Batch::new(BatchType::Logged);
                let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(2 * chunk.len());
                for &user in chunk {
                    let member = members[user];
                    let joined_at_ms = joined.get(user).copied().unwrap_or(member.joined_at_ms);
                    batch.append_statement(self.statements.insert_group_member.clone());
                    values.push(vec![
                        text(group_id),
                        text(user),
                        text(&member.role),
                        CqlValue::BigInt(joined_at_ms),
                    ]);
                    batch.append_statement(self.statements.insert_user_group.clone());
                    values.push(vec![text(user), text(group_id)]);
                }
                self.membership_batch("add members", batch, values)
            })
            .collect();
        self.write_all(batches).await
    }

    async fn remove_members(&self, group_id: &str, users: &[String]) -> Result<(), StorageError> {
        let batches = users
            .chunks(MEMBERS_PER_BATCH)
            .map(|chunk| {
                let mut batch = Batch::new(BatchType::Logged);
                let mut values: Vec<Vec<CqlValue>> = Vec::with_capacity(2 * chunk.len());
                for user in chunk {
                    batch.append_statement(self.statements.delete_group_member.clone());
                    values.push(vec![text(group_id), text(user)]);
                    batch.append_statement(self.statements.delete_user_group.clone());
                    values.push(vec![text(user), text(group_id)]);
                }
                self.membership_batch("remove members", batch, values)
            })
            .collect();
        self.write_all(batches).await
    }

    async fn get_member(
        &self,
        group_id: &str,
        user: &str,
    ) -> Result<Option<GroupMember>, StorageError> {
        let statement = &self.statements.select_group_member;
        let row: Option<(Option<String>, Option<i64>)> = self
            .one_row("read member", statement, (group_id, user))
            .await?;
        Ok(row.map(|(role, joined_at_ms)| member_from_row((user.to_string(), role, joined_at_ms))))
    }

    async fn list_members(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<GroupMember>, StorageError> {
        let limit = limit.min(MAX_PAGE);
        // One more than asked for: it tells `has_more`.
        let wanted = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let rows = match after {
            Some(after) => {
                let statement = &self.statements.list_group_members_after;
                self.rows::<MemberRow>("list members", statement, (group_id, after, wanted))
                    .await?
            }
            None => {
                let statement = &self.statements.list_group_members;
                self.rows::<MemberRow>("list members", statement, (group_id, wanted))
                    .await?
            }
        };
        let mut items: Vec<GroupMember> = rows.map_ok(member_from_row).try_collect().await?;
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, has_more })
    }

    async fn count_members(&self, group_id: &str) -> Result<u64, StorageError> {
        let statement = &self.statements.count_group_members;
        let count = self
            .rows::<(i64,)>("count members", statement, (group_id,))
            .await?
            .try_next()
            .await?
            .map_or(0, |(count,)| count);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn user_groups(&self, user: &str) -> Result<Vec<String>, StorageError> {
        let statement = &self.statements.list_user_groups;
        self.rows::<(String,)>("list user groups", statement, (user,))
            .await?
            .map_ok(|(group_id,)| group_id)
            .try_collect()
            .await
    }
}

impl ScyllaStore {
    /// The group's row; at serial consistency when `serial`, which also
    /// completes a creation left half-way.
    async fn read_group(
        &self,
        group_id: &str,
        serial: bool,
    ) -> Result<Option<GroupInfo>, StorageError> {
        let statement = if serial {
            &self.statements.select_group_serial
        } else {
            &self.statements.select_group
        };
        let row: Option<GroupRow> = self.one_row("read group", statement, (group_id,)).await?;
        Ok(row.map(|(name, owner, created_at_ms, large)| GroupInfo {
            group_id: group_id.to_string(),
            name: name.unwrap_or_default(),
            owner: owner.unwrap_or_default(),
            created_at_ms: created_at_ms.unwrap_or_default(),
            large: large.unwrap_or_default(),
        }))
    }

    /// `joined_at_ms` of those of `users` who are members of `group_id`.
    async fn recorded_join_times(
        &self,
        group_id: &str,
        users: &[&str],
    ) -> Result<HashMap<String, i64>, StorageError> {
        let statement = &self.statements.select_group_members_in;
        let mut joined = HashMap::new();
        for chunk in users.chunks(MEMBERS_PER_READ) {
            let mut rows = self
                .rows::<(String, Option<i64>)>("read members", statement, (group_id, chunk))
                .await?;
            while let Some((user, joined_at_ms)) = rows.try_next().await? {
                joined.insert(user, joined_at_ms.unwrap_or_default());
            }
        }
        Ok(joined)
    }

    /// Runs one logged batch of membership writes. Retrying it is safe: it
    /// only inserts or only deletes, with the same values each time.
    async fn membership_batch(
        &self,
        action: &'static str,
        mut batch: Batch,
        values: Vec<Vec<CqlValue>>,
    ) -> Result<(), StorageError> {
        batch.set_is_idempotent(true);
        self.session
            .batch(&batch, values)
            .await
            .map(drop)
            .map_err(backend(action))
    }
}

/// Waits 40 ms, 80 ms, ... before the next attempt of a transaction.
async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
}

fn text(value: &str) -> CqlValue {
    CqlValue::Text(value.to_string())
}

fn member_from_row((user_id, role, joined_at_ms): MemberRow) -> GroupMember {
    GroupMember {
        user_id,
        role: role.unwrap_or_default(),
        joined_at_ms: joined_at_ms.unwrap_or_default(),
    }
}
