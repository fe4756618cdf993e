//! The HTTP service: camward-web's API plus routes other crates contribute, on the `--http` listener.
//! Add media/recording routers to `extra` in daemon.rs; the RTSP tunnel hooks in via `WebState::with_tunnel`.

use crate::daemon::Shared;
use axum::Router;
use camward_web::{ServeOptions, WebState};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub fn start(shared: &Arc<Shared>, listener: TcpListener, extra: Vec<Router>) -> JoinHandle<()> {
    let state = WebState::new(shared.accounts.clone(), shared.info.clone());
    let state = state
        .with_tunnel(super::rtsp::tunnel_handler(shared.rtsp.clone()))
        .with_identity(shared.identity.clone());
    // The web UI's pages and assets get the API's front layers (host re-check, auth context, headers).
    let ui = camward_ui::router(state.clone());
    let app = camward_web::app(state, extra.into_iter().chain([ui]));
    // The HTTPS listener serves this same app (API, UI, media, RTSP tunnel) while Connection =
    // HTTPS; plain HTTP then only redirects to it.
    let https_port = Arc::new(super::https::HttpsPort::default());
    let https = super::https::web(shared, app.clone(), https_port.clone());
    let app = camward_web::https::redirect_when_https(
        app,
        https_port.redirect_target(shared),
        shared.gate.clone(),
    );
    let gate = shared.gate.clone();
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = camward_web::serve(
            listener,
            app,
            gate,
            ServeOptions::default(),
            stop.cancelled_owned(),
        )
        .await
        {
            tracing::error!(error = %e, "HTTP service failed");
        }
        // The HTTPS listener stops on the same shutdown; wait for it so the daemon does too.
        let _ = https.await;
    })
}
