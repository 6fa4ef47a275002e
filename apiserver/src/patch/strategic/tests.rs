//! Patches as `kubectl apply` (three-way, with `$setElementOrder`) and
//! `kubectl patch --type strategic` send them, and what the API server
//! answers.

use serde_json::{Value, json};

use super::{StrategicError, apply};

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["example.com/a", "example.com/b"]
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "app",
                        "image": "nginx:1.25",
                        "args": ["--a", "--b"],
                        "env": [
                            {"name": "A", "value": "1"},
                            {"name": "B", "value": "2"},
                            {"name": "C", "value": "3"}
                        ],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}]
                }
            }
        }
    })
}

fn patch_deploy(patch: Value) -> Result<Value, StrategicError> {
    apply(&deployment(), &patch, "apps", "Deployment")
}

fn pod_spec(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]
}

#[test]
fn apply_removes_env_var_with_delete_directive() {
    // kubectl apply after "B" was removed from the manifest.
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{
            "$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
            "env": [{"$patch": "delete", "name": "B"}],
            "name": "app"
        }]
    }}}}))
    .unwrap();
    assert_eq!(
        pod_spec(&out)["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "C", "value": "3"}])
    );
    // Everything else of the container is kept.
    assert_eq!(pod_spec(&out)["containers"][0]["image"], "nginx:1.25");
    assert!(!out.to_string().contains('$'));
}

#[test]
fn apply_adds_container_in_manifest_order() {
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"image": "busybox", "name": "sidecar"}]
    }}}}))
    .unwrap();
    let names: Vec<&str> = pod_spec(&out)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    assert_eq!(pod_spec(&out)["containers"][1]["image"], "busybox");
}

#[test]
fn patch_without_order_puts_new_items_first() {
    // Upstream: items only in the patch are not in the live list, so they
    // are not ordered after the server's items.
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"name": "sidecar", "image": "busybox"}]
    }}}}))
    .unwrap();
    assert_eq!(pod_spec(&out)["containers"][0]["name"], "sidecar");
    assert_eq!(pod_spec(&out)["containers"][1]["name"], "app");
}

#[test]
fn set_image_by_container_name() {
    // kubectl set image / kubectl patch -p '{"spec":{"template":...}}'
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "nginx:1.27"}]
    }}}}))
    .unwrap();
    let c = &pod_spec(&out)["containers"][0];
    assert_eq!(c["image"], "nginx:1.27");
    assert_eq!(c["env"].as_array().unwrap().len(), 3);
    assert_eq!(pod_spec(&out)["containers"].as_array().unwrap().len(), 1);
}

#[test]
fn null_removes_label() {
    let out = patch_deploy(json!({"metadata": {"labels": {"tier": null}}})).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
    // null for a key that is not there is ignored, not stored.
    let out = patch_deploy(json!({"metadata": {"annotations": {"x": null}}})).unwrap();
    assert_eq!(out["metadata"]["annotations"], json!({}));
}

#[test]
fn retain_keys_on_volume_switches_source() {
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/volumes": [{"name": "data"}],
        "volumes": [{
            "$retainKeys": ["configMap", "name"],
            "configMap": {"name": "settings"},
            "name": "data"
        }]
    }}}}))
    .unwrap();
    assert_eq!(
        pod_spec(&out)["volumes"],
        json!([{"name": "data", "configMap": {"name": "settings"}}])
    );
}

#[test]
fn retain_keys_on_deployment_strategy() {
    let out = patch_deploy(json!({"spec": {"strategy": {
        "$retainKeys": ["type"],
        "type": "Recreate",
        "rollingUpdate": null
    }}}))
    .unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn retain_keys_rejects_unlisted_field() {
    let err = patch_deploy(json!({"spec": {"strategy": {
        "$retainKeys": ["type"],
        "rollingUpdate": {"maxSurge": 2}
    }}}))
    .unwrap_err();
    assert_eq!(err.code(), 400);
    assert_eq!(err.to_string(), "invalid patch format of retainKeys");
}

#[test]
fn delete_from_primitive_list_finalizers() {
    let out = patch_deploy(json!({"metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/a"]
    }}))
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["example.com/b"]));
}

