//! Preemption (upstream's DefaultPreemption PostFilter plugin): when a pod
//! fits no node, find a node where removing pods of lower priority makes it
//! fit, remove as few and as unimportant pods as possible there, and tell
//! the caller which pods to evict and where the preemptor is nominated.
//!
//! Per node: take every lower-priority pod off (a copy of) the node; if the
//! preemptor still does not fit, the node cannot help. Otherwise put pods
//! back, most important first (those a PodDisruptionBudget protects before
//! the others), keeping each one that leaves room for the preemptor; the
//! rest are the victims. Among the nodes with victims, pick upstream's way:
//! fewest budget violations, then the lowest highest-victim priority, then
//! the lowest sum of priorities, then the fewest victims, then the latest
//! start among the most important victims.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::cache::{Placement, add_to, remove_from};
use crate::framework::{NodeInfo, PodInfo, Profile};

/// Why a pod may not preempt (upstream's `PodEligibleToPreemptOthers`).
pub fn ineligible_reason(pod: &Pod, nominated_has_terminating_victim: bool) -> Option<String> {
    let policy = pod
        .spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        .unwrap_or("PreemptLowerPriority");
    if policy == "Never" {
        return Some("not eligible due to preemptionPolicy=Never.".into());
    }
    if nominated_has_terminating_victim {
        return Some("not eligible due to a terminating pod on the nominated node.".into());
    }
    None
}

/// A node where the preemptor fits once `victims` are gone.
#[derive(Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<Pod>>,
    pub budget_violations: usize,
}

/// What a PodDisruptionBudget allows, reduced as victims are chosen.
pub struct Budget {
    namespace: String,
    selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
    allowed: i32,
}

impl Budget {
    pub fn from_pdb(pdb: &PodDisruptionBudget) -> Budget {
        Budget {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector: pdb.spec.as_ref().and_then(|s| s.selector.clone()),
            allowed: pdb
                .status
                .as_ref()
                .map(|s| s.disruptions_allowed)
                .unwrap_or(0),
        }
    }

    fn covers(&self, pod: &Pod) -> bool {
        if pod.metadata.namespace.as_deref().unwrap_or_default() != self.namespace {
            return false;
        }
        let Some(selector) = &self.selector else {
            return false; // a nil selector selects nothing
        };
        let empty = std::collections::BTreeMap::new();
        let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
        selector_matches(selector, labels)
    }
}

fn selector_matches(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// Upstream's `MoreImportantPod`: higher priority, then earlier start.
fn more_important_first(a: &Placement, b: &Placement) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start_time(&a.pod).cmp(&start_time(&b.pod)))
}

fn start_time(pod: &Pod) -> i64 {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.as_second())
        .unwrap_or(i64::MAX)
}

fn fits(profile: &Profile, pod: &PodInfo, node: &NodeInfo) -> bool {
    profile.filters.iter().all(|f| f.filter(pod, node).is_ok())
}

/// The victims on one node, or None when removing every lower-priority pod
/// would not make room.
fn victims_on(
    profile: &Profile,
    pod: &PodInfo,
    node: &NodeInfo,
    placed: &[&Placement],
    budgets: &[Budget],
) -> Option<Candidate> {
    let mut lower: Vec<&Placement> = placed
        .iter()
        .copied()
        .filter(|p| p.priority < pod.priority)
        .collect();
    if lower.is_empty() {
        return None;
    }
    let mut trial = node.clone();
    for p in &lower {
        remove_from(&mut trial, p);
    }
    if !fits(profile, pod, &trial) {
        return None;
    }
    lower.sort_by(|a, b| more_important_first(a, b));
    let (protected, free): (Vec<&Placement>, Vec<&Placement>) = lower
        .into_iter()
        .partition(|p| budgets.iter().any(|b| b.covers(&p.pod) && b.allowed <= 0));
    let mut victims = Vec::new();
    let mut budget_violations = 0;
    for (p, is_protected) in protected
        .iter()
        .map(|p| (*p, true))
        .chain(free.iter().map(|p| (*p, false)))
    {
        add_to(&mut trial, p);
        if !fits(profile, pod, &trial) {
            remove_from(&mut trial, p);
            victims.push(p.pod.clone());
            if is_protected {
                budget_violations += 1;
            }
        }
    }
    if victims.is_empty() {
        return None;
    }
    Some(Candidate {
        node: node.name.clone(),
        victims,
        budget_violations,
    })
}

