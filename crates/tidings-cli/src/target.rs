//! Naming a conversation on the command line: the other user of a 1:1, a
//! group, or the conversation id as the server writes it.

use tidings_core::{ConversationId, GroupId, UserId};

use crate::error::CliError;
use crate::session::parse_user;

/// One conversation, by one of three flags.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ConversationArgs {
    /// The other user of a 1:1 conversation.
    #[arg(long, visible_alias = "to", value_name = "USER")]
    pub with: Option<String>,

    /// A group: its conversation is `g:<group>`.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,

    /// A conversation id as the server names it: `dm:<user_a>:<user_b>`
    /// (user ids in ascending order) or `g:<group>`.
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
}

/// A validated conversation name; 1:1 names need the caller's user id,
/// known once the server has welcomed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    With(UserId),
    Group(GroupId),
    Conversation(ConversationId),
}

impl ConversationArgs {
    /// Validates whichever flag was given.
    pub fn parse(&self) -> Result<Target, CliError> {
        if let Some(user) = &self.with {
            return Ok(Target::With(parse_user("--with", user)?));
        }
        if let Some(group) = &self.group {
            return parse_group("--group", group).map(Target::Group);
        }
        if let Some(conversation) = &self.conversation {
            return ConversationId::parse(conversation)
                .map(Target::Conversation)
                .map_err(|e| CliError::bad_value("--conversation", e.message));
        }
        Err(CliError::Usage(
            "name a conversation with --with, --group or --conversation".into(),
        ))
    }
}

impl Target {
    /// The conversation id, as seen by `me`.
    pub fn conversation_id(&self, me: &UserId) -> String {
        match self {
            Target::With(other) => ConversationId::direct(me, other).to_string(),
            Target::Group(group) => ConversationId::Group(group.clone()).to_string(),
            Target::Conversation(conversation) => conversation.to_string(),
        }
    }
}

/// Validates a group id given on the command line, naming the flag.
pub fn parse_group(flag: &str, value: &str) -> Result<GroupId, CliError> {
    GroupId::parse(value).map_err(|e| CliError::bad_value(flag, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        with: Option<&str>,
        group: Option<&str>,
        conversation: Option<&str>,
    ) -> ConversationArgs {
        ConversationArgs {
            with: with.map(String::from),
            group: group.map(String::from),
            conversation: conversation.map(String::from),
        }
    }

    #[test]
    fn each_flag_names_its_conversation() {
        let me = UserId::parse("bob").unwrap();
        let id = |a: ConversationArgs| a.parse().unwrap().conversation_id(&me);
        assert_eq!(id(args(Some("alice"), None, None)), "dm:alice:bob");
        assert_eq!(id(args(None, Some("team"), None)), "g:team");
        assert_eq!(
            id(args(None, None, Some("dm:alice:carol"))),
            "dm:alice:carol"
        );
    }

    #[test]
    fn bad_names_are_usage_errors_naming_the_flag() {
        for (bad, flag) in [
            (args(Some("bad user"), None, None), "--with"),
            (args(None, Some(""), None), "--group"),
            (args(None, None, Some("dm:bob:alice")), "--conversation"),
            (args(None, None, Some("room:1")), "--conversation"),
        ] {
            let error = bad.parse().unwrap_err();
            assert_eq!(error.code(), "usage");
            assert!(error.to_string().starts_with(flag), "{error}");
        }
    }
}
