//! Push routing: registry look-up (batched), grouping by gateway, one Push
//! call per gateway. A push is a hint: failures are logged, never retried,
//! because devices pull for the truth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_core::InboxEntry;
use tidings_proto::gateway::v1::{
    Delivery, PushRequest, gateway_service_client::GatewayServiceClient,
};
use tidings_registry::Registry;
use tonic::transport::{Channel, Endpoint};

/// Routes inbox entries to the gateways holding their users' connections.
#[derive(Clone)]
pub struct PushRouter {
    registry: Arc<dyn Registry>,
    gateways: Arc<Mutex<HashMap<String, GatewayServiceClient<Channel>>>>,
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
        let users: Vec<String> = deliveries.iter().map(|(u, _)| u.clone()).collect();
        let routes = match self.registry.lookup(&users).await {
            Ok(routes) => routes,
            Err(e) => {
                tracing::warn!(error = %e, "registry look-up failed; devices will pull");
                return 0;
            }
        };
        let mut by_gateway: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
        for ((user, entry), devices) in deliveries.into_iter().zip(routes) {
            let mut gateways: Vec<String> = devices.into_iter().map(|d| d.gateway).collect();
            gateways.sort();
            gateways.dedup();
            for gateway in gateways {
                by_gateway.entry(gateway).or_default().push(Delivery {
                    user_id: user.clone(),
                    entry: Some(entry.clone().into()),
                });
            }
        }
        let calls = by_gateway.into_iter().map(|(gateway, deliveries)| {
            let client = self.client(&gateway);
            let timeout = self.timeout;
            async move {
                let Some(mut client) = client else {
                    return false;
                };
                let mut request = tonic::Request::new(PushRequest { deliveries });
                request.set_timeout(timeout);
                match client.push(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        tracing::debug!(gateway = %gateway, error = %status, "push failed; devices will pull");
                        false
                    }
                }
            }
        });
        let results = futures_util::future::join_all(calls).await;
        results.into_iter().filter(|ok| *ok).count()
    }

    fn client(&self, gateway: &str) -> Option<GatewayServiceClient<Channel>> {
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
        let client = GatewayServiceClient::new(endpoint.connect_lazy());
        gateways.insert(gateway.to_string(), client.clone());
        Some(client)
    }
}
