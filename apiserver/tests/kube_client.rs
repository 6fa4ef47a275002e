//! The API per verb and per error, driven by the `kube` crate against an
//! in-process server (`apiserver::testing::TestServer`): what a controller
//! author sees. Every error test also checks that the refused request
//! changed nothing.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

struct Harness {
    client: Client,
    server: apiserver::testing::TestServer,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = apiserver::testing::TestServer::start(dir.path())
        .await
        .expect("start the API server");
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("read kubeconfig");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    // The tests look at 429s (evictions); kube retries them by default.
    config.default_retry = false;
    let client = Client::try_from(config).expect("client");
    Harness {
        client,
        server,
        _dir: dir,
    }
}

fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    }))
    .expect("configmap")
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_get_list_update_delete() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");

    let created = cms
        .create(&PostParams::default(), &configmap("one", &[("a", "1")]))
        .await
        .expect("create");
    let meta = &created.metadata;
    assert!(meta.uid.is_some(), "uid set");
    assert!(meta.creation_timestamp.is_some(), "creationTimestamp set");
    assert!(meta.resource_version.is_some(), "resourceVersion set");

    let generated = cms
        .create(&PostParams::default(), &{
            let mut cm = configmap("", &[]);
            cm.metadata.name = None;
            cm.metadata.generate_name = Some("gen-".into());
            cm
        })
        .await
        .expect("create with generateName");
    let generated_name = generated.metadata.name.clone().expect("name");
    assert!(generated_name.starts_with("gen-") && generated_name.len() == 9);

    let got = cms.get("one").await.expect("get");
    assert_eq!(
        got.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("1")
    );

    let listed = cms
        .list(&ListParams::default().labels("app=demo"))
        .await
        .expect("list");
    let names: Vec<_> = listed
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, [generated_name.clone(), "one".into()]);

    let mut changed = got.clone();
    changed.data = Some(BTreeMap::from([("a".into(), "2".into())]));
    let updated = cms
        .replace("one", &PostParams::default(), &changed)
        .await
        .expect("update");
    assert_ne!(
        updated.metadata.resource_version,
        got.metadata.resource_version
    );

    cms.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = api_error(cms.get("one").await.expect_err("deleted object"));
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));
    assert_eq!(gone.message, "configmaps \"one\" not found");
}

