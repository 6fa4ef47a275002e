//! Custom resources served through the generic registry: a CRD is created,
//! becomes Established, and its objects get CRUD, list with selectors,
//! Table output with printer columns, status and scale subresources,
//! discovery entries, and disappear with the CRD.

mod crd_common;

use std::time::Duration;

use crd_common::{api, harness, install, raw, widget_crd};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::json;

fn widget(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("widget json")
}

#[tokio::test]
async fn crd_lifecycle_and_serving() {
    let h = harness().await;
    let crd = install(&h.client, widget_crd()).await;
    let status = crd.status.expect("status");
    let conds = status.conditions.unwrap_or_default();
    let names_accepted = conds
        .iter()
        .find(|c| c.type_ == "NamesAccepted")
        .expect("NamesAccepted");
    assert_eq!(names_accepted.status, "True");
    assert_eq!(names_accepted.reason.as_deref(), Some("NoConflicts"));
    assert_eq!(status.stored_versions, Some(vec!["v1".to_string()]));
    assert_eq!(status.accepted_names.expect("accepted").plural, "widgets");
    assert_eq!(
        crd.metadata.finalizers,
        Some(vec![
            "customresourcecleanup.apiextensions.k8s.io".to_string()
        ])
    );

    // Discovery, legacy and aggregated.
    let (code, list) = raw(&h.client, "GET", "/apis/example.com/v1", None, None, None).await;
    assert_eq!(code, 200);
    let names: Vec<&str> = list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, vec!["widgets", "widgets/scale", "widgets/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["wd"]));
    assert_eq!(list["resources"][0]["categories"], json!(["all"]));
    let (_, agg) = raw(
        &h.client,
        "GET",
        "/apis",
        None,
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
        None,
    )
    .await;
    let group = agg["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["metadata"]["name"] == "example.com")
        .expect("example.com in aggregated discovery");
    assert_eq!(group["versions"][0]["resources"][0]["resource"], "widgets");

    // OpenAPI v3 (index and group/version document) and v2 carry the schema.
    let (code, index) = raw(&h.client, "GET", "/openapi/v3", None, None, None).await;
    assert_eq!(code, 200);
    let url = index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        url.starts_with("/openapi/v3/apis/example.com/v1?hash="),
        "{index}"
    );
    let (code, doc) = raw(&h.client, "GET", &url, None, None, None).await;
    assert_eq!(code, 200);
    let def = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        def["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
    );
    assert_eq!(
        def["properties"]["spec"]["properties"]["size"]["enum"],
        json!(["tiny", "small", "large"])
    );
    assert!(
        doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale"]
            .is_object()
    );
    let (code, v2) = raw(&h.client, "GET", "/openapi/v2", None, None, None).await;
    assert_eq!(code, 200);
    assert!(v2["definitions"]["com.example.v1.WidgetList"].is_object());
    // No strategic merge patch: kubectl's client-side apply then sends a
    // JSON merge patch.
    assert_eq!(
        v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]["consumes"],
        json!([
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml"
        ])
    );
    assert!(v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets"].is_object());

    // Create: defaults applied, unknown fields pruned, status dropped.
    let widgets = api(
        &h.client,
        "example.com",
        "v1",
        "Widget",
        "widgets",
        Some("default"),
    );
    let mut w = widget("w1", json!({"size": "small", "bogus": true}));
    w.data["status"] = json!({"phase": "Ready"});
    let created = widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create");
    assert_eq!(
        created.data["spec"],
        json!({"size": "small", "replicas": 1})
    );
    assert!(created.data.get("status").is_none());
    assert_eq!(created.metadata.generation, Some(1));

    // Strict field validation: 400 naming the unknown field.
    let (code, body) = raw(
        &h.client,
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
        Some("application/json"),
        None,
        Some(json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "strict"}, "spec": {"size": "small", "foo": 1}})),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "strict decoding error: unknown field \"spec.foo\""
    );
    // Unknown metadata fields, at the root and in an embedded resource.
    let (code, body) = raw(
        &h.client,
        "POST",
        "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
        Some("application/json"),
        None,
        Some(json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "meta", "bogus": 1},
            "spec": {"size": "small", "template": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "alsoBogus": true}}}})),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        "strict decoding error: unknown field \"metadata.bogus\", unknown field \"spec.template.metadata.alsoBogus\""
    );

    // Status subresource: status changes only through it.
    let status_patch = json!({"status": {"phase": "Ready", "replicas": 1, "selector": "app=w1"}});
    let after = widgets
        .patch_status("w1", &PatchParams::default(), &Patch::Merge(&status_patch))
        .await
        .expect("patch status");
    assert_eq!(after.data["status"]["phase"], "Ready");
    let ignored = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"phase": "Gone"}, "spec": {"size": "large"}})),
        )
        .await
        .expect("patch main");
    assert_eq!(ignored.data["status"]["phase"], "Ready");
    assert_eq!(ignored.data["spec"]["size"], "large");
    assert_eq!(ignored.metadata.generation, Some(2));

    // Scale subresource.
    let (code, scale) = raw(
        &h.client,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["selector"], "app=w1");
    let (code, scale) = raw(
        &h.client,
        "PATCH",
        "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
        Some("application/merge-patch+json"),
        None,
        Some(json!({"spec": {"replicas": 4}})),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(scale["spec"]["replicas"], 4);
    let got = widgets.get("w1").await.expect("get");
    assert_eq!(got.data["spec"]["replicas"], 4);

    // Strategic merge patch is refused for custom resources.
    let (code, body) = raw(
        &h.client,
        "PATCH",
        "/apis/example.com/v1/namespaces/default/widgets/w1",
        Some("application/strategic-merge-patch+json"),
        None,
        Some(json!({"spec": {"size": "tiny"}})),
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(body["reason"], "UnsupportedMediaType");

    // Selectors: label and selectableFields.
    widgets
        .create(&PostParams::default(), &{
            let mut w = widget("w2", json!({"size": "tiny"}));
            w.metadata.labels = Some([("tier".to_string(), "gold".to_string())].into());
            w
        })
        .await
        .expect("create w2");
    let by_label = widgets
        .list(&ListParams::default().labels("tier=gold"))
        .await
        .expect("list");
    assert_eq!(by_label.items.len(), 1);
    let by_field = widgets
        .list(&ListParams::default().fields("spec.size=large"))
        .await
        .expect("list");
    assert_eq!(
        by_field
            .items
            .iter()
            .map(|o| o.metadata.name.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        vec!["w1"]
    );
    let (code, body) = raw(
        &h.client,
        "GET",
        "/apis/example.com/v1/widgets?fieldSelector=spec.replicas%3D1",
        None,
        None,
        None,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(body["message"], "field label not supported: spec.replicas");

    // Table output with the printer columns.
    let (code, table) = raw(
        &h.client,
        "GET",
        "/apis/example.com/v1/namespaces/default/widgets",
        None,
        Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(cols, vec!["Name", "Size", "Replicas", "Age"]);
    assert_eq!(table["rows"][0]["cells"][0], "w1");
    assert_eq!(table["rows"][0]["cells"][1], "large");
    assert_eq!(table["rows"][0]["cells"][2], 4);

    // Stored under /registry/<group>/<plural>/<ns>/<name>.
    let kv = h
        .server
        .kv
        .range(store::RangeRequest::key(
            b"/registry/example.com/widgets/default/w1".to_vec(),
        ))
        .await
        .expect("range");
    assert_eq!(kv.kvs.len(), 1);

    // A watch of the custom resources ends when their CRD is being deleted,
    // as upstream tears the storage down (DELETED events of the cleanup may
    // or may not come first).
    let watch_widgets = api(&h.client, "example.com", "v1", "Widget", "widgets", None);
    let mut events = Box::pin(
        watch_widgets
            .watch(&kube::api::WatchParams::default(), "0")
            .await
            .expect("watch"),
    );

    // Deleting the CRD removes its objects, then the CRD and its routes.
    let crds: Api<CustomResourceDefinition> = Api::all(h.client.clone());
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .expect("delete CRD");
    let mut gone = false;
    for _ in 0..100 {
        if crds
            .get_opt("widgets.example.com")
            .await
            .expect("get")
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "CRD still there");
    let left = h
        .server
        .kv
        .range(store::RangeRequest::prefix(
            b"/registry/example.com/widgets/".to_vec(),
        ))
        .await
        .expect("range");
    assert!(left.kvs.is_empty(), "custom resources left behind");
    let mut deleted = 0;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = futures::StreamExt::next(&mut events).await {
            if let Ok(kube::api::WatchEvent::Deleted(_)) = ev {
                deleted += 1;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the watch did not end with the CRD");
    assert!(deleted <= 2, "more DELETED events than objects");
    for _ in 0..100 {
        let (code, _) = raw(
            &h.client,
            "GET",
            "/apis/example.com/v1/namespaces/default/widgets",
            None,
            None,
            None,
        )
        .await;
        if code == 404 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("widgets still served after the CRD was deleted");
}
