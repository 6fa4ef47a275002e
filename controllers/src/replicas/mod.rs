//! The replica-keeping core that upstream runs for both ReplicaSets and
//! ReplicationControllers (`pkg/controller/replicaset`, which the
//! `replication` package wraps): keep `spec.replicas` active pods matching
//! the selector. Each kind contributes only a [`ReplicatedSet`] impl
//! (`replicaset.rs`, `replication_controller.rs`).
//!
//! One reconcile: wait for pending expectations; claim pods (adopt orphans
//! that match the selector, release owned pods that no longer match); create
//! missing pods in slow-start batches (1, 2, 4, ...) or delete surplus pods
//! in upstream's preference order (`rank.rs`); then write `status`
//! (`status.rs`). Pods come from a reflector fed by one pod watch, which
//! also triggers the owning (or selecting) set.

mod rank;
mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result, api_message, is_conflict, is_not_found};
use crate::expectations::Expectations;
use crate::objects::{self, controller_ref, is_active, owner_ref};
use component_base::events::Events;

pub use rank::rank_for_deletion;

/// Upstream's `BurstReplicas`: at most this many creates/deletes per sync.
const BURST_REPLICAS: usize = 500;

/// What the core needs to know about a kind that keeps replicas of a pod
/// template (ReplicaSet, ReplicationController).
pub trait ReplicatedSet:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    /// The event source (`replicaset-controller`, ...).
    const CONTROLLER: &'static str;
    /// `spec.replicas` (defaulted to 1).
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    /// The pod selector; None when it cannot select anything.
    fn pod_selector(&self) -> Option<Selector>;
    fn pod_template(&self) -> Option<&PodTemplateSpec>;
    /// The current status in the ReplicaSet shape.
    fn current_status(&self) -> Option<ReplicaSetStatus>;
}

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    expectations: Expectations,
    events: Events,
}

