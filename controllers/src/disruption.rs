//! The disruption controller (upstream's `pkg/controller/disruption`): keeps
//! every PodDisruptionBudget's status current, which the API server's
//! `pods/eviction` reads and decrements.
//!
//! One reconcile of a PDB: the pods its selector matches in its namespace;
//! the expected count (the number of pods for an integer `minAvailable`,
//! else the summed replicas of the pods' controllers: Deployment through its
//! ReplicaSet, ReplicaSet, ReplicationController, StatefulSet); the desired
//! healthy count; the disrupted pods the eviction recorded that are still
//! pending (dropped after `DELETION_TIMEOUT`); the healthy count (Ready, not
//! being deleted, not disrupted); then `disruptionsAllowed`,
//! `observedGeneration` and the `DisruptionAllowed` condition.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::error::{Error, Result, is_not_found};
use crate::objects::{self, controller_ref, is_ready};
use component_base::events::Events;

/// How long an eviction's entry in `disruptedPods` waits for the pod to go
/// (upstream's `DeletionTimeout`).
const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

struct Ctx {
    client: Client,
    pods: Store<Pod>,
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
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
    );
    let budgets = controller.store();
    let ctx = Arc::new(Ctx {
        events: Events::new(client.clone(), "controllermanager"),
        client,
        pods,
    });
    controller
        .watches_stream(pod_events, move |pod: Pod| budgets_for_pod(&budgets, &pod))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The PDBs in the pod's namespace whose selector matches it.
fn budgets_for_pod(
    budgets: &Store<PodDisruptionBudget>,
    pod: &Pod,
) -> Vec<ObjectRef<PodDisruptionBudget>> {
    let ns = pod.namespace();
    budgets
        .state()
        .iter()
        .filter(|pdb| pdb.namespace() == ns)
        .filter(|pdb| selects(pdb, pod))
        .map(|pdb| ObjectRef::from_obj(pdb.as_ref()))
        .collect()
}

/// policy/v1: an empty selector matches every pod, a missing one none.
fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    objects::selector(pdb.spec.as_ref().and_then(|s| s.selector.as_ref()))
        .is_some_and(|sel| objects::selects(&sel, pod.labels()))
}

fn error_policy(pdb: Arc<PodDisruptionBudget>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(pdb = %objects::key(pdb.as_ref()), error = %err, "sync failed");
    Action::requeue(Duration::from_secs(2))
}

/// `GetScaledValueFromIntOrPercent` rounding up, as the controller does.
fn scaled(value: &IntOrString, total: i32) -> Result<i32> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| Error::Invalid(format!("invalid value for IntOrString: {s:?}")))?;
            Ok(((percent * i64::from(total) + 99) / 100) as i32)
        }
    }
}

/// The replicas the pods' controllers want, summed once per controller
/// (upstream's `getExpectedScale`); pods without a known controller make
/// the count unusable.
async fn expected_scale(client: &Client, ns: &str, pods: &[Arc<Pod>]) -> Result<i32> {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for pod in pods {
        let Some(owner) = controller_ref(pod.as_ref()) else {
            return Err(Error::Invalid(format!(
                "found no controller ref for pod {:?}",
                pod.name_any()
            )));
        };
        let (kind, name, replicas) = match owner.kind.as_str() {
            "ReplicaSet" => {
                let rs = Api::<ReplicaSet>::namespaced(client.clone(), ns)
                    .get(&owner.name)
                    .await?;
                match controller_ref(&rs).filter(|o| o.kind == "Deployment") {
                    Some(dep) => {
                        let d = Api::<Deployment>::namespaced(client.clone(), ns)
                            .get(&dep.name)
                            .await?;
                        let replicas = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                        ("Deployment", dep.name.clone(), replicas)
                    }
                    None => (
                        "ReplicaSet",
                        owner.name.clone(),
                        rs.spec.and_then(|s| s.replicas).unwrap_or(1),
                    ),
                }
            }
            "ReplicationController" => {
                let rc = Api::<ReplicationController>::namespaced(client.clone(), ns)
                    .get(&owner.name)
                    .await?;
                let replicas = rc.spec.and_then(|s| s.replicas).unwrap_or(1);
                ("ReplicationController", owner.name.clone(), replicas)
            }
            "StatefulSet" => {
                let ss = Api::<StatefulSet>::namespaced(client.clone(), ns)
                    .get(&owner.name)
                    .await?;
                let replicas = ss.spec.and_then(|s| s.replicas).unwrap_or(1);
                ("StatefulSet", owner.name.clone(), replicas)
            }
            other => {
                return Err(Error::Invalid(format!(
                    "pod {:?} is controlled by a {other}, whose scale is not known",
                    pod.name_any()
                )));
            }
        };
        if seen.insert((kind, name)) {
            total += replicas;
        }
    }
    Ok(total)
}

