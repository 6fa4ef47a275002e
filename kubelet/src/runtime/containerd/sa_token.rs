//! Projected ServiceAccount tokens (upstream's kubelet token manager):
//! `serviceAccountToken` sources of projected volumes get a token from the
//! API server's TokenRequest, bound to the pod, for the source's audience
//! and lifetime. Every token written is remembered, and `refresh` rewrites
//! it (atomically, so running containers see the new one) once 80 % of its
//! lifetime has passed or it is a day old, as upstream's kubelet does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount, ServiceAccountTokenProjection};
use kube::Api;
use kube::api::PostParams;

/// Upstream's default `expirationSeconds` of a projection.
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// Tokens older than this are refreshed whatever their lifetime.
const MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// What a token file was requested with, to request it again.
#[derive(Debug, Clone)]
struct Projection {
    pod_uid: String,
    namespace: String,
    pod_name: String,
    service_account: String,
    audience: Option<String>,
    expiration_seconds: i64,
    issued: SystemTime,
    expires: SystemTime,
}

impl Projection {
    fn needs_refresh(&self, now: SystemTime) -> bool {
        let ttl = self.expires.duration_since(self.issued).unwrap_or_default();
        let age = now.duration_since(self.issued).unwrap_or_default();
        age >= ttl.mul_f64(0.8) || age >= MAX_AGE
    }
}

#[derive(Default)]
pub struct ProjectedTokens {
    /// Token file -> how it was requested.
    written: Mutex<HashMap<PathBuf, Projection>>,
}

impl ProjectedTokens {
    /// A token for `source` of `pod`, to be written at `file` (which is
    /// remembered for refreshing).
    pub async fn token(
        &self,
        client: &kube::Client,
        pod: &Pod,
        source: &ServiceAccountTokenProjection,
        file: PathBuf,
    ) -> Result<Vec<u8>, String> {
        let spec = pod.spec.clone().unwrap_or_default();
        let mut projection = Projection {
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            service_account: spec
                .service_account_name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into()),
            audience: source.audience.clone().filter(|a| !a.is_empty()),
            expiration_seconds: source
                .expiration_seconds
                .unwrap_or(DEFAULT_EXPIRATION_SECONDS),
            issued: SystemTime::now(),
            expires: SystemTime::now(),
        };
        let token = request(client, &mut projection).await?;
        if let Ok(mut written) = self.written.lock() {
            written.insert(file, projection);
        }
        Ok(token.into_bytes())
    }

    /// Rewrites the tokens of pod `uid` that are due.
    pub async fn refresh(&self, client: &kube::Client, uid: &str) {
        let due: Vec<(PathBuf, Projection)> = match self.written.lock() {
            Ok(written) => written
                .iter()
                .filter(|(_, p)| p.pod_uid == uid && p.needs_refresh(SystemTime::now()))
                .map(|(f, p)| (f.clone(), p.clone()))
                .collect(),
            Err(_) => return,
        };
        for (file, mut projection) in due {
            let token = match request(client, &mut projection).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(pod = %projection.pod_name, error = %e, "refreshing a service account token");
                    continue;
                }
            };
            if let Err(e) = write_atomically(&file, token.as_bytes()) {
                tracing::warn!(file = %file.display(), error = %e, "writing a refreshed token");
                continue;
            }
            tracing::debug!(pod = %projection.pod_name, file = %file.display(), "service account token refreshed");
            if let Ok(mut written) = self.written.lock() {
                written.insert(file, projection);
            }
        }
    }

    /// Forgets the tokens of a removed pod.
    pub fn forget(&self, uid: &str) {
        if let Ok(mut written) = self.written.lock() {
            written.retain(|_, p| p.pod_uid != uid);
        }
    }
}

async fn request(client: &kube::Client, projection: &mut Projection) -> Result<String, String> {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: projection.audience.clone().into_iter().collect(),
            expiration_seconds: Some(projection.expiration_seconds),
            bound_object_ref: Some(BoundObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(projection.pod_name.clone()),
                uid: Some(projection.pod_uid.clone()),
            }),
        },
        ..Default::default()
    };
    let issued = SystemTime::now();
    let response = Api::<ServiceAccount>::namespaced(client.clone(), &projection.namespace)
        .create_token_request(
            &projection.service_account,
            &PostParams::default(),
            &request,
        )
        .await
        .map_err(|e| {
            format!(
                "failed to fetch token for service account {}/{}: {e}",
                projection.namespace, projection.service_account
            )
        })?;
    let status = response
        .status
        .ok_or_else(|| "TokenRequest answered without a status".to_string())?;
    projection.issued = issued;
    let expires = status.expiration_timestamp.0.as_second();
    projection.expires = SystemTime::UNIX_EPOCH + Duration::from_secs(expires.max(0) as u64);
    Ok(status.token)
}

/// Replaces `file` by a new file with `data` (rename in its directory, so
/// a container that has the directory mounted sees old or new, never half).
pub fn write_atomically(file: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projection(ttl: u64) -> Projection {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        Projection {
            pod_uid: "u".into(),
            namespace: "ns".into(),
            pod_name: "p".into(),
            service_account: "default".into(),
            audience: None,
            expiration_seconds: ttl as i64,
            issued,
            expires: issued + Duration::from_secs(ttl),
        }
    }

    #[test]
    fn refresh_at_eighty_percent_or_a_day() {
        let p = projection(1000);
        assert!(!p.needs_refresh(p.issued + Duration::from_secs(799)));
        assert!(p.needs_refresh(p.issued + Duration::from_secs(800)));
        let year = projection(365 * 24 * 3600);
        assert!(!year.needs_refresh(year.issued + Duration::from_secs(23 * 3600)));
        assert!(year.needs_refresh(year.issued + MAX_AGE));
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        write_atomically(&file, b"one").unwrap();
        write_atomically(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
