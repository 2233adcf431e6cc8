//! `tidings-logic`: the logic service on its own (distributed shape). Wiring only.

fn main() -> anyhow::Result<()> {
    tidings::cli::service_main(tidings::run::ServiceKind::Logic)
}