#[test]
fn finalizers_merge_as_a_set() {
    let out = patch_deploy(json!({"metadata": {
        "finalizers": ["example.com/b", "example.com/c"]
    }}))
    .unwrap();
    // Patch items in patch order, the server-only item before them (it is
    // before "example.com/b" in the live list).
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b", "example.com/c"])
    );
}

#[test]
fn replace_directive_on_map() {
    let out =
        patch_deploy(json!({"metadata": {"labels": {"$patch": "replace", "new": "x"}}})).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"new": "x"}));
}

#[test]
fn delete_directive_on_map_empties_it() {
    let out = patch_deploy(json!({"spec": {"strategy": {"$patch": "delete"}}})).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({}));
}

#[test]
fn replace_directive_on_list() {
    let out = patch_deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "busybox"},
        {"$patch": "replace"}
    ]}}}}))
    .unwrap();
    assert_eq!(
        pod_spec(&out)["containers"],
        json!([{"name": "only", "image": "busybox"}])
    );
}

#[test]
fn list_without_strategy_is_replaced() {
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "args": ["--c"]}],
        "tolerations": [{"key": "b", "operator": "Exists"}]
    }}}}))
    .unwrap();
    assert_eq!(pod_spec(&out)["containers"][0]["args"], json!(["--c"]));
    assert_eq!(
        pod_spec(&out)["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
}

#[test]
fn ports_merge_by_container_port() {
    let out = patch_deploy(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443}]}
    ]}}}}))
    .unwrap();
    assert_eq!(
        pod_spec(&out)["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}])
    );
}

#[test]
fn element_without_merge_key_is_an_error() {
    let err = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"image": "nginx:1.27"}]
    }}}}))
    .unwrap_err();
    assert_eq!(err.code(), 500);
    assert_eq!(
        err.to_string(),
        "map: map[image:nginx:1.27] does not contain declared merge key: name"
    );
}

#[test]
fn delete_without_merge_key_is_an_error() {
    let err = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"$patch": "delete", "image": "x"}]
    }}}}))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "map: map[$patch:delete image:x] does not contain declared merge key: name"
    );
}

#[test]
fn unknown_directive_is_an_error() {
    let err = patch_deploy(json!({"metadata": {"labels": {"$patch": "merge"}}})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown patch type: merge in map: map[$patch:merge]"
    );
    let err = patch_deploy(json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "$patch": "merge"}]
    }}}}))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "merging lists cannot yet be specified in the patch"
    );
}

#[test]
fn set_element_order_mismatch_is_an_error() {
    let err = patch_deploy(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}],
        "containers": [{"name": "other", "image": "x"}]
    }}}}))
    .unwrap_err();
    assert!(
        err.to_string().starts_with("The order in patch list:\n"),
        "{err}"
    );
    let err = patch_deploy(json!({"metadata": {"$setElementOrderfinalizers": []}})).unwrap_err();
    assert_eq!(err.code(), 400);
    assert_eq!(
        err.to_string(),
        "invalid patch format of setElementOrder list"
    );
}

#[test]
fn lists_of_lists_are_invalid() {
    let pod = json!({"metadata": {"name": "p", "finalizers": []}});
    let err = apply(
        &pod,
        &json!({"metadata": {"finalizers": [["a"]]}}),
        "",
        "Pod",
    )
    .unwrap_err();
    assert_eq!(err.code(), 422);
    assert_eq!(
        err.to_string(),
        "the server rejected our request due to an error in our request"
    );
    // Mixed element types are a plain error.
    let err = patch_deploy(json!({"metadata": {"finalizers": [["a"]]}})).unwrap_err();
    assert_eq!(err.code(), 500);
    assert!(
        err.to_string()
            .starts_with("list element types are not identical: ")
    );
}

