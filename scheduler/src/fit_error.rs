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

/// The message for `nodes` nodes that all refused the pod with `unfit`.
/// No preemption is attempted: every pod has the same priority here, so no
/// node holds victims (see docs/compatibility.md).
pub fn message(nodes: usize, unfit: &[Unfit]) -> String {
    if nodes == 0 {
        return NO_NODES.to_string();
    }
    let filters = histogram(
        unfit
            .iter()
            .flat_map(|u| u.reasons.iter().map(String::as_str)),
    );
    let preemption = histogram(unfit.iter().map(|u| {
        if u.unresolvable {
            PREEMPTION_NOT_HELPFUL
        } else {
            NO_VICTIMS
        }
    }));
    format!(
        "0/{nodes} nodes are available: {filters}. preemption: 0/{nodes} nodes are available: {preemption}.."
    )
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