#[tokio::test]
async fn paged_list_over_one_snapshot() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    for i in 0..7 {
        cms.create(
            &PostParams::default(),
            &configmap(&format!("page-{i}"), &[]),
        )
        .await
        .expect("create");
    }
    let first = cms
        .list(&ListParams::default().labels("app=demo").limit(3))
        .await
        .expect("first page");
    assert_eq!(first.items.len(), 3);
    let token = first.metadata.continue_.clone().expect("continue token");
    // A write after the first page does not show in later pages.
    cms.create(&PostParams::default(), &configmap("page-late", &[]))
        .await
        .expect("create late");
    let mut names: Vec<String> = first
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let mut next = Some(token);
    while let Some(token) = next {
        let page = cms
            .list(
                &ListParams::default()
                    .labels("app=demo")
                    .limit(3)
                    .continue_token(&token),
            )
            .await
            .expect("next page");
        assert_eq!(
            page.metadata.resource_version,
            first.metadata.resource_version
        );
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        next = page.metadata.continue_.filter(|t| !t.is_empty());
    }
    assert_eq!(
        names,
        (0..7).map(|i| format!("page-{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn watch_sees_added_modified_deleted() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let start = cms.list(&ListParams::default()).await.expect("list");
    let rv = start
        .metadata
        .resource_version
        .expect("list resourceVersion");
    let mut stream = cms
        .watch(&WatchParams::default().labels("app=demo").timeout(30), &rv)
        .await
        .expect("watch")
        .boxed();

    cms.create(&PostParams::default(), &configmap("watched", &[("k", "v")]))
        .await
        .expect("create");
    cms.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .expect("patch");
    cms.delete("watched", &DeleteParams::default())
        .await
        .expect("delete");

    let mut seen = Vec::new();
    while seen.len() < 3 {
        match stream.try_next().await.expect("watch event") {
            Some(WatchEvent::Added(cm)) => seen.push(("ADDED", cm.data)),
            Some(WatchEvent::Modified(cm)) => seen.push(("MODIFIED", cm.data)),
            Some(WatchEvent::Deleted(cm)) => seen.push(("DELETED", cm.data)),
            Some(WatchEvent::Bookmark(_)) => {}
            Some(WatchEvent::Error(e)) => panic!("watch error {e:?}"),
            None => panic!("watch ended early after {seen:?}"),
        }
    }
    let kinds: Vec<_> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    let value = |i: usize| seen[i].1.as_ref().and_then(|d| d.get("k")).cloned();
    assert_eq!(value(1).as_deref(), Some("w"));
}

#[tokio::test]
async fn patch_json_merge_and_strategic() {
    let h = harness().await;
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "a", "image": "busybox:1"},
                    {"name": "b", "image": "busybox:1"}
                ]}
            }
        }
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");

    // Strategic merge: containers merge by name.
    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "b", "image": "busybox:2"}
            ]}}}})),
        )
        .await
        .expect("strategic patch");
    let images: Vec<_> = patched
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .as_ref()
        .expect("pod spec")
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        images,
        [
            ("a".into(), "busybox:1".into()),
            ("b".into(), "busybox:2".into())
        ]
    );
    assert_eq!(
        patched.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );

    // Merge patch: lists are replaced whole.
    let merged = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "busybox:3"}
            ]}}}})),
        )
        .await
        .expect("merge patch");
    let names: Vec<_> = merged
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod spec")
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["c"]);

    // JSON patch with a failing test op: 422, nothing changed.
    let before = deployments.get("web").await.expect("get");
    let refused = api_error(
        deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::<()>::Json(
                    serde_json::from_value(json!([
                        {"op": "test", "path": "/spec/replicas", "value": 9},
                        {"op": "replace", "path": "/spec/replicas", "value": 5}
                    ]))
                    .expect("json patch"),
                ),
            )
            .await
            .expect_err("failing test op"),
    );
    assert_eq!(refused.code, 422);
    let after = deployments.get("web").await.expect("get");
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );

    let replaced = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([
                    {"op": "replace", "path": "/spec/replicas", "value": 5}
                ]))
                .expect("json patch"),
            ),
        )
        .await
        .expect("json patch");
    assert_eq!(replaced.spec.and_then(|s| s.replicas), Some(5));
}

#[tokio::test]
async fn status_and_scale_subresources() {
    let h = harness().await;
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "scaled"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "s"}},
            "template": {"metadata": {"labels": {"app": "s"}},
                         "spec": {"containers": [{"name": "a", "image": "busybox"}]}}
        }
    }))
    .expect("deployment");
    deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");

    // The status subresource changes status only, the main resource never status.
    let with_status = deployments
        .patch_status(
            "scaled",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 7}, "spec": {"replicas": 9}})),
        )
        .await
        .expect("status patch");
    assert_eq!(with_status.status.and_then(|s| s.replicas), Some(7));
    assert_eq!(with_status.spec.and_then(|s| s.replicas), Some(2));

    let scale = deployments.get_scale("scaled").await.expect("get scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(2));
    deployments
        .patch_scale(
            "scaled",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("patch scale");
    let now = deployments.get("scaled").await.expect("get");
    assert_eq!(now.spec.and_then(|s| s.replicas), Some(4));
}

#[tokio::test]
async fn delete_collection_and_dry_run() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let dry_created = cms
        .create(&dry, &configmap("dry", &[]))
        .await
        .expect("dry-run create");
    assert_eq!(dry_created.metadata.name.as_deref(), Some("dry"));
    let missing = api_error(cms.get("dry").await.expect_err("dry run stores nothing"));
    assert_eq!(missing.code, 404);

    for name in ["x1", "x2", "x3"] {
        cms.create(&PostParams::default(), &configmap(name, &[]))
            .await
            .expect("create");
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=demo"),
    )
    .await
    .expect("delete collection");
    let left = cms
        .list(&ListParams::default().labels("app=demo"))
        .await
        .expect("list");
    assert!(left.items.is_empty(), "left: {:?}", left.items.len());
}

