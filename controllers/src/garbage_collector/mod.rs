//! The garbage collector (upstream's `pkg/controller/garbagecollector`).
//!
//! Discovery lists every resource that can be listed, watched and deleted
//! (events excepted, like upstream); one metadata-only watch per resource
//! feeds the ownership `graph`. A worker then handles each object that may
//! need it:
//! - `orphan` finalizer on a deleting owner: remove the owner's reference
//!   from every dependent, then the finalizer;
//! - `foregroundDeletion` finalizer on a deleting owner: delete its
//!   dependents (in the foreground too), remove the finalizer once no
//!   dependent with `blockOwnerDeletion` is left;
//! - a dependent whose owners are all gone (checked against the API by uid,
//!   not only the graph): delete it (Background); if only some are gone,
//!   drop the dangling references.

pub mod graph;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::core::PartialObjectMeta;
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Notify;

use crate::error::{Result, is_conflict, is_not_found};
use graph::{Graph, Identity, Node};

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

/// Resources the collector does not watch (upstream's `ignoredResources`).
const IGNORED: [(&str, &str); 2] = [("", "events"), ("events.k8s.io", "events")];

struct Collector {
    client: Client,
    graph: Mutex<Graph>,
    /// (group, kind) -> resource and whether it is namespaced.
    kinds: HashMap<(String, String), (ApiResource, bool)>,
    queue: Mutex<(VecDeque<String>, HashSet<String>)>,
    wake: Notify,
}

/// Runs the collector until the process stops.
pub async fn run(client: Client) {
    loop {
        match Discovery::new(client.clone()).run().await {
            Ok(discovery) => return run_with(client, discovery).await,
            Err(e) => {
                tracing::warn!(error = %e, "garbage collector: discovery failed, retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

async fn run_with(client: Client, discovery: Discovery) {
    let mut kinds = HashMap::new();
    let mut watched = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            let namespaced = caps.scope == Scope::Namespaced;
            kinds.insert(
                (ar.group.clone(), ar.kind.clone()),
                (ar.clone(), namespaced),
            );
            let ignored = IGNORED.contains(&(ar.group.as_str(), ar.plural.as_str()));
            if !ignored
                && caps.supports_operation(verbs::LIST)
                && caps.supports_operation(verbs::WATCH)
                && caps.supports_operation(verbs::DELETE)
            {
                watched.push((ar, namespaced));
            }
        }
    }
    tracing::info!(resources = watched.len(), "garbage collector watching");
    let gc = Arc::new(Collector {
        client: client.clone(),
        graph: Mutex::new(Graph::default()),
        kinds,
        queue: Mutex::new((VecDeque::new(), HashSet::new())),
        wake: Notify::new(),
    });
    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::channel::<()>(watched.len().max(1));
    let total = watched.len();
    for (ar, namespaced) in watched {
        tokio::spawn(watch_resource(
            gc.clone(),
            ar,
            namespaced,
            synced_tx.clone(),
        ));
    }
    // Act only once every watch has listed (or after a while), so owners
    // are in the graph before their dependents are judged.
    let wait_all = async {
        for _ in 0..total {
            if synced_rx.recv().await.is_none() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(15), wait_all).await;
    let initial = gc.graph.lock().map(|g| g.candidates()).unwrap_or_default();
    gc.enqueue(initial);
    worker(gc).await;
}

async fn watch_resource(
    gc: Arc<Collector>,
    ar: ApiResource,
    namespaced: bool,
    synced: tokio::sync::mpsc::Sender<()>,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(gc.client.clone(), &ar);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut seen_in_list: HashSet<String> = HashSet::new();
    let mut sent_synced = false;
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::debug!(resource = %ar.plural, error = %e, "gc watch error");
                continue;
            }
        };
        match ev {
            watcher::Event::Init => seen_in_list.clear(),
            watcher::Event::InitApply(obj) => {
                if let Some(node) = to_node(&ar, namespaced, &obj.metadata) {
                    seen_in_list.insert(node.id.uid.clone());
                    gc.observe(node);
                }
            }
            watcher::Event::InitDone => {
                // Objects deleted while the watch was down.
                let stale: Vec<String> = gc
                    .graph
                    .lock()
                    .map(|g| g.uids_of(&ar.group, &ar.kind))
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|uid| !seen_in_list.contains(uid))
                    .collect();
                for uid in stale {
                    gc.forget(&uid);
                }
                if !sent_synced {
                    sent_synced = true;
                    let _ = synced.send(()).await;
                }
            }
            watcher::Event::Apply(obj) => {
                if let Some(node) = to_node(&ar, namespaced, &obj.metadata) {
                    gc.observe(node);
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some(uid) = obj.metadata.uid.as_deref() {
                    gc.forget(uid);
                }
            }
        }
    }
}

fn to_node(
    ar: &ApiResource,
    namespaced: bool,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<Node> {
    Some(Node {
        id: Identity {
            group: ar.group.clone(),
            version: ar.version.clone(),
            kind: ar.kind.clone(),
            plural: ar.plural.clone(),
            namespace: if namespaced {
                meta.namespace.clone()
            } else {
                None
            },
            name: meta.name.clone()?,
            uid: meta.uid.clone()?,
        },
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        owners: meta.owner_references.clone().unwrap_or_default(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
    })
}

impl Collector {
    fn observe(&self, node: Node) {
        let touched = self
            .graph
            .lock()
            .map(|mut g| g.upsert(node))
            .unwrap_or_default();
        self.enqueue(touched);
    }

    fn forget(&self, uid: &str) {
        let touched = self
            .graph
            .lock()
            .map(|mut g| g.remove(uid))
            .unwrap_or_default();
        self.enqueue(touched);
    }

    fn enqueue(&self, uids: Vec<String>) {
        if let Ok(mut q) = self.queue.lock() {
            for uid in uids {
                if q.1.insert(uid.clone()) {
                    q.0.push_back(uid);
                }
            }
        }
        self.wake.notify_one();
    }

    fn next(&self) -> Option<String> {
        let mut q = self.queue.lock().ok()?;
        let uid = q.0.pop_front()?;
        q.1.remove(&uid);
        Some(uid)
    }

    fn api_for(&self, id: &Identity) -> Option<Api<DynamicObject>> {
        let (ar, _) = self.kinds.get(&(id.group.clone(), id.kind.clone()))?;
        Some(match &id.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, ar),
            None => Api::all_with(self.client.clone(), ar),
        })
    }
}

async fn worker(gc: Arc<Collector>) {
    loop {
        let Some(uid) = gc.next() else {
            gc.wake.notified().await;
            continue;
        };
        let node = gc.graph.lock().ok().and_then(|g| g.get(&uid).cloned());
        let Some(node) = node else { continue };
        if let Err(e) = process(&gc, &node).await {
            tracing::debug!(name = %node.id.name, kind = %node.id.kind, error = %e, "gc retry");
            let gc2 = gc.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                gc2.enqueue(vec![uid]);
            });
        }
    }
}

