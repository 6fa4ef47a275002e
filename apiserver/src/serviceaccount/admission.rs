//! The ServiceAccount admission plugin (upstream's
//! `plugin/pkg/admission/serviceaccount`), on pod creation:
//! - `spec.serviceAccountName` defaults to `default`, and the account must
//!   exist (403 otherwise; `default` is looked up for a while, since the
//!   controller manager creates it just after the namespace);
//! - unless automounting is turned off (the pod's
//!   `automountServiceAccountToken`, else the account's), every container
//!   and init container mounts a `kube-api-access-<random>` projected
//!   volume at /var/run/secrets/kubernetes.io/serviceaccount: a token
//!   (3607 s), `ca.crt` from the `kube-root-ca.crt` ConfigMap, and the
//!   namespace;
//! - the account's `imagePullSecrets` are copied to a pod that has none;
//! - mirror pods (static pods of a kubelet) may not use accounts or
//!   secrets.

use std::time::Duration;

use serde_json::{Value, json};

use super::DEFAULT_API_TOKEN_MOUNT_PATH;
use super::authenticator::get_core;
use super::claims::WARN_ONLY_EXPIRATION_SECONDS;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::state::ApiState;

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
const VOLUME_PREFIX: &str = "kube-api-access-";
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
/// Lookups of the `default` account before giving up (upstream: 10).
const DEFAULT_ACCOUNT_ATTEMPTS: usize = 10;

/// Admits a new pod in `namespace` (mutating it).
pub async fn admit_pod(state: &ApiState, namespace: &str, pod: &mut Value) -> ApiResult<()> {
    let name = meta::name(pod).to_string();
    let forbidden = |why: String| crate::admission::forbidden("pods", &name, &why);
    if meta::meta(pod)
        .pointer(&format!(
            "/annotations/{}",
            MIRROR_POD_ANNOTATION.replace('/', "~1")
        ))
        .is_some()
    {
        return validate_mirror_pod(pod).map_err(forbidden);
    }
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(()); // validation answers this one
    }
    let account_name = match pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
    {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            pod["spec"]["serviceAccountName"] = json!(DEFAULT_SERVICE_ACCOUNT);
            DEFAULT_SERVICE_ACCOUNT.to_string()
        }
    };
    let account = lookup_account(state, namespace, &account_name)
        .await
        .map_err(|e| {
            // Upstream's lookup reports the singular resource name.
            let why = if e.code == 404 {
                format!("serviceaccount {account_name:?} not found")
            } else {
                e.message
            };
            forbidden(format!(
                "error looking up service account {namespace}/{account_name}: {why}"
            ))
        })?;
    if should_automount(&account, pod) {
        mount_token(pod);
    }
    let has_pull_secrets = pod
        .pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has_pull_secrets
        && let Some(secrets) = account
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
    {
        pod["spec"]["imagePullSecrets"] = Value::Array(secrets.clone());
    }
    Ok(())
}

fn validate_mirror_pod(pod: &Value) -> Result<(), String> {
    let spec = pod.get("spec").cloned().unwrap_or_default();
    if spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty())
    {
        return Err("a mirror pod may not reference service accounts".into());
    }
    let volumes = spec
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in &volumes {
        if v.get("secret").is_some() {
            return Err("a mirror pod may not reference secrets".into());
        }
        if v.get("configMap").is_some() {
            return Err("a mirror pod may not reference configmaps".into());
        }
        if v.get("projected").is_some() {
            return Err("a mirror pod may not use projected volumes".into());
        }
    }
    Ok(())
}

async fn lookup_account(state: &ApiState, namespace: &str, name: &str) -> ApiResult<Value> {
    let attempts = if name == DEFAULT_SERVICE_ACCOUNT {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    let mut last = None;
    for attempt in 0..attempts {
        if attempt > 0 {
            let jitter = rand::random::<u64>() % 100;
            tokio::time::sleep(Duration::from_millis(100 + jitter)).await;
        }
        match get_core(state, "serviceaccounts", namespace, name).await {
            Ok(account) => return Ok(account),
            Err(e) if e.code == 404 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(ApiError::path_not_found))
}

fn should_automount(account: &Value, pod: &Value) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            account
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true)
}

