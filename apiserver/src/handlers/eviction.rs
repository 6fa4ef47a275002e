//! `pods/eviction` (POST `/api/v1/namespaces/{ns}/pods/{name}/eviction`
//! with a policy/v1 `Eviction`): a pod deletion that respects its
//! PodDisruptionBudget, like upstream's `EvictionREST`
//! (`pkg/registry/core/pod/storage/eviction.go`).
//!
//! Pods that are not running (Pending, Succeeded, Failed) or already being
//! deleted go at once. Otherwise the one PDB selecting the pod must allow a
//! disruption: its status is current (`observedGeneration`) and
//! `disruptionsAllowed` > 0, which the eviction decrements (recording the
//! pod in `disruptedPods`) with a compare-and-swap before the pod is
//! deleted; else 429 TooManyRequests with a `DisruptionBudget` cause. Pods
//! that are not Ready may go under `unhealthyPodEvictionPolicy`.

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use super::write::delete_options_from;
use crate::error::{ApiError, ApiResult, Cause, Details};
use crate::meta;
use crate::negotiate::{Output, respond};
use crate::registry::list::{self, ListOptions};
use crate::registry::{DeleteOutcome, Resource};
use crate::strategy::Selector;

/// Upstream's `MaxDisruptedPodSize`.
const MAX_DISRUPTED_PODS: usize = 2000;

const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    let eviction = ctx.body_json()?;
    let body_name = meta::name(&eviction);
    if !body_name.is_empty() && body_name != ctx.name() {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let delete_body = eviction
        .get("deleteOptions")
        .filter(|d| d.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let opts = delete_options_from(ctx, &delete_body)?;
    let table = ctx.state.table();
    let pods = table
        .get("", "v1", "pods")
        .ok_or_else(ApiError::path_not_found)?;
    let pod = ctx.state.store.get(&pods, ctx.ns(), ctx.name()).await?;

    if !can_ignore_budget(&pod) {
        let pdbs = table
            .get("policy", "v1", "poddisruptionbudgets")
            .ok_or_else(ApiError::path_not_found)?;
        let mut matching = budgets_for(ctx, &pdbs, &pod).await?;
        match matching.len() {
            0 => {}
            1 => {
                let name = meta::name(&matching.remove(0)).to_string();
                take_disruption(ctx, &pdbs, &name, &pod, opts.dry_run).await?;
            }
            _ => {
                return Err(ApiError::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                ));
            }
        }
    }

    let outcome = ctx
        .state
        .store
        .delete(&pods, ctx.ns(), ctx.name(), &opts)
        .await?;
    if let DeleteOutcome::Deleted(obj) = &outcome
        && !opts.dry_run
    {
        ctx.state.deleted(&pods, obj);
    }
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    });
    Ok(respond(StatusCode::CREATED, &status, Output::Json))
}

/// Pods that are not running, or already going, need no budget.
fn can_ignore_budget(pod: &Value) -> bool {
    meta::is_deleting(pod)
        || matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Pending" | "Succeeded" | "Failed")
        )
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// The PDBs of the pod's namespace whose selector matches it (policy/v1:
/// an empty selector matches every pod, a missing one none).
async fn budgets_for(ctx: &Ctx, pdbs: &Resource, pod: &Value) -> ApiResult<Vec<Value>> {
    let found = list::list(&ctx.state.store, pdbs, ctx.ns(), &ListOptions::default()).await?;
    let labels = pod.pointer("/metadata/labels");
    Ok(found
        .items
        .into_iter()
        .filter(|pdb| {
            pdb.pointer("/spec/selector")
                .filter(|s| !s.is_null())
                .and_then(|s| Selector::parse(Some(s)).ok())
                .is_some_and(|sel| sel.matches(labels))
        })
        .collect())
}

