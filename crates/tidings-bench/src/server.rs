//! The all-in-one under test: started in this process on ephemeral loopback
//! ports, with its data in a temporary directory removed afterwards.

use std::time::Duration;

use anyhow::Context;
use tidings::AllInOne;
use tidings_proto::sequence::v1::sequence_service_client::SequenceServiceClient;
use tonic::transport::{Channel, Endpoint};

/// A running all-in-one and the directory holding its data.
pub struct BenchServer {
    server: AllInOne,
    _dir: tempfile::TempDir,
}

impl BenchServer {
    /// Starts the all-in-one with the test configuration and `sections`
    /// allocator sections.
    pub async fn start(sections: u32) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tidings-bench-")
            .tempdir()
            .context("cannot create a temporary data directory")?;
        let mut config = tidings_testkit::test_config(dir.path());
        config.sequence.sections = sections;
        let server = AllInOne::start(config).await?;
        Ok(BenchServer { server, _dir: dir })
    }

    /// The client WebSocket URL of the gateway.
    pub fn ws_url(&self) -> String {
        self.server.addresses.ws_url()
    }

    /// A connected client of the sequence service (one HTTP/2 connection;
    /// clones share it, as the logic service's clients do).
    pub async fn sequence_client(&self) -> anyhow::Result<SequenceServiceClient<Channel>> {
        let address = format!("http://{}", self.server.addresses.sequence);
        let channel = Endpoint::from_shared(address)?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect()
            .await
            .context("cannot connect to the sequence service")?;
        Ok(SequenceServiceClient::new(channel))
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