#[tokio::test]
async fn errors_are_upstream_status_objects_and_change_nothing() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let original = cms
        .create(&PostParams::default(), &configmap("keep", &[("v", "1")]))
        .await
        .expect("create");

    // 409 AlreadyExists.
    let exists = api_error(
        cms.create(&PostParams::default(), &configmap("keep", &[("v", "2")]))
            .await
            .expect_err("duplicate"),
    );
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(exists.message, "configmaps \"keep\" already exists");
    let details = exists.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("keep", "configmaps")
    );

    // 409 Conflict on a stale resourceVersion.
    let mut fresh = original.clone();
    fresh.data = Some(BTreeMap::from([("v".into(), "2".into())]));
    cms.replace("keep", &PostParams::default(), &fresh)
        .await
        .expect("update");
    let mut stale = original.clone();
    stale.data = Some(BTreeMap::from([("v".into(), "3".into())]));
    let conflict = api_error(
        cms.replace("keep", &PostParams::default(), &stale)
            .await
            .expect_err("stale update"),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on configmaps \"keep\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // 422 Invalid with field causes.
    let mut invalid = configmap("Bad_Name", &[]);
    invalid.metadata.labels = Some(BTreeMap::from([("bad key!".into(), "x".into())]));
    let invalid = api_error(
        cms.create(&PostParams::default(), &invalid)
            .await
            .expect_err("invalid"),
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    let causes = invalid.details.expect("details").causes;
    let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
    assert!(fields.contains(&"metadata.name"), "causes: {causes:?}");
    assert!(fields.contains(&"metadata.labels"), "causes: {causes:?}");

    // 404 for a missing namespace on create.
    let elsewhere: Api<ConfigMap> = Api::namespaced(h.client.clone(), "no-such-ns");
    let missing_ns = api_error(
        elsewhere
            .create(&PostParams::default(), &configmap("x", &[]))
            .await
            .expect_err("missing namespace"),
    );
    assert_eq!(
        (missing_ns.code, missing_ns.reason.as_str()),
        (404, "NotFound")
    );
    assert_eq!(missing_ns.message, "namespaces \"no-such-ns\" not found");

    // 410 Gone for a watch from a compacted revision is covered by the
    // conformance suite; here: 400 for a malformed body and 413 for a huge one.
    let raw = |body: Vec<u8>| {
        http::Request::post("/api/v1/namespaces/default/configmaps")
            .header("content-type", "application/json")
            .body(body)
            .expect("request")
    };
    let malformed = api_error(
        h.client
            .request::<ConfigMap>(raw(b"{\"apiVersion\": \"v1\", \"kind\": ".to_vec()))
            .await
            .expect_err("malformed JSON"),
    );
    assert_eq!(
        (malformed.code, malformed.reason.as_str()),
        (400, "BadRequest")
    );

    let huge = serde_json::to_vec(&configmap(
        "huge",
        &[("blob", &"x".repeat(4 * 1024 * 1024))],
    ))
    .expect("encode");
    let too_large = api_error(
        h.client
            .request::<ConfigMap>(raw(huge))
            .await
            .expect_err("body over 3 MiB"),
    );
    assert_eq!(
        (too_large.code, too_large.reason.as_str()),
        (413, "RequestEntityTooLarge")
    );

    let now = cms.get("keep").await.expect("still there");
    assert_eq!(
        now.data.and_then(|d| d.get("v").cloned()).as_deref(),
        Some("2")
    );
    assert!(api_error(cms.get("huge").await.expect_err("not stored")).code == 404);
}

#[tokio::test]
async fn unsupported_verb_is_405_and_namespace_deletion_terminates() {
    let h = harness().await;
    // Namespaces have no deletecollection upstream: 405 MethodNotAllowed.
    let request = http::Request::delete("/api/v1/namespaces")
        .body(Vec::new())
        .expect("request");
    let refused = api_error(
        h.client
            .request::<serde_json::Value>(request)
            .await
            .expect_err("deletecollection on namespaces"),
    );
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (405, "MethodNotAllowed")
    );

    let namespaces: Api<Namespace> = Api::all(h.client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "doomed"}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "doomed");
    cms.create(&PostParams::default(), &configmap("inside", &[]))
        .await
        .expect("create");
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete ns");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match namespaces.get_opt("doomed").await.expect("get ns") {
            None => break,
            Some(ns) => {
                let phase = ns.status.and_then(|s| s.phase);
                assert_eq!(phase.as_deref(), Some("Terminating"));
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "namespace never went away"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(cms.get_opt("inside").await.expect("get").is_none());
}

