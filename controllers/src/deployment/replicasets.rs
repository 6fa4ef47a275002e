//! The ReplicaSets of a Deployment: the `pod-template-hash`, finding the
//! new ReplicaSet (the one whose template equals the Deployment's, ignoring
//! the hash label), revisions and their annotations, scaling with the
//! `ScalingReplicaSet` event, and history cleanup (`revisionHistoryLimit`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::Ctx;
use crate::error::{Result, is_not_found};
use crate::objects;

pub const HASH_LABEL: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Annotations of a Deployment that are not copied to its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Upstream's alphabet for hash strings (no vowels, no look-alikes).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A stable short hash of a pod template (FNV-1a over its JSON and the
/// collision count), encoded like upstream's `SafeEncodeString`. The value
/// differs from upstream's (which hashes Go's object dump), the shape and
/// use are the same.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(
        serde_json::to_string(template)
            .unwrap_or_default()
            .as_bytes(),
    );
    if let Some(c) = collision_count {
        feed(&c.to_le_bytes());
    }
    hash.to_string()
        .bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

fn without_hash(t: &PodTemplateSpec) -> serde_json::Value {
    let mut t = t.clone();
    if let Some(m) = t.metadata.as_mut() {
        if let Some(labels) = m.labels.as_mut() {
            labels.remove(HASH_LABEL);
        }
        if m.labels.as_ref().is_some_and(|l| l.is_empty()) {
            m.labels = None;
        }
    }
    if t.metadata
        .as_ref()
        .is_some_and(|m| *m == ObjectMeta::default())
    {
        t.metadata = None;
    }
    serde_json::to_value(&t).unwrap_or_default()
}

/// Upstream's `EqualIgnoreHash`.
pub fn same_template(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

pub fn template(rs: &ReplicaSet) -> Option<&PodTemplateSpec> {
    rs.spec.as_ref()?.template.as_ref()
}

pub fn revision(obj: &ObjectMeta) -> i64 {
    obj.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

pub fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

/// Splits the Deployment's ReplicaSets (oldest first) into the new one and
/// the old ones.
pub fn split(d: &Deployment, mut sets: Vec<ReplicaSet>) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
    sets.sort_by(|a, b| {
        let t = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    let wanted = d.spec.as_ref().map(|s| &s.template);
    let pos = wanted.and_then(|w| {
        sets.iter()
            .position(|rs| template(rs).is_some_and(|t| same_template(t, w)))
    });
    match pos {
        Some(i) => {
            let new = sets.remove(i);
            (Some(new), sets)
        }
        None => (None, sets),
    }
}

/// Annotations a ReplicaSet of `d` should carry.
pub fn rs_annotations(
    d: &Deployment,
    existing: Option<&BTreeMap<String, String>>,
    revision: i64,
    max_surge: i32,
) -> BTreeMap<String, String> {
    let mut out = existing.cloned().unwrap_or_default();
    for (k, v) in d.annotations() {
        if !NOT_COPIED.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    let old_revision = out.get(REVISION).cloned();
    out.insert(REVISION.into(), revision.to_string());
    if let Some(old) = old_revision
        && old != revision.to_string()
        && !old.is_empty()
    {
        let history = match out.get(REVISION_HISTORY) {
            Some(h) if !h.is_empty() => format!("{h},{old}"),
            _ => old,
        };
        out.insert(REVISION_HISTORY.into(), history);
    }
    let replicas = super::status::replicas(d);
    out.insert(DESIRED_REPLICAS.into(), replicas.to_string());
    out.insert(MAX_REPLICAS.into(), (replicas + max_surge).to_string());
    out
}

/// A new ReplicaSet object for the Deployment's current template.
pub fn new_replica_set(
    d: &Deployment,
    size: i32,
    revision: i64,
    max_surge: i32,
) -> Option<ReplicaSet> {
    let spec = d.spec.as_ref()?;
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&spec.template, collision);
    let mut template = spec.template.clone();
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.clone());
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone());
    Some(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels,
            annotations: Some(rs_annotations(d, None, revision, max_surge)),
            owner_references: Some(vec![objects::owner_ref(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(size),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    })
}

/// Sets a ReplicaSet's size and annotations; records `ScalingReplicaSet`
/// on the Deployment when the size changes. Returns the stored object.
pub async fn scale(
    ctx: &Ctx,
    d: &Deployment,
    rs: &ReplicaSet,
    size: i32,
    max_surge: i32,
) -> Result<ReplicaSet> {
    let current = spec_replicas(rs);
    let annotations = rs_annotations(
        d,
        rs.metadata.annotations.as_ref(),
        revision(&rs.metadata),
        max_surge,
    );
    if current == size && rs.metadata.annotations.as_ref() == Some(&annotations) {
        return Ok(rs.clone());
    }
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let patch = json!({
        "metadata": {"annotations": annotations},
        "spec": {"replicas": size},
    });
    let stored = api
        .patch(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    if current != size {
        let direction = if size > current { "up" } else { "down" };
        ctx.events
            .normal(
                &objects::reference(d),
                "ScalingReplicaSet",
                format!(
                    "Scaled {direction} replica set {} from {current} to {size}",
                    rs.name_any()
                ),
            )
            .await;
    }
    Ok(stored)
}

/// Writes a new revision (and history) onto an existing ReplicaSet that
/// became the new one again (e.g. after `kubectl rollout undo`).
pub async fn set_revision(
    ctx: &Ctx,
    d: &Deployment,
    rs: &ReplicaSet,
    revision: i64,
    max_surge: i32,
) -> Result<ReplicaSet> {
    let annotations = rs_annotations(d, rs.metadata.annotations.as_ref(), revision, max_surge);
    if rs.metadata.annotations.as_ref() == Some(&annotations) {
        return Ok(rs.clone());
    }
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"annotations": annotations}});
    Ok(api
        .patch(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
}

/// Deletes the oldest empty old ReplicaSets beyond `revisionHistoryLimit`.
pub async fn cleanup(ctx: &Ctx, d: &Deployment, olds: &[ReplicaSet]) -> Result<()> {
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    let mut cleanable: Vec<&ReplicaSet> = olds
        .iter()
        .filter(|rs| {
            spec_replicas(rs) == 0
                && rs.status.as_ref().is_none_or(|s| s.replicas == 0)
                && rs.metadata.deletion_timestamp.is_none()
        })
        .collect();
    if cleanable.len() <= limit {
        return Ok(());
    }
    cleanable.sort_by_key(|rs| revision(&rs.metadata));
    let surplus = cleanable.len() - limit;
    for rs in cleanable.into_iter().take(surplus) {
        let api: Api<ReplicaSet> =
            Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
        match api.delete(&rs.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_safe() {
        let t = PodTemplateSpec::default();
        let h = template_hash(&t, None);
        assert_eq!(h, template_hash(&t, None));
        assert_ne!(h, template_hash(&t, Some(1)));
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
    }

    #[test]
    fn hash_label_is_ignored_when_comparing() {
        let mut a = PodTemplateSpec::default();
        let b = a.clone();
        a.metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default)
            .insert(HASH_LABEL.into(), "abc".into());
        assert!(same_template(&a, &b));
    }
}