/// The recorded evictions still waiting for their pod to go, and when the
/// oldest of them expires.
fn pending_disruptions(
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
    now: jiff::Timestamp,
) -> (BTreeMap<String, Value>, Option<Duration>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Duration> = None;
    let recorded = pdb
        .status
        .as_ref()
        .and_then(|s| s.disrupted_pods.clone())
        .unwrap_or_default();
    for (name, at) in recorded {
        let Some(pod) = pods.iter().find(|p| p.name_any() == name) else {
            continue;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let deadline = at.0 + jiff::SignedDuration::try_from(DELETION_TIMEOUT).unwrap_or_default();
        if deadline <= now {
            continue;
        }
        let left = Duration::try_from(deadline.duration_since(now)).unwrap_or_default();
        recheck = Some(recheck.map_or(left, |r| r.min(left)));
        kept.insert(name, json!(at.0.to_string()));
    }
    (kept, recheck)
}

async fn reconcile(pdb: Arc<PodDisruptionBudget>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = pdb.namespace().unwrap_or_default();
    let pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .filter(|p| selects(&pdb, p))
        .collect();
    if pods.is_empty() {
        ctx.events
            .normal(
                &objects::reference(pdb.as_ref()),
                "NoPods",
                "No matching pods found".to_string(),
            )
            .await;
    }
    let spec = pdb.spec.clone().unwrap_or_default();
    let counts = match (&spec.max_unavailable, &spec.min_available) {
        (Some(max_unavailable), _) => {
            expected_scale(&ctx.client, &ns, &pods)
                .await
                .and_then(|expected| {
                    let unavailable = scaled(max_unavailable, expected)?;
                    Ok((expected, (expected - unavailable).max(0)))
                })
        }
        (None, Some(IntOrString::Int(n))) => Ok((pods.len() as i32, *n)),
        (None, Some(min_available)) => expected_scale(&ctx.client, &ns, &pods)
            .await
            .and_then(|expected| Ok((expected, scaled(min_available, expected)?))),
        (None, None) => Ok((pods.len() as i32, 0)),
    };
    let now = jiff::Timestamp::now();
    let (status, recheck) = match counts {
        Ok((expected, desired)) => {
            let (disrupted, recheck) = pending_disruptions(&pdb, &pods, now);
            let healthy = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter(|p| !disrupted.contains_key(&p.name_any()))
                .filter(|p| is_ready(p))
                .count() as i32;
            let allowed = if expected <= 0 {
                0
            } else {
                (healthy - desired).max(0)
            };
            (
                status(&pdb, healthy, desired, expected, allowed, disrupted, None),
                recheck,
            )
        }
        Err(e) => {
            // Upstream's failSafe: no disruption is allowed while the
            // budget cannot be computed.
            tracing::info!(pdb = %objects::key(pdb.as_ref()), error = %e, "cannot compute the budget");
            let current = pdb.status.clone().unwrap_or_default();
            (
                status(
                    &pdb,
                    current.current_healthy,
                    current.desired_healthy,
                    current.expected_pods,
                    0,
                    BTreeMap::new(),
                    Some(e.to_string()),
                ),
                None,
            )
        }
    };
    if !unchanged(&pdb, &status) {
        let api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!([{"op": "add", "path": "/status", "value": status}]);
        match api
            .patch_status(
                &pdb.name_any(),
                &PatchParams::default(),
                &Patch::<()>::Json(serde_json::from_value(patch)?),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match recheck {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// True when the stored status already says what `wanted` says (counts,
/// generation, pending evictions, the condition's status and reason), so
/// a reconcile does not write and wake itself again.
fn unchanged(pdb: &PodDisruptionBudget, wanted: &Value) -> bool {
    let Some(current) = pdb.status.as_ref() else {
        return false;
    };
    let int = |key: &str| wanted[key].as_i64().unwrap_or(-1);
    let condition = current
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"));
    let disrupted: BTreeSet<&String> = current
        .disrupted_pods
        .as_ref()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let wanted_disrupted: BTreeSet<&String> = wanted["disruptedPods"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    current.observed_generation.unwrap_or(-1) == int("observedGeneration")
        && i64::from(current.current_healthy) == int("currentHealthy")
        && i64::from(current.desired_healthy) == int("desiredHealthy")
        && i64::from(current.expected_pods) == int("expectedPods")
        && i64::from(current.disruptions_allowed) == int("disruptionsAllowed")
        && disrupted == wanted_disrupted
        && condition.is_some_and(|c| {
            let w = &wanted["conditions"][0];
            c.status == w["status"].as_str().unwrap_or_default()
                && c.reason == w["reason"].as_str().unwrap_or_default()
                && c.message == w["message"].as_str().unwrap_or_default()
        })
}

/// The status the budget should have, keeping the condition's transition
/// time while its status does not change.
fn status(
    pdb: &PodDisruptionBudget,
    healthy: i32,
    desired: i32,
    expected: i32,
    allowed: i32,
    disrupted: BTreeMap<String, Value>,
    sync_failure: Option<String>,
) -> Value {
    let generation = pdb.metadata.generation.unwrap_or(0);
    let (condition_status, reason, message) = match (&sync_failure, allowed > 0) {
        (Some(e), _) => ("False", "SyncFailed", e.clone()),
        (None, true) => ("True", "SufficientPods", String::new()),
        (None, false) => ("False", "InsufficientPods", String::new()),
    };
    let previous = pdb
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "DisruptionAllowed"));
    let transition = previous
        .filter(|c| c.status == condition_status)
        .map(|c| c.last_transition_time.0.to_string())
        .unwrap_or_else(|| {
            let now = jiff::Timestamp::now();
            jiff::Timestamp::from_second(now.as_second())
                .unwrap_or(now)
                .to_string()
        });
    let mut status = json!({
        "observedGeneration": generation,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": allowed,
        "conditions": [{
            "type": "DisruptionAllowed",
            "status": condition_status,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": transition,
        }],
    });
    if !disrupted.is_empty() {
        status["disruptedPods"] = json!(disrupted);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 3).ok(), Some(2));
        assert_eq!(scaled(&IntOrString::String("100%".into()), 3).ok(), Some(3));
        assert_eq!(scaled(&IntOrString::Int(1), 3).ok(), Some(1));
        assert!(scaled(&IntOrString::String("half".into()), 3).is_err());
    }

    #[test]
    fn allowed_condition_follows_the_count() {
        let pdb = PodDisruptionBudget::default();
        let st = status(&pdb, 3, 2, 3, 1, BTreeMap::new(), None);
        assert_eq!(st["disruptionsAllowed"], 1);
        assert_eq!(st["conditions"][0]["reason"], "SufficientPods");
        let st = status(&pdb, 2, 2, 3, 0, BTreeMap::new(), None);
        assert_eq!(st["conditions"][0]["status"], "False");
        assert_eq!(st["conditions"][0]["reason"], "InsufficientPods");
    }
}