#[tokio::test]
async fn compacted_revisions_are_gone() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    for i in 0..4 {
        cms.create(&PostParams::default(), &configmap(&format!("old-{i}"), &[]))
            .await
            .expect("create");
    }
    let page = cms
        .list(&ListParams::default().labels("app=demo").limit(2))
        .await
        .expect("first page");
    let token = page.metadata.continue_.clone().expect("continue token");
    let old_rv = page
        .metadata
        .resource_version
        .clone()
        .expect("list resourceVersion");
    cms.create(&PostParams::default(), &configmap("newer", &[]))
        .await
        .expect("create");
    let current = cms.get("newer").await.expect("get");
    let current_rv: i64 = current
        .metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .expect("numeric resourceVersion");
    h.server.kv.compact(current_rv).await.expect("compact");

    // An expired continue token: 410 Expired with upstream's message.
    let expired = api_error(
        cms.list(
            &ListParams::default()
                .labels("app=demo")
                .limit(2)
                .continue_token(&token),
        )
        .await
        .expect_err("expired continue token"),
    );
    assert_eq!((expired.code, expired.reason.as_str()), (410, "Expired"));
    assert!(
        expired
            .message
            .starts_with("The provided continue parameter is too old"),
        "message: {}",
        expired.message
    );

    // A watch from `old_rv` is still served: like upstream's cacher, the
    // watch cache answers from its own window of events, whatever the store
    // compacted. (410 for watches older than that window: conformance suite.)
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &old_rv)
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await.expect("watch event") {
        Some(WatchEvent::Added(cm)) => {
            assert!(
                cm.metadata
                    .name
                    .is_some_and(|n| n.starts_with("old-") || n == "newer")
            )
        }
        other => panic!("expected an ADDED event from the cache window, got {other:?}"),
    }
}

