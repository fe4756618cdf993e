//! Tests of the web crate's extension points: the accept-time host filter, the tunnel hook that
//! skips HTTP auth, the `Require` extractor on merged routers, and the security headers.

use crate::{DeviceInfo, Live, Require, ServeOptions, TunnelHandler, WebState, app, serve};
use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use camward_auth::{AccountService, AuthOptions, Gate, Outcome, Request};
use camward_store::{ConfigHandle, Store};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A gate that refuses every host: the accept loop must answer 403 without parsing.
struct NoHosts;
impl Gate for NoHosts {
    fn host_allowed(&self, _peer: IpAddr) -> bool {
        false
    }
    fn authenticate(&self, _req: &Request<'_>) -> Outcome {
        unreachable!("refused hosts never reach authentication")
    }
}

fn state() -> (tempfile::TempDir, WebState) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let accounts = Arc::new(AccountService::new(
        ConfigHandle::load(store).unwrap(),
        AuthOptions::default(),
    ));
    (dir, WebState::new(accounts, DeviceInfo::new("test", None)))
}

async fn start(app: Router, gate: Arc<dyn Gate>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        app,
        gate,
        ServeOptions::default(),
        std::future::pending(),
    ));
    addr
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn refused_host_gets_fixed_403_before_parsing() {
    let (_d, st) = state();
    let addr = start(app(st, []), Arc::new(NoHosts)).await;
    // Not even HTTP: the bytes are never parsed, the answer is the same.
    let out = exchange(addr, b"\x16\x03\x01garbage that is not a request\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{out}");
    assert!(out.contains("Connection: close"));
}

