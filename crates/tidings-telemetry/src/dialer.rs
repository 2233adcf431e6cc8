//! How one service reaches another over a socket: plain HTTP/2 or TLS
//! (`[grpc.tls]`, with a client certificate under mutual TLS), carrying the
//! service token when the deployment has one. Every client channel built
//! over a socket (peers, the sequence router, logic's pushes to gateways)
//! comes from here, so none of them can forget TLS or the credential.

use std::time::Duration;

use tidings_tls::ClientTls;
use tonic::transport::Endpoint;

use crate::propagation::traced_with;
use crate::{ServiceToken, TracedChannel};

/// The client side of the service credential (DESIGN §10): a shared secret,
/// a client certificate, or both. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceDialer {
    token: Option<ServiceToken>,
    tls: Option<ClientTls>,
}

impl ServiceDialer {
    /// Calls carry `token` when there is one, and go over `tls` when set.
    pub fn new(token: Option<ServiceToken>, tls: Option<ClientTls>) -> Self {
        ServiceDialer { token, tls }
    }

    /// The service token calls carry, if any.
    pub fn token(&self) -> Option<&ServiceToken> {
        self.token.as_ref()
    }

    /// Whether calls go over TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A channel to `addr` (`host:port`) that connects on first use (within
    /// `connect_timeout`, handshake included), reconnects after failures,
    /// passes on the caller's trace context and fails a call unanswered
    /// within `deadline`. Fails only on an address that is not one.
    pub fn channel(
        &self,
        addr: &str,
        connect_timeout: Duration,
        deadline: Duration,
    ) -> Result<TracedChannel, tonic::transport::Error> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true);
        let channel = match &self.tls {
            Some(tls) => tls.lazy_channel(endpoint),
            None => endpoint.connect_lazy(),
        };
        Ok(traced_with(channel, deadline, self.token.clone()))
    }
}

/// A plain-text dialer carrying `token`: what every caller had before TLS.
impl From<ServiceToken> for ServiceDialer {
    fn from(token: ServiceToken) -> Self {
        ServiceDialer::new(Some(token), None)
    }
}
