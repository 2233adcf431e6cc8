//! `tidings health <address>`: one gRPC health check of an internal port,
//! the way the services call each other (over TLS with `[grpc.tls]`, with
//! this process's client certificate under mTLS). Kubernetes' own gRPC
//! probes speak only plain text, so the chart runs this as an exec probe
//! when TLS is on.

use std::time::Duration;

use tidings_telemetry::ServiceDialer;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::config::TidingsConfig;

/// Asks the server at `address` (`host:port`) whether `service` (empty:
/// the whole server) is serving, within `deadline`. Health needs no service
/// token; the TLS handshake is the same as a peer's.
pub async fn check(
    config: &TidingsConfig,
    address: &str,
    service: &str,
    deadline: Duration,
) -> anyhow::Result<()> {
    let tls = config
        .grpc
        .tls
        .load()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?
        .map(|tls| tls.client);
    let dialer = ServiceDialer::new(None, tls);
    let channel = dialer.channel(address, deadline, deadline)?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .map_err(|status| anyhow::anyhow!("{address}: {}", status.message()))?
        .into_inner();
    let status = ServingStatus::try_from(answer.status).unwrap_or(ServingStatus::Unknown);
    anyhow::ensure!(
        status == ServingStatus::Serving,
        "{address}: {}",
        status.as_str_name()
    );
    Ok(())
}
