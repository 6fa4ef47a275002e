//! The containerd runtime's side of the kubelet's streaming API
//! (`crate::api::streaming`): exec (a process added to the container's
//! task through containerd's exec API, with FIFOs for its stdio), attach
//! (the container's own process: its stdin FIFO, kept open by the
//! runtime, and its live output from the log copier's broadcast) and the
//! pod's network namespace for port-forward.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    CloseIoRequest, DeleteProcessRequest, ExecProcessRequest, GetRequest, ResizePtyRequest,
    StartRequest,
};
use containerd_client::tonic::transport::Channel;
use containerd_client::types::v1::Status as TaskStatus;
use k8s_openapi::api::core::v1::Container;
use k8s_openapi::jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{Mutex, broadcast, mpsc, oneshot, watch};

use super::logs::{self, OUTPUT_BACKLOG, OutputChunk, OutputKind};
use super::{ContainerdRuntime, NAMESPACE, PodState, request};
use crate::api::streaming::{
    AttachOptions, ForwardTarget, ProcessStreams, StreamingError, StreamingRuntime,
};
use crate::cni;

/// How long output is still read once the process ended and the pipe is
/// quiet.
const DRAIN_IDLE: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(100);

/// A container's own process I/O, for attach.
pub struct ContainerIo {
    /// The write end of the task's stdin FIFO (`stdin: true`); None once
    /// closed (`stdinOnce` after the first attach with stdin).
    stdin: Mutex<Option<pipe::Sender>>,
    pub stdin_path: Option<PathBuf>,
    stdin_once: bool,
    pub tty: bool,
    /// The live output (fed by the log copier).
    pub output: broadcast::Sender<OutputChunk>,
}

impl ContainerIo {
    /// Makes the stdin FIFO `<fifo_dir>/<id>-stdin` when the container
    /// has `stdin: true`, opened read-write so the process never sees EOF
    /// between attaches.
    pub fn create(fifo_dir: &Path, id: &str, container: &Container) -> std::io::Result<Self> {
        let (stdin, stdin_path) = if container.stdin.unwrap_or(false) {
            let path = fifo_dir.join(format!("{id}-stdin"));
            logs::mkfifo(&path)?;
            let sender = pipe::OpenOptions::new()
                .read_write(true)
                .open_sender(&path)?;
            (Some(sender), Some(path))
        } else {
            (None, None)
        };
        Ok(ContainerIo {
            stdin: Mutex::new(stdin),
            stdin_path,
            stdin_once: container.stdin_once.unwrap_or(false),
            tty: container.tty.unwrap_or(false),
            output: broadcast::channel(OUTPUT_BACKLOG).0,
        })
    }
}

