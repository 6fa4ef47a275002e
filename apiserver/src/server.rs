//! The HTTPS server: a TLS accept loop (rustls, ALPN h2/http1.1) feeding
//! hyper, the route table, and the per-request middleware (authentication,
//! metrics, tracing span).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{Instrument, debug, info_span};

use crate::authn::{Authenticated, UserInfo, is_public_path};
use crate::error::ApiError;
use crate::request_info;
use crate::state::ApiState;
use crate::{discovery, handlers, health, openapi, serviceaccount};

/// All routes of the API server.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz/{check}", get(health::healthz_check))
        .route("/livez/{check}", get(health::livez_check))
        .route("/readyz/{check}", get(health::readyz_check))
        .route("/version", get(health::version))
        .route("/metrics", get(health::metrics))
        .route(
            "/.well-known/openid-configuration",
            get(serviceaccount::oidc::configuration),
        )
        .route("/openid/v1/jwks", get(serviceaccount::oidc::jwks))
        // Discovery answers with and without a trailing slash, as upstream
        // (`kubectl proxy` users and old clients ask for `/api/`).
        .route("/api", get(discovery::api))
        .route("/api/", get(discovery::api))
        .route("/apis", get(discovery::apis))
        .route("/apis/", get(discovery::apis))
        .route("/api/{version}", get(discovery::core_version))
        .route("/api/{version}/", get(discovery::core_version))
        .route("/apis/{group}", get(discovery::group))
        .route("/apis/{group}/", get(discovery::group))
        .route("/apis/{group}/{version}", get(discovery::group_version))
        .route("/apis/{group}/{version}/", get(discovery::group_version))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_root))
        .route("/openapi/v3/{*path}", get(openapi::v3_group_version))
        .fallback(handlers::resource)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Authentication, metrics and a tracing span around every request.
async fn observe(State(state): State<Arc<ApiState>>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let path = req.uri().path().to_string();
    let mut authenticated = req
        .extensions()
        .get::<Authenticated>()
        .and_then(|a| a.0.clone());
    // A client certificate wins; otherwise a bearer token must be valid
    // (a bad one is 401 even on public paths, as upstream).
    if authenticated.is_none()
        && let Some(token) = bearer_token(req.headers())
    {
        match serviceaccount::authenticator::authenticate(&state, token, None).await {
            Ok(Some(a)) => authenticated = Some(a.user),
            Ok(None) => return ApiError::unauthorized().into_response(),
            Err(e) => {
                debug!(error = %e, "bearer token refused");
                return ApiError::unauthorized().into_response();
            }
        }
        if let Some(user) = &authenticated {
            req.extensions_mut()
                .insert(Authenticated(Some(user.clone())));
        }
    }
    if authenticated.is_none() && !is_public_path(&path) {
        return ApiError::unauthorized().into_response();
    }
    let watch = req
        .uri()
        .query()
        .is_some_and(|q| q.contains("watch=true") || q.contains("watch=1"));
    let info = request_info::parse(req.method(), &path, watch);
    let (verb, resource) = match &info {
        Some(i) => (metric_verb(i.verb), i.resource.clone()),
        None => (req.method().as_str().to_string(), String::new()),
    };
    let user = authenticated
        .map(|u| u.name)
        .unwrap_or_else(|| "system:anonymous".into());
    let span = info_span!("request", method = %req.method(), path = %path, user = %user);
    let gzip = crate::compress::accepts_gzip(req.headers());
    let mut resp = next.run(req).instrument(span).await;
    if gzip {
        resp = crate::compress::maybe_gzip(resp).await;
    }
    let code = resp.status().as_u16();
    state
        .metrics
        .observe(&verb, &resource, code, start.elapsed());
    debug!(%verb, %path, code, took_ms = start.elapsed().as_millis() as u64, "request");
    resp
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Upstream's metric verb labels: LIST and WATCH are told apart from GET.
fn metric_verb(verb: &str) -> String {
    match verb {
        "get" => "GET",
        "list" => "LIST",
        "watch" => "WATCH",
        "create" => "POST",
        "update" => "PUT",
        "patch" => "PATCH",
        "delete" | "deletecollection" => "DELETE",
        other => other,
    }
    .to_string()
}

/// Serves `router` over TLS on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move { serve_connection(acceptor, tcp, peer, app).await });
    }
}

async fn serve_connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
) {
    let tls = match acceptor.accept(tcp).await {
        Ok(s) => s,
        Err(e) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
    };
    let user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|c| UserInfo::from_client_cert(c.as_ref()));
    let identity = Authenticated(user);
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(identity.clone());
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await
    {
        debug!(%peer, error = %e, "connection ended with error");
    }
}
