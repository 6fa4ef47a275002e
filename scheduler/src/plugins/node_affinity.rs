//! NodeAffinity: `spec.nodeSelector` and the required node affinity terms
//! must match the node (filter, reason `node(s) didn't match Pod's node
//! affinity/selector`); matching preferred terms add their weights (score,
//! weight 2, normalized to the best node).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};

use crate::framework::{self, FilterPlugin, NodeInfo, PodInfo, ScorePlugin, Unfit};

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

pub struct NodeAffinity;

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A term matches when all its expressions and fields match; an empty term
/// matches nothing (upstream).
pub fn term_matches(
    term: &NodeSelectorTerm,
    labels: &BTreeMap<String, String>,
    name: &str,
) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let name = name.to_string();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(&name)))
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let empty = BTreeMap::new();
        let labels = node.node.metadata.labels.as_ref().unwrap_or(&empty);
        let spec = pod.pod.spec.as_ref();
        let selector_ok = spec
            .and_then(|s| s.node_selector.as_ref())
            .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)));
        let required = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            });
        let affinity_ok = required.is_none_or(|r| {
            r.node_selector_terms
                .iter()
                .any(|t| term_matches(t, labels, &node.name))
        });
        if selector_ok && affinity_ok {
            Ok(())
        } else {
            Err(Unfit::unresolvable(REASON))
        }
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let empty = BTreeMap::new();
        let labels = node.node.metadata.labels.as_ref().unwrap_or(&empty);
        pod.pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or_default()
            .iter()
            .filter(|p| term_matches(&p.preference, labels, &node.name))
            .map(|p| i64::from(p.weight))
            .sum()
    }

    fn normalize(&self, scores: &mut [i64]) {
        framework::normalize_to_max(scores, false);
    }
}