fn too_many_requests(cause: String) -> ApiError {
    ApiError {
        details: Some(Box::new(Details {
            causes: vec![Cause {
                reason: "DisruptionBudget",
                message: cause,
                field: String::new(),
            }],
            retry_after_seconds: Some(0),
            ..Details::default()
        })),
        ..ApiError::new(429, "TooManyRequests", VIOLATION)
    }
}

/// Takes one disruption from the budget `name` for `pod` (upstream's
/// `checkAndDecrement`), retrying on write conflicts.
async fn take_disruption(
    ctx: &Ctx,
    pdbs: &Resource,
    name: &str,
    pod: &Value,
    dry_run: bool,
) -> ApiResult<()> {
    let pod_name = meta::name(pod).to_string();
    if !is_ready(pod) {
        // An unhealthy pod may go without using a disruption
        // (`unhealthyPodEvictionPolicy`, default IfHealthyBudget).
        let pdb = ctx.state.store.get(pdbs, ctx.ns(), name).await?;
        let status = |key: &str| {
            pdb.pointer(&format!("/status/{key}"))
                .and_then(Value::as_i64)
        };
        let policy = pdb
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("IfHealthyBudget");
        if policy == "AlwaysAllow"
            || status("currentHealthy").unwrap_or(0) >= status("desiredHealthy").unwrap_or(0)
        {
            return Ok(());
        }
    }
    ctx.state
        .store
        .guaranteed_update(pdbs, ctx.ns(), name, dry_run, |current| {
            let Some(mut pdb) = current else {
                return Err(ApiError::not_found(crate::registry::store::target(
                    pdbs, name,
                )));
            };
            let status = |key: &str| pdb.pointer(&format!("/status/{key}")).and_then(Value::as_i64);
            let generation = meta::meta(&pdb)
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if status("observedGeneration").unwrap_or(0) < generation {
                return Err(too_many_requests(format!(
                    "The disruption budget {name} is still being processed by the server."
                )));
            }
            let allowed = status("disruptionsAllowed").unwrap_or(0);
            let healthy = status("currentHealthy").unwrap_or(0);
            let desired = status("desiredHealthy").unwrap_or(0);
            if allowed < 0 {
                return Err(ApiError::forbidden("pdb disruptions allowed is negative"));
            }
            let disrupted = pdb
                .pointer("/status/disruptedPods")
                .and_then(Value::as_object)
                .map(|m| m.len())
                .unwrap_or(0);
            if disrupted >= MAX_DISRUPTED_PODS {
                return Err(ApiError::forbidden("DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
            }
            if allowed == 0 {
                return Err(too_many_requests(format!(
                    "The disruption budget {name} needs {desired} healthy pods and has {healthy} currently"
                )));
            }
            let status = &mut pdb["status"];
            status["disruptionsAllowed"] = json!(allowed - 1);
            let mut disrupted: BTreeMap<String, Value> = status
                .get("disruptedPods")
                .and_then(Value::as_object)
                .map(|m| m.clone().into_iter().collect())
                .unwrap_or_default();
            disrupted.insert(pod_name.clone(), json!(meta::now_rfc3339()));
            status["disruptedPods"] = json!(disrupted);
            if allowed - 1 == 0 {
                set_insufficient(status);
            }
            Ok(pdb)
        })
        .await?;
    Ok(())
}

/// The DisruptionAllowed condition once no disruption is left.
fn set_insufficient(status: &mut Value) {
    let condition = json!({
        "type": "DisruptionAllowed",
        "status": "False",
        "reason": "InsufficientPods",
        "message": "",
        "lastTransitionTime": meta::now_rfc3339(),
        "observedGeneration": status.get("observedGeneration").cloned().unwrap_or(json!(0)),
    });
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    if let Some(conditions) = status["conditions"].as_array_mut() {
        match conditions
            .iter_mut()
            .find(|c| c["type"] == "DisruptionAllowed")
        {
            Some(existing) if existing["status"] == "False" => {}
            Some(existing) => *existing = condition,
            None => conditions.push(condition),
        }
    }
}
