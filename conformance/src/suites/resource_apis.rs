//! "API operations" tests of upstream for kinds served with no controller
//! or node involved: CronJob, PodDisruptionBudget, EndpointSlice, Ingress,
//! IngressClass, CertificateSigningRequest, FlowSchema,
//! PriorityLevelConfiguration, ValidatingAdmissionPolicy(Binding),
//! PersistentVolume and PersistentVolumeClaim.
//!
//! Every kind goes through [`round_trip`] (create, get, list by label, watch
//! a patch, update, delete, deletecollection) plus what is particular to it:
//! defaults the server fills in, validation, status subresources.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{Endpoints, PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::framework::{
    Ctx, Step, TestCase, TestError, TestResult, expect_status, from_json, next_event, truncate,
    wait_for,
};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-apps] CronJob should support CronJob API operations [Conformance]",
            |c| Box::pin(cronjob_api(c)),
        ),
        TestCase::upstream(
            "[sig-apps] DisruptionController Listing PodDisruptionBudgets for all namespaces should list and delete a collection of PodDisruptionBudgets [Conformance]",
            |c| Box::pin(pdb_collection(c)),
        ),
        TestCase::upstream(
            "[sig-apps] DisruptionController should create a PodDisruptionBudget [Conformance]",
            |c| Box::pin(pdb_create(c)),
        ),
        TestCase::upstream(
            "[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]",
            |c| Box::pin(endpointslice_api(c)),
        ),
        TestCase::upstream(
            "[sig-network] EndpointSlice should have Endpoints and EndpointSlices pointing to API Server [Conformance]",
            |c| Box::pin(endpointslice_apiserver(c)),
        ),
        TestCase::upstream(
            "[sig-network] Ingress API should support creating Ingress API operations [Conformance]",
            |c| Box::pin(ingress_api(c)),
        ),
        TestCase::upstream(
            "[sig-network] IngressClass API should support creating IngressClass API operations [Conformance]",
            |c| Box::pin(ingressclass_api(c)),
        ),
        TestCase::upstream(
            "[sig-auth] Certificates API [Privileged:ClusterAdmin] should support CSR API operations [Conformance]",
            |c| Box::pin(csr_api(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] API priority and fairness should support FlowSchema API operations [Conformance]",
            |c| Box::pin(flowschema_api(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] API priority and fairness should support PriorityLevelConfiguration API operations [Conformance]",
            |c| Box::pin(prioritylevel_api(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should support ValidatingAdmissionPolicy API operations [Conformance]",
            |c| Box::pin(vap_api(c)),
        ),
        TestCase::upstream(
            "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should support ValidatingAdmissionPolicyBinding API operations [Conformance]",
            |c| Box::pin(vapb_api(c)),
        ),
        TestCase::upstream(
            "[sig-storage] PersistentVolumes CSI Conformance should run through the lifecycle of a PV and a PVC [Conformance]",
            |c| Box::pin(pv_pvc_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-storage] PersistentVolumes CSI Conformance should apply changes to a pv/pvc status [Conformance]",
            |c| Box::pin(pv_pvc_status(c)),
        ),
    ]
}

// ---------------------------------------------------------------- helpers

fn annotation<K: Resource>(obj: &K, key: &str) -> Option<String> {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .cloned()
}

/// The JSON form of an object, for checks on fields the typed structs
/// would hide behind `Option`s.
fn as_json<K: Serialize>(obj: &K) -> TestResult<Value> {
    serde_json::to_value(obj).step("encoding an object as JSON")
}

fn pointer(value: &Value, path: &str) -> Value {
    value.pointer(path).cloned().unwrap_or(Value::Null)
}

/// Creates `objects` (all labelled so that `selector` matches them), then:
/// reads each back, lists them by label, watches a merge patch of the first,
/// updates the first, deletes it and deletes the rest by collection. An
/// object kept by a finalizer counts as deleted once it has a
/// deletionTimestamp. Returns the objects as created.
async fn round_trip<K>(api: &Api<K>, objects: Vec<K>, selector: &str) -> TestResult<Vec<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    let kind = K::kind(&());
    let mut created = Vec::new();
    for obj in &objects {
        let name = obj.meta().name.clone().unwrap_or_default();
        let got = api
            .create(&PostParams::default(), obj)
            .await
            .step(format!("creating {kind} {name}"))?;
        let meta = got.meta();
        ensure_eq!(meta.name.as_deref(), Some(name.as_str()), "{kind} name");
        ensure!(
            meta.uid.as_deref().is_some_and(|u| !u.is_empty()),
            "{kind} {name} created without a uid"
        );
        ensure!(
            meta.resource_version
                .as_deref()
                .is_some_and(|r| !r.is_empty()),
            "{kind} {name} created without a resourceVersion"
        );
        ensure!(
            meta.creation_timestamp.is_some(),
            "{kind} {name} created without a creationTimestamp"
        );
        created.push(got);
    }
    let names: Vec<String> = created
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect();
    let first = names
        .first()
        .cloned()
        .ok_or_else(|| TestError::Assertion("round_trip needs at least one object".into()))?;
    for (name, obj) in names.iter().zip(&created) {
        let got = api.get(name).await.step(format!("reading {kind} {name}"))?;
        ensure_eq!(
            got.meta().uid,
            obj.meta().uid,
            "uid of {kind} {name} on GET"
        );
    }
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .step(format!("listing {kind} by {selector}"))?;
    let listed: BTreeSet<String> = list
        .items
        .iter()
        .filter_map(|o| o.meta().name.clone())
        .collect();
    let want: BTreeSet<String> = names.iter().cloned().collect();
    ensure_eq!(listed, want, "{kind} listed by {selector}");

    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut stream = api
        .watch(&WatchParams::default().labels(selector), &rv)
        .await
        .step(format!("watching {kind} from {rv}"))?
        .boxed();
    let patched = api
        .patch(
            &first,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"e2e-patched": "true"}}})),
        )
        .await
        .step(format!("patching {kind} {first}"))?;
    ensure_eq!(
        annotation(&patched, "e2e-patched").as_deref(),
        Some("true"),
        "annotation of {kind} {first} after patch"
    );
    loop {
        match next_event(&mut stream, Duration::from_secs(10), "the patch").await? {
            WatchEvent::Modified(o) if o.meta().name.as_deref() == Some(first.as_str()) => {
                ensure_eq!(
                    annotation(&o, "e2e-patched").as_deref(),
                    Some("true"),
                    "annotation in the MODIFIED event of {kind} {first}"
                );
                break;
            }
            WatchEvent::Error(e) => {
                return Err(TestError::Assertion(format!(
                    "watch of {kind} answered an error: {}",
                    e.message
                )));
            }
            _ => {}
        }
    }

    let mut body = api
        .get(&first)
        .await
        .step(format!("reading {kind} {first}"))?;
    let before = body.meta().resource_version.clone();
    body.meta_mut()
        .annotations
        .get_or_insert_with(Default::default)
        .insert("e2e-updated".into(), "true".into());
    let updated = api
        .replace(&first, &PostParams::default(), &body)
        .await
        .step(format!("updating {kind} {first}"))?;
    ensure_eq!(
        annotation(&updated, "e2e-updated").as_deref(),
        Some("true"),
        "annotation of {kind} {first} after update"
    );
    ensure!(
        updated.meta().resource_version != before,
        "resourceVersion of {kind} {first} unchanged by an update"
    );

    api.delete(&first, &DeleteParams::default())
        .await
        .step(format!("deleting {kind} {first}"))?;
    match api.get(&first).await {
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Ok(o) if o.meta().deletion_timestamp.is_some() => {}
        Ok(_) => {
            return Err(TestError::Assertion(format!(
                "{kind} {first} still there, not being deleted, after DELETE"
            )));
        }
        Err(err) => return Err(err).step(format!("reading deleted {kind} {first}")),
    }
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(selector),
    )
    .await
    .step(format!("deleting {kind} by collection"))?;
    let left = api
        .list(&ListParams::default().labels(selector))
        .await
        .step(format!("listing {kind} after deletecollection"))?;
    let live: Vec<String> = left
        .items
        .iter()
        .filter(|o| o.meta().deletion_timestamp.is_none())
        .filter_map(|o| o.meta().name.clone())
        .collect();
    ensure!(
        live.is_empty(),
        "{kind} left after deletecollection: {live:?}"
    );
    Ok(created)
}

