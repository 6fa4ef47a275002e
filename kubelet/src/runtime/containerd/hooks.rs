//! Container lifecycle hooks (`lifecycle.postStart`, `lifecycle.preStop`),
//! as upstream's kubelet runs them: an `exec` handler runs its command in
//! the container (it fails on a non-zero exit), an `httpGet` handler sends
//! one GET to the pod's IP (or its `host`) and fails only when no response
//! comes, a `sleep` handler waits. postStart runs right after the start and
//! the container is not Running until it returned; when it fails the
//! container is killed (`FailedPostStartHook`). preStop runs before the
//! container is sent SIGTERM, inside the termination grace period.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ContainerdRuntime, PodState, TaskStatus};
use crate::probe;

/// The longest a postStart hook may run (upstream bounds it only by the
/// hook itself; a bound keeps a hung hook from blocking the pod forever).
pub const POST_START_LIMIT: Duration = Duration::from_secs(120);

/// Which hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    PostStart,
    PreStop,
}

impl Hook {
    /// The handler `container` declares for this hook.
    pub fn handler(self, container: &Container) -> Option<&LifecycleHandler> {
        let lifecycle = container.lifecycle.as_ref()?;
        match self {
            Hook::PostStart => lifecycle.post_start.as_ref(),
            Hook::PreStop => lifecycle.pre_stop.as_ref(),
        }
    }

    /// The warning event reason of a failure (upstream's events).
    pub fn failure_reason(self) -> &'static str {
        match self {
            Hook::PostStart => "FailedPostStartHook",
            Hook::PreStop => "FailedPreStopHook",
        }
    }
}

/// Why a hook failed; the message goes into the warning event.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("command '{command}' exited with {code}: {output}")]
    Exec {
        command: String,
        code: i32,
        output: String,
    },
    #[error("command '{0}' did not finish within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}")]
    Runtime(String),
    #[error("Get \"{url}\": {message}")]
    Http { url: String, message: String },
    #[error("invalid port {0}")]
    Port(String),
    #[error("handler has no action")]
    Empty,
}

