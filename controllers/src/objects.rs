//! Helpers on API objects shared by the controllers: owner references,
//! label selectors, pod readiness and availability, object references for
//! events and timestamps.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference, Time};
use k8s_openapi::jiff;
use kube::core::{Selector, SelectorExt};
use kube::{Resource, ResourceExt};

/// The controller owner reference of an object, if any.
pub fn controller_ref<K: Resource>(obj: &K) -> Option<&OwnerReference> {
    obj.meta()
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|r| r.controller == Some(true))
}

/// An owner reference with `controller` and `blockOwnerDeletion` set, as
/// upstream controllers put on what they create.
pub fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A selector from a LabelSelector; `None` when it cannot be parsed (an
/// invalid selector selects nothing, like upstream).
pub fn selector(sel: Option<&LabelSelector>) -> Option<Selector> {
    let sel = sel?.clone();
    Selector::try_from(sel).ok()
}

/// True when `sel` selects `labels`. An empty selector selects everything.
pub fn selects(sel: &Selector, labels: &BTreeMap<String, String>) -> bool {
    sel.matches(labels)
}

/// Active pods: not terminal and not being deleted (upstream's
/// `FilterActivePods`).
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.meta().deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// The time the pod became Ready, when its Ready condition is True.
pub fn ready_since(pod: &Pod) -> Option<Option<jiff::Timestamp>> {
    let cond = pod
        .status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    (cond.status == "True").then(|| cond.last_transition_time.as_ref().map(|t| t.0))
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: jiff::Timestamp) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => false,
        Some(Some(since)) => {
            since + jiff::SignedDuration::from_secs(i64::from(min_ready_seconds)) <= now
        }
    }
}

pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// `namespace/name` of an object.
pub fn key<K: Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// The reference events are recorded against.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    obj.object_ref(&())
}

/// Rewrites an object's ownerReferences with a merge patch that carries its
/// resourceVersion (so it fails if the object changed since it was read).
/// Returns false when the object changed or vanished meanwhile.
pub async fn set_owner_refs<K>(
    api: &kube::Api<K>,
    obj: &K,
    change: impl FnOnce(&mut Vec<OwnerReference>),
) -> crate::Result<bool>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut refs = obj.meta().owner_references.clone().unwrap_or_default();
    change(&mut refs);
    let patch = serde_json::json!({"metadata": {
        "resourceVersion": obj.meta().resource_version,
        "ownerReferences": refs,
    }});
    match api
        .patch(
            &obj.name_any(),
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if crate::error::is_not_found(&e) || crate::error::is_conflict(&e) => Ok(false),
        Err(kube::Error::Api(s)) if s.code == 422 => Ok(false),
        Err(e) => Err(e.into()),
    }
}
