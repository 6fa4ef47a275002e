//! `pods/binding` (POST `/api/v1/namespaces/{ns}/pods/{name}/binding`) and
//! the older `bindings` resource: the scheduler's way to assign a pod to a
//! node, like upstream's `BindingREST` in `pkg/registry/core/pod/storage`.
//! Sets `spec.nodeName`, merges the Binding's annotations and marks the
//! `PodScheduled` condition True; 409 when the pod is already assigned or
//! being deleted; answers `201` with a Success `Status`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult, Target};
use crate::meta;
use crate::negotiate::{Output, respond};

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    let binding = ctx.body_json()?;
    // `pods/{name}/binding` names the pod in the URL; `bindings` in the body.
    let pod_name = match ctx.info.subresource.as_deref() {
        Some(_) => ctx.name().to_string(),
        None => meta::name(&binding).to_string(),
    };
    let body_name = meta::name(&binding);
    if !body_name.is_empty() && body_name != pod_name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let target_kind = binding
        .pointer("/target/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !target_kind.is_empty() && target_kind != "Node" {
        return Err(ApiError::invalid(
            "",
            "Binding",
            &pod_name,
            vec![crate::validation::not_supported(
                "target.kind",
                &Value::String(target_kind.to_string()),
                &["Node", "<empty>"],
            )],
        ));
    }
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            &pod_name,
            vec![crate::validation::required("target.name", "")],
        ));
    }
    let pods = ctx
        .state
        .table()
        .get("", "v1", "pods")
        .ok_or_else(ApiError::path_not_found)?;
    let annotations = binding
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let conflict = |why: String| {
        ApiError::conflict(
            Target {
                group: "",
                resource: "pods/binding",
                name: &pod_name,
            },
            &why,
        )
    };
    ctx.state
        .store
        .guaranteed_update(&pods, ctx.ns(), &pod_name, ctx.dry_run(), |current| {
            let Some(mut pod) = current else {
                return Err(ApiError::not_found(crate::registry::store::target(
                    &pods, &pod_name,
                )));
            };
            if meta::is_deleting(&pod) {
                return Err(conflict(format!(
                    "pod {pod_name} is being deleted, cannot be assigned to a host"
                )));
            }
            let assigned = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !assigned.is_empty() {
                return Err(conflict(format!(
                    "pod {pod_name} is already assigned to node \"{assigned}\""
                )));
            }
            pod["spec"]["nodeName"] = Value::String(node.clone());
            if !annotations.is_empty() {
                let m = meta::meta_mut(&mut pod);
                let entry = m
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(existing) = entry.as_object_mut() {
                    existing.extend(annotations.clone());
                }
            }
            set_scheduled(&mut pod);
            Ok(pod)
        })
        .await?;
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    });
    Ok(respond(StatusCode::CREATED, &status, Output::Json))
}

/// Sets `status.conditions[PodScheduled]` to True (upstream leaves reason
/// and message empty here).
fn set_scheduled(pod: &mut Value) {
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let now = meta::now_rfc3339();
    let status = &mut pod["status"];
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(conditions) = status["conditions"].as_array_mut() else {
        return;
    };
    let fresh = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    match conditions
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
    {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {}
        Some(c) => *c = fresh,
        None => conditions.push(fresh),
    }
}