/// Cluster-scoped objects `prefix-<unique>-<i>` for `i` in 1..=n, removed
/// after the test whatever its outcome.
fn cluster_names<K>(ctx: &Ctx, prefix: &str, n: usize) -> Vec<String>
where
    K: Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + 'static,
{
    (1..=n)
        .map(|i| {
            let name = format!("{prefix}-{}-{i}", ctx.unique);
            ctx.delete_after::<K>(&name);
            name
        })
        .collect()
}

/// Merge-patches the status subresource and checks `check` on the answer.
async fn patch_status<K>(api: &Api<K>, name: &str, patch: Value) -> TestResult<Value>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
{
    let got = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .step(format!("patching the status of {} {name}", K::kind(&())))?;
    as_json(&got)
}

// ---------------------------------------------------------------- sig-apps

fn cronjob(name: &str, label: &str, schedule: &str) -> TestResult<CronJob> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-cronjob": label}},
        "spec": {
            "schedule": schedule,
            "suspend": true,
            "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]
            }}}}
        }
    }))
}

async fn cronjob_api(ctx: Ctx) -> TestResult {
    let api = ctx.api::<CronJob>();
    let label = ctx.unique.clone();
    expect_status(
        api.create(
            &PostParams::default(),
            &cronjob("bad-schedule", "bad", "not a schedule")?,
        )
        .await,
        422,
        "creating a CronJob with an invalid schedule",
    )?;
    let objects = vec![
        cronjob("e2e-cj-1", &label, "*/1 * * * ?")?,
        cronjob("e2e-cj-2", &label, "@hourly")?,
        cronjob("e2e-cj-3", &label, "0 0 * * *")?,
    ];
    let created = round_trip(&api, objects, &format!("e2e-cronjob={label}")).await?;
    let spec = pointer(&as_json(&created[0])?, "/spec");
    ensure_eq!(
        pointer(&spec, "/concurrencyPolicy"),
        json!("Allow"),
        "defaulted spec.concurrencyPolicy"
    );
    ensure_eq!(
        pointer(&spec, "/successfulJobsHistoryLimit"),
        json!(3),
        "defaulted spec.successfulJobsHistoryLimit"
    );
    ensure_eq!(
        pointer(&spec, "/failedJobsHistoryLimit"),
        json!(1),
        "defaulted spec.failedJobsHistoryLimit"
    );

    // Status subresource: status changes stick, spec changes are ignored.
    let name = "e2e-cj-status";
    api.create(&PostParams::default(), &cronjob(name, "status", "@daily")?)
        .await
        .step("creating a CronJob for status")?;
    let got = patch_status(
        &api,
        name,
        json!({"spec": {"schedule": "@weekly"}, "status": {"lastScheduleTime": "2024-01-02T03:04:05Z"}}),
    )
    .await?;
    ensure_eq!(
        pointer(&got, "/status/lastScheduleTime"),
        json!("2024-01-02T03:04:05Z"),
        "status.lastScheduleTime after a status patch"
    );
    ensure_eq!(
        pointer(&got, "/spec/schedule"),
        json!("@daily"),
        "spec.schedule after a status patch that tried to change it"
    );
    let mut body = api.get_status(name).await.step("GET of the status")?;
    body.status
        .get_or_insert_with(Default::default)
        .last_successful_time = Some(from_json(json!("2024-01-02T03:05:00Z"))?);
    let replaced = as_json(
        &api.replace_status(name, &PostParams::default(), &body)
            .await
            .step("updating the status")?,
    )?;
    ensure_eq!(
        pointer(&replaced, "/status/lastSuccessfulTime"),
        json!("2024-01-02T03:05:00Z"),
        "status.lastSuccessfulTime after a status update"
    );
    Ok(())
}

