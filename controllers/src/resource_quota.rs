//! ResourceQuota status (upstream's `resourcequota` controller): for each
//! quota, `status.hard` = `spec.hard` and `status.used` = what the objects
//! of the namespace that the quota's scopes cover use of each listed name.
//! The accounting (which kind a name counts, what one object uses, scopes)
//! is `component_base::quota`, the same code the API server's quota
//! admission charges new objects with; this controller only lists and sums.
//!
//! Recomputed when the quota's spec changes (not on status writes: the
//! admission's own charges must not race a recount), when pods, services,
//! secrets, ConfigMaps, claims, ReplicationControllers or ReplicaSets of
//! the namespace change, and every 30 s (other `count/<resource>` names).
//! Resources come from discovery, run again when a name is not known.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use component_base::quota;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota, Secret, Service,
};
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::Discovery;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::error::{Error, Result, is_not_found};

/// How often every quota is recounted regardless of events.
const RESYNC: Duration = Duration::from_secs(30);

/// How often discovery may run again when a quota names a resource it
/// does not know (a new CRD, or a failed first run).
const REDISCOVER: Duration = Duration::from_secs(10);

/// The served resources, by (group, plural), from discovery.
#[derive(Default)]
struct Resources {
    known: BTreeMap<(String, String), ApiResource>,
    refreshed: Option<Instant>,
}

struct Ctx {
    client: Client,
    resources: Mutex<Resources>,
}

impl Ctx {
    /// The resource `(group, plural)`, running discovery again (at most
    /// every REDISCOVER) when it is not known yet.
    async fn resource(&self, group: &str, plural: &str) -> Option<ApiResource> {
        let key = (group.to_string(), plural.to_string());
        let mut resources = self.resources.lock().await;
        if let Some(ar) = resources.known.get(&key) {
            return Some(ar.clone());
        }
        if resources
            .refreshed
            .is_some_and(|t| t.elapsed() < REDISCOVER)
        {
            return None;
        }
        resources.refreshed = Some(Instant::now());
        match Discovery::new(self.client.clone()).run().await {
            Ok(d) => {
                for g in d.groups() {
                    for (ar, _) in g.recommended_resources() {
                        resources
                            .known
                            .insert((ar.group.clone(), ar.plural.clone()), ar);
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "discovery failed"),
        }
        resources.known.get(&key).cloned()
    }
}

pub async fn run(client: Client) {
    let (quotas, writer) = reflector::store();
    let quota_events = watcher(
        Api::<ResourceQuota>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(spec_hash, PredicateConfig::default());
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        resources: Mutex::new(Resources::default()),
    });
    let controller = Controller::for_stream(quota_events, quotas.clone());
    let controller = trigger_on::<Pod>(controller, &client, &quotas);
    let controller = trigger_on::<ConfigMap>(controller, &client, &quotas);
    let controller = trigger_on::<Secret>(controller, &client, &quotas);
    let controller = trigger_on::<Service>(controller, &client, &quotas);
    let controller = trigger_on::<PersistentVolumeClaim>(controller, &client, &quotas);
    let controller = trigger_on::<ReplicationController>(controller, &client, &quotas);
    let controller = trigger_on::<ReplicaSet>(controller, &client, &quotas);
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Changes of `K` objects recount the quotas of their namespace.
fn trigger_on<K>(
    controller: Controller<ResourceQuota>,
    client: &Client,
    quotas: &Store<ResourceQuota>,
) -> Controller<ResourceQuota>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let quotas = quotas.clone();
    controller.watches(
        Api::<K>::all(client.clone()),
        watcher::Config::default(),
        move |o: K| in_namespace(&quotas, o.meta().namespace.clone()),
    )
}

/// Quota events pass only when the spec (or the object) changes.
fn spec_hash(q: &ResourceQuota) -> Option<u64> {
    let mut h = DefaultHasher::new();
    q.metadata.uid.hash(&mut h);
    serde_json::to_string(&q.spec).ok()?.hash(&mut h);
    Some(h.finish())
}

fn in_namespace(
    quotas: &Store<ResourceQuota>,
    ns: Option<String>,
) -> Vec<ObjectRef<ResourceQuota>> {
    quotas
        .state()
        .iter()
        .filter(|q| q.namespace() == ns)
        .map(|q| ObjectRef::from_obj(q.as_ref()))
        .collect()
}

fn error_policy(q: Arc<ResourceQuota>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(quota = %q.name_any(), error = %err, "quota sync failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(q: Arc<ResourceQuota>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = q.namespace().unwrap_or_default();
    let spec = serde_json::to_value(&q.spec)?;
    let hard = q
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let used = count_usage(&ctx, &ns, &spec, hard.keys()).await?;
    let status = q.status.clone().unwrap_or_default();
    let old_used: BTreeMap<String, String> = status
        .used
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let old_hard = status.hard.unwrap_or_default();
    if old_hard != hard || old_used != used {
        // A merge patch: names no longer listed are removed explicitly.
        let mut used_patch: serde_json::Map<String, Value> = old_used
            .keys()
            .filter(|k| !used.contains_key(*k))
            .map(|k| (k.clone(), Value::Null))
            .collect();
        used_patch.extend(used.iter().map(|(k, v)| (k.clone(), json!(v))));
        let mut hard_patch: serde_json::Map<String, Value> = old_hard
            .keys()
            .filter(|k| !hard.contains_key(*k))
            .map(|k| (k.clone(), Value::Null))
            .collect();
        hard_patch.extend(hard.iter().map(|(k, v)| (k.clone(), json!(v))));
        let api: Api<ResourceQuota> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"status": {"hard": hard_patch, "used": used_patch}});
        match api
            .patch_status(
                &q.name_any(),
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
    Ok(Action::requeue(RESYNC))
}

/// `status.used` for the names in `hard`: each name no evaluator knows is
/// left out; the others are summed over the covered objects of their kind.
async fn count_usage<'a>(
    ctx: &Ctx,
    ns: &str,
    spec: &Value,
    hard: impl Iterator<Item = &'a String>,
) -> Result<BTreeMap<String, String>> {
    let mut by_resource: BTreeMap<(String, String), BTreeSet<&String>> = BTreeMap::new();
    for name in hard {
        if let Some(resource) = quota::counted_resource(name) {
            by_resource.entry(resource).or_default().insert(name);
        }
    }
    let mut used = BTreeMap::new();
    for ((group, plural), names) in by_resource {
        let Some(ar) = ctx.resource(&group, &plural).await else {
            continue;
        };
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
        let objects = api.list(&ListParams::default()).await?.items;
        let mut totals: BTreeMap<&String, i64> = names.iter().map(|n| (*n, 0)).collect();
        for obj in objects {
            let obj = serde_json::to_value(&obj)?;
            if !quota::scopes_match(spec, &group, &plural, &obj) {
                continue;
            }
            let usage = quota::usage(&group, &plural, &obj);
            for (name, total) in totals.iter_mut() {
                *total += usage.get(*name).copied().unwrap_or(0);
            }
        }
        for (name, total) in totals {
            used.insert(name.clone(), quota::format(name, total));
        }
    }
    Ok(used)
}
