//! What a container sees of its pod besides the image: environment
//! variables (`value` with `$(VAR)` expansion, `valueFrom` fieldRef,
//! resourceFieldRef, configMapKeyRef, secretKeyRef, and `envFrom`) and
//! volume mounts (emptyDir, hostPath, configMap, secret, downwardAPI,
//! projected configMap/secret/downwardAPI/serviceAccountToken sources), plus
//! the pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`. Volume
//! contents are written under `<root-dir>/pods/<uid>/volumes/<plugin>/<name>`
//! when a container starts, file by file with a rename (containers already
//! running with the directory mounted see each file old or new).
//! ConfigMaps and Secrets are read from the API server; tokens come from
//! TokenRequest (`sa_token.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, ObjectFieldSelector, Pod,
    ResourceFieldSelector, Secret, Volume,
};
use kube::Api;

use super::registry::{Credentials, credentials_from_docker_config};
use super::sa_token::{ProjectedTokens, write_atomically};
use super::spec::BindMount;
use crate::quantity;

/// Reads ConfigMaps and Secrets and requests tokens (client None: no API
/// access, e.g. unit tests).
pub struct VolumeSource {
    client: Option<kube::Client>,
    tokens: ProjectedTokens,
}

type Files = Vec<(String, Vec<u8>)>;

fn field_value(
    pod: &Pod,
    pod_ip: Option<&str>,
    sel: &ObjectFieldSelector,
) -> Result<String, String> {
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let path = sel.field_path.as_str();
    let from_map = |m: &Option<BTreeMap<String, String>>, prefix: &str| -> Option<String> {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(
            m.as_ref()
                .and_then(|m| m.get(key))
                .cloned()
                .unwrap_or_default(),
        )
    };
    let map_text = |m: &Option<BTreeMap<String, String>>| {
        m.iter()
            .flatten()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => map_text(&meta.labels),
        "metadata.annotations" => map_text(&meta.annotations),
        "spec.nodeName" => spec.node_name.unwrap_or_default(),
        "spec.serviceAccountName" => spec.service_account_name.unwrap_or_default(),
        "status.hostIP" => status.host_ip.unwrap_or_default(),
        "status.hostIPs" => status
            .host_ips
            .iter()
            .flatten()
            .map(|h| h.ip.clone())
            .collect::<Vec<_>>()
            .join(","),
        "status.podIP" | "status.podIPs" => pod_ip
            .map(str::to_string)
            .or(status.pod_ip)
            .unwrap_or_default(),
        _ => {
            if let Some(v) = from_map(&meta.labels, "metadata.labels['") {
                v
            } else if let Some(v) = from_map(&meta.annotations, "metadata.annotations['") {
                v
            } else {
                return Err(format!("unsupported fieldPath: {path}"));
            }
        }
    })
}

fn resource_value(
    pod: &Pod,
    default_container: &str,
    sel: &ResourceFieldSelector,
) -> Result<String, String> {
    let name = sel
        .container_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_container.to_string());
    let container = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
        })
        .find(|c| c.name == name)
        .ok_or_else(|| format!("container {name} not found"))?;
    let res = container.resources.clone().unwrap_or_default();
    let (group, kind) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported resource: {}", sel.resource))?;
    let map = if group == "limits" {
        res.limits
    } else {
        res.requests
    };
    let quantity = map.and_then(|m| m.get(kind).map(|q| q.0.clone()));
    let divisor = sel
        .divisor
        .as_ref()
        .map(|d| d.0.clone())
        .unwrap_or_else(|| "1".into());
    let value = if kind == "cpu" {
        // Without a limit, the node's allocatable CPUs (all of the host's:
        // no CPU is reserved).
        let millis = quantity
            .and_then(|q| quantity::cpu_millis(&q))
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get()) as u64 * 1000
            });
        let div = quantity::cpu_millis(&divisor)
            .filter(|d| *d > 0)
            .unwrap_or(1000);
        millis.div_ceil(div)
    } else {
        let bytes = quantity
            .and_then(|q| quantity::bytes(&q))
            .or_else(|| {
                // Without a limit: the node's allocatable memory.
                crate::host::read_meminfo()
                    .ok()
                    .and_then(|m| m.get("MemTotal").copied())
                    .map(|total| total.saturating_sub(crate::host::EVICTION_MEMORY_AVAILABLE_BYTES))
            })
            .unwrap_or(0);
        let div = quantity::bytes(&divisor).filter(|d| *d > 0).unwrap_or(1);
        bytes.div_ceil(div)
    };
    Ok(value.to_string())
}

