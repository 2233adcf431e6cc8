//! The JSON face: `POST /api/v1/<Method>` with a JSON body ([`crate::json`])
//! and a JSON answer, through the same handlers as gRPC. An error is
//! `{ "code": "<stable code>", "message": "..." }` with the HTTP status of
//! its code. A body that is not valid JSON for the method is
//! `malformed_frame` (400), an unknown method `unknown_frame` (404): the
//! client protocol's codes for an undecodable and an unknown frame.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use tidings_core::{Error, ErrorCode};

use crate::api::{Method, PublicApi, outward};
use crate::json;

/// The HTTP status of an error code.
pub(crate) fn http_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::MalformedFrame | ErrorCode::InvalidArgument | ErrorCode::UnknownConversation => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::UnknownFrame | ErrorCode::UnknownGroup | ErrorCode::UnknownMessage => {
            StatusCode::NOT_FOUND
        }
        ErrorCode::EditWindowPassed | ErrorCode::MessageRemoved => StatusCode::CONFLICT,
        ErrorCode::TooManyReactions => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Rejected => StatusCode::FORBIDDEN,
        ErrorCode::FrameTooLarge | ErrorCode::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::NotMember | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::AlreadyExists | ErrorCode::AlreadyAuthenticated | ErrorCode::Retry => {
            StatusCode::CONFLICT
        }
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable | ErrorCode::WrongOwner => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as the JSON answer.
pub(crate) fn error_response(error: &Error) -> Response {
    // Clients see `unavailable` for an owner refusal, as on every face.
    let code = match error.code {
        ErrorCode::WrongOwner => ErrorCode::Unavailable,
        code => code,
    };
    let body = serde_json::json!({ "code": code.as_str(), "message": error.message });
    let mut response = (http_status(code), axum::Json(body)).into_response();
    if let Some(after) = error.retry_after() {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(value) = secs.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

fn parse<T: DeserializeOwned>(method: Method, body: &Bytes) -> Result<T, Error> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorCode::MalformedFrame,
            format!("the body is not a valid {} request: {e}", method.name()),
        )
    })
}

/// Parses the body as `$request`, runs `$handler`, answers as `$answer`.
macro_rules! call {
    ($api:expr, $method:expr, $body:expr, $request:ty, $handler:ident, $answer:ty) => {{
        let request: $request = parse($method, $body)?;
        let answer = $api.$handler(request.try_into()?).await?;
        serde_json::to_value(<$answer>::from(answer))
            .map_err(|e| Error::internal(format!("cannot encode the answer: {e}")))
    }};
}

async fn run(api: &PublicApi, method: Method, body: &Bytes) -> Result<serde_json::Value, Error> {
    use json::*;
    match method {
        Method::SendMessage => call!(
            api,
            method,
            body,
            SendMessage,
            send_message,
            SendMessageAnswer
        ),
        Method::CreateGroup => call!(api, method, body, CreateGroup, create_group, Group),
        Method::AddMembers => call!(api, method, body, ChangeMembers, add_members, Group),
        Method::RemoveMembers => call!(api, method, body, ChangeMembers, remove_members, Group),
        Method::DeleteGroup => call!(
            api,
            method,
            body,
            DeleteGroup,
            delete_group,
            DeleteGroupAnswer
        ),
        Method::DisconnectUser => call!(
            api,
            method,
            body,
            DisconnectUser,
            disconnect_user,
            DisconnectUserAnswer
        ),
        Method::ListOnlineDevices => call!(
            api,
            method,
            body,
            ListOnlineDevices,
            list_online_devices,
            ListOnlineDevicesAnswer
        ),
        Method::ReadHistory => call!(
            api,
            method,
            body,
            ReadHistory,
            read_history,
            ReadHistoryAnswer
        ),
        Method::MintClientToken => call!(
            api,
            method,
            body,
            MintClientToken,
            mint_client_token,
            MintClientTokenAnswer
        ),
    }
}

/// `POST /api/v1/{method}`.
pub(crate) async fn handle(
    State(api): State<Arc<PublicApi>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(method) = Method::parse(&name) else {
        return unknown_method(&name);
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if let Err(e) = api.authorize(authorization, method) {
        return error_response(&e);
    }
    match run(&api, method, &body).await {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(e) => error_response(&outward(method, e)),
    }
}

/// The answer to a path that names no method.
pub(crate) fn unknown_method(name: &str) -> Response {
    let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
    error_response(&Error::new(
        ErrorCode::UnknownFrame,
        format!(
            "no method {name:?}: POST /api/v1/<Method>, one of {}",
            names.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status_matching_its_grpc_code() {
        for code in ErrorCode::ALL {
            let status = http_status(code);
            if code == ErrorCode::UnknownFrame {
                // An unknown method, here: a path that does not exist.
                assert_eq!(status, StatusCode::NOT_FOUND);
                continue;
            }
            let expected = match code.grpc_code() {
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
                tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                tonic::Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                tonic::Code::AlreadyExists => StatusCode::CONFLICT,
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                _ => continue,
            };
            assert_eq!(status, expected, "{code}");
        }
    }
}
