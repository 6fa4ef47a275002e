//! The containerd runtime (`--runtime=containerd`), over containerd's gRPC
//! API (`containerd-client`), namespace `k8s.io`, overlayfs snapshotter,
//! runc v2 shim.
//!
//! A pod is: a named network namespace set up by CNI (`crate::cni`), a
//! sandbox container (a long-running `sleep` from the
//! `--pod-infra-container-image`, by default the local busybox image,
//! inside that netns: the pod's "pause" container; we use a local image
//! because no registry is reachable) and the app containers, which join the
//! same netns by path. Init containers run one after the other first.
//! Containers restart per restartPolicy with the crash-loop back-off
//! (`backoff.rs`); their stdout/stderr go to CRI-format log files
//! (`logs.rs`) under `<pod-logs-dir>/<ns>_<name>_<uid>/<container>/<n>.log`
//! and to attachers; a container with `stdin: true` gets a stdin FIFO whose
//! write end the runtime keeps for `attach` (`streaming.rs`, which also
//! serves exec and port-forward). Stopping sends SIGTERM, then SIGKILL
//! after the grace period.

pub mod backoff;
pub mod ephemeral;
pub mod hooks;
pub mod image;
pub mod logs;
pub mod pull;
pub mod registry;
pub mod sa_token;
pub mod service_env;
pub mod spec;
pub mod streaming;
pub mod termination;
pub mod volumes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use containerd_client::services::v1::container::Runtime as ContainerRuntimeSpec;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{PrepareSnapshotRequest, RemoveSnapshotRequest};
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::version_client::VersionClient;
use containerd_client::services::v1::{
    Container as CtrContainer, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteTaskRequest, GetRequest, KillRequest, StartRequest,
};
use containerd_client::tonic;
use containerd_client::tonic::transport::Channel;
use containerd_client::types::v1::Status as TaskStatus;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, Pod,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex;

use self::backoff::CrashBackoff;
use self::image::{ImageService, ResolvedImage};
use self::logs::LogCopier;
use self::spec::{BindMount, SpecContext};
use super::{ContainerRuntimeStatus, PodRuntimeStatus, Runtime, RuntimeError};
use crate::cni::{self, CniConfig, CniPod};
use crate::events::EventRecorder;
use crate::probe::{self, Outcome, ProbeState};

/// containerd namespace of pod containers (the CRI plugin's).
pub const NAMESPACE: &str = "k8s.io";
pub const SNAPSHOTTER: &str = "overlayfs";
const RUNC_SHIM: &str = "io.containerd.runc.v2";
const SIGTERM: u32 = 15;
const SIGKILL: u32 = 9;

/// A request carrying the containerd namespace header.
pub(crate) fn request<T>(message: T, namespace: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Ok(ns) = namespace.parse() {
        req.metadata_mut().insert("containerd-namespace", ns);
    }
    req
}

/// Settings of the containerd runtime.
#[derive(Debug, Clone)]
pub struct ContainerdConfig {
    /// `--container-runtime-endpoint`, e.g. `unix:///run/containerd/containerd.sock`.
    pub endpoint: String,
    /// `--root-dir`: pod directories (volumes, /etc/hosts), FIFOs.
    pub root_dir: PathBuf,
    /// `--pod-logs-dir` (upstream: /var/log/pods).
    pub pod_logs_dir: PathBuf,
    /// `--pod-infra-container-image`: the sandbox container's image.
    pub sandbox_image: String,
    pub cni: CniConfig,
}

/// One container of a pod as the runtime tracks it.
struct ContainerRecord {
    id: String,
    attempt: i32,
    image: ResolvedImage,
    started_at: Timestamp,
    started_instant: Instant,
    /// The OCI process of the container (exec probes reuse its env/user).
    process: serde_json::Value,
    startup: ProbeState,
    liveness: ProbeState,
    readiness: ProbeState,
    /// Set once the task exited: (exit code, finished at).
    exited: Option<(i32, Timestamp)>,
    last_state: Option<ContainerState>,
    logs: Option<LogCopier>,
    /// The process's stdin and live output, for attach.
    io: Option<Arc<streaming::ContainerIo>>,
    /// Where the termination message comes from, and the message once
    /// the container exited.
    termination: Option<termination::MessageSource>,
    message: Option<String>,
}

/// Per pod: its sandbox and containers.
#[derive(Default)]
struct PodState {
    sandbox_id: Option<String>,
    netns: Option<String>,
    ip: Option<String>,
    containers: HashMap<String, ContainerRecord>,
    /// Why a container has no record yet (image errors, back-off).
    waiting: HashMap<String, (String, String)>,
    /// Restart counts of containers whose record was dropped.
    restarts: HashMap<String, i32>,
    /// The last termination of containers whose record was dropped for a
    /// restart (reported as `lastState` until the new run has a record).
    last_terminations: HashMap<String, ContainerState>,
    killed: bool,
    /// (namespace, name) of the pod, for the kubelet API.
    pod_name: (String, String),
}

pub struct ContainerdRuntime {
    channel: Channel,
    config: ContainerdConfig,
    images: ImageService,
    version: String,
    pods: std::sync::Mutex<HashMap<String, Arc<Mutex<PodState>>>>,
    backoff: std::sync::Mutex<CrashBackoff>,
    volumes: volumes::VolumeSource,
    events: EventRecorder,
}

fn status_err(what: &str) -> impl Fn(tonic::Status) -> RuntimeError + '_ {
    move |s| RuntimeError::Unavailable(format!("{what}: {}", s.message()))
}

