//! A set of running servers sharing one shutdown: gRPC services, a gateway's
//! WebSocket endpoint, and background tasks. Shutdown drains gateways first,
//! while every other service still serves their requests in flight (clients
//! are told to reconnect elsewhere and pull; see `tidings_gateway`'s drain),
//! then stops the rest and waits a bounded time for the servers to finish.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tidings_gateway::Gateway;
use tidings_telemetry::ServiceToken;
use tidings_tls::TlsListener;
use tidings_tls::rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::serve;

/// How long shutdown waits for servers to finish their connections.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// Running servers of one process.
pub struct ServerSet {
    shutdown: watch::Sender<bool>,
    /// What every gRPC server here requires of its callers: the token (if
    /// any) and, with `grpc.tls`, TLS (with client certificates under mTLS).
    service_token: Option<ServiceToken>,
    grpc_tls: Option<Arc<ServerConfig>>,
    servers: Vec<(&'static str, JoinHandle<()>)>,
    background: Vec<JoinHandle<()>>,
    gateways: Vec<Arc<Gateway>>,
    /// The gateways' registry heartbeats, stopped before they drain.
    gateway_upkeep: Vec<JoinHandle<()>>,
    /// Sequence allocators whose sections are released once nothing is
    /// served any more, so another instance takes them over at once.
    allocators: Vec<Arc<tidings_sequence::Allocator>>,
    /// Webhook dispatchers, stopped once nothing is served any more.
    dispatchers: Vec<tidings_webhooks::DispatcherHandle>,
}

impl ServerSet {
    /// Servers whose gRPC services are secured as `security` says.
    pub fn new(security: &crate::grpc_tls::ServiceSecurity) -> Self {
        ServerSet {
            shutdown: watch::channel(false).0,
            service_token: security.token.clone(),
            grpc_tls: security.server_tls.clone(),
            servers: Vec::new(),
            background: Vec::new(),
            gateways: Vec::new(),
            gateway_upkeep: Vec::new(),
            allocators: Vec::new(),
            dispatchers: Vec::new(),
        }
    }

