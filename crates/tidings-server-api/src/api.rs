//! The handlers, shared by gRPC and JSON: validate, then call logic, store,
//! the registry or the gateways. Each takes and answers the generated proto
//! types; the key's scope is checked before (`PublicApi::authorize`).

use std::collections::BTreeMap;
use std::sync::Arc;

use tidings_core::ids::SYSTEM_SENDER_PREFIX;
use tidings_core::{ConversationId, DeviceId, Error, GroupId, UserId};
use tidings_proto::gateway::v1::DisconnectRequest;
use tidings_proto::logic::v1 as logic;
use tidings_proto::server::v1::{self as pb, send_message_request::Sender};
use tidings_proto::store::v1 as store;
use tidings_registry::Registry;
use tidings_rpc::{GatewayApi, LogicApi, StoreApi};

use crate::keys::{ApiKeys, Scope};
use crate::token::TokenMinter;

/// The device recorded on messages and membership changes made here when
/// the request names none.
const API_DEVICE: &str = "server-api";
const MAX_IDEMPOTENCY_KEY: usize = 64;
/// Most users in one ListOnlineDevices.
const MAX_LOOKUP_USERS: usize = 1000;
/// Members listed per page while emptying a group.
const MEMBER_PAGE: u32 = 1000;

/// How the API reaches the gateway registered under an address (in the
/// all-in-one, its own gateway, in process).
pub trait Gateways: Send + Sync {
    /// The handle on the gateway registered as `address`, or `None` if the
    /// address is not one a client can be made for.
    fn gateway(&self, address: &str) -> Option<GatewayApi>;
}

/// What the API calls.
pub struct PublicApiBackends {
    pub logic: LogicApi,
    pub store: StoreApi,
    pub registry: Arc<dyn Registry>,
    pub gateways: Arc<dyn Gateways>,
}

/// The server API's handlers.
pub struct PublicApi {
    backends: PublicApiBackends,
    keys: ApiKeys,
    tokens: TokenMinter,
}

/// The methods, with the scope each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    SendMessage,
    CreateGroup,
    AddMembers,
    RemoveMembers,
    DeleteGroup,
    DisconnectUser,
    ListOnlineDevices,
    ReadHistory,
    MintClientToken,
}

impl Method {
    pub(crate) const ALL: [Method; 9] = [
        Method::SendMessage,
        Method::CreateGroup,
        Method::AddMembers,
        Method::RemoveMembers,
        Method::DeleteGroup,
        Method::DisconnectUser,
        Method::ListOnlineDevices,
        Method::ReadHistory,
        Method::MintClientToken,
    ];

    /// The name in the proto, and in `/api/v1/<name>`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::SendMessage => "SendMessage",
            Method::CreateGroup => "CreateGroup",
            Method::AddMembers => "AddMembers",
            Method::RemoveMembers => "RemoveMembers",
            Method::DeleteGroup => "DeleteGroup",
            Method::DisconnectUser => "DisconnectUser",
            Method::ListOnlineDevices => "ListOnlineDevices",
            Method::ReadHistory => "ReadHistory",
            Method::MintClientToken => "MintClientToken",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    pub(crate) fn scope(self) -> Scope {
        match self {
            Method::SendMessage => Scope::Send,
            Method::CreateGroup
            | Method::AddMembers
            | Method::RemoveMembers
            | Method::DeleteGroup => Scope::Groups,
            Method::ListOnlineDevices | Method::ReadHistory => Scope::Read,
            Method::DisconnectUser | Method::MintClientToken => Scope::Admin,
        }
    }
}

fn from_status(status: tonic::Status) -> Error {
    Error::from_status(&status)
}

fn registry_error(e: tidings_registry::RegistryError) -> Error {
    tracing::warn!(error = %e, "server api: registry call failed");
    Error::unavailable("the registry did not answer; retry")
}

