//! The gRPC face: `tidings.server.v1.ServerApi`, the key taken from the
//! `authorization` metadata.

use tidings_proto::server::v1::{self as pb, server_api_server::ServerApi};
use tonic::{Request, Response, Status};

use crate::api::{Method, PublicApi, outward};

/// Authorizes `$request` for `$method`, then runs `$handler` on it.
macro_rules! rpc {
    ($api:expr, $request:expr, $method:expr, $handler:ident) => {{
        let (api, request, method): (&PublicApi, _, Method) = ($api, $request, $method);
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        api.authorize(authorization, method)?;
        match api.$handler(request.into_inner()).await {
            Ok(answer) => Ok(Response::new(answer)),
            Err(e) => Err(outward(method, e).to_status()),
        }
    }};
}

#[tonic::async_trait]
impl ServerApi for PublicApi {
    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        rpc!(self, request, Method::SendMessage, send_message)
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        rpc!(self, request, Method::CreateGroup, create_group)
    }

    async fn add_members(
        &self,
        request: Request<pb::ChangeMembersRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        rpc!(self, request, Method::AddMembers, add_members)
    }

    async fn remove_members(
        &self,
        request: Request<pb::ChangeMembersRequest>,
    ) -> Result<Response<pb::Group>, Status> {
        rpc!(self, request, Method::RemoveMembers, remove_members)
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Result<Response<pb::DeleteGroupResponse>, Status> {
        rpc!(self, request, Method::DeleteGroup, delete_group)
    }

    async fn disconnect_user(
        &self,
        request: Request<pb::DisconnectUserRequest>,
    ) -> Result<Response<pb::DisconnectUserResponse>, Status> {
        rpc!(self, request, Method::DisconnectUser, disconnect_user)
    }

    async fn list_online_devices(
        &self,
        request: Request<pb::ListOnlineDevicesRequest>,
    ) -> Result<Response<pb::ListOnlineDevicesResponse>, Status> {
        rpc!(
            self,
            request,
            Method::ListOnlineDevices,
            list_online_devices
        )
    }

    async fn read_history(
        &self,
        request: Request<pb::ReadHistoryRequest>,
    ) -> Result<Response<pb::ReadHistoryResponse>, Status> {
        rpc!(self, request, Method::ReadHistory, read_history)
    }

    async fn mint_client_token(
        &self,
        request: Request<pb::MintClientTokenRequest>,
    ) -> Result<Response<pb::MintClientTokenResponse>, Status> {
        rpc!(self, request, Method::MintClientToken, mint_client_token)
    }
}