    /// Serves one gRPC service (with health and reflection) on `listener`;
    /// calls must carry the service credential.
    pub fn grpc<S: serve::GrpcService>(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        service: S,
    ) -> anyhow::Result<()> {
        let server = serve::grpc(
            listener,
            service,
            self.service_token.clone(),
            self.grpc_tls.clone(),
            self.shutdown.subscribe(),
        )?;
        self.servers.push((
            name,
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(service = name, error = %e, "grpc server failed");
                }
            }),
        ));
        Ok(())
    }

    /// Serves a gateway: its WebSocket endpoint on `ws`, its push service on
    /// `grpc`, and its registry heartbeat.
    pub fn gateway(
        &mut self,
        gateway: Arc<Gateway>,
        ws: TcpListener,
        grpc: TcpListener,
    ) -> anyhow::Result<()> {
        // `wss://` when `gateway.tls` is set; its files are checked first.
        let tls = gateway
            .ws_tls()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        self.grpc("gateway", grpc, gateway.push_service())?;
        let router = gateway.router();
        // The WebSocket port stops accepting when the gateway's drain begins.
        let stop = gateway.stopped_accepting();
        let server = match tls {
            // The TLS listener sets TCP_NODELAY itself.
            Some(tls) => {
                let ws = TlsListener::new(ws, tls)?;
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(ws, router).with_graceful_shutdown(stop).await {
                        tracing::error!(error = %e, "websocket server failed");
                    }
                })
            }
            None => {
                // Frames are small and latency-bound: no Nagle delay.
                let ws = ws.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                });
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(ws, router).with_graceful_shutdown(stop).await {
                        tracing::error!(error = %e, "websocket server failed");
                    }
                })
            }
        };
        self.servers.push(("gateway websocket", server));
        self.gateway_upkeep.push(gateway.spawn_heartbeat());
        self.gateways.push(gateway);
        Ok(())
    }

    /// Serves an axum `router` (the server API's gRPC and JSON port) on
    /// `listener` until shutdown, over TLS when `tls` is set.
    pub fn http(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        router: axum::Router,
        tls: Option<Arc<ServerConfig>>,
    ) -> anyhow::Result<()> {
        let stop = serve::wait_for(self.shutdown.subscribe());
        let server = match tls {
            Some(tls) => {
                let listener = TlsListener::new(listener, tls)?;
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router)
                        .with_graceful_shutdown(stop)
                        .await
                    {
                        tracing::error!(service = name, error = %e, "http server failed");
                    }
                })
            }
            None => tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(service = name, error = %e, "http server failed");
                }
            }),
        };
        self.servers.push((name, server));
        Ok(())
    }

    /// Serves Prometheus metrics (`GET /metrics`) on `listener`.
    pub fn metrics(&mut self, listener: TcpListener) {
        let server =
            tidings_telemetry::metrics::serve(listener, serve::wait_for(self.shutdown.subscribe()));
        self.servers.push((
            "metrics",
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "metrics server failed");
                }
            }),
        ));
    }

    /// Background tasks to stop at shutdown.
    /// Releases `allocator`'s sections at the end of [`ServerSet::shutdown`].
    pub fn release_on_shutdown(&mut self, allocator: Arc<tidings_sequence::Allocator>) {
        self.allocators.push(allocator);
    }

    /// Stops `dispatcher` (with a short grace for deliveries in flight)
    /// once the servers have stopped, so events of the last requests are
    /// enqueued before it lets go of the outbox.
    pub fn stop_on_shutdown(&mut self, dispatcher: Option<tidings_webhooks::DispatcherHandle>) {
        self.dispatchers.extend(dispatcher);
    }

    pub fn background(&mut self, tasks: impl IntoIterator<Item = JoinHandle<()>>) {
        self.background.extend(tasks);
    }

    /// Drains the gateways (bounded by `gateway.drain_timeout_ms`), then
    /// stops accepting, stops background tasks, and waits (bounded) for
    /// every server to finish.
    pub async fn shutdown(self) {
        // A heartbeat running during the drain could write back registry
        // entries the connections' clean-up removes.
        for task in &self.gateway_upkeep {
            task.abort();
        }
        for task in self.gateway_upkeep {
            let _ = task.await;
        }
        for gateway in &self.gateways {
            gateway.drain().await;
        }
        let _ = self.shutdown.send(true);
        for task in &self.background {
            task.abort();
        }
        for task in self.background {
            let _ = task.await;
        }
        // gRPC servers wait for their peers' HTTP/2 connections to close;
        // give them a bounded drain, then cut what is left.
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        for (name, mut server) in self.servers {
            if tokio::time::timeout_at(deadline, &mut server)
                .await
                .is_err()
            {
                tracing::debug!(service = name, "drain deadline passed; closing the rest");
                server.abort();
                let _ = server.await;
            }
        }
        for allocator in self.allocators {
            let released = allocator.release_all().await;
            tracing::info!(sections = released, "released sequence sections");
        }
        for dispatcher in self.dispatchers {
            dispatcher.shutdown(DRAIN_DEADLINE).await;
        }
    }
}

/// Binds a listener, naming what it is for in the error.
pub async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}"))
}

/// Binds the gateway's WebSocket listener with `gateway.listen_backlog`:
/// thousands of clients reconnecting at once (after a gateway restart)
/// would overflow the usual backlog of 1024 and wait for SYN retries.
pub fn bind_with_backlog(
    addr: std::net::SocketAddr,
    what: &str,
    backlog: u32,
) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    let listen = || -> std::io::Result<TcpListener> {
        let socket = match addr {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // As `TcpListener::bind` does: a restarted process may listen again
        // at once while old connections linger in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(backlog)
    };
    listen().with_context(|| format!("cannot listen on {addr} for {what}"))
}
