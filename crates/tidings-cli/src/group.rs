//! `group`: create a group, add and remove members, list members and the
//! caller's groups. A group's conversation is `g:<group>`; send to it and
//! read it with `--group`.

use serde_json::json;
use tidings_client::proto::{GroupResult, Member};
use tidings_core::UserId;

use crate::error::CliError;
use crate::output::{Printer, json, text};
use crate::session::{Identity, parse_user};
use crate::target::parse_group;

/// What group commands print for a group: `group  conversation  owner
/// member_count  name`, plus `large` once the group uses read diffusion.
#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// Create a group with the caller as owner, and initial members.
    Create(CreateArgs),
    /// Add members (any member may add).
    Add(MembersArgs),
    /// Remove members (the owner may remove anyone, a member only itself).
    Remove(MembersArgs),
    /// List a group's members: `user  role  joined_at_ms`.
    Members(ListArgs),
    /// List the caller's groups.
    List,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Group id (1 to 64 of [A-Za-z0-9_.-]). Default: the server picks one.
    #[arg(long = "id", value_name = "GROUP")]
    pub group: Option<String>,

    /// Display name.
    #[arg(long, default_value = "")]
    pub name: String,

    /// Initial members besides the caller.
    #[arg(value_name = "USER")]
    pub members: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct MembersArgs {
    /// The group.
    pub group: String,

    /// The users to add or remove.
    #[arg(required = true, num_args = 1.., value_name = "USER")]
    pub users: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The group.
    pub group: String,

    /// Print at most this many members. Default: all of them.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
}

pub async fn run(
    identity: &Identity,
    printer: Printer,
    command: GroupCommand,
) -> Result<(), CliError> {
    match command {
        GroupCommand::Create(args) => {
            let group = match &args.group {
                Some(group) => parse_group("--id", group)?.to_string(),
                None => String::new(),
            };
            let members = parse_users(&args.members)?;
            let session = identity.session().await?;
            let members: Vec<&str> = members.iter().map(UserId::as_str).collect();
            let result = session
                .connection
                .create_group(&group, &args.name, &members)
                .await?;
            session.close().await;
            print_group(printer, &result)
        }
        GroupCommand::Add(args) => change_members(identity, printer, args, true).await,
        GroupCommand::Remove(args) => change_members(identity, printer, args, false).await,
        GroupCommand::Members(args) => {
            let group = parse_group("GROUP", &args.group)?;
            let session = identity.session().await?;
            let members = members(&session.connection, group.as_str(), args.limit).await?;
            session.close().await;
            printer.document(
                json!({
                    "group_id": group.as_str(),
                    "members": members.iter().map(json::member).collect::<Vec<_>>(),
                }),
                members.iter().map(text::member_line),
            )
        }
        GroupCommand::List => {
            let session = identity.session().await?;
            let groups = session.connection.list_groups().await?.groups;
            session.close().await;
            printer.document(
                json!({"groups": groups.iter().map(json::group).collect::<Vec<_>>()}),
                groups.iter().map(text::group_line),
            )
        }
    }
}

/// Adds (`add`) or removes the users of `args`.
async fn change_members(
    identity: &Identity,
    printer: Printer,
    args: MembersArgs,
    add: bool,
) -> Result<(), CliError> {
    let group = parse_group("GROUP", &args.group)?;
    let users = parse_users(&args.users)?;
    let session = identity.session().await?;
    let users: Vec<&str> = users.iter().map(UserId::as_str).collect();
    let result = if add {
        session
            .connection
            .add_members(group.as_str(), &users)
            .await?
    } else {
        session
            .connection
            .remove_members(group.as_str(), &users)
            .await?
    };
    session.close().await;
    print_group(printer, &result)
}

fn print_group(printer: Printer, group: &GroupResult) -> Result<(), CliError> {
    printer.document(json::group(group), [text::group_line(group)])
}

fn parse_users(users: &[String]) -> Result<Vec<UserId>, CliError> {
    users.iter().map(|u| parse_user("USER", u)).collect()
}

/// Pages through the members, in user id order.
async fn members(
    connection: &tidings_client::Connection,
    group: &str,
    limit: Option<u32>,
) -> Result<Vec<Member>, CliError> {
    let mut members: Vec<Member> = Vec::new();
    loop {
        let after = members.last().map_or("", |m| m.user_id.as_str());
        let wanted = limit.map_or(0, |limit| limit - members.len() as u32);
        let page = connection.list_members(group, after, wanted).await?;
        let more = page.has_more && !page.members.is_empty();
        members.extend(page.members);
        if let Some(limit) = limit {
            members.truncate(limit as usize);
            if members.len() >= limit as usize {
                return Ok(members);
            }
        }
        if !more {
            return Ok(members);
        }
    }
}