fn pdb(name: &str, label: &str) -> TestResult<PodDisruptionBudget> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-pdb": label}},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name}}}
    }))
}

async fn pdb_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodDisruptionBudget>();
    let label = ctx.unique.clone();
    for i in 1..=3 {
        api.create(
            &PostParams::default(),
            &pdb(&format!("e2e-pdb-{i}"), &label)?,
        )
        .await
        .step("creating a PodDisruptionBudget")?;
    }
    let selector = format!("e2e-pdb={label}");
    let all = ctx
        .all_api::<PodDisruptionBudget>()
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing PodDisruptionBudgets in all namespaces")?;
    ensure_eq!(all.items.len(), 3, "PodDisruptionBudgets found by label");
    ensure!(
        all.items
            .iter()
            .all(|p| p.metadata.namespace.as_deref() == Some(ctx.ns.as_str())),
        "a listed PodDisruptionBudget is outside the test namespace"
    );
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting PodDisruptionBudgets by collection")?;
    let left = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing after deletecollection")?;
    ensure_eq!(left.items.len(), 0, "PodDisruptionBudgets left");
    Ok(())
}

async fn pdb_create(ctx: Ctx) -> TestResult {
    let api = ctx.api::<PodDisruptionBudget>();
    let name = "e2e-pdb";
    let created = api
        .create(&PostParams::default(), &pdb(name, "create")?)
        .await
        .step("creating a PodDisruptionBudget")?;
    ensure_eq!(created.metadata.generation, Some(1), "generation on create");
    // The disruption controller reports it processed the spec.
    wait_for(
        "the PDB to be processed (status.observedGeneration)",
        Duration::from_secs(30),
        || {
            let api = api.clone();
            async move {
                let got = api.get(name).await.step("reading the PDB")?;
                let observed = got.status.as_ref().and_then(|s| s.observed_generation);
                Ok(
                    if observed.is_some() && observed == got.metadata.generation {
                        Ok(())
                    } else {
                        Err(format!(
                            "observedGeneration {observed:?}, generation {:?}",
                            got.metadata.generation
                        ))
                    },
                )
            }
        },
    )
    .await?;
    let patched = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": 2}})),
        )
        .await
        .step("patching minAvailable")?;
    ensure_eq!(
        patched.metadata.generation,
        Some(2),
        "generation after a spec patch"
    );
    ensure_eq!(
        pointer(&as_json(&patched)?, "/spec/minAvailable"),
        json!(2),
        "minAvailable after patch"
    );
    expect_status(
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minAvailable": -1}})),
        )
        .await,
        422,
        "setting a negative minAvailable",
    )?;
    api.delete(name, &DeleteParams::default())
        .await
        .step("deleting the PDB")?;
    expect_status(api.get(name).await, 404, "GET of the deleted PDB")?;
    Ok(())
}

// ---------------------------------------------------------------- sig-network

fn endpointslice(name: &str, label: &str, ip: &str) -> TestResult<EndpointSlice> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-eps": label}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
    }))
}

