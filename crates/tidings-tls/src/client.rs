//! The client side: trust of a CA file, a client certificate presented when
//! the server asks for one (mTLS), and lazily connecting tonic channels over
//! TLS. tonic's own TLS is not used: it would bring a second TLS setup and
//! could not present a reloading client certificate; a connector of ours
//! behind `Endpoint::connect_with_connector_lazy` keeps one rustls.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::transport::{Channel, Endpoint};

use crate::pem::read_roots;
use crate::reload::ReloadingCert;

/// How a client verifies servers and proves who it is.
#[derive(Debug, Clone)]
pub struct ClientTlsOptions<'a> {
    /// PEM bundle of the CAs whose server certificates are trusted.
    pub ca_file: &'a std::path::Path,
    /// Presented when a server asks for a client certificate.
    pub client_cert: Option<Arc<ReloadingCert>>,
    /// The name every server's certificate is checked against (a DNS name
    /// or an IP address); `None`: the host of the address connected to.
    pub server_name: Option<&'a str>,
    /// ALPN protocols offered; empty: no ALPN.
    pub alpn: &'a [&'a [u8]],
}

/// A client TLS setup, cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl ClientTls {
    /// Fails, naming the file or the value, when the CA bundle does not load
    /// or the server name is neither a DNS name nor an IP address.
    pub fn new(options: &ClientTlsOptions<'_>) -> Result<Self, String> {
        let server_name = options.server_name.map(parse_server_name).transpose()?;
        let roots = read_roots(options.ca_file)?;
        let builder = rustls::ClientConfig::builder_with_provider(crate::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match &options.client_cert {
            Some(cert) => builder.with_client_cert_resolver(cert.clone()),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = options.alpn.iter().map(|p| p.to_vec()).collect();
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The rustls config, e.g. for a client of another protocol.
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// The name a server at `host` must have in its certificate.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, String> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => parse_server_name(host.trim_start_matches('[').trim_end_matches(']')),
        }
    }

    /// A channel to `endpoint` (an `https://host:port` URI) that connects
    /// over TLS on first use and reconnects after failures. The endpoint's
    /// connect timeout covers the TCP connect and the handshake; sockets get
    /// TCP_NODELAY (small calls would otherwise wait for delayed ACKs).
    pub fn lazy_channel(&self, endpoint: Endpoint) -> Channel {
        endpoint.connect_with_connector_lazy(Connector { tls: self.clone() })
    }

    /// A TLS connection to `host:port`, verified as [`Self::server_name_for`].
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<TlsStream<TcpStream>> {
        let name = self
            .server_name_for(host)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare, port)).await?;
        tcp.set_nodelay(true)?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("{name:?} is neither a DNS name nor an IP address"))
}

/// tonic's connector: TCP, then the TLS handshake, per new connection.
#[derive(Clone)]
struct Connector {
    tls: ClientTls,
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("no host in {uri}"))
            })?;
            let port = uri.port_u16().unwrap_or(443);
            Ok(TokioIo::new(tls.connect(host, port).await?))
        })
    }
}
