//! Images in containerd's image store: normalise a pod's image reference,
//! pull it from its registry as `imagePullPolicy` says (`pull.rs`, with the
//! credentials of the pod's `imagePullSecrets`), read the manifest and
//! config from the content store, compute the chain ID of the layers and
//! unpack them into the overlayfs snapshotter. A failed pull reports
//! `ErrImagePull` like upstream, a missing image under `Never`
//! `ErrImageNeverPull`.

use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::diff_client::DiffClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::{ApplyRequest, GetImageRequest, ReadContentRequest};
use containerd_client::tonic;
use containerd_client::tonic::transport::Channel;
use containerd_client::types::Descriptor;
use futures::StreamExt;
use serde_json::Value;

use std::collections::BTreeMap;

use super::pull::Puller;
use super::registry::Credentials;
use super::{SNAPSHOTTER, request};
use crate::runtime::containerd::spec::ImageConfig;

/// An image ready to run.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Normalised name, e.g. `docker.io/library/busybox:local`.
    pub name: String,
    /// `name-without-tag@sha256:<manifest>` (status.containerStatuses.imageID).
    pub repo_digest: String,
    pub config: ImageConfig,
    /// The committed snapshot of all layers.
    pub chain_id: String,
}

/// Why an image could not be made ready; `reason` is the container's
/// waiting reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageError {
    pub reason: &'static str,
    pub message: String,
}

/// `busybox` → `docker.io/library/busybox:latest`, `a/b:1` →
/// `docker.io/a/b:1`, `registry.local:5000/x` kept with `:latest` added.
pub fn normalize(reference: &str) -> String {
    let (domain, rest) = match reference.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        Some(_) => ("docker.io".to_string(), reference.to_string()),
        None => ("docker.io".to_string(), format!("library/{reference}")),
    };
    let last = rest.rsplit('/').next().unwrap_or(&rest);
    let tagged = last.contains(':') || rest.contains('@');
    format!("{domain}/{rest}{}", if tagged { "" } else { ":latest" })
}