async fn endpointslice_api(ctx: Ctx) -> TestResult {
    let discovery = ctx
        .get_raw("/apis/discovery.k8s.io/v1", "application/json")
        .await?;
    let resources: Value = discovery.json("discovery of discovery.k8s.io/v1")?;
    ensure!(
        resources["resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["name"] == "endpointslices")),
        "endpointslices missing from /apis/discovery.k8s.io/v1"
    );
    let api = ctx.api::<EndpointSlice>();
    let label = ctx.unique.clone();
    let mut bad = endpointslice("bad", "bad", "10.0.0.1")?;
    bad.address_type = "IPv5".into();
    expect_status(
        api.create(&PostParams::default(), &bad).await,
        422,
        "creating an EndpointSlice with addressType IPv5",
    )?;
    expect_status(
        api.create(
            &PostParams::default(),
            &endpointslice("bad2", "bad", "not-an-ip")?,
        )
        .await,
        422,
        "creating an IPv4 EndpointSlice with an invalid address",
    )?;
    let objects = vec![
        endpointslice("e2e-eps-1", &label, "10.0.0.1")?,
        endpointslice("e2e-eps-2", &label, "10.0.0.2")?,
        endpointslice("e2e-eps-3", &label, "10.0.0.3")?,
    ];
    let created = round_trip(&api, objects, &format!("e2e-eps={label}")).await?;
    let slice = as_json(&created[1])?;
    ensure_eq!(
        pointer(&slice, "/endpoints/0/addresses/0"),
        json!("10.0.0.2"),
        "endpoint address as created"
    );
    ensure_eq!(
        pointer(&slice, "/ports/0/port"),
        json!(80),
        "port as created"
    );
    let all = ctx
        .all_api::<EndpointSlice>()
        .list(&ListParams::default().labels(&format!("e2e-eps={label}")))
        .await
        .step("listing EndpointSlices in all namespaces")?;
    ensure_eq!(all.items.len(), 0, "EndpointSlices left in all namespaces");
    Ok(())
}

async fn endpointslice_apiserver(ctx: Ctx) -> TestResult {
    let endpoints: Api<Endpoints> = Api::namespaced(ctx.client.clone(), "default");
    let ep = endpoints
        .get("kubernetes")
        .await
        .step("reading Endpoints default/kubernetes")?;
    let subsets = ep.subsets.unwrap_or_default();
    ensure_eq!(subsets.len(), 1, "subsets of Endpoints default/kubernetes");
    let ep_ips: BTreeSet<String> = subsets
        .iter()
        .flat_map(|s| s.addresses.clone().unwrap_or_default())
        .map(|a| a.ip)
        .collect();
    ensure!(
        !ep_ips.is_empty(),
        "Endpoints default/kubernetes has no addresses"
    );
    let ep_ports: Vec<(Option<String>, i32)> = subsets
        .iter()
        .flat_map(|s| s.ports.clone().unwrap_or_default())
        .map(|p| (p.name, p.port))
        .collect();
    ensure_eq!(ep_ports.len(), 1, "ports of Endpoints default/kubernetes");
    ensure_eq!(
        ep_ports[0].0.as_deref(),
        Some("https"),
        "port name of Endpoints default/kubernetes"
    );

    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), "default");
    let list = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=kubernetes"))
        .await
        .step("listing EndpointSlices of default/kubernetes")?;
    ensure_eq!(
        list.items.len(),
        1,
        "EndpointSlices of the kubernetes Service"
    );
    let slice = &list.items[0];
    ensure_eq!(
        slice.metadata.name.as_deref(),
        Some("kubernetes"),
        "name of the EndpointSlice of the kubernetes Service"
    );
    let slice_ips: BTreeSet<String> = slice
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.clone())
        .collect();
    ensure_eq!(
        slice_ips,
        ep_ips,
        "EndpointSlice addresses vs Endpoints addresses"
    );
    let slice_ports: Vec<(Option<String>, Option<i32>)> = slice
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.port))
        .collect();
    ensure_eq!(
        slice_ports,
        vec![(ep_ports[0].0.clone(), Some(ep_ports[0].1))],
        "EndpointSlice ports vs Endpoints ports"
    );
    Ok(())
}

fn ingress(name: &str, label: &str) -> TestResult<Ingress> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-ingress": label}},
        "spec": {
            "defaultBackend": {"service": {"name": "default-backend", "port": {"number": 8080}}},
            "rules": [{"host": "foo.bar.com", "http": {"paths": [{
                "path": "/foo", "pathType": "Prefix",
                "backend": {"service": {"name": "test-backend", "port": {"number": 8080}}}
            }]}}]
        }
    }))
}

