//! The LimitRanger admission plugin (upstream's
//! `plugin/pkg/admission/limitranger`): the LimitRanges of a namespace
//! default and bound the resources of what is created in it.
//! - New pods: each container and init container without a limit (request)
//!   for a resource gets the `default` (`defaultRequest`) of every
//!   `Container` item, noted in the `kubernetes.io/limit-ranger`
//!   annotation; then `min` (on requests), `max` (on limits and requests)
//!   and `maxLimitRequestRatio` are checked per container (`Container`
//!   items) and over the pod (`Pod` items).
//! - New PersistentVolumeClaims: `min`/`max` of `PersistentVolumeClaim`
//!   items on the storage request.
//!
//! A violation is 403 with upstream's messages, several in brackets.

use std::collections::BTreeMap;

use component_base::quantity::milli_value;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::registry::list::{self, ListOptions};
use crate::state::ApiState;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// The `spec.limits` items of the namespace's LimitRanges.
async fn items(state: &ApiState, namespace: &str) -> ApiResult<Vec<Value>> {
    let Some(res) = state.table().get("", "v1", "limitranges") else {
        return Ok(Vec::new());
    };
    let ranges = list::list(&state.store, &res, Some(namespace), &ListOptions::default())
        .await?
        .items;
    Ok(ranges
        .iter()
        .filter_map(|r| r.pointer("/spec/limits").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect())
}

fn of_type<'a>(items: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    items
        .iter()
        .filter(move |i| i.get("type").and_then(Value::as_str) == Some(kind))
}

fn quantities(item: &Value, field: &str) -> BTreeMap<String, String> {
    item.get(field)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Defaults and checks a new pod in `namespace`.
pub async fn admit_pod(
    state: &ApiState,
    namespace: &str,
    pod: &mut Value,
    forbidden: impl Fn(&str) -> ApiError,
) -> ApiResult<()> {
    let items = items(state, namespace).await?;
    if items.is_empty() || !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    apply_defaults(&items, pod);
    let errors = validate_pod(&items, pod);
    match errors.len() {
        0 => Ok(()),
        1 => Err(forbidden(&errors[0])),
        _ => Err(forbidden(&format!("[{}]", errors.join(", ")))),
    }
}

/// Checks a new PersistentVolumeClaim in `namespace`.
pub async fn admit_pvc(
    state: &ApiState,
    namespace: &str,
    pvc: &Value,
    forbidden: impl Fn(&str) -> ApiError,
) -> ApiResult<()> {
    let items = items(state, namespace).await?;
    let requests = quantities(
        pvc.pointer("/spec/resources").unwrap_or(&Value::Null),
        "requests",
    );
    let limits = quantities(
        pvc.pointer("/spec/resources").unwrap_or(&Value::Null),
        "limits",
    );
    let mut errors = Vec::new();
    for item in of_type(&items, "PersistentVolumeClaim") {
        check_item(
            item,
            "PersistentVolumeClaim",
            &requests,
            &limits,
            false,
            &mut errors,
        );
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(forbidden(&errors[0])),
        _ => Err(forbidden(&format!("[{}]", errors.join(", ")))),
    }
}

/// Fills missing limits and requests from the `Container` items and
/// records what was set in the pod's annotation.
fn apply_defaults(items: &[Value], pod: &mut Value) {
    let mut defaults_limits = BTreeMap::new();
    let mut defaults_requests = BTreeMap::new();
    for item in of_type(items, "Container") {
        for (k, v) in quantities(item, "default") {
            defaults_limits.entry(k).or_insert(v);
        }
        for (k, v) in quantities(item, "defaultRequest") {
            defaults_requests.entry(k).or_insert(v);
        }
    }
    let mut notes = Vec::new();
    for (list, what) in [
        ("initContainers", "init container"),
        ("containers", "container"),
    ] {
        let Some(containers) = pod["spec"].get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !c.get("resources").is_some_and(Value::is_object) {
                c["resources"] = json!({});
            }
            let set_requests = fill(&mut c["resources"], "requests", &defaults_requests);
            let set_limits = fill(&mut c["resources"], "limits", &defaults_limits);
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {what} {name}",
                    set_requests.join(", ")
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!("{} limit for {what} {name}", set_limits.join(", ")));
            }
        }
    }
    if notes.is_empty() {
        return;
    }
    let meta = crate::meta::meta_mut(pod);
    let annotations = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    annotations[ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
}