impl Drop for ContainerIo {
    fn drop(&mut self) {
        if let Some(p) = &self.stdin_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether `exited` says the process ended (or nobody will say any more).
fn has_exited(exited: &watch::Receiver<bool>) -> bool {
    *exited.borrow() || exited.has_changed().is_err()
}

/// Copies a pipe into `tx` until the process exited and the pipe stayed
/// quiet for `DRAIN_IDLE` (the pipe is held open read-write: no EOF).
async fn forward_pipe(
    mut from: pipe::Receiver,
    tx: mpsc::Sender<Bytes>,
    mut exited: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let read = if has_exited(&exited) {
            match tokio::time::timeout(DRAIN_IDLE, from.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                r = from.read(&mut buf) => r,
                _ = exited.changed() => continue,
                _ = tx.closed() => return,
            }
        };
        match read {
            Ok(n) if n > 0 => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// Splits the container's live output into stdout and stderr until the
/// container exited and the output stayed quiet for `DRAIN_IDLE`.
async fn forward_output(
    mut from: broadcast::Receiver<OutputChunk>,
    stdout: Option<mpsc::Sender<Bytes>>,
    stderr: Option<mpsc::Sender<Bytes>>,
    mut exited: watch::Receiver<bool>,
) {
    loop {
        let next = if has_exited(&exited) {
            match tokio::time::timeout(DRAIN_IDLE, from.recv()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                r = from.recv() => r,
                _ = exited.changed() => continue,
            }
        };
        let (kind, data) = match next {
            Ok(chunk) => chunk,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(chunks = n, "attach fell behind the container's output");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let to = match kind {
            OutputKind::Stdout => &stdout,
            OutputKind::Stderr => &stderr,
        };
        if let Some(tx) = to
            && tx.send(data).await.is_err()
        {
            return;
        }
    }
}

/// Polls a process of a task until it stopped; its exit code.
async fn wait_exit(
    channel: Channel,
    id: String,
    exec_id: String,
    stop: &oneshot::Sender<i32>,
) -> Option<i32> {
    let mut tasks = TasksClient::new(channel);
    loop {
        let state = tasks
            .get(request(
                GetRequest {
                    container_id: id.clone(),
                    exec_id: exec_id.clone(),
                },
                NAMESPACE,
            ))
            .await;
        match state.map(|r| r.into_inner().process) {
            Ok(Some(p)) if p.status == TaskStatus::Stopped as i32 => {
                return Some(p.exit_status as i32);
            }
            Ok(Some(_)) => {}
            _ => return Some(137),
        }
        if stop.is_closed() {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn resize(
    channel: Channel,
    id: String,
    exec_id: String,
    mut sizes: mpsc::Receiver<(u32, u32)>,
) {
    let mut tasks = TasksClient::new(channel);
    while let Some((width, height)) = sizes.recv().await {
        let _ = tasks
            .resize_pty(request(
                ResizePtyRequest {
                    container_id: id.clone(),
                    exec_id: exec_id.clone(),
                    width,
                    height,
                },
                NAMESPACE,
            ))
            .await;
    }
}

impl ContainerdRuntime {
    async fn find_pod(&self, ns: &str, pod: &str) -> Option<Arc<Mutex<PodState>>> {
        let states: Vec<Arc<Mutex<PodState>>> = self
            .pods
            .lock()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default();
        for st in states {
            let found = {
                let g = st.lock().await;
                g.pod_name.0 == ns && g.pod_name.1 == pod && !g.killed
            };
            if found {
                return Some(st);
            }
        }
        None
    }

    /// The running container's id, OCI process and I/O.
    async fn running(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
    ) -> Result<(String, serde_json::Value, Option<Arc<ContainerIo>>), StreamingError> {
        let st = self.find_pod(ns, pod).await.ok_or_else(|| {
            StreamingError::NotFound(format!("pod {ns}/{pod} not found on this node"))
        })?;
        let st = st.lock().await;
        st.containers
            .get(container)
            .filter(|r| r.exited.is_none())
            .map(|r| (r.id.clone(), r.process.clone(), r.io.clone()))
            .ok_or_else(|| {
                StreamingError::BadRequest(format!(
                    "container {container} is not running in pod {pod}"
                ))
            })
    }
}

#[async_trait]
impl StreamingRuntime for ContainerdRuntime {
    async fn port_forward_target(&self, ns: &str, pod: &str) -> Option<ForwardTarget> {
        let st = self.find_pod(ns, pod).await?;
        let st = st.lock().await;
        let uid = st
            .sandbox_id
            .as_ref()?
            .trim_end_matches("-sandbox")
            .to_string();
        Some(ForwardTarget {
            sandbox_id: st.sandbox_id.clone()?,
            uid,
            netns: st
                .netns
                .as_deref()
                .map(|n| PathBuf::from(cni::netns_path(n))),
            ip: st.ip.clone(),
        })
    }

    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
        tty: bool,
        stdin: bool,
    ) -> Result<ProcessStreams, StreamingError> {
        let (id, process, _) = self.running(ns, pod, container).await?;
        let fail = |e: String| StreamingError::Start(e);
        let exec_id = format!(
            "exec-{}",
            Timestamp::now().as_nanosecond() % 1_000_000_000_000
        );
        let fifo_dir = self.config.root_dir.join("fifo");
        tokio::fs::create_dir_all(&fifo_dir)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let path = |s: &str| fifo_dir.join(format!("{id}-{exec_id}-{s}"));
        let (in_path, out_path, err_path) = (path("in"), path("out"), path("err"));
        let open_rx = |p: &Path| {
            logs::mkfifo(p)?;
            pipe::OpenOptions::new().read_write(true).open_receiver(p)
        };
        let out_pipe = open_rx(&out_path).map_err(|e| fail(e.to_string()))?;
        let err_pipe = if tty {
            None
        } else {
            Some(open_rx(&err_path).map_err(|e| fail(e.to_string()))?)
        };
        let in_pipe = if stdin {
            logs::mkfifo(&in_path).map_err(|e| fail(e.to_string()))?;
            Some(
                pipe::OpenOptions::new()
                    .read_write(true)
                    .open_sender(&in_path)
                    .map_err(|e| fail(e.to_string()))?,
            )
        } else {
            None
        };
        let mut spec = process;
        spec["args"] = serde_json::json!(command);
        spec["terminal"] = serde_json::json!(tty);
        let spec_any = prost_types::Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
            value: serde_json::to_vec(&spec).map_err(|e| fail(e.to_string()))?,
        };
        let mut tasks = TasksClient::new(self.channel.clone());
        let show = |p: &Path, on: bool| {
            if on {
                p.display().to_string()
            } else {
                String::new()
            }
        };
        tasks
            .exec(request(
                ExecProcessRequest {
                    container_id: id.clone(),
                    stdin: show(&in_path, stdin),
                    stdout: show(&out_path, true),
                    stderr: show(&err_path, !tty),
                    terminal: tty,
                    spec: Some(spec_any),
                    exec_id: exec_id.clone(),
                },
                NAMESPACE,
            ))
            .await
            .map_err(|s| fail(s.message().to_string()))?;
        if let Err(s) = tasks
            .start(request(
                StartRequest {
                    container_id: id.clone(),
                    exec_id: exec_id.clone(),
                },
                NAMESPACE,
            ))
            .await
        {
            // An executable that does not exist fails here, like runc's.
            let _ = tasks
                .delete_process(request(
                    DeleteProcessRequest {
                        container_id: id.clone(),
                        exec_id: exec_id.clone(),
                    },
                    NAMESPACE,
                ))
                .await;
            for p in [&in_path, &out_path, &err_path] {
                let _ = std::fs::remove_file(p);
            }
            return Err(fail(s.message().to_string()));
        }
        let (exited_tx, exited) = watch::channel(false);
        let (out_tx, out_rx) = mpsc::channel(16);
        tokio::spawn(forward_pipe(out_pipe, out_tx, exited.clone()));
        let stderr = err_pipe.map(|p| {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(forward_pipe(p, tx, exited.clone()));
            rx
        });
        let stdin_tx = in_pipe.map(|mut p| {
            let (tx, mut rx) = mpsc::channel::<Bytes>(16);
            let (channel, id, exec_id) = (self.channel.clone(), id.clone(), exec_id.clone());
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    if p.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                // The client's end of input: EOF for the process.
                drop(p);
                let _ = TasksClient::new(channel)
                    .close_io(request(
                        CloseIoRequest {
                            container_id: id,
                            exec_id,
                            stdin: true,
                        },
                        NAMESPACE,
                    ))
                    .await;
            });
            tx
        });
        let (resize_tx, resize_rx) = mpsc::channel(4);
        tokio::spawn(resize(
            self.channel.clone(),
            id.clone(),
            exec_id.clone(),
            resize_rx,
        ));
        let (exit_tx, exit_rx) = oneshot::channel();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            let code = wait_exit(channel.clone(), id.clone(), exec_id.clone(), &exit_tx).await;
            let _ = exited_tx.send(true);
            if let Some(code) = code {
                let _ = exit_tx.send(code);
            }
            // Once the output is read, the process and FIFOs go.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = TasksClient::new(channel)
                .delete_process(request(
                    DeleteProcessRequest {
                        container_id: id,
                        exec_id,
                    },
                    NAMESPACE,
                ))
                .await;
            for p in [in_path, out_path, err_path] {
                let _ = std::fs::remove_file(p);
            }
        });
        Ok(ProcessStreams {
            stdin: stdin_tx,
            stdout: Some(out_rx),
            stderr,
            exit: exit_rx,
            resize: resize_tx,
        })
    }

    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        opts: AttachOptions,
    ) -> Result<ProcessStreams, StreamingError> {
        let (id, _, io) = self.running(ns, pod, container).await?;
        let io = io.ok_or_else(|| {
            StreamingError::BadRequest(format!("container {container} has no output to attach to"))
        })?;
        let (exited_tx, exited) = watch::channel(false);
        let channel = |on: bool| on.then(|| mpsc::channel::<Bytes>(16));
        let (stdout, stderr) = (channel(opts.stdout), channel(opts.stderr && !io.tty));
        tokio::spawn(forward_output(
            io.output.subscribe(),
            stdout.as_ref().map(|c| c.0.clone()),
            stderr.as_ref().map(|c| c.0.clone()),
            exited.clone(),
        ));
        let has_stdin = io.stdin.lock().await.is_some();
        let stdin_tx = (opts.stdin && has_stdin).then(|| {
            let (tx, mut rx) = mpsc::channel::<Bytes>(16);
            let (io, channel, id) = (io.clone(), self.channel.clone(), id.clone());
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    let mut stdin = io.stdin.lock().await;
                    let Some(p) = stdin.as_mut() else { break };
                    if p.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
                if io.stdin_once && io.stdin.lock().await.take().is_some() {
                    // The first attach ended: the process sees EOF once
                    // the shim copied what is in the FIFO and closes the
                    // process's stdin.
                    let _ = TasksClient::new(channel)
                        .close_io(request(
                            CloseIoRequest {
                                container_id: id,
                                exec_id: String::new(),
                                stdin: true,
                            },
                            NAMESPACE,
                        ))
                        .await;
                }
            });
            tx
        });
        let (resize_tx, resize_rx) = mpsc::channel(4);
        tokio::spawn(resize(
            self.channel.clone(),
            id.clone(),
            String::new(),
            resize_rx,
        ));
        let (exit_tx, exit_rx) = oneshot::channel();
        let channel = self.channel.clone();
        tokio::spawn(async move {
            let code = wait_exit(channel, id, String::new(), &exit_tx).await;
            let _ = exited_tx.send(true);
            if let Some(code) = code {
                let _ = exit_tx.send(code);
            }
        });
        Ok(ProcessStreams {
            stdin: stdin_tx,
            stdout: stdout.map(|c| c.1),
            stderr: stderr.map(|c| c.1),
            exit: exit_rx,
            resize: resize_tx,
        })
    }
}
