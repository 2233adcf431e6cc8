//! One small set of stable error codes, mapped once to gRPC status codes and
//! once to the client protocol's error frame. Codes travel between services in
//! the `tidings-code` metadata key so a gateway can tell a client exactly what a
//! backend refused. Facts a caller acts on (e.g. which instance owns a
//! section) travel beside the text as a structured `google.rpc.ErrorInfo` in
//! the status details, never inside the message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tidings_proto::client::v1 as client;
use tonic_types::{ErrorDetails, StatusExt};

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
    /// key's section; the error's [`ErrorInfo`] names the section and its
    /// owner. Clients see `unavailable`.
    WrongOwner,
    /// A limit was reached (a rate, or a cap on connections or groups); the
    /// error's [`ErrorInfo`] may say when to retry ([`Error::retry_after`]).
    RateLimited,
    /// An event (edit, recall, delete, reaction) names no message of its
    /// conversation, or names another event.
    UnknownMessage,
    /// An edit or recall came after `logic.edit_window_secs`.
    EditWindowPassed,
    /// The target has `logic.max_distinct_reactions` distinct emoji already.
    TooManyReactions,
    /// The target was recalled or deleted.
    MessageRemoved,
    /// The before_send webhook refused the message; the message is its
    /// reason.
    Rejected,
}

impl ErrorCode {
    /// Every code, for tests and docs.
    pub const ALL: [ErrorCode; 22] = [
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
        ErrorCode::RateLimited,
        ErrorCode::UnknownMessage,
        ErrorCode::EditWindowPassed,
        ErrorCode::TooManyReactions,
        ErrorCode::MessageRemoved,
        ErrorCode::Rejected,
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
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::EditWindowPassed => "edit_window_passed",
            ErrorCode::TooManyReactions => "too_many_reactions",
            ErrorCode::MessageRemoved => "message_removed",
            ErrorCode::Rejected => "rejected",
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
            ErrorCode::RateLimited => Code::ResourceExhausted,
            ErrorCode::UnknownMessage => Code::NotFound,
            ErrorCode::EditWindowPassed | ErrorCode::MessageRemoved => Code::FailedPrecondition,
            ErrorCode::TooManyReactions => Code::ResourceExhausted,
            ErrorCode::Rejected => Code::PermissionDenied,
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
            ErrorCode::RateLimited => C::RateLimited,
            ErrorCode::UnknownMessage => C::UnknownMessage,
            ErrorCode::EditWindowPassed => C::EditWindowPassed,
            ErrorCode::TooManyReactions => C::TooManyReactions,
            ErrorCode::MessageRemoved => C::MessageRemoved,
            ErrorCode::Rejected => C::Rejected,
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

/// The [`ErrorInfo`] of a rate-limit refusal: domain, reason, and the
/// metadata key of the delay after which a retry can pass.
const LIMITS_DOMAIN: &str = "tidings.limits";
const RATE_LIMITED_REASON: &str = "RATE_LIMITED";
const RETRY_AFTER_MS: &str = "retry_after_ms";

/// Structured facts about an error, for the program that receives it (the
/// shape of `google.rpc.ErrorInfo`): the caller matches `reason` and `domain`
/// and reads `metadata`, so no contract hangs on the wording of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorInfo {
    /// Constant naming the cause within `domain`, `UPPER_SNAKE_CASE` (e.g.
    /// `WRONG_OWNER`).
    pub reason: String,
    /// The service or area that defines `reason` (e.g. `tidings.sequence`).
    pub domain: String,
    /// The facts themselves (e.g. `section`, `owner`).
    pub metadata: BTreeMap<String, String>,
}

impl ErrorInfo {
    pub fn new(reason: impl Into<String>, domain: impl Into<String>) -> Self {
        ErrorInfo {
            reason: reason.into(),
            domain: domain.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds one metadata entry.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Whether this is `reason` of `domain`.
    pub fn is(&self, domain: &str, reason: &str) -> bool {
        self.domain == domain && self.reason == reason
    }
}

/// An error with a stable code and a message saying what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// Rare (routing refusals): shared, so that cloning an error stays as
    /// cheap as cloning its message.
    info: Option<Arc<ErrorInfo>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            info: None,
        }
    }

    /// Attaches structured facts for the caller; they cross gRPC hops in the
    /// status details.
    pub fn with_info(mut self, info: ErrorInfo) -> Self {
        self.info = Some(Arc::new(info));
        self
    }

