//! The web application (the API of camward-web with the handles the daemon fills in, the UI's
//! pages, the RTSP-over-HTTP tunnel) and the plain HTTP listener serving it. The HTTPS listener
//! (`services::https::web`) serves the same application; while Connection = HTTPS (paper §3.7)
//! plain HTTP only redirects to it.

use super::https::HttpsPort;
use axum::Router;
use camward_auth::Gate;
use camward_store::ConfigHandle;
use camward_web::{ServeOptions, WebState};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The two faces of the web application.
pub struct Apps {
    /// For the HTTPS listener: the application itself.
    pub tls: Router,
    /// For plain HTTP: the application, or a redirect to HTTPS while Connection = HTTPS.
    pub plain: Router,
    /// The HTTPS port the redirect names, set by the HTTPS listener once bound.
    pub https_port: Arc<HttpsPort>,
}

/// Builds the application from the web state (with its handles set) and the UI.
pub fn apps(state: WebState, config: ConfigHandle, https_flag: Option<SocketAddr>) -> Apps {
    let gate = state.gate.clone();
    // The web UI's pages and assets get the API's front layers (host re-check, auth context, headers).
    let ui = camward_ui::router(state.clone());
    let app = camward_web::app(state, [ui]);
    let https_port = Arc::new(HttpsPort::default());
    let plain = camward_web::https::redirect_when_https(
        app.clone(),
        https_port.redirect_target(config, https_flag),
        gate,
    );
    Apps {
        tls: app,
        plain,
        https_port,
    }
}

/// Serves `app` on the plain HTTP listener until shutdown.
pub fn start(
    listener: TcpListener,
    app: Router,
    gate: Arc<dyn Gate>,
    opts: ServeOptions,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) =
            camward_web::serve(listener, app, gate, opts, shutdown.cancelled_owned()).await
        {
            tracing::error!(error = %e, "HTTP service failed");
        }
    })
}