fn proto_time(t: Option<prost_types::Timestamp>) -> Timestamp {
    t.and_then(|t| Timestamp::new(t.seconds, t.nanos).ok())
        .filter(|t| t.as_second() > 0)
        .unwrap_or_else(Timestamp::now)
}

fn terminated_state(record: &ContainerRecord, code: i32, finished: Timestamp) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
            started_at: Some(Time(record.started_at)),
            finished_at: Some(Time(finished)),
            container_id: Some(format!("containerd://{}", record.id)),
            message: record.message.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn waiting_state(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.into()),
            message: (!message.is_empty()).then(|| message.to_string()),
        }),
        ..Default::default()
    }
}

fn pod_key(pod: &Pod) -> (String, String, String) {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
        pod.metadata.uid.clone().unwrap_or_default(),
    )
}

impl ContainerdRuntime {
    /// Connects to containerd and writes the CNI conflist.
    pub async fn connect(
        config: ContainerdConfig,
        client: Option<kube::Client>,
        node_name: &str,
    ) -> Result<Self, RuntimeError> {
        let path = config
            .endpoint
            .strip_prefix("unix://")
            .unwrap_or(&config.endpoint)
            .to_string();
        let channel = containerd_client::connect(&path)
            .await
            .map_err(|e| RuntimeError::Unavailable(format!("connecting to {path}: {e}")))?;
        let version = VersionClient::new(channel.clone())
            .version(())
            .await
            .map_err(status_err("containerd version"))?
            .into_inner()
            .version;
        config
            .cni
            .write_conflist()
            .map_err(|e| RuntimeError::Unavailable(format!("writing the CNI conflist: {e}")))?;
        Ok(ContainerdRuntime {
            images: ImageService::new(channel.clone(), NAMESPACE),
            channel,
            version: format!("containerd://{version}"),
            pods: std::sync::Mutex::new(HashMap::new()),
            backoff: std::sync::Mutex::new(CrashBackoff::default()),
            events: EventRecorder::new(client.clone(), node_name),
            volumes: volumes::VolumeSource::new(client),
            config,
        })
    }

    fn pod_state(&self, uid: &str) -> Arc<Mutex<PodState>> {
        match self.pods.lock() {
            Ok(mut pods) => pods.entry(uid.to_string()).or_default().clone(),
            Err(_) => Arc::new(Mutex::new(PodState::default())),
        }
    }

    fn pod_dir(&self, uid: &str) -> PathBuf {
        self.config.root_dir.join("pods").join(uid)
    }

    fn log_path(&self, pod: &Pod, container: &str, attempt: i32) -> PathBuf {
        let (ns, name, uid) = pod_key(pod);
        self.config
            .pod_logs_dir
            .join(format!("{ns}_{name}_{uid}"))
            .join(container)
            .join(format!("{attempt}.log"))
    }

    async fn task_state(
        &self,
        id: &str,
    ) -> Result<Option<(TaskStatus, i32, Timestamp)>, RuntimeError> {
        let mut tasks = TasksClient::new(self.channel.clone());
        match tasks
            .get(request(
                GetRequest {
                    container_id: id.into(),
                    exec_id: String::new(),
                },
                NAMESPACE,
            ))
            .await
        {
            Ok(r) => Ok(r.into_inner().process.map(|p| {
                (
                    TaskStatus::try_from(p.status).unwrap_or(TaskStatus::Unknown),
                    p.exit_status as i32,
                    proto_time(p.exited_at),
                )
            })),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(status_err("task state")(s)),
        }
    }

    async fn kill_task(&self, id: &str, signal: u32) {
        let mut tasks = TasksClient::new(self.channel.clone());
        let _ = tasks
            .kill(request(
                KillRequest {
                    container_id: id.into(),
                    exec_id: String::new(),
                    signal,
                    all: true,
                },
                NAMESPACE,
            ))
            .await;
    }

