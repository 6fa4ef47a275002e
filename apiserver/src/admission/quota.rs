//! ResourceQuota admission (upstream's `ResourceQuota` plugin,
//! `staging/src/k8s.io/apiserver/pkg/admission/plugin/resourcequota`): a
//! new namespaced object is charged to every quota of its namespace that
//! covers it (scopes, and a `status.hard` name its kind is counted under).
//! Over a limit the create is refused with 403 and upstream's message
//! `exceeded quota: <quota>, requested: ..., used: ..., limited: ...`;
//! otherwise each quota's `status.used` is raised before the object is
//! stored, so creates that follow see the charge before the quota
//! controller recounts. The accounting is `component_base::quota`, shared
//! with that controller.

use std::collections::BTreeMap;

use component_base::quantity::milli_value;
use component_base::quota::{self, Usage};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, Details};
use crate::handlers::Ctx;
use crate::meta;
use crate::registry::Resource;
use crate::registry::list::{self, ListOptions};
use crate::registry::store::target;

/// Compute names a pod's containers must each state when a quota tracks
/// them (upstream's backward-compatible `Constraints`).
const MUST_SPECIFY: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// Charges `obj`, about to be created as `res`, to the quotas of its
/// namespace, or refuses it.
pub async fn charge(ctx: &Ctx, res: &Resource, obj: &Value) -> ApiResult<()> {
    let Some(ns) = ctx.ns() else {
        return Ok(());
    };
    if !res.info.namespaced {
        return Ok(());
    }
    let table = ctx.state.table();
    let Some(quotas_res) = table.get("", "v1", "resourcequotas") else {
        return Ok(());
    };
    let (group, plural) = (res.info.group, res.info.plural);
    let quotas = list::list(
        &ctx.state.store,
        &quotas_res,
        Some(ns),
        &ListOptions::default(),
    )
    .await?
    .items;
    if quotas.is_empty() {
        return Ok(());
    }
    let usage = quota::usage(group, plural, obj);
    let name = meta::name(obj);
    let qualified = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    let forbidden = |message: String| {
        let mut e = ApiError::forbidden(format!("{qualified} \"{name}\" is forbidden: {message}"));
        e.details = Some(Box::new(Details {
            name: name.to_string(),
            group: group.to_string(),
            kind: plural.to_string(),
            ..Default::default()
        }));
        e
    };
    let mut charges: Vec<(String, Usage)> = Vec::new();
    for q in &quotas {
        let quota_name = meta::name(q);
        let spec = q.get("spec").unwrap_or(&Value::Null);
        let hard = amounts(q.pointer("/status/hard"));
        let tracked: Vec<&String> = hard
            .keys()
            .filter(|n| quota::tracks(group, plural, n))
            .collect();
        if tracked.is_empty() || !quota::scopes_match(spec, group, plural, obj) {
            continue;
        }
        if (group, plural) == ("", "pods")
            && let Some(missing) = missing_requests(obj, &tracked)
        {
            return Err(forbidden(format!(
                "failed quota: {quota_name}: must specify {missing}"
            )));
        }
        let used = amounts(q.pointer("/status/used"));
        let unknown: Vec<&str> = tracked
            .iter()
            .filter(|n| !used.contains_key(n.as_str()))
            .map(|n| n.as_str())
            .collect();
        if !unknown.is_empty() {
            return Err(forbidden(format!(
                "status unknown for quota: {quota_name}, resource: {}",
                unknown.join(",")
            )));
        }
        let requested: Usage = tracked
            .iter()
            .filter_map(|n| Some(((*n).clone(), *usage.get(n.as_str())?)))
            .collect();
        if requested.is_empty() {
            continue;
        }
        exceeded(quota_name, &requested, &used, &hard).map_err(&forbidden)?;
        charges.push((quota_name.to_string(), requested));
    }
    if ctx.dry_run() {
        return Ok(());
    }
    for (quota_name, requested) in charges {
        record(ctx, &quotas_res, ns, &quota_name, &requested)
            .await
            .map_err(|e| match e.code {
                403 => forbidden(e.message),
                _ => e,
            })?;
    }
    Ok(())
}

