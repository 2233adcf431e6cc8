//! Which driver errors mean "the cluster could not be reached or did not
//! answer in time" ([`StorageError::Unavailable`]: the caller retries, and a
//! retry is expected to succeed once the node is back) and which mean a bug
//! or a misconfiguration ([`StorageError::Backend`]: a retry fails the same
//! way).
//!
//! Decided on the driver's typed variants only, never on error text: the
//! text is the driver's to change between releases. The driver's enums are
//! `non_exhaustive`, so a variant this code does not know is not transient;
//! a new transient one shows up as `INTERNAL` until it is listed here.

use std::fmt::Display;

use scylla::errors::{
    ConnectionError, ConnectionPoolError, ConnectionSetupRequestErrorKind, DbError,
    DeserializationError, ExecutionError, FirstRowError, IntoRowsResultError, MaybeFirstRowError,
    MetadataError, MetadataFetchErrorKind, NewSessionError, NextPageError, NextRowError,
    PagerExecutionError, PrepareError, RequestAttemptError, RequestError, RowsError,
    SchemaAgreementError, TranslationError, TypeCheckError, UseKeyspaceError,
};

use crate::StorageError;

/// A driver error that can say whether it is transient.
pub(crate) trait DriverError: Display {
    /// The cluster could not be reached, or did not answer in time: network,
    /// timeout, node down, bootstrapping or overloaded, replica failure.
    fn is_transient(&self) -> bool;
}

/// `detail` as the storage error that `error` calls for.
pub(crate) fn classify(error: &impl DriverError, detail: String) -> StorageError {
    if error.is_transient() {
        StorageError::Unavailable(detail)
    } else {
        StorageError::Backend(detail)
    }
}

