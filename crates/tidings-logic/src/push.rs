//! Push routing: registry look-up (batched), grouping by gateway, one Push
//! call per gateway. A push is a hint: failures are logged, never retried,
//! because devices pull for the truth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_core::{InboxEntry, Message};
use tidings_proto::gateway::v1::{
    Delivery, PushConversationRequest, PushRequest, PushRoomRequest,
    gateway_service_client::GatewayServiceClient,
};
use tidings_registry::{Registry, RegistryError};
use tidings_telemetry::TracedChannel;
use tidings_telemetry::metrics::names;
use tonic::transport::Endpoint;

/// Counts pushes to users' devices by result.
fn record_pushes(result: &'static str, count: usize) {
    metrics::counter!(names::LOGIC_PUSHES, "result" => result).increment(count as u64);
}

/// Routes inbox entries to the gateways holding their users' connections.
#[derive(Clone)]
pub struct PushRouter {
    registry: Arc<dyn Registry>,
    gateways: Arc<Mutex<HashMap<String, GatewayServiceClient<TracedChannel>>>>,
    timeout: Duration,
}

impl PushRouter {
    pub fn new(registry: Arc<dyn Registry>, timeout: Duration) -> Self {
        PushRouter {
            registry,
            gateways: Arc::default(),
            timeout,
        }
    }

    /// Pushes each `(user, entry)` to every gateway where the user has a
    /// device. Returns the number of gateway calls that succeeded.
    pub async fn push(&self, deliveries: Vec<(String, InboxEntry)>) -> usize {
        let deliveries = deliveries
            .into_iter()
            .map(|(user_id, entry)| Delivery {
                user_id,
                entry: Some(entry.into()),
            })
            .collect();
        let Some(by_gateway) = self.by_gateway(deliveries, |d| &d.user_id).await else {
            return 0;
        };
        let calls = by_gateway.into_iter().map(|(gateway, deliveries)| {
            let client = self.client(&gateway);
            let timeout = self.timeout;
            async move {
                let count = deliveries.len();
                let Some(mut client) = client else {
                    record_pushes("failed", count);
                    return false;
                };
                let mut request = tonic::Request::new(PushRequest { deliveries });
                request.set_timeout(timeout);
                match client.push(request).await {
                    Ok(_) => {
                        record_pushes("sent", count);
                        true
                    }
                    Err(status) => {
                        record_pushes("failed", count);
                        tracing::debug!(gateway = %gateway, error = %status, "push failed; devices will pull");
                        false
                    }
                }
            }
        });
        let results = futures_util::future::join_all(calls).await;
        results.into_iter().filter(|ok| *ok).count()
    }

    /// Pushes one message of a large group to every gateway where one of
    /// `members` has a device: one call per gateway, carrying the members
    /// found there. Returns the number of gateway calls that succeeded.
    pub async fn push_conversation(&self, message: Message, members: Vec<String>) -> usize {
        let Some(by_gateway) = self.by_gateway(members, |user| user).await else {
            return 0;
        };
        let message: tidings_proto::common::v1::Message = message.into();
        let calls = by_gateway.into_iter().map(|(gateway, user_ids)| {
            let client = self.client(&gateway);
            let timeout = self.timeout;
            let message = message.clone();
            async move {
                let count = user_ids.len();
                let Some(mut client) = client else {
                    record_pushes("failed", count);
                    return false;
                };
                let mut request = tonic::Request::new(PushConversationRequest {
                    message: Some(message),
                    user_ids,
                });
                request.set_timeout(timeout);
                let ok = client.push_conversation(request).await.is_ok();
                record_pushes(if ok { "sent" } else { "failed" }, count);
                ok
            }
        });
        let results = futures_util::future::join_all(calls).await;
        results.into_iter().filter(|ok| *ok).count()
    }

    /// Sends one room message to every gateway the registry lists for the
    /// room, all at once: one call per gateway, which writes it to its
    /// connections in the room. Returns the number of gateway calls that
    /// succeeded; a failed registry look-up is an error, since nothing else
    /// would ever deliver the message.
    pub async fn push_room(&self, request: PushRoomRequest) -> Result<usize, RegistryError> {
        let gateways = self.registry.room_gateways(&request.room_id).await?;
        let calls = gateways.into_iter().map(|gateway| {
            let client = self.client(&gateway);
            let timeout = self.timeout;
            let request = request.clone();
            async move {
                let Some(mut client) = client else {
                    return false;
                };
                let mut request = tonic::Request::new(request);
                request.set_timeout(timeout);
                match client.push_room(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        tracing::debug!(gateway = %gateway, error = %status, "room push failed");
                        false
                    }
                }
            }
        });
        let results = futures_util::future::join_all(calls).await;
        Ok(results.into_iter().filter(|ok| *ok).count())
    }

    /// Groups `items` by the gateways where their user (`user_of`) has a
    /// device, each item going once to each of those gateways; `None` if the
    /// registry look-up fails.
    async fn by_gateway<T: Clone>(
        &self,
        items: Vec<T>,
        user_of: impl Fn(&T) -> &str,
    ) -> Option<BTreeMap<String, Vec<T>>> {
        let users: Vec<String> = items.iter().map(|item| user_of(item).to_string()).collect();
        let routes = match self.registry.lookup(&users).await {
            Ok(routes) => routes,
            Err(e) => {
                tracing::warn!(error = %e, "registry look-up failed; devices will pull");
                return None;
            }
        };
        let mut by_gateway: BTreeMap<String, Vec<T>> = BTreeMap::new();
        for (item, devices) in items.into_iter().zip(routes) {
            if devices.is_empty() {
                record_pushes("offline", 1);
            }
            let mut gateways: Vec<String> = devices.into_iter().map(|d| d.gateway).collect();
            gateways.sort();
            gateways.dedup();
            for gateway in gateways {
                by_gateway.entry(gateway).or_default().push(item.clone());
            }
        }
        Some(by_gateway)
    }

    fn client(&self, gateway: &str) -> Option<GatewayServiceClient<TracedChannel>> {
        let mut gateways = self.gateways.lock().expect("gateway pool lock poisoned");
        if let Some(client) = gateways.get(gateway) {
            return Some(client.clone());
        }
        let endpoint = match Endpoint::from_shared(format!("http://{gateway}")) {
            Ok(e) => e.connect_timeout(self.timeout),
            Err(e) => {
                tracing::warn!(gateway = %gateway, error = %e, "bad gateway address in registry");
                return None;
            }
        };
        let client = GatewayServiceClient::new(tidings_telemetry::traced(endpoint.connect_lazy()));
        gateways.insert(gateway.to_string(), client.clone());
        Some(client)
    }
}