async fn process(gc: &Collector, node: &Node) -> Result<()> {
    if node.deleting && node.finalizers.iter().any(|f| f == ORPHAN) {
        return orphan_dependents(gc, node).await;
    }
    if node.deleting && node.finalizers.iter().any(|f| f == FOREGROUND) {
        return delete_dependents(gc, node).await;
    }
    if !node.owners.is_empty() && !node.deleting {
        return check_owners(gc, node).await;
    }
    Ok(())
}

/// The owner with this reference's uid, if it still exists.
enum OwnerState {
    Present,
    /// Being deleted in the foreground: waits for its dependents.
    WaitingForDependents,
    Gone,
}

async fn owner_state(
    gc: &Collector,
    dependent: &Node,
    owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
) -> Result<OwnerState> {
    let in_graph = gc
        .graph
        .lock()
        .ok()
        .and_then(|g| g.get(&owner.uid).cloned());
    if let Some(n) = in_graph {
        return Ok(
            if n.deleting && n.finalizers.iter().any(|f| f == FOREGROUND) {
                OwnerState::WaitingForDependents
            } else {
                OwnerState::Present
            },
        );
    }
    // Not (yet) in the graph: ask the API server, by name, and compare uids.
    let group = owner
        .api_version
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or("");
    let Some((ar, namespaced)) = gc.kinds.get(&(group.to_string(), owner.kind.clone())) else {
        // A kind the server does not serve cannot exist.
        return Ok(OwnerState::Gone);
    };
    let api: Api<DynamicObject> = match (namespaced, &dependent.id.namespace) {
        (true, Some(ns)) => Api::namespaced_with(gc.client.clone(), ns, ar),
        (true, None) => return Ok(OwnerState::Gone),
        (false, _) => Api::all_with(gc.client.clone(), ar),
    };
    match api.get_metadata(&owner.name).await {
        Ok(found) if found.metadata.uid.as_deref() == Some(owner.uid.as_str()) => {
            let waiting = found.metadata.deletion_timestamp.is_some()
                && found
                    .metadata
                    .finalizers
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|f| f == FOREGROUND);
            Ok(if waiting {
                OwnerState::WaitingForDependents
            } else {
                OwnerState::Present
            })
        }
        Ok(_) => Ok(OwnerState::Gone),
        Err(e) if is_not_found(&e) => Ok(OwnerState::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Upstream's `attemptToDeleteItem` for an object with owners: with a solid
/// owner, drop references to owners that are gone or waiting for their
/// dependents; with none, delete it (in the foreground if an owner waits
/// and it has dependents itself, after unblocking its references to waiting
/// owners so a circle of owners cannot deadlock).
async fn check_owners(gc: &Collector, node: &Node) -> Result<()> {
    let mut solid = 0;
    let mut waiting = Vec::new();
    let mut dangling = Vec::new();
    for owner in &node.owners {
        match owner_state(gc, node, owner).await? {
            OwnerState::Present => solid += 1,
            OwnerState::WaitingForDependents => waiting.push(owner.uid.clone()),
            OwnerState::Gone => dangling.push(owner.uid.clone()),
        }
    }
    let Some(api) = gc.api_for(&node.id) else {
        return Ok(());
    };
    if solid > 0 {
        if dangling.is_empty() && waiting.is_empty() {
            return Ok(());
        }
        let refs: Vec<_> = node
            .owners
            .iter()
            .filter(|o| !dangling.contains(&o.uid) && !waiting.contains(&o.uid))
            .collect();
        return patch_meta(&api, node, json!({"ownerReferences": refs})).await;
    }
    if dangling.is_empty() && waiting.is_empty() {
        return Ok(());
    }
    let has_dependents = gc
        .graph
        .lock()
        .map(|g| !g.dependents_of(&node.id.uid).is_empty())
        .unwrap_or(false);
    let policy = if !waiting.is_empty() && has_dependents {
        let blocking = node
            .owners
            .iter()
            .any(|o| waiting.contains(&o.uid) && o.block_owner_deletion == Some(true));
        if blocking {
            let refs: Vec<_> = node
                .owners
                .iter()
                .cloned()
                .map(|mut o| {
                    if waiting.contains(&o.uid) {
                        o.block_owner_deletion = Some(false);
                    }
                    o
                })
                .collect();
            patch_meta(&api, node, json!({"ownerReferences": refs})).await?;
        }
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    tracing::info!(kind = %node.id.kind, name = %node.id.name, ?policy, "deleting object whose owners are gone or going");
    delete(&api, node, policy).await
}

async fn orphan_dependents(gc: &Collector, owner: &Node) -> Result<()> {
    let dependents = gc
        .graph
        .lock()
        .map(|g| g.dependents_of(&owner.id.uid))
        .unwrap_or_default();
    for dep in dependents {
        let Some(api) = gc.api_for(&dep.id) else {
            continue;
        };
        let refs: Vec<_> = dep
            .owners
            .iter()
            .filter(|o| o.uid != owner.id.uid)
            .collect();
        patch_meta(&api, &dep, json!({"ownerReferences": refs})).await?;
    }
    remove_finalizer(gc, owner, ORPHAN).await
}

async fn delete_dependents(gc: &Collector, owner: &Node) -> Result<()> {
    let dependents = gc
        .graph
        .lock()
        .map(|g| g.dependents_of(&owner.id.uid))
        .unwrap_or_default();
    let blocking: Vec<&Node> = dependents
        .iter()
        .filter(|d| {
            d.owners
                .iter()
                .any(|o| o.uid == owner.id.uid && o.block_owner_deletion == Some(true))
        })
        .collect();
    if blocking.is_empty() {
        return remove_finalizer(gc, owner, FOREGROUND).await;
    }
    for dep in dependents.iter().filter(|d| !d.deleting) {
        check_owners(gc, dep).await?;
    }
    Ok(())
}

async fn delete(api: &Api<DynamicObject>, node: &Node, policy: PropagationPolicy) -> Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(policy),
        preconditions: Some(Preconditions {
            uid: Some(node.id.uid.clone()),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&node.id.name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn remove_finalizer(gc: &Collector, node: &Node, finalizer: &str) -> Result<()> {
    let Some(api) = gc.api_for(&node.id) else {
        return Ok(());
    };
    let rest: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
    patch_meta(&api, node, json!({"finalizers": rest})).await
}

/// A metadata merge patch guarded by the node's resourceVersion; a conflict
/// is an error so the node is looked at again with fresh data.
async fn patch_meta(
    api: &Api<DynamicObject>,
    node: &Node,
    mut fields: serde_json::Value,
) -> Result<()> {
    fields["resourceVersion"] = json!(node.resource_version);
    match api
        .patch(
            &node.id.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": fields})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
