//! The plugin framework (a small form of upstream's scheduling framework):
//! `FilterPlugin`s say whether a pod fits a node, with upstream's reason
//! strings; `ScorePlugin`s rank the feasible nodes 0..=100, optionally
//! normalized over all nodes, and are combined with weights.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::resources::{self, Resources};

/// Highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// A pod being scheduled, with what plugins need precomputed.
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub requests: Resources,
    pub host_ports: Vec<HostPort>,
    /// `spec.priority` (set by the API server's Priority admission; 0 when
    /// absent).
    pub priority: i32,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let requests = resources::pod_requests(&pod);
        let host_ports = host_ports(&pod);
        PodInfo {
            priority: priority_of(&pod),
            pod,
            requests,
            host_ports,
        }
    }
}

/// A pod's priority (upstream's `corev1helpers.PodPriority`).
pub fn priority_of(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.as_deref().unwrap_or_default())
        .flat_map(|c| c.ports.as_deref().unwrap_or_default())
        .filter_map(|p| {
            let port = p.host_port.filter(|h| *h > 0)?;
            Some(HostPort {
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                ip: p
                    .host_ip
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                port,
            })
        })
        .collect()
}

/// A node and what is already placed on it (bound and assumed pods).
#[derive(Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    pub name: String,
    pub allocatable: Resources,
    pub requested: Resources,
    /// cpu and memory of the pods here, counting upstream's non-zero
    /// defaults (for scoring).
    pub non_zero_requested: (i64, i64),
    pub pod_count: i64,
    pub used_ports: BTreeSet<HostPort>,
}

/// Why a filter refused a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit {
    pub reasons: Vec<String>,
    /// Upstream's UnschedulableAndUnresolvable: preemption cannot help.
    pub unresolvable: bool,
}

impl Unfit {
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Unfit {
            reasons: vec![reason.into()],
            unresolvable: true,
        }
    }

    pub fn resolvable(reasons: Vec<String>) -> Self {
        Unfit {
            reasons,
            unresolvable: false,
        }
    }
}

pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit>;
}

pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    /// Upstream's default weight for the plugin.
    fn weight(&self) -> i64;
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64;
    /// Scales raw scores of all feasible nodes into 0..=MAX_NODE_SCORE.
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// Upstream's `DefaultNormalizeScore`: scale to the maximum, optionally
/// reversed (lower raw score is better).
pub fn normalize_to_max(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

/// The default plugin set, in upstream's order.
pub struct Profile {
    pub filters: Vec<Box<dyn FilterPlugin>>,
    pub scores: Vec<Box<dyn ScorePlugin>>,
}

impl Default for Profile {
    fn default() -> Self {
        use crate::plugins::*;
        Profile {
            filters: vec![
                Box::new(node_unschedulable::NodeUnschedulable),
                Box::new(node_name::NodeName),
                Box::new(taint_toleration::TaintToleration),
                Box::new(node_affinity::NodeAffinity),
                Box::new(node_ports::NodePorts),
                Box::new(node_resources_fit::NodeResourcesFit),
            ],
            scores: vec![
                Box::new(taint_toleration::TaintToleration),
                Box::new(node_affinity::NodeAffinity),
                Box::new(node_resources_fit::NodeResourcesFit),
                Box::new(balanced_allocation::BalancedAllocation),
            ],
        }
    }
}
