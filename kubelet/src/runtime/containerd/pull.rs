//! Pulling an image from a registry into containerd (what containerd's CRI
//! plugin does for `PullImage`): resolve the reference to a manifest (the
//! linux/<arch> one of an index), download the config and layers that the
//! content store lacks, checking every digest, commit them under a lease
//! with the `containerd.io/gc.ref.*` labels that keep them alive, then
//! create or update the image record. Unpacking stays with
//! `ImageService::lookup`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::leases_client::LeasesClient;
use containerd_client::services::v1::{
    CreateImageRequest, CreateRequest as CreateLeaseRequest, DeleteRequest as DeleteLeaseRequest,
    Image, InfoRequest, UpdateImageRequest, WriteAction, WriteContentRequest,
};
use containerd_client::tonic;
use containerd_client::tonic::transport::Channel;
use containerd_client::types::Descriptor;
use futures::StreamExt;
use serde_json::Value;

use super::registry::{Credentials, ImageRef, RegistryClient, RegistryError};

const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("containerd: {0}")]
    Containerd(#[from] tonic::Status),
    #[error("{0}")]
    Manifest(String),
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// Bytes downloaded (0 when every blob was already present).
    pub downloaded: usize,
    /// Size of the image (config and layers).
    pub size: i64,
}

pub struct Puller {
    channel: Channel,
    namespace: String,
}

impl Puller {
    pub fn new(channel: Channel, namespace: &str) -> Puller {
        Puller {
            channel,
            namespace: namespace.into(),
        }
    }

    fn request<T>(&self, message: T, lease: &str) -> tonic::Request<T> {
        let mut req = super::request(message, &self.namespace);
        if let Ok(l) = lease.parse() {
            req.metadata_mut().insert("containerd-lease", l);
        }
        req
    }

    /// Pulls `name` (a normalised reference) into containerd.
    pub async fn pull(
        &self,
        name: &str,
        credentials: Option<Credentials>,
    ) -> Result<Pulled, PullError> {
        let image = ImageRef::parse(name)?;
        let mut registry = RegistryClient::new(image.clone(), credentials);
        let lease = self.create_lease().await?;
        let result = self.pull_under(&mut registry, name, &lease).await;
        let _ = LeasesClient::new(self.channel.clone())
            .delete(super::request(
                DeleteLeaseRequest {
                    id: lease,
                    sync: false,
                },
                &self.namespace,
            ))
            .await;
        result
    }

    async fn pull_under(
        &self,
        registry: &mut RegistryClient,
        name: &str,
        lease: &str,
    ) -> Result<Pulled, PullError> {
        let reference = registry.image().reference.clone();
        let top_url = registry.image().url("manifests", &reference);
        let (headers, top) = registry.get(&top_url, MANIFEST_TYPES).await?;
        let top_digest = digest_of(&top);
        if reference.starts_with("sha256:") && reference != top_digest {
            return Err(RegistryError::Digest {
                what: top_url,
                want: reference,
                got: top_digest,
            }
            .into());
        }
        let top_json: Value = serde_json::from_slice(&top)
            .map_err(|e| PullError::Manifest(format!("manifest of {name}: {e}")))?;
        let top_type = media_type(&top_json, headers.get(http::header::CONTENT_TYPE));
        let mut downloaded = top.len();

        let (manifest, manifest_json, index_labels) = if top_json.get("manifests").is_some() {
            let arch = crate::host::go_arch();
            let chosen = top_json["manifests"]
                .as_array()
                .and_then(|m| {
                    m.iter().find(|d| {
                        d["platform"]["os"] == "linux" && d["platform"]["architecture"] == arch
                    })
                })
                .and_then(|d| d["digest"].as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    PullError::Manifest(format!("no linux/{arch} manifest in {name}"))
                })?;
            let url = registry.image().url("manifests", &chosen);
            let (_, body) = registry.get(&url, MANIFEST_TYPES).await?;
            verify(&url, &chosen, &body)?;
            downloaded += body.len();
            let json: Value = serde_json::from_slice(&body)
                .map_err(|e| PullError::Manifest(format!("manifest {chosen}: {e}")))?;
            let labels = HashMap::from([("containerd.io/gc.ref.content.m.0".to_string(), chosen)]);
            (body, json, Some(labels))
        } else {
            (top.clone(), top_json.clone(), None)
        };