/// Runs the controller for kind `K` until the process stops.
pub async fn run<K: ReplicatedSet>(client: Client) {
    let (pods, pod_writer) = reflector::store();
    let pod_events = reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(Api::<K>::all(client.clone()), watcher::Config::default());
    let sets = controller.store();
    let ctx = Arc::new(Ctx {
        events: Events::new(client.clone(), K::CONTROLLER),
        client,
        pods,
        expectations: Expectations::default(),
    });
    controller
        .watches_stream(pod_events, move |pod: Pod| sets_for_pod(&sets, &pod))
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The sets a pod event concerns: its controller, or (for an orphan) every
/// set of the kind in its namespace whose selector matches it.
fn sets_for_pod<K: ReplicatedSet>(sets: &Store<K>, pod: &Pod) -> Vec<ObjectRef<K>> {
    let ns = pod.namespace().unwrap_or_default();
    if let Some(owner) = controller_ref(pod) {
        if owner.kind == K::kind(&()) && owner.api_version == K::api_version(&()) {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    sets.state()
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(ns.as_str()))
        .filter(|s| {
            s.pod_selector()
                .is_some_and(|sel| sel.matches(pod.labels()))
        })
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn error_policy<K: ReplicatedSet>(set: Arc<K>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(kind = %K::kind(&()), set = %objects::key(set.as_ref()), error = %err, "sync failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile<K: ReplicatedSet>(set: Arc<K>, ctx: Arc<Ctx>) -> Result<Action> {
    let key = format!("{}/{}", K::kind(&()), objects::key(set.as_ref()));
    let ns = set.namespace().unwrap_or_default();
    let in_ns: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .collect();
    let by_name: HashMap<String, &Arc<Pod>> = in_ns.iter().map(|p| (p.name_any(), p)).collect();
    let synced = ctx.expectations.satisfied(
        &key,
        |name| by_name.contains_key(name),
        |name| {
            by_name
                .get(name)
                .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
        },
    );
    if !synced {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let Some(selector) = set.pod_selector() else {
        return Err(Error::Invalid(format!("{key}: invalid selector")));
    };
    let owned = claim_pods(&ctx, set.as_ref(), &selector, &in_ns).await?;
    let active: Vec<&Pod> = owned
        .iter()
        .map(Arc::as_ref)
        .filter(|p| is_active(p))
        .collect();
    let wanted = set.replicas().max(0) as usize;
    let manage_error = if set.meta().deletion_timestamp.is_none() {
        manage_replicas(&ctx, set.as_ref(), &key, &active, wanted)
            .await
            .err()
    } else {
        None
    };
    let status = status::compute(set.as_ref(), &active, manage_error.as_ref());
    if set.current_status().as_ref() != Some(&status) {
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
        // The resourceVersion makes a write from a stale view conflict
        // (as upstream's UpdateStatus), so conditions others set survive.
        let mut patch = json!({
            "metadata": {"resourceVersion": set.meta().resource_version},
            "status": status,
        });
        if status.conditions.is_none() {
            // A merge patch keeps what it does not mention: drop old ones.
            patch["status"]["conditions"] = serde_json::Value::Null;
        }
        match api
            .patch_status(
                &set.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) if is_conflict(&e) => return Ok(Action::requeue(Duration::from_millis(200))),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(e) = manage_error {
        return Err(e);
    }
    // Pods that are Ready but not yet available need another look later.
    let min_ready = set.min_ready_seconds();
    if min_ready > 0 && status.ready_replicas != status.available_replicas {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::await_change())
}

/// Upstream's `ClaimPods`: owned pods that still match, plus matching
/// orphans (adopted), minus owned pods that stopped matching (released).
async fn claim_pods<K: ReplicatedSet>(
    ctx: &Ctx,
    set: &K,
    selector: &Selector,
    in_ns: &[Arc<Pod>],
) -> Result<Vec<Arc<Pod>>> {
    let uid = set.uid().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    let mut owned = Vec::new();
    for pod in in_ns {
        let matches = selector.matches(pod.labels());
        match controller_ref(pod.as_ref()) {
            Some(r) if r.uid == uid => {
                if matches {
                    owned.push(pod.clone());
                } else if pod.metadata.deletion_timestamp.is_none() {
                    objects::set_owner_refs(&api, pod.as_ref(), |refs| {
                        refs.retain(|r| r.uid != uid)
                    })
                    .await?;
                }
            }
            Some(_) => {}
            None => {
                if matches
                    && set.meta().deletion_timestamp.is_none()
                    && pod.metadata.deletion_timestamp.is_none()
                {
                    let adopted = objects::set_owner_refs(&api, pod.as_ref(), |refs| {
                        refs.push(owner_ref(set))
                    })
                    .await?;
                    if adopted {
                        owned.push(pod.clone());
                    }
                }
            }
        }
    }
    Ok(owned)
}

async fn manage_replicas<K: ReplicatedSet>(
    ctx: &Ctx,
    set: &K,
    key: &str,
    active: &[&Pod],
    wanted: usize,
) -> Result<()> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = objects::reference(set);
    if active.len() < wanted {
        let missing = (wanted - active.len()).min(BURST_REPLICAS);
        let template = pod_from_template(set)?;
        let mut done = 0;
        let mut batch = 1;
        while done < missing {
            let n = batch.min(missing - done);
            let params = PostParams::default();
            let results =
                futures::future::join_all((0..n).map(|_| api.create(&params, &template))).await;
            let mut failure = None;
            for r in results {
                match r {
                    Ok(pod) => {
                        let name = pod.name_any();
                        ctx.expectations.expect_created(key, &name);
                        ctx.events
                            .normal(
                                &reference,
                                "SuccessfulCreate",
                                format!("Created pod: {name}"),
                            )
                            .await;
                    }
                    Err(e) => {
                        ctx.events
                            .warning(
                                &reference,
                                "FailedCreate",
                                format!("Error creating: {}", api_message(&e)),
                            )
                            .await;
                        failure = Some(e);
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e.into());
            }
            done += n;
            batch *= 2;
        }
    } else if active.len() > wanted {
        let surplus = (active.len() - wanted).min(BURST_REPLICAS);
        let mut ranked: Vec<&Pod> = active.to_vec();
        rank_for_deletion(&mut ranked, active);
        for pod in ranked.into_iter().take(surplus) {
            let name = pod.name_any();
            ctx.expectations.expect_deleted(key, &name);
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    ctx.events
                        .normal(
                            &reference,
                            "SuccessfulDelete",
                            format!("Deleted pod: {name}"),
                        )
                        .await
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    ctx.expectations.forget(key);
                    ctx.events
                        .warning(
                            &reference,
                            "FailedDelete",
                            format!("Error deleting: {}", api_message(&e)),
                        )
                        .await;
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// A new pod from the set's template (upstream's `GetPodFromTemplate`).
fn pod_from_template<K: ReplicatedSet>(set: &K) -> Result<Pod> {
    let template = set.pod_template().ok_or_else(|| {
        Error::Invalid(format!(
            "{} {} has no template",
            K::kind(&()),
            set.name_any()
        ))
    })?;
    let tmeta = template.metadata.clone().unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", set.name_any())),
            namespace: set.namespace(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner_ref(set)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}