/// What a node answered: transient when it (or the replicas it asked) could
/// not serve the request now, not when the request itself is wrong.
fn db_error(error: &DbError) -> bool {
    matches!(
        error,
        DbError::Unavailable { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::ReadTimeout { .. }
            | DbError::WriteTimeout { .. }
            // A replica failed to read or write (its disk, or it is going
            // down); another attempt may reach replicas that can.
            | DbError::ReadFailure { .. }
            | DbError::WriteFailure { .. }
            | DbError::RateLimitReached { .. }
    )
}

fn attempt(error: &RequestAttemptError) -> bool {
    match error {
        RequestAttemptError::BrokenConnectionError(_)
        | RequestAttemptError::UnableToAllocStreamId => true,
        RequestAttemptError::DbError(db, _) => db_error(db),
        _ => false,
    }
}

fn connection(error: &ConnectionError) -> bool {
    match error {
        ConnectionError::ConnectTimeout
        | ConnectionError::IoError(_)
        | ConnectionError::BrokenConnection(_)
        | ConnectionError::NoSourcePortForShard(_) => true,
        ConnectionError::TranslationError(e) => matches!(
            e,
            TranslationError::IoError(_) | TranslationError::DnsLookupFailed(_)
        ),
        // Refused credentials or protocol are not cured by waiting; a node
        // that refused a connection while starting or overloaded is.
        ConnectionError::ConnectionSetupRequestError(e) => match e.get_error() {
            ConnectionSetupRequestErrorKind::BrokenConnection(_)
            | ConnectionSetupRequestErrorKind::UnableToAllocStreamId => true,
            ConnectionSetupRequestErrorKind::DbError(db, _) => db_error(db),
            _ => false,
        },
        ConnectionError::UseKeyspaceError(e) => e.is_transient(),
        _ => false,
    }
}

fn pool(error: &ConnectionPoolError) -> bool {
    match error {
        ConnectionPoolError::Broken {
            last_connection_error,
        } => connection(last_connection_error),
        // Still connecting, e.g. right after the node came back.
        ConnectionPoolError::Initializing => true,
        _ => false,
    }
}

impl DriverError for ExecutionError {
    fn is_transient(&self) -> bool {
        match self {
            ExecutionError::ConnectionPoolError(e) => pool(e),
            ExecutionError::LastAttemptError(e) => attempt(e),
            ExecutionError::RequestTimeout(_) => true,
            ExecutionError::PrepareError(e) => e.is_transient(),
            ExecutionError::UseKeyspaceError(e) => e.is_transient(),
            ExecutionError::SchemaAgreementError(e) => e.is_transient(),
            ExecutionError::MetadataError(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl DriverError for PrepareError {
    fn is_transient(&self) -> bool {
        match self {
            PrepareError::ConnectionPoolError(e) => pool(e),
            PrepareError::AllAttemptsFailed { first_attempt } => attempt(first_attempt),
            _ => false,
        }
    }
}

impl DriverError for RequestError {
    fn is_transient(&self) -> bool {
        match self {
            RequestError::ConnectionPoolError(e) => pool(e),
            RequestError::RequestTimeout(_) => true,
            RequestError::LastAttemptError(e) => attempt(e),
            _ => false,
        }
    }
}

impl DriverError for NextPageError {
    fn is_transient(&self) -> bool {
        match self {
            NextPageError::RequestFailure(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl DriverError for NextRowError {
    fn is_transient(&self) -> bool {
        match self {
            NextRowError::NextPageError(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl DriverError for PagerExecutionError {
    fn is_transient(&self) -> bool {
        match self {
            PagerExecutionError::PrepareError(e) => e.is_transient(),
            PagerExecutionError::NextPageError(e) => e.is_transient(),
            PagerExecutionError::UseKeyspaceError(e) => e.is_transient(),
            PagerExecutionError::SchemaAgreementError(e) => e.is_transient(),
            PagerExecutionError::MetadataError(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl DriverError for UseKeyspaceError {
    fn is_transient(&self) -> bool {
        match self {
            UseKeyspaceError::RequestError(e) => attempt(e),
            UseKeyspaceError::RequestTimeout(_) => true,
            _ => false,
        }
    }
}

impl DriverError for SchemaAgreementError {
    fn is_transient(&self) -> bool {
        match self {
            SchemaAgreementError::ConnectionPoolError(e) => pool(e),
            SchemaAgreementError::PrepareError(e) => e.is_transient(),
            SchemaAgreementError::RequestError(e) => attempt(e),
            // A node that must agree is not connected (down, restarting).
            SchemaAgreementError::Timeout(_) | SchemaAgreementError::RequiredHostAbsent(_) => true,
            _ => false,
        }
    }
}

impl DriverError for MetadataError {
    fn is_transient(&self) -> bool {
        match self {
            MetadataError::ConnectionPoolError(e) => pool(e),
            MetadataError::FetchError(e) => match &e.error {
                MetadataFetchErrorKind::PrepareError(e) => attempt(e),
                MetadataFetchErrorKind::NextRowError(e) => e.is_transient(),
                _ => false,
            },
            _ => false,
        }
    }
}

impl DriverError for NewSessionError {
    fn is_transient(&self) -> bool {
        match self {
            // DNS did not answer (yet), e.g. a node's name in a starting cluster.
            NewSessionError::FailedToResolveAnyHostname(_) => true,
            NewSessionError::MetadataError(e) => e.is_transient(),
            NewSessionError::UseKeyspaceError(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// Errors of reading an answer that did arrive: its shape is wrong for what
/// was asked, which no retry changes.
macro_rules! never_transient {
    ($($error:ty),+ $(,)?) => {
        $(impl DriverError for $error {
            fn is_transient(&self) -> bool {
                false
            }
        })+
    };
}

never_transient!(
    IntoRowsResultError,
    MaybeFirstRowError,
    FirstRowError,
    RowsError,
    TypeCheckError,
    DeserializationError,
);

#[cfg(test)]
mod tests {
    use std::io::{Error as IoError, ErrorKind};
    use std::sync::Arc;
    use std::time::Duration;

    use scylla::errors::{BadQuery, WriteType};
    use scylla::statement::Consistency;

    use super::*;

    fn refused() -> ConnectionError {
        ConnectionError::IoError(Arc::new(IoError::from(ErrorKind::ConnectionRefused)))
    }

    fn answered(db: DbError) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, "from the node".into()))
    }

    #[test]
    fn an_unreachable_or_slow_cluster_is_unavailable() {
        let transient = [
            // The node is down: every connection of its pool refused.
            ExecutionError::ConnectionPoolError(ConnectionPoolError::Broken {
                last_connection_error: refused(),
            }),
            ExecutionError::ConnectionPoolError(ConnectionPoolError::Broken {
                last_connection_error: ConnectionError::ConnectTimeout,
            }),
            ExecutionError::ConnectionPoolError(ConnectionPoolError::Initializing),
            ExecutionError::RequestTimeout(Duration::from_secs(10)),
            answered(DbError::Overloaded),
            answered(DbError::IsBootstrapping),
            answered(DbError::Unavailable {
                consistency: Consistency::LocalQuorum,
                required: 2,
                alive: 1,
            }),
            answered(DbError::ReadTimeout {
                consistency: Consistency::LocalQuorum,
                received: 1,
                required: 2,
                data_present: false,
            }),
            answered(DbError::WriteTimeout {
                consistency: Consistency::LocalQuorum,
                received: 1,
                required: 2,
                write_type: WriteType::Cas,
            }),
            ExecutionError::PrepareError(PrepareError::ConnectionPoolError(
                ConnectionPoolError::Initializing,
            )),
        ];
        for error in transient {
            assert!(error.is_transient(), "{error}");
            let classified = classify(&error, error.to_string());
            assert!(matches!(classified, StorageError::Unavailable(_)));
            assert_eq!(
                tidings_core::Error::from(classified).code,
                tidings_core::ErrorCode::Unavailable
            );
        }
    }

    #[test]
    fn a_refused_statement_is_internal() {
        let permanent = [
            answered(DbError::SyntaxError),
            answered(DbError::Invalid),
            answered(DbError::Unauthorized),
            answered(DbError::ServerError),
            ExecutionError::BadQuery(BadQuery::PartitionKeyExtraction),
            ExecutionError::EmptyPlan,
            ExecutionError::ConnectionPoolError(ConnectionPoolError::NodeDisabledByHostFilter),
        ];
        for error in permanent {
            assert!(!error.is_transient(), "{error}");
            assert!(matches!(
                classify(&error, error.to_string()),
                StorageError::Backend(_)
            ));
        }
    }

    #[test]
    fn paged_reads_classify_by_the_request_that_failed() {
        let timed_out = NextRowError::NextPageError(NextPageError::RequestFailure(
            RequestError::RequestTimeout(Duration::from_secs(10)),
        ));
        assert!(timed_out.is_transient());
        let node_down = PagerExecutionError::NextPageError(NextPageError::RequestFailure(
            RequestError::ConnectionPoolError(ConnectionPoolError::Broken {
                last_connection_error: refused(),
            }),
        ));
        assert!(node_down.is_transient());
        let refused_statement = NextRowError::NextPageError(NextPageError::RequestFailure(
            RequestError::LastAttemptError(RequestAttemptError::DbError(
                DbError::Invalid,
                "no such column".into(),
            )),
        ));
        assert!(!refused_statement.is_transient());
        assert!(!RequestError::EmptyPlan.is_transient());
    }
}
