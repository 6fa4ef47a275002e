//! The scheduling loop (upstream's `scheduleOne`): pop a pod, run the
//! filters over the cached nodes (stopping once enough feasible nodes are
//! found, like upstream's `percentageOfNodesToScore`), score the feasible
//! ones, pick the best (ties at random), *assume* the pod there and bind it
//! through `pods/binding` in the background. A pod that fits nowhere gets
//! `PodScheduled=False` with reason `Unschedulable` and a `FailedScheduling`
//! event with upstream's message, and waits in the queue's unschedulable
//! set; if lower-priority pods stand in its way, they are preempted
//! (`preemption.rs`: DisruptionTarget condition, deletion, `Preempted`
//! event) and the pod is nominated to their node (`status.nominatedNodeName`;
//! nominated pods count on their node for pods of lower or equal priority).
//! Informer handlers keep the cache and the queue current.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use crate::cache::{Cache, Placement, add_to};
use crate::fit_error::{self, PostFilter};
use crate::framework::{NodeInfo, PodInfo, Profile, Unfit};
use crate::preemption::{self, Budget, Candidate};
use crate::queue::Queue;
use component_base::events::Events;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

/// What the scheduler is configured with.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Pods whose `spec.schedulerName` is this are ours.
    pub scheduler_name: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: "default-scheduler".into(),
        }
    }
}

struct Shared {
    client: Client,
    config: SchedulerConfig,
    cache: Mutex<Cache>,
    queue: Queue,
    pods: Store<Pod>,
    profile: Profile,
    events: Events,
    next_start: AtomicUsize,
    /// Pods waiting for their preemption victims to go: key -> the node
    /// they are nominated to (from `status.nominatedNodeName`).
    nominated: Mutex<HashMap<String, Placement>>,
}

fn key_of(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn assigned_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn fingerprint(pod: &Pod) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&pod.spec)
        .unwrap_or_default()
        .hash(&mut h);
    pod.metadata.labels.hash(&mut h);
    h.finish()
}

/// Runs the scheduler until the process stops.
pub async fn run(client: Client, config: SchedulerConfig) {
    let (pods, pod_writer) = reflector::store();
    let shared = Arc::new(Shared {
        events: Events::new(client.clone(), &config.scheduler_name),
        client: client.clone(),
        config,
        cache: Mutex::new(Cache::default()),
        queue: Queue::default(),
        pods,
        profile: Profile::default(),
        next_start: AtomicUsize::new(0),
        nominated: Mutex::new(HashMap::new()),
    });
    let nodes = tokio::spawn(watch_nodes(shared.clone()));
    let pods = tokio::spawn(watch_pods(shared.clone(), pod_writer));
    let _ = shared.pods.wait_until_ready().await;
    tracing::info!(scheduler = %shared.config.scheduler_name, "scheduler started");
    loop {
        let key = shared.queue.pop().await;
        schedule_one(&shared, &key).await;
        if nodes.is_finished() || pods.is_finished() {
            tracing::error!("scheduler informers stopped");
            return;
        }
    }
}

