//! Every `/api/v1` route, one module per resource, registered here with its OpenAPI description:
//! the document served at `GET /api/v1/openapi.json` is generated from these registrations, the
//! handlers' extractors (`Require<L>`: HTTP Digest and 401/403/429; `JsonBody<T>`: the body and
//! 400/413/415/422) and their typed answers. Adding a route: a handler in its resource's module and
//! one `api_route` line below, with the statuses it answers besides those.

pub(crate) mod alarm;
pub mod audit;
pub(crate) mod cameras;
pub(crate) mod certificate;
mod config;
pub(crate) mod device;
pub mod dot1x;
pub(crate) mod firmware;
mod log;
pub(crate) mod maintenance;
pub(crate) mod media;
pub(crate) mod recordings;
mod setup;
mod status;
mod time;
pub(crate) mod types;
pub mod upnp;
mod users;

use crate::WebState;
use crate::auth::{Authed, SECURITY_SCHEME};
use crate::error::ApiError;
use crate::json::JsonBody;
use aide::axum::ApiRouter;
use aide::axum::routing::{get_with, post_with};
use aide::openapi::{Info, OpenApi, SecurityScheme};
use aide::transform::TransformOperation;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::{Json, Router};
use camward_auth::Level;
use camward_store::Actor;
use serde_json::Value;
use std::sync::Arc;
use types::*;

/// Describes an answer other than the extractors' and the success.
fn err<'a>(op: TransformOperation<'a>, code: u16, what: &str) -> TransformOperation<'a> {
    let what = what.to_owned();
    match code {
        400 => op.response_with::<400, ApiError, _>(|r| r.description(&what)),
        404 => op.response_with::<404, ApiError, _>(|r| r.description(&what)),
        401 => op.response_with::<401, ApiError, _>(|r| r.description(&what)),
        409 => op.response_with::<409, ApiError, _>(|r| r.description(&what)),
        403 => op.response_with::<403, ApiError, _>(|r| r.description(&what)),
        413 => op.response_with::<413, ApiError, _>(|r| r.description(&what)),
        416 => op.response_with::<416, ApiError, _>(|r| r.description(&what)),
        422 => op.response_with::<422, ApiError, _>(|r| r.description(&what)),
        429 => op.response_with::<429, ApiError, _>(|r| r.description(&what)),
        500 => op.response_with::<500, ApiError, _>(|r| r.description(&what)),
        503 => op.response_with::<503, ApiError, _>(|r| r.description(&what)),
        other => panic!("add status {other} to routes::err"),
    }
}

fn errs<'a>(mut op: TransformOperation<'a>, list: &[(u16, &str)]) -> TransformOperation<'a> {
    for (code, what) in list {
        op = err(op, *code, what);
    }
    op
}

const STORAGE: (u16, &str) = (
    503,
    "recording storage is starting (`starting`, `Retry-After: 1`) or unusable (`unavailable`)",
);

const CAMERA_NOT_FOUND: (u16, &str) = (
    404,
    "no camera of that name is on (`not_found`; told to Camera control and above)",
);
const CAMERA_FORBIDDEN: (u16, &str) = (
    403,
    "a Live-only user the camera is not shared with (`forbidden`), as over RTSP; any name not on reads the same to them",
);
const CAMERA_OFFLINE: (u16, &str) = (
    503,
    "the camera sends nothing now (`camera_offline`, `Retry-After: 1`; the message says why)",
);