/// A user named by the caller; ids of system senders are not users.
fn parse_user(id: &str) -> Result<UserId, Error> {
    let user = UserId::parse(id)?;
    if user.as_str().starts_with(SYSTEM_SENDER_PREFIX) {
        return Err(Error::invalid(format!(
            "user ids starting with {SYSTEM_SENDER_PREFIX:?} are reserved for system senders; \
             send as `system` instead"
        )));
    }
    Ok(user)
}

/// The stored id of system sender `name`: `system.<name>`.
fn system_sender(name: &str) -> Result<UserId, Error> {
    let max = 64 - SYSTEM_SENDER_PREFIX.len();
    if name.is_empty() || name.len() > max {
        return Err(Error::invalid(format!(
            "system must be 1 to {max} characters, got {}",
            name.len()
        )));
    }
    UserId::parse(&format!("{SYSTEM_SENDER_PREFIX}{name}"))
        .map_err(|_| Error::invalid("system may contain only letters, digits, '_', '-' and '.'"))
}

fn group_of(response: logic::GroupResponse) -> pb::Group {
    pb::Group {
        group_id: response.group_id,
        conversation_id: response.conversation_id,
        name: response.name,
        owner: response.owner,
        member_count: response.member_count,
        large: response.large,
    }
}

impl PublicApi {
    pub fn new(backends: PublicApiBackends, keys: ApiKeys, tokens: TokenMinter) -> Self {
        if keys.is_empty() {
            tracing::warn!(
                "server api: no API key configured (server_api.keys, server_api.keys_file); \
                 every call is refused"
            );
        } else {
            tracing::info!(keys = keys.len(), "server api: API keys loaded");
        }
        PublicApi {
            backends,
            keys,
            tokens,
        }
    }

    /// Checks the presented `authorization` value for `method`'s scope.
    pub(crate) fn authorize(
        &self,
        authorization: Option<&str>,
        method: Method,
    ) -> Result<(), Error> {
        match self.keys.authorize(authorization, method.scope()) {
            Ok(key) => {
                tracing::debug!(key = %key.name, method = method.name(), "server api call");
                Ok(())
            }
            Err(e) => {
                tracing::info!(method = method.name(), code = %e.code, "server api call refused");
                Err(e)
            }
        }
    }

    pub(crate) async fn send_message(
        &self,
        req: pb::SendMessageRequest,
    ) -> Result<pb::SendMessageResponse, Error> {
        let (sender, system) = match &req.sender {
            Some(Sender::UserId(id)) => (parse_user(id)?, false),
            Some(Sender::System(name)) => (system_sender(name)?, true),
            None => return Err(Error::invalid("set the sender: user_id or system")),
        };
        ConversationId::parse(&req.conversation_id)?;
        let key_len = req.idempotency_key.len();
        if key_len == 0 || key_len > MAX_IDEMPOTENCY_KEY {
            return Err(Error::invalid(format!(
                "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY} bytes, got {key_len}"
            )));
        }
        let device = match req.sender_device.as_str() {
            "" => API_DEVICE.to_string(),
            device => DeviceId::parse(device)?.to_string(),
        };
        let ack = self
            .backends
            .logic
            .clone()
            .send(logic::SendRequest {
                sender_id: sender.to_string(),
                sender_device: device,
                conversation_id: req.conversation_id,
                client_msg_id: req.idempotency_key,
                kind: req.kind,
                body: req.body,
                system_sender: system,
            })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(pb::SendMessageResponse {
            message_id: ack.message_id,
            conversation_id: ack.conversation_id,
            conv_seq: ack.conv_seq,
            created_at_ms: ack.created_at_ms,
            duplicate: ack.duplicate,
            sender_id: sender.to_string(),
        })
    }