async fn watch_nodes(shared: Arc<Shared>) {
    let (_, writer) = reflector::store::<Node>();
    let stream = reflector(
        writer,
        watcher(
            Api::<Node>::all(shared.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    futures::pin_mut!(stream);
    while let Some(ev) = stream.next().await {
        let Ok(ev) = ev else { continue };
        match ev {
            watcher::Event::Apply(n) | watcher::Event::InitApply(n) => {
                if let Ok(mut c) = shared.cache.lock() {
                    c.set_node(Arc::new(n));
                }
                shared.queue.move_all_unschedulable();
            }
            watcher::Event::Delete(n) => {
                if let Ok(mut c) = shared.cache.lock() {
                    c.remove_node(&n.name_any());
                }
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }
}

async fn watch_pods(shared: Arc<Shared>, writer: reflector::store::Writer<Pod>) {
    let stream = reflector(
        writer,
        watcher(
            Api::<Pod>::all(shared.client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff();
    futures::pin_mut!(stream);
    let mut fingerprints: HashMap<String, u64> = HashMap::new();
    while let Some(ev) = stream.next().await {
        let Ok(ev) = ev else { continue };
        match ev {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                on_pod(&shared, &p, &mut fingerprints)
            }
            watcher::Event::Delete(p) => {
                let key = key_of(&p);
                fingerprints.remove(&key);
                if let Ok(mut n) = shared.nominated.lock() {
                    n.remove(&key);
                }
                shared.queue.forget(&key);
                let was_placed = shared
                    .cache
                    .lock()
                    .map(|mut c| {
                        let placed = c.is_placed(&key);
                        c.unplace(&key);
                        placed
                    })
                    .unwrap_or(false);
                if was_placed {
                    shared.queue.move_all_unschedulable();
                }
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }
}

fn on_pod(shared: &Shared, pod: &Pod, fingerprints: &mut HashMap<String, u64>) {
    let key = key_of(pod);
    record_nomination(shared, &key, pod);
    if let Some(node) = assigned_node(pod) {
        fingerprints.remove(&key);
        shared.queue.forget(&key);
        if let Ok(mut c) = shared.cache.lock() {
            if terminal(pod) {
                c.unplace(&key);
            } else {
                c.place(&key, pod, node, false);
            }
        }
        if terminal(pod) {
            shared.queue.move_all_unschedulable();
        }
        return;
    }
    if !responsible(shared, pod) {
        return;
    }
    // Our own status writes (the PodScheduled condition) must not retry an
    // unschedulable pod; a change of its spec or labels does.
    let fp = fingerprint(pod);
    let unchanged = fingerprints.insert(key.clone(), fp) == Some(fp);
    if unchanged && shared.queue.is_unschedulable(&key) {
        return;
    }
    shared.queue.add(&key);
}

/// Keeps `nominated` in step with the pod's `status.nominatedNodeName`
/// while it waits to be scheduled; an event without one keeps the
/// nomination made in memory (the status write may not be seen yet), as
/// upstream's nominator does. Bound or finished pods are not nominated.
fn record_nomination(shared: &Shared, key: &str, pod: &Pod) {
    let nominated = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty());
    let Ok(mut map) = shared.nominated.lock() else {
        return;
    };
    if assigned_node(pod).is_some() || terminal(pod) {
        map.remove(key);
    } else if let Some(node) = nominated {
        map.insert(
            key.to_string(),
            Placement::new(Arc::new(pod.clone()), node, false),
        );
    }
}

fn responsible(shared: &Shared, pod: &Pod) -> bool {
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or("default-scheduler");
    name == shared.config.scheduler_name
        && pod.metadata.deletion_timestamp.is_none()
        && !terminal(pod)
        && assigned_node(pod).is_none()
}

/// How many feasible nodes to look for (upstream's adaptive
/// `percentageOfNodesToScore`: all up to 100 nodes, then 50% shrinking by
/// 1% per 125 nodes down to 5%, never fewer than 100).
pub fn feasible_nodes_to_find(nodes: usize) -> usize {
    if nodes < 100 {
        return nodes;
    }
    let pct = (50 - (nodes / 125) as i64).max(5) as usize;
    (nodes * pct / 100).max(100)
}

/// The outcome of one scheduling attempt.
pub enum Decision {
    Fits(String),
    Unschedulable { nodes: usize, unfit: Vec<Unfit> },
}

/// Filters and scores the cached nodes for one pod.
pub fn decide(profile: &Profile, nodes: &[&NodeInfo], pod: &PodInfo, start: usize) -> Decision {
    let want = feasible_nodes_to_find(nodes.len());
    let mut feasible: Vec<&NodeInfo> = Vec::new();
    let mut unfit = Vec::new();
    for i in 0..nodes.len() {
        let node = nodes[(start + i) % nodes.len()];
        match profile.filters.iter().try_for_each(|f| f.filter(pod, node)) {
            Ok(()) => {
                feasible.push(node);
                if feasible.len() >= want {
                    break;
                }
            }
            Err(u) => unfit.push(u),
        }
    }
    if feasible.is_empty() {
        return Decision::Unschedulable {
            nodes: nodes.len(),
            unfit,
        };
    }
    let mut totals = vec![0i64; feasible.len()];
    for plugin in &profile.scores {
        let mut scores: Vec<i64> = feasible.iter().map(|n| plugin.score(pod, n)).collect();
        plugin.normalize(&mut scores);
        for (t, s) in totals.iter_mut().zip(scores) {
            *t += s * plugin.weight();
        }
    }
    // Highest total; ties broken uniformly at random (reservoir sampling).
    let mut best = 0;
    let mut ties = 1;
    for i in 1..totals.len() {
        if totals[i] > totals[best] {
            best = i;
            ties = 1;
        } else if totals[i] == totals[best] {
            ties += 1;
            if rand::random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    Decision::Fits(feasible[best].name.clone())
}

async fn schedule_one(shared: &Arc<Shared>, key: &str) {
    let Some((ns, name)) = key.split_once('/') else {
        return;
    };
    let Some(pod) = shared.pods.get(&ObjectRef::new(name).within(ns)) else {
        return;
    };
    if !responsible(shared, &pod) {
        return;
    }
    let info = PodInfo::new(pod.clone());
    let nominated: Vec<Placement> = shared
        .nominated
        .lock()
        .map(|n| {
            n.iter()
                .filter(|(k, p)| k.as_str() != key && p.priority >= info.priority)
                .map(|(_, p)| p.clone())
                .collect()
        })
        .unwrap_or_default();
    let decision = {
        let Ok(cache) = shared.cache.lock() else {
            return;
        };
        if cache.is_placed(key) {
            return;
        }
        // Nodes with pods of at least this priority nominated to them count
        // those pods as if already placed (upstream's addNominatedPods).
        let adjusted: Vec<NodeInfo> = cache
            .nodes()
            .filter(|n| nominated.iter().any(|p| p.node == n.name))
            .map(|n| {
                let mut copy = n.clone();
                for p in nominated.iter().filter(|p| p.node == n.name) {
                    add_to(&mut copy, p);
                }
                copy
            })
            .collect();
        let nodes: Vec<&NodeInfo> = cache
            .nodes()
            .map(|n| adjusted.iter().find(|a| a.name == n.name).unwrap_or(n))
            .collect();
        let start = shared.next_start.fetch_add(1, Ordering::Relaxed) % nodes.len().max(1);
        decide(&shared.profile, &nodes, &info, start)
    };
    match decision {
        Decision::Fits(node) => {
            if let Ok(mut c) = shared.cache.lock() {
                c.place(key, &pod, &node, true);
            }
            let shared = shared.clone();
            let key = key.to_string();
            tokio::spawn(async move { bind(&shared, &key, &pod, &node).await });
        }
        Decision::Unschedulable { nodes, unfit } => {
            shared.queue.unschedulable(key);
            let (candidate, message) = match preempt_candidate(shared, &info).await {
                Ok(Some(c)) => (
                    Some(c),
                    fit_error::message_after(nodes, &unfit, PostFilter::Nominated),
                ),
                Ok(None) => (None, fit_error::message(nodes, &unfit)),
                Err(why) => (
                    None,
                    fit_error::message_after(nodes, &unfit, PostFilter::NotEligible(&why)),
                ),
            };
            tracing::info!(pod = %key, %message, "unschedulable");
            // The nomination counts at once, before any victim is gone, so
            // the room it makes is not taken by pods of lower priority
            // (upstream's nominator is updated in the scheduling cycle).
            if let (Some(c), Ok(mut n)) = (&candidate, shared.nominated.lock()) {
                n.insert(key.to_string(), Placement::new(pod.clone(), &c.node, false));
            }
            let shared = shared.clone();
            tokio::spawn(async move {
                if let Some(c) = candidate {
                    preempt(&shared, &pod, c).await;
                }
                record_failure(&shared, &pod, "Unschedulable", &message).await
            });
        }
    }
}

/// The node and victims that would make room for `pod`: Ok(None) when no
/// node has any, Err(reason) when the pod may not preempt.
async fn preempt_candidate(shared: &Shared, pod: &PodInfo) -> Result<Option<Candidate>, String> {
    let nominated_node = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.clone())
        .filter(|n| !n.is_empty());
    let (has_lower, terminating_victim) = {
        let Ok(cache) = shared.cache.lock() else {
            return Ok(None);
        };
        let by_node = cache.placements_by_node();
        let lower = |p: &&(&str, &Placement)| p.1.priority < pod.priority;
        let has_lower = by_node.values().flatten().any(|p| lower(&p));
        let terminating = nominated_node.as_deref().is_some_and(|n| {
            by_node
                .get(n)
                .into_iter()
                .flatten()
                .any(|p| lower(&p) && p.1.pod.metadata.deletion_timestamp.is_some())
        });
        (has_lower, terminating)
    };
    if let Some(why) = preemption::ineligible_reason(&pod.pod, terminating_victim) {
        return Err(why);
    }
    if !has_lower {
        return Ok(None);
    }
    let budgets: Vec<Budget> = match Api::<PodDisruptionBudget>::all(shared.client.clone())
        .list(&Default::default())
        .await
    {
        Ok(list) => list.items.iter().map(Budget::from_pdb).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "listing PodDisruptionBudgets for preemption");
            Vec::new()
        }
    };
    let Ok(cache) = shared.cache.lock() else {
        return Ok(None);
    };
    let by_node = cache.placements_by_node();
    let nodes: Vec<(&NodeInfo, Vec<&Placement>)> = cache
        .nodes()
        .map(|n| {
            let placed = by_node
                .get(n.name.as_str())
                .map(|v| v.iter().map(|(_, p)| *p).collect())
                .unwrap_or_default();
            (n, placed)
        })
        .collect();
    Ok(preemption::select(&shared.profile, pod, &nodes, &budgets))
}

/// Evicts the victims (DisruptionTarget condition, then delete, and a
/// `Preempted` event each) and nominates `pod` to the candidate's node.
async fn preempt(shared: &Shared, pod: &Pod, candidate: Candidate) {
    let preemptor_uid = pod.metadata.uid.clone().unwrap_or_default();
    for victim in &candidate.victims {
        let api: Api<Pod> = Api::namespaced(
            shared.client.clone(),
            &victim.namespace().unwrap_or_default(),
        );
        let name = victim.name_any();
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": format!("{}: preempting to accommodate a higher priority pod", shared.config.scheduler_name),
            "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
        }]}});
        if let Err(e) = api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Strategic(&condition),
            )
            .await
        {
            tracing::debug!(pod = %name, error = %e, "adding the DisruptionTarget condition");
        }
        match api.delete(&name, &Default::default()).await {
            Ok(_) => {
                tracing::info!(victim = %name, node = %candidate.node, preemptor = %pod.name_any(), "preempted");
                publish(
                    shared,
                    victim,
                    false,
                    "Preempted",
                    format!(
                        "Preempted by pod {preemptor_uid} on node {}",
                        candidate.node
                    ),
                )
                .await;
            }
            Err(e) => tracing::warn!(pod = %name, error = %e, "deleting a preemption victim"),
        }
    }
    let api: Api<Pod> =
        Api::namespaced(shared.client.clone(), &pod.namespace().unwrap_or_default());
    let patch = json!({"status": {"nominatedNodeName": candidate.node}});
    if let Err(e) = api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        tracing::warn!(pod = %pod.name_any(), error = %e, "setting nominatedNodeName");
    }
}