    /// Removes a container's task, container object and snapshot.
    async fn remove_container(&self, id: &str) {
        if let Ok(Some((status, _, _))) = self.task_state(id).await
            && status != TaskStatus::Stopped
        {
            self.kill_task(id, SIGKILL).await;
            self.wait_stopped(id, Duration::from_secs(5)).await;
        }
        let mut tasks = TasksClient::new(self.channel.clone());
        let _ = tasks
            .delete(request(
                DeleteTaskRequest {
                    container_id: id.into(),
                },
                NAMESPACE,
            ))
            .await;
        let mut containers = ContainersClient::new(self.channel.clone());
        let _ = containers
            .delete(request(DeleteContainerRequest { id: id.into() }, NAMESPACE))
            .await;
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        let _ = snapshots
            .remove(request(
                RemoveSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    key: id.into(),
                },
                NAMESPACE,
            ))
            .await;
    }

    /// Polls until the task stopped or `limit` passed; true when stopped.
    async fn wait_stopped(&self, id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.task_state(id).await {
                Ok(Some((TaskStatus::Stopped, _, _))) | Ok(None) => return true,
                _ if Instant::now() >= deadline => return false,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Creates and starts one container (snapshot, container object, task
    /// with log FIFOs).
    #[allow(clippy::too_many_arguments)]
    async fn run_container(
        &self,
        id: &str,
        image: &ResolvedImage,
        container: &Container,
        ctx: &SpecContext<'_>,
        log_path: Option<&Path>,
        labels: HashMap<String, String>,
    ) -> Result<
        (
            Option<LogCopier>,
            serde_json::Value,
            Option<Arc<streaming::ContainerIo>>,
        ),
        RuntimeError,
    > {
        let fail = |message: String| RuntimeError::Container {
            container: container.name.clone(),
            message,
        };
        // Leftovers of an earlier attempt with the same id.
        self.remove_container(id).await;
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        let mounts = snapshots
            .prepare(request(
                PrepareSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    key: id.into(),
                    parent: image.chain_id.clone(),
                    labels: Default::default(),
                },
                NAMESPACE,
            ))
            .await
            .map_err(|s| fail(format!("preparing the snapshot: {}", s.message())))?
            .into_inner()
            .mounts;
        let spec = spec::build(container, &image.config, ctx);
        let spec_any = prost_types::Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
            value: serde_json::to_vec(&spec).map_err(|e| fail(e.to_string()))?,
        };
        let mut containers = ContainersClient::new(self.channel.clone());
        containers
            .create(request(
                CreateContainerRequest {
                    container: Some(CtrContainer {
                        id: id.into(),
                        labels,
                        image: image.name.clone(),
                        runtime: Some(ContainerRuntimeSpec {
                            name: RUNC_SHIM.into(),
                            options: None,
                        }),
                        spec: Some(spec_any),
                        snapshotter: SNAPSHOTTER.into(),
                        snapshot_key: id.into(),
                        ..Default::default()
                    }),
                },
                NAMESPACE,
            ))
            .await
            .map_err(|s| fail(format!("creating the container: {}", s.message())))?;
        let (copier, io) = match log_path {
            Some(path) => {
                let fifo_dir = self.config.root_dir.join("fifo");
                tokio::fs::create_dir_all(&fifo_dir)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                let io = streaming::ContainerIo::create(&fifo_dir, id, container)
                    .map_err(|e| fail(format!("stdin FIFO: {e}")))?;
                let copier = LogCopier::start(&fifo_dir.join(id), path, io.output.clone())
                    .await
                    .map_err(|e| fail(format!("log FIFOs: {e}")))?;
                (Some(copier), Some(Arc::new(io)))
            }
            None => (None, None),
        };
        let tty = container.tty.unwrap_or(false);
        let (stdout, stderr) = copier.as_ref().map_or((String::new(), String::new()), |c| {
            (
                c.fifos[0].display().to_string(),
                // A terminal has one output.
                if tty {
                    String::new()
                } else {
                    c.fifos[1].display().to_string()
                },
            )
        });
        let stdin = io
            .as_ref()
            .and_then(|io| io.stdin_path.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut tasks = TasksClient::new(self.channel.clone());
        let created = tasks
            .create(request(
                CreateTaskRequest {
                    container_id: id.into(),
                    rootfs: mounts,
                    stdin,
                    stdout,
                    stderr,
                    terminal: tty,
                    ..Default::default()
                },
                NAMESPACE,
            ))
            .await;
        let started = match created {
            Ok(_) => tasks
                .start(request(
                    StartRequest {
                        container_id: id.into(),
                        exec_id: String::new(),
                    },
                    NAMESPACE,
                ))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(s) = started {
            if let Some(c) = copier {
                c.finish().await;
            }
            self.remove_container(id).await;
            return Err(fail(format!("starting the task: {}", s.message())));
        }
        Ok((copier, spec["process"].clone(), io))
    }

    /// The netns, CNI network and sandbox container of a pod; on failure
    /// whatever was set up is torn down again.
    async fn ensure_sandbox(&self, pod: &Pod, state: &mut PodState) -> Result<(), RuntimeError> {
        if state.sandbox_id.is_some() {
            return Ok(());
        }
        let result = self.create_sandbox(pod, state).await;
        if result.is_err() {
            let (ns, name, uid) = pod_key(pod);
            let sandbox_id = format!("{uid}-sandbox");
            self.remove_container(&sandbox_id).await;
            if let Some(netns) = state.netns.take() {
                self.release_network(&sandbox_id, &netns, &ns, &name, &uid)
                    .await;
            }
            state.ip = None;
        }
        result
    }

    /// CNI DEL and netns removal.
    async fn release_network(
        &self,
        sandbox_id: &str,
        netns: &str,
        ns: &str,
        name: &str,
        uid: &str,
    ) {
        let path = cni::netns_path(netns);
        let cni_pod = CniPod {
            container_id: sandbox_id,
            netns_path: &path,
            namespace: ns,
            name,
            uid,
            port_mappings: Vec::new(),
        };
        if let Err(e) = self.config.cni.del(&cni_pod).await {
            tracing::warn!(pod = %name, error = %e, "CNI DEL");
        }
        if let Err(e) = cni::delete_netns(netns).await {
            tracing::warn!(pod = %name, error = %e, "deleting netns");
        }
    }

    async fn create_sandbox(&self, pod: &Pod, state: &mut PodState) -> Result<(), RuntimeError> {
        let (ns, name, uid) = pod_key(pod);
        let spec = pod.spec.clone().unwrap_or_default();
        let host_network = spec.host_network.unwrap_or(false);
        let sandbox_id = format!("{uid}-sandbox");
        let netns_path = if host_network {
            String::new()
        } else {
            let netns_name = format!("oxkube-{uid}");
            let path = cni::create_netns(&netns_name)
                .await
                .map_err(|e| RuntimeError::Sandbox(e.to_string()))?;
            state.netns = Some(netns_name);
            let port_mappings = spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .filter_map(|p| {
                    p.host_port.map(|h| {
                        (
                            h,
                            p.container_port,
                            p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        )
                    })
                })
                .collect();
            let cni_pod = CniPod {
                container_id: &sandbox_id,
                netns_path: &path,
                namespace: &ns,
                name: &name,
                uid: &uid,
                port_mappings,
            };
            let ip = self
                .config
                .cni
                .add(&cni_pod)
                .await
                .map_err(|e| RuntimeError::Sandbox(e.to_string()))?;
            state.ip = Some(ip);
            path
        };
        let image = self
            .images
            .ensure(
                &self.config.sandbox_image,
                Some("IfNotPresent"),
                &Default::default(),
            )
            .await
            .map_err(|e| RuntimeError::Sandbox(e.message))?
            .image;
        let sandbox = Container {
            name: "sandbox".into(),
            command: Some(vec!["sleep".into(), "2147483647".into()]),
            ..Default::default()
        };
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
        let ctx = SpecContext {
            hostname: &hostname,
            netns_path: &netns_path,
            cgroups_path: format!("/oxkube/pod{uid}/sandbox"),
            env: Vec::new(),
            mounts: Vec::new(),
            sysctls: Vec::new(),
        };
        let labels = HashMap::from([
            ("io.kubernetes.pod.uid".to_string(), uid.clone()),
            ("io.kubernetes.pod.name".to_string(), name.clone()),
            ("io.kubernetes.pod.namespace".to_string(), ns.clone()),
            ("io.cri-containerd.kind".to_string(), "sandbox".to_string()),
        ]);
        self.run_container(&sandbox_id, &image, &sandbox, &ctx, None, labels)
            .await?;
        state.sandbox_id = Some(sandbox_id);
        Ok(())
    }

    /// Starts `container` (attempt `attempt`), recording it in `state`.
    async fn start_container(
        &self,
        pod: &Pod,
        state: &mut PodState,
        container: &Container,
        attempt: i32,
        last_state: Option<ContainerState>,
    ) {
        let (ns, name, uid) = pod_key(pod);
        let image_name = container.image.as_deref().unwrap_or_default();
        let credentials = self.volumes.pull_credentials(pod).await;
        let image = match self
            .images
            .ensure(
                image_name,
                container.image_pull_policy.as_deref(),
                &credentials,
            )
            .await
        {
            Ok(ensured) => {
                let message = match &ensured.pulled {
                    Some(p) => Some(format!(
                        "Successfully pulled image \"{image_name}\" in {:.3}s ({:.3}s including waiting). Image size: {} bytes.",
                        p.took.as_secs_f64(),
                        p.took.as_secs_f64(),
                        p.size
                    )),
                    None if !state.containers.contains_key(&container.name) && attempt == 0 => {
                        Some(format!(
                            "Container image \"{image_name}\" already present on machine"
                        ))
                    }
                    None => None,
                };
                if let Some(message) = message {
                    self.events
                        .pod_event(pod, Some(&container.name), false, "Pulled", &message)
                        .await;
                }
                ensured.image
            }
            Err(e) => {
                if state.waiting.get(&container.name).map(|w| w.0.as_str()) != Some(e.reason) {
                    self.events
                        .pod_event(pod, Some(&container.name), true, e.reason, &e.message)
                        .await;
                }
                // A repeated failure is ImagePullBackOff, as upstream shows it.
                let reason = match state.waiting.get(&container.name) {
                    Some((r, _)) if r == "ErrImagePull" || r == "ImagePullBackOff" => {
                        if e.reason == "ErrImagePull" {
                            "ImagePullBackOff"
                        } else {
                            e.reason
                        }
                    }
                    _ => e.reason,
                };
                let message = if reason == "ImagePullBackOff" {
                    format!(
                        "Back-off pulling image \"{}\": ErrImagePull: {}",
                        container.image.as_deref().unwrap_or_default(),
                        e.message
                    )
                } else {
                    e.message
                };
                state
                    .waiting
                    .insert(container.name.clone(), (reason.into(), message));
                return;
            }
        };
        let env = match self.volumes.env(pod, container, state.ip.as_deref()).await {
            Ok(env) => env,
            Err(message) => {
                state.waiting.insert(
                    container.name.clone(),
                    ("CreateContainerConfigError".into(), message),
                );
                return;
            }
        };
        // $(VAR) in command and args refers to the container's env.
        let mut container = container.clone();
        container.security_context = spec::effective_security_context(
            pod.spec.as_ref().and_then(|s| s.security_context.as_ref()),
            container.security_context.as_ref(),
        );
        for list in [&mut container.command, &mut container.args]
            .into_iter()
            .flatten()
        {
            for item in list.iter_mut() {
                *item = volumes::expand(item, &env);
            }
        }
        if let Err(message) = volumes::expand_sub_path_exprs(&mut container, &env) {
            state.waiting.insert(
                container.name.clone(),
                ("CreateContainerConfigError".into(), message),
            );
            return;
        }
        let container = &container;
        let pod_dir = self.pod_dir(&uid);
        let mut mounts: Vec<BindMount> = match self
            .volumes
            .mounts(pod, container, &pod_dir, state.ip.as_deref())
            .await
        {
            Ok(m) => m,
            Err(message) => {
                state.waiting.insert(
                    container.name.clone(),
                    ("CreateContainerConfigError".into(), message),
                );
                return;
            }
        };
        let spec = pod.spec.clone().unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
        let netns_path = state
            .netns
            .as_deref()
            .map(cni::netns_path)
            .unwrap_or_default();
        let id = format!("{uid}-{}-{attempt}", container.name);
        let log_path = self.log_path(pod, &container.name, attempt);
        let termination =
            match termination::MessageSource::prepare(&pod_dir, container, attempt, &log_path) {
                Ok(Some((source, mount))) => {
                    mounts.push(mount);
                    Some(source)
                }
                Ok(None) => None,
                Err(e) => {
                    state.waiting.insert(
                        container.name.clone(),
                        (
                            "CreateContainerConfigError".into(),
                            format!("termination message file: {e}"),
                        ),
                    );
                    return;
                }
            };
        let ctx = SpecContext {
            hostname: &hostname,
            netns_path: &netns_path,
            cgroups_path: format!("/oxkube/pod{uid}/{}", container.name),
            env,
            mounts,
            sysctls: spec
                .security_context
                .iter()
                .flat_map(|sc| sc.sysctls.iter().flatten())
                .map(|s| (s.name.clone(), s.value.clone()))
                .collect(),
        };
        let labels = HashMap::from([
            ("io.kubernetes.pod.uid".to_string(), uid.clone()),
            ("io.kubernetes.pod.name".to_string(), name.clone()),
            ("io.kubernetes.pod.namespace".to_string(), ns.clone()),
            (
                "io.kubernetes.container.name".to_string(),
                container.name.clone(),
            ),
            (
                "io.cri-containerd.kind".to_string(),
                "container".to_string(),
            ),
        ]);
        match self
            .run_container(&id, &image, container, &ctx, Some(&log_path), labels)
            .await
        {
            Ok((logs, process, io)) => {
                // postStart runs before the container counts as Running; a
                // failure kills it (it restarts per restartPolicy).
                let hook = self
                    .run_lifecycle_hook(
                        hooks::Hook::PostStart,
                        pod,
                        container,
                        (&id, &process),
                        state.ip.as_deref(),
                        hooks::POST_START_LIMIT,
                    )
                    .await;
                if hook.is_err() {
                    self.kill_task(&id, SIGKILL).await;
                    self.wait_stopped(&id, Duration::from_secs(5)).await;
                }
                state.waiting.remove(&container.name);
                state.containers.insert(
                    container.name.clone(),
                    ContainerRecord {
                        id,
                        attempt,
                        image,
                        started_at: Timestamp::now(),
                        started_instant: Instant::now(),
                        process,
                        startup: ProbeState::default(),
                        liveness: ProbeState::default(),
                        readiness: ProbeState::default(),
                        exited: None,
                        last_state,
                        logs,
                        io,
                        termination,
                        message: None,
                    },
                );
                let c = &container.name;
                self.events
                    .pod_event(
                        pod,
                        Some(c),
                        false,
                        "Created",
                        &format!("Created container: {c}"),
                    )
                    .await;
                self.events
                    .pod_event(
                        pod,
                        Some(c),
                        false,
                        "Started",
                        &format!("Started container {c}"),
                    )
                    .await;
            }
            Err(e) => {
                tracing::warn!(pod = %name, container = %container.name, error = %e, "starting container");
                state.waiting.insert(
                    container.name.clone(),
                    ("RunContainerError".into(), e.to_string()),
                );
            }
        }
    }

    /// Refreshes a record from its task; returns the exit code once exited.
    async fn refresh(&self, record: &mut ContainerRecord) -> Option<i32> {
        if let Some((code, _)) = record.exited {
            return Some(code);
        }
        match self.task_state(&record.id).await {
            Ok(Some((TaskStatus::Stopped, code, at))) => {
                record.exited = Some((code, at));
                if let Some(logs) = record.logs.take() {
                    logs.finish().await;
                }
                record.message = record.termination.as_ref().and_then(|t| t.read(code));
                Some(code)
            }
            Ok(None) => {
                record.exited = Some((137, Timestamp::now()));
                record.message = record.termination.as_ref().and_then(|t| t.read(137));
                Some(137)
            }
            _ => None,
        }
    }

    /// Runs one container towards its desired state: start it, leave it
    /// running, or restart it per `restart` and the back-off. Returns the
    /// exit code of a finished container that will not restart.
    async fn sync_container(
        &self,
        pod: &Pod,
        state: &mut PodState,
        container: &Container,
        restart: &str,
    ) -> Option<i32> {
        let (ns, name, uid) = pod_key(pod);
        let Some(record) = state.containers.get_mut(&container.name) else {
            let attempt = state.restarts.get(&container.name).copied().unwrap_or(0);
            self.start_container(pod, state, container, attempt, None)
                .await;
            return None;
        };
        let Some(code) = self.refresh(record).await else {
            if !state.killed {
                let ip = state.ip.clone();
                if let Some(record) = state.containers.get_mut(&container.name) {
                    self.run_probes(pod, container, record, ip.as_deref()).await;
                }
            }
            return None;
        };
        let should_restart = match restart {
            "Always" => true,
            "OnFailure" => code != 0,
            _ => false,
        };
        if !should_restart || state.killed {
            return Some(code);
        }
        let key = format!("{uid}/{}", container.name);
        let now = Instant::now();
        let in_backoff = self
            .backoff
            .lock()
            .ok()
            .and_then(|b| b.remaining(&key, now));
        if in_backoff.is_some() {
            if state.waiting.get(&container.name).map(|w| w.0.as_str()) != Some("CrashLoopBackOff")
            {
                self.events
                    .pod_event(
                        pod,
                        Some(&container.name),
                        true,
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {} in pod {name}_{ns}({uid})",
                            container.name
                        ),
                    )
                    .await;
            }
            let delay = self
                .backoff
                .lock()
                .map(|b| b.delay(&key))
                .unwrap_or(backoff::INITIAL);
            state.waiting.insert(
                container.name.clone(),
                (
                    "CrashLoopBackOff".into(),
                    format!(
                        "back-off {}s restarting failed container={} pod={name}_{ns}({uid})",
                        delay.as_secs(),
                        container.name
                    ),
                ),
            );
            return None;
        }
        if let Ok(mut b) = self.backoff.lock() {
            b.next(&key, now);
        }
        let old = state.containers.remove(&container.name)?;
        let (code, finished) = old.exited.unwrap_or((code, Timestamp::now()));
        let last = terminated_state(&old, code, finished);
        self.remove_container(&old.id).await;
        state
            .restarts
            .insert(container.name.clone(), old.attempt + 1);
        state
            .last_terminations
            .insert(container.name.clone(), last.clone());
        self.start_container(pod, state, container, old.attempt + 1, Some(last))
            .await;
        None
    }

    /// The runtime status of one container for the pod status.
    fn report(&self, container: &Container, state: &PodState) -> Option<ContainerRuntimeStatus> {
        let waiting = state.waiting.get(&container.name);
        let record = state.containers.get(&container.name);
        if record.is_none() && waiting.is_none() {
            return None;
        }
        let restart_count = record
            .map(|r| r.attempt)
            .or_else(|| state.restarts.get(&container.name).copied())
            .unwrap_or(0);
        let (state_now, running) = match (waiting, record) {
            (Some((reason, message)), _) => (waiting_state(reason, message), false),
            (None, Some(r)) => match r.exited {
                Some((code, at)) => (terminated_state(r, code, at), false),
                None => (
                    ContainerState {
                        running: Some(ContainerStateRunning {
                            started_at: Some(Time(r.started_at)),
                        }),
                        ..Default::default()
                    },
                    true,
                ),
            },
            (None, None) => return None,
        };
        let last_state = match (waiting, record) {
            // In back-off: the last run is the previous termination.
            (Some(_), Some(r)) => r
                .exited
                .map(|(code, at)| terminated_state(r, code, at))
                .or_else(|| r.last_state.clone()),
            (_, Some(r)) => r.last_state.clone(),
            // Restarting, and the new run has no record yet (e.g. its
            // creation failed): the previous run is still the last state.
            _ => state.last_terminations.get(&container.name).cloned(),
        };
        Some(ContainerRuntimeStatus {
            name: container.name.clone(),
            image: record
                .map(|r| r.image.name.clone())
                .unwrap_or_else(|| container.image.clone().unwrap_or_default()),
            image_id: record
                .map(|r| r.image.repo_digest.clone())
                .unwrap_or_default(),
            container_id: record.map(|r| format!("containerd://{}", r.id)),
            state: state_now,
            last_state,
            restart_count,
            started: running
                && (container.startup_probe.is_none()
                    || record.is_some_and(|r| r.startup.result == Some(true))),
            ready: running
                && record.is_some_and(|r| {
                    (container.startup_probe.is_none() || r.startup.result == Some(true))
                        && (container.readiness_probe.is_none() || r.readiness.result == Some(true))
                }),
        })
    }

    /// Stops every container of the pod and its sandbox and network.
    async fn teardown(&self, pod: &Pod, state: &mut PodState, grace: Duration) {
        let (ns, name, uid) = pod_key(pod);
        state.killed = true;
        let started = Instant::now();
        self.run_pre_stop_hooks(pod, state, grace).await;
        // The hooks used part of the grace period (upstream leaves at least 2 s).
        let grace = grace
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(2).min(grace));
        let ids: Vec<String> = state.containers.values().map(|r| r.id.clone()).collect();
        for id in &ids {
            if let Ok(Some((s, _, _))) = self.task_state(id).await
                && s != TaskStatus::Stopped
            {
                self.kill_task(id, SIGTERM).await;
            }
        }
        let deadline = Instant::now() + grace;
        for id in &ids {
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.wait_stopped(id, left).await {
                self.kill_task(id, SIGKILL).await;
                self.wait_stopped(id, Duration::from_secs(5)).await;
            }
        }
        for record in state.containers.values_mut() {
            self.refresh(record).await;
        }
        for id in &ids {
            self.remove_container(id).await;
        }
        state.waiting.clear();
        if let Some(sandbox) = state.sandbox_id.take() {
            self.remove_container(&sandbox).await;
            if let Some(netns) = state.netns.take() {
                self.release_network(&sandbox, &netns, &ns, &name, &uid)
                    .await;
            }
        }
    }
}

