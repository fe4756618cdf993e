//! The RTSP service (paper §4.4): camward-rtsp's server on the `--rtsp` listener, the
//! RTSP-over-HTTP tunnel hook for the web service, and the media hub's buses as its streams,
//! with the upstream cameras of recorder mode at `/cameras/NAME`.

use camward_auth::Gate;
use camward_media::{FrameBus, MediaHub};
use camward_rtsp::{RtspServer, StreamSource};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The server shared by the RTSP listener, the web tunnel hook and the RTSPS listener;
/// `per_address` caps one client's connections (RTSP, RTSPS and tunnels together).
pub fn server(
    gate: Arc<dyn Gate>,
    media: MediaHub,
    cameras: super::cameras::Cameras,
    per_address: usize,
) -> Arc<RtspServer> {
    let opts = camward_rtsp::Options {
        max_connections_per_address: per_address,
        ..camward_rtsp::Options::default()
    };
    Arc::new(RtspServer::with_options(
        gate,
        Arc::new(HubStreams(media, cameras)),
        opts,
    ))
}

/// Serves plain RTSP until shutdown, then ends every session and tunnel.
pub fn start(
    server: Arc<RtspServer>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = server
            .clone()
            .serve(listener, shutdown.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "RTSP service failed");
        }
        server.close_all();
    })
}

/// The web service's hook for requests carrying `x-sessioncookie` (HTTP and HTTPS).
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

/// The web listeners' hand-off of tunnel legs to the RTSP server (camward-web's
/// `TunnelTakeover`): the RTSP server then holds the legs' sockets itself. `plain`: the
/// configuration of the plain HTTP listener, which takes no legs while Connection = HTTPS (it
/// only redirects then, tunnel legs included); `None` for the HTTPS listener.
pub fn tunnel_legs(
    server: Arc<RtspServer>,
    plain: Option<camward_store::ConfigHandle>,
) -> Arc<dyn camward_web::TunnelTakeover> {
    Arc::new(TunnelLegs { server, plain })
}

struct TunnelLegs {
    server: Arc<RtspServer>,
    plain: Option<camward_store::ConfigHandle>,
}

impl std::fmt::Debug for TunnelLegs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelLegs")
            .field("plain", &self.plain.is_some())
            .finish()
    }
}

impl camward_web::TunnelTakeover for TunnelLegs {
    fn active(&self) -> bool {
        self.plain
            .as_ref()
            .is_none_or(|c| !c.current().https.enabled())
    }

    fn take(&self, leg: camward_web::TakenLeg) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(camward_rtsp::tunnel_socket(
            self.server.clone(),
            leg.io,
            leg.buffered,
            leg.peer,
            leg.hold,
            leg.headers,
        ))
    }
}

/// Stream(1)/(2) of the media hub: a stream switched off is absent; "Internet mode (over HTTP)"
/// comes from its current settings, so a PATCH applies to the next request. Upstream cameras
/// (recorder mode) are re-served at `/cameras/NAME` while they are pulled.
struct HubStreams(MediaHub, super::cameras::Cameras);

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

    fn camera_bus(&self, name: &str) -> Option<Arc<FrameBus>> {
        self.1.bus(name)
    }

    fn camera_allowed(&self, name: &str, viewer: &camward_auth::Principal) -> bool {
        self.1.allowed(name, viewer)
    }
}
