//! The `/metrics` endpoint over a real socket: the process recorder's series
//! in the Prometheus text format, latency histograms with second buckets,
//! and 404 for any other path.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn serves_the_recorders_series_in_prometheus_text() {
    tidings_telemetry::metrics::handle();
    metrics::counter!("tidings_test_events_total", "kind" => "a").increment(3);
    metrics::histogram!("tidings_test_wait_seconds").record(0.003);
    metrics::histogram!("tidings_test_batch_size").record(7.0);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tidings_telemetry::metrics::serve(listener, async {
        let _ = stopped.await;
    }));

    let page = get(addr, "/metrics").await;
    assert!(
        page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"),
        "{page}"
    );
    assert!(page.contains("text/plain; version=0.0.4"), "{page}");
    assert!(
        page.contains("tidings_test_events_total{kind=\"a\"} 3"),
        "{page}"
    );
    // Seconds use the latency buckets, sizes the count buckets.
    assert!(
        page.contains("tidings_test_wait_seconds_bucket{le=\"0.005\"} 1"),
        "{page}"
    );
    assert!(
        page.contains("tidings_test_wait_seconds_bucket{le=\"0.0025\"} 0"),
        "{page}"
    );
    assert!(
        page.contains("tidings_test_batch_size_bucket{le=\"10\"} 1"),
        "{page}"
    );
    assert!(
        page.contains("tidings_test_batch_size_bucket{le=\"5\"} 0"),
        "{page}"
    );

    let missing = get(addr, "/nope").await;
    assert!(
        missing.starts_with("HTTP/1.0 404") || missing.starts_with("HTTP/1.1 404"),
        "{missing}"
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
