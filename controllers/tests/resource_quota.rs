//! The ResourceQuota controller with the API server's quota admission, in
//! process: scoped quotas count only the pods their scopes cover, a create
//! past a limit is refused with upstream's message, and usage is released
//! when objects go.

mod common;

use k8s_openapi::api::core::v1::{Namespace, Pod, ResourceQuota, Service};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use common::wait_for;

fn used(q: &ResourceQuota, name: &str) -> Option<String> {
    q.status
        .as_ref()?
        .used
        .as_ref()?
        .get(name)
        .map(|v| v.0.clone())
}

async fn wait_used(quotas: &Api<ResourceQuota>, quota: &str, want: &[(&str, &str)]) {
    wait_for(20, &format!("{quota} used {want:?}"), || async {
        let q = quotas.get(quota).await.ok()?;
        want.iter()
            .all(|(k, v)| used(&q, k).as_deref() == Some(*v))
            .then_some(())
    })
    .await
}

fn pod(name: &str, deadline: Option<i64>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "activeDeadlineSeconds": deadline,
            "containers": [{"name": "c", "image": "busybox", "resources": {
                "requests": {"cpu": "500m", "memory": "200Mi"},
                "limits": {"cpu": "1", "memory": "400Mi"}
            }}]
        }
    }))
    .expect("pod")
}

#[tokio::test]
async fn scoped_quotas_count_their_pods_and_admission_enforces_limits() {
    let h = common::start(&["resourcequota"]).await;
    let quotas: Api<ResourceQuota> = Api::namespaced(h.client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    for (name, scope) in [
        ("terminating", "Terminating"),
        ("long-running", "NotTerminating"),
    ] {
        let q = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"hard": {"pods": "1", "requests.cpu": "1", "limits.memory": "1Gi"},
                     "scopes": [scope]}
        }))
        .expect("quota");
        quotas
            .create(&PostParams::default(), &q)
            .await
            .expect("create quota");
        wait_used(&quotas, name, &[("pods", "0"), ("requests.cpu", "0")]).await;
    }

    pods.create(&PostParams::default(), &pod("server", None))
        .await
        .expect("long-running pod");
    wait_used(
        &quotas,
        "long-running",
        &[
            ("pods", "1"),
            ("requests.cpu", "500m"),
            ("limits.memory", "400Mi"),
        ],
    )
    .await;
    wait_used(&quotas, "terminating", &[("pods", "0")]).await;

    // A second long-running pod passes the `pods` limit of its quota.
    let refused = pods
        .create(&PostParams::default(), &pod("second", None))
        .await
        .expect_err("over quota");
    match refused {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.reason, "Forbidden");
            assert_eq!(
                s.message,
                "pods \"second\" is forbidden: exceeded quota: long-running, \
                 requested: pods=1, used: pods=1, limited: pods=1"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
    // A terminating pod is charged to the other quota only.
    pods.create(&PostParams::default(), &pod("batch", Some(600)))
        .await
        .expect("terminating pod");
    wait_used(
        &quotas,
        "terminating",
        &[("pods", "1"), ("requests.cpu", "500m")],
    )
    .await;
    wait_used(&quotas, "long-running", &[("pods", "1")]).await;

    // Deleting releases the usage; the refused pod now fits.
    pods.delete("server", &DeleteParams::default())
        .await
        .expect("delete");
    wait_used(
        &quotas,
        "long-running",
        &[("pods", "0"), ("requests.cpu", "0")],
    )
    .await;
    pods.create(&PostParams::default(), &pod("second", None))
        .await
        .expect("fits after the release");
}

#[tokio::test]
async fn unscoped_quota_counts_services_and_node_ports() {
    let h = common::start(&["resourcequota"]).await;
    // Not `default`: it holds the `kubernetes` Service.
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "svc-quota"}})).expect("namespace");
    Api::<Namespace>::all(h.client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let quotas: Api<ResourceQuota> = Api::namespaced(h.client.clone(), "svc-quota");
    let services: Api<Service> = Api::namespaced(h.client.clone(), "svc-quota");
    let q = serde_json::from_value(json!({
        "metadata": {"name": "svc"},
        "spec": {"hard": {"services": "5", "services.nodeports": "1", "services.loadbalancers": "1"}}
    }))
    .expect("quota");
    quotas
        .create(&PostParams::default(), &q)
        .await
        .expect("create quota");
    wait_used(&quotas, "svc", &[("services.nodeports", "0")]).await;
    let svc = |name: &str, type_: &str| -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"type": type_, "ports": [{"port": 80}]}
        }))
        .expect("service")
    };
    services
        .create(&PostParams::default(), &svc("np", "NodePort"))
        .await
        .expect("node port service");
    let refused = services
        .create(&PostParams::default(), &svc("lb", "LoadBalancer"))
        .await
        .expect_err("the load balancer needs a node port too");
    assert!(
        matches!(&refused, kube::Error::Api(s) if s.code == 403
            && s.message.contains("exceeded quota: svc, requested: services.nodeports=1")),
        "{refused}"
    );
    wait_used(
        &quotas,
        "svc",
        &[
            ("services", "1"),
            ("services.nodeports", "1"),
            ("services.loadbalancers", "0"),
        ],
    )
    .await;
}
