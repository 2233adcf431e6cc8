//! Building a driver session from the config, and turning driver errors into
//! [`StorageError`]s.

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;

use crate::StorageError;
use crate::config::{ScyllaConfig, parse_consistency, parse_serial_consistency};
use crate::driver_errors::{DriverError, classify};

/// A session to the configured cluster: token-aware (and, on ScyllaDB,
/// shard-aware) routing, the configured consistency and serial consistency
/// for every statement, and only the local datacenter's nodes when
/// `local_dc` is set.
pub(crate) async fn open_session(config: &ScyllaConfig) -> Result<Session, StorageError> {
    config.validate().map_err(StorageError::Backend)?;
    let consistency = parse_consistency(&config.consistency).map_err(StorageError::Backend)?;
    let serial =
        parse_serial_consistency(&config.serial_consistency).map_err(StorageError::Backend)?;

    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &config.local_dc {
        policy = policy
            .prefer_datacenter(dc.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .consistency(consistency)
        .serial_consistency(Some(serial))
        .request_timeout(Some(config.request_timeout()))
        .load_balancing_policy(policy.build())
        .build();

    let mut builder = SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .default_execution_profile_handle(profile.into_handle())
        .connection_timeout(config.request_timeout());
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        builder = builder.user(user, password);
    }
    let session = builder.build().await.map_err(|e| {
        let detail = format!(
            "cannot connect to {}: {e}",
            config.contact_points.join(", ")
        );
        classify(&e, detail)
    })?;
    tracing::info!(
        contact_points = %config.contact_points.join(","),
        keyspace = %config.keyspace,
        local_dc = config.local_dc.as_deref().unwrap_or(""),
        "cql session opened"
    );
    Ok(session)
}

/// Wraps a driver error with what was being done: unavailable when the
/// cluster could not be reached or did not answer in time, else a backend
/// failure (see `driver_errors`).
pub(crate) fn backend<E: DriverError>(action: &'static str) -> impl Fn(E) -> StorageError {
    move |error| classify(&error, format!("cql {action}: {error}"))
}
