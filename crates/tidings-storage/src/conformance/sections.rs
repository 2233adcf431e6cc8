//! Allocator sections: leases decide who may claim, epochs fence stale
//! owners, `max_seq` never goes back.

use std::collections::BTreeSet;

use super::unique_section;
use crate::{SectionState, StorageError, Tables};

const NOW: i64 = 1_000_000;
const LEASE: i64 = 10_000;

fn state(max_seq: u64, epoch: u64, owner: &str, lease_until_ms: i64) -> SectionState {
    SectionState {
        max_seq,
        epoch,
        owner: owner.to_string(),
        lease_until_ms,
    }
}

/// Each claim returns an epoch one above the previous, starting at 1; the
/// owner may re-claim its own section while its lease runs.
pub async fn sections_claim_increments_epoch(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    assert_eq!(sections.load_section(section).await.unwrap(), None);
    let first = sections
        .claim_section(section, "a", NOW, LEASE)
        .await
        .unwrap();
    assert_eq!(first, state(0, 1, "a", NOW + LEASE));
    let second = sections
        .claim_section(section, "a", NOW + 1, LEASE)
        .await
        .unwrap();
    assert_eq!(second, state(0, 2, "a", NOW + 1 + LEASE));
    assert_eq!(sections.load_section(section).await.unwrap(), Some(second));
}

/// While a lease runs, another owner is refused; once it ends, the other
/// owner claims the section and the old owner is fenced.
pub async fn sections_lease_decides_who_may_claim(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let a = sections
        .claim_section(section, "a", NOW, LEASE)
        .await
        .unwrap();
    match sections
        .claim_section(section, "b", NOW + LEASE - 1, LEASE)
        .await
    {
        Err(StorageError::Owned {
            section: s,
            owner,
            lease_until_ms,
        }) => assert_eq!(
            (s, owner.as_str(), lease_until_ms),
            (section, "a", NOW + LEASE)
        ),
        other => panic!("a live lease must refuse another owner, got {other:?}"),
    }
    let b = sections
        .claim_section(section, "b", NOW + LEASE, LEASE)
        .await
        .unwrap();
    assert_eq!(b, state(0, a.epoch + 1, "b", NOW + 2 * LEASE));
    assert!(matches!(
        sections
            .renew_lease(section, a.epoch, NOW + 5 * LEASE)
            .await,
        Err(StorageError::Fenced { .. })
    ));
    assert!(matches!(
        sections.advance_max_seq(section, a.epoch, 10).await,
        Err(StorageError::Fenced { .. })
    ));
    assert_eq!(sections.load_section(section).await.unwrap(), Some(b));
}

/// An instance that restarted elsewhere (same name, new address) takes its
/// sections back at once; another instance still waits for the lease.
pub async fn sections_restarted_instance_reclaims_at_once(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let old = sections
        .claim_section(section, "seq-0@10.0.0.1:7403", NOW, LEASE)
        .await
        .unwrap();
    assert!(matches!(
        sections
            .claim_section(section, "seq-1@10.0.0.2:7403", NOW + 1, LEASE)
            .await,
        Err(StorageError::Owned { .. })
    ));
    let new = sections
        .claim_section(section, "seq-0@10.0.0.9:7403", NOW + 1, LEASE)
        .await
        .unwrap();
    assert_eq!(
        new,
        state(0, old.epoch + 1, "seq-0@10.0.0.9:7403", NOW + 1 + LEASE)
    );
    assert!(matches!(
        sections.advance_max_seq(section, old.epoch, 5).await,
        Err(StorageError::Fenced { .. })
    ));
}

/// Renewal extends the holder's lease and never shortens it.
pub async fn sections_renew_extends_lease(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let a = sections
        .claim_section(section, "a", NOW, LEASE)
        .await
        .unwrap();
    sections
        .renew_lease(section, a.epoch, NOW + 3 * LEASE)
        .await
        .unwrap();
    sections
        .renew_lease(section, a.epoch, NOW + 2 * LEASE)
        .await
        .unwrap();
    let loaded = sections.load_section(section).await.unwrap().unwrap();
    assert_eq!(loaded, state(0, a.epoch, "a", NOW + 3 * LEASE));
    // The renewed lease keeps others out past the original one.
    assert!(matches!(
        sections
            .claim_section(section, "b", NOW + 2 * LEASE, LEASE)
            .await,
        Err(StorageError::Owned { .. })
    ));
}