#[tokio::test]
async fn tunnel_requests_skip_http_auth() {
    let (_d, st) = state();
    let tunnel: TunnelHandler = Arc::new(|req, peer| {
        Box::pin(async move {
            let cookie = req.headers()["x-sessioncookie"]
                .to_str()
                .unwrap()
                .to_owned();
            (
                StatusCode::OK,
                format!("tunnel {cookie} from {}", peer.ip()),
            )
                .into_response()
        })
    });
    let st = st.with_tunnel(tunnel);
    let gate = st.gate.clone();
    let addr = start(app(st, []), gate).await;
    let out = exchange(
        addr,
        b"GET /stream1 HTTP/1.1\r\nHost: x\r\nx-sessioncookie: abc\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("tunnel abc from 127.0.0.1"), "{out}");
    // Without the header the same path needs credentials (here: setup first).
    let out = exchange(
        addr,
        b"GET /stream1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
}

/// Takes every tunnel leg it is offered while `on`: answers with what it was handed.
#[derive(Debug)]
struct EchoTakeover {
    on: std::sync::atomic::AtomicBool,
}

impl crate::TunnelTakeover for EchoTakeover {
    fn active(&self) -> bool {
        self.on.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn take(&self, mut leg: crate::TakenLeg) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(async move {
            // Whatever came after the bytes already read is still on the socket.
            let mut all = leg.buffered;
            leg.io.read_to_end(&mut all).await.unwrap();
            let answer = format!(
                "taken from {}: {}",
                leg.peer.ip(),
                String::from_utf8_lossy(&all)
            );
            leg.io.write_all(answer.as_bytes()).await.unwrap();
            leg.io.shutdown().await.unwrap();
        })
    }
}

#[tokio::test]
async fn a_first_request_that_is_a_tunnel_leg_is_handed_off_with_its_raw_socket() {
    let (_d, st) = state();
    let tunnel: TunnelHandler = Arc::new(|_req, _peer| {
        Box::pin(async move { (StatusCode::OK, "through the application").into_response() })
    });
    let st = st.with_tunnel(tunnel);
    let gate = st.gate.clone();
    let takeover = Arc::new(EchoTakeover {
        on: std::sync::atomic::AtomicBool::new(true),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        app(st, []),
        gate,
        ServeOptions {
            tunnel: Some(takeover.clone()),
            ..ServeOptions::default()
        },
        std::future::pending(),
    ));
    let post = b"POST /stream1 HTTP/1.0\r\nx-sessioncookie: abc\r\nContent-Length: 32767\r\n\r\n";
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(post).await.unwrap();
    s.write_all(b"T1BUSU9OUw==").await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    let expected = format!(
        "taken from 127.0.0.1: {}T1BUSU9OUw==",
        String::from_utf8_lossy(post)
    );
    assert_eq!(out, expected);
    // Anything else is served by the application from the bytes read while looking.
    let out = exchange(
        addr,
        b"GET /stream1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    let chunked = b"POST /stream1 HTTP/1.1\r\nHost: x\r\nx-sessioncookie: abc\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n";
    let out = exchange(addr, chunked).await;
    assert!(out.ends_with("through the application"), "{out}");
    // Switched off (plain HTTP while HTTPS is on), legs go to the application too.
    takeover
        .on
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let out = exchange(
        addr,
        b"GET /stream1 HTTP/1.1\r\nHost: x\r\nx-sessioncookie: abc\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.ends_with("through the application"), "{out}");
}

#[tokio::test]
async fn merged_routes_are_guarded_by_require_and_get_security_headers() {
    let (_d, st) = state();
    async fn snapshot(_p: Require<Live>) -> &'static str {
        "jpeg"
    }
    let layered = Router::new()
        .route("/cgi-bin/mjpeg", get(|| async { "stream" }))
        .route_layer(axum::middleware::from_fn(crate::require(
            camward_auth::Level::Control,
        )));
    let extra = Router::new()
        .route("/cgi-bin/snapshot", get(snapshot))
        .merge(layered);
    let gate = st.gate.clone();
    let addr = start(app(st, [extra]), gate).await;
    let out = exchange(
        addr,
        b"GET /cgi-bin/snapshot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(out.contains("needs_setup"));
    let out2 = exchange(
        addr,
        b"GET /cgi-bin/mjpeg HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out2.starts_with("HTTP/1.1 401"), "{out2}");
    let lower = out.to_ascii_lowercase();
    assert!(lower.contains("x-content-type-options: nosniff"));
    assert!(lower.contains("x-frame-options: deny"));
}

#[tokio::test]
async fn setup_is_the_only_route_open_before_an_admin_exists() {
    use tower::ServiceExt;
    let (_d, st) = state();
    let code = st.accounts.publish_setup_code().unwrap().unwrap();
    let app = app(st, []);
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let req = |method: &str, uri: &str, body: &str| {
        let mut r = HttpRequest::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap();
        r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        r
    };
    let r = app
        .clone()
        .oneshot(req("GET", "/api/v1/users", ""))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Without the setup code, or with a wrong one: 403, nothing registered.
    for body in [
        r#"{"username":"installer","password":"Cam-ward-2026"}"#.to_owned(),
        r#"{"username":"installer","password":"Cam-ward-2026","setup_code":"AAAA-BBBB-CCCC"}"#
            .to_owned(),
    ] {
        let r = app
            .clone()
            .oneshot(req("POST", "/api/v1/setup", &body))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let body = serde_json::json!({"username": "installer", "password": "Cam-ward-2026", "setup_code": code});
    let r = app
        .clone()
        .oneshot(req("POST", "/api/v1/setup", &body.to_string()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .oneshot(req(
            "POST",
            "/api/v1/setup",
            r#"{"username":"other","password":"Cam-ward-2026"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

/// The OpenAPI document covers every route the way schemathesis and generated clients read it:
/// HTTP Digest and its refusals on every guarded operation, a success answer on every operation,
/// and a schema object (never a bare `true`) on every JSON answer.
#[test]
fn openapi_document_describes_every_operation() {
    let doc = crate::openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["digest"]["scheme"],
        "digest"
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 18, "{:?}", paths.keys());
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if path == "/api/v1/logout" {
                // Its one answer is the 401 that makes a browser forget its credentials.
                assert!(op.get("security").is_none() && responses.contains_key("401"));
                continue;
            }
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path}: no success answer"
            );
            for (code, r) in responses {
                for (ct, media) in r["content"].as_object().into_iter().flatten() {
                    assert!(
                        media["schema"].is_object(),
                        "{method} {path} {code} {ct}: schema {}",
                        media["schema"]
                    );
                }
            }
            if path == "/api/v1/setup" {
                assert!(op.get("security").is_none());
                continue;
            }
            assert_eq!(
                op["security"][0]["digest"],
                serde_json::json!([]),
                "{method} {path}"
            );
            for code in ["401", "403", "429"] {
                assert!(responses.contains_key(code), "{method} {path}: no {code}");
            }
        }
    }
}

/// Found by schemathesis (`PATCH /api/v1/config` with `[]` reset every setting): serde also reads
/// a struct from a positional array, so `["installer", "Cam-ward-2026"]` registered an
/// administrator too. Bodies take only the documented object form.
#[tokio::test]
async fn request_bodies_are_objects_never_positional_arrays() {
    use tower::ServiceExt;
    let (_d, st) = state();
    let app = app(st, []);
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut r = HttpRequest::builder()
        .method("POST")
        .uri("/api/v1/setup")
        .header("content-type", "application/json")
        .body(Body::from(r#"["installer","Cam-ward-2026"]"#))
        .unwrap();
    r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    let r = app.oneshot(r).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["errors"][0]["rule"], "type", "{v}");
}

/// Every guarded operation names the least level it admits (`x-camward-level`), which the API
/// fuzzing test holds the daemon to.
#[test]
fn guarded_operations_declare_their_level() {
    let doc = crate::openapi();
    let level = |path: &str, method: &str| doc["paths"][path][method]["x-camward-level"].clone();
    assert_eq!(level("/api/v1/config", "patch"), "admin");
    assert_eq!(level("/api/v1/audit", "get"), "admin");
    assert_eq!(level("/api/v1/snapshot.jpg", "get"), "live");
    assert!(level("/api/v1/setup", "post").is_null());
}
