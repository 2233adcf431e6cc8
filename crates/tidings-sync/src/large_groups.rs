//! The large groups of each user, learned from logic (which owns the groups
//! tables, DESIGN §8) and cached here: every pull reports their heads.
//!
//! An entry lives `ttl` at most, and logic tells this instance to forget a
//! user's entry when that user's memberships change. Other sync instances
//! learn of the change when their entry expires: a late head only delays a
//! device's pull of the group, it never hides a message.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tidings_core::{ConversationId, Error, UserId};
use tidings_proto::logic::v1::LargeGroupsRequest;
use tidings_rpc::LogicApi;

/// Most users kept; past it the cache starts over (simple and bounded).
const MAX_USERS: usize = 100_000;

pub(crate) struct LargeGroups {
    logic: LogicApi,
    ttl: Duration,
    cached: Mutex<HashMap<UserId, (Instant, Vec<ConversationId>)>>,
}

impl LargeGroups {
    pub(crate) fn new(logic: LogicApi, ttl: Duration) -> Self {
        LargeGroups {
            logic,
            ttl,
            cached: Mutex::default(),
        }
    }

    /// The large group conversations of `user`.
    pub(crate) async fn of(&self, user: &UserId) -> Result<Vec<ConversationId>, Error> {
        if let Some((at, groups)) = self.cached.lock().expect("cache lock").get(user)
            && at.elapsed() < self.ttl
        {
            return Ok(groups.clone());
        }
        let answer = self
            .logic
            .clone()
            .large_groups(LargeGroupsRequest {
                user_id: user.to_string(),
            })
            .await?
            .into_inner();
        let groups = answer
            .conversation_ids
            .iter()
            .map(|id| ConversationId::parse(id))
            .collect::<Result<Vec<_>, _>>()?;
        if !self.ttl.is_zero() {
            let mut cached = self.cached.lock().expect("cache lock");
            if cached.len() >= MAX_USERS {
                cached.clear();
            }
            cached.insert(user.clone(), (Instant::now(), groups.clone()));
        }
        Ok(groups)
    }

    /// Forgets what is cached for `users`.
    pub(crate) fn forget(&self, users: &[UserId]) {
        let mut cached = self.cached.lock().expect("cache lock");
        for user in users {
            cached.remove(user);
        }
    }
}
