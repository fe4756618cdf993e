//! Tests of the UI routes without a browser: public shells and assets, redirects before and after
//! setup, HTML refusals with the Digest challenge, the CSP, and consistency of the embedded files.

use crate::{CSP, SETUP_PAGES, assets, router};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use camward_auth::{AccountService, AuthOptions};
use camward_store::{Actor, ConfigHandle, Store};
use camward_web::{DeviceInfo, WebState};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

fn state() -> (tempfile::TempDir, WebState) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let accounts = Arc::new(AccountService::new(
        ConfigHandle::load(store).unwrap(),
        AuthOptions::default(),
    ));
    (dir, WebState::new(accounts, DeviceInfo::new("test", None)))
}

async fn get(st: &WebState, path: &str) -> axum::http::Response<Body> {
    let app = camward_web::app(st.clone(), [router(st.clone())]);
    let mut req = Request::get(path).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    app.oneshot(req).await.unwrap()
}

fn location(r: &axum::http::Response<Body>) -> &str {
    r.headers()[header::LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn before_setup_every_page_leads_to_registration() {
    let (_d, st) = state();
    for p in ["/", "/live", "/setup", "/setup/host_auth"] {
        let r = get(&st, p).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{p}");
        assert_eq!(location(&r), "/setup/register", "{p}");
    }
    let r = get(&st, "/setup/register").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
    assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
    let r = get(&st, "/ui/js/register.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // Data stays behind the API's own rule.
    assert_eq!(
        get(&st, "/api/v1/config").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&st, "/ui/nope.js").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn after_setup_pages_need_credentials() {
    let (_d, st) = state();
    let code = st.accounts.publish_setup_code().unwrap();
    st.accounts
        .setup_admin(
            "installer",
            "Cam-ward-2026",
            code.as_deref(),
            [127, 0, 0, 1].into(),
            &Actor::remote(None, [127, 0, 0, 1].into()),
        )
        .unwrap();
    let r = get(&st, "/").await;
    assert_eq!(location(&r), "/live");
    let r = get(&st, "/setup/register").await;
    assert_eq!(location(&r), "/live");
    for p in ["/live", "/setup/host_auth", "/setup/no_such_page"] {
        let r = get(&st, p).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{p}");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE), "{p}");
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
    }
}

#[test]
fn every_setup_page_has_a_layout_and_a_title_and_nothing_else_does() {
    let layouts = std::str::from_utf8(assets::find("js/layouts.js").unwrap().1).unwrap();
    let strings = std::str::from_utf8(assets::find("js/strings.js").unwrap().1).unwrap();
    for id in SETUP_PAGES {
        assert!(
            layouts.contains(&format!("id: '{id}'")),
            "{id} missing in layouts.js"
        );
        assert!(
            strings.contains(&format!("    {id}: '")),
            "{id} missing in strings.js"
        );
    }
    // The other way round: a layout entry the server does not serve would be a dead link.
    for (i, _) in layouts.match_indices("{ id: '") {
        let id = layouts[i + 7..].split('\'').next().unwrap();
        assert!(
            SETUP_PAGES.contains(&id),
            "{id} in layouts.js but not in SETUP_PAGES"
        );
    }
}

#[test]
fn no_page_says_a_function_is_not_available() {
    // Pages of functions this camera lacks are hidden, never dead ends.
    for (path, _, body) in assets::FILES {
        let text = std::str::from_utf8(body).unwrap().to_ascii_lowercase();
        assert!(!text.contains("not available in this version"), "{path}");
    }
}

#[tokio::test]
async fn recordings_need_camera_control_and_logout_is_public() {
    let (_d, st) = state();
    let code = st.accounts.publish_setup_code().unwrap();
    st.accounts
        .setup_admin(
            "installer",
            "Cam-ward-2026",
            code.as_deref(),
            [127, 0, 0, 1].into(),
            &Actor::remote(None, [127, 0, 0, 1].into()),
        )
        .unwrap();
    let r = get(&st, "/recordings").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = get(&st, "/logout").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
}

#[test]
fn html_has_no_inline_code_and_imports_resolve() {
    for html in [
        assets::SHELL_HTML,
        assets::REGISTER_HTML,
        assets::UNAUTHORIZED_HTML,
        assets::FORBIDDEN_HTML,
        assets::LOCKED_HTML,
        assets::NOT_FOUND_HTML,
        assets::LOGOUT_HTML,
    ] {
        assert!(!html.contains("style="), "inline style");
        let inline_handler = html.match_indices(" on").any(|(i, _)| {
            let rest = &html[i + 3..];
            let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
            name_len > 0 && rest[name_len..].starts_with('=')
        });
        assert!(!inline_handler, "inline event handler");
        for (i, _) in html.match_indices("<script") {
            assert!(html[i..].starts_with("<script type=\"module\" src=\"/ui/"));
        }
    }
    for (path, _, body) in assets::FILES {
        let text = std::str::from_utf8(body).unwrap();
        for line in text.lines().filter(|l| l.starts_with("import ")) {
            let target = line.split('\'').nth(1).unwrap();
            let file = format!("js/{}", target.trim_start_matches("./"));
            assert!(assets::find(&file).is_some(), "{path} imports {target}");
        }
    }
}
