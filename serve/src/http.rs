//! The HTTP listener (hyper 1, HTTP/1.1 and 1.0):
//!
//! | method and path | what |
//! |---|---|
//! | `POST /checkv2` | check the body (a message) with rspamd's request headers; rspamd's JSON answer |
//! | `GET /metrics` | Prometheus text |
//! | `GET /health` | `200` with the active pack as JSON; `503` without one |
//! | `GET /ping` | `pong` (rspamd's liveness check) |
//! | `GET /admin/pack` | lifecycle status (active, previous packs, events) |
//! | `POST /admin/pack` | load the body as a pack (`X-Mailward-Signature`: its `.sig`, base64) |
//! | `POST /admin/pack/rollback` | back to the previous pack |
//! | `POST /admin/pack/rescan` | rescan the watched directory and the store now (like SIGHUP) |
//!
//! `/admin/…` needs `Authorization: Bearer TOKEN` when a token is
//! configured, and a loopback client otherwise.

use crate::{ServeError, Shared, Source, rspamd};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use mailward_host::PackCandidate;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Accepts HTTP connections until shutdown, then lets the open requests
/// finish.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) -> Result<(), ServeError> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = shared.shutdown.clone();
    if let Ok(a) = listener.local_addr() {
        tracing::info!(target: "mailward::serve", "http listening on {a}");
    }
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(target: "mailward::serve", "http accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = crate::stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(req, &shared, peer).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(target: "mailward::serve", %peer, "http connection: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    respond(status, "application/json", v.to_string())
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Resp {
    json(status, &serde_json::json!({ "error": msg.to_string() }))
}

async fn handle(req: Request<Incoming>, shared: &Shared, peer: SocketAddr) -> Resp {
    let path = req.uri().path().to_string();
    let r = match (req.method(), path.as_str()) {
        (&Method::POST, "/checkv2") => checkv2(req, shared).await,
        (&Method::GET, "/metrics") => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            shared.checker.metrics().render(shared.checker.manager()),
        ),
        (&Method::GET, "/health") => health(shared),
        (&Method::GET, "/ping") => respond(StatusCode::OK, "text/plain", "pong\r\n"),
        (_, p) if p.starts_with("/admin/") => {
            if !admin_allowed(&req, shared, peer) {
                error(
                    StatusCode::FORBIDDEN,
                    "admin endpoints need the admin token or a loopback client",
                )
            } else {
                admin(req, shared, &path).await
            }
        }
        (_, "/checkv2" | "/metrics" | "/health" | "/ping") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => error(StatusCode::NOT_FOUND, "not found"),
    };
    shared
        .checker
        .metrics()
        .http_request(r.status().is_client_error() || r.status().is_server_error());
    r
}

fn health(shared: &Shared) -> Resp {
    match shared.checker.manager().active() {
        Some(a) => json(
            StatusCode::OK,
            &serde_json::json!({
                "status": "ok",
                "pack": {
                    "name": a.info().name,
                    "version": a.info().version,
                    "contract": a.info().contract,
                    "sha256": a.pack().sha256,
                },
                "fail_policy": shared.checker.manager().config().fail_policy.as_str(),
            }),
        ),
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "no rule pack loaded"}),
        ),
    }
}

async fn checkv2(req: Request<Incoming>, shared: &Shared) -> Resp {
    let start = Instant::now();
    let limit = shared.config.max_message_bytes;
    let headers = req.headers().clone();
    let envelope = rspamd::envelope(|name| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()));
    let message = match read_bounded(req.into_body(), limit).await {
        Ok(Body::Whole(m)) => m,
        Ok(Body::TooLarge(size)) => {
            let d = shared
                .checker
                .too_large(Source::Http, size, limit, envelope.queue_id.as_deref());
            return json(
                StatusCode::OK,
                &rspamd::answer(&d.verdict, None, &[], start.elapsed()),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("reading the message: {e}")),
    };
    let id = rspamd::message_id(&message);
    let present = crate::forged::present_in(&message);
    let d = shared.checker.check(Source::Http, envelope, message).await;
    json(
        StatusCode::OK,
        &rspamd::answer(&d.verdict, id, &present, start.elapsed()),
    )
}

/// A request body read with a bound.
enum Body {
    /// All of it.
    Whole(Vec<u8>),
    /// Over the limit: this many bytes were seen (and dropped).
    TooLarge(usize),
}

/// Reads a body of at most `limit` bytes. A longer one is not kept: it is
/// read on and dropped up to another `limit` bytes (so the client, still
/// sending, gets the answer instead of a reset connection), then left.
async fn read_bounded(mut body: Incoming, limit: usize) -> Result<Body, hyper::Error> {
    let mut kept = Vec::new();
    let mut size = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        size = size.saturating_add(data.len());
        if size <= limit {
            kept.extend_from_slice(&data);
        } else {
            kept = Vec::new();
            if size > limit.saturating_mul(2) {
                break;
            }
        }
    }
    Ok(if size > limit {
        Body::TooLarge(size)
    } else {
        Body::Whole(kept)
    })
}

fn admin_allowed(req: &Request<Incoming>, shared: &Shared, peer: SocketAddr) -> bool {
    match &shared.config.admin_token {
        Some(token) => req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), token.as_bytes())),
        None => peer.ip().is_loopback(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Largest pack accepted over HTTP.
const MAX_PACK_BYTES: usize = 256 << 20;

async fn admin(req: Request<Incoming>, shared: &Shared, path: &str) -> Resp {
    let manager = shared.checker.manager().clone();
    match (req.method(), path) {
        (&Method::GET, "/admin/pack") => match serde_json::to_value(manager.status()) {
            Ok(v) => json(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        (&Method::POST, "/admin/pack") => {
            let signature = match req.headers().get("X-Mailward-Signature") {
                None => None,
                Some(v) => match base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                {
                    Some(s) => Some(s),
                    None => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "X-Mailward-Signature must be the .sig file in base64",
                        );
                    }
                },
            };
            let bytes = match Limited::new(req.into_body(), MAX_PACK_BYTES).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(e) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("reading the pack: {e}")),
            };
            let candidate = PackCandidate::from_bytes(bytes, signature, "admin API");
            swap(move || manager.load(candidate)).await
        }
        (&Method::POST, "/admin/pack/rollback") => swap(move || manager.rollback()).await,
        (&Method::POST, "/admin/pack/rescan") => {
            if shared.rescan() {
                json(StatusCode::ACCEPTED, &serde_json::json!({"rescan": "started"}))
            } else {
                error(StatusCode::CONFLICT, "no watcher is running")
            }
        }
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Runs a load or rollback off the async threads (it compiles).
async fn swap<F>(f: F) -> Resp
where
    F: FnOnce() -> Result<mailward_host::SwapReport, mailward_host::LoadError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(report)) => match serde_json::to_value(&report) {
            Ok(v) => json(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        },
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn token_comparison() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secre"));
    }
}
