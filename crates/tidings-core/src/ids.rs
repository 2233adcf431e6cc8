//! Identifiers, validated where they enter the system.

use crate::error::{Error, Result};

const MAX_ID_LEN: usize = 64;

/// Ids of system senders (the server API's `system` senders, e.g.
/// `system.billing`) start with it. Such user ids are reserved: never a
/// person's, never in a client token.
pub const SYSTEM_SENDER_PREFIX: &str = "system.";

fn validate_id(kind: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!(
            "{kind} must be 1 to {MAX_ID_LEN} characters, got {}",
            s.len()
        )));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Error::invalid(format!(
            "{kind} may contain only letters, digits, '_', '-' and '.', found {bad:?}"
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id.
            pub fn parse(s: &str) -> Result<Self> {
                validate_id($kind, s)?;
                Ok($name(s.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user id: 1..=64 characters of `[A-Za-z0-9_.-]`.
    UserId,
    "user_id"
);
id_type!(
    /// A device id, chosen by the device and stable across its connections.
    DeviceId,
    "device_id"
);
id_type!(
    /// A group id: the group conversation is `g:<group_id>`.
    GroupId,
    "group_id"
);
id_type!(
    /// A live room id (rooms are ephemeral; nothing is stored under it).
    RoomId,
    "room_id"
);

/// A conversation: the owner of one store timeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConversationId {
    /// A 1:1 conversation, `dm:<a>:<b>` with `a <= b`. `a == b` is a user's notes to self.
    Direct(UserId, UserId),
    /// A group conversation, `g:<group_id>`; its members are in the groups table.
    Group(GroupId),
}

impl ConversationId {
    /// The 1:1 conversation between two users, whichever order they are given in.
    pub fn direct(a: &UserId, b: &UserId) -> Self {
        if a <= b {
            ConversationId::Direct(a.clone(), b.clone())
        } else {
            ConversationId::Direct(b.clone(), a.clone())
        }
    }

    /// Parses the canonical string form.
    pub fn parse(s: &str) -> Result<Self> {
        let unknown = || {
            Error::new(
                crate::ErrorCode::UnknownConversation,
                format!(
                    "conversation_id {s:?} is not of the form dm:<user_a>:<user_b> or g:<group_id>"
                ),
            )
        };
        if let Some(group) = s.strip_prefix("g:") {
            return Ok(ConversationId::Group(
                GroupId::parse(group).map_err(|_| unknown())?,
            ));
        }
        let rest = s.strip_prefix("dm:").ok_or_else(unknown)?;
        let (a, b) = rest.split_once(':').ok_or_else(unknown)?;
        let (a, b) = (
            UserId::parse(a).map_err(|_| unknown())?,
            UserId::parse(b).map_err(|_| unknown())?,
        );
        if a > b {
            return Err(Error::new(
                crate::ErrorCode::UnknownConversation,
                format!("conversation_id {s:?}: user ids must be in ascending order"),
            ));
        }
        Ok(ConversationId::Direct(a, b))
    }

    /// The members of a 1:1 conversation; `None` for a group, whose members
    /// are stored.
    pub fn direct_members(&self) -> Option<Vec<UserId>> {
        match self {
            ConversationId::Direct(a, b) if a == b => Some(vec![a.clone()]),
            ConversationId::Direct(a, b) => Some(vec![a.clone(), b.clone()]),
            ConversationId::Group(_) => None,
        }
    }

    /// The group of a group conversation.
    pub fn group(&self) -> Option<&GroupId> {
        match self {
            ConversationId::Group(g) => Some(g),
            ConversationId::Direct(..) => None,
        }
    }
}

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConversationId::Direct(a, b) => write!(f, "dm:{a}:{b}"),
            ConversationId::Group(g) => write!(f, "g:{g}"),
        }
    }
}

/// A timeline whose seqs the sequence service allocates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimelineKey {
    /// A user's sync timeline (inbox): `user:<id>`.
    Inbox(String),
    /// A conversation's store timeline: `conv:<id>`.
    Conversation(String),
}

impl TimelineKey {
    pub fn inbox(user: &UserId) -> Self {
        TimelineKey::Inbox(user.as_str().to_string())
    }

    pub fn conversation(conv: &ConversationId) -> Self {
        TimelineKey::Conversation(conv.to_string())
    }

    pub fn parse(s: &str) -> Result<Self> {
        if let Some(id) = s.strip_prefix("user:") {
            validate_id("user_id", id)?;
            return Ok(TimelineKey::Inbox(id.to_string()));
        }
        if let Some(id) = s.strip_prefix("conv:")
            && !id.is_empty()
            && id.len() <= 200
        {
            return Ok(TimelineKey::Conversation(id.to_string()));
        }
        Err(Error::invalid(format!(
            "timeline key {s:?} must be user:<id> or conv:<id>"
        )))
    }
}

impl std::fmt::Display for TimelineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimelineKey::Inbox(id) => write!(f, "user:{id}"),
            TimelineKey::Conversation(id) => write!(f, "conv:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn ids_reject_bad_characters_and_lengths() {
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a:b").is_err());
        assert!(UserId::parse(&"x".repeat(65)).is_err());
        assert!(UserId::parse("alice_01.x-y").is_ok());
    }

    #[test]
    fn direct_conversation_is_canonical() {
        let c = ConversationId::direct(&u("bob"), &u("alice"));
        assert_eq!(c.to_string(), "dm:alice:bob");
        assert_eq!(ConversationId::parse("dm:alice:bob").unwrap(), c);
        assert!(ConversationId::parse("dm:bob:alice").is_err());
        assert!(ConversationId::parse("group:1").is_err());
        assert_eq!(c.direct_members().unwrap().len(), 2);
        assert_eq!(
            ConversationId::direct(&u("a"), &u("a"))
                .direct_members()
                .unwrap()
                .len(),
            1
        );
        let g = ConversationId::parse("g:team-1").unwrap();
        assert_eq!(g.to_string(), "g:team-1");
        assert!(g.direct_members().is_none());
        assert!(ConversationId::parse("g:bad id").is_err());
    }

    #[test]
    fn timeline_keys_round_trip() {
        for s in ["user:alice", "conv:dm:a:b"] {
            assert_eq!(TimelineKey::parse(s).unwrap().to_string(), s);
        }
        assert!(TimelineKey::parse("room:1").is_err());
    }
}