/// A subPath must be relative and must not step out of its volume.
pub fn check_sub_path(sub: &str) -> Result<(), String> {
    let path = Path::new(sub);
    if path.is_absolute() {
        return Err(format!("{sub:?}: must be a relative path"));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!("{sub:?}: must not contain '..'"));
    }
    Ok(())
}

/// Replaces every `subPathExpr` of `container`'s volumeMounts by the
/// `subPath` it expands to with the container's env (upstream's
/// ExpandContainerVolumeMounts); an absolute result or one with `..` is an
/// error (the container cannot be created).
pub fn expand_sub_path_exprs(
    container: &mut Container,
    env: &[(String, String)],
) -> Result<(), String> {
    for vm in container.volume_mounts.iter_mut().flatten() {
        let Some(expr) = vm.sub_path_expr.take().filter(|e| !e.is_empty()) else {
            continue;
        };
        let sub = expand(&expr, env);
        check_sub_path(&sub).map_err(|e| {
            format!(
                "failed to prepare subPath for volumeMount {:?} of container {:?}: subPathExpr {e}",
                vm.name, container.name
            )
        })?;
        vm.sub_path = Some(sub);
    }
    Ok(())
}

/// `$(VAR)` references to earlier variables are replaced; `$$` escapes.
pub fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn select_items(
    all: Files,
    items: &Option<Vec<KeyToPath>>,
    kind: &str,
    name: &str,
) -> Result<Files, String> {
    let Some(items) = items.as_ref().filter(|i| !i.is_empty()) else {
        return Ok(all);
    };
    items
        .iter()
        .map(|item| {
            all.iter()
                .find(|(k, _)| *k == item.key)
                .map(|(_, v)| (item.path.clone(), v.clone()))
                .ok_or_else(|| {
                    format!("configmap references non-existent config key: {}", item.key)
                })
                .map_err(|e| {
                    if kind == "secret" {
                        format!(
                            "secret \"{name}\" references non-existent secret key: {}",
                            item.key
                        )
                    } else {
                        e
                    }
                })
        })
        .collect()
}

/// Makes `dir` hold exactly `files`: each written with a rename, files no
/// longer wanted removed (the directory itself stays, since running
/// containers may have it mounted).
fn write_files(dir: &Path, files: &Files) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut wanted = std::collections::BTreeSet::new();
    for (path, data) in files {
        let target = dir.join(path);
        if !target.starts_with(dir) || path.contains("..") {
            return Err(format!("invalid path {path:?}"));
        }
        write_atomically(&target, data).map_err(|e| format!("{}: {e}", target.display()))?;
        wanted.insert(target);
    }
    remove_unwanted(dir, &wanted);
    Ok(())
}

fn remove_unwanted(dir: &Path, wanted: &std::collections::BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                remove_unwanted(&path, wanted);
                let _ = std::fs::remove_dir(&path); // only if now empty
            }
            Ok(_) if !wanted.contains(&path) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

impl VolumeSource {
    pub fn new(client: Option<kube::Client>) -> Self {
        VolumeSource {
            client,
            tokens: ProjectedTokens::default(),
        }
    }

    /// Rewrites the projected tokens of pod `uid` that are due for refresh.
    pub async fn refresh_tokens(&self, uid: &str) {
        if let Some(client) = &self.client {
            self.tokens.refresh(client, uid).await;
        }
    }

