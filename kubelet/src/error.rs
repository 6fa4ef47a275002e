//! Errors of the kubelet library.

/// What can go wrong while running a node agent.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("runtime: {0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("encoding an object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("host information: {0}")]
    Host(#[from] std::io::Error),
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T, E = KubeletError> = std::result::Result<T, E>;