async fn ingress_api(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Ingress>();
    let label = ctx.unique.clone();
    let mut bad = ingress("bad", "bad")?;
    if let Some(rules) = bad.spec.as_mut().and_then(|s| s.rules.as_mut()) {
        rules[0].host = Some("*.*.example.com".into());
    }
    expect_status(
        api.create(&PostParams::default(), &bad).await,
        422,
        "creating an Ingress with host *.*.example.com",
    )?;
    let objects = vec![
        ingress("e2e-ing-1", &label)?,
        ingress("e2e-ing-2", &label)?,
        ingress("e2e-ing-3", &label)?,
    ];
    round_trip(&api, objects, &format!("e2e-ingress={label}")).await?;

    let name = "e2e-ing-status";
    api.create(&PostParams::default(), &ingress(name, "status")?)
        .await
        .step("creating an Ingress for status")?;
    let got = patch_status(
        &api,
        name,
        json!({"metadata": {"annotations": {"e2e-status": "patched"}},
               "status": {"loadBalancer": {"ingress": [{"ip": "169.1.1.1"}]}}}),
    )
    .await?;
    ensure_eq!(
        pointer(&got, "/status/loadBalancer/ingress/0/ip"),
        json!("169.1.1.1"),
        "status.loadBalancer after a status patch"
    );
    let mut body = api.get_status(name).await.step("GET of the status")?;
    if let Some(spec) = body.spec.as_mut() {
        spec.default_backend = None;
    }
    body.status = Some(from_json(
        json!({"loadBalancer": {"ingress": [{"ip": "169.1.1.2"}]}}),
    )?);
    let replaced = as_json(
        &api.replace_status(name, &PostParams::default(), &body)
            .await
            .step("updating the status")?,
    )?;
    ensure_eq!(
        pointer(&replaced, "/status/loadBalancer/ingress/0/ip"),
        json!("169.1.1.2"),
        "status.loadBalancer after a status update"
    );
    ensure!(
        pointer(&replaced, "/spec/defaultBackend").is_object(),
        "a status update removed spec.defaultBackend"
    );
    Ok(())
}

async fn ingressclass_api(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<IngressClass>();
    let label = ctx.unique.clone();
    let names = cluster_names::<IngressClass>(&ctx, "e2e-ic", 3);
    let objects = names
        .iter()
        .map(|n| {
            from_json(json!({
                "metadata": {"name": n, "labels": {"e2e-ingressclass": label}},
                "spec": {"controller": "example.com/e2e-controller"}
            }))
        })
        .collect::<TestResult<Vec<IngressClass>>>()?;
    let immutable = format!("e2e-ic-{}-immutable", ctx.unique);
    ctx.delete_after::<IngressClass>(&immutable);
    let mut ic: IngressClass = from_json(json!({
        "metadata": {"name": immutable},
        "spec": {"controller": "example.com/e2e-controller"}
    }))?;
    let created = api
        .create(&PostParams::default(), &ic)
        .await
        .step("creating an IngressClass")?;
    ic.metadata.resource_version = created.metadata.resource_version;
    if let Some(spec) = ic.spec.as_mut() {
        spec.controller = Some("example.com/other".into());
    }
    expect_status(
        api.replace(&immutable, &PostParams::default(), &ic).await,
        422,
        "changing spec.controller of an IngressClass",
    )?;
    round_trip(&api, objects, &format!("e2e-ingressclass={label}")).await?;
    Ok(())
}

// ---------------------------------------------------------------- sig-auth

/// A PEM certificate request (EC P-256, CN=e2e-csr), base64 as in the API.
const CSR_PEM_BASE64: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0KTUlIYU1JR0NBZ0VBTUNBeEVEQU9CZ05WQkFNTUIyVXlaUzFqYzNJeEREQUtCZ05WQkFvTUEyVXlaVEJaTUJNRwpCeXFHU000OUFnRUdDQ3FHU000OUF3RUhBMElBQkZsZTY1V2pub1RDR21qREcrZzA1Q09JWnN1NzYybGwxQ0J5CkMvT2dib0FtOFVHSjBDYkExZkY4a1hRYWs2d2tQMGxsRlAzSG1EL1NmOXhoRFNtRHM0U2dBREFLQmdncWhrak8KUFFRREFnTkhBREJFQWlBdWFyL1FHaEpvdzVGaXFMRTNjWjlLaFp4MlRieW5tRHV1UTlOTUovNWZJd0lnTGpQVQpwN1NuSy81MHJUd3FObnFBNDlwT2ZPYUxKVmR1b2xsMDZOcnQ4aUE9Ci0tLS0tRU5EIENFUlRJRklDQVRFIFJFUVVFU1QtLS0tLQo=";

fn csr(name: &str, label: &str, signer: &str) -> TestResult<CertificateSigningRequest> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-csr": label}},
        "spec": {
            "request": CSR_PEM_BASE64,
            "signerName": signer,
            "usages": ["digital signature", "key encipherment", "client auth"]
        }
    }))
}

