//! Pod priority: the built-in PriorityClasses, PriorityClass validation,
//! and the Priority admission plugin (priority and preemptionPolicy from
//! the class or the global default, upstream's 403s).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

async fn start() -> (Client, apiserver::testing::TestServer, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = apiserver::testing::TestServer::start(dir.path())
        .await
        .expect("start");
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    (Client::try_from(config).expect("client"), server, dir)
}

fn error(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn class(client: &Client, body: Value) -> kube::Result<PriorityClass> {
    Api::<PriorityClass>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(body).unwrap(),
        )
        .await
}

async fn pod(client: &Client, name: &str, spec: Value) -> kube::Result<Pod> {
    let mut p = json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    if let (Some(s), Some(extra)) = (p["spec"].as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &serde_json::from_value(p).unwrap())
        .await
}

#[tokio::test]
async fn classes_and_pod_priority() {
    let (client, _server, _dir) = start().await;
    let critical = Api::<PriorityClass>::all(client.clone())
        .get("system-cluster-critical")
        .await
        .expect("built-in class");
    assert_eq!(critical.value, 2_000_000_000);

    let (code, message) = error(
        class(
            &client,
            json!({"metadata": {"name": "huge"}, "value": 1_000_000_001}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.ends_with(
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        ),
        "{message}"
    );
    let high = class(
        &client,
        json!({"metadata": {"name": "high"}, "value": 1000}),
    )
    .await
    .expect("class");
    assert_eq!(
        high.preemption_policy.as_deref(),
        Some("PreemptLowerPriority")
    );

    // No default class: priority 0.
    let plain = pod(&client, "plain", json!({})).await.expect("pod");
    let spec = plain.spec.unwrap();
    assert_eq!(spec.priority, Some(0));
    assert_eq!(
        spec.preemption_policy.as_deref(),
        Some("PreemptLowerPriority")
    );

    let important = pod(&client, "important", json!({"priorityClassName": "high"}))
        .await
        .expect("pod");
    assert_eq!(important.spec.unwrap().priority, Some(1000));

    let (code, message) = error(
        pod(&client, "lost", json!({"priorityClassName": "nope"}))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (
            403,
            "pods \"lost\" is forbidden: no PriorityClass with name nope was found"
        )
    );
    let (code, message) = error(
        pod(
            &client,
            "forged",
            json!({"priorityClassName": "high", "priority": 5}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert!(message.contains("the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"), "{message}");

    class(
        &client,
        json!({"metadata": {"name": "everyone"}, "value": 7, "globalDefault": true}),
    )
    .await
    .expect("default class");
    let (code, message) = error(
        class(
            &client,
            json!({"metadata": {"name": "also"}, "value": 8, "globalDefault": true}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 403);
    assert!(
        message.ends_with(
            "PriorityClass everyone is already marked as default. Only one default can exist"
        ),
        "{message}"
    );
    let defaulted = pod(&client, "defaulted", json!({})).await.expect("pod");
    let spec = defaulted.spec.unwrap();
    assert_eq!(
        (spec.priority, spec.priority_class_name.as_deref()),
        (Some(7), Some("everyone"))
    );
}