    /// Registry credentials from the pod's `imagePullSecrets`
    /// (`kubernetes.io/dockerconfigjson` or `dockercfg` Secrets), per
    /// registry domain; unreadable secrets are skipped, as upstream's
    /// kubelet does (the pull then goes anonymous).
    pub async fn pull_credentials(&self, pod: &Pod) -> BTreeMap<String, Credentials> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let names: Vec<String> = pod
            .spec
            .iter()
            .flat_map(|s| s.image_pull_secrets.iter().flatten())
            .map(|r| r.name.clone())
            .collect();
        let mut out = BTreeMap::new();
        for name in names {
            let Ok(Some(secret)) = self.secret(&ns, &name).await else {
                tracing::warn!(pod = ?pod.metadata.name, secret = %name, "image pull secret not readable");
                continue;
            };
            let data = secret.data.unwrap_or_default();
            for key in [".dockerconfigjson", ".dockercfg"] {
                if let Some(bytes) = data.get(key) {
                    for (domain, c) in credentials_from_docker_config(&bytes.0) {
                        out.entry(domain).or_insert(c);
                    }
                }
            }
        }
        out
    }

    /// Forgets what was written for a removed pod.
    pub fn forget_pod(&self, uid: &str) {
        self.tokens.forget(uid);
    }

    fn client(&self) -> Result<kube::Client, String> {
        self.client
            .clone()
            .ok_or_else(|| "no API client to read ConfigMaps and Secrets".to_string())
    }

    async fn config_map(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, String> {
        Api::<ConfigMap>::namespaced(self.client()?, ns)
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())
    }

    async fn secret(&self, ns: &str, name: &str) -> Result<Option<Secret>, String> {
        Api::<Secret>::namespaced(self.client()?, ns)
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())
    }

    async fn config_map_files(
        &self,
        ns: &str,
        name: &str,
        optional: bool,
    ) -> Result<Files, String> {
        match self.config_map(ns, name).await? {
            Some(cm) => {
                let mut files: Files = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                files.extend(
                    cm.binary_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0)),
                );
                Ok(files)
            }
            None if optional => Ok(Vec::new()),
            None => Err(format!("configmap \"{name}\" not found")),
        }
    }

    async fn secret_files(&self, ns: &str, name: &str, optional: bool) -> Result<Files, String> {
        match self.secret(ns, name).await? {
            Some(s) => {
                let mut files: Files = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                files.extend(
                    s.string_data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes())),
                );
                Ok(files)
            }
            None if optional => Ok(Vec::new()),
            None => Err(format!("secret \"{name}\" not found")),
        }
    }

    /// The container's environment, resolved, in order.
    pub async fn env(
        &self,
        pod: &Pod,
        container: &Container,
        pod_ip: Option<&str>,
    ) -> Result<Vec<(String, String)>, String> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        // Service variables first: the container's own env overrides them
        // and may refer to them.
        let mut env: Vec<(String, String)> = match &self.client {
            Some(client) => super::service_env::for_pod(client, pod).await?,
            None => Vec::new(),
        };
        for from in container.env_from.iter().flatten() {
            let prefix = from.prefix.clone().unwrap_or_default();
            let files = if let Some(cm) = &from.config_map_ref {
                self.config_map_files(&ns, &cm.name, cm.optional.unwrap_or(false))
                    .await?
            } else if let Some(s) = &from.secret_ref {
                self.secret_files(&ns, &s.name, s.optional.unwrap_or(false))
                    .await?
            } else {
                Vec::new()
            };
            for (k, v) in files {
                env.push((
                    format!("{prefix}{k}"),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
            }
        }
        for var in container.env.iter().flatten() {
            let value = match &var.value_from {
                None => Some(expand(var.value.as_deref().unwrap_or_default(), &env)),
                Some(src) => {
                    if let Some(f) = &src.field_ref {
                        Some(field_value(pod, pod_ip, f)?)
                    } else if let Some(r) = &src.resource_field_ref {
                        Some(resource_value(pod, &container.name, r)?)
                    } else if let Some(r) = &src.config_map_key_ref {
                        let optional = r.optional.unwrap_or(false);
                        match self.config_map(&ns, &r.name).await? {
                            Some(cm) => match cm.data.and_then(|d| d.get(&r.key).cloned()) {
                                Some(v) => Some(v),
                                None if optional => None,
                                None => {
                                    return Err(format!(
                                        "couldn't find key {} in ConfigMap {ns}/{}",
                                        r.key, r.name
                                    ));
                                }
                            },
                            None if optional => None,
                            None => return Err(format!("configmap \"{}\" not found", r.name)),
                        }
                    } else if let Some(r) = &src.secret_key_ref {
                        let optional = r.optional.unwrap_or(false);
                        match self.secret(&ns, &r.name).await? {
                            Some(s) => match s.data.and_then(|d| d.get(&r.key).cloned()) {
                                Some(v) => Some(String::from_utf8_lossy(&v.0).into_owned()),
                                None if optional => None,
                                None => {
                                    return Err(format!(
                                        "couldn't find key {} in Secret {ns}/{}",
                                        r.key, r.name
                                    ));
                                }
                            },
                            None if optional => None,
                            None => return Err(format!("secret \"{}\" not found", r.name)),
                        }
                    } else {
                        None
                    }
                }
            };
            if let Some(v) = value {
                env.push((var.name.clone(), v));
            }
        }
        Ok(env)
    }

    /// The files of `volume`, to be written in `dir`.
    async fn volume_files(
        &self,
        pod: &Pod,
        volume: &Volume,
        pod_ip: Option<&str>,
        dir: &Path,
    ) -> Result<Option<Files>, String> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let downward =
            |items: &[DownwardAPIVolumeFile], container: &str| -> Result<Files, String> {
                items
                    .iter()
                    .map(|item| {
                        let value = if let Some(f) = &item.field_ref {
                            field_value(pod, pod_ip, f)?
                        } else if let Some(r) = &item.resource_field_ref {
                            resource_value(pod, container, r)?
                        } else {
                            String::new()
                        };
                        Ok((item.path.clone(), value.into_bytes()))
                    })
                    .collect()
            };
        let first_container = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        if let Some(cm) = &volume.config_map {
            let all = self
                .config_map_files(&ns, &cm.name, cm.optional.unwrap_or(false))
                .await?;
            return select_items(all, &cm.items, "configmap", &cm.name).map(Some);
        }
        if let Some(s) = &volume.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let all = self
                .secret_files(&ns, &name, s.optional.unwrap_or(false))
                .await?;
            return select_items(all, &s.items, "secret", &name).map(Some);
        }
        if let Some(d) = &volume.downward_api {
            return downward(d.items.as_deref().unwrap_or_default(), &first_container).map(Some);
        }
        if let Some(p) = &volume.projected {
            let mut files = Vec::new();
            for source in p.sources.iter().flatten() {
                if let Some(cm) = &source.config_map {
                    let all = self
                        .config_map_files(&ns, &cm.name, cm.optional.unwrap_or(false))
                        .await?;
                    files.extend(select_items(all, &cm.items, "configmap", &cm.name)?);
                }
                if let Some(s) = &source.secret {
                    let all = self
                        .secret_files(&ns, &s.name, s.optional.unwrap_or(false))
                        .await?;
                    files.extend(select_items(all, &s.items, "secret", &s.name)?);
                }
                if let Some(d) = &source.downward_api {
                    files.extend(downward(
                        d.items.as_deref().unwrap_or_default(),
                        &first_container,
                    )?);
                }
                if let Some(t) = &source.service_account_token {
                    let token = self
                        .tokens
                        .token(&self.client()?, pod, t, dir.join(&t.path))
                        .await?;
                    files.push((t.path.clone(), token));
                }
            }
            return Ok(Some(files));
        }
        Ok(None)
    }

    /// The bind mounts of `container`: /etc/hosts (see [`hosts_file`]), /etc/hostname,
    /// /etc/resolv.conf and its volumeMounts (contents written now).
    pub async fn mounts(
        &self,
        pod: &Pod,
        container: &Container,
        pod_dir: &Path,
        pod_ip: Option<&str>,
    ) -> Result<Vec<BindMount>, String> {
        let spec = pod.spec.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
        let etc = pod_dir.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| e.to_string())?;
        let hosts = hosts_file(&spec, &hostname, pod_ip);
        std::fs::write(etc.join("hosts"), hosts).map_err(|e| e.to_string())?;
        std::fs::write(etc.join("hostname"), format!("{hostname}\n")).map_err(|e| e.to_string())?;
        let resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
        std::fs::write(etc.join("resolv.conf"), resolv).map_err(|e| e.to_string())?;
        let bind = |host: PathBuf, path: &str, read_only: bool| BindMount {
            host_path: host.display().to_string(),
            container_path: path.into(),
            read_only,
        };
        let mut mounts = vec![
            bind(etc.join("hostname"), "/etc/hostname", false),
            bind(etc.join("resolv.conf"), "/etc/resolv.conf", false),
        ];
        // A volume mounted at /etc/hosts replaces the managed file.
        if !container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path.trim_end_matches('/') == "/etc/hosts")
        {
            mounts.insert(0, bind(etc.join("hosts"), "/etc/hosts", false));
        }
        for vm in container.volume_mounts.iter().flatten() {
            let volume = spec
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == vm.name)
                .ok_or_else(|| format!("volume {:?} not found in the pod", vm.name))?;
            let host_dir = if volume.empty_dir.is_some() {
                let dir = pod_dir
                    .join("volumes/kubernetes.io~empty-dir")
                    .join(&volume.name);
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                dir
            } else if let Some(hp) = &volume.host_path {
                let path = PathBuf::from(&hp.path);
                if hp.type_.as_deref() == Some("DirectoryOrCreate") {
                    std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
                }
                path
            } else if let Some(files) = self
                .volume_files(pod, volume, pod_ip, &content_dir(pod_dir, volume))
                .await?
            {
                let dir = content_dir(pod_dir, volume);
                write_files(&dir, &files)?;
                dir
            } else {
                return Err(format!("volume {:?}: unsupported volume type", volume.name));
            };
            let host = match vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub) if check_sub_path(sub).is_ok() => {
                    let p = host_dir.join(sub);
                    if !p.exists() {
                        std::fs::create_dir_all(&p).map_err(|e| e.to_string())?;
                    }
                    p
                }
                Some(sub) => return Err(format!("invalid subPath {sub:?}")),
                None => host_dir,
            };
            mounts.push(bind(host, &vm.mount_path, vm.read_only.unwrap_or(false)));
        }
        Ok(mounts)
    }
}

