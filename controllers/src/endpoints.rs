//! Endpoints and EndpointSlices of Services with a selector (upstream's
//! `endpoint` and `endpointslice` controllers in one reconcile): the pods of
//! the Service's namespace that match its selector and have an IP become
//! - `Endpoints/<service>`: `subsets` grouped by resolved ports, ready pods
//!   in `addresses`, the others in `notReadyAddresses` (terminating pods left
//!   out unless `publishNotReadyAddresses`);
//! - EndpointSlices labelled `kubernetes.io/service-name` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`,
//!   one per distinct port mapping, with ready/serving/terminating
//!   conditions, nodeName and targetRef.
//!
//! Target ports are resolved per pod (numbers, or container port names).
//! Services without a selector, and `default/kubernetes` (the API server's
//! own), are left alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort as SlicePort, EndpointSlice,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::error::{Error, Result, is_conflict, is_not_found};
use crate::objects::{self, is_ready, owner_ref};

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

struct Ctx {
    client: Client,
    pods: Store<Pod>,
}

pub async fn run(client: Client) {
    let (pods, writer) = reflector::store();
    let pod_events = reflector(
        writer,
        watcher(Api::<Pod>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    );
    let services = controller.store();
    let ctx = Arc::new(Ctx { client, pods });
    controller
        .watches_stream(pod_events, move |pod: Pod| {
            services_for_pod(&services, &pod)
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn selects(svc: &Service, labels: &BTreeMap<String, String>) -> bool {
    match svc.spec.as_ref().and_then(|s| s.selector.as_ref()) {
        Some(sel) if !sel.is_empty() => sel.iter().all(|(k, v)| labels.get(k) == Some(v)),
        _ => false,
    }
}

fn services_for_pod(services: &Store<Service>, pod: &Pod) -> Vec<ObjectRef<Service>> {
    services
        .state()
        .iter()
        .filter(|s| s.namespace() == pod.namespace() && selects(s, pod.labels()))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

fn error_policy(svc: Arc<Service>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(service = %objects::key(svc.as_ref()), error = %err, "endpoints sync failed");
    Action::requeue(Duration::from_secs(2))
}

/// The port a Service port reaches on this pod, if the pod has it.
fn resolve(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.as_deref().unwrap_or_default())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// (name, port, protocol) of each Service port resolved on this pod.
type Ports = Vec<(Option<String>, i32, String)>;

fn pod_ports(svc_ports: &[ServicePort], pod: &Pod) -> Ports {
    svc_ports
        .iter()
        .filter_map(|sp| {
            Some((
                sp.name.clone().filter(|n| !n.is_empty()),
                resolve(sp, pod)?,
                sp.protocol.clone().unwrap_or_else(|| "TCP".into()),
            ))
        })
        .collect()
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    if (ns == "default" && name == "kubernetes")
        || svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_none_or(|s| s.is_empty())
        || svc.metadata.deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let spec = svc.spec.clone().unwrap_or_default();
    let svc_ports = spec.ports.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let mut pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()) && selects(&svc, p.labels()))
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.pod_ip.as_ref())
                .is_some_and(|ip| !ip.is_empty())
        })
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .collect();
    pods.sort_by_key(|p| p.name_any());

    // Group pods by their resolved ports (one subset / slice per group).
    let mut groups: BTreeMap<String, (Ports, Vec<Arc<Pod>>)> = BTreeMap::new();
    for p in pods {
        let ports = pod_ports(&svc_ports, &p);
        let key = format!("{ports:?}");
        groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(p);
    }

    write_endpoints(&ctx, &svc, &groups, publish_not_ready).await?;
    write_slices(&ctx, &svc, &groups, publish_not_ready).await?;
    Ok(Action::await_change())
}

fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

