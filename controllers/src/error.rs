//! The crate's error type: API failures and objects that cannot be handled.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("encoding an object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("watch failed: {0}")]
    Watch(#[from] kube::runtime::watcher::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the API server said, as upstream's `err.Error()` of a client-go
/// status error (`pods "x" is forbidden: exceeded quota: ...`); other
/// errors as they display.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// True for a 404 from the API server.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True for a 409 (conflict or already exists).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
