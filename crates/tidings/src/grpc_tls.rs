//! `[grpc.tls]`: TLS between services, and mutual TLS as the service
//! credential (DESIGN §10). When it is on, every internal gRPC server of the
//! process serves TLS and every internal client (peers, the sequence router,
//! logic's pushes to gateways) connects with it; with `client_auth =
//! "required"` a caller without a certificate from `ca_file` is refused in
//! the handshake, and the service token becomes optional.
//!
//! Each service uses one certificate both to serve and, as a client, to
//! prove who it is: it needs the `server auth` and `client auth` usages.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tidings_telemetry::{ServiceDialer, ServiceToken};
use tidings_tls::rustls::ServerConfig;
use tidings_tls::{ALPN_H2, ClientTls, ClientTlsOptions, ReloadingCert, ServerTlsOptions};

/// Whether internal servers ask callers for a certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// TLS only: callers prove themselves with the service token.
    #[default]
    None,
    /// Mutual TLS: callers must present a certificate signed by `ca_file`.
    Required,
}

/// TLS of internal gRPC (`[grpc.tls]`). Empty strings mean unset; TLS is on
/// when `cert_file` is set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcTlsConfig {
    /// PEM certificate chain of this process, served by its gRPC ports and
    /// presented to its peers under mTLS.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    pub key_file: String,
    /// PEM bundle of the CA(s) that sign the services' certificates: peers'
    /// server certificates are checked against it, and so are callers'
    /// client certificates under `client_auth = "required"`. Read at start.
    pub ca_file: String,
    /// `none` or `required` (mutual TLS).
    pub client_auth: ClientAuth,
    /// The name every peer's certificate must carry (a DNS name or an IP
    /// address). Empty: the host of the address called. Set it where peers
    /// are called at pod IPs (gateways, sequence instances).
    pub server_name: String,
    /// How often (milliseconds) at most the certificate files are looked at
    /// again for a renewed certificate.
    pub reload_check_ms: u64,
}

impl Default for GrpcTlsConfig {
    fn default() -> Self {
        GrpcTlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            ca_file: String::new(),
            client_auth: ClientAuth::None,
            server_name: String::new(),
            reload_check_ms: 5_000,
        }
    }
}

/// Both sides of internal TLS, built from the files.
#[derive(Clone)]
pub struct GrpcTls {
    pub server: Arc<ServerConfig>,
    pub client: ClientTls,
}

impl GrpcTlsConfig {
    /// Whether internal gRPC speaks TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    /// Whether callers must present a client certificate (mTLS), which then
    /// is a service credential of its own.
    pub fn mutual(&self) -> bool {
        self.enabled() && self.client_auth == ClientAuth::Required
    }

    /// Checks the values, naming the key. The files are read (and so
    /// checked) when a service starts: `tidings migrate` needs none.
    pub fn validate(&self) -> Result<(), String> {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            return Err("grpc.tls.cert_file and grpc.tls.key_file must be set together".into());
        }
        if !self.enabled() {
            if self.client_auth == ClientAuth::Required {
                return Err(
                    "grpc.tls.client_auth = \"required\" needs grpc.tls.cert_file, \
                     grpc.tls.key_file and grpc.tls.ca_file"
                        .into(),
                );
            }
            if !self.ca_file.is_empty() || !self.server_name.is_empty() {
                return Err("grpc.tls.ca_file and grpc.tls.server_name need \
                     grpc.tls.cert_file and grpc.tls.key_file: TLS between services is off \
                     without them"
                    .into());
            }
        } else if self.ca_file.is_empty() {
            let why = if self.client_auth == ClientAuth::Required {
                "client_auth = \"required\" checks callers' certificates against it, and "
            } else {
                ""
            };
            return Err(format!(
                "grpc.tls.ca_file must be set with grpc.tls.cert_file: {why}services check \
                 each other's certificates against it"
            ));
        }
        if !self.server_name.is_empty()
            && tidings_tls::rustls::pki_types::ServerName::try_from(self.server_name.as_str())
                .is_err()
        {
            return Err(format!(
                "grpc.tls.server_name must be a DNS name or an IP address, got {:?}",
                self.server_name
            ));
        }
        if !(100..=3_600_000).contains(&self.reload_check_ms) {
            return Err("grpc.tls.reload_check_ms must be between 100 and 3600000".into());
        }
        Ok(())
    }

    /// Both sides of TLS from the files, or `None` when TLS is off. The
    /// error names `grpc.tls` and the file.
    pub fn load(&self) -> Result<Option<GrpcTls>, String> {
        if !self.enabled() {
            return Ok(None);
        }
        let named = |e: String| format!("grpc.tls: {e}");
        let cert = Arc::new(
            ReloadingCert::new(
                Path::new(&self.cert_file),
                Path::new(&self.key_file),
                Duration::from_millis(self.reload_check_ms),
                tidings_tls::provider(),
            )
            .map_err(named)?,
        );
        let ca_file = Path::new(&self.ca_file);
        let server = tidings_tls::server_config(&ServerTlsOptions {
            cert: cert.clone(),
            client_ca_file: self.mutual().then_some(ca_file),
            alpn: &[ALPN_H2],
        })
        .map_err(named)?;
        let client = ClientTls::new(&ClientTlsOptions {
            ca_file,
            // Presented only when a server asks: harmless with `none`.
            client_cert: Some(cert),
            server_name: (!self.server_name.is_empty()).then_some(self.server_name.as_str()),
            alpn: &[ALPN_H2],
        })
        .map_err(named)?;
        Ok(Some(GrpcTls { server, client }))
    }
}

