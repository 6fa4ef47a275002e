//! The Priority admission plugin (upstream's
//! `plugin/pkg/admission/priority`):
//! - a new pod gets `spec.priority` and `spec.preemptionPolicy` from its
//!   `priorityClassName`, or from the `globalDefault` class (its name is
//!   then set too), or priority 0 and `PreemptLowerPriority`; a class that
//!   does not exist, or a priority or policy in the pod that differs from
//!   the class's, is 403;
//! - a new or updated PriorityClass may be `globalDefault` only if no other
//!   class is.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::registry::list::{self, ListOptions};
use crate::state::ApiState;
use crate::strategy::scheduling::DEFAULT_PREEMPTION_POLICY;

/// What a pod's priority comes from.
struct Class {
    name: String,
    value: i64,
    preemption_policy: String,
}

impl Class {
    fn from_object(pc: &Value) -> Class {
        Class {
            name: meta::name(pc).to_string(),
            value: pc.get("value").and_then(Value::as_i64).unwrap_or(0),
            preemption_policy: pc
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_PREEMPTION_POLICY)
                .to_string(),
        }
    }
}

async fn classes(state: &ApiState) -> ApiResult<Vec<Value>> {
    let Some(res) = state
        .table()
        .get("scheduling.k8s.io", "v1", "priorityclasses")
    else {
        return Ok(Vec::new());
    };
    Ok(
        list::list(&state.store, &res, None, &ListOptions::default())
            .await?
            .items,
    )
}

/// The global default class (the highest one if several claim it).
async fn default_class(state: &ApiState) -> ApiResult<Option<Class>> {
    Ok(classes(state)
        .await?
        .iter()
        .filter(|pc| pc.get("globalDefault").and_then(Value::as_bool) == Some(true))
        .map(Class::from_object)
        .max_by_key(|c| c.value))
}

/// Sets a new pod's priority; `forbidden` makes the 403 for a reason.
pub async fn admit_pod(
    state: &ApiState,
    pod: &mut Value,
    forbidden: impl Fn(&str) -> ApiError,
) -> ApiResult<()> {
    if !pod.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let class_name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let class = if class_name.is_empty() {
        match default_class(state).await? {
            Some(c) => {
                pod["spec"]["priorityClassName"] = json!(c.name);
                c
            }
            None => Class {
                name: String::new(),
                value: 0,
                preemption_policy: DEFAULT_PREEMPTION_POLICY.into(),
            },
        }
    } else {
        let res = state
            .table()
            .get("scheduling.k8s.io", "v1", "priorityclasses")
            .ok_or_else(ApiError::path_not_found)?;
        match state.store.get(&res, None, &class_name).await {
            Ok(pc) => Class::from_object(&pc),
            Err(e) if e.code == 404 => {
                return Err(forbidden(&format!(
                    "no PriorityClass with name {class_name} was found"
                )));
            }
            Err(e) => return Err(e),
        }
    };
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64)
        && given != class.value
    {
        return Err(forbidden(&format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
            class.value
        )));
    }
    pod["spec"]["priority"] = json!(class.value);
    if let Some(given) = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        && given != class.preemption_policy
    {
        return Err(forbidden(&format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
            class.preemption_policy
        )));
    }
    pod["spec"]["preemptionPolicy"] = json!(class.preemption_policy);
    Ok(())
}

/// Refuses a second `globalDefault` PriorityClass.
pub async fn admit_priority_class(
    state: &ApiState,
    pc: &Value,
    forbidden: impl Fn(&str) -> ApiError,
) -> ApiResult<()> {
    if pc.get("globalDefault").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    let name = meta::name(pc);
    if let Some(other) = classes(state).await?.iter().find(|c| {
        meta::name(c) != name && c.get("globalDefault").and_then(Value::as_bool) == Some(true)
    }) {
        return Err(forbidden(&format!(
            "PriorityClass {} is already marked as default. Only one default can exist",
            meta::name(other)
        )));
    }
    Ok(())
}