    pub(crate) async fn create_group(
        &self,
        req: pb::CreateGroupRequest,
    ) -> Result<pb::Group, Error> {
        let owner = parse_user(&req.owner_id)?;
        let answer = self
            .backends
            .logic
            .clone()
            .create_group(logic::CreateGroupRequest {
                user_id: owner.to_string(),
                sender_device: API_DEVICE.into(),
                group_id: req.group_id,
                name: req.name,
                member_ids: req.member_ids,
            })
            .await
            .map_err(from_status)?;
        Ok(group_of(answer.into_inner()))
    }

    fn change(
        actor: &UserId,
        group: &GroupId,
        user_ids: Vec<String>,
    ) -> logic::ChangeMembersRequest {
        logic::ChangeMembersRequest {
            user_id: actor.to_string(),
            sender_device: API_DEVICE.into(),
            group_id: group.to_string(),
            user_ids,
        }
    }

    pub(crate) async fn add_members(
        &self,
        req: pb::ChangeMembersRequest,
    ) -> Result<pb::Group, Error> {
        let actor = parse_user(&req.actor_id)?;
        let group = GroupId::parse(&req.group_id)?;
        let answer = self
            .backends
            .logic
            .clone()
            .add_members(Self::change(&actor, &group, req.user_ids))
            .await
            .map_err(from_status)?;
        Ok(group_of(answer.into_inner()))
    }

    pub(crate) async fn remove_members(
        &self,
        req: pb::ChangeMembersRequest,
    ) -> Result<pb::Group, Error> {
        let actor = parse_user(&req.actor_id)?;
        let group = GroupId::parse(&req.group_id)?;
        let answer = self
            .backends
            .logic
            .clone()
            .remove_members(Self::change(&actor, &group, req.user_ids))
            .await
            .map_err(from_status)?;
        Ok(group_of(answer.into_inner()))
    }

    /// Logic has no removal of a whole group: the group is emptied in one
    /// membership change (so every member's devices hear of it), which
    /// logic allows the owner only.
    pub(crate) async fn delete_group(
        &self,
        req: pb::DeleteGroupRequest,
    ) -> Result<pb::DeleteGroupResponse, Error> {
        let actor = parse_user(&req.actor_id)?;
        let group = GroupId::parse(&req.group_id)?;
        let mut logic = self.backends.logic.clone();
        let mut members = Vec::new();
        let mut after = String::new();
        loop {
            let page = logic
                .list_members(logic::ListMembersRequest {
                    user_id: actor.to_string(),
                    group_id: group.to_string(),
                    after: after.clone(),
                    limit: MEMBER_PAGE,
                })
                .await
                .map_err(from_status)?
                .into_inner();
            if let Some(last) = page.members.last() {
                after = last.user_id.clone();
            }
            members.extend(page.members.into_iter().map(|m| m.user_id));
            if !page.has_more {
                break;
            }
        }
        let before = members.len() as u64;
        let answer = logic
            .remove_members(Self::change(&actor, &group, members))
            .await
            .map_err(from_status)?
            .into_inner();
        tracing::info!(group_id = %group, removed = before, "server api: group emptied");
        Ok(pb::DeleteGroupResponse {
            group_id: group.to_string(),
            removed: before.saturating_sub(answer.member_count),
        })
    }

