//! The message of a pod that fits no node, worded like upstream's
//! `FitError.Error()` followed by the default preemption plugin's verdict:
//! `0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2
//! Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is
//! not helpful for scheduling, 2 No preemption victims found for incoming
//! pod..` (the doubled period is upstream's). Reasons are counted per node
//! and sorted as strings, like upstream's `sortReasonsHistogram`.

use std::collections::BTreeMap;

use crate::framework::Unfit;

pub const NO_NODES: &str = "no nodes available to schedule pods";
pub const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// What preemption made of an unschedulable pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostFilter<'a> {
    /// No node has victims that would make room.
    NoVictims,
    /// Victims are being evicted; the pod is nominated to a node (upstream
    /// then adds nothing to the message).
    Nominated,
    /// The pod may not preempt (e.g. `preemptionPolicy: Never`).
    NotEligible(&'a str),
}

/// The message for `nodes` nodes that all refused the pod with `unfit`,
/// when no node has preemption victims.
pub fn message(nodes: usize, unfit: &[Unfit]) -> String {
    message_after(nodes, unfit, PostFilter::NoVictims)
}

/// The message for `nodes` nodes that all refused the pod with `unfit`,
/// then preemption's outcome `post`.
pub fn message_after(nodes: usize, unfit: &[Unfit], post: PostFilter<'_>) -> String {
    if nodes == 0 {
        return NO_NODES.to_string();
    }
    let filters = histogram(
        unfit
            .iter()
            .flat_map(|u| u.reasons.iter().map(String::as_str)),
    );
    let base = format!("0/{nodes} nodes are available: {filters}.");
    match post {
        PostFilter::Nominated => base,
        PostFilter::NotEligible(why) => format!("{base} preemption: {why}."),
        PostFilter::NoVictims => {
            let preemption = histogram(unfit.iter().map(|u| {
                if u.unresolvable {
                    PREEMPTION_NOT_HELPFUL
                } else {
                    NO_VICTIMS
                }
            }));
            format!("{base} preemption: 0/{nodes} nodes are available: {preemption}..")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_wording() {
        let taint = Unfit::unresolvable(
            "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
        );
        let cpu = Unfit::resolvable(vec!["Insufficient cpu".into()]);
        assert_eq!(
            message(3, &[taint, cpu.clone(), cpu]),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
        );
        assert_eq!(message(0, &[]), NO_NODES);
    }

    #[test]
    fn several_reasons_on_one_node_all_count() {
        let both = Unfit::resolvable(vec![
            "Insufficient cpu".into(),
            "Insufficient memory".into(),
        ]);
        assert_eq!(
            message(1, &[both]),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.."
        );
    }
}
