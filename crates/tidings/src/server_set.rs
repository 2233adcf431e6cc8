//! A set of running servers sharing one shutdown: gRPC services, a gateway's
//! WebSocket endpoint, and background tasks. Shutdown drains gateways first
//! (clients reconnect elsewhere and pull), then waits a bounded time for the
//! servers to finish.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tidings_gateway::Gateway;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::serve;

/// How long shutdown waits for servers to finish their connections.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// Running servers of one process.
pub struct ServerSet {
    shutdown: watch::Sender<bool>,
    servers: Vec<(&'static str, JoinHandle<()>)>,
    background: Vec<JoinHandle<()>>,
    gateways: Vec<Arc<Gateway>>,
}

impl Default for ServerSet {
    fn default() -> Self {
        ServerSet {
            shutdown: watch::channel(false).0,
            servers: Vec::new(),
            background: Vec::new(),
            gateways: Vec::new(),
        }
    }
}

impl ServerSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves one gRPC service (with health and reflection) on `listener`.
    pub fn grpc<S: serve::GrpcService>(
        &mut self,
        name: &'static str,
        listener: TcpListener,
        service: S,
    ) -> anyhow::Result<()> {
        let server = serve::grpc(listener, service, self.shutdown.subscribe())?;
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
        self.grpc("gateway", grpc, gateway.push_service())?;
        let router = gateway.router();
        let stop = serve::wait_for(self.shutdown.subscribe());
        // Frames are small and latency-bound: no Nagle delay.
        let ws = ws.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        self.servers.push((
            "gateway websocket",
            tokio::spawn(async move {
                if let Err(e) = axum::serve(ws, router).with_graceful_shutdown(stop).await {
                    tracing::error!(error = %e, "websocket server failed");
                }
            }),
        ));
        self.background.push(gateway.spawn_heartbeat());
        self.gateways.push(gateway);
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
    pub fn background(&mut self, tasks: impl IntoIterator<Item = JoinHandle<()>>) {
        self.background.extend(tasks);
    }

    /// Stops accepting, closes client connections, stops background tasks,
    /// and waits (bounded) for every server to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for gateway in &self.gateways {
            gateway.hub().close_all();
        }
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
    }
}

/// Binds a listener, naming what it is for in the error.
pub async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for {what}"))
}
