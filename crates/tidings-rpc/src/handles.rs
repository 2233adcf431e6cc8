//! The handle types, one per service, all built by one macro so that every
//! method goes the same way: over the tonic client, or into the handler
//! through [`crate::direct::call`].

use std::sync::Arc;
use std::time::Duration;

use tidings_proto::MAX_GRPC_MESSAGE_BYTES;
use tidings_telemetry::TracedChannel;

/// How a handle reaches its service.
enum Via<C, S: ?Sized> {
    Grpc(C),
    Direct { handler: Arc<S>, deadline: Duration },
}

impl<C: Clone, S: ?Sized> Clone for Via<C, S> {
    fn clone(&self) -> Self {
        match self {
            Via::Grpc(client) => Via::Grpc(client.clone()),
            Via::Direct { handler, deadline } => Via::Direct {
                handler: Arc::clone(handler),
                deadline: *deadline,
            },
        }
    }
}

/// Declares a handle on one service: its methods have the names and types
/// of the generated client's, so a call reads the same either way.
macro_rules! handle {
    (
        $(#[$doc:meta])*
        $name:ident {
            client: $($client:ident)::+,
            handler: $($handler:ident)::+,
            service: $service:literal,
        }
        $( $method:ident($request:ident -> $response:ident) = $rpc:literal; )*
    ) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Via<$($client)::+<TracedChannel>, dyn $($handler)::+>);

        impl $name {
            /// Calls over gRPC on `channel`, with explicit message limits
            /// both ways rather than tonic's 4 MiB decode default.
            pub fn grpc(channel: TracedChannel) -> Self {
                let client = $($client)::+::new(channel)
                    .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
                    .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
                $name(Via::Grpc(client))
            }

            /// Calls `handler` directly, each call bounded by `deadline`.
            pub fn direct(handler: Arc<dyn $($handler)::+>, deadline: Duration) -> Self {
                $name(Via::Direct { handler, deadline })
            }

            /// Whether calls go straight into the handler.
            pub fn is_direct(&self) -> bool {
                matches!(self.0, Via::Direct { .. })
            }

            $(
                pub async fn $method(
                    &mut self,
                    request: impl tonic::IntoRequest<proto::$request>,
                ) -> Result<tonic::Response<proto::$response>, tonic::Status> {
                    match &mut self.0 {
                        Via::Grpc(client) => client.$method(request).await,
                        Via::Direct { handler, deadline } => {
                            let answer = handler.$method(request.into_request());
                            crate::direct::call(*deadline, $service, $rpc, answer).await
                        }
                    }
                }
            )*
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let via = if self.is_direct() { "direct" } else { "grpc" };
                f.debug_tuple(stringify!($name)).field(&via).finish()
            }
        }
    };
}

mod logic {
    use super::*;
    use tidings_proto::logic::v1 as proto;

    handle! {
        /// The logic service: sends, history, groups, conversation pulls.
        LogicApi {
            client: proto::logic_service_client::LogicServiceClient,
            handler: proto::logic_service_server::LogicService,
            service: "tidings.logic.v1.LogicService",
        }
        send(SendRequest -> SendResponse) = "Send";
        send_batch(SendBatchRequest -> SendBatchResponse) = "SendBatch";
        history(HistoryRequest -> HistoryResponse) = "History";
        create_group(CreateGroupRequest -> GroupResponse) = "CreateGroup";
        add_members(ChangeMembersRequest -> GroupResponse) = "AddMembers";
        remove_members(ChangeMembersRequest -> GroupResponse) = "RemoveMembers";
        list_members(ListMembersRequest -> ListMembersResponse) = "ListMembers";
        list_groups(ListGroupsRequest -> ListGroupsResponse) = "ListGroups";
        pull_conversation(PullConversationRequest -> PullConversationResponse) = "PullConversation";
        read_ack(ReadAckRequest -> ReadAckResponse) = "ReadAck";
        conversation_list(ConversationListRequest -> ConversationListResponse) = "ConversationList";
        room_send(RoomSendRequest -> RoomSendResponse) = "RoomSend";
        typing(TypingRequest -> TypingResponse) = "Typing";
        large_groups(LargeGroupsRequest -> LargeGroupsResponse) = "LargeGroups";
        set_push_token(SetPushTokenRequest -> SetPushTokenResponse) = "SetPushToken";
    }
}

