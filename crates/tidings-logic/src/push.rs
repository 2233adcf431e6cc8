//! Push routing: registry look-up (batched), grouping by gateway, one Push
//! call per gateway at a time. A push is a hint: failures are logged, never
//! retried, because devices pull for the truth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tidings_core::{InboxEntry, Message, Seq};
use tidings_proto::gateway::v1::{
    Delivery, PushConversationRequest, PushRequest, PushRoomRequest, PushTypingRequest,
};
use tidings_registry::{Registry, RegistryError};
use tidings_rpc::GatewayApi;
use tidings_telemetry::ServiceDialer;
use tidings_telemetry::metrics::names;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::push_order::{Expected, PushOrder, Release};

/// Counts pushes to users' devices by result.
fn record_pushes(result: &'static str, count: usize) {
    metrics::counter!(names::LOGIC_PUSHES, "result" => result).increment(count as u64);
}

/// Batches of inbox entries queued for the dispatcher, and per gateway: past
/// it pushes are dropped (counted as failed) and devices pull instead.
const QUEUE_BATCHES: usize = 4096;
/// Most deliveries gathered into one registry look-up or one gateway call.
const MAX_GATHER: usize = 4096;

/// Routes inbox entries to the gateways holding their users' connections.
///
/// Inbox pushes go through one ordered path: [`PushOrder`] releases each
/// user's entries in inbox-seq order into a queue; one dispatcher task looks
/// the users of everything queued up in the registry (one batched call) and
/// appends each delivery to its gateway's queue; one task per gateway sends
/// what has gathered in one `Push` call, waiting for each call before the
/// next. While a call is in flight the next batch gathers, so an idle system
/// adds no delay and a busy one sends few, large calls.
#[derive(Clone)]
pub struct PushRouter {
    inner: Arc<Inner>,
    order: Arc<PushOrder>,
}

struct Inner {
    registry: Arc<dyn Registry>,
    gateways: Mutex<HashMap<String, GatewayApi>>,
    queues: Mutex<HashMap<String, mpsc::Sender<Queued>>>,
    timeout: Duration,
    /// How gateways are reached: TLS or not, and the service credential
    /// every call carries.
    dialer: ServiceDialer,
    /// Where messages for users with no connected device go (the
    /// offline_push webhook), when that is configured.
    offline: OnceLock<mpsc::Sender<Offline>>,
}

/// Committed messages whose recipients (the strings) had no device online
/// when the push looked them up.
pub(crate) type Offline = Vec<(String, Arc<Message>)>;

/// Released entries with the span of the request that released them: a
/// gateway call belongs to the trace of the first request it carries.
type Released = (tracing::Span, Vec<(String, InboxEntry)>);
type Queued = (tracing::Span, Vec<Delivery>);

struct Dispatch(mpsc::Sender<Released>);

impl Release for Dispatch {
    fn release(&self, entries: Vec<(String, InboxEntry)>) {
        let count = entries.len();
        if self
            .0
            .try_send((tracing::Span::current(), entries))
            .is_err()
        {
            record_pushes("failed", count);
        }
    }
}

impl PushRouter {
    /// Starts the dispatcher; must be called inside a tokio runtime.
    /// Gateways are called through `dialer` (a service token alone: plain
    /// text).
    pub fn new(
        registry: Arc<dyn Registry>,
        timeout: Duration,
        dialer: impl Into<ServiceDialer>,
    ) -> Self {
        let inner = Arc::new(Inner {
            registry,
            gateways: Mutex::default(),
            queues: Mutex::default(),
            timeout,
            dialer: dialer.into(),
            offline: OnceLock::new(),
        });
        let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
        tokio::spawn(Arc::clone(&inner).dispatch(rx));
        PushRouter {
            inner,
            order: PushOrder::new(Arc::new(Dispatch(tx))),
        }
    }

    /// Reaches the gateway registered as `address` through `api` (in the
    /// all-in-one, its own gateway, called directly).
    pub fn connect_in_process(&self, address: &str, api: GatewayApi) {
        self.inner
            .gateways
            .lock()
            .expect("gateway pool lock poisoned")
            .insert(address.to_string(), api);
    }

