//! The `scale` subresource of deployments, replicasets, statefulsets and
//! replicationcontrollers: an `autoscaling/v1` `Scale` view of the parent's
//! `spec.replicas`, `status.replicas` and selector.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::negotiate::respond;
use crate::patch::{self, PatchType};
use crate::registry::store::target;

/// `matchLabels` and `matchExpressions` as a label selector string.
fn selector_string(parent: &Value) -> String {
    let sel = parent.pointer("/spec/selector");
    let mut terms = Vec::new();
    match sel {
        // ReplicationControllers have a plain map selector.
        Some(Value::Object(m))
            if !m.contains_key("matchLabels") && !m.contains_key("matchExpressions") =>
        {
            for (k, v) in m {
                terms.push(format!("{k}={}", v.as_str().unwrap_or_default()));
            }
        }
        Some(s) => {
            if let Some(labels) = s.get("matchLabels").and_then(Value::as_object) {
                for (k, v) in labels {
                    terms.push(format!("{k}={}", v.as_str().unwrap_or_default()));
                }
            }
            for e in s
                .get("matchExpressions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => terms.push(format!("{key} in ({})", values.join(","))),
                    "NotIn" => terms.push(format!("{key} notin ({})", values.join(","))),
                    "Exists" => terms.push(key.to_string()),
                    "DoesNotExist" => terms.push(format!("!{key}")),
                    _ => {}
                }
            }
        }
        None => {}
    }
    terms.sort();
    terms.join(",")
}

fn scale_of(parent: &Value) -> Value {
    let m = meta::meta(parent);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"),
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": parent.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": parent.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(parent),
        },
    })
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let parent = ctx.state.store.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    Ok(respond(StatusCode::OK, &scale_of(&parent), ctx.output))
}

/// PUT or PATCH of the scale: computes the new Scale from the current one,
/// then writes its `spec.replicas` into the parent.
pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    let patch_type = if ctx.info.verb == "patch" {
        Some(patch::patch_type(&ctx.headers)?)
    } else {
        None
    };
    let (stored, _) = ctx
        .state
        .store
        .guaranteed_update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run(), |current| {
            let Some(mut parent) = current else {
                return Err(ApiError::not_found(target(&ctx.res, ctx.name())));
            };
            let old_scale = scale_of(&parent);
            let new_scale = match patch_type {
                None => ctx.body_json()?,
                Some(PatchType::Json) => patch::json_patch(&old_scale, &ctx.body)?,
                Some(PatchType::Merge | PatchType::Strategic) => {
                    patch::merge_patch(&old_scale, &ctx.body)?
                }
                Some(PatchType::Apply) => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        "server-side apply is not supported by this server yet",
                    ));
                }
            };
            let rv = meta::resource_version(&new_scale);
            if !rv.is_empty() && rv != meta::resource_version(&parent) {
                return Err(ApiError::stale_update(target(&ctx.res, ctx.name())));
            }
            let replicas = new_scale
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if replicas < 0 {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    ctx.name(),
                    vec![crate::validation::invalid(
                        "spec.replicas",
                        &json!(replicas),
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            if parent.pointer("/spec/replicas").and_then(Value::as_i64) != Some(replicas) {
                parent["spec"]["replicas"] = json!(replicas);
                let generation = meta::meta(&parent)
                    .get("generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta::meta_mut(&mut parent).insert("generation".into(), json!(generation + 1));
            }
            Ok(parent)
        })
        .await?;
    Ok(respond(StatusCode::OK, &scale_of(&stored), ctx.output))
}