/// How this process's internal gRPC is secured both ways: what its servers
/// require of callers, and how its clients call. Never neither a token nor
/// mTLS: [`ServiceSecurity::new`] refuses that.
#[derive(Clone)]
pub struct ServiceSecurity {
    /// Required of every caller (health checks excepted) when set.
    pub token: Option<ServiceToken>,
    /// Served on every internal gRPC port when set.
    pub server_tls: Option<Arc<ServerConfig>>,
    pub dialer: ServiceDialer,
}

impl ServiceSecurity {
    /// `token` (if any) and the TLS of `tls` (loading its files). Fails when
    /// there would be no service credential at all: no token and no mTLS.
    pub fn new(token: Option<ServiceToken>, tls: &GrpcTlsConfig) -> Result<Self, String> {
        if token.is_none() && !tls.mutual() {
            return Err(
                "grpc.service_token (or grpc.service_token_file) must be set: every internal \
                 gRPC call carries this shared secret and every service requires it; give all \
                 the services of a deployment the same one (e.g. TIDINGS__GRPC__SERVICE_TOKEN), \
                 or turn on mutual TLS (grpc.tls with client_auth = \"required\")"
                    .into(),
            );
        }
        let loaded = tls.load()?;
        Ok(ServiceSecurity {
            dialer: ServiceDialer::new(token.clone(), loaded.as_ref().map(|t| t.client.clone())),
            server_tls: loaded.map(|t| t.server),
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> GrpcTlsConfig {
        GrpcTlsConfig {
            cert_file: "/tls/tls.crt".into(),
            key_file: "/tls/tls.key".into(),
            ca_file: "/tls/ca.crt".into(),
            client_auth: ClientAuth::Required,
            ..GrpcTlsConfig::default()
        }
    }

    fn error_of(config: GrpcTlsConfig) -> String {
        config.validate().unwrap_err()
    }

    #[test]
    fn off_by_default_and_a_full_setup_passes() {
        let off = GrpcTlsConfig::default();
        assert_eq!(off.validate(), Ok(()));
        assert!(!off.enabled() && !off.mutual());
        assert_eq!(on().validate(), Ok(()));
        assert!(on().mutual());
        let named = GrpcTlsConfig {
            server_name: "tidings-internal".into(),
            ..on()
        };
        assert_eq!(named.validate(), Ok(()));
    }

    #[test]
    fn bad_combinations_are_named() {
        let err = error_of(GrpcTlsConfig {
            key_file: String::new(),
            ..on()
        });
        assert!(
            err.starts_with("grpc.tls.cert_file and grpc.tls.key_file"),
            "{err}"
        );
        let err = error_of(GrpcTlsConfig {
            client_auth: ClientAuth::Required,
            ..GrpcTlsConfig::default()
        });
        assert!(err.contains("client_auth = \"required\" needs"), "{err}");
        let err = error_of(GrpcTlsConfig {
            ca_file: String::new(),
            ..on()
        });
        assert!(err.starts_with("grpc.tls.ca_file must be set"), "{err}");
        assert!(err.contains("callers' certificates"), "{err}");
        let err = error_of(GrpcTlsConfig {
            ca_file: "/tls/ca.crt".into(),
            ..GrpcTlsConfig::default()
        });
        assert!(err.contains("need grpc.tls.cert_file"), "{err}");
        let err = error_of(GrpcTlsConfig {
            server_name: "not a name".into(),
            ..on()
        });
        assert!(err.starts_with("grpc.tls.server_name"), "{err}");
        let err = error_of(GrpcTlsConfig {
            reload_check_ms: 10,
            ..on()
        });
        assert!(err.starts_with("grpc.tls.reload_check_ms"), "{err}");
    }

    #[test]
    fn a_config_file_with_a_bad_value_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.toml");
        std::fs::write(&file, "[grpc.tls]\nclient_auth = \"sometimes\"\n").unwrap();
        let err = crate::TidingsConfig::load(Some(&file))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("client_auth") && err.contains("sometimes"),
            "{err}"
        );
        std::fs::write(&file, "[grpc.tls]\ncert_file = \"/tls/tls.crt\"\n").unwrap();
        let err = crate::TidingsConfig::load(Some(&file))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("grpc.tls.cert_file and grpc.tls.key_file"),
            "{err}"
        );
    }

    #[test]
    fn no_token_needs_mutual_tls_and_missing_files_are_named() {
        let err = ServiceSecurity::new(None, &GrpcTlsConfig::default())
            .err()
            .unwrap();
        assert!(err.contains("grpc.service_token (or grpc.service_token_file) must be set"));
        let err = ServiceSecurity::new(None, &on()).err().unwrap();
        assert!(
            err.starts_with("grpc.tls: cannot read /tls/tls.crt"),
            "{err}"
        );
        let token = ServiceToken::generate();
        let plain = ServiceSecurity::new(Some(token), &GrpcTlsConfig::default()).unwrap();
        assert!(plain.server_tls.is_none() && !plain.dialer.uses_tls());
    }
}