/// Adds the token volume (unless one is there) and a mount of it to every
/// container and init container that has nothing at the mount path.
fn mount_token(pod: &mut Value) {
    let spec = &mut pod["spec"];
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .and_then(|vs| {
            vs.iter()
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .find(|n| n.starts_with(VOLUME_PREFIX))
                .map(str::to_string)
        });
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{}", meta::generated_suffix()));
    let mount = json!({
        "name": volume_name,
        "readOnly": true,
        "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH,
    });
    let mut needs_volume = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in containers {
            let mounted = container
                .get("volumeMounts")
                .and_then(Value::as_array)
                .is_some_and(|ms| {
                    ms.iter().any(|m| {
                        m.get("mountPath").and_then(Value::as_str)
                            == Some(DEFAULT_API_TOKEN_MOUNT_PATH)
                    })
                });
            if mounted {
                continue;
            }
            if !container.get("volumeMounts").is_some_and(Value::is_array) {
                container["volumeMounts"] = json!([]);
            }
            if let Some(ms) = container["volumeMounts"].as_array_mut() {
                ms.push(mount.clone());
            }
            needs_volume = true;
        }
    }
    if existing.is_none() && needs_volume {
        if !spec.get("volumes").is_some_and(Value::is_array) {
            spec["volumes"] = json!([]);
        }
        if let Some(vs) = spec["volumes"].as_array_mut() {
            vs.push(token_volume(&volume_name));
        }
    }
}

fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {
                    "expirationSeconds": WARN_ONLY_EXPIRATION_SECONDS,
                    "path": "token",
                }},
                {"configMap": {
                    "name": ROOT_CA_CONFIG_MAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }},
                {"downwardAPI": {
                    "items": [{
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    }],
                }},
            ],
            "defaultMode": 420,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Value {
        json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [{"name": "i"}],
            "containers": [
                {"name": "a"},
                {"name": "b", "volumeMounts": [{"name": "own", "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}]},
            ],
        }})
    }

    #[test]
    fn token_volume_is_mounted_where_nothing_else_is() {
        let mut p = pod();
        mount_token(&mut p);
        let volumes = p["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 1);
        let name = volumes[0]["name"].as_str().unwrap();
        assert!(
            name.starts_with("kube-api-access-") && name.len() == 21,
            "{name}"
        );
        assert_eq!(
            volumes[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        assert_eq!(
            p["spec"]["initContainers"][0]["volumeMounts"][0]["name"],
            name
        );
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["readOnly"],
            true
        );
        assert_eq!(
            p["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Admitting again adds nothing.
        let again = p.clone();
        mount_token(&mut p);
        assert_eq!(p, again);
    }

    #[test]
    fn automount_pod_overrides_account() {
        let off = json!({"automountServiceAccountToken": false});
        let mut p = pod();
        assert!(!should_automount(&off, &p));
        p["spec"]["automountServiceAccountToken"] = json!(true);
        assert!(should_automount(&off, &p));
        assert!(should_automount(&json!({}), &pod()));
    }

    #[test]
    fn mirror_pods_may_not_use_accounts() {
        let mut p = pod();
        assert!(validate_mirror_pod(&p).is_ok());
        p["spec"]["serviceAccountName"] = json!("x");
        assert!(validate_mirror_pod(&p).is_err());
    }

    #[test]
    fn forbidden_message() {
        let e = crate::admission::forbidden(
            "pods",
            "p",
            "error looking up service account ns/x: serviceaccount \"x\" not found",
        );
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: error looking up service account ns/x: serviceaccount \"x\" not found"
        );
    }
}
