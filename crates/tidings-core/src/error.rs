//! One small set of stable error codes, mapped once to gRPC status codes and
//! once to the client protocol's error frame. Codes travel between services in
//! the `tidings-code` metadata key so a gateway can tell a client exactly what a
//! backend refused.

use tidings_proto::client::v1 as client;

/// Stable error codes. The string form is part of the API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    MalformedFrame,
    UnknownFrame,
    FrameTooLarge,
    Unauthenticated,
    InvalidArgument,
    NotMember,
    UnknownConversation,
    BodyTooLarge,
    AlreadyAuthenticated,
    /// A transient refusal (e.g. an abandoned seq); the client retries with the
    /// same client_msg_id.
    Retry,
    Unavailable,
    Internal,
    UnknownGroup,
    Forbidden,
    AlreadyExists,
    /// Between services only: the sequence instance asked does not own the
    /// key's section; the message names the owner's address. Clients see
    /// `unavailable`.
    WrongOwner,
}

impl ErrorCode {
    /// Every code, for tests and docs.
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::MalformedFrame,
        ErrorCode::UnknownFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidArgument,
        ErrorCode::NotMember,
        ErrorCode::UnknownConversation,
        ErrorCode::BodyTooLarge,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::Retry,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::UnknownGroup,
        ErrorCode::Forbidden,
        ErrorCode::AlreadyExists,
        ErrorCode::WrongOwner,
    ];

    /// The stable string form, e.g. `not_member`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnknownFrame => "unknown_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotMember => "not_member",
            ErrorCode::UnknownConversation => "unknown_conversation",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::Retry => "retry",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::UnknownGroup => "unknown_group",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::WrongOwner => "wrong_owner",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The gRPC status code used when this error crosses a service boundary.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            ErrorCode::MalformedFrame
            | ErrorCode::UnknownFrame
            | ErrorCode::InvalidArgument
            | ErrorCode::UnknownConversation => Code::InvalidArgument,
            ErrorCode::FrameTooLarge | ErrorCode::BodyTooLarge => Code::OutOfRange,
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::NotMember => Code::PermissionDenied,
            ErrorCode::AlreadyAuthenticated => Code::FailedPrecondition,
            ErrorCode::Retry => Code::Aborted,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::Internal => Code::Internal,
            ErrorCode::UnknownGroup => Code::NotFound,
            ErrorCode::Forbidden => Code::PermissionDenied,
            ErrorCode::AlreadyExists => Code::AlreadyExists,
            ErrorCode::WrongOwner => Code::FailedPrecondition,
        }
    }

    /// The client protocol's enum value.
    pub fn to_client(self) -> client::ErrorCode {
        use client::ErrorCode as C;
        match self {
            ErrorCode::MalformedFrame => C::MalformedFrame,
            ErrorCode::UnknownFrame => C::UnknownFrame,
            ErrorCode::FrameTooLarge => C::FrameTooLarge,
            ErrorCode::Unauthenticated => C::Unauthenticated,
            ErrorCode::InvalidArgument => C::InvalidArgument,
            ErrorCode::NotMember => C::NotMember,
            ErrorCode::UnknownConversation => C::UnknownConversation,
            ErrorCode::BodyTooLarge => C::BodyTooLarge,
            ErrorCode::AlreadyAuthenticated => C::AlreadyAuthenticated,
            ErrorCode::Retry => C::Retry,
            ErrorCode::Unavailable | ErrorCode::WrongOwner => C::Unavailable,
            ErrorCode::Internal => C::Internal,
            ErrorCode::UnknownGroup => C::UnknownGroup,
            ErrorCode::Forbidden => C::Forbidden,
            ErrorCode::AlreadyExists => C::AlreadyExists,
        }
    }

    pub fn from_client(code: client::ErrorCode) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.to_client() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata key carrying the stable code across gRPC hops.
pub const CODE_METADATA_KEY: &str = "tidings-code";

/// An error with a stable code and a message saying what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Internal, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unavailable, message)
    }

    /// Converts to a gRPC status carrying the stable code in metadata.
    pub fn to_status(&self) -> tonic::Status {
        let mut status = tonic::Status::new(self.code.grpc_code(), self.message.clone());
        if let Ok(value) = self.code.as_str().parse() {
            status.metadata_mut().insert(CODE_METADATA_KEY, value);
        }
        status
    }

    /// Recovers the error from a gRPC status; statuses that did not come from a
    /// Tidings service (transport failures) map by their gRPC code.
    pub fn from_status(status: &tonic::Status) -> Self {
        let tagged = status
            .metadata()
            .get(CODE_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorCode::parse);
        let code = tagged.unwrap_or(match status.code() {
            tonic::Code::InvalidArgument => ErrorCode::InvalidArgument,
            tonic::Code::Unauthenticated => ErrorCode::Unauthenticated,
            tonic::Code::PermissionDenied => ErrorCode::NotMember,
            tonic::Code::NotFound => ErrorCode::UnknownGroup,
            tonic::Code::AlreadyExists => ErrorCode::AlreadyExists,
            tonic::Code::Aborted => ErrorCode::Retry,
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                ErrorCode::Unavailable
            }
            _ => ErrorCode::Internal,
        });
        Error::new(code, status.message().to_string())
    }

    /// The client protocol's error frame.
    pub fn to_client_frame(&self, connection_kept: bool) -> client::Error {
        client::Error {
            code: self.code.to_client() as i32,
            message: self.message.clone(),
            connection_kept,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        e.to_status()
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        Error::from_status(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_grpc_and_client_protocol() {
        for code in ErrorCode::ALL {
            let err = Error::new(code, "why");
            let back = Error::from_status(&err.to_status());
            assert_eq!(back, err);
            if code != ErrorCode::WrongOwner {
                assert_eq!(ErrorCode::from_client(code.to_client()), Some(code));
            }
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn foreign_status_maps_by_grpc_code() {
        let e = Error::from_status(&tonic::Status::unavailable("connection refused"));
        assert_eq!(e.code, ErrorCode::Unavailable);
    }
}
