//! Group fan-out benchmark: the cost of ONE group message against group
//! size, on the all-in-one started in this process. Groups up to
//! `logic.large_group_threshold` members use write diffusion (one store
//! timeline message plus one inbox entry per member); larger ones use read
//! diffusion (the store timeline only; online members get a
//! `ConversationPush`). For each size it reports timeline rows written per
//! message (counted by a wrapper around the embedded store's tables), pushes
//! read by the online member devices per message, send-to-ack and
//! send-to-push latency, and the time to set the group up; each beside its
//! ratio to a 1:1 message measured in the same run, half before and half
//! after the groups.
//!
//! Like the rest of this crate it never asserts a figure and talks to
//! loopback addresses only.

mod counting;
mod messages;
mod params;
mod report;
mod server;
mod setup;

use std::time::Duration;

use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_testkit::ServiceChannel;

pub use counting::{CountingStore, RowCounts};
pub use messages::MessageStats;
pub use params::GroupsParams;
pub use report::{conclusion, render};

use messages::Online;
use server::CountedServer;

/// How a conversation's messages reach its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diffusion {
    /// Store timeline plus every member's inbox.
    Write,
    /// Store timeline only.
    Read,
}

impl Diffusion {
    pub fn name(self) -> &'static str {
        match self {
            Diffusion::Write => "write",
            Diffusion::Read => "read",
        }
    }
}

/// One group size.
#[derive(Debug, Clone)]
pub struct GroupRow {
    /// Members, the owner included.
    pub size: usize,
    /// As the server reported it once the group was set up.
    pub diffusion: Diffusion,
    /// Member devices online during the messages, the sender's included.
    pub online: usize,
    /// Time of the CreateGroup and AddMembers calls.
    pub setup: Duration,
    pub messages: MessageStats,
}

/// The 1:1 baseline: two online devices, half of the messages before the
/// groups and half after.
#[derive(Debug, Clone)]
pub struct DmBaseline {
    pub online: usize,
    pub messages: MessageStats,
    /// Send-ack p50 after the groups ÷ before.
    pub drift: f64,
}

/// Everything the group benchmark measured.
#[derive(Debug, Clone)]
pub struct GroupsReport {
    pub dm: DmBaseline,
    pub rows: Vec<GroupRow>,
}

impl MessageStats {
    /// Store-timeline messages plus inbox entries per acknowledged message.
    pub fn writes_per_message(&self) -> f64 {
        per_message(self.rows.timeline_writes(), self.acked)
    }

    /// Frames read by the online devices per acknowledged message.
    pub fn pushes_per_message(&self) -> f64 {
        per_message(self.pushes, self.acked)
    }
}

fn per_message(total: u64, acked: u64) -> f64 {
    if acked == 0 {
        return 0.0;
    }
    total as f64 / acked as f64
}

/// Runs the 1:1 baseline and every group size on one all-in-one.
pub async fn run(params: &GroupsParams) -> anyhow::Result<GroupsReport> {
    params.validate().map_err(anyhow::Error::msg)?;
    let server = CountedServer::start(params.large_group_threshold).await?;
    let report = run_on(&server, params).await;
    server.shutdown().await;
    report
}

async fn run_on(server: &CountedServer, params: &GroupsParams) -> anyhow::Result<GroupsReport> {
    let half = GroupsParams {
        messages: params.messages.div_ceil(2),
        send_time: params.send_time / 2,
        ..params.clone()
    };
    let before = dm_messages(server, "dm-before", &half).await?;
    let mut logic = server.logic_client().await?;
    let mut rows = Vec::with_capacity(params.sizes.len());
    for &size in &params.sizes {
        rows.push(group_row(server, &mut logic, size, params).await?);
    }
    let after = dm_messages(server, "dm-after", &half).await?;

    let (p50_before, p50_after) = (
        before.stats.ack_latency.p50.as_secs_f64(),
        after.stats.ack_latency.p50.as_secs_f64(),
    );
    let drift = if p50_before > 0.0 {
        p50_after / p50_before
    } else {
        0.0
    };
    let dm = DmBaseline {
        online: 2,
        messages: before.merge(after).stats,
        drift,
    };
    Ok(GroupsReport { dm, rows })
}

/// Messages between two users, both online.
async fn dm_messages(
    server: &CountedServer,
    tag: &str,
    params: &GroupsParams,
) -> anyhow::Result<messages::MessageRun> {
    let users = [format!("{tag}-sender"), format!("{tag}-receiver")];
    let conversation = tidings_testkit::dm(&users[0], &users[1]);
    let online = Online::connect(&server.ws_url(), &conversation, &users).await?;
    let run = messages::run(server, &online, tag, params).await;
    online.close().await;
    run
}

/// Sets a group of `size` up, connects its online members and sends.
async fn group_row(
    server: &CountedServer,
    logic: &mut LogicServiceClient<ServiceChannel>,
    size: usize,
    params: &GroupsParams,
) -> anyhow::Result<GroupRow> {
    let members = setup::member_ids(size);
    let group = setup::set_up_group(
        logic,
        &format!("bench-{size}"),
        &members,
        params.setup_batch,
        params.setup_time,
    )
    .await?;
    let diffusion = if group.large {
        Diffusion::Read
    } else {
        Diffusion::Write
    };
    anyhow::ensure!(
        group.large == params.is_large(size),
        "the server runs the group of {size} members in {} diffusion, but the threshold is {}",
        diffusion.name(),
        params.large_group_threshold
    );
    let online_count = params.online_for(size);
    let online = Online::connect(
        &server.ws_url(),
        &group.conversation_id,
        &members[..online_count],
    )
    .await?;
    let run = messages::run(server, &online, &format!("g{size}"), params).await;
    online.close().await;
    Ok(GroupRow {
        size: group.member_count as usize,
        diffusion,
        online: online_count,
        setup: group.elapsed,
        messages: run?.stats,
    })
}