/// Which probe of a container.
#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    fn label(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

impl ContainerdRuntime {
    /// Runs a command in a running container (exec probes); returns the
    /// exit code and the combined output, or None on timeout.
    pub async fn exec_sync(
        &self,
        container_id: &str,
        process: &serde_json::Value,
        command: &[String],
        limit: Duration,
    ) -> Result<Option<(i32, String)>, RuntimeError> {
        let exec_id = format!(
            "probe-{}",
            Timestamp::now().as_nanosecond() % 1_000_000_000_000
        );
        let fifo_dir = self.config.root_dir.join("fifo");
        tokio::fs::create_dir_all(&fifo_dir)
            .await
            .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
        let prefix = fifo_dir.join(format!("{container_id}-{exec_id}"));
        let out_path = PathBuf::from(format!("{}-out", prefix.display()));
        logs::mkfifo(&out_path).map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
        let mut reader = tokio::net::unix::pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&out_path)
            .map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
        let mut spec = process.clone();
        spec["args"] = serde_json::json!(command);
        spec["terminal"] = serde_json::json!(false);
        let spec_any = prost_types::Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
            value: serde_json::to_vec(&spec)
                .map_err(|e| RuntimeError::Unavailable(e.to_string()))?,
        };
        let mut tasks = TasksClient::new(self.channel.clone());
        let out = out_path.display().to_string();
        let started = async {
            tasks
                .exec(request(
                    containerd_client::services::v1::ExecProcessRequest {
                        container_id: container_id.into(),
                        stdin: String::new(),
                        stdout: out.clone(),
                        stderr: out.clone(),
                        terminal: false,
                        spec: Some(spec_any),
                        exec_id: exec_id.clone(),
                    },
                    NAMESPACE,
                ))
                .await?;
            tasks
                .start(request(
                    StartRequest {
                        container_id: container_id.into(),
                        exec_id: exec_id.clone(),
                    },
                    NAMESPACE,
                ))
                .await
        }
        .await;
        let result = match started {
            Err(s) => Err(status_err("exec")(s)),
            Ok(_) => {
                let deadline = Instant::now() + limit;
                let mut outcome = None;
                while Instant::now() < deadline {
                    let state = tasks
                        .get(request(
                            GetRequest {
                                container_id: container_id.into(),
                                exec_id: exec_id.clone(),
                            },
                            NAMESPACE,
                        ))
                        .await
                        .ok()
                        .and_then(|r| r.into_inner().process);
                    if let Some(p) = state
                        && p.status == TaskStatus::Stopped as i32
                    {
                        outcome = Some(p.exit_status as i32);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if outcome.is_none() {
                    let _ = tasks
                        .kill(request(
                            KillRequest {
                                container_id: container_id.into(),
                                exec_id: exec_id.clone(),
                                signal: SIGKILL,
                                all: false,
                            },
                            NAMESPACE,
                        ))
                        .await;
                }
                let mut output = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(50), reader.read(&mut buf)).await
                {
                    if n == 0 || output.len() > 64 * 1024 {
                        break;
                    }
                    output.extend_from_slice(&buf[..n]);
                }
                Ok(outcome.map(|code| (code, String::from_utf8_lossy(&output).into_owned())))
            }
        };
        let _ = tasks
            .delete_process(request(
                containerd_client::services::v1::DeleteProcessRequest {
                    container_id: container_id.into(),
                    exec_id,
                },
                NAMESPACE,
            ))
            .await;
        let _ = std::fs::remove_file(&out_path);
        result
    }

    async fn run_probe(
        &self,
        probe: &k8s_openapi::api::core::v1::Probe,
        container: &Container,
        record: &ContainerRecord,
        pod_ip: Option<&str>,
    ) -> Outcome {
        let limit = probe::timeout(probe);
        let host = pod_ip.unwrap_or("127.0.0.1");
        if let Some(http) = &probe.http_get {
            let Some(port) = probe::resolve_port(&http.port, container) else {
                return Outcome::Failure(format!("invalid port {:?}", http.port));
            };
            if http.scheme.as_deref() == Some("HTTPS") {
                return Outcome::Failure("HTTPS probes are not supported by this kubelet".into());
            }
            let headers: Vec<(String, String)> = http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            let host = http
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or(host);
            let path = http
                .path
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or("/");
            return probe::http_get(host, port, path, &headers, limit).await;
        }
        if let Some(tcp) = &probe.tcp_socket {
            let Some(port) = probe::resolve_port(&tcp.port, container) else {
                return Outcome::Failure(format!("invalid port {:?}", tcp.port));
            };
            let host = tcp
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or(host);
            return probe::tcp_socket(host, port, limit).await;
        }
        if let Some(exec) = &probe.exec {
            let command = exec.command.clone().unwrap_or_default();
            return match self
                .exec_sync(&record.id, &record.process, &command, limit)
                .await
            {
                Ok(Some((0, _))) => Outcome::Success,
                Ok(Some((code, output))) => Outcome::Failure(if output.trim().is_empty() {
                    format!("command {command:?} exited with {code}")
                } else {
                    output.trim_end().to_string()
                }),
                Ok(None) => Outcome::Failure(format!(
                    "command timed out: \"{}\" timed out after {}s",
                    command.join(" "),
                    limit.as_secs()
                )),
                Err(e) => Outcome::Failure(e.to_string()),
            };
        }
        Outcome::Success
    }

    /// Runs the container's due probes; a failed startup or liveness probe
    /// kills the container (it then restarts per restartPolicy).
    async fn run_probes(
        &self,
        pod: &Pod,
        container: &Container,
        record: &mut ContainerRecord,
        pod_ip: Option<&str>,
    ) {
        let now = Instant::now();
        let started_ok = container.startup_probe.is_none() || record.startup.result == Some(true);
        let kinds: Vec<(ProbeKind, &k8s_openapi::api::core::v1::Probe)> = if started_ok {
            [
                (ProbeKind::Liveness, container.liveness_probe.as_ref()),
                (ProbeKind::Readiness, container.readiness_probe.as_ref()),
            ]
            .into_iter()
            .filter_map(|(k, p)| p.map(|p| (k, p)))
            .collect()
        } else {
            container
                .startup_probe
                .as_ref()
                .map(|p| vec![(ProbeKind::Startup, p)])
                .unwrap_or_default()
        };
        for (kind, p) in kinds {
            let state = match kind {
                ProbeKind::Startup => &record.startup,
                ProbeKind::Liveness => &record.liveness,
                ProbeKind::Readiness => &record.readiness,
            };
            if !state.due(p, record.started_instant, now) {
                continue;
            }
            let outcome = self.run_probe(p, container, record, pod_ip).await;
            let ok = outcome == Outcome::Success;
            if let Outcome::Failure(message) = &outcome {
                self.events
                    .pod_event(
                        pod,
                        Some(&container.name),
                        true,
                        "Unhealthy",
                        &format!("{} probe failed: {message}", kind.label()),
                    )
                    .await;
            }
            let state = match kind {
                ProbeKind::Startup => &mut record.startup,
                ProbeKind::Liveness => &mut record.liveness,
                ProbeKind::Readiness => &mut record.readiness,
            };
            let flipped = state.record(p, ok, Instant::now());
            if flipped == Some(false) && kind != ProbeKind::Readiness {
                let c = &container.name;
                let what = if kind == ProbeKind::Liveness {
                    "liveness"
                } else {
                    "startup"
                };
                self.events
                    .pod_event(
                        pod,
                        Some(c),
                        false,
                        "Killing",
                        &format!("Container {c} failed {what} probe, will be restarted"),
                    )
                    .await;
                let grace = p
                    .termination_grace_period_seconds
                    .or_else(|| {
                        pod.spec
                            .as_ref()
                            .and_then(|s| s.termination_grace_period_seconds)
                    })
                    .unwrap_or(30)
                    .max(2) as u64;
                self.kill_task(&record.id, SIGTERM).await;
                if !self
                    .wait_stopped(&record.id, Duration::from_secs(grace))
                    .await
                {
                    self.kill_task(&record.id, SIGKILL).await;
                    self.wait_stopped(&record.id, Duration::from_secs(5)).await;
                }
                return;
            }
        }
    }
}