async fn bind(shared: &Shared, key: &str, pod: &Pod, node: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &ns);
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": ns, "uid": pod.metadata.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    let result: Result<serde_json::Value, _> = api
        .create_subresource("binding", &name, &PostParams::default(), &binding)
        .await;
    match result {
        Ok(_) => {
            publish(
                shared,
                pod,
                false,
                "Scheduled",
                format!("Successfully assigned {ns}/{name} to {node}"),
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(pod = %key, node, error = %e, "binding failed");
            if let Ok(mut c) = shared.cache.lock()
                && c.is_assumed(key)
            {
                c.unplace(key);
            }
            shared.queue.backoff(key);
            publish(
                shared,
                pod,
                true,
                "FailedScheduling",
                format!("Binding rejected: {e}"),
            )
            .await;
        }
    }
}

async fn publish(shared: &Shared, pod: &Pod, warning: bool, reason: &str, note: String) {
    let on = pod.object_ref(&());
    if warning {
        shared.events.warning(&on, reason, note).await
    } else {
        shared.events.normal(&on, reason, note).await
    }
}

/// `PodScheduled=False` (reason `reason`, the fit message) and a
/// `FailedScheduling` event.
async fn record_failure(shared: &Shared, pod: &Pod, reason: &str, message: &str) {
    let mut conditions: Vec<PodCondition> = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let current = conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .cloned();
    let same = current.as_ref().is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
    });
    if !same {
        let transition = match &current {
            Some(c) if c.status == "False" => c.last_transition_time.clone(),
            _ => None,
        };
        conditions.retain(|c| c.type_ != "PodScheduled");
        conditions.push(PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_probe_time: None,
            last_transition_time: transition.or_else(|| {
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::now(),
                ))
            }),
            observed_generation: None,
        });
        let api: Api<Pod> =
            Api::namespaced(shared.client.clone(), &pod.namespace().unwrap_or_default());
        let patch = json!({"status": {"conditions": conditions}});
        if let Err(e) = api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::debug!(error = %e, "updating PodScheduled failed");
        }
    }
    publish(shared, pod, true, "FailedScheduling", message.to_string()).await;
}
