//! The ReplicaSet controller (upstream's `pkg/controller/replicaset`): keeps
//! `spec.replicas` active pods matching the selector.
//!
//! One reconcile: wait for pending expectations; claim pods (adopt orphans
//! that match the selector, release owned pods that no longer match); create
//! missing pods in slow-start batches (1, 2, 4, ...) or delete surplus pods
//! in upstream's preference order (unscheduled, pending, not ready, ... first);
//! then write `status` (replicas, fullyLabeledReplicas, readyReplicas,
//! availableReplicas, observedGeneration, the ReplicaFailure condition).
//! Pods come from a reflector fed by one pod watch, which also triggers the
//! owning (or selecting) ReplicaSet.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::core::SelectorExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result, is_not_found};
use crate::expectations::Expectations;
use crate::objects::{self, controller_ref, is_active, is_available, is_ready, owner_ref};
use component_base::events::Events;

/// Upstream's `BurstReplicas`: at most this many creates/deletes per sync.
const BURST_REPLICAS: usize = 500;

struct Ctx {
    client: Client,
    pods: Store<Pod>,
    expectations: Expectations,
    events: Events,
}

/// Runs the controller until the process stops.
pub async fn run(client: Client) {
    let (pods, pod_writer) = reflector::store();
    let pod_events = reflector(
        pod_writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    );
    let sets = controller.store();
    let ctx = Arc::new(Ctx {
        events: Events::new(client.clone(), "replicaset-controller"),
        client,
        pods,
        expectations: Expectations::default(),
    });
    controller
        .watches_stream(pod_events, move |pod: Pod| sets_for_pod(&sets, &pod))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The ReplicaSets a pod event concerns: its controller, or (for an orphan)
/// every ReplicaSet in its namespace whose selector matches it.
fn sets_for_pod(sets: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    let ns = pod.namespace().unwrap_or_default();
    if let Some(owner) = controller_ref(pod) {
        if owner.kind == "ReplicaSet" {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    sets.state()
        .iter()
        .filter(|rs| rs.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rs| {
            objects::selector(rs.spec.as_ref().map(|s| &s.selector))
                .is_some_and(|sel| sel.matches(pod.labels()))
        })
        .map(|rs| ObjectRef::from_obj(rs.as_ref()))
        .collect()
}

fn error_policy(rs: Arc<ReplicaSet>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(replicaset = %objects::key(rs.as_ref()), error = %err, "sync failed");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Ctx>) -> Result<Action> {
    let key = objects::key(rs.as_ref());
    let ns = rs.namespace().unwrap_or_default();
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
    let spec = rs
        .spec
        .as_ref()
        .ok_or_else(|| Error::Invalid(format!("replicaset {key} has no spec")))?;
    let Some(selector) = objects::selector(Some(&spec.selector)) else {
        return Err(Error::Invalid(format!(
            "replicaset {key}: invalid selector"
        )));
    };
    let owned = claim_pods(&ctx, &rs, &selector, &in_ns).await?;
    let active: Vec<&Pod> = owned
        .iter()
        .map(Arc::as_ref)
        .filter(|p| is_active(p))
        .collect();
    let wanted = spec.replicas.unwrap_or(1).max(0) as usize;
    let manage_error = if rs.metadata.deletion_timestamp.is_none() {
        manage_replicas(&ctx, &rs, &key, &active, wanted)
            .await
            .err()
    } else {
        None
    };
    let status = compute_status(&rs, &active, manage_error.as_ref());
    if rs.status.as_ref() != Some(&status) {
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"status": status});
        match api
            .patch_status(
                &rs.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(e) = manage_error {
        return Err(e);
    }
    // Pods that are Ready but not yet available need another look later.
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    if min_ready > 0 && status.ready_replicas != status.available_replicas {
        return Ok(Action::requeue(Duration::from_secs(min_ready as u64)));
    }
    Ok(Action::await_change())
}

/// Upstream's `ClaimPods`: owned pods that still match, plus matching
/// orphans (adopted), minus owned pods that stopped matching (released).
async fn claim_pods(
    ctx: &Ctx,
    rs: &ReplicaSet,
    selector: &kube::core::Selector,
    in_ns: &[Arc<Pod>],
) -> Result<Vec<Arc<Pod>>> {
    let uid = rs.uid().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
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
                    && rs.metadata.deletion_timestamp.is_none()
                    && pod.metadata.deletion_timestamp.is_none()
                {
                    let adopted = objects::set_owner_refs(&api, pod.as_ref(), |refs| {
                        refs.push(owner_ref(rs))
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

async fn manage_replicas(
    ctx: &Ctx,
    rs: &ReplicaSet,
    key: &str,
    active: &[&Pod],
    wanted: usize,
) -> Result<()> {
    let ns = rs.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = objects::reference(rs);
    if active.len() < wanted {
        let missing = (wanted - active.len()).min(BURST_REPLICAS);
        let template = pod_from_template(rs)?;
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
                            .warning(&reference, "FailedCreate", format!("Error creating: {e}"))
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
                        .warning(&reference, "FailedDelete", format!("Error deleting: {e}"))
                        .await;
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// A new pod from the ReplicaSet's template (upstream's `GetPodFromTemplate`).
fn pod_from_template(rs: &ReplicaSet) -> Result<Pod> {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .ok_or_else(|| Error::Invalid(format!("replicaset {} has no template", rs.name_any())))?;
    let tmeta = template.metadata.clone().unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.namespace(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner_ref(rs)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// Orders pods so the ones to delete first come first, like upstream's
/// `ActivePodsWithRanks`: unscheduled before scheduled, Pending before
/// Unknown before Running, not ready before ready, more pods of the set on
/// the same node first, ready for less time first, more restarts first,
/// newer first.
pub fn rank_for_deletion(pods: &mut [&Pod], related: &[&Pod]) {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for p in related {
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let phase_rank = |p: &Pod| match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    };
    let restarts = |p: &Pod| -> i32 {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
            .unwrap_or(0)
    };
    let node_of = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    pods.sort_by(|a, b| {
        let (na, nb) = (node_of(a), node_of(b));
        (!na.is_empty())
            .cmp(&!nb.is_empty())
            .then(phase_rank(a).cmp(&phase_rank(b)))
            .then(is_ready(a).cmp(&is_ready(b)))
            .then_with(|| {
                let ca = per_node.get(na.as_str()).copied().unwrap_or(0);
                let cb = per_node.get(nb.as_str()).copied().unwrap_or(0);
                cb.cmp(&ca)
            })
            .then_with(|| {
                let since = |p: &Pod| objects::ready_since(p).flatten();
                // Ready more recently (later timestamp) goes first.
                since(b).cmp(&since(a))
            })
            .then(restarts(b).cmp(&restarts(a)))
            .then_with(|| {
                let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
                created(b).cmp(&created(a))
            })
    });
}

fn compute_status(
    rs: &ReplicaSet,
    active: &[&Pod],
    manage_error: Option<&Error>,
) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let now = jiff::Timestamp::now();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels
                .iter()
                .all(|(k, v)| p.labels().get(k) == Some(v))
        })
        .count() as i32;
    let ready = active.iter().filter(|p| is_ready(p)).count() as i32;
    let available = active
        .iter()
        .filter(|p| is_available(p, min_ready, now))
        .count() as i32;
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .conditions
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .collect();
    if let Some(e) = manage_error {
        let reason = if active.len() < spec.and_then(|s| s.replicas).unwrap_or(1).max(0) as usize {
            "FailedCreate"
        } else {
            "FailedDelete"
        };
        let previous = old
            .conditions
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|c| c.type_ == "ReplicaFailure")
            .cloned();
        conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(e.to_string()),
            last_transition_time: previous
                .and_then(|c| c.last_transition_time)
                .or_else(|| Some(objects::now())),
        });
    }
    ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(ready),
        available_replicas: Some(available),
        terminating_replicas: old.terminating_replicas,
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
    }
}
