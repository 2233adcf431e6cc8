//! The CLI's one error type: every failure has a stable code (printed in
//! JSON errors) and an exit code, so scripts can tell a refusal from a typo
//! from an unreachable gateway.

use std::time::Duration;

use serde_json::{Value, json};
use tidings_client::ClientError;
use tidings_core::ErrorCode;

/// Exit code of a request the server refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code of a bad command line (the same as clap's own usage errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the gateway could not be reached, stopped answering or
/// broke the protocol.
pub const EXIT_CONNECTION: u8 = 3;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line is wrong; found before anything was sent.
    #[error("{0}")]
    Usage(String),

    /// The server refused a request with an error frame.
    #[error("{code}: {message}")]
    Server {
        code: ErrorCode,
        message: String,
        retry_after: Option<Duration>,
    },

    /// The gateway could not be reached, or the connection broke.
    #[error("{0}")]
    Connection(String),

    /// The gateway did not answer in time.
    #[error("{0}")]
    Timeout(String),

    /// The gateway answered something the protocol does not allow.
    #[error("{0}")]
    Protocol(String),

    /// Standard output could not be written (e.g. the reading end closed).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    /// A usage error naming the flag whose value is wrong.
    pub fn bad_value(flag: &str, why: impl std::fmt::Display) -> Self {
        CliError::Usage(format!("{flag}: {why}"))
    }

    /// The stable code: the server's error code (`not_member`,
    /// `unauthenticated`...) when the server refused, else one of `usage`,
    /// `connection`, `timeout`, `protocol`, `output`.
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Server { code, .. } => code.as_str(),
            CliError::Connection(_) => "connection",
            CliError::Timeout(_) => "timeout",
            CliError::Protocol(_) => "protocol",
            CliError::Output(_) => "output",
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Server { .. } | CliError::Output(_) => EXIT_REFUSED,
            CliError::Connection(_) | CliError::Timeout(_) | CliError::Protocol(_) => {
                EXIT_CONNECTION
            }
        }
    }

    /// `{"error": {"code", "message", "retry_after_ms"}}`; `retry_after_ms`
    /// is null unless the server said when to retry.
    pub fn to_json(&self) -> Value {
        let message = match self {
            CliError::Server { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let retry_after_ms = match self {
            CliError::Server {
                retry_after: Some(after),
                ..
            } => Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
            _ => None,
        };
        json!({
            "error": {
                "code": self.code(),
                "message": message,
                "retry_after_ms": retry_after_ms,
            }
        })
    }

    /// The one line printed on stderr without `--json`.
    pub fn to_line(&self) -> String {
        match self {
            CliError::Server {
                retry_after: Some(after),
                ..
            } => format!("error: {self} (retry after {} ms)", after.as_millis()),
            other => format!("error: {other}"),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Server {
                code,
                message,
                retry_after,
                ..
            } => CliError::Server {
                code,
                message,
                retry_after,
            },
            ClientError::Timeout { timeout, .. } => {
                CliError::Timeout(format!("no answer from the gateway within {timeout:?}"))
            }
            e @ (ClientError::Transport(_) | ClientError::Closed) => {
                CliError::Connection(e.to_string())
            }
            e @ (ClientError::UnexpectedFrame { .. } | ClientError::Protocol(_)) => {
                CliError::Protocol(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_refusals_keep_their_stable_code() {
        let error = CliError::from(ClientError::Server {
            code: ErrorCode::NotMember,
            message: "alice is not in g:team".into(),
            connection_kept: true,
            retry_after: None,
        });
        assert_eq!(error.exit_code(), EXIT_REFUSED);
        assert_eq!(
            error.to_json(),
            json!({"error": {
                "code": "not_member",
                "message": "alice is not in g:team",
                "retry_after_ms": null,
            }})
        );
        assert_eq!(error.to_line(), "error: not_member: alice is not in g:team");
    }

    #[test]
    fn local_failures_have_their_own_codes_and_exit_codes() {
        let usage = CliError::bad_value("--to", "user_id may contain only letters");
        assert_eq!((usage.code(), usage.exit_code()), ("usage", EXIT_USAGE));
        assert_eq!(
            usage.to_json()["error"]["message"],
            "--to: user_id may contain only letters"
        );
        let closed = CliError::from(ClientError::Closed);
        assert_eq!(
            (closed.code(), closed.exit_code()),
            ("connection", EXIT_CONNECTION)
        );
        let limited = CliError::Server {
            code: ErrorCode::RateLimited,
            message: "too many sends".into(),
            retry_after: Some(Duration::from_millis(250)),
        };
        assert_eq!(limited.to_json()["error"]["retry_after_ms"], 250);
        assert!(limited.to_line().ends_with("(retry after 250 ms)"));
    }
}