    /// The structured facts attached to this error, if any.
    pub fn info(&self) -> Option<&ErrorInfo> {
        self.info.as_deref()
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

    /// A limit refusal the same request can pass after `retry_after`
    /// (carried structured, in the [`ErrorInfo`], across every hop).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let millis = retry_after.as_millis().clamp(1, u32::MAX as u128);
        Error::new(ErrorCode::RateLimited, message).with_info(
            ErrorInfo::new(RATE_LIMITED_REASON, LIMITS_DOMAIN)
                .with(RETRY_AFTER_MS, millis.to_string()),
        )
    }

    /// When a limited request may be retried, if the error says.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        let info = self.info()?;
        if !info.is(LIMITS_DOMAIN, RATE_LIMITED_REASON) {
            return None;
        }
        let millis = info.metadata.get(RETRY_AFTER_MS)?.parse().ok()?;
        Some(std::time::Duration::from_millis(millis))
    }

    /// Converts to a gRPC status carrying the stable code in metadata and the
    /// [`ErrorInfo`], if any, in the standard status details.
    pub fn to_status(&self) -> tonic::Status {
        let mut metadata = tonic::metadata::MetadataMap::new();
        if let Ok(value) = self.code.as_str().parse() {
            metadata.insert(CODE_METADATA_KEY, value);
        }
        let code = self.code.grpc_code();
        match &self.info {
            None => {
                let mut status = tonic::Status::new(code, self.message.clone());
                *status.metadata_mut() = metadata;
                status
            }
            Some(info) => {
                let details = ErrorDetails::with_error_info(
                    info.reason.clone(),
                    info.domain.clone(),
                    info.metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<HashMap<_, _>>(),
                );
                tonic::Status::with_error_details_and_metadata(
                    code,
                    self.message.clone(),
                    details,
                    metadata,
                )
            }
        }
    }

    /// Recovers the error from a gRPC status; statuses that did not come from a
    /// Tidings service (transport failures) map by their gRPC code (see
    /// [`untagged_code`]).
    pub fn from_status(status: &tonic::Status) -> Self {
        let tagged = status
            .metadata()
            .get(CODE_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorCode::parse);
        let code = tagged.unwrap_or_else(|| untagged_code(status.code()));
        let error = Error::new(code, status.message().to_string());
        // Most statuses carry no details: skip decoding an empty buffer.
        if status.details().is_empty() {
            return error;
        }
        match status.get_details_error_info() {
            Some(info) => error.with_info(ErrorInfo {
                reason: info.reason,
                domain: info.domain,
                metadata: info.metadata.into_iter().collect(),
            }),
            None => error,
        }
    }

    /// The client protocol's error frame.
    pub fn to_client_frame(&self, connection_kept: bool) -> client::Error {
        let retry_after_ms = self
            .retry_after()
            .map_or(0, |after| after.as_millis().min(u32::MAX as u128) as u32);
        client::Error {
            code: self.code.to_client() as i32,
            message: self.message.clone(),
            connection_kept,
            retry_after_ms,
        }
    }
}

