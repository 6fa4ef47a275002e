use std::collections::BTreeSet;
use std::sync::OnceLock;

use super::*;

fn docs() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(|| Documents::generate(&ResourceTable::builtin()))
}

fn parse(doc: &Document) -> Value {
    serde_json::from_slice(&doc.body).unwrap_or(Value::Null)
}

fn v2() -> &'static Value {
    static V2: OnceLock<Value> = OnceLock::new();
    V2.get_or_init(|| parse(&docs().v2))
}

fn v3(key: &str) -> Value {
    docs().v3.get(key).map(parse).unwrap_or(Value::Null)
}

/// Every operation of a document: (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for (method, op) in item {
                    if method != "parameters" {
                        out.push((path.clone(), method.clone(), op.clone()));
                    }
                }
            }
        }
    }
    out
}

fn find_op(doc: &Value, id: &str) -> Option<(String, String, Value)> {
    operations(doc)
        .into_iter()
        .find(|(_, _, op)| op["operationId"] == id)
}

fn param_names(op: &Value) -> BTreeSet<String> {
    op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn v2_header() {
    let doc = v2();
    assert_eq!(doc["swagger"], "2.0");
    assert_eq!(doc["info"]["title"], "Kubernetes");
    assert_eq!(doc["info"]["version"], "v1.33.0");
}

#[test]
fn pod_definitions_carry_patch_metadata() {
    let defs = &v2()["definitions"];
    let pod = &defs["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    assert!(pod["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(
        pod.get("required").is_none(),
        "upstream requires nothing of a Pod"
    );
    assert_eq!(
        pod["properties"]["spec"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodSpec"
    );

    let spec = &defs["io.k8s.api.core.v1.PodSpec"];
    assert_eq!(spec["required"], json!(["containers"]));
    let containers = &spec["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let volumes = &spec["properties"]["volumes"];
    assert_eq!(volumes["x-kubernetes-patch-strategy"], "merge,retainKeys");
    assert_eq!(volumes["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(
        spec["properties"]["nodeSelector"]["x-kubernetes-map-type"],
        "atomic"
    );

    let container = &defs["io.k8s.api.core.v1.Container"]["properties"];
    assert_eq!(container["env"]["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(container["ports"]["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        container["ports"]["x-kubernetes-patch-merge-key"],
        "containerPort"
    );
    assert_eq!(
        container["ports"]["x-kubernetes-list-map-keys"],
        json!(["containerPort", "protocol"])
    );

    let meta = &defs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"];
    assert_eq!(meta["finalizers"]["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(meta["finalizers"]["x-kubernetes-list-type"], "set");
    assert_eq!(
        meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
        "uid"
    );

    let service_ports = &defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"];
    assert_eq!(service_ports["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(service_ports["x-kubernetes-patch-merge-key"], "port");

    assert_eq!(
        defs["io.k8s.api.core.v1.LocalObjectReference"]["x-kubernetes-map-type"],
        "atomic"
    );
    // A patch strategy on a field that is a reference stays beside the $ref.
    let strategy = &defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
}

#[test]
fn every_extension_row_matches_a_property() {
    let defs = &v2()["definitions"];
    let mut missing = Vec::new();
    for (name, fields) in extensions::FIELDS {
        let Some(props) = defs[*name]["properties"].as_object() else {
            continue; // a type of a kind this server does not serve
        };
        for field in fields.iter() {
            if !props.contains_key(field.0) {
                missing.push(format!("{name}.{}", field.0));
            }
        }
    }
    assert!(missing.is_empty(), "rows without a property: {missing:?}");
}

#[test]
fn lists_and_int_or_string() {
    let defs = &v2()["definitions"];
    let list = &defs["io.k8s.api.core.v1.PodList"];
    assert_eq!(list["required"], json!(["items"]));
    assert_eq!(
        list["properties"]["items"]["items"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.Pod"
    );
    assert_eq!(
        list["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "PodList", "version": "v1"}])
    );
    let ios = &defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["type"], "string");
    assert_eq!(ios["format"], "int-or-string");
    assert_eq!(
        defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );

    let core = v3("api/v1");
    let schemas = &core["components"]["schemas"];
    let ios = &schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(
        ios["oneOf"],
        json!([{"type": "integer"}, {"type": "string"}])
    );
    // v3 wraps a $ref that has siblings in allOf.
    let spec = &schemas["io.k8s.api.core.v1.Pod"]["properties"]["spec"];
    assert_eq!(
        spec["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}])
    );
    assert!(spec.get("$ref").is_none());
}

#[test]
fn pod_operations() {
    let doc = v2();
    let (path, method, list) = find_op(doc, "listCoreV1NamespacedPod").expect("list op");
    assert_eq!(path, "/api/v1/namespaces/{namespace}/pods");
    assert_eq!(method, "get");
    assert_eq!(list["x-kubernetes-action"], "list");
    assert_eq!(
        list["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "Pod", "version": "v1"})
    );
    assert!(param_names(&list).contains("labelSelector"));
    assert_eq!(
        list["responses"]["200"]["schema"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodList"
    );

    let (_, method, create) = find_op(doc, "createCoreV1NamespacedPod").expect("create op");
    assert_eq!(method, "post");
    assert_eq!(create["x-kubernetes-action"], "post");
    let names = param_names(&create);
    for p in ["fieldValidation", "dryRun", "fieldManager", "body"] {
        assert!(names.contains(p), "create lacks {p}");
    }

    let (path, _, patch) = find_op(doc, "patchCoreV1NamespacedPod").expect("patch op");
    assert_eq!(path, "/api/v1/namespaces/{namespace}/pods/{name}");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(patch["consumes"], json!(paths::PATCH_TYPES));
    assert!(param_names(&patch).contains("fieldValidation"));
    assert!(param_names(&patch).contains("force"));

    for (id, action) in [
        ("readCoreV1NamespacedPod", "get"),
        ("replaceCoreV1NamespacedPod", "put"),
        ("deleteCoreV1NamespacedPod", "delete"),
        ("deleteCoreV1CollectionNamespacedPod", "deletecollection"),
        ("listCoreV1PodForAllNamespaces", "list"),
        ("readCoreV1NamespacedPodStatus", "get"),
        ("patchCoreV1NamespacedPodStatus", "patch"),
        ("readCoreV1NamespacedPodLog", "get"),
        ("createCoreV1NamespacedPodEviction", "post"),
        ("createCoreV1NamespacedPodBinding", "post"),
        ("connectCoreV1PostNamespacedPodExec", "connect"),
        ("connectCoreV1GetNamespacedPodProxyWithPath", "connect"),
        ("watchCoreV1NamespacedPodList", "watchlist"),
        ("listCoreV1Node", "list"),
        ("replaceCoreV1NamespaceFinalize", "put"),
        ("readAppsV1NamespacedDeploymentScale", "get"),
        ("createAuthorizationV1SelfSubjectAccessReview", "post"),
        ("listRbacAuthorizationV1ClusterRole", "list"),
        ("patchFlowcontrolApiserverV1FlowSchemaStatus", "patch"),
        ("createCoreV1NamespacedServiceAccountToken", "post"),
    ] {
        let (_, _, op) = find_op(doc, id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(op["x-kubernetes-action"], action, "{id}");
    }
    let (_, _, eviction) = find_op(doc, "createCoreV1NamespacedPodEviction").expect("eviction");
    assert_eq!(
        eviction["x-kubernetes-group-version-kind"],
        json!({"group": "policy", "kind": "Eviction", "version": "v1"})
    );
}

#[test]
fn operation_ids_are_unique() {
    let mut seen = BTreeSet::new();
    for (path, method, op) in operations(v2()) {
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(seen.insert(id.clone()), "{id} twice ({method} {path})");
    }
    assert!(seen.len() > 500, "only {} operations", seen.len());
}

/// Every `$ref` string in `value`.
fn all_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(obj) => {
            for (k, v) in obj {
                // JSONSchemaProps has a property named "$ref": only a string
                // under "$ref" is a reference.
                if let (true, Some(target)) = (k == "$ref", v.as_str()) {
                    out.push(target.to_string());
                } else {
                    all_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| all_refs(i, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    let mut refs = Vec::new();
    all_refs(v2(), &mut refs);
    assert!(refs.len() > 1000);
    for r in &refs {
        let name = r
            .strip_prefix("#/definitions/")
            .unwrap_or_else(|| panic!("bad ref {r}"));
        assert!(
            v2()["definitions"].get(name).is_some(),
            "v2: {r} unresolved"
        );
    }
    assert!(docs().v3.len() >= 20);
    for key in docs().v3.keys() {
        let doc = v3(key);
        assert_eq!(doc["openapi"], "3.0.0", "{key}");
        let mut refs = Vec::new();
        all_refs(&doc, &mut refs);
        for r in &refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{key}: bad ref {r}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{key}: {r} unresolved"
            );
        }
    }
}

#[test]
fn v3_root_lists_group_versions() {
    let root = parse(&docs().v3_root);
    let paths = root["paths"].as_object().expect("paths");
    for key in [
        "api/v1",
        "apis/apps/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/batch/v1",
    ] {
        let url = paths[key]["serverRelativeURL"].as_str().unwrap_or_default();
        let etag = &docs().v3[key].etag;
        assert_eq!(url, format!("/openapi/v3/{key}?hash={etag}"));
    }
}

#[test]
fn apps_v1_document() {
    let doc = v3("apis/apps/v1");
    let deployment = &doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    // Only apps/v1 paths, but every schema they need.
    assert!(
        doc["paths"]
            .as_object()
            .is_some_and(|p| p.keys().all(|k| k.starts_with("/apis/apps/v1/")))
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    assert!(schemas.contains_key("io.k8s.api.core.v1.PodSpec"));
    assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
    assert!(!schemas.contains_key("io.k8s.api.core.v1.Pod"));

    // What kubectl's query-parameter check reads: the PATCH operation of the
    // kind, its gvk and its fieldValidation query parameter.
    let (_, method, patch) = find_op(&doc, "patchAppsV1NamespacedDeployment").expect("patch");
    assert_eq!(method, "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    assert!(patch["parameters"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    }));
    let content = patch["requestBody"]["content"]
        .as_object()
        .expect("content");
    for t in paths::PATCH_TYPES {
        assert_eq!(
            content[*t]["schema"]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
        );
    }
    let (_, _, create) = find_op(&doc, "createAppsV1NamespacedDeployment").expect("create");
    assert_eq!(
        create["requestBody"]["content"]["*/*"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.Deployment"
    );
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.Deployment"
    );
}

#[test]
fn negotiation_and_etags() {
    let doc = &docs().v2;
    let ok = serve(doc, &HeaderMap::new());
    assert_eq!(ok.status(), StatusCode::OK);
    let etag = ok.headers().get(ETAG).cloned().expect("etag");
    assert_eq!(
        etag.to_str().unwrap_or_default(),
        format!("\"{}\"", doc.etag)
    );
    assert_eq!(ok.headers()[CONTENT_TYPE], "application/json");

    let mut headers = HeaderMap::new();
    headers.insert(IF_NONE_MATCH, etag);
    assert_eq!(serve(doc, &headers).status(), StatusCode::NOT_MODIFIED);
    headers.insert(IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
    assert_eq!(serve(doc, &headers).status(), StatusCode::OK);

    let pb = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(pb));
    assert_eq!(serve(doc, &headers).status(), StatusCode::NOT_ACCEPTABLE);
    headers.insert(
        ACCEPT,
        HeaderValue::from_str(&format!("{pb}, application/json")).expect("header"),
    );
    assert_eq!(serve(doc, &headers).status(), StatusCode::OK);
    headers.insert(ACCEPT, HeaderValue::from_static("application/json;q=0"));
    assert_eq!(serve(doc, &headers).status(), StatusCode::NOT_ACCEPTABLE);
    // The v3 index is JSON for every client.
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
    );
    assert_eq!(
        serve_as(&docs().v3_root, &headers, false).status(),
        StatusCode::OK
    );
}

#[test]
fn generation_time_and_sizes() {
    let table = ResourceTable::builtin();
    let docs = Documents::generate(&table);
    let v3_total: usize = docs.v3.values().map(|d| d.body.len()).sum();
    let largest = docs
        .v3
        .iter()
        .max_by_key(|(_, d)| d.body.len())
        .map(|(k, d)| format!("{k} {} KiB", d.body.len() / 1024))
        .unwrap_or_default();
    eprintln!(
        "openapi: generated in {:?}; v2 {} KiB; {} v3 documents, {} KiB in all, largest {largest}",
        docs.elapsed,
        docs.v2.body.len() / 1024,
        docs.v3.len(),
        v3_total / 1024,
    );
    // OXKUBE_OPENAPI_DUMP=<dir> writes the documents out for inspection.
    if let Ok(dir) = std::env::var("OXKUBE_OPENAPI_DUMP") {
        let dir = std::path::Path::new(&dir);
        let write = |name: &str, doc: &Document| {
            let _ = std::fs::write(dir.join(name.replace('/', "_")), &doc.body);
        };
        write("v2.json", &docs.v2);
        write("v3.json", &docs.v3_root);
        for (key, doc) in &docs.v3 {
            write(&format!("v3_{key}.json"), doc);
        }
    }
    // Deterministic: the same table gives the same bytes (stable ETags).
    assert_eq!(docs.v2.etag, Documents::generate(&table).v2.etag);
}