mod sync {
    use super::*;
    use tidings_proto::sync::v1 as proto;

    handle! {
        /// The sync service: inboxes, checkpoints, conversation lists.
        SyncApi {
            client: proto::sync_service_client::SyncServiceClient,
            handler: proto::sync_service_server::SyncService,
            service: "tidings.sync.v1.SyncService",
        }
        append_inbox(AppendInboxRequest -> AppendInboxResponse) = "AppendInbox";
        remove_inbox(RemoveInboxRequest -> RemoveInboxResponse) = "RemoveInbox";
        has_entries(HasEntriesRequest -> HasEntriesResponse) = "HasEntries";
        conversations(ConversationsRequest -> ConversationsResponse) = "Conversations";
        read_position(ReadPositionRequest -> ReadPositionResponse) = "ReadPosition";
        set_read(SetReadRequest -> SetReadResponse) = "SetRead";
        forget_groups(ForgetGroupsRequest -> ForgetGroupsResponse) = "ForgetGroups";
        pull(PullRequest -> PullResponse) = "Pull";
        head(HeadRequest -> HeadResponse) = "Head";
        ack_checkpoint(AckCheckpointRequest -> AckCheckpointResponse) = "AckCheckpoint";
        device_checkpoints(DeviceCheckpointsRequest -> DeviceCheckpointsResponse) = "DeviceCheckpoints";
    }
}

mod store {
    use super::*;
    use tidings_proto::store::v1 as proto;

    handle! {
        /// The store service: conversation timelines.
        StoreApi {
            client: proto::store_service_client::StoreServiceClient,
            handler: proto::store_service_server::StoreService,
            service: "tidings.store.v1.StoreService",
        }
        append(AppendRequest -> AppendResponse) = "Append";
        remove(RemoveRequest -> RemoveResponse) = "Remove";
        range(RangeRequest -> RangeResponse) = "Range";
        history(HistoryRequest -> HistoryResponse) = "History";
        count(CountRequest -> CountResponse) = "Count";
    }
}

mod sequence {
    use super::*;
    use tidings_proto::sequence::v1 as proto;

    handle! {
        /// One sequence instance (the router in `tidings-sequence-client`
        /// picks which).
        SequenceApi {
            client: proto::sequence_service_client::SequenceServiceClient,
            handler: proto::sequence_service_server::SequenceService,
            service: "tidings.sequence.v1.SequenceService",
        }
        allocate(AllocateRequest -> AllocateResponse) = "Allocate";
        commit(CommitRequest -> CommitResponse) = "Commit";
        check(CheckRequest -> CheckResponse) = "Check";
        abandon(AbandonRequest -> AbandonResponse) = "Abandon";
        heads(HeadsRequest -> HeadsResponse) = "Heads";
    }
}

mod gateway {
    use super::*;
    use tidings_proto::gateway::v1 as proto;

    handle! {
        /// One gateway's push service.
        GatewayApi {
            client: proto::gateway_service_client::GatewayServiceClient,
            handler: proto::gateway_service_server::GatewayService,
            service: "tidings.gateway.v1.GatewayService",
        }
        push(PushRequest -> PushResponse) = "Push";
        push_conversation(PushConversationRequest -> PushResponse) = "PushConversation";
        push_room(PushRoomRequest -> PushResponse) = "PushRoom";
        push_typing(PushTypingRequest -> PushResponse) = "PushTyping";
        disconnect(DisconnectRequest -> DisconnectResponse) = "Disconnect";
    }
}

pub use gateway::GatewayApi;
pub use logic::LogicApi;
pub use sequence::SequenceApi;
pub use store::StoreApi;
pub use sync::SyncApi;
