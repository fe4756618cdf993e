//! camward's own web UI: static HTML, one CSS file and ES-module JavaScript embedded in the binary,
//! served as page shells behind the API's Digest auth; all data comes from the authenticated `/api/v1`.
#![forbid(unsafe_code)]

mod assets;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use camward_auth::Level;
use camward_web::WebState;

/// The Content-Security-Policy of every UI response: only this device's own files, no inline code.
/// `blob:`/`data:` images are for snapshots shown before download; MJPEG is an `'self'` image;
/// `media-src blob:` is the Live page's H.264 view (Media Source Extensions).
pub const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Setup pages the server knows; each must have an entry in `assets/js/layouts.js` and a title
/// in `assets/js/strings.js` (a unit test checks). An id outside this list is a 404, so a typo
/// does not look like an empty page. Pages whose function the camera lacks are hidden by the
/// page itself (their settings section or API is missing), never shown as dead ends.
pub const SETUP_PAGES: &[&str] = &[
    "basic",
    "sd",
    "storage",
    "cameras",
    "log",
    "image",
    "quality",
    "alarm",
    "vmd",
    "user_auth",
    "host_auth",
    "ieee8021x",
    "data_encryption",
    "network",
    "smtp",
    "ftp",
    "ntp",
    "upnp",
    "https",
    "snmp",
    "status",
    "upgrade",
    "backup",
    "reset",
];

/// The UI routes, to be merged into the web app with `camward_web::app(state, [router(state)])`.
///
/// Static assets (`/ui/...`), the registration page and the logged-out page are public: they hold
/// no data. `/live` needs level live, `/recordings` level control and `/setup/...` level admin, checked by the same gate as the API, so that the browser
/// meets the Digest challenge on a navigation (where it shows its login prompt) and then reuses the
/// credentials for the pages' same-origin `fetch` calls.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/setup/register", get(register))
        .route("/live", get(live))
        .route("/recordings", get(recordings))
        .route("/logout", get(logged_out))
        .route("/setup", get(setup_index))
        .route("/setup/{page}", get(setup_page))
        .route("/ui/{*file}", get(asset))
        .layer(axum::middleware::map_response(add_csp))
        .with_state(state)
}

async fn add_csp(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

/// Whether an administrator exists; before that every page leads to registration.
async fn has_admin(st: &WebState) -> Result<bool, Response> {
    let accounts = st.accounts.clone();
    tokio::task::spawn_blocking(move || accounts.store().has_admin())
        .await
        .map_err(|e| camward_web::ApiError::internal(e).into_response())?
        .map_err(|e| camward_web::ApiError::internal(e).into_response())
}

async fn root(State(st): State<WebState>) -> Response {
    match has_admin(&st).await {
        Ok(true) => Redirect::to("/live").into_response(),
        Ok(false) => Redirect::to("/setup/register").into_response(),
        Err(r) => r,
    }
}

async fn register(State(st): State<WebState>) -> Response {
    match has_admin(&st).await {
        // Registration is over for good: an administrator exists.
        Ok(true) => Redirect::to("/live").into_response(),
        Ok(false) => html(StatusCode::OK, assets::REGISTER_HTML),
        Err(r) => r,
    }
}

async fn live(State(st): State<WebState>, req: Request) -> Response {
    guarded(&st, req, Level::Live, None).await
}

async fn recordings(State(st): State<WebState>, req: Request) -> Response {
    guarded(&st, req, Level::Control, None).await
}

/// Where the UI's log out lands: public, holds nothing.
async fn logged_out() -> Response {
    html(StatusCode::OK, assets::LOGOUT_HTML)
}

async fn setup_index(State(st): State<WebState>, req: Request) -> Response {
    guarded(&st, req, Level::Admin, Some("basic")).await
}

async fn setup_page(
    State(st): State<WebState>,
    Path(page): Path<String>,
    req: Request,
) -> Response {
    guarded(&st, req, Level::Admin, Some(&page)).await
}

/// Serves the page shell to a user of at least `level`. `setup` names the Setup page asked for;
/// it is checked only after authentication, so strangers learn nothing about what exists.
async fn guarded(st: &WebState, req: Request, level: Level, setup: Option<&str>) -> Response {
    match has_admin(st).await {
        Ok(true) => {}
        Ok(false) => return Redirect::to("/setup/register").into_response(),
        Err(r) => return r,
    }
    let (mut parts, _body) = req.into_parts();
    if let Err(resp) = camward_web::authorize(&mut parts, level).await {
        return as_page(resp);
    }
    match setup {
        None => html(StatusCode::OK, assets::SHELL_HTML),
        Some("basic") if parts.uri.path() == "/setup" => {
            Redirect::to("/setup/basic").into_response()
        }
        Some(p) if SETUP_PAGES.contains(&p) => html(StatusCode::OK, assets::SHELL_HTML),
        Some(_) => html(StatusCode::NOT_FOUND, assets::NOT_FOUND_HTML),
    }
}

/// The API's refusals are JSON; a person looking at a page gets HTML with the same status and
/// headers (the Digest challenges in `WWW-Authenticate`, `Retry-After`).
fn as_page(resp: Response) -> Response {
    let body = match resp.status() {
        StatusCode::UNAUTHORIZED => assets::UNAUTHORIZED_HTML,
        StatusCode::FORBIDDEN => assets::FORBIDDEN_HTML,
        StatusCode::TOO_MANY_REQUESTS => assets::LOCKED_HTML,
        _ => return resp,
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn html(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some((content_type, body)) => {
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

#[cfg(test)]
mod tests;
