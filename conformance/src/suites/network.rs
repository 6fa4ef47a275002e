//! sig-network: Service and Endpoints API behaviour that needs no pods.

use k8s_openapi::api::core::v1::{Endpoints, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestResult, expect_status, from_json};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-network] Services should provide secure master service [Conformance]",
            |c| Box::pin(master_service(c)),
        ),
        TestCase::upstream(
            "[sig-network] Services should find a service from listing all namespaces [Conformance]",
            |c| Box::pin(find_in_all_namespaces(c)),
        ),
        TestCase::upstream(
            "[sig-network] Services should delete a collection of services [Conformance]",
            |c| Box::pin(delete_collection(c)),
        ),
        TestCase::upstream(
            "[sig-network] Services should test the lifecycle of an Endpoint [Conformance]",
            |c| Box::pin(endpoint_lifecycle(c)),
        ),
    ]
}

async fn master_service(ctx: Ctx) -> TestResult {
    let api: kube::Api<Service> = kube::Api::namespaced(ctx.client.clone(), "default");
    let svc = api
        .get("kubernetes")
        .await
        .step("reading default/kubernetes")?;
    let spec = svc.spec.unwrap_or_default();
    ensure!(
        spec.cluster_ip
            .as_deref()
            .is_some_and(|ip| !ip.is_empty() && ip != "None"),
        "kubernetes service has no cluster IP"
    );
    let ports = spec.ports.unwrap_or_default();
    ensure!(
        ports
            .iter()
            .any(|p| p.name.as_deref() == Some("https") && p.port == 443),
        "kubernetes service lacks port https/443: {ports:?}"
    );
    Ok(())
}

async fn find_in_all_namespaces(ctx: Ctx) -> TestResult {
    let list = ctx
        .all_api::<Service>()
        .list(&ListParams::default())
        .await
        .step("listing services in all namespaces")?;
    ensure!(
        list.items
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some("kubernetes")
                && s.metadata.namespace.as_deref() == Some("default")),
        "default/kubernetes not in the list of all services"
    );
    Ok(())
}

fn service(name: &str, labels: serde_json::Value) -> TestResult<Service> {
    from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"type": "ClusterIP", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}
    }))
}

async fn delete_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Service>();
    for (name, set) in [
        ("e2e-svc-a", "true"),
        ("e2e-svc-b", "true"),
        ("e2e-svc-c", "false"),
    ] {
        api.create(
            &PostParams::default(),
            &service(name, json!({"e2e-test-service": set}))?,
        )
        .await
        .step(format!("creating {name}"))?;
    }
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing services")?;
    ensure_eq!(list.items.len(), 3, "services in the namespace");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("e2e-test-service=true"),
    )
    .await
    .step("deleting services by collection")?;
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing services")?;
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    ensure_eq!(
        names,
        vec!["e2e-svc-c".to_string()],
        "services left after deletecollection"
    );
    Ok(())
}

async fn endpoint_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Endpoints>();
    let ep: Endpoints = from_json(json!({
        "metadata": {"name": "testservice", "labels": {"test-endpoint-static": "true"}},
        "subsets": [{"addresses": [{"ip": "10.0.0.24"}], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]
    }))?;
    api.create(&PostParams::default(), &ep)
        .await
        .step("creating endpoints")?;
    let list = ctx
        .all_api::<Endpoints>()
        .list(&ListParams::default().labels("test-endpoint-static=true"))
        .await
        .step("listing endpoints in all namespaces")?;
    ensure!(
        list.items
            .iter()
            .any(|e| e.metadata.namespace.as_deref() == Some(ctx.ns.as_str())),
        "endpoints not found by label"
    );
    let mut body = api.get("testservice").await.step("reading endpoints")?;
    body.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("test-service".into(), "updated".into());
    api.replace("testservice", &PostParams::default(), &body)
        .await
        .step("updating endpoints")?;
    let got = api.get("testservice").await.step("reading endpoints")?;
    ensure_eq!(
        got.metadata
            .labels
            .unwrap_or_default()
            .get("test-service")
            .map(String::as_str),
        Some("updated"),
        "label after update"
    );
    api.patch(
        "testservice",
        &PatchParams::default(),
        &Patch::Strategic(json!({
            "metadata": {"labels": {"test-service": "patched"}},
            "subsets": [{"addresses": [{"ip": "10.0.0.25"}], "ports": [{"name": "http-test", "port": 8080, "protocol": "TCP"}]}]
        })),
    )
    .await
    .step("patching endpoints")?;
    let got = api.get("testservice").await.step("reading endpoints")?;
    let subset = got
        .subsets
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_default();
    let ip = subset
        .addresses
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|a| a.ip);
    ensure_eq!(ip.as_deref(), Some("10.0.0.25"), "address after patch");
    let port = subset
        .ports
        .unwrap_or_default()
        .into_iter()
        .next()
        .map(|p| p.port);
    ensure_eq!(port, Some(8080), "port after patch");
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("test-endpoint-static=true"),
    )
    .await
    .step("deleting endpoints by collection")?;
    expect_status(
        api.get("testservice").await,
        404,
        "GET of the deleted endpoints",
    )?;
    Ok(())
}