/// One GET of an httpGet hook; any HTTP response counts (upstream does not
/// look at the status of hook requests).
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    limit: Duration,
) -> Result<(), HookError> {
    let url = format!("http://{host}:{port}{path}");
    let attempt = async {
        let mut stream = TcpStream::connect((host, port)).await?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-lifecycle/1.33\r\nAccept: */*\r\nConnection: close\r\n"
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 16];
        let n = stream.read(&mut head).await?;
        if head[..n].starts_with(b"HTTP/") {
            Ok(())
        } else {
            Err(std::io::Error::other("malformed HTTP response"))
        }
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(HookError::Http {
            url,
            message: e.to_string(),
        }),
        Err(_) => Err(HookError::Http {
            url,
            message: format!("no response within {limit:?}"),
        }),
    }
}

impl ContainerdRuntime {
    /// Runs `handler` for the container `container_id` (its OCI process
    /// `process`) of `pod`, for at most `limit`.
    pub(super) async fn run_hook(
        &self,
        pod: &Pod,
        container: &Container,
        (container_id, process): (&str, &serde_json::Value),
        handler: &LifecycleHandler,
        pod_ip: Option<&str>,
        limit: Duration,
    ) -> Result<(), HookError> {
        if let Some(exec) = &handler.exec {
            let command = exec.command.clone().unwrap_or_default();
            return match self.exec_sync(container_id, process, &command, limit).await {
                Ok(Some((0, _))) => Ok(()),
                Ok(Some((code, output))) => Err(HookError::Exec {
                    command: command.join(" "),
                    code,
                    output: output.trim_end().to_string(),
                }),
                Ok(None) => Err(HookError::Timeout(command.join(" "), limit)),
                Err(e) => Err(HookError::Runtime(e.to_string())),
            };
        }
        if let Some(http) = &handler.http_get {
            let port = probe::resolve_port(&http.port, container)
                .ok_or_else(|| HookError::Port(format!("{:?}", http.port)))?;
            let host = http
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .or(pod_ip)
                .unwrap_or("127.0.0.1");
            let path = match http.path.as_deref().unwrap_or_default() {
                "" => "/".to_string(),
                p if p.starts_with('/') => p.to_string(),
                p => format!("/{p}"),
            };
            let headers: Vec<(String, String)> = http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            tracing::debug!(pod = ?pod.metadata.name, container = %container.name, %host, port, %path, "httpGet hook");
            return http_get(host, port, &path, &headers, limit).await;
        }
        if let Some(sleep) = &handler.sleep {
            let wanted = Duration::from_secs(u64::try_from(sleep.seconds).unwrap_or(0));
            tokio::time::sleep(wanted.min(limit)).await;
            return Ok(());
        }
        Err(HookError::Empty)
    }

    /// Runs `hook` of `container` if it has one; a failure is reported as
    /// a warning event on the pod and returned.
    pub(super) async fn run_lifecycle_hook(
        &self,
        hook: Hook,
        pod: &Pod,
        container: &Container,
        target: (&str, &serde_json::Value),
        pod_ip: Option<&str>,
        limit: Duration,
    ) -> Result<(), HookError> {
        let Some(handler) = hook.handler(container) else {
            return Ok(());
        };
        let result = self
            .run_hook(pod, container, target, handler, pod_ip, limit)
            .await;
        if let Err(e) = &result {
            let kind = if handler.exec.is_some() {
                "Exec"
            } else {
                "HTTP"
            };
            let message = match hook {
                Hook::PostStart => format!(
                    "PostStartHook failed: {kind} lifecycle hook for Container {:?} failed: {e}",
                    container.name
                ),
                Hook::PreStop => format!(
                    "PreStopHook failed: {kind} lifecycle hook for Container {:?} failed: {e}",
                    container.name
                ),
            };
            tracing::warn!(pod = ?pod.metadata.name, container = %container.name, error = %e, ?hook, "lifecycle hook failed");
            self.events
                .pod_event(
                    pod,
                    Some(&container.name),
                    true,
                    hook.failure_reason(),
                    &message,
                )
                .await;
        }
        result
    }
}

impl ContainerdRuntime {
    /// Runs the preStop hooks of the pod's running containers, all at
    /// once, within `grace`.
    pub(super) async fn run_pre_stop_hooks(&self, pod: &Pod, state: &PodState, grace: Duration) {
        let containers = pod
            .spec
            .as_ref()
            .map(|s| s.containers.as_slice())
            .unwrap_or_default();
        let mut runs = Vec::new();
        for container in containers {
            if Hook::PreStop.handler(container).is_none() {
                continue;
            }
            let Some(record) = state.containers.get(&container.name) else {
                continue;
            };
            if record.exited.is_some()
                || !matches!(self.task_state(&record.id).await, Ok(Some((s, _, _))) if s != TaskStatus::Stopped)
            {
                continue;
            }
            runs.push(self.run_lifecycle_hook(
                Hook::PreStop,
                pod,
                container,
                (&record.id, &record.process),
                state.ip.as_deref(),
                grace,
            ));
        }
        if runs.is_empty() {
            return;
        }
        // Failures are events; the containers are stopped either way.
        let _ = tokio::time::timeout(grace, futures::future::join_all(runs)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http_hook_accepts_any_response_and_fails_without_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.expect("read");
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await
                .expect("write");
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        http_get(
            "127.0.0.1",
            port,
            "/echo?msg=x",
            &[],
            Duration::from_secs(5),
        )
        .await
        .expect("a 404 still runs the hook");
        let request = server.await.expect("server");
        assert!(
            request.starts_with("GET /echo?msg=x HTTP/1.1\r\n"),
            "{request}"
        );
        // Nothing listens any more.
        let err = http_get("127.0.0.1", port, "/", &[], Duration::from_secs(5))
            .await
            .expect_err("no server");
        assert!(
            err.to_string().starts_with("Get \"http://127.0.0.1:"),
            "{err}"
        );
    }
}
