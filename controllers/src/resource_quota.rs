//! ResourceQuota status (upstream's `resourcequota` controller): for each
//! quota, `status.hard` = `spec.hard` and `status.used` = what the namespace
//! holds of each listed resource: object counts (`pods`, `services`,
//! `secrets`, `configmaps`, `persistentvolumeclaims`,
//! `replicationcontrollers`, `resourcequotas`, `services.nodeports`,
//! `services.loadbalancers`, `count/<resource>[.<group>]` for any served
//! resource) and compute of non-terminal pods (`requests.cpu`/`cpu`,
//! `requests.memory`/`memory`, `limits.cpu`, `limits.memory`) and
//! `requests.storage` of claims. Recomputed when pods, services, secrets,
//! ConfigMaps or claims of the namespace change, and every 30 s.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use component_base::quantity::milli_value;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ResourceQuota, Secret, Service,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::Discovery;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result, is_not_found};

struct Ctx {
    client: Client,
    /// "plural" or "plural.group" -> resource, for `count/...`.
    resources: BTreeMap<String, ApiResource>,
}

pub async fn run(client: Client) {
    let mut resources = BTreeMap::new();
    if let Ok(d) = Discovery::new(client.clone()).run().await {
        for g in d.groups() {
            for (ar, _) in g.recommended_resources() {
                let key = if ar.group.is_empty() {
                    ar.plural.clone()
                } else {
                    format!("{}.{}", ar.plural, ar.group)
                };
                resources.insert(key, ar);
            }
        }
    }
    let controller = Controller::new(
        Api::<ResourceQuota>::all(client.clone()),
        watcher::Config::default(),
    );
    let quotas = controller.store();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        resources,
    });
    let q1 = quotas.clone();
    let q2 = quotas.clone();
    let q3 = quotas.clone();
    let q4 = quotas.clone();
    controller
        .watches(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default(),
            move |o| in_namespace(&quotas, o.namespace()),
        )
        .watches(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default(),
            move |o| in_namespace(&q1, o.namespace()),
        )
        .watches(
            Api::<Secret>::all(client.clone()),
            watcher::Config::default(),
            move |o| in_namespace(&q2, o.namespace()),
        )
        .watches(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
            move |o| in_namespace(&q3, o.namespace()),
        )
        .watches(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            watcher::Config::default(),
            move |o| in_namespace(&q4, o.namespace()),
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
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
    let hard = q
        .spec
        .as_ref()
        .and_then(|s| s.hard.clone())
        .unwrap_or_default();
    let mut used: BTreeMap<String, Quantity> = BTreeMap::new();
    let mut pods: Option<Vec<Pod>> = None;
    for name in hard.keys() {
        if let Some(v) = usage(&ctx, &ns, name, &mut pods).await? {
            used.insert(name.clone(), Quantity(v));
        }
    }
    let status = q.status.clone().unwrap_or_default();
    if status.hard.as_ref() != Some(&hard) || status.used.as_ref() != Some(&used) {
        let api: Api<ResourceQuota> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({"status": {"hard": hard, "used": used}});
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
    Ok(Action::requeue(Duration::from_secs(30)))
}

async fn count(ctx: &Ctx, ns: &str, key: &str) -> Result<Option<i64>> {
    let Some(ar) = ctx.resources.get(key) else {
        return Ok(None);
    };
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, ar);
    Ok(Some(
        api.list_metadata(&ListParams::default()).await?.items.len() as i64,
    ))
}

async fn usage(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    pods: &mut Option<Vec<Pod>>,
) -> Result<Option<String>> {
    let counted = |n: Option<i64>| n.map(|n| n.to_string());
    Ok(match name {
        "pods" | "count/pods" => {
            let list = active_pods(ctx, ns, pods).await?;
            Some(list.len().to_string())
        }
        "services"
        | "secrets"
        | "configmaps"
        | "persistentvolumeclaims"
        | "replicationcontrollers"
        | "resourcequotas" => counted(count(ctx, ns, name).await?),
        "services.nodeports" | "services.loadbalancers" => {
            let api: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
            let list = api.list(&ListParams::default()).await?.items;
            let n: usize = list
                .iter()
                .filter_map(|s| s.spec.as_ref())
                .map(|s| match (name, s.type_.as_deref()) {
                    ("services.loadbalancers", Some("LoadBalancer")) => 1,
                    ("services.nodeports", Some("NodePort" | "LoadBalancer")) => s
                        .ports
                        .as_ref()
                        .map(|p| p.iter().filter(|p| p.node_port.is_some()).count())
                        .unwrap_or(0),
                    _ => 0,
                })
                .sum();
            Some(n.to_string())
        }
        "requests.cpu" | "cpu" | "limits.cpu" | "requests.memory" | "memory" | "limits.memory" => {
            let limits = name.starts_with("limits.");
            let resource = name.rsplit('.').next().unwrap_or(name);
            let list = active_pods(ctx, ns, pods).await?;
            let total: i64 = list
                .iter()
                .filter_map(|p| p.spec.as_ref())
                .flat_map(|s| s.containers.iter())
                .filter_map(|c| {
                    let r = c.resources.as_ref()?;
                    let map = if limits {
                        r.limits.as_ref()
                    } else {
                        r.requests.as_ref().or(r.limits.as_ref())
                    };
                    map?.get(resource).and_then(|q| milli_value(&q.0))
                })
                .sum();
            Some(format_milli(total, resource == "cpu"))
        }
        "requests.storage" => {
            let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
            let total: i64 = api
                .list(&ListParams::default())
                .await?
                .items
                .iter()
                .filter_map(|c| {
                    c.spec
                        .as_ref()?
                        .resources
                        .as_ref()?
                        .requests
                        .as_ref()?
                        .get("storage")
                        .and_then(|q| milli_value(&q.0))
                })
                .sum();
            Some(format_milli(total, false))
        }
        other => match other.strip_prefix("count/") {
            Some(key) => counted(count(ctx, ns, key).await?),
            None => None,
        },
    })
}

async fn active_pods<'a>(
    ctx: &Ctx,
    ns: &str,
    pods: &'a mut Option<Vec<Pod>>,
) -> Result<&'a Vec<Pod>> {
    if pods.is_none() {
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        let list = api.list(&ListParams::default()).await?.items;
        *pods = Some(
            list.into_iter()
                .filter(|p| {
                    !matches!(
                        p.status.as_ref().and_then(|s| s.phase.as_deref()),
                        Some("Succeeded" | "Failed")
                    )
                })
                .collect(),
        );
    }
    Ok(pods.get_or_insert_with(Vec::new))
}

/// Canonical text of a sum: millicores for cpu ("1500m", "2"), binary
/// suffixes for whole multiples of Ki/Mi/Gi otherwise.
pub fn format_milli(milli: i64, cpu: bool) -> String {
    if milli == 0 {
        return "0".into();
    }
    if cpu || milli % 1000 != 0 {
        return if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
    }
    let units = milli / 1000;
    for (suffix, size) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if units % size == 0 {
            return format!("{}{suffix}", units / size);
        }
    }
    units.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_round_trip() {
        assert_eq!(
            format_milli(milli_value("500m").unwrap() * 3, true),
            "1500m"
        );
        assert_eq!(format_milli(milli_value("1").unwrap() * 2, true), "2");
        assert_eq!(
            format_milli(milli_value("512Mi").unwrap() * 2, false),
            "1Gi"
        );
        assert_eq!(format_milli(milli_value("100").unwrap(), false), "100");
        assert_eq!(format_milli(0, false), "0");
    }
}