#[tokio::test]
async fn scheduled_pods_are_deleted_gracefully() {
    use k8s_openapi::api::core::v1::Pod;
    let h = harness().await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let pod = |name: &str, node: Option<&str>| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "nodeName": node,
                "terminationGracePeriodSeconds": 30,
                "containers": [{"name": "c", "image": "busybox"}]
            }
        }))
        .expect("pod")
    };

    // Not scheduled: gone at once.
    pods.create(&PostParams::default(), &pod("unscheduled", None))
        .await
        .expect("create");
    pods.delete("unscheduled", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(pods.get_opt("unscheduled").await.expect("get").is_none());

    // Scheduled: marked with its terminationGracePeriodSeconds.
    pods.create(&PostParams::default(), &pod("running", Some("node-a")))
        .await
        .expect("create");
    let deleted = pods
        .delete("running", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = deleted.left().expect("the pod, still there");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    let due = marked
        .metadata
        .deletion_timestamp
        .clone()
        .expect("deletionTimestamp");
    let ahead = due.0.as_second() - unix_now_seconds();
    assert!(
        (25..=31).contains(&ahead),
        "deletionTimestamp {ahead}s ahead"
    );

    // A second DELETE without a period changes nothing; a shorter one shortens.
    let again = pods
        .delete("running", &DeleteParams::default())
        .await
        .expect("delete again")
        .left()
        .expect("still there");
    assert_eq!(
        again.metadata.resource_version,
        marked.metadata.resource_version
    );
    let shorter = pods
        .delete("running", &DeleteParams::default().grace_period(5))
        .await
        .expect("shorter delete")
        .left()
        .expect("still there");
    assert_eq!(shorter.metadata.deletion_grace_period_seconds, Some(5));

    // What the kubelet sends once the containers stopped: gone.
    pods.delete("running", &DeleteParams::default().grace_period(0))
        .await
        .expect("final delete");
    assert!(pods.get_opt("running").await.expect("get").is_none());
}

fn unix_now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[tokio::test]
async fn service_type_changes_take_and_give_back_node_ports() {
    use k8s_openapi::api::core::v1::Service;
    let h = harness().await;
    let services: Api<Service> = Api::namespaced(h.client.clone(), "default");
    let service = |name: &str, node_port: Option<i32>| -> Service {
        let kind = if node_port.is_some() {
            "NodePort"
        } else {
            "ClusterIP"
        };
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"type": kind, "ports": [{"port": 80, "nodePort": node_port}]}
        }))
        .expect("service")
    };
    let node_port_of = |svc: &Service| {
        svc.spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|p| p.first())
            .and_then(|p| p.node_port)
    };
    services
        .create(&PostParams::default(), &service("web", None))
        .await
        .expect("create");

    let as_node_port = services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "NodePort"}})),
        )
        .await
        .expect("ClusterIP -> NodePort");
    let port = node_port_of(&as_node_port).expect("a node port was allocated");
    assert!((30000..=32767).contains(&port), "node port {port}");

    // Taken: another service cannot ask for it.
    let taken = api_error(
        services
            .create(&PostParams::default(), &service("other", Some(port)))
            .await
            .expect_err("port in use"),
    );
    assert_eq!((taken.code, taken.reason.as_str()), (422, "Invalid"));

    // Back to ClusterIP: the port is dropped and free again.
    let back = services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
        )
        .await
        .expect("NodePort -> ClusterIP");
    assert_eq!(node_port_of(&back), None);
    let reused = services
        .create(&PostParams::default(), &service("other", Some(port)))
        .await
        .expect("the released port can be asked for");
    assert_eq!(node_port_of(&reused), Some(port));
}

#[tokio::test]
async fn eviction_honours_the_disruption_budget() {
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use kube::api::EvictParams;
    let h = harness().await;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(h.client.clone(), "default");
    for name in ["a", "b"] {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": "guarded"}},
            "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox"}]}
        }))
        .expect("pod");
        pods.create(&PostParams::default(), &pod)
            .await
            .expect("create pod");
        pods.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}})),
        )
        .await
        .expect("pod status");
    }
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "guard"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}
    }))
    .expect("pdb");
    pdbs.create(&PostParams::default(), &pdb)
        .await
        .expect("create pdb");

    // Status not yet observed by the disruption controller: refused.
    let pending = api_error(
        pods.evict("a", &EvictParams::default())
            .await
            .expect_err("unprocessed budget"),
    );
    assert_eq!(
        (pending.code, pending.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(
        pending.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = &pending.details.expect("details").causes[0];
    assert_eq!(cause.reason, "DisruptionBudget");
    assert_eq!(
        cause.message,
        "The disruption budget guard is still being processed by the server."
    );

    // What the disruption controller would write: one disruption allowed.
    pdbs.patch_status(
        "guard",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"observedGeneration": 1, "currentHealthy": 2,
            "desiredHealthy": 1, "expectedPods": 2, "disruptionsAllowed": 1}}),
        ),
    )
    .await
    .expect("pdb status");
    pods.evict("a", &EvictParams::default())
        .await
        .expect("first eviction is allowed");
    assert!(pods.get_opt("a").await.expect("get").is_none());
    let after = pdbs.get_status("guard").await.expect("pdb");
    let status = after.status.expect("status");
    assert_eq!(status.disruptions_allowed, 0);
    assert!(
        status
            .disrupted_pods
            .expect("disruptedPods")
            .contains_key("a")
    );

    let refused = api_error(
        pods.evict("b", &EvictParams::default())
            .await
            .expect_err("no disruption left"),
    );
    assert_eq!(refused.code, 429);
    assert_eq!(
        refused.details.expect("details").causes[0].message,
        "The disruption budget guard needs 1 healthy pods and has 2 currently"
    );
    assert!(
        pods.get_opt("b").await.expect("get").is_some(),
        "b survives"
    );
}
