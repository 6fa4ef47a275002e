//! What the kubelet API needs from a runtime to stream: start a process in
//! a container with pipes (`exec`), and the session it returns. The
//! containerd runtime implements it; the simulated one does not.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

/// A running process in a container.
pub struct ExecSession {
    pub stdin: Option<tokio::net::unix::pipe::Sender>,
    pub stdout: tokio::net::unix::pipe::Receiver,
    /// None with a TTY (stderr goes to the terminal).
    pub stderr: Option<tokio::net::unix::pipe::Receiver>,
    /// The exit code, once the process ended.
    pub exit: oneshot::Receiver<i32>,
    /// Terminal size changes (width, height).
    pub resize: mpsc::Sender<(u32, u32)>,
    /// Tells the runtime the client closed stdin (the process sees EOF).
    pub close_stdin: Option<oneshot::Sender<()>>,
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
    ) -> Result<ExecSession, (u16, String)>;

    /// The IP of pod `ns/pod` on this node, if it runs here.
    async fn pod_ip(&self, ns: &str, pod: &str) -> Option<String>;
}
