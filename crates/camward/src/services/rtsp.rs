//! The RTSP service: camward-rtsp's server on the `--rtsp` listener, plus the RTSP-over-HTTP tunnel
//! hook for the web service; streams come from the media hub's frame buses.

use crate::daemon::Shared;
use camward_auth::Gate;
use camward_media::{FrameBus, MediaHub};
use camward_rtsp::{RtspServer, StreamSource};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The server shared by the RTSP listener, the web tunnel hook and (later) the RTSPS listener.
pub fn server(gate: Arc<dyn Gate>, streams: Arc<dyn StreamSource>) -> Arc<RtspServer> {
    Arc::new(RtspServer::new(gate, streams))
}

/// Serves plain RTSP until shutdown, then ends every session and tunnel.
pub fn start(
    shared: &Arc<Shared>,
    listener: TcpListener,
    server: Arc<RtspServer>,
) -> JoinHandle<()> {
    let stop = shared.shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = server.clone().serve(listener, stop.cancelled_owned()).await {
            tracing::error!(error = %e, "RTSP service failed");
        }
        server.close_all();
    })
}

/// The web service's hook for requests carrying `x-sessioncookie` (HTTP and, later, HTTPS).
pub fn tunnel_handler(server: Arc<RtspServer>) -> camward_web::TunnelHandler {
    Arc::new(move |req, peer| {
        let server = server.clone();
        Box::pin(async move {
            camward_rtsp::tunnel(server, req, peer)
                .await
                .map(axum::body::Body::new)
        })
    })
}

/// No media pipeline: every stream answers 404 "streamN is off" (for tools and tests that run
/// the server without encoding video; the daemon serves [`HubStreams`]).
#[allow(dead_code)]
pub struct NoStreams;

impl StreamSource for NoStreams {
    fn bus(&self, _n: u8) -> Option<Arc<FrameBus>> {
        None
    }
}

/// Stream(1)/(2) of the media hub: a stream switched off is absent; "Internet mode (over HTTP)"
/// comes from its current settings, so a PATCH applies to the next request.
pub struct HubStreams(pub Arc<MediaHub>);

impl StreamSource for HubStreams {
    fn bus(&self, n: u8) -> Option<Arc<FrameBus>> {
        let (_, streams, _) = self.0.settings();
        if !streams.get(n)?.enabled {
            return None;
        }
        self.0.stream(n)
    }

    fn internet_mode(&self, n: u8) -> bool {
        let (_, streams, _) = self.0.settings();
        streams.get(n).is_some_and(|s| s.internet_mode)
    }
}
