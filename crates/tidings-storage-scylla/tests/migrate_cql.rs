//! `migrate` against a real CQL node: it creates everything, a second run
//! applies nothing, a keyspace behind by a version gets just that version,
//! and `connect` refuses a keyspace it has not prepared.

mod common;

use tidings_storage_scylla::{LATEST_VERSION, ScyllaStore, migrate};

#[tokio::test]
async fn migrate_is_idempotent_and_connect_needs_it() {
    let keyspace = format!("tidings_migrate_{}", std::process::id());
    let config = common::test_config(&keyspace);

    let error = ScyllaStore::connect(&config)
        .await
        .err()
        .expect("not migrated yet");
    assert!(error.to_string().contains("run migrate first"), "{error}");

    let first = common::migrate_or_fail(&config).await;
    assert_eq!(first.server, common::expected_server());
    let all: Vec<i32> = (1..=LATEST_VERSION).collect();
    assert_eq!(first.applied, all);
    assert!(first.already_applied.is_empty());
    assert!(
        first.refused_options.is_empty(),
        "{:?}",
        first.refused_options
    );

    let second = migrate(&config).await.expect("second migrate");
    assert!(
        second.applied.is_empty(),
        "second run applied {:?}",
        second.applied
    );
    assert_eq!(second.already_applied, all);

    ScyllaStore::connect(&config)
        .await
        .expect("connect after migrate");

    let mut other = config.clone();
    other.inbox_bucket_bits = 20;
    let error = migrate(&other).await.expect_err("bucket widths are fixed");
    assert!(
        error.to_string().contains("scylla.inbox_bucket_bits"),
        "{error}"
    );

    // A keyspace an earlier build left at the version before the latest:
    // `connect` names both versions, `migrate` applies only the new one.
    let store = ScyllaStore::connect(&config).await.unwrap();
    let previous = LATEST_VERSION - 1;
    store
        .session()
        .query_unpaged(
            format!("DELETE FROM {keyspace}.schema_migrations WHERE version = {LATEST_VERSION}"),
            &[],
        )
        .await
        .expect("forget the latest version");
    let error = ScyllaStore::connect(&config)
        .await
        .err()
        .expect("behind the latest version");
    assert!(
        error.to_string().contains(&format!(
            "at schema version {previous}, this build needs {LATEST_VERSION}"
        )),
        "{error}"
    );
    let upgrade = migrate(&config).await.expect("upgrade");
    assert_eq!(upgrade.applied, [LATEST_VERSION]);
    assert_eq!(upgrade.already_applied, (1..=previous).collect::<Vec<_>>());
    let store = ScyllaStore::connect(&config)
        .await
        .expect("connect after the upgrade");
    store
        .session()
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), &[])
        .await
        .expect("drop the test keyspace");
}
