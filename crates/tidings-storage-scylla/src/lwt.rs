//! Lightweight transactions: running one and reading its answer.
//!
//! LWT answers differ between servers: Cassandra returns `[applied]` and, on
//! refusal, the columns of the condition (or the whole row for `IF NOT
//! EXISTS`); ScyllaDB returns `[applied]` and the row's columns either way.
//! Both are read the same way: `[applied]`, then the columns by name.
//! Only `seq_sections` and `groups` use them (never the message path).

use std::collections::HashMap;

use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};

use crate::StorageError;
use crate::session::backend;
use crate::store::ScyllaStore;

/// The answer of a lightweight transaction: whether it applied, and the
/// columns the server sent back, by name (`None` for a null).
#[derive(Debug)]
pub(crate) struct LwtOutcome {
    pub(crate) applied: bool,
    columns: HashMap<String, Option<CqlValue>>,
}

impl LwtOutcome {
    fn read(result: QueryResult) -> Result<Self, String> {
        let rows = result.into_rows_result().map_err(|e| e.to_string())?;
        let names: Vec<String> = rows
            .column_specs()
            .iter()
            .map(|spec| spec.name().to_string())
            .collect();
        let row: Row = rows
            .first_row()
            .map_err(|e| format!("unreadable transaction answer: {e}"))?;
        let columns: HashMap<String, Option<CqlValue>> =
            names.into_iter().zip(row.columns).collect();
        let applied = match columns.get("[applied]") {
            Some(Some(CqlValue::Boolean(applied))) => *applied,
            other => return Err(format!("transaction answer without [applied]: {other:?}")),
        };
        Ok(LwtOutcome { applied, columns })
    }

    /// A `bigint` column: `None` when not sent, `Some(None)` when null.
    pub(crate) fn bigint(&self, name: &str) -> Option<Option<i64>> {
        match self.columns.get(name)? {
            Some(CqlValue::BigInt(value)) => Some(Some(*value)),
            _ => Some(None),
        }
    }

    /// A `text` column: `None` when not sent, `Some(None)` when null.
    pub(crate) fn text(&self, name: &str) -> Option<Option<String>> {
        match self.columns.get(name)? {
            Some(CqlValue::Text(value)) => Some(Some(value.clone())),
            _ => Some(None),
        }
    }
}

impl ScyllaStore {
    /// Runs one LWT and reads its answer.
    pub(crate) async fn transaction(
        &self,
        action: &'static str,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<LwtOutcome, StorageError> {
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(backend(action))?;
        LwtOutcome::read(result).map_err(|e| StorageError::Backend(format!("cql {action}: {e}")))
    }
}