/// The code of a status without `tidings-code` metadata. No Tidings handler
/// answers without it, so such a status comes from the transport or its
/// surroundings: a refused connection, a stream reset by a peer that was
/// killed, a deadline, a proxy, a decoder. The request may or may not have
/// been carried out, and the peer is likely to answer again, so anything
/// that is not clearly the caller's fault is `unavailable`: the client
/// retries with the same `client_msg_id`, which finds what the first attempt
/// did. Only what a retry cannot cure is `internal`.
fn untagged_code(code: tonic::Code) -> ErrorCode {
    use tonic::Code;
    match code {
        Code::InvalidArgument => ErrorCode::InvalidArgument,
        Code::Unauthenticated => ErrorCode::Unauthenticated,
        Code::PermissionDenied => ErrorCode::NotMember,
        Code::NotFound => ErrorCode::UnknownGroup,
        Code::AlreadyExists => ErrorCode::AlreadyExists,
        Code::Aborted => ErrorCode::Retry,
        // Reset streams and killed peers surface as `Unknown`, `Internal`
        // (an h2 INTERNAL_ERROR) or `Cancelled`; a full peer as
        // `ResourceExhausted`; a peer mid-deploy (a proxy's 404) as
        // `Unimplemented`.
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::Internal
        | Code::ResourceExhausted
        | Code::Unimplemented
        | Code::FailedPrecondition => ErrorCode::Unavailable,
        // A message over the gRPC size limit, or lost data: a retry gets the
        // same answer. Internal answers are cut well below the limit, so
        // crossing it is a bug.
        Code::OutOfRange | Code::DataLoss => ErrorCode::Internal,
        // An error status with code OK is itself a broken peer.
        Code::Ok => ErrorCode::Internal,
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
    use std::time::Duration;

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
    fn error_info_round_trips_through_grpc() {
        let err = Error::new(ErrorCode::WrongOwner, "section 7 is held elsewhere").with_info(
            ErrorInfo::new("WRONG_OWNER", "tidings.sequence")
                .with("section", "7")
                .with("owner", "seq-1@10.0.0.2:7403"),
        );
        let status = err.to_status();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(status.message(), "section 7 is held elsewhere");
        let back = Error::from_status(&status);
        assert_eq!(back, err);
        let info = back.info().expect("info survives the hop");
        assert!(info.is("tidings.sequence", "WRONG_OWNER"));
        assert_eq!(info.metadata["section"], "7");
        assert_eq!(info.metadata["owner"], "seq-1@10.0.0.2:7403");
        // Clones share the facts instead of copying them.
        assert_eq!(back.clone().info(), Some(info));
    }

    #[test]
    fn a_rate_limit_says_when_to_retry_on_every_hop() {
        let err = Error::rate_limited("sends: 10 per second", Duration::from_millis(250));
        let back = Error::from_status(&err.to_status());
        assert_eq!(back.code, ErrorCode::RateLimited);
        assert_eq!(back.retry_after(), Some(Duration::from_millis(250)));
        let frame = back.to_client_frame(true);
        assert_eq!(frame.code, client::ErrorCode::RateLimited as i32);
        assert_eq!(frame.retry_after_ms, 250);
        assert!(frame.connection_kept);
        // Other errors carry no delay.
        assert_eq!(Error::invalid("x").to_client_frame(true).retry_after_ms, 0);
        assert_eq!(
            Error::new(ErrorCode::RateLimited, "cap").retry_after(),
            None
        );
    }

    #[test]
    fn errors_without_info_carry_no_details() {
        let status = Error::invalid("bad key").to_status();
        assert!(status.details().is_empty());
        assert_eq!(Error::from_status(&status).info(), None);
    }

    #[test]
    fn foreign_status_maps_by_grpc_code() {
        let e = Error::from_status(&tonic::Status::unavailable("connection refused"));
        assert_eq!(e.code, ErrorCode::Unavailable);
        assert_eq!(e.message, "connection refused");
    }

    #[test]
    fn transport_failures_are_unavailable_never_internal() {
        use tonic::Code;
        // What tonic, hyper and h2 answer when a peer is unreachable, killed
        // mid-request, overloaded or too slow.
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Cancelled,
            Code::Unknown,
            Code::Internal,
            Code::ResourceExhausted,
            Code::Unimplemented,
        ] {
            let status = tonic::Status::new(code, "h2 protocol error: stream reset");
            assert_eq!(
                Error::from_status(&status).code,
                ErrorCode::Unavailable,
                "an untagged {code:?} is worth a retry"
            );
        }
    }

    #[test]
    fn untagged_statuses_the_caller_caused_or_no_retry_cures_keep_their_meaning() {
        use tonic::Code;
        let cases = [
            (Code::InvalidArgument, ErrorCode::InvalidArgument),
            (Code::Unauthenticated, ErrorCode::Unauthenticated),
            (Code::Aborted, ErrorCode::Retry),
            (Code::OutOfRange, ErrorCode::Internal),
            (Code::DataLoss, ErrorCode::Internal),
        ];
        for (code, expected) in cases {
            let status = tonic::Status::new(code, "why");
            assert_eq!(Error::from_status(&status).code, expected, "{code:?}");
        }
    }

    #[test]
    fn a_tagged_status_keeps_its_code_whatever_its_grpc_code() {
        // A Tidings handler's internal error is a bug and stays one.
        let status = Error::internal("impossible state").to_status();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(Error::from_status(&status).code, ErrorCode::Internal);
        // A tag survives even on a code the transport would also use.
        let status = Error::new(ErrorCode::Retry, "in progress").to_status();
        assert_eq!(Error::from_status(&status).code, ErrorCode::Retry);
    }
}