/// The API: every route with its description. `finish` turns it into a router and the document.
fn api() -> ApiRouter<WebState> {
    ApiRouter::new()
        .api_route(
            "/api/v1/setup",
            post_with(setup::setup, |op| {
                errs(
                    op.tag("accounts")
                        .summary("Register the first administrator (no credentials, the one-time setup code; only while none exists)")
                        .response::<201, Json<NewAccount>>(),
                    &[
                        (403, "the setup code is missing or wrong (`setup_code`; counted as a failed login)"),
                        (409, "an administrator exists (`already_set_up`)"),
                        (429, "too many failures from this address (`locked_out`, `Retry-After`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/status",
            get_with(status::status, |op| {
                op.tag("device").summary("Device status; administrators also get the configuration warnings")
            }),
        )
        .api_route(
            "/api/v1/time",
            get_with(time::get, |op| {
                errs(
                    op.tag("device")
                        .summary("Date and time: mode, time zone, NTP sync state, offset, servers, clock permission"),
                    &[(404, "no time service")],
                )
            })
            .put_with(time::set, |op| {
                errs(
                    op.tag("device")
                        .summary("Set the clock by hand (NTP tab \"Manual setting\"); the settings are `time` in /api/v1/config")
                        .input::<JsonBody<time::ManualTime>>(),
                    &[
                        (404, "no time service"),
                        (409, "NTP owns the clock (`ntp_active`) or camward may not set it here (`not_permitted`: not root, in a container)"),
                        (422, "not an RFC 3339 time between 2000 and 2099 (`invalid`, path `utc`)"),
                        (500, "clock_settime failed (`clock_failed`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/audit",
            get_with(audit::audit, |op| {
                op.tag("device")
                    .summary("Security audit of the live configuration (the report of `camward audit`): \
                              each caution of the paper that applies, with severity, reason and fix")
                    .response::<200, Json<camward_config::audit::Report>>()
            }),
        )
        .api_route(
            "/api/v1/status/details",
            get_with(device::details, |op| {
                errs(
                    op.tag("device").summary(
                        "Model, serial, firmware, uptime, listeners, storage, recording and viewers per stream, certificate",
                    ),
                    &[(404, "this server reports no device state")],
                )
            }),
        )
        .api_route(
            "/api/v1/streams",
            get_with(device::streams, |op| {
                errs(
                    op.tag("live").summary("The streams as viewers see them: codec, size, rate, bit rate, RTSP ports"),
                    &[(404, "this server reports no device state")],
                )
            }),
        )
        .api_route(
            "/api/v1/logout",
            get_with(maintenance::logout, |op| {
                err(
                    op.tag("accounts")
                        .summary("Always 401 without checking credentials: a browser forgets the ones it holds"),
                    401,
                    "always (`logged_out`), with fresh Digest challenges",
                )
            }),
        )
        .api_route(
            "/api/v1/maintenance/restart",
            post_with(maintenance::restart, |op| {
                errs(
                    op.tag("maintenance")
                        .summary("Restart the camera (audited)")
                        .response::<202, Json<maintenance::Restarting>>(),
                    &[(404, "this server cannot restart itself")],
                )
            }),
        )
        .api_route(
            "/api/v1/maintenance/factory-reset",
            post_with(maintenance::factory_reset, |op| {
                errs(
                    op.tag("maintenance")
                        .summary("Settings to defaults, accounts deleted, recordings kept or wiped; then restart (audited)")
                        .input::<JsonBody<maintenance::FactoryReset>>()
                        .response::<202, Json<maintenance::Restarting>>(),
                    &[(404, "this server cannot restart itself")],
                )
            }),
        )
        .api_route(
            "/api/v1/config/backup",
            post_with(maintenance::backup, |op| {
                errs(
                    op.tag("config")
                        .summary("The settings as a file, secrets sealed with the device key or a passphrase (body optional)")
                        .input::<JsonBody<maintenance::BackupRequest>>(),
                    &[(422, "a passphrase shorter than 8 characters (`backup.passphrase.length`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/config/restore",
            post_with(maintenance::restore, |op| {
                errs(
                    op.tag("config")
                        .summary("Restore a backup file: every section replaced, validated as a whole")
                        .input::<JsonBody<maintenance::RestoreRequest>>()
                        .response::<200, Json<ConfigView>>(),
                    &[
                        (422, "not a backup (`backup.format`), wrong camera or passphrase (`backup.key`), damaged (`backup.damaged`), or invalid settings"),
                        (409, "the backup's host filter would refuse the requester (`refused`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/config",
            get_with(config::get_config, |op| {
                op.tag("config")
                    .summary("The configuration, secrets as {\"set\": bool}, with read-only `warnings` and `certificate`")
                    .response::<200, Json<ConfigView>>()
            })
            .patch_with(config::patch_config, |op| {
                errs(
                    op.tag("config")
                        .summary("Change settings with an RFC 7396 merge patch, validated as a whole")
                        .input::<JsonBody<ConfigPatch>>()
                        .response::<200, Json<ConfigView>>(),
                    &[(409, "the new host filter would refuse the requester (`refused`, rule `host_auth.self_lockout`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/config/schema",
            get_with(config::schema, |op| {
                op.tag("config")
                    .summary("JSON Schema (draft 2020-12) of the configuration document")
                    .response::<200, Json<JsonDocument>>()
            }),
        )
        .api_route(
            "/api/v1/users",
            get_with(users::list, |op| op.tag("accounts").summary("List accounts"))
                .post_with(users::create, |op| {
                    errs(
                        op.tag("accounts")
                            .summary("Create an account")
                            .response::<201, Json<NewAccount>>(),
                        &[(409, "the user name is taken (`exists`)")],
                    )
                }),
        )
        .api_route(
            "/api/v1/users/{name}",
            aide::axum::routing::patch_with(users::update, |op| {
                errs(
                    op.tag("accounts").summary("Change a password and/or a level (own password: any user)"),
                    &[
                        (404, "no such account (`not_found`)"),
                        (409, "demoting the last administrator (`last_admin`)"),
                    ],
                )
            })
            .delete_with(users::delete, |op| {
                errs(
                    op.tag("accounts")
                        .summary("Delete an account")
                        .response_with::<204, (), _>(|r| r.description("deleted")),
                    &[
                        (404, "no such account (`not_found`)"),
                        (409, "the last administrator (`last_admin`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/log",
            get_with(log::log, |op| {
                errs(
                    op.tag("device").summary("The audit log, newest first, filtered by kind, actor and time"),
                    &[(400, "a bad `limit` or `before` (`bad_request`, rule `query`), or a bad filter (`bad_query`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/log/download",
            get_with(log::download, |op| {
                errs(
                    op.tag("device").summary("The selected audit log entries as a CSV or JSON file"),
                    &[(400, "a bad filter or format (`bad_query`, `bad_request`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/certificate",
            get_with(certificate::get, |op| {
                errs(
                    op.tag("certificate").summary("The served device certificate").response::<200, Json<Certificate>>(),
                    &[(404, "no device identity")],
                )
            })
            .put_with(certificate::install, |op| {
                errs(
                    op.tag("certificate")
                        .summary("Install a CA-issued chain (PEM text, or JSON {\"pem\"})")
                        .input::<JsonBody<PemBody>>()
                        .response::<200, Json<Certificate>>(),
                    &[(422, "the chain is refused (`invalid`, path `certificate`, rule `key_mismatch`, `chain_broken`, `expired`, …)")],
                )
            })
            .delete_with(certificate::delete, |op| {
                op.tag("certificate")
                    .summary("Remove the CA-issued chain; the self-signed certificate is served")
                    .response::<200, Json<Certificate>>()
            }),
        )
        .api_route(
            "/api/v1/certificate/self-signed",
            post_with(certificate::self_signed, |op| {
                op.tag("certificate")
                    .summary("Make a new self-signed certificate for the device key")
                    .response::<200, Json<Certificate>>()
            }),
        )
        .api_route(
            "/api/v1/certificate/csr",
            post_with(certificate::csr, |op| {
                errs(
                    op.tag("certificate")
                        .summary("A certificate signing request (PEM) for the device key; the body is optional")
                        .input::<JsonBody<CsrRequest>>(),
                    &[(422, "a bad `cn` or `sans` (`invalid`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/certificate/chain.pem",
            get_with(certificate::chain_pem, |op| {
                op.tag("certificate").summary("The served chain as PEM")
            }),
        )
        .api_route(
            "/api/v1/snapshot.jpg",
            get_with(media::snapshot, |op| {
                errs(
                    op.tag("live").summary("One JPEG of the latest picture"),
                    &[
                        (400, "a bad `stream`/`size` (`bad_query`)"),
                        (500, "the picture cannot be decoded or encoded (`decode_failed`, `jpeg_failed`)"),
                        (503, "the stream is off or not producing yet (`stream_off`, `not_ready`, `unavailable`; `Retry-After: 1`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/mjpeg",
            get_with(media::mjpeg, |op| {
                errs(
                    op.tag("live").summary("MJPEG: multipart/x-mixed-replace of JPEGs"),
                    &[
                        (400, "a bad `stream`/`size`/`fps` (`bad_query`)"),
                        (503, "the stream is off (`stream_off`, `Retry-After: 1`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/cameras/status",
            get_with(cameras::status, |op| {
                errs(
                    op.tag("recordings")
                        .summary("Upstream cameras of recorder mode: connected, bit rate, last frame, last error"),
                    &[(404, "this server records no upstream cameras (`not_found`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/cameras",
            get_with(cameras::list, |op| {
                errs(
                    op.tag("live")
                        .summary("The upstream cameras this user may watch (a Live-only user: those shared with them)"),
                    &[(404, "this server records no upstream cameras (`not_found`)")],
                )
            }),
        )
        .api_route(
            "/api/v1/cameras/{name}/live.mp4",
            get_with(cameras::live_mp4, |op| {
                errs(
                    op.tag("live")
                        .summary("An upstream camera's H.264 as endless fragmented MP4, as received (no re-encoding)"),
                    &[
                        CAMERA_NOT_FOUND,
                        CAMERA_FORBIDDEN,
                        CAMERA_OFFLINE,
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/cameras/{name}/snapshot.jpg",
            get_with(cameras::snapshot, |op| {
                errs(
                    op.tag("live")
                        .summary("One JPEG of an upstream camera's latest picture, at its own size (decoded on request)"),
                    &[
                        CAMERA_NOT_FOUND,
                        CAMERA_FORBIDDEN,
                        (500, "the picture cannot be decoded or encoded (`decode_failed`, `jpeg_failed`)"),
                        CAMERA_OFFLINE,
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/cameras/{name}/mjpeg",
            get_with(cameras::mjpeg, |op| {
                errs(
                    op.tag("live")
                        .summary("MJPEG of an upstream camera: multipart/x-mixed-replace of JPEGs, decoded only while watched")
                        .input::<Query<cameras::CameraMjpegParams>>(),
                    &[
                        (400, "a bad `fps` (`bad_query`)"),
                        CAMERA_NOT_FOUND,
                        CAMERA_FORBIDDEN,
                        CAMERA_OFFLINE,
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/recordings",
            get_with(recordings::list, |op| {
                errs(
                    op.tag("recordings")
                        .summary("Recordings overlapping [from, to), oldest first")
                        .input::<Query<recordings::FilterParams>>(),
                    &[(400, "a bad filter (`bad_query`; `errors[0].path` names it)"), STORAGE],
                )
            }),
        )
        .api_route(
            "/api/v1/recordings/{file}",
            get_with(recordings::download, |op| {
                errs(
                    op.tag("recordings")
                        .summary("Download a recording as stored (`{id}.mp4`), with Range support")
                        .response_with::<206, recordings::Video, _>(|r| r.description("the requested range")),
                    &[
                        (404, "no such recording, or retention deleted it (`not_found`)"),
                        (416, "the range is outside the file (`range_not_satisfiable`, `Content-Range: bytes */LEN`)"),
                        STORAGE,
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/recordings/{id}/verification",
            get_with(recordings::verification, |op| {
                errs(
                    op.tag("recordings")
                        .summary("The camera's check of a recording's signatures: authentic, altered at frame N, unsigned, encrypted, …"),
                    &[(400, "the id is not a recording number (`bad_request`)"), (404, "no such recording (`not_found`)"), STORAGE],
                )
            }),
        )
        .api_route(
            "/api/v1/live.mp4",
            get_with(media::live_mp4, |op| {
                errs(
                    op.tag("live").summary("Live H.264 as endless fragmented MP4 (for Media Source Extensions)"),
                    &[
                        (400, "a bad `stream` (`bad_query`)"),
                        (503, "the stream is off (`stream_off`, `Retry-After: 1`)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/export.mp4",
            get_with(recordings::export, |op| {
                errs(
                    op.tag("recordings")
                        .summary("One MP4 of the whole GOPs covering [from, to)")
                        .input::<Query<recordings::FilterParams>>(),
                    &[
                        (400, "`from`/`to` missing or bad (`bad_query`)"),
                        (404, "nothing was recorded then (`not_found`)"),
                        (422, "the range spans a format change (`format_change`)"),
                        STORAGE,
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/alarm",
            get_with(alarm::status, |op| op.tag("alarm").summary("The alarm indicator"))
                .post_with(alarm::command, |op| {
                    errs(
                        op.tag("alarm")
                            .summary("Raise the command alarm (body optional: {\"source\": \"command\"})")
                            .input::<JsonBody<alarm::CommandBody>>()
                            .response::<202, Json<alarm::AlarmInfo>>(),
                        &[
                            (400, "the body is not an object (`json`) or names another source (`alarm.source`)"),
                            (409, "the command alarm is off (`alarm.command.disabled`), or `audio` (`alarm.audio.unavailable`)"),
                        ],
                    )
                }),
        )
        .api_route(
            "/api/v1/alarm/log",
            get_with(alarm::recent, |op| op.tag("alarm").summary("Recent alarms, newest first")),
        )
        .api_route(
            "/api/v1/firmware",
            post_with(firmware::upload, |op| {
                errs(
                    op.tag("firmware")
                        .summary("Install a signed firmware bundle into the inactive slot; the daemon then restarts into it (paper §3.11)")
                        .response::<200, Json<firmware::InstallAnswer>>(),
                    &[
                        (404, "this server does not install firmware (`not_found`)"),
                        (409, "another install or a trial boot is in progress (`busy`)"),
                        (413, "the bundle is over the device's limit (`too_large`)"),
                        (422, "the bundle is refused (`refused`; `errors[0].rule`: `signature.unknown_key`, `signature.invalid`, `manifest.expired`, `manifest.product`, `security_version.below_floor`, `payload.truncated`, `payload.altered`, `encryption.no_key`, `format`, …)"),
                    ],
                )
            }),
        )
        .api_route(
            "/api/v1/openapi.json",
            get_with(openapi_json, |op| {
                op.tag("device")
                    .summary("This OpenAPI 3.1 document")
                    .response::<200, Json<JsonDocument>>()
            }),
        )
}

async fn openapi_json(State(st): State<WebState>, _p: Authed) -> Json<Value> {
    Json(
        st.openapi
            .get()
            .cloned()
            .unwrap_or_default()
            .as_ref()
            .clone(),
    )
}

/// The OpenAPI document of [`api`], without a router (for tests and tools).
pub fn openapi() -> Value {
    aide::generate::infer_responses(true);
    let mut doc = OpenApi::default();
    let _ = api().finish_api_with(&mut doc, describe);
    serde_json::to_value(doc).expect("OpenAPI serialises to JSON")
}

fn describe(api: aide::transform::TransformOpenApi<'_>) -> aide::transform::TransformOpenApi<'_> {
    api.info(Info {
        title: "camward HTTP API".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: Some(
            "The API of the camward network camera. Every route but POST /api/v1/setup needs \
             HTTP Digest (RFC 7616, SHA-256 or MD5, qop=auth, realm `camward`); setup needs the \
             one-time setup code the camera prints on its console instead. Errors are \
             {\"error\", \"message\", \"errors\"?}. See docs/api.md."
                .into(),
        ),
        ..Default::default()
    })
    .security_scheme(
        SECURITY_SCHEME,
        SecurityScheme::Http {
            scheme: "digest".into(),
            bearer_format: None,
            description: Some(
                "RFC 7616 Digest; Basic too while user_auth.method is digest_or_basic".into(),
            ),
            extensions: Default::default(),
        },
    )
}

pub(crate) fn router(state: WebState) -> Router {
    aide::generate::infer_responses(true);
    let mut doc = OpenApi::default();
    let router = api()
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(crate::BODY_LIMIT))
        .finish_api_with(&mut doc, describe);
    let _ = state.openapi.set(Arc::new(
        serde_json::to_value(doc).expect("OpenAPI serialises to JSON"),
    ));
    router.with_state(state)
}

/// Unknown paths still need credentials: an unauthenticated client learns nothing about what exists.
async fn not_found(_p: Authed) -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// Writes one audit entry for an action of `p` from `peer`; a failure to write is logged, and the
/// action stands.
pub(crate) fn audit(
    st: &WebState,
    p: &camward_auth::Principal,
    peer: std::net::SocketAddr,
    kind: &str,
    detail: Value,
) {
    let ev = camward_store::AuditEvent::new(kind)
        .by(&actor(p, peer))
        .detail(detail);
    if let Err(e) = st.config.store().audit(&ev) {
        tracing::error!(error = %e, kind, "cannot write the audit log");
    }
}

/// The audit actor for a request.
pub(crate) fn actor(p: &camward_auth::Principal, peer: std::net::SocketAddr) -> Actor {
    Actor::remote(p.user.as_deref(), peer.ip())
}

pub(crate) fn level_name(l: Level) -> LevelName {
    match l {
        Level::Admin => LevelName::Admin,
        Level::Control => LevelName::Control,
        Level::Live => LevelName::Live,
    }
}
