//! The web chat page (`gateway.web_dir`): the files of one directory served
//! at `/` on the WebSocket port, so that a browser loads the page from the
//! very origin it then connects to (`/ws`), with no other web server.
//!
//! It serves a handful of built files (`web/dist`), not arbitrary trees, so
//! it is deliberately narrow: `GET` and `HEAD` only, every path segment a
//! plain name (`[A-Za-z0-9_.-]`, not starting with a dot), a trailing `/`
//! meaning its `index.html`. Anything else, `..` and percent-escapes
//! included, is a 404 before the file system is touched, which is what
//! keeps requests inside the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, Uri, header};

/// Adds the files of `web_dir` to `router` as its fallback: the routes it
/// has (`/ws`, `/healthz`) keep precedence. An empty `web_dir` adds
/// nothing, so every other path stays a 404.
pub(crate) fn mount(router: Router, web_dir: &str) -> Router {
    if web_dir.is_empty() {
        return router;
    }
    let root = Arc::new(PathBuf::from(web_dir));
    router.fallback(move |method: Method, uri: Uri| {
        let root = Arc::clone(&root);
        async move { serve(&root, &method, uri.path()).await }
    })
}

/// Checks that `web_dir`, when set, is a directory, naming the key.
pub(crate) fn check_dir(web_dir: &str) -> Result<(), String> {
    if web_dir.is_empty() || Path::new(web_dir).is_dir() {
        return Ok(());
    }
    Err(format!(
        "gateway.web_dir must name a directory (the built web page, e.g. web/dist), got {web_dir:?}"
    ))
}

async fn serve(root: &Path, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let Some(relative) = file_of(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let file = root.join(&relative);
    // A directory named without its trailing slash is not served either:
    // the page's own links all name files.
    let body = match tokio::fs::read(&file).await {
        Ok(body) => body,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(path = %file.display(), error = %e, "web file unreadable");
            }
            return StatusCode::NOT_FOUND.into_response();
        }
    };
    let content_type = content_type(&relative);
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The bundle keeps its name across builds: a reload must fetch the
    // new one, not a cached copy of the old.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if content_type.starts_with("text/html") {
        // The page runs only its own scripts and talks only to its origin
        // (`connect-src 'self'` covers the same-origin `ws://`/`wss://`).
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'",
            ),
        );
    }
    response
}

/// The file a request path names, relative to the directory; `None` when
/// the path is not made of plain names.
fn file_of(path: &str) -> Option<PathBuf> {
    let trimmed = path.strip_prefix('/')?;
    let mut relative = PathBuf::new();
    let mut segments = trimmed.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && last {
            relative.push("index.html");
            break;
        }
        if !plain_name(segment) {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

fn plain_name(segment: &str) -> bool {
    !segment.is_empty()
        && !segment.starts_with('.')
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn content_type(file: &Path) -> &'static str {
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_plain_names_map_to_files() {
        assert_eq!(file_of("/"), Some(PathBuf::from("index.html")));
        assert_eq!(file_of("/app.js"), Some(PathBuf::from("app.js")));
        assert_eq!(
            file_of("/assets/"),
            Some(PathBuf::from("assets/index.html"))
        );
        for refused in [
            "",
            "/..",
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/secret",
            "/.hidden",
            "//etc/passwd",
            "/a//b",
            "/a\\..\\b",
        ] {
            assert_eq!(file_of(refused), None, "{refused}");
        }
    }

    /// Serves a router like the gateway's (a `/healthz` route, the files
    /// mounted as fallback) on a real socket and returns its address.
    async fn serve_router(web_dir: &str) -> std::net::SocketAddr {
        let router = mount(
            Router::new().route("/healthz", get(|| async { "ok" })),
            web_dir,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        address
    }

    /// One HTTP/1.1 request written as is (no client normalises the path):
    /// the status code, the headers in lower case, and the body.
    async fn get_raw(address: std::net::SocketAddr, target: &str) -> (u16, String, String) {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    #[tokio::test]
    async fn web_dir_serves_the_page_and_nothing_outside_it() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        let dir = outside.path().join("dist");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html><title>chat</title>").unwrap();
        std::fs::write(dir.join("app.js"), "console.log(1)").unwrap();
        std::fs::write(dir.join(".env"), "hidden").unwrap();
        let address = serve_router(dir.to_str().unwrap()).await;

        let (status, head, body) = get_raw(address, "/").await;
        assert_eq!(status, 200);
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(head.contains("content-security-policy:"), "{head}");
        assert_eq!(body, "<!doctype html><title>chat</title>");
        let (status, head, body) = get_raw(address, "/app.js").await;
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/javascript"), "{head}");
        assert_eq!(body, "console.log(1)");
        // The gateway's own routes win over the files.
        assert_eq!(get_raw(address, "/healthz").await.2, "ok");

        for refused in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/.env",
            "/missing.js",
        ] {
            let (status, _, body) = get_raw(address, refused).await;
            assert_eq!(status, 404, "{refused}");
            assert!(
                !body.contains("secret") && !body.contains("hidden"),
                "{refused}: {body}"
            );
        }
    }

    #[tokio::test]
    async fn without_web_dir_nothing_but_the_routes_is_served() {
        let address = serve_router("").await;
        assert_eq!(get_raw(address, "/").await.0, 404);
        assert_eq!(get_raw(address, "/index.html").await.0, 404);
        assert_eq!(get_raw(address, "/healthz").await.0, 200);
    }

    #[test]
    fn a_web_dir_that_is_not_a_directory_names_the_key() {
        assert_eq!(check_dir(""), Ok(()));
        let error = check_dir("/no/such/dir").unwrap_err();
        assert!(error.starts_with("gateway.web_dir"), "{error}");
    }
}