fn pod_ip(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

fn node_name(pod: &Pod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

async fn write_endpoints(
    ctx: &Ctx,
    svc: &Service,
    groups: &BTreeMap<String, (Ports, Vec<Arc<Pod>>)>,
    publish_not_ready: bool,
) -> Result<()> {
    let mut subsets = Vec::new();
    for (ports, pods) in groups.values() {
        let addr = |p: &Pod| EndpointAddress {
            ip: pod_ip(p),
            node_name: node_name(p),
            target_ref: Some(target_ref(p)),
            hostname: None,
        };
        let ready: Vec<EndpointAddress> = pods
            .iter()
            .filter(|p| {
                publish_not_ready || (is_ready(p) && p.metadata.deletion_timestamp.is_none())
            })
            .map(|p| addr(p))
            .collect();
        let not_ready: Vec<EndpointAddress> = pods
            .iter()
            .filter(|p| {
                !publish_not_ready && !is_ready(p) && p.metadata.deletion_timestamp.is_none()
            })
            .map(|p| addr(p))
            .collect();
        if ready.is_empty() && not_ready.is_empty() {
            continue;
        }
        subsets.push(EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, port, protocol)| EndpointPort {
                        name: name.clone(),
                        port: *port,
                        protocol: Some(protocol.clone()),
                        app_protocol: None,
                    })
                    .collect(),
            ),
        });
    }
    let ns = svc.namespace().unwrap_or_default();
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    let wanted_subsets = (!subsets.is_empty()).then_some(subsets);
    let labels = svc.metadata.labels.clone();
    match api.get_opt(&svc.name_any()).await? {
        Some(mut current) => {
            if current.subsets == wanted_subsets && current.metadata.labels == labels {
                return Ok(());
            }
            current.subsets = wanted_subsets;
            current.metadata.labels = labels;
            api.replace(&svc.name_any(), &PostParams::default(), &current)
                .await?;
            Ok(())
        }
        None => {
            let ep = Endpoints {
                metadata: ObjectMeta {
                    name: Some(svc.name_any()),
                    namespace: Some(ns),
                    labels,
                    ..Default::default()
                },
                subsets: wanted_subsets,
            };
            match api.create(&PostParams::default(), &ep).await {
                Ok(_) => Ok(()),
                Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
    }
}

async fn write_slices(
    ctx: &Ctx,
    svc: &Service,
    groups: &BTreeMap<String, (Ports, Vec<Arc<Pod>>)>,
    publish_not_ready: bool,
) -> Result<()> {
    let ns = svc.namespace().unwrap_or_default();
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = format!(
        "{SERVICE_NAME_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}",
        svc.name_any()
    );
    let mut existing = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    existing.sort_by_key(|s| s.name_any());
    let mut wanted: Vec<EndpointSlice> = groups
        .values()
        .map(|(ports, pods)| slice_for(svc, ports, pods, publish_not_ready))
        .collect();
    // A Service with no endpoints still gets one (empty) slice, like upstream.
    if wanted.is_empty() {
        wanted.push(slice_for(svc, &Vec::new(), &[], publish_not_ready));
    }
    for (i, mut slice) in wanted.into_iter().enumerate() {
        match existing.get(i) {
            Some(cur) => {
                if cur.endpoints == slice.endpoints
                    && cur.ports == slice.ports
                    && cur.metadata.labels == slice.metadata.labels
                {
                    continue;
                }
                slice.metadata.name = cur.metadata.name.clone();
                slice.metadata.generate_name = None;
                slice.metadata.resource_version = cur.metadata.resource_version.clone();
                api.replace(&cur.name_any(), &PostParams::default(), &slice)
                    .await?;
            }
            None => match api.create(&PostParams::default(), &slice).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            },
        }
    }
    let keep = groups.len().max(1);
    for extra in existing.iter().skip(keep) {
        match api
            .delete(&extra.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn slice_for(
    svc: &Service,
    ports: &Ports,
    pods: &[Arc<Pod>],
    publish_not_ready: bool,
) -> EndpointSlice {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), svc.name_any());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    let endpoints = pods
        .iter()
        .map(|p| {
            let terminating = p.metadata.deletion_timestamp.is_some();
            let serving = is_ready(p);
            Endpoint {
                addresses: vec![pod_ip(p)],
                conditions: Some(EndpointConditions {
                    ready: Some((serving && !terminating) || publish_not_ready),
                    serving: Some(serving),
                    terminating: Some(terminating),
                }),
                node_name: node_name(p),
                target_ref: Some(target_ref(p)),
                ..Default::default()
            }
        })
        .collect();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", svc.name_any())),
            namespace: svc.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![owner_ref(svc)]),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports: Some(
            ports
                .iter()
                .map(|(name, port, protocol)| SlicePort {
                    name: Some(name.clone().unwrap_or_default()),
                    port: Some(*port),
                    protocol: Some(protocol.clone()),
                    app_protocol: None,
                })
                .collect(),
        ),
    }
}
