//! Installs the process-wide subscriber: logs, and spans exported over OTLP
//! when a collector endpoint is configured.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::{LogConfig, TelemetryConfig};

/// The installed telemetry of a process. Call [`Telemetry::shutdown`] before
/// exiting so the last spans reach the collector.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber for `service` (the OpenTelemetry
    /// `service.name`, e.g. `tidings-logic`). Exporting spans needs a Tokio
    /// runtime: call this inside one (`Runtime::enter`).
    ///
    /// A subscriber installed before (as in tests) stays; the W3C propagator
    /// is installed either way so trace context passes through.
    pub fn init(
        log: &LogConfig,
        config: &TelemetryConfig,
        service: &str,
    ) -> anyhow::Result<Telemetry> {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
        // Logs go to stderr; stdout carries only the start-up summary.
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let fmt = if log.format == "json" {
            fmt.json().boxed()
        } else {
            fmt.boxed()
        };
        let provider = if config.exports_traces() {
            Some(tracer_provider(config, service)?)
        } else {
            None
        };
        let otel = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("tidings"))
                // Only our spans, not every debug span of the dependencies.
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    meta.is_span() && meta.target().starts_with("tidings")
                }))
        });
        let _ = tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .with(otel)
            .try_init();
        if let Some(provider) = &provider {
            opentelemetry::global::set_tracer_provider(provider.clone());
            tracing::info!(endpoint = %config.otlp_endpoint, sample_ratio = config.sample_ratio, "exporting traces over OTLP");
        }
        Ok(Telemetry { provider })
    }

    /// Flushes and stops the span exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "cannot flush the last spans");
        }
    }
}

fn tracer_provider(config: &TelemetryConfig, service: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.otlp_endpoint.clone())
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(resource)
        .build())
}
