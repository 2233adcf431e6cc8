//! `tidings-gateway`: the gateway service on its own (distributed shape). Wiring only.

fn main() -> anyhow::Result<()> {
    tidings::cli::service_main(tidings::run::ServiceKind::Gateway)
}
