//! The join routes every HA server serves next to the Kubernetes API:
//! `/cacerts` (public, like k3s: a CA certificate is no secret), and, with
//! basic auth `server:<secret>`, the shared PKI and the store's member add.
//! A wrong or missing credential gets a bare 401 that says nothing else.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use store::{Kv, StoreError};

use super::token::secrets_equal;
use super::{BOOTSTRAP_PATH, CACERTS_PATH, MEMBERS_PATH, SERVER_USER};
use crate::pki::{CLUSTER_SHARED_FILES, PkiFiles};

/// What the routes need: the data dir holding the shared files, the
/// token's secret, and the store to add members to.
pub struct JoinConfig {
    pub data_dir: PathBuf,
    pub secret: String,
    pub kv: Arc<dyn Kv>,
}

/// The body of `POST /v1-oxkube/members`.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberAddRequest {
    #[serde(rename = "peerURLs")]
    pub peer_urls: Vec<String>,
}

/// The answer: the new (or already added) member's id.
#[derive(Debug, Serialize, Deserialize)]
pub struct MemberAddResponse {
    pub id: u64,
}

/// The answer of the bootstrap route: each shared file, base64.
#[derive(Debug, Serialize, Deserialize)]
pub struct BootstrapResponse {
    pub files: std::collections::BTreeMap<String, String>,
}

/// The join routes, with their own state (merged into the API server's
/// router outside its authentication layer).
pub fn router(config: JoinConfig) -> Router {
    Router::new()
        .route(CACERTS_PATH, get(cacerts))
        .route(BOOTSTRAP_PATH, get(bootstrap))
        .route(MEMBERS_PATH, post(add_member))
        .with_state(Arc::new(config))
}

fn text(code: StatusCode, body: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{body}\n"),
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Basic realm=\"oxkube\""),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "Unauthorized\n",
    )
        .into_response()
}

/// Whether `headers` carry `Authorization: Basic base64(server:<secret>)`.
fn authorized(headers: &HeaderMap, secret: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Some(split) = decoded.iter().position(|b| *b == b':') else {
        return false;
    };
    let (user, password) = (&decoded[..split], &decoded[split + 1..]);
    // Both comparisons run, so the time does not tell which one failed.
    let user_ok = secrets_equal(user, SERVER_USER.as_bytes());
    let secret_ok = secrets_equal(password, secret.as_bytes());
    user_ok & secret_ok
}

async fn cacerts(State(config): State<Arc<JoinConfig>>) -> Response {
    let path = PkiFiles::in_dir(&config.data_dir).ca_cert;
    match tokio::fs::read(&path).await {
        Ok(pem) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            pem,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(path = %path.display(), %err, "reading the CA for /cacerts");
            text(StatusCode::INTERNAL_SERVER_ERROR, "CA unavailable")
        }
    }
}

async fn bootstrap(State(config): State<Arc<JoinConfig>>, headers: HeaderMap) -> Response {
    if !authorized(&headers, &config.secret) {
        tracing::warn!(
            path = BOOTSTRAP_PATH,
            "join request with a wrong token refused"
        );
        return unauthorized();
    }
    let mut files = std::collections::BTreeMap::new();
    for relative in CLUSTER_SHARED_FILES {
        let path = config.data_dir.join(relative);
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                files.insert(
                    relative.to_string(),
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                );
            }
            Err(err) => {
                tracing::error!(path = %path.display(), %err, "reading a shared file");
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "shared files unavailable",
                );
            }
        }
    }
    tracing::info!(
        files = files.len(),
        "sent the cluster PKI to a joining server"
    );
    axum::Json(BootstrapResponse { files }).into_response()
}

async fn add_member(
    State(config): State<Arc<JoinConfig>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&headers, &config.secret) {
        tracing::warn!(
            path = MEMBERS_PATH,
            "join request with a wrong token refused"
        );
        return unauthorized();
    }
    let request: MemberAddRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(err) => return text(StatusCode::BAD_REQUEST, &format!("bad request: {err}")),
    };
    if request.peer_urls.is_empty() {
        return text(StatusCode::BAD_REQUEST, "peerURLs is empty");
    }
    match config.kv.member_add(request.peer_urls.clone(), true).await {
        Ok((_, member, _)) => {
            tracing::info!(
                member = %format!("{:x}", member.id),
                peer_urls = ?request.peer_urls,
                "added a store learner for a joining server"
            );
            axum::Json(MemberAddResponse { id: member.id }).into_response()
        }
        // A server that retries its join after a crash finds itself added.
        Err(StoreError::PeerUrlExists) => {
            match same_member(&*config.kv, &request.peer_urls).await {
                Some(id) => axum::Json(MemberAddResponse { id }).into_response(),
                None => text(
                    StatusCode::CONFLICT,
                    "a member with some of these peer URLs exists",
                ),
            }
        }
        Err(err) => {
            tracing::warn!(%err, "adding a store member failed");
            let code = match err {
                StoreError::Timeout | StoreError::NoLeader => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            text(code, &format!("adding the member: {err}"))
        }
    }
}

/// The id of the member whose peer URLs are exactly `peer_urls`.
async fn same_member(kv: &dyn Kv, peer_urls: &[String]) -> Option<u64> {
    let (_, members) = kv.members().await.ok()?;
    let mut wanted = peer_urls.to_vec();
    wanted.sort();
    members.into_iter().find_map(|m| {
        let mut urls = m.peer_urls;
        urls.sort();
        (urls == wanted).then_some(m.id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {value}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn only_the_server_user_with_the_secret_passes() {
        assert!(authorized(&basic("server", "s"), "s"));
        assert!(!authorized(&basic("server", "t"), "s"));
        assert!(!authorized(&basic("node", "s"), "s"));
        assert!(!authorized(&HeaderMap::new(), "s"));
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer s".parse().unwrap());
        assert!(!authorized(&bearer, "s"));
    }

    #[test]
    fn member_add_body_uses_etcds_field_name() {
        let r: MemberAddRequest =
            serde_json::from_value(json!({"peerURLs": ["https://a:2380"]})).unwrap();
        assert_eq!(r.peer_urls, vec!["https://a:2380"]);
    }
}
