//! The node lifecycle controller (upstream's `pkg/controller/nodelifecycle`
//! with its NoExecute taint manager), every `MONITOR_PERIOD`:
//! - a Node whose kubelet renewed neither its Lease in `kube-node-lease` nor
//!   its Ready condition for longer than the grace period
//!   (`--node-monitor-grace-period`, 40 s) gets Ready and the pressure
//!   conditions set to Unknown (`NodeStatusUnknown`, "Kubelet stopped
//!   posting node status.");
//! - the `node.kubernetes.io/not-ready` (Ready=False) and
//!   `node.kubernetes.io/unreachable` (Ready=Unknown) taints, NoSchedule and
//!   NoExecute, follow the Ready condition, and go when it is True again;
//! - pods on a node with a NoExecute taint are deleted: at once when they do
//!   not tolerate it, after their `tolerationSeconds` (counted from the
//!   taint's `timeAdded`) when they do, never when they tolerate it forever.
//!   The API server gives every pod 300 s tolerations for both taints
//!   (upstream's DefaultTolerationSeconds admission).
//!
//! It polls (one list of Nodes and Leases per period, pods only of tainted
//! nodes) rather than keeping informers: cheap at this scale, simple to read.

use std::collections::HashMap;
use std::time::Duration;

use component_base::events::Events;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::error::{Result, is_not_found};
use crate::objects;

/// How often nodes are checked (upstream's `--node-monitor-period`).
const MONITOR_PERIOD: Duration = Duration::from_secs(5);

pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// The conditions a silent node's kubelet no longer vouches for.
const CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Runs the controller until the process stops.
pub async fn run(client: Client, grace_period: Duration) {
    let events = Events::new(client.clone(), "node-controller");
    loop {
        if let Err(e) = monitor(&client, &events, grace_period).await {
            tracing::warn!(error = %e, "node lifecycle check failed");
        }
        tokio::time::sleep(MONITOR_PERIOD).await;
    }
}

async fn monitor(client: &Client, events: &Events, grace: Duration) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renewed: HashMap<String, Timestamp> = leases
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|l| {
            let renew = l.spec.and_then(|s| s.renew_time)?;
            Some((l.metadata.name?, renew.0))
        })
        .collect();
    let now = Timestamp::now();
    for node in nodes.list(&ListParams::default()).await?.items {
        let name = node.name_any();
        let mut conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if is_silent(&node, &conditions, renewed.get(&name), now, grace) {
            mark_unknown(&mut conditions, now);
            tracing::info!(node = %name, "kubelet stopped posting node status");
            nodes
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"conditions": conditions}})),
                )
                .await?;
        }
        // A node that never reported Ready is left alone until the grace
        // period makes it Unknown (upstream's NodeStatusNeverUpdated).
        let Some(ready) = conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status.as_str())
        else {
            continue;
        };
        let taints = reconcile_taints(&nodes, &node, ready, now).await?;
        evict(client, events, &name, &taints, now).await?;
    }
    Ok(())
}

/// True when neither the Lease nor the Ready heartbeat is newer than the
/// grace period and Ready is not already Unknown.
fn is_silent(
    node: &Node,
    conditions: &[NodeCondition],
    lease_renewed: Option<&Timestamp>,
    now: Timestamp,
    grace: Duration,
) -> bool {
    let ready = conditions.iter().find(|c| c.type_ == "Ready");
    if ready.is_some_and(|c| c.status == "Unknown") {
        return false;
    }
    let heartbeat = ready.and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
    let created = node.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let last = [heartbeat, lease_renewed.copied(), created]
        .into_iter()
        .flatten()
        .max();
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    last.is_some_and(|t| now.duration_since(t) > grace)
}

/// Sets the kubelet's conditions to Unknown (keeping their heartbeats).
fn mark_unknown(conditions: &mut Vec<NodeCondition>, now: Timestamp) {
    for kind in CONDITIONS {
        match conditions.iter_mut().find(|c| c.type_ == kind) {
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
            }
            None => conditions.push(NodeCondition {
                type_: kind.into(),
                status: "Unknown".into(),
                reason: Some("NodeStatusNeverUpdated".into()),
                message: Some("Kubelet never posted node status.".into()),
                last_transition_time: Some(Time(now)),
                last_heartbeat_time: Some(Time(now)),
            }),
        }
    }
}

