//! TaintToleration: a node's NoSchedule/NoExecute taints must be tolerated
//! (filter, reason `node(s) had untolerated taint {key: value}`); fewer
//! untolerated PreferNoSchedule taints score higher (weight 3).

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::{self, FilterPlugin, NodeInfo, PodInfo, ScorePlugin, Unfit};

pub struct TaintToleration;

/// Upstream's `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            t.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

fn tolerations(pod: &PodInfo) -> &[Toleration] {
    pod.pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

fn taints(node: &NodeInfo) -> &[Taint] {
    node.node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let tols = tolerations(pod);
        let untolerated = taints(node)
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .find(|taint| !tols.iter().any(|t| tolerates(t, taint)));
        match untolerated {
            None => Ok(()),
            Some(t) => Err(Unfit::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                t.key,
                t.value.as_deref().unwrap_or_default()
            ))),
        }
    }
}

impl ScorePlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn weight(&self) -> i64 {
        3
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let tols: Vec<&Toleration> = tolerations(pod)
            .iter()
            .filter(|t| {
                t.effect
                    .as_deref()
                    .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
            })
            .collect();
        taints(node)
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule")
            .filter(|taint| !tols.iter().any(|t| tolerates(t, taint)))
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        framework::normalize_to_max(scores, true);
    }
}