/// upstream's default pull policy: Always for `:latest` or no tag, else
/// IfNotPresent.
pub fn pull_policy(image: &str, policy: Option<&str>) -> String {
    if let Some(p) = policy.filter(|p| !p.is_empty()) {
        return p.to_string();
    }
    if normalize(image).ends_with(":latest") {
        "Always".into()
    } else {
        "IfNotPresent".into()
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The OCI chain IDs of a layer stack from its diff IDs.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for diff in diff_ids {
        let next = match out.last() {
            None => diff.clone(),
            Some(parent) => format!(
                "sha256:{}",
                sha256_hex(format!("{parent} {diff}").as_bytes())
            ),
        };
        out.push(next);
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub struct ImageService {
    channel: Channel,
    namespace: String,
    puller: Puller,
}

/// An image made ready, and the pull that fetched it (None: it was
/// already present).
#[derive(Debug, Clone)]
pub struct Ensured {
    pub image: ResolvedImage,
    pub pulled: Option<PullReport>,
}

/// For the `Pulled` event: how long the pull took and the image's size.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub took: std::time::Duration,
    pub size: i64,
}

impl ImageService {
    pub fn new(channel: Channel, namespace: &str) -> Self {
        ImageService {
            puller: Puller::new(channel.clone(), namespace),
            channel,
            namespace: namespace.into(),
        }
    }

    async fn read_blob(&self, digest: &str) -> Result<Vec<u8>, tonic::Status> {
        let mut client = ContentClient::new(self.channel.clone());
        let mut stream = client
            .read(request(
                ReadContentRequest {
                    digest: digest.into(),
                    offset: 0,
                    size: 0,
                },
                &self.namespace,
            ))
            .await?
            .into_inner();
        let mut data = Vec::new();
        while let Some(chunk) = stream.next().await {
            data.extend(chunk?.data);
        }
        Ok(data)
    }

    async fn read_json(&self, digest: &str) -> Result<Value, tonic::Status> {
        let bytes = self.read_blob(digest).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| tonic::Status::data_loss(format!("blob {digest}: {e}")))
    }

    /// The image if containerd has it (unpacking it when needed).
    pub async fn lookup(&self, reference: &str) -> Result<Option<ResolvedImage>, tonic::Status> {
        let name = normalize(reference);
        let mut images = ImagesClient::new(self.channel.clone());
        let image = match images
            .get(request(
                GetImageRequest { name: name.clone() },
                &self.namespace,
            ))
            .await
        {
            Ok(r) => r.into_inner().image,
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
            Err(s) => return Err(s),
        };
        let Some(target) = image.and_then(|i| i.target) else {
            return Ok(None);
        };
        let mut manifest_digest = target.digest.clone();
        let mut manifest = self.read_json(&manifest_digest).await?;
        if manifest.get("manifests").is_some() {
            // An index: the linux/<arch> manifest.
            let arch = crate::host::go_arch();
            let chosen = manifest["manifests"]
                .as_array()
                .and_then(|m| {
                    m.iter().find(|d| {
                        d["platform"]["os"] == "linux" && d["platform"]["architecture"] == arch
                    })
                })
                .and_then(|d| d["digest"].as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    tonic::Status::not_found(format!("no linux/{arch} manifest in {name}"))
                })?;
            manifest_digest = chosen;
            manifest = self.read_json(&manifest_digest).await?;
        }
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let config = self.read_json(&config_digest).await?;
        let diff_ids = strings(&config["rootfs"]["diff_ids"]);
        let layers: Vec<Descriptor> = manifest["layers"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|d| Descriptor {
                        media_type: d["mediaType"].as_str().unwrap_or_default().into(),
                        digest: d["digest"].as_str().unwrap_or_default().into(),
                        size: d["size"].as_i64().unwrap_or(0),
                        annotations: Default::default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let chains = chain_ids(&diff_ids);
        self.unpack(&chains, &layers).await?;
        let c = &config["config"];
        let repo = name.rsplit_once(':').map_or(name.as_str(), |(r, _)| r);
        Ok(Some(ResolvedImage {
            repo_digest: format!("{repo}@{manifest_digest}"),
            name: name.clone(),
            config: ImageConfig {
                entrypoint: strings(&c["Entrypoint"]),
                cmd: strings(&c["Cmd"]),
                env: strings(&c["Env"]),
                working_dir: c["WorkingDir"].as_str().unwrap_or_default().into(),
                user: c["User"].as_str().unwrap_or_default().into(),
            },
            chain_id: chains.last().cloned().unwrap_or_default(),
        }))
    }

    async fn snapshot_exists(&self, key: &str) -> Result<bool, tonic::Status> {
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        match snapshots
            .stat(request(
                StatSnapshotRequest {
                    snapshotter: SNAPSHOTTER.into(),
                    key: key.into(),
                },
                &self.namespace,
            ))
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(s),
        }
    }

    /// Applies every layer not yet committed as a snapshot named by its
    /// chain ID.
    async fn unpack(&self, chains: &[String], layers: &[Descriptor]) -> Result<(), tonic::Status> {
        for (i, chain) in chains.iter().enumerate() {
            if self.snapshot_exists(chain).await? {
                continue;
            }
            let layer = layers
                .get(i)
                .cloned()
                .ok_or_else(|| tonic::Status::data_loss("fewer layers than diff ids"))?;
            let key = format!("extract-{}", uuid_like(chain));
            let parent = if i == 0 {
                String::new()
            } else {
                chains[i - 1].clone()
            };
            let mut snapshots = SnapshotsClient::new(self.channel.clone());
            let mounts = snapshots
                .prepare(request(
                    PrepareSnapshotRequest {
                        snapshotter: SNAPSHOTTER.into(),
                        key: key.clone(),
                        parent,
                        labels: Default::default(),
                    },
                    &self.namespace,
                ))
                .await?
                .into_inner()
                .mounts;
            let mut diff = DiffClient::new(self.channel.clone());
            let applied = diff
                .apply(request(
                    ApplyRequest {
                        diff: Some(layer),
                        mounts,
                        payloads: Default::default(),
                        sync_fs: false,
                    },
                    &self.namespace,
                ))
                .await;
            let committed = match applied {
                Ok(_) => {
                    snapshots
                        .commit(request(
                            CommitSnapshotRequest {
                                snapshotter: SNAPSHOTTER.into(),
                                name: chain.clone(),
                                key: key.clone(),
                                labels: Default::default(),
                            },
                            &self.namespace,
                        ))
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = committed {
                let _ = snapshots
                    .remove(request(
                        RemoveSnapshotRequest {
                            snapshotter: SNAPSHOTTER.into(),
                            key,
                        },
                        &self.namespace,
                    ))
                    .await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The image for a container under its pull policy (pulling it with
    /// `credentials`, per registry domain, when needed), or the waiting
    /// reason and message upstream's kubelet reports.
    pub async fn ensure(
        &self,
        image: &str,
        policy: Option<&str>,
        credentials: &BTreeMap<String, Credentials>,
    ) -> Result<Ensured, ImageError> {
        let policy = pull_policy(image, policy);
        let read_error = |e: tonic::Status| ImageError {
            reason: "ErrImagePull",
            message: format!("failed to read image {image:?}: {}", e.message()),
        };
        let found = self.lookup(image).await.map_err(read_error)?;
        match (found, policy.as_str()) {
            (Some(img), "Never" | "IfNotPresent") => {
                return Ok(Ensured {
                    image: img,
                    pulled: None,
                });
            }
            (None, "Never") => {
                return Err(ImageError {
                    reason: "ErrImageNeverPull",
                    message: format!(
                        "Container image \"{image}\" is not present with pull policy of Never"
                    ),
                });
            }
            _ => {}
        }
        // Always, or IfNotPresent without the image.
        let name = normalize(image);
        let domain = name.split('/').next().unwrap_or_default().to_string();
        let started = std::time::Instant::now();
        let pulled = self
            .puller
            .pull(&name, credentials.get(&domain).cloned())
            .await
            .map_err(|e| ImageError {
                reason: "ErrImagePull",
                message: format!("failed to pull and unpack image \"{name}\": {e}"),
            })?;
        let resolved = self.lookup(image).await.map_err(read_error)?;
        let image_found = resolved.ok_or_else(|| ImageError {
            reason: "ErrImagePull",
            message: format!("failed to pull and unpack image \"{name}\": not found after pull"),
        })?;
        Ok(Ensured {
            image: image_found,
            pulled: Some(PullReport {
                took: started.elapsed(),
                size: pulled.size,
            }),
        })
    }
}

fn uuid_like(chain: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{now}",
        chain
            .trim_start_matches("sha256:")
            .get(..12)
            .unwrap_or("layer")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_docker() {
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            normalize("busybox:local"),
            "docker.io/library/busybox:local"
        );
        assert_eq!(normalize("me/app:1"), "docker.io/me/app:1");
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(pull_policy("busybox", None), "Always");
        assert_eq!(pull_policy("busybox:1.36", None), "IfNotPresent");
        assert_eq!(pull_policy("busybox", Some("Never")), "Never");
    }

    #[test]
    fn chain_ids_follow_the_oci_formula() {
        let ids = chain_ids(&["sha256:a".into(), "sha256:b".into()]);
        assert_eq!(ids[0], "sha256:a");
        assert_eq!(
            ids[1],
            format!("sha256:{}", sha256_hex(b"sha256:a sha256:b"))
        );
    }
}
