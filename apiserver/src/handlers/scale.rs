//! The `scale` subresource of deployments, replicasets, statefulsets and
//! replicationcontrollers: an `autoscaling/v1` `Scale` view of the parent's
//! `spec.replicas`, `status.replicas` and selector; for custom resources,
//! of the paths their CRD's `subresources.scale` names.

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

/// Where a parent keeps its replicas and selector: fixed for built-ins,
/// the CRD's `subresources.scale` paths for custom resources.
struct ScalePaths {
    spec_replicas: String,
    status_replicas: String,
    /// JSON pointer of a selector string (custom resources); built-ins
    /// render `spec.selector`.
    selector: Option<String>,
    /// Replicas when the spec has none (1 for built-ins, 0 for CRs).
    default_replicas: i64,
}

/// `.spec.replicas` as a JSON pointer `/spec/replicas`.
fn pointer(json_path: &str) -> String {
    json_path
        .trim_start_matches('.')
        .split('.')
        .fold(String::new(), |acc, k| acc + "/" + k)
}

fn paths(ctx: &Ctx) -> ScalePaths {
    match ctx.res.custom.as_ref().and_then(|c| c.scale.as_ref()) {
        Some(s) => ScalePaths {
            spec_replicas: pointer(&s.spec_replicas_path),
            status_replicas: pointer(&s.status_replicas_path),
            selector: Some(
                s.label_selector_path
                    .as_deref()
                    .map(pointer)
                    .unwrap_or_default(),
            ),
            default_replicas: 0,
        },
        None => ScalePaths {
            spec_replicas: "/spec/replicas".into(),
            status_replicas: "/status/replicas".into(),
            selector: None,
            default_replicas: 1,
        },
    }
}

fn scale_of(parent: &Value, p: &ScalePaths) -> Value {
    let m = meta::meta(parent);
    let selector = match &p.selector {
        Some(ptr) if ptr.is_empty() => String::new(),
        Some(ptr) => parent
            .pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        None => selector_string(parent),
    };
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
        "spec": {"replicas": parent.pointer(&p.spec_replicas).and_then(Value::as_i64).unwrap_or(p.default_replicas)},
        "status": {
            "replicas": parent.pointer(&p.status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// Writes `v` at a JSON pointer, creating objects on the way.
fn set_at(obj: &mut Value, ptr: &str, v: Value) {
    let mut cur = obj;
    let keys: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    for (i, k) in keys.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        if i + 1 == keys.len() {
            cur[*k] = v;
            return;
        }
        cur = &mut cur[*k];
    }
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let parent = ctx.state.store.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    Ok(respond(
        StatusCode::OK,
        &scale_of(&parent, &paths(ctx)),
        ctx.output,
    ))
}

/// PUT or PATCH of the scale: computes the new Scale from the current one,
/// then writes its `spec.replicas` into the parent.
pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    let patch_type = if ctx.info.verb == "patch" {
        Some(patch::patch_type(&ctx.headers)?)
    } else {
        None
    };
    let p = paths(ctx);
    let (stored, _) = ctx
        .state
        .store
        .guaranteed_update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run(), |current| {
            let Some(mut parent) = current else {
                return Err(ApiError::not_found(target(&ctx.res, ctx.name())));
            };
            let old_scale = scale_of(&parent, &p);
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
            if parent.pointer(&p.spec_replicas).and_then(Value::as_i64) != Some(replicas) {
                let before = parent.clone();
                set_at(&mut parent, &p.spec_replicas, json!(replicas));
                crate::apply::track(ctx, Some(&before), &mut parent);
                let generation = meta::meta(&parent)
                    .get("generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta::meta_mut(&mut parent).insert("generation".into(), json!(generation + 1));
            }
            Ok(parent)
        })
        .await?;
    Ok(respond(StatusCode::OK, &scale_of(&stored, &p), ctx.output))
}
