//! Allocator sections: `seq_sections`, changed only by lightweight
//! transactions (the one place DESIGN §3 allows them).
//!
//! A claim reads the row, decides as the trait says (free when never claimed,
//! held by the same instance, or its lease has ended), then writes the new
//! epoch on the condition that the whole row is still what it read: `INSERT
//! ... IF NOT EXISTS` for a new section, `UPDATE ... IF epoch = ? AND max_seq
//! = ? AND owner = ? AND lease_until_ms = ?` otherwise. When the condition
//! fails, the LWT answer carries the current row, and the claim decides again
//! from it. Renewals and advances are `UPDATE ... IF epoch = ? AND <column> <
//! ?`: a refusal whose answer shows our epoch means "already at least that",
//! any other is `Fenced`.
//!
//! LWT answers differ between servers (see `lwt`); whatever a refusal's
//! answer does not carry is read again at serial consistency.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use tidings_core::Seq;
use tidings_storage::{SectionState, SectionStore, StorageError, same_instance};

use crate::codec::{seq_from_cql, signed_seq};
use crate::lwt::LwtOutcome;
use crate::store::ScyllaStore;

/// Attempts of one operation before it gives up: each lost race or timed-out
/// transaction costs one.
const MAX_ATTEMPTS: u32 = 32;

/// Columns of `seq_sections` read back.
type SectionRow = (Option<i64>, Option<i64>, Option<String>, Option<i64>);

#[async_trait]
impl SectionStore for ScyllaStore {
    async fn claim_section(
        &self,
        section: u32,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<SectionState, StorageError> {
        let lease_until_ms = now_ms.saturating_add(lease_ms);
        let mut current = self.read_section(section, false).await?;
        let mut last_error = None;
        for attempt in 0..MAX_ATTEMPTS {
            let outcome = match &current {
                None => {
                    let values = (cql_section(section), 0_i64, 1_i64, owner, lease_until_ms);
                    let statement = &self.statements.insert_section;
                    self.transaction("claim new section", statement, values)
                        .await
                }
                Some(held) => {
                    let free = same_instance(&held.owner, owner) || held.lease_until_ms <= now_ms;
                    if !free {
                        return Err(StorageError::Owned {
                            section,
                            owner: held.owner.clone(),
                            lease_until_ms: held.lease_until_ms,
                        });
                    }
                    let values = (
                        epoch_to_cql(held.epoch + 1)?,
                        owner,
                        lease_until_ms,
                        cql_section(section),
                        epoch_to_cql(held.epoch)?,
                        signed_seq("max_seq", held.max_seq)?,
                        held.owner.as_str(),
                        held.lease_until_ms,
                    );
                    let statement = &self.statements.claim_section;
                    self.transaction("claim section", statement, values).await
                }
            };
            match outcome {
                Ok(outcome) if outcome.applied => {
                    let claimed = SectionState {
                        max_seq: current.as_ref().map_or(0, |held| held.max_seq),
                        epoch: current.as_ref().map_or(1, |held| held.epoch + 1),
                        owner: owner.to_string(),
                        lease_until_ms,
                    };
                    tracing::debug!(section, epoch = claimed.epoch, owner, "section claimed");
                    return Ok(claimed);
                }
                // Someone changed the row since it was read: decide again on
                // what it is now.
                Ok(outcome) => match section_state(&outcome) {
                    Some(state) => current = Some(state),
                    None => current = self.read_section(section, true).await?,
                },
                Err(error) => {
                    // The transaction may or may not have been applied: read
                    // again and decide again (a claim that did land is simply
                    // superseded by the next one).
                    tracing::debug!(section, attempt, %error, "section claim retried");
                    last_error = Some(error);
                    backoff(attempt).await;
                    current = self.read_section(section, true).await?;
                }
            }
        }
        Err(gave_up("claim", section, last_error))
    }

    async fn renew_lease(
        &self,
        section: u32,
        epoch: u64,
        lease_until_ms: i64,
    ) -> Result<(), StorageError> {
        let values = (
            lease_until_ms,
            cql_section(section),
            epoch_to_cql(epoch)?,
            lease_until_ms,
        );
        let statement = &self.statements.renew_lease;
        self.conditional_update("renew lease", statement, values, section, epoch)
            .await
    }

    async fn advance_max_seq(
        &self,
        section: u32,
        epoch: u64,
        max_seq: Seq,
    ) -> Result<(), StorageError> {
        let max_seq = signed_seq("max_seq", max_seq)?;
        let values = (max_seq, cql_section(section), epoch_to_cql(epoch)?, max_seq);
        let statement = &self.statements.advance_max_seq;
        self.conditional_update("advance max_seq", statement, values, section, epoch)
            .await
    }

    async fn release_section(&self, section: u32, epoch: u64) -> Result<(), StorageError> {
        let values = (cql_section(section), epoch_to_cql(epoch)?);
        let statement = &self.statements.release_section;
        self.conditional_update("release section", statement, values, section, epoch)
            .await
    }

    async fn load_section(&self, section: u32) -> Result<Option<SectionState>, StorageError> {
        self.read_section(section, false).await
    }

    async fn list_sections(&self) -> Result<Vec<(u32, SectionState)>, StorageError> {
        // A full scan, paged: the table has one row per section (a few
        // thousand at most) and is read when the routing table is rebuilt.
        let statement = &self.statements.list_sections;
        let rows: Vec<(i32, Option<i64>, Option<i64>, Option<String>, Option<i64>)> = self
            .rows("list sections", statement, ())
            .await?
            .try_collect()
            .await?;
        let mut sections: Vec<(u32, SectionState)> = rows
            .into_iter()
            .filter_map(|(section, max_seq, epoch, owner, lease)| {
                let state = state_from_row((max_seq, epoch, owner, lease))?;
                Some((section_from_cql(section), state))
            })
            .collect();
        sections.sort_by_key(|(section, _)| *section);
        Ok(sections)
    }
}

impl ScyllaStore {
    /// The section's row; at serial consistency when `serial`, which also
    /// completes any transaction left half-way.
    async fn read_section(
        &self,
        section: u32,
        serial: bool,
    ) -> Result<Option<SectionState>, StorageError> {
        let statement = if serial {
            &self.statements.select_section_serial
        } else {
            &self.statements.select_section
        };
        let row: Option<SectionRow> = self
            .one_row("read section", statement, (cql_section(section),))
            .await?;
        Ok(row.and_then(state_from_row))
    }

