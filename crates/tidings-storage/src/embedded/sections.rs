//! Allocator sections: `seq_sections` keyed by the section number (u32 BE).
//!
//! Claims and advances are read-modify-write sequences under one lock, which
//! makes them atomic within the process; fjall's directory lock makes the
//! process the only writer.

use async_trait::async_trait;
use prost::Message as _;
use tidings_core::Seq;

use super::codec::{SectionRow, decode};
use super::{EmbeddedStore, FjallTables, backend, lock};
use crate::{SectionState, SectionStore, StorageError};

const TABLE: &str = "seq_sections";

#[async_trait]
impl SectionStore for EmbeddedStore {
    async fn claim_section(&self, section: u32) -> Result<SectionState, StorageError> {
        self.write(move |tables| {
            let _guard = lock(&tables.section_lock);
            let current = load(tables, section)?.unwrap_or_default();
            let claimed = SectionRow {
                max_seq: current.max_seq,
                epoch: current.epoch + 1,
            };
            store(tables, section, &claimed)?;
            tracing::info!(section, epoch = claimed.epoch, "section claimed");
            Ok(SectionState {
                max_seq: claimed.max_seq,
                epoch: claimed.epoch,
            })
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
            let current = load(tables, section)?;
            let current_epoch = current.as_ref().map_or(0, |row| row.epoch);
            let Some(mut row) = current.filter(|row| row.epoch == epoch) else {
                return Err(StorageError::Fenced {
                    section,
                    attempted: epoch,
                    current: current_epoch,
                });
            };
            if max_seq > row.max_seq {
                row.max_seq = max_seq;
                store(tables, section, &row)?;
            }
            Ok(())
        })
        .await
    }

    async fn load_section(&self, section: u32) -> Result<Option<SectionState>, StorageError> {
        self.blocking(move |tables| {
            Ok(load(tables, section)?.map(|row| SectionState {
                max_seq: row.max_seq,
                epoch: row.epoch,
            }))
        })
        .await
    }
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
