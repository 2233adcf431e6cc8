//! Allocator sections: `seq_sections` keyed by the section number (u32 BE).
//!
//! Claims, renewals and advances are read-modify-write sequences under one lock, which
//! makes them atomic within the process; fjall's directory lock makes the
//! process the only writer.

use async_trait::async_trait;
use prost::Message as _;
use tidings_core::Seq;

use super::codec::{SectionRow, decode};
use super::{EmbeddedStore, FjallTables, backend, lock};
use crate::{SectionState, SectionStore, StorageError, same_instance};

const TABLE: &str = "seq_sections";

#[async_trait]
impl SectionStore for EmbeddedStore {
    async fn claim_section(
        &self,
        section: u32,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<SectionState, StorageError> {
        let owner = owner.to_string();
        self.write(move |tables| {
            let _guard = lock(&tables.section_lock);
            let current = load(tables, section)?.unwrap_or_default();
            let free = current.epoch == 0
                || same_instance(&current.owner, &owner)
                || current.lease_until_ms <= now_ms;
            if !free {
                return Err(StorageError::Owned {
                    section,
                    owner: current.owner,
                    lease_until_ms: current.lease_until_ms,
                });
            }
            let claimed = SectionRow {
                max_seq: current.max_seq,
                epoch: current.epoch + 1,
                owner,
                lease_until_ms: now_ms + lease_ms,
            };
            store(tables, section, &claimed)?;
            tracing::debug!(section, epoch = claimed.epoch, owner = %claimed.owner, "section claimed");
            Ok(state(claimed))
        })
        .await
    }

    async fn renew_lease(
        &self,
        section: u32,
        epoch: u64,
        lease_until_ms: i64,
    ) -> Result<(), StorageError> {
        self.write(move |tables| {
            let _guard = lock(&tables.section_lock);
            let mut row = owned_row(tables, section, epoch)?;
            if lease_until_ms > row.lease_until_ms {
                row.lease_until_ms = lease_until_ms;
                store(tables, section, &row)?;
            }
            Ok(())
        })
        .await
    }

    async fn advance_max_seq(
        &self,
        section: u32,
        epoch: u64,
        max_seq: Seq,
    ) -> Result<(), StorageError> {
        self.write(move |tables| {
            let _guard = lock(&tables.section_lock);
            let mut row = owned_row(tables, section, epoch)?;
            if max_seq > row.max_seq {
                row.max_seq = max_seq;
                store(tables, section, &row)?;
            }
            Ok(())
        })
        .await
    }

    async fn release_section(&self, section: u32, epoch: u64) -> Result<(), StorageError> {
        self.write(move |tables| {
            let _guard = lock(&tables.section_lock);
            let mut row = owned_row(tables, section, epoch)?;
            row.owner.clear();
            row.lease_until_ms = 0;
            store(tables, section, &row)
        })
        .await
    }

    async fn load_section(&self, section: u32) -> Result<Option<SectionState>, StorageError> {
        self.blocking(move |tables| Ok(load(tables, section)?.map(state)))
            .await
    }

    async fn list_sections(&self) -> Result<Vec<(u32, SectionState)>, StorageError> {
        self.blocking(move |tables| {
            let mut sections = Vec::new();
            for item in tables.sections.iter() {
                let (key, value) = item.into_inner().map_err(|e| backend("scan sections", e))?;
                let number: [u8; 4] =
                    key.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                        table: TABLE,
                        detail: format!("section key of {} bytes", key.len()),
                    })?;
                let row: SectionRow = decode(TABLE, &value)?;
                sections.push((u32::from_be_bytes(number), state(row)));
            }
            Ok(sections)
        })
        .await
    }
}

fn state(row: SectionRow) -> SectionState {
    SectionState {
        max_seq: row.max_seq,
        epoch: row.epoch,
        owner: row.owner,
        lease_until_ms: row.lease_until_ms,
    }
}

/// The section's row if `epoch` holds it; `Fenced` otherwise.
fn owned_row(tables: &FjallTables, section: u32, epoch: u64) -> Result<SectionRow, StorageError> {
    let current = load(tables, section)?;
    let current_epoch = current.as_ref().map_or(0, |row| row.epoch);
    current
        .filter(|row| row.epoch == epoch)
        .ok_or(StorageError::Fenced {
            section,
            attempted: epoch,
            current: current_epoch,
        })
}

fn load(tables: &FjallTables, section: u32) -> Result<Option<SectionRow>, StorageError> {
    let value = tables
        .sections
        .get(section.to_be_bytes())
        .map_err(|e| backend("read section", e))?;
    value.map(|v| decode(TABLE, &v)).transpose()
}

fn store(tables: &FjallTables, section: u32, row: &SectionRow) -> Result<(), StorageError> {
    let mut batch = tables.db.batch();
    batch.insert(
        &tables.sections,
        section.to_be_bytes().to_vec(),
        row.encode_to_vec(),
    );
    batch.commit().map_err(|e| backend("commit section", e))
}