/// The taints the Ready status calls for, keeping `timeAdded` of those
/// already there; writes them when they changed. Returns the node's taints.
async fn reconcile_taints(
    nodes: &Api<Node>,
    node: &Node,
    ready: &str,
    now: Timestamp,
) -> Result<Vec<Taint>> {
    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted_key = match ready {
        "False" => Some(NOT_READY_TAINT),
        "True" => None,
        _ => Some(UNREACHABLE_TAINT),
    };
    let mut taints: Vec<Taint> = current
        .iter()
        .filter(|t| {
            let ours = t.key == NOT_READY_TAINT || t.key == UNREACHABLE_TAINT;
            !ours || Some(t.key.as_str()) == wanted_key
        })
        .cloned()
        .collect();
    if let Some(key) = wanted_key {
        for effect in ["NoSchedule", "NoExecute"] {
            if !taints.iter().any(|t| t.key == key && t.effect == effect) {
                taints.push(Taint {
                    key: key.into(),
                    effect: effect.into(),
                    value: None,
                    time_added: (effect == "NoExecute").then_some(Time(now)),
                });
            }
        }
    }
    if taints != current {
        nodes
            .patch(
                &node.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"taints": taints}})),
            )
            .await?;
    }
    Ok(taints)
}

/// Whether `toleration` matches `taint` (upstream's `ToleratesTaint`).
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = toleration.key.as_deref().unwrap_or_default();
    let exists = toleration.operator.as_deref() == Some("Exists");
    let key_ok = key == taint.key || (key.is_empty() && exists);
    let value_ok = exists
        || toleration.value.as_deref().unwrap_or_default()
            == taint.value.as_deref().unwrap_or_default();
    effect_ok && key_ok && value_ok
}

/// When a pod must go because of the node's NoExecute taints: `Some(now)`
/// or later, `None` when it tolerates them forever.
fn eviction_time(pod: &Pod, taints: &[&Taint], now: Timestamp) -> Option<Timestamp> {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let mut due: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        // The shortest tolerationSeconds of the matching tolerations; any
        // without one tolerates the taint forever.
        if matching.iter().any(|t| t.toleration_seconds.is_none()) {
            continue;
        }
        let seconds = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .min()
            .unwrap_or(0)
            .max(0);
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let at = added + SignedDuration::from_secs(seconds);
        due = Some(due.map_or(at, |d: Timestamp| d.min(at)));
    }
    due
}

/// Deletes the pods of `node` whose NoExecute tolerations ran out.
async fn evict(
    client: &Client,
    events: &Events,
    node: &str,
    taints: &[Taint],
    now: Timestamp,
) -> Result<()> {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Ok(());
    }
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    for pod in on_node.items {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(due) = eviction_time(&pod, &no_execute, now) else {
            continue;
        };
        if due > now {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        events
            .normal(
                &objects::reference(&pod),
                "TaintManagerEviction",
                format!("Marking for deletion Pod {ns}/{name}"),
            )
            .await;
        match Api::<Pod>::namespaced(client.clone(), &ns)
            .delete(&name, &DeleteParams::default())
            .await
        {
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

    fn taint(key: &str, added: Timestamp) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            value: None,
            time_added: Some(Time(added)),
        }
    }

    fn pod_tolerating(seconds: Option<i64>) -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [], "tolerations": [{
            "key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": seconds
        }]}}))
        .unwrap_or_default()
    }

    #[test]
    fn eviction_follows_toleration_seconds() {
        let now = Timestamp::now();
        let added = now - SignedDuration::from_secs(10);
        let t = taint(UNREACHABLE_TAINT, added);
        assert_eq!(eviction_time(&Pod::default(), &[&t], now), Some(now));
        assert_eq!(
            eviction_time(&pod_tolerating(Some(300)), &[&t], now),
            Some(added + SignedDuration::from_secs(300))
        );
        assert_eq!(eviction_time(&pod_tolerating(None), &[&t], now), None);
        let other = taint(NOT_READY_TAINT, added);
        assert_eq!(
            eviction_time(&pod_tolerating(None), &[&other], now),
            Some(now)
        );
    }

    #[test]
    fn silent_nodes_become_unknown() {
        let now = Timestamp::now();
        let old = now - SignedDuration::from_secs(100);
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n",
            "creationTimestamp": old.to_string()}}))
        .unwrap_or_default();
        let ready = vec![NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_heartbeat_time: Some(Time(old)),
            ..NodeCondition::default()
        }];
        let grace = Duration::from_secs(40);
        assert!(is_silent(&node, &ready, None, now, grace));
        assert!(!is_silent(&node, &ready, Some(&now), now, grace));
        let mut conditions = ready.clone();
        mark_unknown(&mut conditions, now);
        assert_eq!(conditions.len(), 4);
        assert!(conditions.iter().all(|c| c.status == "Unknown"));
        assert_eq!(conditions[0].reason.as_deref(), Some("NodeStatusUnknown"));
        assert!(!is_silent(&node, &conditions, None, now, grace));
    }
}
