//! One port for both faces: the gRPC service (with health and reflection)
//! and the JSON routes, in one axum router. HTTP/1.1 and HTTP/2 (h2c, as
//! gRPC clients speak it) are both accepted by `axum::serve`.

use std::sync::Arc;

use axum::http::{Request, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tidings_proto::server::v1::server_api_server::ServerApiServer;

use crate::api::PublicApi;
use crate::http_json;

/// The router of the server API port: `tidings.server.v1.ServerApi`, gRPC
/// health and reflection, and `POST /api/v1/<Method>`.
pub async fn router(api: Arc<PublicApi>) -> Result<axum::Router, tonic_reflection::server::Error> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ServerApiServer<PublicApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tidings_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let service = ServerApiServer::from_arc(Arc::clone(&api))
        .max_decoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES)
        .max_encoding_message_size(tidings_proto::MAX_GRPC_MESSAGE_BYTES);
    let grpc = tonic::service::Routes::new(health)
        .add_service(reflection)
        .add_service(service)
        .into_axum_router();
    let json = axum::Router::new()
        .route("/api/v1/{method}", post(http_json::handle))
        .with_state(api);
    Ok(grpc.merge(json).fallback(fallback))
}

/// Any other path: gRPC's `unimplemented` to a gRPC caller, the JSON
/// unknown-method error to anyone else.
async fn fallback(request: Request<axum::body::Body>) -> Response {
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"));
    if grpc {
        return tonic::Status::unimplemented("no such method")
            .into_http::<axum::body::Body>()
            .into_response();
    }
    let path = request.uri().path();
    http_json::unknown_method(path.strip_prefix("/api/v1/").unwrap_or(path))
}