async fn csr_api(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<CertificateSigningRequest>();
    let label = ctx.unique.clone();
    let signer = format!("e2e.example.com/signer-{}", ctx.unique);
    let names = cluster_names::<CertificateSigningRequest>(&ctx, "e2e-csr", 3);
    let garbage_name = format!("e2e-csr-{}-garbage", ctx.unique);
    ctx.delete_after::<CertificateSigningRequest>(&garbage_name);
    let mut garbage = csr(&garbage_name, "bad", &signer)?;
    garbage.spec.request = k8s_openapi::ByteString(b"not a PEM request".to_vec());
    expect_status(
        api.create(&PostParams::default(), &garbage).await,
        422,
        "creating a CSR whose request is not PEM",
    )?;

    // Approval and status subresources on one CSR.
    let name = format!("e2e-csr-{}-approval", ctx.unique);
    ctx.delete_after::<CertificateSigningRequest>(&name);
    let created = api
        .create(&PostParams::default(), &csr(&name, "approval", &signer)?)
        .await
        .step("creating a CSR")?;
    ensure!(
        created
            .spec
            .username
            .as_deref()
            .is_some_and(|u| !u.is_empty()),
        "spec.username not filled in from the requesting user"
    );
    let approval = json!({"status": {"conditions": [{
        "type": "Approved", "status": "True", "reason": "E2E", "message": "approved by the e2e test"
    }]}});
    let mut body = created.clone();
    body.status = Some(from_json(approval["status"].clone())?);
    let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/approval");
    let resp = ctx
        .raw(
            http::Method::PUT,
            &path,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            Some(serde_json::to_vec(&body).step("encoding the approval")?),
        )
        .await?;
    ensure_eq!(
        resp.status.as_u16(),
        200,
        "PUT {path} (body {})",
        truncate(&resp.text(), 200)
    );
    let approved: Value = resp.json("approval answer")?;
    ensure_eq!(
        pointer(&approved, "/status/conditions/0/type"),
        json!("Approved"),
        "condition after approval"
    );
    ensure!(
        pointer(&approved, "/status/conditions/0/lastUpdateTime").is_string(),
        "approval condition without lastUpdateTime"
    );
    let got = patch_status(
        &api,
        &name,
        json!({"status": {"conditions": [
            {"type": "Approved", "status": "True", "reason": "E2E", "message": "approved by the e2e test"},
            {"type": "Failed", "status": "True", "reason": "E2EFailed", "message": "set by the e2e test"}
        ]}}),
    )
    .await?;
    let types: Vec<Value> = got["status"]["conditions"]
        .as_array()
        .map(|c| c.iter().map(|c| c["type"].clone()).collect())
        .unwrap_or_default();
    ensure_eq!(
        types,
        vec![json!("Approved"), json!("Failed")],
        "condition types after a status patch"
    );

    let objects = names
        .iter()
        .map(|n| csr(n, &label, &signer))
        .collect::<TestResult<Vec<_>>>()?;
    round_trip(&api, objects, &format!("e2e-csr={label}")).await?;
    Ok(())
}

// ---------------------------------------------------------------- sig-api-machinery

async fn flowschema_api(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<FlowSchema>();
    let label = ctx.unique.clone();
    let names = cluster_names::<FlowSchema>(&ctx, "e2e-fs", 3);
    let objects = names
        .iter()
        .map(|n| {
            from_json(json!({
                "metadata": {"name": n, "labels": {"e2e-fs": label}},
                "spec": {
                    "matchingPrecedence": 10000,
                    "priorityLevelConfiguration": {"name": "global-default"},
                    "distinguisherMethod": {"type": "ByUser"},
                    "rules": [{
                        "subjects": [{"kind": "User", "user": {"name": "e2e-nobody"}}],
                        "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/e2e"]}]
                    }]
                }
            }))
        })
        .collect::<TestResult<Vec<FlowSchema>>>()?;
    let created = round_trip(&api, objects.clone(), &format!("e2e-fs={label}")).await?;
    ensure_eq!(
        pointer(
            &as_json(&created[0])?,
            "/spec/priorityLevelConfiguration/name"
        ),
        json!("global-default"),
        "priorityLevelConfiguration as created"
    );
    let mut bad = objects[0].clone();
    bad.metadata.name = Some(format!("e2e-fs-{}-bad", ctx.unique));
    bad.metadata.labels = None;
    if let Some(spec) = bad.spec.as_mut() {
        spec.matching_precedence = Some(100_000);
    }
    ctx.delete_after::<FlowSchema>(bad.metadata.name.as_deref().unwrap_or_default());
    expect_status(
        api.create(&PostParams::default(), &bad).await,
        422,
        "creating a FlowSchema with matchingPrecedence 100000",
    )?;

    let name = format!("e2e-fs-{}-status", ctx.unique);
    ctx.delete_after::<FlowSchema>(&name);
    let mut fs = objects[0].clone();
    fs.metadata.name = Some(name.clone());
    fs.metadata.labels = None;
    api.create(&PostParams::default(), &fs)
        .await
        .step("creating a FlowSchema for status")?;
    let got = patch_status(
        &api,
        &name,
        json!({"status": {"conditions": [{"type": "StatusPatched", "status": "True", "reason": "E2E"}]}}),
    )
    .await?;
    ensure!(
        got["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "StatusPatched")),
        "status condition missing after a status patch: {}",
        truncate(&got["status"].to_string(), 300)
    );
    Ok(())
}