        // Config and layers first, then what references them.
        let mut blobs = vec![("config".to_string(), manifest_json["config"].clone())];
        blobs.extend(
            manifest_json["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, l)| (format!("l.{i}"), l.clone())),
        );
        let mut manifest_labels = HashMap::new();
        let mut size = 0;
        for (label, descriptor) in &blobs {
            let digest = descriptor["digest"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !digest.starts_with("sha256:") {
                return Err(PullError::Manifest(format!("{label}: digest {digest:?}")));
            }
            size += descriptor["size"].as_i64().unwrap_or(0);
            manifest_labels.insert(
                format!("containerd.io/gc.ref.content.{label}"),
                digest.clone(),
            );
            if self.has(&digest, lease).await? {
                continue;
            }
            let url = registry.image().url("blobs", &digest);
            let (_, body) = registry.get(&url, "*/*").await?;
            verify(&url, &digest, &body)?;
            downloaded += body.len();
            self.write(&digest, &body, HashMap::new(), lease).await?;
        }
        let manifest_digest = digest_of(&manifest);
        self.write(&manifest_digest, &manifest, manifest_labels, lease)
            .await?;
        if let Some(labels) = index_labels {
            self.write(&top_digest, &top, labels, lease).await?;
        }
        self.record_image(
            name,
            Descriptor {
                media_type: top_type,
                digest: top_digest,
                size: top.len() as i64,
                annotations: Default::default(),
            },
            lease,
        )
        .await?;
        Ok(Pulled { downloaded, size })
    }

    async fn create_lease(&self) -> Result<String, PullError> {
        let id = format!("oxkube-pull-{}", rand_suffix());
        let expire =
            chrono::DateTime::<chrono::Utc>::from(SystemTime::now() + Duration::from_secs(3600))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        LeasesClient::new(self.channel.clone())
            .create(super::request(
                CreateLeaseRequest {
                    id: id.clone(),
                    labels: HashMap::from([("containerd.io/gc.expire".to_string(), expire)]),
                },
                &self.namespace,
            ))
            .await?;
        Ok(id)
    }

    async fn has(&self, digest: &str, lease: &str) -> Result<bool, PullError> {
        match ContentClient::new(self.channel.clone())
            .info(self.request(
                InfoRequest {
                    digest: digest.into(),
                },
                lease,
            ))
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(s.into()),
        }
    }

    /// Writes and commits one blob (already present: its labels are left).
    async fn write(
        &self,
        digest: &str,
        data: &Bytes,
        labels: HashMap<String, String>,
        lease: &str,
    ) -> Result<(), PullError> {
        let reference = format!("oxkube-{digest}");
        let total = data.len() as i64;
        let mut messages: Vec<WriteContentRequest> = data
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| WriteContentRequest {
                action: WriteAction::Write as i32,
                r#ref: reference.clone(),
                total,
                expected: digest.into(),
                offset: (i * CHUNK) as i64,
                data: chunk.to_vec(),
                labels: HashMap::new(),
            })
            .collect();
        messages.push(WriteContentRequest {
            action: WriteAction::Commit as i32,
            r#ref: reference,
            total,
            expected: digest.into(),
            offset: total,
            data: Vec::new(),
            labels,
        });
        let stream = futures::stream::iter(messages);
        let result = ContentClient::new(self.channel.clone())
            .write(self.request(stream, lease))
            .await;
        let mut responses = match result {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::AlreadyExists => return Ok(()),
            Err(s) => return Err(s.into()),
        };
        while let Some(r) = responses.next().await {
            match r {
                Ok(_) => {}
                Err(s) if s.code() == tonic::Code::AlreadyExists => return Ok(()),
                Err(s) => return Err(s.into()),
            }
        }
        Ok(())
    }

    async fn record_image(
        &self,
        name: &str,
        target: Descriptor,
        lease: &str,
    ) -> Result<(), PullError> {
        let now = prost_types::Timestamp::from(SystemTime::now());
        let image = Image {
            name: name.into(),
            labels: HashMap::from([("io.cri-containerd.image".to_string(), "managed".to_string())]),
            target: Some(target),
            created_at: Some(now),
            updated_at: Some(now),
        };
        let mut images = ImagesClient::new(self.channel.clone());
        match images
            .create(self.request(
                CreateImageRequest {
                    image: Some(image.clone()),
                    source_date_epoch: None,
                },
                lease,
            ))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                images
                    .update(self.request(
                        UpdateImageRequest {
                            image: Some(image),
                            update_mask: None,
                            source_date_epoch: None,
                        },
                        lease,
                    ))
                    .await?;
                Ok(())
            }
            Err(s) => Err(s.into()),
        }
    }
}

fn digest_of(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn verify(url: &str, want: &str, data: &[u8]) -> Result<(), RegistryError> {
    let got = digest_of(data);
    if got != want {
        return Err(RegistryError::Digest {
            what: url.into(),
            want: want.into(),
            got,
        });
    }
    Ok(())
}

/// The manifest's own `mediaType`, else the response's Content-Type.
fn media_type(manifest: &Value, content_type: Option<&http::HeaderValue>) -> String {
    manifest["mediaType"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            content_type
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
        })
        .unwrap_or_else(|| {
            if manifest.get("manifests").is_some() {
                "application/vnd.oci.image.index.v1+json".into()
            } else {
                "application/vnd.oci.image.manifest.v1+json".into()
            }
        })
}

fn rand_suffix() -> String {
    let n: u64 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!("{n:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_media_types() {
        assert_eq!(
            digest_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(verify("u", &digest_of(b"x"), b"x").is_ok());
        assert!(verify("u", &digest_of(b"x"), b"y").is_err());
        assert_eq!(
            media_type(&serde_json::json!({"manifests": []}), None),
            "application/vnd.oci.image.index.v1+json"
        );
        let docker = http::HeaderValue::from_static(
            "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8",
        );
        assert_eq!(
            media_type(&serde_json::json!({}), Some(&docker)),
            "application/vnd.docker.distribution.manifest.v2+json"
        );
    }
}