#[test]
fn custom_resources_are_unsupported() {
    let err = apply(&json!({}), &json!({}), "example.com", "Widget").unwrap_err();
    assert!(matches!(err, StrategicError::UnsupportedForKind { .. }));
    assert_eq!(err.code(), 415);
    assert_eq!(err.reason(), "UnsupportedMediaType");
}

#[test]
fn patch_must_be_an_object() {
    let err = patch_deploy(json!([1])).unwrap_err();
    assert_eq!(err.code(), 400);
    assert_eq!(
        err.to_string(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    assert_eq!(patch_deploy(Value::Null).unwrap(), deployment());
}

#[test]
fn pod_status_conditions_merge_by_type() {
    let pod = json!({"kind": "Pod", "metadata": {"name": "p"}, "status": {"conditions": [
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"}
    ]}});
    let out = apply(
        &pod,
        &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        "",
        "Pod",
    )
    .unwrap();
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}])
    );
}

#[test]
fn service_ports_merge_by_port_and_service_account_secrets_by_name() {
    let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}});
    let out = apply(
        &svc,
        &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
        "",
        "Service",
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090}, {"port": 443}])
    );

    let sa = json!({"secrets": [{"name": "a"}]});
    let out = apply(
        &sa,
        &json!({"secrets": [{"name": "b"}]}),
        "",
        "ServiceAccount",
    )
    .unwrap();
    assert_eq!(out["secrets"], json!([{"name": "b"}, {"name": "a"}]));
}

#[test]
fn cronjob_template_reaches_containers() {
    let cj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "job", "image": "a", "env": [{"name": "X", "value": "1"}]}
    ]}}}}}});
    let out = apply(
        &cj,
        &json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "job", "env": [{"name": "Y", "value": "2"}]}
        ]}}}}}}),
        "batch",
        "CronJob",
    )
    .unwrap();
    let env = &out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env.as_array().unwrap().len(), 2);
}

#[test]
fn plain_builtin_kinds_merge_maps() {
    let cm = json!({"data": {"a": "1", "b": "2"}});
    let out = apply(
        &cm,
        &json!({"data": {"a": null, "c": "3"}}),
        "",
        "ConfigMap",
    )
    .unwrap();
    assert_eq!(out["data"], json!({"b": "2", "c": "3"}));
}

#[test]
fn pdb_selector_is_replaced() {
    let pdb = json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}});
    let out = apply(
        &pdb,
        &json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
        "policy",
        "PodDisruptionBudget",
    )
    .unwrap();
    assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"b": "2"}}));
}

#[test]
fn directives_in_new_content_are_dropped() {
    // A list that does not exist yet is taken from the patch; items that
    // ask to be deleted are left out.
    let out = patch_deploy(json!({"spec": {"template": {"spec": {
        "initContainers": [{"name": "x", "$patch": "delete"}, {"name": "y", "image": "i"}]
    }}}}))
    .unwrap();
    assert_eq!(
        pod_spec(&out)["initContainers"],
        json!([{"name": "y", "image": "i"}])
    );
}

#[test]
fn server_only_item_keeps_its_place_after_delete_and_add() {
    // "S" was added by someone else; kubectl apply removes "X" and adds "N".
    // Upstream orders by the live list as its in-place delete/append left
    // it ([A S N]), so S stays between A and N.
    let pod = json!({"spec": {"containers": [{"name": "app", "env": [
        {"name": "X"}, {"name": "A"}, {"name": "S"}
    ]}]}});
    let out = apply(
        &pod,
        &json!({"spec": {"containers": [{
            "name": "app",
            "$setElementOrder/env": [{"name": "A"}, {"name": "N"}],
            "env": [{"name": "N", "value": "n"}, {"$patch": "delete", "name": "X"}]
        }]}}),
        "",
        "Pod",
    )
    .unwrap();
    assert_eq!(
        out["spec"]["containers"][0]["env"],
        json!([{"name": "A"}, {"name": "S"}, {"name": "N", "value": "n"}])
    );
}