async fn prioritylevel_api(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<PriorityLevelConfiguration>();
    let label = ctx.unique.clone();
    let names = cluster_names::<PriorityLevelConfiguration>(&ctx, "e2e-plc", 3);
    let objects = names
        .iter()
        .map(|n| {
            from_json(json!({
                "metadata": {"name": n, "labels": {"e2e-plc": label}},
                "spec": {"type": "Limited", "limited": {
                    "nominalConcurrencyShares": 2,
                    "limitResponse": {"type": "Reject"}
                }}
            }))
        })
        .collect::<TestResult<Vec<PriorityLevelConfiguration>>>()?;
    let created = round_trip(&api, objects.clone(), &format!("e2e-plc={label}")).await?;
    ensure_eq!(
        pointer(
            &as_json(&created[0])?,
            "/spec/limited/nominalConcurrencyShares"
        ),
        json!(2),
        "nominalConcurrencyShares as created"
    );
    ensure_eq!(
        pointer(&as_json(&created[0])?, "/spec/limited/lendablePercent"),
        json!(0),
        "defaulted spec.limited.lendablePercent"
    );
    let bad_name = format!("e2e-plc-{}-bad", ctx.unique);
    ctx.delete_after::<PriorityLevelConfiguration>(&bad_name);
    let bad: PriorityLevelConfiguration = from_json(json!({
        "metadata": {"name": bad_name},
        "spec": {"type": "Limited"}
    }))?;
    expect_status(
        api.create(&PostParams::default(), &bad).await,
        422,
        "creating a Limited PriorityLevelConfiguration without spec.limited",
    )?;

    let name = format!("e2e-plc-{}-status", ctx.unique);
    ctx.delete_after::<PriorityLevelConfiguration>(&name);
    let mut plc = objects[0].clone();
    plc.metadata.name = Some(name.clone());
    plc.metadata.labels = None;
    api.create(&PostParams::default(), &plc)
        .await
        .step("creating a PriorityLevelConfiguration for status")?;
    let got = patch_status(
        &api,
        &name,
        json!({"status": {"conditions": [{"type": "StatusPatched", "status": "True", "reason": "E2E"}]}}),
    )
    .await?;
    ensure!(
        got["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "StatusPatched")),
        "status condition missing after a status patch: {}",
        truncate(&got["status"].to_string(), 300)
    );
    Ok(())
}

fn vap(name: &str, label: &str) -> TestResult<ValidatingAdmissionPolicy> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-vap": label}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["apps"], "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]
            }]},
            "validations": [{"expression": "object.spec.replicas <= 100"}]
        }
    }))
}

async fn vap_api(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<ValidatingAdmissionPolicy>();
    let label = ctx.unique.clone();
    let names = cluster_names::<ValidatingAdmissionPolicy>(&ctx, "e2e-vap", 3);
    let objects = names
        .iter()
        .map(|n| vap(n, &label))
        .collect::<TestResult<Vec<_>>>()?;
    let created = round_trip(&api, objects, &format!("e2e-vap={label}")).await?;
    let spec = pointer(&as_json(&created[0])?, "/spec");
    ensure_eq!(
        pointer(&spec, "/matchConstraints/matchPolicy"),
        json!("Equivalent"),
        "defaulted matchConstraints.matchPolicy"
    );
    ensure_eq!(
        pointer(&spec, "/matchConstraints/namespaceSelector"),
        json!({}),
        "defaulted matchConstraints.namespaceSelector"
    );
    ensure_eq!(
        pointer(&spec, "/matchConstraints/resourceRules/0/scope"),
        json!("*"),
        "defaulted resourceRules[0].scope"
    );

    let name = format!("e2e-vap-{}-status", ctx.unique);
    ctx.delete_after::<ValidatingAdmissionPolicy>(&name);
    api.create(&PostParams::default(), &vap(&name, "status")?)
        .await
        .step("creating a policy for status")?;
    let got = patch_status(
        &api,
        &name,
        json!({"status": {"conditions": [{
            "type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "set by e2e",
            "lastTransitionTime": "2024-01-01T00:00:00Z"
        }]}}),
    )
    .await?;
    ensure!(
        got["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "StatusUpdate")),
        "status condition missing after a status patch: {}",
        truncate(&got["status"].to_string(), 300)
    );
    Ok(())
}

async fn vapb_api(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<ValidatingAdmissionPolicyBinding>();
    let label = ctx.unique.clone();
    let names = cluster_names::<ValidatingAdmissionPolicyBinding>(&ctx, "e2e-vapb", 3);
    let objects = names
        .iter()
        .map(|n| {
            from_json(json!({
                "metadata": {"name": n, "labels": {"e2e-vapb": label}},
                "spec": {"policyName": format!("e2e-policy-{label}"), "validationActions": ["Deny"]}
            }))
        })
        .collect::<TestResult<Vec<ValidatingAdmissionPolicyBinding>>>()?;
    let created = round_trip(&api, objects, &format!("e2e-vapb={label}")).await?;
    ensure_eq!(
        pointer(&as_json(&created[0])?, "/spec/validationActions"),
        json!(["Deny"]),
        "validationActions as created"
    );
    let bad_name = format!("e2e-vapb-{}-bad", ctx.unique);
    ctx.delete_after::<ValidatingAdmissionPolicyBinding>(&bad_name);
    let bad: ValidatingAdmissionPolicyBinding = from_json(json!({
        "metadata": {"name": bad_name},
        "spec": {"policyName": "e2e-policy", "validationActions": []}
    }))?;
    expect_status(
        api.create(&PostParams::default(), &bad).await,
        422,
        "creating a binding with no validationActions",
    )?;
    Ok(())
}

// ---------------------------------------------------------------- sig-storage

fn pv(name: &str, label: &str) -> TestResult<PersistentVolume> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-pv": label}},
        "spec": {
            "capacity": {"storage": "3M"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": format!("e2e-manual-{label}"),
            "hostPath": {"path": "/tmp/e2e"}
        }
    }))
}

