//! Per-namespace defaults that upstream's controller manager keeps in every
//! active namespace, with one shared reconcile shape:
//! - the `default` ServiceAccount (serviceaccount-controller);
//! - the `kube-root-ca.crt` ConfigMap with the cluster CA bundle in
//!   `ca.crt` (root-ca-certificate-publisher), rewritten if changed.
//!
//! Each runs a `Controller` over Namespaces that also watches the object it
//! maintains (by name), so deleting it brings it back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result, is_conflict, is_not_found};

pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

fn active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

fn error_policy<C>(ns: Arc<Namespace>, err: &Error, _ctx: Arc<C>) -> Action {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "namespace defaults sync failed");
    Action::requeue(Duration::from_secs(2))
}

fn by_name(name: &'static str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

/// Keeps a `default` ServiceAccount in every active namespace.
pub async fn run_service_accounts(client: Client) {
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<ServiceAccount>::all(client.clone()),
        by_name("default"),
        |sa: ServiceAccount| sa.namespace().map(|ns| ObjectRef::new(&ns)),
    )
    .run(reconcile_service_account, error_policy, Arc::new(client))
    .for_each(|_| futures::future::ready(()))
    .await;
}

async fn reconcile_service_account(ns: Arc<Namespace>, client: Arc<Client>) -> Result<Action> {
    if !active(&ns) {
        return Ok(Action::await_change());
    }
    let api: Api<ServiceAccount> = Api::namespaced(client.as_ref().clone(), &ns.name_any());
    if api.get_opt("default").await?.is_some() {
        return Ok(Action::await_change());
    }
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("default".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &sa).await {
        Ok(_) => Ok(Action::await_change()),
        // Already there, or the namespace started terminating.
        Err(e) if is_conflict(&e) || is_not_found(&e) => Ok(Action::await_change()),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}

/// Publishes `ca_pem` as `kube-root-ca.crt` in every active namespace.
pub async fn run_root_ca_publisher(client: Client, ca_pem: String) {
    let ctx = Arc::new((client.clone(), ca_pem));
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<ConfigMap>::all(client.clone()),
        by_name(ROOT_CA_CONFIGMAP),
        |cm: ConfigMap| cm.namespace().map(|ns| ObjectRef::new(&ns)),
    )
    .run(reconcile_root_ca, error_policy, ctx)
    .for_each(|_| futures::future::ready(()))
    .await;
}

async fn reconcile_root_ca(ns: Arc<Namespace>, ctx: Arc<(Client, String)>) -> Result<Action> {
    if !active(&ns) {
        return Ok(Action::await_change());
    }
    let (client, ca_pem) = ctx.as_ref();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name_any());
    let data = BTreeMap::from([("ca.crt".to_string(), ca_pem.clone())]);
    let annotations = BTreeMap::from([(
        "kubernetes.io/description".to_string(),
        ROOT_CA_DESCRIPTION.to_string(),
    )]);
    match api.get_opt(ROOT_CA_CONFIGMAP).await? {
        Some(cm) if cm.data.as_ref() == Some(&data) => {}
        Some(_) => {
            let patch = json!({"data": {"ca.crt": ca_pem}});
            api.patch(
                ROOT_CA_CONFIGMAP,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(ROOT_CA_CONFIGMAP.into()),
                    annotations: Some(annotations),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            match api.create(&PostParams::default(), &cm).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) || is_not_found(&e) => {}
                Err(kube::Error::Api(s)) if s.code == 403 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(Action::await_change())
}
