//! Endpoints and EndpointSlices from a Service's selector and its pods'
//! readiness, against an in-process API server. The test plays the
//! kubelet's part: it writes the pods' IP and Ready condition.

mod common;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use common::wait_for;

async fn pod(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
            "ports": [{"name": "http", "containerPort": 8080}]}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &p).await.expect("pod");
    let status = json!({"status": {"phase": "Running", "podIP": ip,
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("status");
}

#[tokio::test]
async fn service_endpoints_follow_ready_pods() {
    let h = common::start(&["endpointslice"]).await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let services: Api<Service> = Api::namespaced(h.client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))
    .expect("svc");
    services
        .create(&PostParams::default(), &svc)
        .await
        .expect("service");
    pod(&pods, "a", "10.0.0.1", true).await;
    pod(&pods, "b", "10.0.0.2", false).await;

    let endpoints: Api<Endpoints> = Api::namespaced(h.client.clone(), "default");
    let subset = wait_for(
        20,
        "Endpoints with one ready and one not-ready address",
        || async {
            let ep = endpoints.get_opt("web").await.ok()??;
            let s = ep.subsets?.into_iter().next()?;
            (s.addresses.as_ref()?.len() == 1 && s.not_ready_addresses.as_ref()?.len() == 1)
                .then_some(s)
        },
    )
    .await;
    let ready = &subset.addresses.as_ref().expect("addresses")[0];
    assert_eq!(ready.ip, "10.0.0.1");
    assert_eq!(ready.node_name.as_deref(), Some("n1"));
    assert_eq!(
        ready.target_ref.as_ref().and_then(|r| r.name.as_deref()),
        Some("a")
    );
    let port = &subset.ports.as_ref().expect("ports")[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), 8080),
        "named targetPort resolved"
    );

    let slices: Api<EndpointSlice> = Api::namespaced(h.client.clone(), "default");
    let slice = wait_for(20, "an EndpointSlice with both pods", || async {
        let list = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
            .await
            .ok()?;
        let s = list.items.into_iter().next()?;
        (s.endpoints.len() == 2).then_some(s)
    })
    .await;
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("endpointslice.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    assert_eq!(slice.address_type, "IPv4");
    let by_ip = |ip: &str| {
        slice
            .endpoints
            .iter()
            .find(|e| e.addresses == vec![ip.to_string()])
            .and_then(|e| e.conditions.clone())
            .expect("endpoint")
    };
    assert_eq!(by_ip("10.0.0.1").ready, Some(true));
    assert_eq!(by_ip("10.0.0.2").ready, Some(false));
    assert_eq!(by_ip("10.0.0.2").terminating, Some(false));

    // b becomes ready: both addresses are ready.
    pods.patch_status(
        "b",
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})),
    )
    .await
    .expect("ready");
    wait_for(20, "two ready addresses", || async {
        let s = endpoints
            .get_opt("web")
            .await
            .ok()??
            .subsets?
            .into_iter()
            .next()?;
        (s.addresses?.len() == 2 && s.not_ready_addresses.is_none()).then_some(())
    })
    .await;
    // The API server's own Service is left alone.
    let kubernetes = endpoints
        .get("kubernetes")
        .await
        .expect("kubernetes endpoints");
    assert!(kubernetes.subsets.is_some());
}
