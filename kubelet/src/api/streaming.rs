//! What the kubelet API needs from a runtime to stream: start a process in
//! a container (`exec`), join a container's own process (`attach`), and
//! find a pod's network for port-forward. The containerd runtime
//! implements it; the simulated one does not. The transports (WebSocket,
//! SPDY) only see `ProcessStreams`.

use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// The I/O of a process a client streams with.
pub struct ProcessStreams {
    /// Input; dropping it is the client's end of input (EOF for an exec;
    /// for attach, the container's stdin closes when it has `stdinOnce`).
    pub stdin: Option<mpsc::Sender<Bytes>>,
    /// Output; each ends once the process ended and its output was read.
    pub stdout: Option<mpsc::Receiver<Bytes>>,
    /// None with a TTY (stderr goes to the terminal).
    pub stderr: Option<mpsc::Receiver<Bytes>>,
    /// The exit code, once the process ended.
    pub exit: oneshot::Receiver<i32>,
    /// Terminal size changes (width, height).
    pub resize: mpsc::Sender<(u32, u32)>,
}

/// Why a stream could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamingError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The process could not start (e.g. no such executable): like
    /// upstream, reported on the error stream after the upgrade.
    #[error("{0}")]
    Start(String),
}

impl StreamingError {
    /// The HTTP status when answered before the upgrade.
    pub fn status(&self) -> u16 {
        match self {
            StreamingError::NotFound(_) => 404,
            StreamingError::BadRequest(_) => 400,
            StreamingError::Start(_) => 500,
        }
    }
}

/// Where a pod's ports are: its network namespace (None: the host's,
/// for hostNetwork pods) and its IP.
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    pub uid: String,
    /// The runtime's id of the pod's sandbox (for error messages).
    pub sandbox_id: String,
    pub netns: Option<PathBuf>,
    pub ip: Option<String>,
}

/// What an attach asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

#[async_trait]
pub trait StreamingRuntime: Send + Sync {
    /// Starts `command` in `container` of pod `ns/pod`.
    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> Result<ProcessStreams, StreamingError>;

    /// Joins the running process of `container`: its live output from
    /// now on, and its stdin (when the container has `stdin: true`).
    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        opts: AttachOptions,
    ) -> Result<ProcessStreams, StreamingError>;

    /// The network of pod `ns/pod`, if it runs here.
    async fn port_forward_target(&self, ns: &str, pod: &str) -> Option<ForwardTarget>;
}
