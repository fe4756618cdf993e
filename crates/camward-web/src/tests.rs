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

/// A gate that lets in whoever the `Authorization: Test USER LEVEL` header names.
struct NamedUsers;
impl Gate for NamedUsers {
    fn host_allowed(&self, _peer: IpAddr) -> bool {
        true
    }
    fn authenticate(&self, req: &Request<'_>) -> Outcome {
        let mut words = req.authorization.unwrap_or("").split(' ').skip(1);
        let user = words.next().unwrap_or("").to_owned();
        let level = match words.next() {
            Some("admin") => camward_auth::Level::Admin,
            Some("control") => camward_auth::Level::Control,
            _ => camward_auth::Level::Live,
        };
        Outcome::Granted(camward_auth::Principal {
            user: Some(user),
            level,
        })
    }
}

/// Two upstream cameras: `door` sends pictures and is shared with `ann`, `yard` sends nothing.
struct TwoCameras;
impl crate::Cameras for TwoCameras {
    fn status(&self) -> Vec<crate::CameraStatus> {
        Vec::new()
    }
    fn viewable(&self, viewer: &camward_auth::Principal) -> Vec<crate::CameraView> {
        ["door", "yard"]
            .into_iter()
            .filter(|n| self.access(n, viewer) == crate::CameraAccess::Allowed)
            .map(|n| crate::CameraView {
                name: n.into(),
                connected: n == "door",
                width: None,
                height: None,
                fps: None,
            })
            .collect()
    }
    fn access(&self, name: &str, viewer: &camward_auth::Principal) -> crate::CameraAccess {
        let known = ["door", "yard"].contains(&name);
        if viewer.level >= camward_auth::Level::Control {
            return if known {
                crate::CameraAccess::Allowed
            } else {
                crate::CameraAccess::Unknown
            };
        }
        if name == "door" && viewer.user.as_deref() == Some("ann") {
            crate::CameraAccess::Allowed
        } else {
            crate::CameraAccess::Denied
        }
    }
    fn snapshot(
        &self,
        name: &str,
    ) -> futures::future::BoxFuture<'static, Result<bytes::Bytes, crate::ApiError>> {
        let r = self
            .view(name)
            .map(|_| bytes::Bytes::from_static(b"\xff\xd8jpeg\xff\xd9"));
        Box::pin(async move { r })
    }
    fn mjpeg(
        &self,
        name: &str,
        _fps: Option<u32>,
    ) -> Result<futures::stream::BoxStream<'static, bytes::Bytes>, crate::ApiError> {
        self.view(name)?;
        Ok(Box::pin(futures::stream::iter([
            bytes::Bytes::from_static(b"\xff\xd8jpeg\xff\xd9"),
        ])))
    }
    fn fmp4(
        &self,
        name: &str,
    ) -> Result<futures::stream::BoxStream<'static, bytes::Bytes>, crate::ApiError> {
        self.view(name)?;
        Ok(Box::pin(futures::stream::iter([
            bytes::Bytes::from_static(b"\0\0\0\x08ftyp"),
        ])))
    }
}
impl TwoCameras {
    fn view(&self, name: &str) -> Result<(), crate::ApiError> {
        if name == "yard" {
            return Err(crate::ApiError::unavailable(
                "camera_offline",
                "camera yard sends no picture now",
                true,
            ));
        }
        Ok(())
    }
}

/// The HTTP views of upstream cameras answer like RTSP's `/cameras/NAME`: a Live-only user gets
/// exactly the cameras shared with them (403 for any other name, existing or not), Camera control
/// and above every camera (404 for a name that is none), a silent camera 503 with Retry-After.
#[tokio::test]
async fn camera_views_follow_the_per_camera_permission_and_answer_in_the_api_shape() {
    use tower::ServiceExt;
    let (_d, mut st) = state();
    st.gate = Arc::new(NamedUsers);
    let app = app(st.with_cameras(Arc::new(TwoCameras)), []);
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let get = |who: &str, uri: &str| {
        let mut r = HttpRequest::builder()
            .uri(uri)
            .header("authorization", format!("Test {who}"))
            .body(Body::empty())
            .unwrap();
        r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        let app = app.clone();
        async move {
            let r = app.oneshot(r).await.unwrap();
            let status = r.status().as_u16();
            let ct = r.headers().get("content-type").cloned();
            let retry = r.headers().get("retry-after").cloned();
            let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned));
            (status, code, ct, retry, body)
        }
    };
    for view in ["live.mp4", "snapshot.jpg", "mjpeg"] {
        let uri = |cam: &str| format!("/api/v1/cameras/{cam}/{view}");
        for (who, cam, want, code) in [
            ("root admin", "door", 200, None),
            ("ann live", "door", 200, None),
            ("op control", "yard", 503, Some("camera_offline")),
            ("root admin", "nosuch", 404, Some("not_found")),
            ("root admin", "bad.name", 404, Some("not_found")),
            ("ann live", "yard", 403, Some("forbidden")),
            ("ann live", "nosuch", 403, Some("forbidden")),
            ("bob live", "door", 403, Some("forbidden")),
        ] {
            let (status, got, _, retry, _) = get(who, &uri(cam)).await;
            assert_eq!((status, got.as_deref()), (want, code), "{who} {cam} {view}");
            if status == 503 {
                assert_eq!(retry.unwrap(), "1");
            }
        }
    }
    let (_, _, ct, _, body) = get("ann live", "/api/v1/cameras/door/live.mp4").await;
    assert_eq!(
        (ct.unwrap(), &body[4..8]),
        ("video/mp4".parse().unwrap(), &b"ftyp"[..])
    );
    let (_, _, ct, _, _) = get("ann live", "/api/v1/cameras/door/mjpeg").await;
    assert!(
        ct.unwrap()
            .to_str()
            .unwrap()
            .starts_with("multipart/x-mixed-replace")
    );
    let (status, code, ..) = get("root admin", "/api/v1/cameras/door/mjpeg?fps=31").await;
    assert_eq!((status, code.as_deref()), (400, Some("bad_query")));
    let (_, _, _, _, body) = get("ann live", "/api/v1/cameras").await;
    let list: Vec<crate::CameraView> = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        list.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["door"]
    );
    let (_, _, _, _, body) = get("bob live", "/api/v1/cameras").await;
    assert_eq!(&body[..], b"[]");
}

/// Found by openapi-core: an operation that both documented its query by hand and extracted it
/// listed each parameter twice, which makes the whole document invalid for generated clients.
#[test]
fn no_operation_lists_a_parameter_twice() {
    let doc = crate::openapi();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut seen = std::collections::HashSet::new();
            for p in op["parameters"].as_array().into_iter().flatten() {
                let key = (p["in"].to_string(), p["name"].to_string());
                assert!(seen.insert(key.clone()), "{method} {path}: {key:?} twice");
            }
        }
    }
}