    /// Runs a conditional update that `epoch` may make; a refusal that shows
    /// `epoch` still holding the section means the row is already at least
    /// what was asked.
    async fn conditional_update(
        &self,
        action: &'static str,
        statement: &PreparedStatement,
        values: impl SerializeRow + Clone,
        section: u32,
        epoch: u64,
    ) -> Result<(), StorageError> {
        let mut last_error = None;
        for attempt in 0..MAX_ATTEMPTS {
            let outcome = match self.transaction(action, statement, values.clone()).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    // Retrying is safe: the update is conditional on its own
                    // effect not being there yet.
                    tracing::debug!(section, attempt, %error, "{action} retried");
                    last_error = Some(error);
                    backoff(attempt).await;
                    continue;
                }
            };
            if outcome.applied {
                return Ok(());
            }
            let current = match outcome.bigint("epoch") {
                Some(Some(current)) => current as u64,
                _ => self
                    .read_section(section, true)
                    .await?
                    .map_or(0, |state| state.epoch),
            };
            if current == epoch {
                return Ok(());
            }
            return Err(StorageError::Fenced {
                section,
                attempted: epoch,
                current,
            });
        }
        Err(gave_up(action, section, last_error))
    }
}

/// The row a refused transaction sent back, when it sent all of it.
fn section_state(outcome: &LwtOutcome) -> Option<SectionState> {
    state_from_row((
        outcome.bigint("max_seq")?,
        outcome.bigint("epoch")?,
        outcome.text("owner")?,
        outcome.bigint("lease_until_ms")?,
    ))
}

fn state_from_row(row: SectionRow) -> Option<SectionState> {
    let (max_seq, epoch, owner, lease_until_ms) = row;
    Some(SectionState {
        max_seq: seq_from_cql(max_seq?),
        epoch: u64::try_from(epoch?).ok()?,
        owner: owner?,
        lease_until_ms: lease_until_ms?,
    })
}

/// Section numbers are `u32`; the column is `int`, holding the same bits.
fn cql_section(section: u32) -> i32 {
    section as i32
}

fn section_from_cql(section: i32) -> u32 {
    section as u32
}

fn epoch_to_cql(epoch: u64) -> Result<i64, StorageError> {
    i64::try_from(epoch).map_err(|_| StorageError::Backend(format!("epoch {epoch} out of range")))
}

/// Waits a little longer after each failed attempt (5 ms to 200 ms), with
/// jitter so that racing instances spread out.
async fn backoff(attempt: u32) {
    let base = 5u64 << attempt.min(5);
    let jitter = u64::from(std::process::id() ^ now_nanos()) % base.max(1);
    tokio::time::sleep(Duration::from_millis((base + jitter).min(200))).await;
}

fn now_nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

/// The failure after [`MAX_ATTEMPTS`] in a row: as transient as the last
/// error (a cluster that stayed unreachable), and transient when every
/// attempt lost a race (contention passes); a refused statement stays a
/// backend failure.
fn gave_up(action: &str, section: u32, last_error: Option<StorageError>) -> StorageError {
    let detail = format!("section {section}: {action} failed {MAX_ATTEMPTS} times in a row");
    match last_error {
        None => StorageError::Unavailable(detail),
        Some(e @ (StorageError::Backend(_) | StorageError::Corrupt { .. })) => {
            StorageError::Backend(format!("{detail}; last: {e}"))
        }
        Some(e) => StorageError::Unavailable(format!("{detail}; last: {e}")),
    }
}
