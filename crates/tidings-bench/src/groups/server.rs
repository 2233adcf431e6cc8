//! The all-in-one of the group benchmark: started in this process on
//! ephemeral loopback ports through `AllInOne::start_with`, on the embedded
//! store wrapped in a [`CountingStore`] and the in-process registry, with its
//! data in a temporary directory removed afterwards.

use std::sync::Arc;

use anyhow::Context;
use tidings::AllInOne;
use tidings_proto::logic::v1::logic_service_client::LogicServiceClient;
use tidings_storage::embedded::EmbeddedStore;
use tidings_testkit::ServiceChannel;

use super::counting::{CountingStore, RowCounts};

/// A running all-in-one whose timeline writes are counted.
pub(crate) struct CountedServer {
    server: AllInOne,
    rows: Arc<CountingStore>,
    _dir: tempfile::TempDir,
}

impl CountedServer {
    /// Starts the all-in-one with the test configuration and
    /// `large_group_threshold`.
    pub async fn start(large_group_threshold: u64) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tidings-bench-groups-")
            .tempdir()
            .context("cannot create a temporary data directory")?;
        let mut config = tidings_testkit::test_config(dir.path());
        config.logic.large_group_threshold = large_group_threshold;
        // The load generators send as fast as they are answered.
        config.gateway.limits = tidings_gateway::LimitsConfig::off();
        config.validate().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            config.registry.backend == "in_process",
            "the group benchmark needs the in-process registry, not {:?}",
            config.registry.backend
        );
        let store = EmbeddedStore::open(dir.path()).context("cannot open the embedded store")?;
        let rows = CountingStore::new(store);
        // The in-process registry, as `AllInOne::start` opens it by default.
        let registry = tidings::backends::open_registry(&config).await?;
        let server = AllInOne::start_with(config, rows.tables(), registry).await?;
        Ok(CountedServer {
            server,
            rows,
            _dir: dir,
        })
    }

    /// The client WebSocket URL of the gateway.
    pub fn ws_url(&self) -> String {
        self.server.addresses.ws_url()
    }

    /// Timeline rows written since the server started.
    pub fn rows(&self) -> RowCounts {
        self.rows.snapshot()
    }

    /// A client of the logic service, with the service credential.
    pub async fn logic_client(&self) -> anyhow::Result<LogicServiceClient<ServiceChannel>> {
        let address = self.server.addresses.logic.to_string();
        Ok(LogicServiceClient::new(tidings_testkit::service_channel(
            &address,
        )))
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
