//! Sets a group up through the logic gRPC API, as a backend service would:
//! CreateGroup with the owner and the first batch of members, then
//! AddMembers for each further batch, all as the owner.

use std::time::Duration;

use anyhow::Context;
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_proto::logic::v1::{ChangeMembersRequest, CreateGroupRequest, GroupResponse};
use tidings_testkit::ServiceChannel;
use tokio::time::Instant;

/// Device id of the set-up calls (they come from a service, not a device).
const SETUP_DEVICE: &str = "bench-setup";

/// A group that was set up, and how long it took.
pub(crate) struct SetUpGroup {
    pub conversation_id: String,
    /// The server runs it in read diffusion.
    pub large: bool,
    pub member_count: u64,
    pub elapsed: Duration,
}

/// The user ids of a group of `size`: the owner first.
pub(crate) fn member_ids(size: usize) -> Vec<String> {
    (0..size).map(|i| format!("g{size}-m{i:05}")).collect()
}

/// Creates group `group_id` owned by `members[0]` with every one of
/// `members`, `batch` members per call, within `time`.
pub(crate) async fn set_up_group(
    logic: &mut LogicServiceClient<ServiceChannel>,
    group_id: &str,
    members: &[String],
    batch: usize,
    time: Duration,
) -> anyhow::Result<SetUpGroup> {
    let started = Instant::now();
    let deadline = started + time;
    let owner = members.first().context("a group needs an owner")?.clone();
    let first = batch.min(members.len());
    let mut request = tonic::Request::new(CreateGroupRequest {
        user_id: owner.clone(),
        sender_device: SETUP_DEVICE.into(),
        group_id: group_id.into(),
        name: format!("tidings-bench {} members", members.len()),
        member_ids: members[1..first].to_vec(),
    });
    request.set_timeout(time);
    let mut group = logic
        .create_group(request)
        .await
        .with_context(|| format!("cannot create group {group_id}"))?
        .into_inner();
    for chunk in members[first..].chunks(batch) {
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(
            !left.is_zero(),
            "setting up group {group_id} took longer than {time:?} ({} of {} members added)",
            group.member_count,
            members.len()
        );
        let mut request = tonic::Request::new(ChangeMembersRequest {
            user_id: owner.clone(),
            sender_device: SETUP_DEVICE.into(),
            group_id: group_id.into(),
            user_ids: chunk.to_vec(),
        });
        request.set_timeout(left);
        group = logic
            .add_members(request)
            .await
            .with_context(|| format!("cannot add members to group {group_id}"))?
            .into_inner();
    }
    let GroupResponse {
        conversation_id,
        member_count,
        large,
        ..
    } = group;
    anyhow::ensure!(
        member_count == members.len() as u64,
        "group {group_id} has {member_count} members, expected {}",
        members.len()
    );
    Ok(SetUpGroup {
        conversation_id,
        large,
        member_count,
        elapsed: started.elapsed(),
    })
}