fn pvc(name: &str, label: &str) -> TestResult<PersistentVolumeClaim> {
    from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-pvc": label}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": format!("e2e-manual-{label}"),
            "resources": {"requests": {"storage": "1M"}}
        }
    }))
}

async fn pv_pvc_lifecycle(ctx: Ctx) -> TestResult {
    let label = ctx.unique.clone();
    let pvs = ctx.cluster_api::<PersistentVolume>();
    let names = cluster_names::<PersistentVolume>(&ctx, "e2e-pv", 2);
    let objects = names
        .iter()
        .map(|n| pv(n, &label))
        .collect::<TestResult<Vec<_>>>()?;
    let created = round_trip(&pvs, objects, &format!("e2e-pv={label}")).await?;
    let spec = pointer(&as_json(&created[0])?, "/spec");
    ensure_eq!(
        pointer(&spec, "/persistentVolumeReclaimPolicy"),
        json!("Retain"),
        "defaulted persistentVolumeReclaimPolicy of a static PV"
    );
    ensure_eq!(
        pointer(&spec, "/volumeMode"),
        json!("Filesystem"),
        "defaulted volumeMode"
    );
    let mut bad = pv(&format!("e2e-pv-{label}-bad"), "bad")?;
    if let Some(spec) = bad.spec.as_mut() {
        spec.access_modes = None;
    }
    ctx.delete_after::<PersistentVolume>(bad.metadata.name.as_deref().unwrap_or_default());
    expect_status(
        pvs.create(&PostParams::default(), &bad).await,
        422,
        "creating a PV with no accessModes",
    )?;

    let pvcs = ctx.api::<PersistentVolumeClaim>();
    let objects = vec![pvc("e2e-pvc-1", &label)?, pvc("e2e-pvc-2", &label)?];
    let created = round_trip(&pvcs, objects, &format!("e2e-pvc={label}")).await?;
    ensure_eq!(
        pointer(&as_json(&created[0])?, "/spec/volumeMode"),
        json!("Filesystem"),
        "defaulted PVC volumeMode"
    );
    let name = "e2e-pvc-immutable";
    let claim = pvcs
        .create(&PostParams::default(), &pvc(name, "immutable")?)
        .await
        .step("creating a PVC")?;
    let mut body = claim;
    if let Some(spec) = body.spec.as_mut() {
        spec.access_modes = Some(vec!["ReadWriteMany".into()]);
    }
    expect_status(
        pvcs.replace(name, &PostParams::default(), &body).await,
        422,
        "changing spec.accessModes of a PVC",
    )?;
    Ok(())
}

async fn pv_pvc_status(ctx: Ctx) -> TestResult {
    let label = ctx.unique.clone();
    let pvs = ctx.cluster_api::<PersistentVolume>();
    let name = format!("e2e-pv-{label}-status");
    ctx.delete_after::<PersistentVolume>(&name);
    pvs.create(&PostParams::default(), &pv(&name, &label)?)
        .await
        .step("creating a PV")?;
    let got = patch_status(
        &pvs,
        &name,
        json!({"spec": {"capacity": {"storage": "5M"}},
               "status": {"phase": "Available", "message": "patched by e2e", "reason": "E2E"}}),
    )
    .await?;
    ensure_eq!(
        pointer(&got, "/status/message"),
        json!("patched by e2e"),
        "PV status.message after a status patch"
    );
    ensure_eq!(
        pointer(&got, "/spec/capacity/storage"),
        json!("3M"),
        "PV capacity after a status patch that tried to change it"
    );
    let mut body = pvs.get_status(&name).await.step("GET of the PV status")?;
    if let Some(status) = body.status.as_mut() {
        status.message = Some("updated by e2e".into());
    }
    let replaced = as_json(
        &pvs.replace_status(&name, &PostParams::default(), &body)
            .await
            .step("updating the PV status")?,
    )?;
    ensure_eq!(
        pointer(&replaced, "/status/message"),
        json!("updated by e2e"),
        "PV status.message after a status update"
    );

    let pvcs = ctx.api::<PersistentVolumeClaim>();
    let claim = "e2e-pvc-status";
    pvcs.create(&PostParams::default(), &pvc(claim, &label)?)
        .await
        .step("creating a PVC")?;
    let got = patch_status(
        &pvcs,
        claim,
        json!({"status": {"conditions": [{"type": "Resizing", "status": "True", "reason": "E2E"}]}}),
    )
    .await?;
    ensure_eq!(
        pointer(&got, "/status/conditions/0/type"),
        json!("Resizing"),
        "PVC condition after a status patch"
    );
    let mut body = pvcs.get_status(claim).await.step("GET of the PVC status")?;
    body.status.get_or_insert_with(Default::default).conditions = Some(vec![from_json(
        json!({"type": "FileSystemResizePending", "status": "True", "reason": "E2E"}),
    )?]);
    let replaced = as_json(
        &pvcs
            .replace_status(claim, &PostParams::default(), &body)
            .await
            .step("updating the PVC status")?,
    )?;
    ensure_eq!(
        pointer(&replaced, "/status/conditions/0/type"),
        json!("FileSystemResizePending"),
        "PVC condition after a status update"
    );
    Ok(())
}
