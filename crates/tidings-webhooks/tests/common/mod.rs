//! A real HTTP server standing in for the product's webhook endpoint: it
//! records every request, checks its signature as a receiver would, and
//! answers as the test tells it to.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tidings_webhooks::signature::{
    ATTEMPT_HEADER, DEFAULT_TOLERANCE, EVENT_HEADER, EVENT_ID_HEADER, SIGNATURE_HEADER, verify,
};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub const SECRET: &str = "endpoint secret, 16+ bytes";

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event: String,
    pub event_id: String,
    pub attempt: u32,
    pub body: Vec<u8>,
    /// Whether the signature verified against the body and the clock.
    pub signature_ok: bool,
    /// The status the endpoint answered (0: it stalled).
    pub status: u16,
}

/// How the endpoint answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status with an empty body.
    Status(u16),
    /// 200 with this JSON body.
    Json(String),
    /// Never answers (until the test ends).
    Stall,
}

struct State {
    recorded: Mutex<Vec<Recorded>>,
    reply: Mutex<Reply>,
}

/// A running endpoint. Dropping it (or [`TestServer::stop`]) closes the
/// listener and every open connection, like a process that died.
pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(reply: Reply) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), reply).await
    }

    /// Starts on `addr`, e.g. the port of an endpoint that was down.
    pub async fn start_on(addr: SocketAddr, reply: Reply) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind test endpoint");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            recorded: Mutex::new(Vec::new()),
            reply: Mutex::new(reply),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        TestServer { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set_reply(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    /// Closes the listener and every connection, and waits until they are.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The URL of a port nothing listens on: connections are refused.
pub async fn dead_url() -> (SocketAddr, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    (addr, format!("http://{addr}/hook"))
}

/// Polls `condition` until it holds, failing the test after `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    // Owned here, so aborting this task drops every connection with it.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| handle(state.clone(), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let event = header(EVENT_HEADER);
    let event_id = header(EVENT_ID_HEADER);
    let attempt = header(ATTEMPT_HEADER).parse().unwrap_or(0);
    let signature = header(SIGNATURE_HEADER);
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    let now_ms = tidings_webhooks::now_ms();
    let signature_ok = verify(
        SECRET.as_bytes(),
        &signature,
        &body,
        now_ms,
        DEFAULT_TOLERANCE,
    )
    .is_ok();
    let reply = state.reply.lock().unwrap().clone();
    let code = match &reply {
        Reply::Status(code) => *code,
        Reply::Json(_) => 200,
        Reply::Stall => 0,
    };
    state.recorded.lock().unwrap().push(Recorded {
        event,
        event_id,
        attempt,
        body,
        signature_ok,
        status: code,
    });
    let response = match reply {
        Reply::Status(code) => status(StatusCode::from_u16(code).unwrap()),
        Reply::Json(json) => Response::new(Full::new(Bytes::from(json))),
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            status(StatusCode::OK)
        }
    };
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
