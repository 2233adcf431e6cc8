//! Column additions in schema versions, and how `migrate` keeps them
//! idempotent.
//!
//! `CREATE ... IF NOT EXISTS` can run twice; `ALTER TABLE ... ADD` cannot
//! (the second run finds the column and fails), and `ADD IF NOT EXISTS` is
//! not portable CQL. So a version adds one column per statement, and
//! `migrate` first asks `system_schema.columns` (present on Cassandra and
//! ScyllaDB alike) whether the table already has it, and skips the statement
//! if so. A version interrupted half-way is then applied again like any
//! other.

use scylla::client::session::Session;

use crate::StorageError;
use crate::session::backend;

/// The column a schema statement adds: `(table, column)` for `ALTER TABLE
/// {keyspace}.<table> ADD <column> <type>`, `None` for any other statement.
/// Names are unquoted CQL identifiers, which the server folds to lowercase.
pub(crate) fn added_column(statement: &str) -> Option<(String, String)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let [alter, table_word, table, add, column, _type, ..] = words.as_slice() else {
        return None;
    };
    let is = |word: &str, keyword: &str| word.eq_ignore_ascii_case(keyword);
    if !is(alter, "ALTER") || !is(table_word, "TABLE") || !is(add, "ADD") {
        return None;
    }
    let table = table.strip_prefix("{keyspace}.")?;
    let plain = |name: &str| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !plain(table) || !plain(column) || is(column, "IF") {
        return None;
    }
    Some((table.to_ascii_lowercase(), column.to_ascii_lowercase()))
}

/// Whether `keyspace.table` has a column named `column`.
pub(crate) async fn has_column(
    session: &Session,
    keyspace: &str,
    table: &str,
    column: &str,
) -> Result<bool, StorageError> {
    let cql = "SELECT column_name FROM system_schema.columns \
               WHERE keyspace_name = ? AND table_name = ? AND column_name = ?";
    let rows = session
        .query_unpaged(cql, (keyspace, table, column))
        .await
        .map_err(backend("read schema columns"))?
        .into_rows_result()
        .map_err(backend("read schema columns"))?;
    Ok(rows.rows_num() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_one_column_an_alter_adds() {
        assert_eq!(
            added_column("ALTER TABLE {keyspace}.dedupe ADD state text"),
            Some(("dedupe".to_string(), "state".to_string()))
        );
        assert_eq!(
            added_column(
                "alter table {keyspace}.Dedupe add Inbox_Seqs frozen<list<frozen<tuple<text, bigint>>>>"
            ),
            Some(("dedupe".to_string(), "inbox_seqs".to_string()))
        );
    }

    #[test]
    fn other_statements_add_nothing() {
        for statement in [
            "ALTER TABLE {keyspace}.messages WITH compaction = {'class': 'X'}",
            "ALTER TABLE {keyspace}.dedupe ADD (a int, b int)",
            "ALTER TABLE {keyspace}.dedupe ADD IF NOT EXISTS a int",
            "ALTER TABLE {keyspace}.dedupe ADD a",
            "ALTER TABLE other.dedupe ADD a int",
            "ALTER TABLE {keyspace}.dedupe ADD \"Quoted\" int",
            "CREATE TABLE IF NOT EXISTS {keyspace}.t (a int PRIMARY KEY)",
        ] {
            assert_eq!(added_column(statement), None, "{statement}");
        }
    }
}