fn priority(pod: &Pod) -> i64 {
    i64::from(crate::framework::priority_of(pod))
}

/// The best node to preempt on, if any (`nodes` with their placed pods).
pub fn select(
    profile: &Profile,
    pod: &PodInfo,
    nodes: &[(&NodeInfo, Vec<&Placement>)],
    budgets: &[Budget],
) -> Option<Candidate> {
    let candidates: Vec<Candidate> = nodes
        .iter()
        .filter_map(|(node, placed)| victims_on(profile, pod, node, placed, budgets))
        .collect();
    candidates.into_iter().min_by_key(|c| {
        let highest = c.victims.iter().map(|v| priority(v)).max().unwrap_or(0);
        // Upstream offsets each priority by MaxInt32+1 so sums stay positive.
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| priority(v) + i64::from(i32::MAX) + 1)
            .sum();
        let latest_start_of_highest = c
            .victims
            .iter()
            .filter(|v| priority(v) == highest)
            .map(|v| start_time(v))
            .min()
            .unwrap_or(i64::MAX);
        (
            c.budget_violations,
            highest,
            sum,
            c.victims.len(),
            std::cmp::Reverse(latest_start_of_highest),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Cache;
    use serde_json::json;

    fn node(name: &str, foo: &str) -> Arc<k8s_openapi::api::core::v1::Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110", "example.com/foo": foo}},
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, priority: i32, foo: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": name}},
            "spec": {"priority": priority, "containers": [{"name": "c", "resources": {
                "requests": {"example.com/foo": foo}, "limits": {"example.com/foo": foo}}}]},
        }))
        .unwrap()
    }

    fn setup(pods: &[(&str, i32, &str, &str)]) -> Cache {
        let mut cache = Cache::default();
        cache.set_node(node("a", "5"));
        cache.set_node(node("b", "5"));
        for (name, prio, foo, on) in pods {
            cache.place(&format!("ns/{name}"), &pod(name, *prio, foo), on, false);
        }
        cache
    }

    fn run(cache: &Cache, preemptor: &Pod, budgets: &[Budget]) -> Option<Candidate> {
        let by_node = cache.placements_by_node();
        let nodes: Vec<(&NodeInfo, Vec<&Placement>)> = cache
            .nodes()
            .map(|n| {
                let placed = by_node
                    .get(n.name.as_str())
                    .map(|v| v.iter().map(|(_, p)| *p).collect())
                    .unwrap_or_default();
                (n, placed)
            })
            .collect();
        select(
            &Profile::default(),
            &PodInfo::new(Arc::new(preemptor.clone())),
            &nodes,
            budgets,
        )
    }

    fn names(c: &Candidate) -> Vec<String> {
        c.victims
            .iter()
            .map(|v| v.metadata.name.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn evicts_only_the_low_priority_pod_it_needs() {
        let cache = setup(&[
            ("low", 1, "2", "a"),
            ("mid-a", 100, "2", "a"),
            ("mid-b1", 100, "2", "b"),
            ("mid-b2", 100, "2", "b"),
        ]);
        let c = run(&cache, &pod("high", 1000, "2"), &[]).expect("a candidate");
        assert_eq!(c.node, "a");
        assert_eq!(names(&c), vec!["low"]);
    }

    #[test]
    fn no_candidate_without_lower_priority_pods() {
        let cache = setup(&[("x", 100, "4", "a"), ("y", 100, "4", "b")]);
        assert!(run(&cache, &pod("same", 100, "2"), &[]).is_none());
    }

    #[test]
    fn budgets_steer_the_choice() {
        let cache = setup(&[("p1", 1, "4", "a"), ("p2", 1, "4", "b")]);
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "p1"}}},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1},
        }))
        .unwrap();
        let c = run(&cache, &pod("high", 1000, "2"), &[Budget::from_pdb(&pdb)]).unwrap();
        assert_eq!((c.node.as_str(), c.budget_violations), ("b", 0));
    }

    #[test]
    fn never_policy_is_ineligible() {
        let mut p = pod("x", 5, "1");
        p.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        assert_eq!(
            ineligible_reason(&p, false).as_deref(),
            Some("not eligible due to preemptionPolicy=Never.")
        );
        assert!(ineligible_reason(&pod("y", 5, "1"), false).is_none());
    }
}