    pub(crate) async fn disconnect_user(
        &self,
        req: pb::DisconnectUserRequest,
    ) -> Result<pb::DisconnectUserResponse, Error> {
        let user = parse_user(&req.user_id)?;
        if !req.device_id.is_empty() {
            DeviceId::parse(&req.device_id)?;
        }
        let routes = self
            .backends
            .registry
            .lookup(&[user.to_string()])
            .await
            .map_err(registry_error)?
            .pop()
            .unwrap_or_default();
        let mut gateways: Vec<String> = routes
            .into_iter()
            .filter(|r| req.device_id.is_empty() || r.device_id == req.device_id)
            .map(|r| r.gateway)
            .collect();
        gateways.sort();
        gateways.dedup();
        let (mut closed, mut failed) = (0, 0);
        for address in &gateways {
            let Some(mut gateway) = self.backends.gateways.gateway(address) else {
                failed += 1;
                continue;
            };
            let request = DisconnectRequest {
                user_id: user.to_string(),
                device_id: req.device_id.clone(),
            };
            match gateway.disconnect(request).await {
                Ok(answer) => closed += answer.into_inner().closed,
                Err(status) => {
                    tracing::warn!(gateway = %address, error = %status, "server api: disconnect failed");
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            // Closing twice is harmless: the caller may simply retry.
            return Err(Error::unavailable(format!(
                "{failed} of {} gateways did not answer; retry",
                gateways.len()
            )));
        }
        tracing::info!(user_id = %user, device_id = %req.device_id, closed, "server api: user disconnected");
        Ok(pb::DisconnectUserResponse {
            closed,
            gateways: gateways.len() as u32,
        })
    }

    pub(crate) async fn list_online_devices(
        &self,
        req: pb::ListOnlineDevicesRequest,
    ) -> Result<pb::ListOnlineDevicesResponse, Error> {
        if req.user_ids.len() > MAX_LOOKUP_USERS {
            return Err(Error::invalid(format!(
                "user_ids may name at most {MAX_LOOKUP_USERS} users"
            )));
        }
        for id in &req.user_ids {
            UserId::parse(id)?;
        }
        let routes = self
            .backends
            .registry
            .lookup(&req.user_ids)
            .await
            .map_err(registry_error)?;
        let users = req
            .user_ids
            .into_iter()
            .zip(routes)
            .map(|(user_id, routes)| {
                // Sorted, once each (a device may be listed by two gateways
                // for a moment while it reconnects).
                let devices: BTreeMap<String, ()> =
                    routes.into_iter().map(|r| (r.device_id, ())).collect();
                pb::OnlineUser {
                    user_id,
                    device_ids: devices.into_keys().collect(),
                }
            })
            .collect();
        Ok(pb::ListOnlineDevicesResponse { users })
    }

    pub(crate) async fn read_history(
        &self,
        req: pb::ReadHistoryRequest,
    ) -> Result<pb::ReadHistoryResponse, Error> {
        ConversationId::parse(&req.conversation_id)?;
        if req.as_user_id.is_empty() {
            // As the product: store's history, no membership check.
            let answer = self
                .backends
                .store
                .clone()
                .history(store::HistoryRequest {
                    conversation_id: req.conversation_id,
                    before: req.before,
                    limit: req.limit,
                    max_bytes: 0,
                    // The product reads as nobody: no reacted_by_me.
                    reader: String::new(),
                })
                .await
                .map_err(from_status)?
                .into_inner();
            return Ok(pb::ReadHistoryResponse {
                messages: answer.messages,
                has_more: answer.has_more,
            });
        }
        let user = parse_user(&req.as_user_id)?;
        let answer = self
            .backends
            .logic
            .clone()
            .history(logic::HistoryRequest {
                user_id: user.to_string(),
                conversation_id: req.conversation_id,
                before: req.before,
                limit: req.limit,
                max_bytes: 0,
            })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(pb::ReadHistoryResponse {
            messages: answer.messages,
            has_more: answer.has_more,
        })
    }

    pub(crate) async fn mint_client_token(
        &self,
        req: pb::MintClientTokenRequest,
    ) -> Result<pb::MintClientTokenResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let (token, expires_at) = self.tokens.mint(&user, req.ttl_secs)?;
        tracing::info!(user_id = %user, expires_at, "server api: client token minted");
        Ok(pb::MintClientTokenResponse {
            token,
            expires_at: expires_at as i64,
        })
    }
}

/// What a caller outside the cluster is told of an error: internal error
/// text (which may name internals) is logged, never returned.
pub(crate) fn outward(method: Method, error: Error) -> Error {
    if error.code != tidings_core::ErrorCode::Internal {
        return error;
    }
    tracing::error!(method = method.name(), error = %error.message, "server api: internal error");
    Error::internal("internal error")
}
