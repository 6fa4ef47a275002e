//! NodeResourcesBalancedAllocation (weight 1): prefers nodes where cpu and
//! memory would be used in equal fractions: `(1 - std) * 100` where `std`
//! is the standard deviation of the two fractions (`|cpu - mem| / 2`),
//! fractions capped at 1, like upstream.

use super::node_resources_fit::usage;
use crate::framework::{MAX_NODE_SCORE, NodeInfo, PodInfo, ScorePlugin};

pub struct BalancedAllocation;

impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }

    fn weight(&self) -> i64 {
        1
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let fractions: Vec<f64> = usage(pod, node)
            .iter()
            .map(|(requested, allocatable)| {
                if *allocatable <= 0 {
                    1.0
                } else {
                    (*requested as f64 / *allocatable as f64).min(1.0)
                }
            })
            .collect();
        let std = (fractions[0] - fractions[1]).abs() / 2.0;
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}