#[async_trait]
impl Runtime for ContainerdRuntime {
    fn version(&self) -> String {
        self.version.clone()
    }

    async fn health(&self) -> Result<(), String> {
        VersionClient::new(self.channel.clone())
            .version(())
            .await
            .map(|_| ())
            .map_err(|e| format!("container runtime is down: {}", e.message()))
    }

    async fn sync_pod(&self, pod: &Pod) -> Result<PodRuntimeStatus, RuntimeError> {
        let (_, _, uid) = pod_key(pod);
        let state = self.pod_state(&uid);
        let mut state = state.lock().await;
        if state.pod_name.1.is_empty() {
            let (ns, name, _) = pod_key(pod);
            state.pod_name = (ns, name);
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let restart = spec
            .restart_policy
            .clone()
            .unwrap_or_else(|| "Always".into());
        let terminal = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        // Past spec.activeDeadlineSeconds the pod's containers are stopped
        // (the status reports Failed, DeadlineExceeded).
        if !state.killed && crate::pod_status::past_active_deadline(pod, Timestamp::now()) {
            tracing::info!(pod = %state.pod_name.1, "active deadline exceeded, stopping the pod");
            self.events
                .pod_event(
                    pod,
                    None,
                    false,
                    crate::pod_status::DEADLINE_REASON,
                    crate::pod_status::DEADLINE_MESSAGE,
                )
                .await;
            let grace = crate::pod_workers::grace_period(pod);
            self.teardown(pod, &mut state, grace).await;
        }
        if !state.killed && !terminal {
            self.ensure_sandbox(pod, &mut state).await?;
            // Init containers one at a time; each must exit 0.
            let init_restart = if restart == "Never" {
                "Never"
            } else {
                "OnFailure"
            };
            let mut init_done = true;
            for c in spec.init_containers.iter().flatten() {
                match self.sync_container(pod, &mut state, c, init_restart).await {
                    Some(0) => continue,
                    _ => {
                        init_done = false;
                        break;
                    }
                }
            }
            if init_done {
                for c in &spec.containers {
                    self.sync_container(pod, &mut state, c, &restart).await;
                }
                // Ephemeral containers run once.
                for c in &ephemeral::containers(pod) {
                    self.sync_container(pod, &mut state, c, "Never").await;
                }
            }
            self.volumes.refresh_tokens(&uid).await;
        } else {
            for record in state.containers.values_mut() {
                self.refresh(record).await;
            }
        }
        let init_containers = spec
            .init_containers
            .iter()
            .flatten()
            .filter_map(|c| self.report(c, &state))
            .collect();
        let containers = spec
            .containers
            .iter()
            .chain(&ephemeral::containers(pod))
            .filter_map(|c| self.report(c, &state))
            .collect();
        Ok(PodRuntimeStatus {
            sandbox_ready: state.sandbox_id.is_some(),
            pod_ip: state.ip.clone(),
            init_containers,
            containers,
        })
    }

    async fn kill_pod(&self, pod: &Pod, grace: Duration) -> Result<PodRuntimeStatus, RuntimeError> {
        let (_, _, uid) = pod_key(pod);
        let state = self.pod_state(&uid);
        let mut state = state.lock().await;
        if !state.killed {
            self.teardown(pod, &mut state, grace).await;
        }
        let spec = pod.spec.clone().unwrap_or_default();
        Ok(PodRuntimeStatus {
            sandbox_ready: false,
            pod_ip: state.ip.clone(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .filter_map(|c| self.report(c, &state))
                .collect(),
            containers: spec
                .containers
                .iter()
                .filter_map(|c| self.report(c, &state))
                .collect(),
        })
    }

    async fn remove_pod(&self, uid: &str) {
        let removed = self.pods.lock().ok().and_then(|mut p| p.remove(uid));
        if let Some(state) = removed {
            let state = state.lock().await;
            if !state.killed {
                tracing::warn!(pod_uid = %uid, "removing a pod that was not stopped");
            }
        }
        if let Ok(mut b) = self.backoff.lock() {
            b.forget_prefix(&format!("{uid}/"));
        }
        self.volumes.forget_pod(uid);
        let _ = tokio::fs::remove_dir_all(self.pod_dir(uid)).await;
    }
}
