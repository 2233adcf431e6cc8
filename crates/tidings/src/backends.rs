//! Opens the backends a configuration names: the tables (embedded or
//! ScyllaDB) and the registry (in-process or Redis).

use std::sync::Arc;

use anyhow::Context;
use tidings_registry::{InProcessRegistry, RedisRegistry, RedisRegistryOptions, Registry};
use tidings_storage::Tables;
use tidings_storage::embedded::EmbeddedStore;
use tidings_storage_scylla::ScyllaStore;

use crate::config::TidingsConfig;

/// Installs the metrics recorder (when metrics are on) before anything is
/// recorded, and describes the metrics of the storage and registry layers.
pub fn install_metrics(config: &TidingsConfig) {
    if config.telemetry.metrics {
        tidings_telemetry::metrics::handle();
        tidings_storage::instrumented::describe_metrics();
        tidings_registry::instrumented::describe_metrics();
    }
}

/// Opens the configured tables.
pub async fn open_tables(config: &TidingsConfig) -> anyhow::Result<Tables> {
    match config.storage.backend.as_str() {
        "scylla" => {
            let store = ScyllaStore::connect(&config.scylla)
                .await
                .with_context(|| {
                    format!(
                        "cannot connect to ScyllaDB at {:?}",
                        config.scylla.contact_points
                    )
                })?;
            Ok(Tables::from_backend(store).instrumented("scylla"))
        }
        _ => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
            let store = EmbeddedStore::open(&config.data_dir).with_context(|| {
                format!("cannot open the store in {}", config.data_dir.display())
            })?;
            Ok(Tables::from_backend(store).instrumented("embedded"))
        }
    }
}

/// Opens the configured registry.
pub async fn open_registry(config: &TidingsConfig) -> anyhow::Result<Arc<dyn Registry>> {
    let registry = &config.registry;
    match registry.backend.as_str() {
        "redis" => {
            let options = RedisRegistryOptions {
                key_prefix: registry.key_prefix.clone(),
                ..RedisRegistryOptions::default()
            };
            let redis = if registry.cluster_urls.is_empty() {
                RedisRegistry::connect_with(&registry.url, options)
                    .await
                    .with_context(|| format!("cannot connect to Redis at {}", registry.url))?
            } else {
                RedisRegistry::connect_cluster_with(&registry.cluster_urls, options)
                    .await
                    .with_context(|| {
                        format!(
                            "cannot connect to Redis Cluster {:?}",
                            registry.cluster_urls
                        )
                    })?
            };
            Ok(tidings_registry::instrumented(Arc::new(redis), "redis"))
        }
        _ => Ok(tidings_registry::instrumented(
            Arc::new(InProcessRegistry::new()),
            "in_process",
        )),
    }
}