/// An advance with any epoch but the current one is `Fenced` and changes
/// nothing; the current owner's advance goes through.
pub async fn sections_stale_epoch_is_fenced(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let old = sections
        .claim_section(section, "a", NOW, LEASE)
        .await
        .unwrap();
    sections
        .advance_max_seq(section, old.epoch, 100)
        .await
        .unwrap();
    let new = sections
        .claim_section(section, "a", NOW, LEASE)
        .await
        .unwrap();
    assert_eq!(new, state(100, 2, "a", NOW + LEASE));

    for attempted in [old.epoch, new.epoch + 1] {
        match sections.advance_max_seq(section, attempted, 200).await {
            Err(StorageError::Fenced {
                section: s,
                attempted: a,
                current,
            }) => {
                assert_eq!((s, a, current), (section, attempted, new.epoch));
            }
            other => panic!("epoch {attempted} must be fenced, got {other:?}"),
        }
    }
    let loaded = sections.load_section(section).await.unwrap();
    assert_eq!(loaded, Some(state(100, 2, "a", NOW + LEASE)));

    sections
        .advance_max_seq(section, new.epoch, 300)
        .await
        .unwrap();
    let loaded = sections.load_section(section).await.unwrap();
    assert_eq!(loaded, Some(state(300, 2, "a", NOW + LEASE)));

    let unclaimed = unique_section();
    match sections.advance_max_seq(unclaimed, 1, 10).await {
        Err(StorageError::Fenced { current: 0, .. }) => {}
        other => panic!("an unclaimed section must be fenced, got {other:?}"),
    }
    assert_eq!(sections.load_section(unclaimed).await.unwrap(), None);
}

/// A lower `max_seq` is ignored, and a claim keeps the persisted `max_seq`.
pub async fn sections_max_seq_never_lowers(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let owner = sections
        .claim_section(section, "a", NOW, LEASE)
        .await
        .unwrap();
    for (advance, expected) in [(500, 500), (300, 500), (500, 500), (501, 501)] {
        sections
            .advance_max_seq(section, owner.epoch, advance)
            .await
            .unwrap();
        let loaded = sections.load_section(section).await.unwrap().unwrap();
        assert_eq!(loaded.max_seq, expected, "after advancing to {advance}");
    }
    let next = sections
        .claim_section(section, "b", NOW + LEASE, LEASE)
        .await
        .unwrap();
    assert_eq!(next, state(501, 2, "b", NOW + 2 * LEASE));
}

/// Sections do not share state, and the listing shows each claimed one.
pub async fn sections_are_independent_and_listed(tables: &Tables) {
    let sections = &tables.sections;
    let (a, b) = (unique_section(), unique_section());
    let owner_a = sections.claim_section(a, "x", NOW, LEASE).await.unwrap();
    sections.claim_section(a, "x", NOW, LEASE).await.unwrap();
    let owner_b = sections.claim_section(b, "y", NOW, LEASE).await.unwrap();
    assert_eq!(owner_b.epoch, 1);
    sections
        .advance_max_seq(b, owner_b.epoch, 40)
        .await
        .unwrap();
    assert!(
        sections
            .advance_max_seq(a, owner_a.epoch, 50)
            .await
            .is_err()
    );
    let state_a = sections.load_section(a).await.unwrap();
    assert_eq!(state_a, Some(state(0, 2, "x", NOW + LEASE)));
    let state_b = sections.load_section(b).await.unwrap();
    assert_eq!(state_b, Some(state(40, 1, "y", NOW + LEASE)));

    let listed: Vec<(u32, SectionState)> = sections
        .list_sections()
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _)| *n == a || *n == b)
        .collect();
    let mut expected = vec![(a, state_a.unwrap()), (b, state_b.unwrap())];
    expected.sort_by_key(|(n, _)| *n);
    assert_eq!(listed, expected);
}

/// Concurrent claims are atomic: every claimant gets its own epoch.
pub async fn sections_concurrent_claims_get_distinct_epochs(tables: &Tables) {
    let section = unique_section();
    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let sections = tables.sections.clone();
        claims.spawn(async move { sections.claim_section(section, "a", NOW, LEASE).await });
    }
    let mut epochs = BTreeSet::new();
    while let Some(result) = claims.join_next().await {
        epochs.insert(result.expect("claim task").unwrap().epoch);
    }
    assert_eq!(epochs, (1..=8).collect());
    let loaded = tables.sections.load_section(section).await.unwrap();
    assert_eq!(loaded, Some(state(0, 8, "a", NOW + LEASE)));
}

/// A release by the holder frees the section at once, keeping its `max_seq`
/// and epoch, with an empty owner; a release by a stale epoch is `Fenced`
/// and changes nothing.
pub async fn sections_release_frees_the_section_at_once(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let a = sections
        .claim_section(section, "a@1", NOW, LEASE)
        .await
        .unwrap();
    sections.advance_max_seq(section, a.epoch, 7).await.unwrap();
    assert!(matches!(
        sections.release_section(section, a.epoch + 1).await,
        Err(StorageError::Fenced { .. })
    ));
    assert_eq!(
        sections.load_section(section).await.unwrap(),
        Some(state(7, a.epoch, "a@1", NOW + LEASE)),
        "a stale release changes nothing"
    );
    sections.release_section(section, a.epoch).await.unwrap();
    assert_eq!(
        sections.load_section(section).await.unwrap(),
        Some(state(7, a.epoch, "", 0))
    );
    // Long before a's lease would have ended, another instance claims it.
    let b = sections
        .claim_section(section, "b@2", NOW + 1, LEASE)
        .await
        .unwrap();
    assert_eq!(b, state(7, a.epoch + 1, "b@2", NOW + 1 + LEASE));
    // And a's epoch can no longer write.
    assert!(matches!(
        sections.release_section(section, a.epoch).await,
        Err(StorageError::Fenced { .. })
    ));
}
