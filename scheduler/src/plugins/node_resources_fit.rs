//! NodeResourcesFit: the pod's requests must fit the node's allocatable
//! minus what bound and assumed pods request (filter, reasons `Too many
//! pods`, `Insufficient cpu`, `Insufficient memory`, `Insufficient <name>`);
//! LeastAllocated scoring (weight 1): for cpu and memory,
//! `(allocatable - requested) * 100 / allocatable`, averaged, with
//! upstream's non-zero request defaults.

use crate::framework::{FilterPlugin, MAX_NODE_SCORE, NodeInfo, PodInfo, ScorePlugin, Unfit};
use crate::resources;

pub struct NodeResourcesFit;

impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let mut reasons = Vec::new();
        let max_pods = node.allocatable.get("pods").copied().unwrap_or(0) / 1000;
        if node.pod_count + 1 > max_pods {
            reasons.push("Too many pods".to_string());
        }
        for (name, want) in &pod.requests {
            if *want <= 0 || name == "pods" {
                continue;
            }
            let have = node.allocatable.get(name).copied().unwrap_or(0);
            let used = node.requested.get(name).copied().unwrap_or(0);
            if want + used > have {
                reasons.push(format!("Insufficient {name}"));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(Unfit::resolvable(reasons))
        }
    }
}

/// Requested (with the pod) and allocatable cpu and memory, non-zero rules.
pub fn usage(pod: &PodInfo, node: &NodeInfo) -> [(i64, i64); 2] {
    let (pod_cpu, pod_mem) = resources::non_zero(&pod.requests);
    let (cpu, mem) = node.non_zero_requested;
    [
        (
            cpu + pod_cpu,
            node.allocatable.get("cpu").copied().unwrap_or(0),
        ),
        (
            mem + pod_mem,
            node.allocatable.get("memory").copied().unwrap_or(0),
        ),
    ]
}

impl ScorePlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let parts = usage(pod, node);
        let sum: i64 = parts
            .iter()
            .map(|(requested, allocatable)| {
                if *allocatable <= 0 || requested > allocatable {
                    0
                } else {
                    ((allocatable - requested) as i128 * MAX_NODE_SCORE as i128
                        / *allocatable as i128) as i64
                }
            })
            .sum();
        sum / parts.len() as i64
    }
}