    /// The handle on the gateway registered as `address` (the in-process one
    /// if connected so, else a client made once and kept), for callers that
    /// reach gateways found in the registry (the server API's disconnect).
    pub fn gateway(&self, address: &str) -> Option<GatewayApi> {
        self.inner.client(address)
    }

    /// Sends what this router finds offline to `sink` from now on (once:
    /// later calls are ignored).
    pub(crate) fn report_offline(&self, sink: mpsc::Sender<Offline>) {
        let _ = self.inner.offline.set(sink);
    }

    /// Expects inbox seqs just allocated: their entries are pushed, in seq
    /// order per user, once [`Expected::committed`] is called.
    pub(crate) fn expect(&self, seqs: Vec<(String, Seq)>) -> Expected {
        self.order.expect(seqs)
    }

    /// Pushes one message of a large group to every gateway where one of
    /// `members` has a device: one call per gateway, carrying the members
    /// found there. Returns the number of gateway calls that succeeded.
    pub async fn push_conversation(&self, message: Message, members: Vec<String>) -> usize {
        let inner = &self.inner;
        let Some((by_gateway, offline)) = inner.by_gateway(members, |user| user).await else {
            return 0;
        };
        let message = Arc::new(message);
        inner.offline(
            offline
                .into_iter()
                .map(|user| (user, message.clone()))
                .collect(),
        );
        let message: tidings_proto::common::v1::Message = (*message).clone().into();
        let calls = by_gateway.into_iter().map(|(gateway, user_ids)| {
            let client = inner.client(&gateway);
            let timeout = inner.timeout;
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

    /// Sends one typing signal to every gateway where one of `recipients`
    /// has a device: one call per gateway, carrying the recipients found
    /// there. Returns the number of gateway calls that succeeded; failures
    /// are only counted (a lost typing signal is replaced by the next).
    pub async fn push_typing(&self, typing: PushTypingRequest, recipients: Vec<String>) -> usize {
        let inner = &self.inner;
        let Some((by_gateway, _offline)) = inner.by_gateway(recipients, |user| user).await else {
            return 0;
        };
        let calls = by_gateway.into_iter().map(|(gateway, recipient_ids)| {
            let client = inner.client(&gateway);
            let timeout = inner.timeout;
            let request = PushTypingRequest {
                recipient_ids,
                ..typing.clone()
            };
            async move {
                let Some(mut client) = client else {
                    return false;
                };
                let mut request = tonic::Request::new(request);
                request.set_timeout(timeout);
                match client.push_typing(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        tracing::debug!(gateway = %gateway, error = %status, "typing push failed");
                        false
                    }
                }
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
        let inner = &self.inner;
        let gateways = inner.registry.room_gateways(&request.room_id).await?;
        let calls = gateways.into_iter().map(|gateway| {
            let client = inner.client(&gateway);
            let timeout = inner.timeout;
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
}

impl Inner {
    /// Takes released entries off the queue, looks their users up once per
    /// gathered batch and hands each gateway its deliveries, in order.
    async fn dispatch(self: Arc<Self>, mut queue: mpsc::Receiver<Released>) {
        while let Some((span, mut batch)) = queue.recv().await {
            while batch.len() < MAX_GATHER {
                match queue.try_recv() {
                    Ok((_, more)) => batch.extend(more),
                    Err(_) => break,
                }
            }
            let routed = self
                .by_gateway(batch, |(user, _)| user)
                .instrument(span.clone())
                .await;
            let Some((by_gateway, offline)) = routed else {
                continue;
            };
            if self.offline.get().is_some() {
                let offline = offline
                    .into_iter()
                    .map(|(user, entry)| (user, Arc::new(entry.message)))
                    .collect();
                self.offline(offline);
            }
            for (gateway, entries) in by_gateway {
                let deliveries = entries
                    .into_iter()
                    .map(|(user_id, entry)| Delivery {
                        user_id,
                        entry: Some(entry.into()),
                    })
                    .collect();
                self.enqueue(gateway, (span.clone(), deliveries));
            }
        }
    }

    /// Appends deliveries to a gateway's queue, starting its sender task on
    /// first use.
    fn enqueue(self: &Arc<Self>, gateway: String, deliveries: Queued) {
        let count = deliveries.1.len();
        let mut queues = self.queues.lock().expect("push queues lock");
        let queue = queues.entry(gateway.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE_BATCHES);
            tokio::spawn(Arc::clone(self).send_to(gateway, rx));
            tx
        });
        if queue.try_send(deliveries).is_err() {
            record_pushes("failed", count);
        }
    }

    /// Sends one gateway's deliveries, one call at a time, each carrying all
    /// that gathered while the previous one was in flight.
    async fn send_to(self: Arc<Self>, gateway: String, mut queue: mpsc::Receiver<Queued>) {
        while let Some((span, mut deliveries)) = queue.recv().await {
            while deliveries.len() < MAX_GATHER {
                match queue.try_recv() {
                    Ok((_, more)) => deliveries.extend(more),
                    Err(_) => break,
                }
            }
            let count = deliveries.len();
            let Some(mut client) = self.client(&gateway) else {
                record_pushes("failed", count);
                continue;
            };
            let mut request = tonic::Request::new(PushRequest { deliveries });
            request.set_timeout(self.timeout);
            match client.push(request).instrument(span).await {
                Ok(_) => record_pushes("sent", count),
                Err(status) => {
                    record_pushes("failed", count);
                    tracing::debug!(gateway = %gateway, error = %status, "push failed; devices will pull");
                }
            }
        }
    }

    /// Hands messages of offline recipients to the offline_push sink, if
    /// there is one. Never waits: past the sink's queue they are dropped
    /// (and counted), like pushes past a gateway's queue.
    fn offline(&self, offline: Offline) {
        let Some(sink) = self.offline.get() else {
            return;
        };
        if offline.is_empty() {
            return;
        }
        let count = offline.len();
        if sink.try_send(offline).is_err() {
            metrics::counter!(names::LOGIC_PUSHES, "result" => "offline_dropped")
                .increment(count as u64);
            tracing::warn!(
                count,
                "offline push queue full; those offline pushes are dropped"
            );
        }
    }

    /// Groups `items` by the gateways where their user (`user_of`) has a
    /// device, each item going once to each of those gateways, and returns
    /// the items whose user has no device anywhere; `None` if the registry
    /// look-up fails.
    async fn by_gateway<T: Clone>(
        &self,
        items: Vec<T>,
        user_of: impl Fn(&T) -> &str,
    ) -> Option<(BTreeMap<String, Vec<T>>, Vec<T>)> {
        let users: Vec<String> = items.iter().map(|item| user_of(item).to_string()).collect();
        let routes = match self.registry.lookup(&users).await {
            Ok(routes) => routes,
            Err(e) => {
                tracing::warn!(error = %e, "registry look-up failed; devices will pull");
                return None;
            }
        };
        let mut by_gateway: BTreeMap<String, Vec<T>> = BTreeMap::new();
        let mut offline = Vec::new();
        for (item, devices) in items.into_iter().zip(routes) {
            if devices.is_empty() {
                record_pushes("offline", 1);
                offline.push(item);
                continue;
            }
            let mut gateways: Vec<String> = devices.into_iter().map(|d| d.gateway).collect();
            gateways.sort();
            gateways.dedup();
            for gateway in gateways {
                by_gateway.entry(gateway).or_default().push(item.clone());
            }
        }
        Some((by_gateway, offline))
    }

    fn client(&self, gateway: &str) -> Option<GatewayApi> {
        let mut gateways = self.gateways.lock().expect("gateway pool lock poisoned");
        if let Some(client) = gateways.get(gateway) {
            return Some(client.clone());
        }
        // The push deadline is the call's deadline.
        let channel = match self.dialer.channel(gateway, self.timeout, self.timeout) {
            Ok(channel) => channel,
            Err(e) => {
                tracing::warn!(gateway = %gateway, error = %e, "bad gateway address in registry");
                return None;
            }
        };
        let client = GatewayApi::grpc(channel);
        gateways.insert(gateway.to_string(), client.clone());
        Some(client)
    }
}
