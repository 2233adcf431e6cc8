//! A direct call: the handler's future under the call deadline, in a span,
//! with the same metrics the gRPC server layer records per call.

use std::future::Future;
use std::time::{Duration, Instant};

use tidings_telemetry::metrics::names;
use tracing::Instrument;

/// Runs one handler call as the gRPC server would around it.
pub(crate) async fn call<R>(
    deadline: Duration,
    service: &'static str,
    method: &'static str,
    handler: impl Future<Output = Result<tonic::Response<R>, tonic::Status>>,
) -> Result<tonic::Response<R>, tonic::Status> {
    let span = tracing::info_span!(
        "grpc",
        otel.name = %format_args!("{service}/{method}"),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        direct = true,
    );
    let started = Instant::now();
    let result = match tokio::time::timeout(deadline, handler.instrument(span.clone())).await {
        Ok(result) => result,
        // The same status a socket call gets when its deadline passes.
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "no answer within the {} ms call deadline",
            deadline.as_millis()
        ))),
    };
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    span.record("rpc.grpc.status_code", code as i32);
    let labels = [
        ("grpc_service", service),
        ("grpc_method", method),
        ("grpc_code", code_name(code)),
    ];
    metrics::counter!(names::GRPC_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::GRPC_DURATION, &labels[..2]).record(started.elapsed().as_secs_f64());
    result
}

/// The code's name as the gRPC server layer labels it (`format!("{code:?}")`).
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_names_match_the_server_layers_labels() {
        for code in 0..=16 {
            let code = tonic::Code::from_i32(code);
            assert_eq!(code_name(code), format!("{code:?}"));
        }
    }

    #[tokio::test]
    async fn a_handler_past_the_deadline_fails_the_call() {
        let stuck = std::future::pending::<Result<tonic::Response<()>, tonic::Status>>();
        let status = call(Duration::from_millis(20), "t.T", "Stuck", stuck)
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(status.message().contains("20 ms"), "{}", status.message());
    }

    #[tokio::test]
    async fn answers_and_statuses_pass_through_unchanged() {
        let ok = call(Duration::from_secs(1), "t.T", "Ok", async {
            Ok(tonic::Response::new(7u32))
        })
        .await
        .unwrap();
        assert_eq!(ok.into_inner(), 7);
        let details = b"structured".to_vec();
        let refused = tonic::Status::with_details(
            tonic::Code::FailedPrecondition,
            "wrong owner",
            details.clone().into(),
        );
        let status = call(Duration::from_secs(1), "t.T", "Refused", async move {
            Err::<tonic::Response<()>, _>(refused)
        })
        .await
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(status.details(), &details[..], "details kept as they are");
    }
}
