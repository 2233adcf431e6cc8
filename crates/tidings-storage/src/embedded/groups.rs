//! Groups and their membership, kept both ways:
//! * `groups` keyed `group ++ 0x00`, the value a [`GroupRow`];
//! * `group_members` keyed `group ++ 0x00 ++ user`, the value a [`MemberRow`],
//!   so one prefix scan lists a group's members in user-id order;
//! * `user_groups` keyed `user ++ 0x00 ++ group`, no value, so one prefix scan
//!   lists a user's groups in group-id order.
//!
//! Both directions of a membership change are written in one batch, so they
//! never disagree. Creation, the size mode and membership changes are
//! read-modify-write sequences (is the id taken, when did a member join)
//! under one lock; they are rare next to messages.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use prost::Message as _;

use super::codec::{
    GroupRow, MemberRow, after_named_key, decode, id_prefix, key_name, named_key, prefix_end,
};
use super::{EmbeddedStore, FjallTables, backend, lock, read_page};
use crate::{GroupInfo, GroupMember, GroupStore, MAX_PAGE, Page, StorageError};

const GROUPS: &str = "groups";
const MEMBERS: &str = "group_members";
const USER_GROUPS: &str = "user_groups";

#[async_trait]
impl GroupStore for EmbeddedStore {
    async fn create_group(&self, info: &GroupInfo) -> Result<bool, StorageError> {
        let key = id_prefix(&info.group_id)?;
        let row = GroupRow {
            name: info.name.clone(),
            owner: info.owner.clone(),
            created_at_ms: info.created_at_ms,
            large: info.large,
        };
        self.write(move |tables| {
            let _guard = lock(&tables.group_lock);
            let taken = tables
                .groups
                .contains_key(&key)
                .map_err(|e| backend("read group", e))?;
            if taken {
                return Ok(false);
            }
            let mut batch = tables.db.batch();
            batch.insert(&tables.groups, key, row.encode_to_vec());
            batch.commit().map_err(|e| backend("commit group", e))?;
            Ok(true)
        })
        .await
    }

    async fn get_group(&self, group_id: &str) -> Result<Option<GroupInfo>, StorageError> {
        let key = id_prefix(group_id)?;
        let group_id = group_id.to_string();
        self.blocking(move |tables| {
            Ok(tables.group(&key)?.map(|row| GroupInfo {
                group_id,
                name: row.name,
                owner: row.owner,
                created_at_ms: row.created_at_ms,
                large: row.large,
            }))
        })
        .await
    }

    async fn set_large(&self, group_id: &str, large: bool) -> Result<bool, StorageError> {
        let key = id_prefix(group_id)?;
        self.write(move |tables| {
            let _guard = lock(&tables.group_lock);
            let Some(mut row) = tables.group(&key)? else {
                return Ok(false);
            };
            if row.large != large {
                row.large = large;
                let mut batch = tables.db.batch();
                batch.insert(&tables.groups, key, row.encode_to_vec());
                batch.commit().map_err(|e| backend("commit group", e))?;
            }
            Ok(true)
        })
        .await
    }

    async fn add_members(
        &self,
        group_id: &str,
        members: &[GroupMember],
    ) -> Result<(), StorageError> {
        if members.is_empty() {
            return Ok(());
        }
        // Keyed by user, so the last entry of a user listed twice wins.
        let mut rows = BTreeMap::new();
        for member in members {
            let keys = (
                named_key(group_id, &member.user_id)?,
                named_key(&member.user_id, group_id)?,
            );
            rows.insert(member.user_id.clone(), (keys, member.clone()));
        }
        self.write(move |tables| {
            let _guard = lock(&tables.group_lock);
            let mut batch = tables.db.batch();
            for ((member_key, user_key), member) in rows.into_values() {
                let recorded = tables.member(&member_key)?;
                let row = MemberRow {
                    role: member.role,
                    // A member already in the group keeps its join time.
                    joined_at_ms: recorded.map_or(member.joined_at_ms, |r| r.joined_at_ms),
                };
                batch.insert(&tables.group_members, member_key, row.encode_to_vec());
                batch.insert(&tables.user_groups, user_key, Vec::new());
            }
            batch.commit().map_err(|e| backend("commit members", e))
        })
        .await
    }

    async fn remove_members(&self, group_id: &str, users: &[String]) -> Result<(), StorageError> {
        if users.is_empty() {
            return Ok(());
        }
        let keys = users
            .iter()
            .map(|user| Ok((named_key(group_id, user)?, named_key(user, group_id)?)))
            .collect::<Result<BTreeSet<_>, StorageError>>()?;
        self.write(move |tables| {
            let _guard = lock(&tables.group_lock);
            let mut batch = tables.db.batch();
            for (member_key, user_key) in keys {
                batch.remove(&tables.group_members, member_key);
                batch.remove(&tables.user_groups, user_key);
            }
            batch
                .commit()
                .map_err(|e| backend("commit member removal", e))
        })
        .await
    }

    async fn get_member(
        &self,
        group_id: &str,
        user: &str,
    ) -> Result<Option<GroupMember>, StorageError> {
        let key = named_key(group_id, user)?;
        let user = user.to_string();
        self.blocking(move |tables| Ok(tables.member(&key)?.map(|row| member_from_row(user, row))))
            .await
    }

    async fn list_members(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<GroupMember>, StorageError> {
        let prefix_len = id_prefix(group_id)?.len();
        let start = match after {
            Some(after) => after_named_key(group_id, after)?,
            None => id_prefix(group_id)?,
        };
        let end = prefix_end(group_id)?;
        let limit = limit.min(MAX_PAGE);
        self.blocking(move |tables| {
            let rows = tables.group_members.range(start..end);
            let (items, has_more) = read_page(rows, limit, |key, value| {
                let user = key_name(MEMBERS, prefix_len, key)?;
                Ok(Some(member_from_row(user, decode(MEMBERS, value)?)))
            })?;
            Ok(Page { items, has_more })
        })
        .await
    }

    async fn count_members(&self, group_id: &str) -> Result<u64, StorageError> {
        let prefix = id_prefix(group_id)?;
        self.blocking(move |tables| {
            let mut count = 0;
            for row in tables.group_members.prefix(&prefix) {
                row.key().map_err(|e| backend("scan members", e))?;
                count += 1;
            }
            Ok(count)
        })
        .await
    }

    async fn user_groups(&self, user: &str) -> Result<Vec<String>, StorageError> {
        let prefix = id_prefix(user)?;
        self.blocking(move |tables| {
            let mut groups = Vec::new();
            for row in tables.user_groups.prefix(&prefix) {
                let key = row.key().map_err(|e| backend("scan user groups", e))?;
                groups.push(key_name(USER_GROUPS, prefix.len(), &key)?);
            }
            Ok(groups)
        })
        .await
    }
}

impl FjallTables {
    /// The stored row of a group, if it was created.
    fn group(&self, key: &[u8]) -> Result<Option<GroupRow>, StorageError> {
        self.groups
            .get(key)
            .map_err(|e| backend("read group", e))?
            .map(|value| decode(GROUPS, &value))
            .transpose()
    }

    /// The stored membership row, if the user is a member.
    fn member(&self, key: &[u8]) -> Result<Option<MemberRow>, StorageError> {
        self.group_members
            .get(key)
            .map_err(|e| backend("read member", e))?
            .map(|value| decode(MEMBERS, &value))
            .transpose()
    }
}

fn member_from_row(user_id: String, row: MemberRow) -> GroupMember {
    GroupMember {
        user_id,
        role: row.role,
        joined_at_ms: row.joined_at_ms,
    }
}