/// Where the files of a configMap, secret, downwardAPI or projected volume
/// live on the host.
fn content_dir(pod_dir: &Path, volume: &Volume) -> PathBuf {
    let plugin = if volume.config_map.is_some() {
        "kubernetes.io~configmap"
    } else if volume.secret.is_some() {
        "kubernetes.io~secret"
    } else if volume.downward_api.is_some() {
        "kubernetes.io~downward-api"
    } else {
        "kubernetes.io~projected"
    };
    pod_dir.join("volumes").join(plugin).join(&volume.name)
}

/// The pod's /etc/hosts: on the pod network a kubelet-managed file
/// (localhost, the pod's IP and hostname); with `hostNetwork` the node's
/// own /etc/hosts. `hostAliases` are appended to either, as upstream does.
fn hosts_file(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    hostname: &str,
    pod_ip: Option<&str>,
) -> String {
    let mut hosts = if spec.host_network.unwrap_or(false) {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        let mut managed = String::from(
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        );
        if let Some(ip) = pod_ip {
            managed.push_str(&format!("{ip}\t{hostname}\n"));
        }
        managed
    };
    let aliases: Vec<_> = spec
        .host_aliases
        .iter()
        .flatten()
        .filter(|a| a.hostnames.as_ref().is_some_and(|h| !h.is_empty()))
        .collect();
    if !aliases.is_empty() {
        if !hosts.is_empty() && !hosts.ends_with('\n') {
            hosts.push('\n');
        }
        hosts.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names = alias.hostnames.clone().unwrap_or_default().join("\t");
            hosts.push_str(&format!("{}\t{names}\n", alias.ip));
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns1", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
                "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}],
                "volumes": [{"name": "d", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                            {"name": "e", "emptyDir": {}}]},
            "status": {"hostIP": "192.0.2.1"}
        }))
        .unwrap()
    }

    #[test]
    fn expands_references() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)-$$(A)", &env), "x-$(B)-$(A)");
    }

    #[tokio::test]
    async fn env_from_fields_and_resources() {
        let p = pod();
        let c: Container = serde_json::from_value(json!({"name": "c", "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
            {"name": "GREETING", "value": "hi $(NAME)"}
        ]})).unwrap();
        let env = VolumeSource::new(None)
            .env(&p, &c, Some("10.88.0.9"))
            .await
            .unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("NAME"), Some("web"));
        assert_eq!(get("IP"), Some("10.88.0.9"));
        assert_eq!(get("NODE"), Some("n1"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("MEM"), Some("64"));
        assert_eq!(get("CPU"), Some("250"));
        assert_eq!(get("GREETING"), Some("hi web"));
    }

    #[tokio::test]
    async fn mounts_write_downward_api_and_empty_dir() {
        let dir = tempfile::tempdir().unwrap();
        let p = pod();
        let c: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
            {"name": "d", "mountPath": "/etc/podinfo", "readOnly": true},
            {"name": "e", "mountPath": "/cache"}]}))
        .unwrap();
        let mounts = VolumeSource::new(None)
            .mounts(&p, &c, dir.path(), Some("10.88.0.9"))
            .await
            .unwrap();
        let info = mounts
            .iter()
            .find(|m| m.container_path == "/etc/podinfo")
            .unwrap();
        assert!(info.read_only);
        let labels = std::fs::read_to_string(Path::new(&info.host_path).join("labels")).unwrap();
        assert_eq!(labels, "app=\"web\"");
        let hosts = std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap();
        assert!(hosts.contains("10.88.0.9\tweb"));
        assert!(
            mounts
                .iter()
                .any(|m| m.container_path == "/cache" && !m.read_only)
        );
    }

    #[test]
    fn hosts_file_appends_host_aliases() {
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [],
            "hostAliases": [{"ip": "123.45.67.89", "hostnames": ["foo", "bar"]}, {"ip": "1.2.3.4"}]
        }))
        .unwrap();
        let hosts = hosts_file(&spec, "web", Some("10.0.0.5"));
        assert!(
            hosts.starts_with("# Kubernetes-managed hosts file.\n"),
            "{hosts}"
        );
        assert!(hosts.contains("10.0.0.5\tweb\n"), "{hosts}");
        assert!(
            hosts.ends_with("# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\n"),
            "{hosts}"
        );
        let spec: k8s_openapi::api::core::v1::PodSpec =
            serde_json::from_value(serde_json::json!({"containers": [], "hostNetwork": true}))
                .unwrap();
        let hosts = hosts_file(&spec, "web", None);
        assert!(!hosts.contains("Kubernetes-managed"), "{hosts}");
    }

    #[test]
    fn sub_path_exprs_expand_and_must_stay_inside() {
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "volumeMounts": [{"name": "v", "mountPath": "/m", "subPathExpr": "$(POD_NAME)/x"}]
        }))
        .unwrap();
        let env = vec![("POD_NAME".to_string(), "web".to_string())];
        expand_sub_path_exprs(&mut c, &env).unwrap();
        let vm = &c.volume_mounts.as_ref().unwrap()[0];
        assert_eq!(vm.sub_path.as_deref(), Some("web/x"));
        for bad in ["/tmp", ".."] {
            let mut c: Container = serde_json::from_value(serde_json::json!({
                "name": "c",
                "volumeMounts": [{"name": "v", "mountPath": "/m", "subPathExpr": "$(P)"}]
            }))
            .unwrap();
            let env = vec![("P".to_string(), bad.to_string())];
            assert!(expand_sub_path_exprs(&mut c, &env).is_err(), "{bad}");
        }
        assert!(check_sub_path("a/../../b").is_err());
        assert!(check_sub_path("a/b..c").is_ok());
    }
}