/// Raises `status.used` of one quota by `requested`, checking the limits
/// again against the stored quota (a concurrent charge retries).
async fn record(
    ctx: &Ctx,
    quotas_res: &Resource,
    ns: &str,
    quota_name: &str,
    requested: &Usage,
) -> ApiResult<()> {
    ctx.state
        .store
        .guaranteed_update(quotas_res, Some(ns), quota_name, false, |current| {
            let Some(mut q) = current else {
                // Deleted meanwhile: nothing left to charge.
                return Err(ApiError::not_found(target(quotas_res, quota_name)));
            };
            let hard = amounts(q.pointer("/status/hard"));
            let used = amounts(q.pointer("/status/used"));
            exceeded(quota_name, requested, &used, &hard).map_err(ApiError::forbidden)?;
            let status = q.as_object_mut().map(|m| {
                m.entry("status")
                    .or_insert_with(|| Value::Object(Map::new()))
            });
            if let Some(Value::Object(status)) = status {
                let used_map = status
                    .entry("used")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(used_map) = used_map {
                    for (name, amount) in requested {
                        let total = used.get(name).copied().unwrap_or(0) + amount;
                        used_map.insert(name.clone(), Value::String(quota::format(name, total)));
                    }
                }
            }
            Ok(q)
        })
        .await
        .map(|_| ())
        .or_else(|e| if e.code == 404 { Ok(()) } else { Err(e) })
}

/// Err with upstream's message when `used + requested` passes `hard` for
/// any requested name.
fn exceeded(
    quota_name: &str,
    requested: &Usage,
    used: &BTreeMap<String, i64>,
    hard: &BTreeMap<String, i64>,
) -> Result<(), String> {
    let over: Vec<&String> = requested
        .iter()
        .filter(|(n, amount)| {
            let limit = hard.get(*n).copied().unwrap_or(i64::MAX);
            used.get(*n).copied().unwrap_or(0) + **amount > limit
        })
        .map(|(n, _)| n)
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    let list = |m: &BTreeMap<String, i64>| {
        over.iter()
            .map(|n| format!("{n}={}", quota::format(n, m.get(*n).copied().unwrap_or(0))))
            .collect::<Vec<_>>()
            .join(",")
    };
    Err(format!(
        "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
        list(requested),
        list(used),
        list(hard)
    ))
}

/// A quantity map (`status.hard`, `status.used`) in milli-units.
fn amounts(map: Option<&Value>) -> BTreeMap<String, i64> {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), milli_value(v.as_str()?)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// `cpu for: a,b; memory for: a` when a tracked compute name is missing
/// from some container's requests (or limits).
fn missing_requests(pod: &Value, tracked: &[&String]) -> Option<String> {
    let required: Vec<&str> = tracked
        .iter()
        .map(|n| n.as_str())
        .filter(|n| MUST_SPECIFY.contains(n))
        .collect();
    if required.is_empty() {
        return None;
    }
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for field in ["containers", "initContainers"] {
        let list = pod
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array);
        for c in list.into_iter().flatten() {
            let has = |section: &str, resource: &str| {
                c.pointer(&format!("/resources/{section}/{resource}"))
                    .is_some()
            };
            for name in &required {
                let present = match name.split_once('.') {
                    Some(("limits", r)) => has("limits", r),
                    Some((_, r)) => has("requests", r) || has("limits", r),
                    None => has("requests", name) || has("limits", name),
                };
                if !present {
                    let container = c.get("name").and_then(Value::as_str).unwrap_or("");
                    missing.entry(name).or_default().push(container.to_string());
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    Some(
        missing
            .into_iter()
            .map(|(name, mut containers)| {
                containers.sort();
                containers.dedup();
                format!("{name} for: {}", containers.join(","))
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn milli(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn exceeded_quota_message_names_only_the_exceeded_resources() {
        let requested = milli(&[("cpu", 600), ("pods", 1000)]);
        let used = milli(&[("cpu", 500), ("pods", 1000)]);
        let hard = milli(&[("cpu", 1000), ("pods", 5000)]);
        assert_eq!(
            exceeded("test-quota", &requested, &used, &hard),
            Err(
                "exceeded quota: test-quota, requested: cpu=600m, used: cpu=500m, limited: cpu=1"
                    .to_string()
            )
        );
        let requested = milli(&[("cpu", 500)]);
        assert_eq!(exceeded("q", &requested, &used, &hard), Ok(()));
    }

    #[test]
    fn containers_must_state_tracked_compute() {
        let pod = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "1"}}},
            {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
        ]}});
        let cpu = "requests.cpu".to_string();
        let mem = "requests.memory".to_string();
        let lim = "limits.cpu".to_string();
        assert_eq!(missing_requests(&pod, &[&cpu]), None);
        assert_eq!(
            missing_requests(&pod, &[&cpu, &mem, &lim]),
            Some("limits.cpu for: a; requests.memory for: a".to_string())
        );
    }
}
