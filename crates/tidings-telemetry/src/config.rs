//! The `[log]` and `[telemetry]` configuration sections.

use serde::Deserialize;

/// Log output.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `info,tidings_logic=debug`;
    /// `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info,fjall=warn,lsm_tree=warn".into(),
            format: "text".into(),
        }
    }
}

impl LogConfig {
    /// Checks the values; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.format.as_str(), "text" | "json") {
            return Err(format!(
                "log.format must be \"text\" or \"json\", got {:?}",
                self.format
            ));
        }
        Ok(())
    }
}

/// Traces and metrics. Logs are configured under `[log]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint of an OpenTelemetry collector, e.g.
    /// `http://otel-collector:4317`. Empty: spans are not exported (the W3C
    /// trace context is still passed on when a caller sends one).
    pub otlp_endpoint: String,
    /// Fraction of new traces that are sampled, 0.0 to 1.0. A call whose
    /// caller sampled its trace is always sampled, so traces stay whole.
    pub sample_ratio: f64,
    /// Serve Prometheus metrics at `http://<listen.metrics>/metrics`.
    pub metrics: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            otlp_endpoint: String::new(),
            sample_ratio: 1.0,
            metrics: true,
        }
    }
}

impl TelemetryConfig {
    /// Checks the values; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(format!(
                "telemetry.sample_ratio must be between 0.0 and 1.0, got {}",
                self.sample_ratio
            ));
        }
        let endpoint = self.otlp_endpoint.as_str();
        let is_url = endpoint.starts_with("http://") || endpoint.starts_with("https://");
        if !endpoint.is_empty() && !is_url {
            return Err(format!(
                "telemetry.otlp_endpoint must be an http:// or https:// URL, got {endpoint:?}"
            ));
        }
        Ok(())
    }

    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        !self.otlp_endpoint.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        assert!(LogConfig::default().validate().is_ok());
        let bad_format = LogConfig {
            format: "xml".into(),
            ..Default::default()
        };
        assert!(bad_format.validate().unwrap_err().contains("log.format"));
        assert!(TelemetryConfig::default().validate().is_ok());
        let bad_ratio = TelemetryConfig {
            sample_ratio: 1.5,
            ..Default::default()
        };
        assert!(
            bad_ratio
                .validate()
                .unwrap_err()
                .contains("telemetry.sample_ratio")
        );
        let bad_endpoint = TelemetryConfig {
            otlp_endpoint: "collector:4317".into(),
            ..Default::default()
        };
        assert!(
            bad_endpoint
                .validate()
                .unwrap_err()
                .contains("telemetry.otlp_endpoint")
        );
    }
}