/// Sets the `defaults` the resources' `field` lacks; returns their names.
fn fill(resources: &mut Value, field: &str, defaults: &BTreeMap<String, String>) -> Vec<String> {
    if defaults.is_empty() {
        return Vec::new();
    }
    if !resources.get(field).is_some_and(Value::is_object) {
        resources[field] = json!({});
    }
    let mut set = Vec::new();
    if let Some(map) = resources[field].as_object_mut() {
        for (k, v) in defaults {
            if !map.contains_key(k) {
                map.insert(k.clone(), json!(v));
                set.push(k.clone());
            }
        }
    }
    set
}

fn validate_pod(items: &[Value], pod: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .filter_map(|l| pod.pointer(&format!("/spec/{l}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let resources =
        |c: &Value, field: &str| quantities(c.get("resources").unwrap_or(&Value::Null), field);
    for item in of_type(items, "Container") {
        for c in &containers {
            check_item(
                item,
                "Container",
                &resources(c, "requests"),
                &resources(c, "limits"),
                true,
                &mut errors,
            );
        }
    }
    let pod_items: Vec<&Value> = of_type(items, "Pod").collect();
    if !pod_items.is_empty() {
        let (requests, limits) = pod_totals(pod);
        for item in pod_items {
            check_item(item, "Pod", &requests, &limits, true, &mut errors);
        }
    }
    errors
}

/// The pod's summed requests and limits (regular containers; an init
/// container counts where it asks for more than all of them).
fn pod_totals(pod: &Value) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let sum = |list: &str, field: &str, max: bool, into: &mut BTreeMap<String, i64>| {
        for c in pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for (k, v) in quantities(c.get("resources").unwrap_or(&Value::Null), field) {
                let m = milli_value(&v).unwrap_or(0);
                let entry = into.entry(k).or_insert(0);
                *entry = if max { (*entry).max(m) } else { *entry + m };
            }
        }
    };
    let total = |field: &str| {
        let mut regular = BTreeMap::new();
        sum("containers", field, false, &mut regular);
        let mut init = BTreeMap::new();
        sum("initContainers", field, true, &mut init);
        for (k, v) in init {
            let e = regular.entry(k).or_insert(0);
            *e = (*e).max(v);
        }
        regular
            .into_iter()
            .map(|(k, m)| (k, format_milli(m)))
            .collect::<BTreeMap<_, _>>()
    };
    (total("requests"), total("limits"))
}

/// A milli-value as a quantity string (`1500m`, `2`).
fn format_milli(m: i64) -> String {
    if m % 1000 == 0 {
        (m / 1000).to_string()
    } else {
        format!("{m}m")
    }
}

/// Upstream's minConstraint, maxConstraint and limitRequestRatioConstraint
/// for one item of type `kind`.
fn check_item(
    item: &Value,
    kind: &str,
    requests: &BTreeMap<String, String>,
    limits: &BTreeMap<String, String>,
    ratio_checks: bool,
    errors: &mut Vec<String>,
) {
    let milli = |q: &str| milli_value(q).unwrap_or(0);
    for (res, enforced) in quantities(item, "min") {
        let (req, lim) = (requests.get(&res), limits.get(&res));
        match req {
            None => errors.push(format!(
                "minimum {res} usage per {kind} is {enforced}.  No request is specified"
            )),
            Some(r) if milli(r) < milli(&enforced) => errors.push(format!(
                "minimum {res} usage per {kind} is {enforced}, but request is {r}"
            )),
            Some(_) => {
                if let Some(l) = lim.filter(|l| milli(l) < milli(&enforced)) {
                    errors.push(format!(
                        "minimum {res} usage per {kind} is {enforced}, but limit is {l}"
                    ));
                }
            }
        }
    }
    for (res, enforced) in quantities(item, "max") {
        let (req, lim) = (requests.get(&res), limits.get(&res));
        match lim {
            None if kind != "PersistentVolumeClaim" => errors.push(format!(
                "maximum {res} usage per {kind} is {enforced}.  No limit is specified"
            )),
            Some(l) if milli(l) > milli(&enforced) => errors.push(format!(
                "maximum {res} usage per {kind} is {enforced}, but limit is {l}"
            )),
            _ => {
                if let Some(r) = req.filter(|r| milli(r) > milli(&enforced)) {
                    errors.push(format!(
                        "maximum {res} usage per {kind} is {enforced}, but request is {r}"
                    ));
                }
            }
        }
    }
    if !ratio_checks {
        return;
    }
    for (res, enforced) in quantities(item, "maxLimitRequestRatio") {
        let (req, lim) = (
            requests.get(&res).map(|r| milli(r)).unwrap_or(0),
            limits.get(&res).map(|l| milli(l)).unwrap_or(0),
        );
        if req == 0 || lim == 0 {
            errors.push(format!(
                "{res} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
            ));
            continue;
        }
        let ratio = lim as f64 / req as f64;
        if ratio > milli(&enforced) as f64 / 1000.0 {
            errors.push(format!(
                "{res} max limit to request ratio per {kind} is {enforced}, but provided ratio is {ratio:.6}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container_item() -> Value {
        json!({
            "type": "Container",
            "min": {"cpu": "50m", "memory": "100Mi"},
            "max": {"cpu": "500m", "memory": "500Mi"},
            "default": {"cpu": "500m", "memory": "500Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "200Mi"},
        })
    }

    fn pod(requests: Value, limits: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c",
            "resources": {"requests": requests, "limits": limits}}]}})
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let items = vec![container_item()];
        let mut p = pod(
            json!({"memory": "150Mi", "cpu": "300m"}),
            json!({"cpu": "300m"}),
        );
        apply_defaults(&items, &mut p);
        let r = &p["spec"]["containers"][0]["resources"];
        assert_eq!(r["requests"], json!({"cpu": "300m", "memory": "150Mi"}));
        assert_eq!(r["limits"], json!({"cpu": "300m", "memory": "500Mi"}));
        assert_eq!(
            p["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: memory limit for container c"
        );
        assert!(validate_pod(&items, &p).is_empty());
    }

    #[test]
    fn min_and_max_violations() {
        let items = vec![container_item()];
        let mut small = pod(json!({"cpu": "10m", "memory": "50Mi"}), json!({}));
        apply_defaults(&items, &mut small);
        assert_eq!(
            validate_pod(&items, &small),
            vec![
                "minimum cpu usage per Container is 50m, but request is 10m".to_string(),
                "minimum memory usage per Container is 100Mi, but request is 50Mi".to_string(),
            ]
        );
        let mut big = pod(json!({"cpu": "600m"}), json!({}));
        apply_defaults(&items, &mut big);
        assert_eq!(
            validate_pod(&items, &big),
            vec!["maximum cpu usage per Container is 500m, but request is 600m".to_string()]
        );
    }

    #[test]
    fn ratio_and_pod_totals() {
        let items = vec![
            json!({"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}),
            json!({"type": "Pod", "max": {"cpu": "1"}}),
        ];
        let p = json!({"spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "300m"}}},
            {"name": "b", "resources": {"requests": {"cpu": "400m"}, "limits": {"cpu": "800m"}}},
        ]}});
        assert_eq!(
            validate_pod(&items, &p),
            vec![
                "cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000"
                    .to_string(),
                "maximum cpu usage per Pod is 1, but limit is 1100m".to_string(),
            ]
        );
    }
}
