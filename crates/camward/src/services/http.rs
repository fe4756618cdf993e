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
    let state = state.with_tunnel(super::rtsp::tunnel_handler(shared.rtsp.clone()));
    let app = camward_web::app(state, extra);
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
    })
}
