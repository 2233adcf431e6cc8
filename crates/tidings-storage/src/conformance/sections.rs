//! Allocator sections: epochs fence stale owners, `max_seq` never goes back.

use std::collections::BTreeSet;

use super::unique_section;
use crate::{SectionState, StorageError, Tables};

/// Each claim returns an epoch one above the previous, starting at 1.
pub async fn sections_claim_increments_epoch(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    assert_eq!(sections.load_section(section).await.unwrap(), None);
    let first = sections.claim_section(section).await.unwrap();
    assert_eq!(
        first,
        SectionState {
            max_seq: 0,
            epoch: 1
        }
    );
    let second = sections.claim_section(section).await.unwrap();
    assert_eq!(
        second,
        SectionState {
            max_seq: 0,
            epoch: 2
        }
    );
    assert_eq!(sections.load_section(section).await.unwrap(), Some(second));
}

/// An advance with any epoch but the current one is `Fenced` and changes
/// nothing; the current owner's advance goes through.
pub async fn sections_stale_epoch_is_fenced(tables: &Tables) {
    let sections = &tables.sections;
    let section = unique_section();
    let old = sections.claim_section(section).await.unwrap();
    sections
        .advance_max_seq(section, old.epoch, 100)
        .await
        .unwrap();
    let new = sections.claim_section(section).await.unwrap();
    assert_eq!(
        new,
        SectionState {
            max_seq: 100,
            epoch: 2
        }
    );

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
    let state = sections.load_section(section).await.unwrap();
    assert_eq!(
        state,
        Some(SectionState {
            max_seq: 100,
            epoch: 2
        })
    );

    sections
        .advance_max_seq(section, new.epoch, 300)
        .await
        .unwrap();
    let state = sections.load_section(section).await.unwrap();
    assert_eq!(
        state,
        Some(SectionState {
            max_seq: 300,
            epoch: 2
        })
    );

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
    let owner = sections.claim_section(section).await.unwrap();
    for (advance, expected) in [(500, 500), (300, 500), (500, 500), (501, 501)] {
        sections
            .advance_max_seq(section, owner.epoch, advance)
            .await
            .unwrap();
        let state = sections.load_section(section).await.unwrap().unwrap();
        assert_eq!(state.max_seq, expected, "after advancing to {advance}");
    }
    let next = sections.claim_section(section).await.unwrap();
    assert_eq!(
        next,
        SectionState {
            max_seq: 501,
            epoch: 2
        }
    );
}

/// Sections do not share state.
pub async fn sections_are_independent(tables: &Tables) {
    let sections = &tables.sections;
    let (a, b) = (unique_section(), unique_section());
    let owner_a = sections.claim_section(a).await.unwrap();
    sections.claim_section(a).await.unwrap();
    let owner_b = sections.claim_section(b).await.unwrap();
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
    assert_eq!(
        state_a,
        Some(SectionState {
            max_seq: 0,
            epoch: 2
        })
    );
    let state_b = sections.load_section(b).await.unwrap();
    assert_eq!(
        state_b,
        Some(SectionState {
            max_seq: 40,
            epoch: 1
        })
    );
}

/// Concurrent claims are atomic: every claimant gets its own epoch.
pub async fn sections_concurrent_claims_get_distinct_epochs(tables: &Tables) {
    let section = unique_section();
    let mut claims = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let sections = tables.sections.clone();
        claims.spawn(async move { sections.claim_section(section).await });
    }
    let mut epochs = BTreeSet::new();
    while let Some(result) = claims.join_next().await {
        epochs.insert(result.expect("claim task").unwrap().epoch);
    }
    assert_eq!(epochs, (1..=8).collect());
    let state = tables.sections.load_section(section).await.unwrap();
    assert_eq!(
        state,
        Some(SectionState {
            max_seq: 0,
            epoch: 8
        })
    );
}
