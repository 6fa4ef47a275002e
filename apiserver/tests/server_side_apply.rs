//! Server-side apply and managedFields against an in-process server, driven
//! by the `kube` crate (`Patch::Apply`) and by raw requests where the status
//! code matters: managedFields content, conflicts (409, message, causes),
//! forced takeover, removal of fields no longer applied, shared fields,
//! create via apply, dry run, Update entries of other writes, subresources
//! and the managedFields reset.

use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

struct Harness {
    client: Client,
    _server: apiserver::testing::TestServer,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = apiserver::testing::TestServer::start(dir.path())
        .await
        .expect("start the API server");
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    let client = Client::try_from(config).expect("client");
    Harness {
        client,
        _server: server,
        _dir: dir,
    }
}

/// A raw request: (status code, JSON body).
async fn send(
    client: &Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(serde_json::to_vec(&body).expect("body"))
        .expect("request");
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn apply_raw(client: &Client, path: &str, query: &str, body: Value) -> (u16, Value) {
    send(
        client,
        "PATCH",
        &format!("{path}?{query}"),
        "application/apply-patch+yaml",
        body,
    )
    .await
}

fn cm(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}
            }
        }
    })
}

/// The managedFields entries of an object, by manager.
fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[tokio::test]
async fn apply_creates_and_records_an_apply_entry() {
    let h = harness().await;
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "one", "labels": {"app": "x"}}, "data": {"a": "1"}});
    let (code, created) = apply_raw(
        &h.client,
        &format!("{CMS}/one"),
        "fieldManager=alice",
        body.clone(),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let e = entry(&created, "alice").expect("alice's entry");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "v1");
    assert_eq!(e["fieldsType"], "FieldsV1");
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        e["fieldsV1"],
        json!({"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}})
    );
    assert_eq!(
        created["metadata"]["managedFields"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let (code, again) =
        apply_raw(&h.client, &format!("{CMS}/one"), "fieldManager=alice", body).await;
    assert_eq!(code, 200);
    assert_eq!(
        again["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "a no-op apply writes nothing"
    );

    // The kube crate's apply works the same way.
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let patched = cms
        .patch(
            "two",
            &PatchParams::apply("kube-mgr"),
            &Patch::Apply(cm("two", json!({"k": "v"}))),
        )
        .await
        .expect("apply via kube");
    let mf = patched.metadata.managed_fields.expect("managedFields");
    assert_eq!(mf[0].manager.as_deref(), Some("kube-mgr"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
}

#[tokio::test]
async fn conflicts_are_refused_with_causes_then_forced() {
    let h = harness().await;
    let deploys: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    deploys
        .patch(
            "web",
            &PatchParams::apply("alice"),
            &Patch::Apply(deployment("web", 2)),
        )
        .await
        .expect("alice applies");

    let (code, status) = apply_raw(
        &h.client,
        &format!("{DEPLOYS}/web"),
        "fieldManager=bob",
        deployment("web", 3),
    )
    .await;
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    assert_eq!(
        status["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"alice\"", "field": ".spec.replicas"}])
    );
    let live = deploys.get("web").await.expect("get");
    assert_eq!(
        live.spec.as_ref().and_then(|s| s.replicas),
        Some(2),
        "refused apply changed nothing"
    );

    // The kube crate sees the same 409.
    let err = deploys
        .patch(
            "web",
            &PatchParams::apply("bob"),
            &Patch::Apply(deployment("web", 3)),
        )
        .await
        .expect_err("conflict");
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 409),
        other => panic!("expected a 409, got {other:?}"),
    }

    let forced = deploys
        .patch(
            "web",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(deployment("web", 3)),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.spec.as_ref().and_then(|s| s.replicas), Some(3));
    let obj = serde_json::to_value(&forced).expect("json");
    let alice = entry(&obj, "alice").expect("alice keeps the rest");
    assert!(
        alice["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "{alice}"
    );
    assert!(alice["fieldsV1"]["f:spec"].get("f:template").is_some());
    let bob = entry(&obj, "bob").expect("bob");
    assert!(bob["fieldsV1"]["f:spec"].get("f:replicas").is_some());
}

#[tokio::test]
async fn conflict_with_an_update_manager_names_its_version() {
    let h = harness().await;
    let (code, _) = send(
        &h.client,
        "POST",
        &format!("{DEPLOYS}?fieldManager=kubectl-client-side-apply"),
        "application/json",
        deployment("csa", 1),
    )
    .await;
    assert_eq!(code, 201);
    let (code, status) = apply_raw(
        &h.client,
        &format!("{DEPLOYS}/csa"),
        "fieldManager=ssa",
        deployment("csa", 5),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
}

#[tokio::test]
async fn fields_no_longer_applied_are_removed_unless_shared() {
    let h = harness().await;
    let path = format!("{CMS}/shared");
    let (code, _) = apply_raw(
        &h.client,
        &path,
        "fieldManager=alice",
        cm("shared", json!({"a": "1", "b": "2", "c": "3"})),
    )
    .await;
    assert_eq!(code, 201);
    // Bob applies the same value of c: shared ownership, no conflict.
    let (code, obj) = apply_raw(
        &h.client,
        &path,
        "fieldManager=bob",
        cm("shared", json!({"c": "3"})),
    )
    .await;
    assert_eq!(code, 200, "{obj}");
    assert_eq!(
        entry(&obj, "bob").expect("bob")["fieldsV1"],
        json!({"f:data": {"f:c": {}}})
    );
    // Alice stops applying b and c: b goes, c stays (bob holds it).
    let (code, obj) = apply_raw(
        &h.client,
        &path,
        "fieldManager=alice",
        cm("shared", json!({"a": "1"})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(obj["data"], json!({"a": "1", "c": "3"}));
    assert_eq!(
        entry(&obj, "alice").expect("alice")["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
}

#[tokio::test]
async fn dry_run_apply_creates_nothing() {
    let h = harness().await;
    let (code, obj) = apply_raw(
        &h.client,
        &format!("{CMS}/dry"),
        "fieldManager=alice&dryRun=All",
        cm("dry", json!({"a": "1"})),
    )
    .await;
    assert_eq!(code, 201, "{obj}");
    assert!(entry(&obj, "alice").is_some());
    let (code, _) = send(
        &h.client,
        "GET",
        &format!("{CMS}/dry"),
        "application/json",
        Value::Null,
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn apply_options_are_checked() {
    let h = harness().await;
    let (code, status) = apply_raw(&h.client, &format!("{CMS}/x"), "", cm("x", json!({}))).await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
    let long = "m".repeat(129);
    let (code, status) = apply_raw(
        &h.client,
        &format!("{CMS}/x"),
        &format!("fieldManager={long}"),
        cm("x", json!({})),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["details"]["causes"][0]["reason"],
        "FieldValueTooLong"
    );
    let (code, status) = send(
        &h.client,
        "PATCH",
        &format!("{CMS}/x?force=true"),
        "application/merge-patch+json",
        json!({}),
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
    let (code, status) = apply_raw(
        &h.client,
        &format!("{CMS}/x"),
        "fieldManager=a",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(status["message"], "invalid object type: /v1, Kind=Secret");
    let mut with_mf = cm("x", json!({}));
    with_mf["metadata"]["managedFields"] = json!([]);
    let (code, status) = apply_raw(&h.client, &format!("{CMS}/x"), "fieldManager=a", with_mf).await;
    assert_eq!(code, 400);
    assert_eq!(status["message"], "metadata.managedFields must be nil");
}

#[tokio::test]
async fn other_writes_record_update_entries() {
    let h = harness().await;
    let cms: Api<ConfigMap> = Api::namespaced(h.client.clone(), "default");
    let created = cms
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..Default::default()
            },
            &serde_json::from_value(cm("upd", json!({"a": "1", "b": "2"}))).expect("cm"),
        )
        .await
        .expect("create");
    let obj = serde_json::to_value(&created).expect("json");
    let e = entry(&obj, "creator").expect("creator");
    assert_eq!(e["operation"], "Update");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
    );

    // A merge patch by another manager takes the field it changes.
    let (code, obj) = send(
        &h.client,
        "PATCH",
        &format!("{CMS}/upd?fieldManager=editor"),
        "application/merge-patch+json",
        json!({"data": {"a": "9"}}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        entry(&obj, "editor").expect("editor")["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
    assert_eq!(
        entry(&obj, "creator").expect("creator")["fieldsV1"],
        json!({"f:data": {".": {}, "f:b": {}}})
    );

    // Without fieldManager the User-Agent's prefix names the manager.
    let req = http::Request::builder()
        .method("PATCH")
        .uri(format!("{CMS}/upd"))
        .header("content-type", "application/merge-patch+json")
        .header("user-agent", "my-tool/v1.2 (linux)")
        .body(br#"{"data":{"c":"3"}}"#.to_vec())
        .expect("request");
    let resp = h
        .client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let got = cms.get("upd").await.expect("get");
    let managers: Vec<String> = got
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    assert!(managers.contains(&"my-tool".to_string()), "{managers:?}");

    // A list with one empty entry resets managedFields.
    let (code, obj) = send(
        &h.client,
        "PATCH",
        &format!("{CMS}/upd"),
        "application/merge-patch+json",
        json!({"metadata": {"managedFields": [{}]}}),
    )
    .await;
    assert_eq!(code, 200);
    assert!(obj["metadata"].get("managedFields").is_none(), "{obj}");
}

#[tokio::test]
async fn status_writes_record_the_subresource() {
    let h = harness().await;
    let deploys: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    deploys
        .patch(
            "st",
            &PatchParams::apply("alice"),
            &Patch::Apply(deployment("st", 1)),
        )
        .await
        .expect("apply");
    let (code, obj) = send(
        &h.client,
        "PATCH",
        &format!("{DEPLOYS}/st/status?fieldManager=ctrl"),
        "application/merge-patch+json",
        json!({"status": {"replicas": 1, "observedGeneration": 1}}),
    )
    .await;
    assert_eq!(code, 200, "{obj}");
    let e = entry(&obj, "ctrl").expect("ctrl");
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["operation"], "Update");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:observedGeneration": {}, "f:replicas": {}}})
    );
    // Applying status through the main resource owns nothing there.
    let mut with_status = deployment("st", 1);
    with_status["status"] = json!({"replicas": 7});
    let (code, obj) = apply_raw(
        &h.client,
        &format!("{DEPLOYS}/st"),
        "fieldManager=alice",
        with_status,
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        entry(&obj, "alice").expect("alice")["fieldsV1"]
            .get("f:status")
            .is_none()
    );
    assert_eq!(obj["status"]["replicas"], 1);
}

#[path = "crd_common/mod.rs"]
mod crd_common;

/// Raw bytes as an apply body (YAML).
async fn apply_yaml(client: &Client, path: &str, query: &str, yaml: &str) -> (u16, Value) {
    let req = http::Request::builder()
        .method("PATCH")
        .uri(format!("{path}?{query}"))
        .header("content-type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .expect("request");
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("read body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn undeclared_and_duplicate_fields_are_refused() {
    let h = harness().await;
    let mut bad = cm("typed", json!({"a": "1"}));
    bad["spec"] = json!({"x": 1});
    let (code, status) = apply_raw(&h.client, &format!("{CMS}/typed"), "fieldManager=a", bad).await;
    assert_eq!(code, 500, "{status}");
    assert_eq!(
        status["message"],
        "failed to create typed patch object (/v1, Kind=ConfigMap): .spec: field not declared in schema"
    );
    let yaml =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  a: \"1\"\n  a: \"2\"\n";
    let (code, status) = apply_yaml(
        &h.client,
        &format!("{CMS}/dup"),
        "fieldManager=a&fieldValidation=Strict",
        yaml,
    )
    .await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  line 7: key \"a\" already set in map"
    );
    // Without Strict the last value wins.
    let (code, obj) = apply_yaml(&h.client, &format!("{CMS}/dup"), "fieldManager=a", yaml).await;
    assert_eq!(code, 201, "{obj}");
    assert_eq!(obj["data"]["a"], "2");
}

#[tokio::test]
async fn custom_resources_follow_their_schema() {
    let h = harness().await;
    crd_common::install(
        &h.client,
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.ssa.example.com"},
            "spec": {
                "group": "ssa.example.com",
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "properties": {"spec": {"type": "object", "properties": {
                            "foo": {"type": "string"},
                            "ports": {
                                "type": "array",
                                "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                                "items": {"type": "object", "required": ["containerPort", "protocol"], "properties": {
                                    "containerPort": {"type": "integer"},
                                    "protocol": {"type": "string"},
                                    "name": {"type": "string"}
                                }}
                            }
                        }}}
                    }}
                }]
            }
        }),
    )
    .await;
    let path = "/apis/ssa.example.com/v1/namespaces/default/gadgets/g1";
    let gadget = |foo: &str| {
        json!({"apiVersion": "ssa.example.com/v1", "kind": "Gadget", "metadata": {"name": "g1", "labels": {"a": "b"}},
               "spec": {"foo": foo, "ports": [{"name": "x", "containerPort": 80, "protocol": "TCP"}]}})
    };
    let mut served = 0;
    let (mut code, mut obj) = (0, Value::Null);
    // The new resource may take a moment to be routed.
    while served < 50 {
        (code, obj) = apply_raw(&h.client, path, "fieldManager=alice", gadget("one")).await;
        if code != 404 {
            break;
        }
        served += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(code, 201, "{obj}");
    assert_eq!(
        entry(&obj, "alice").expect("alice")["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:a": {}}},
            "f:spec": {
                "f:foo": {},
                "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                    ".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}
                }}
            }
        })
    );
    let (code, status) = apply_raw(&h.client, path, "fieldManager=bob", gadget("two")).await;
    assert_eq!(code, 409);
    assert_eq!(
        status["message"],
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.foo"
    );
    let mut unknown = gadget("one");
    unknown["unknownField"] = json!("x");
    let (code, status) = apply_raw(&h.client, path, "fieldManager=alice", unknown).await;
    assert_eq!(code, 500);
    assert!(
        status["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(".unknownField: field not declared in schema")),
        "{status}"
    );
}

#[tokio::test]
async fn status_apply_as_controllers_do() {
    let h = harness().await;
    let deploys: Api<Deployment> = Api::namespaced(h.client.clone(), "default");
    deploys
        .patch(
            "ctl",
            &PatchParams::apply("user"),
            &Patch::Apply(deployment("ctl", 2)),
        )
        .await
        .expect("apply");
    let status = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ctl"},
        "status": {"replicas": 2, "readyReplicas": 2},
        // A controller's status apply cannot change the spec.
        "spec": {"replicas": 9}
    });
    let got = deploys
        .patch_status(
            "ctl",
            &PatchParams::apply("controller").force(),
            &Patch::Apply(status),
        )
        .await
        .expect("status apply");
    assert_eq!(got.status.as_ref().and_then(|s| s.ready_replicas), Some(2));
    assert_eq!(got.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let obj = serde_json::to_value(&got).expect("json");
    let e = entry(&obj, "controller").expect("controller");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {"f:readyReplicas": {}, "f:replicas": {}}})
    );
    // The user's entry still owns spec.replicas.
    assert!(
        entry(&obj, "user").expect("user")["fieldsV1"]["f:spec"]
            .get("f:replicas")
            .is_some()
    );
}
