//! What the cluster's nodes allow: tests whose pods must be scheduled and
//! become Running/Ready ([`NodeNeed::Schedulable`]) run when some node is
//! Ready, schedulable and untainted, simulated nodes (`oxkube kubelet
//! --runtime=simulated`, which report Running/Ready pods without running
//! anything) included; tests that look inside containers (logs, files,
//! exec: [`NodeNeed::Containers`]) need such a node with a real runtime.

use k8s_openapi::api::core::v1::Node;

/// The container runtime version simulated nodes report.
const SIMULATED_RUNTIME_PREFIX: &str = "simulated://";

/// What a test needs of the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeNeed {
    /// Nothing: the API alone (pods may stay Pending).
    None,
    /// Pods that get scheduled and reach Running/Ready.
    Schedulable,
    /// Pods whose containers really run.
    Containers,
}

/// Why tests needing `need` cannot run here, or None when they can.
#[derive(Debug, Clone, Default)]
pub struct NodeGaps {
    schedulable: Option<String>,
    containers: Option<String>,
}

impl NodeGaps {
    pub fn of(nodes: &[Node]) -> Self {
        let usable: Vec<&Node> = nodes.iter().filter(|n| usable(n)).collect();
        let schedulable = if !usable.is_empty() {
            None
        } else if nodes.is_empty() {
            Some("no schedulable nodes (the cluster has no Node objects)".to_string())
        } else {
            Some(format!(
                "no schedulable nodes ({} node(s), none Ready, schedulable and untainted)",
                nodes.len()
            ))
        };
        let containers = match &schedulable {
            Some(reason) => Some(reason.clone()),
            None if usable.iter().all(|n| simulated(n)) => {
                Some("no schedulable nodes that run containers (only simulated nodes)".to_string())
            }
            None => None,
        };
        Self {
            schedulable,
            containers,
        }
    }

    /// The reason to skip a test needing `need`, if any.
    pub fn reason(&self, need: NodeNeed) -> Option<&str> {
        match need {
            NodeNeed::None => None,
            NodeNeed::Schedulable => self.schedulable.as_deref(),
            NodeNeed::Containers => self.containers.as_deref(),
        }
    }
}

/// The nodes as the report states them: how many are usable, how many of
/// those are simulated.
pub fn describe(nodes: &[Node]) -> String {
    let usable: Vec<&Node> = nodes.iter().filter(|n| usable(n)).collect();
    let sim = usable.iter().filter(|n| simulated(n)).count();
    match (usable.len(), sim) {
        (0, _) => format!("no schedulable nodes ({} node objects)", nodes.len()),
        (n, 0) => format!("{n} schedulable node(s)"),
        (n, s) if s == n => format!("{n} schedulable simulated node(s)"),
        (n, s) => format!("{n} schedulable node(s), {s} of them simulated"),
    }
}

/// Ready, schedulable and free of NoSchedule/NoExecute taints (upstream's
/// `GetReadySchedulableNodes`).
pub fn usable(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    let unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let tainted = spec.and_then(|s| s.taints.as_ref()).is_some_and(|taints| {
        taints
            .iter()
            .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
    });
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    ready && !unschedulable && !tainted
}

fn simulated(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .is_some_and(|i| {
            i.container_runtime_version
                .starts_with(SIMULATED_RUNTIME_PREFIX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(runtime: &str, ready: bool) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "nodeInfo": {
                    "containerRuntimeVersion": runtime,
                    "architecture": "", "bootID": "", "kernelVersion": "", "kubeProxyVersion": "",
                    "kubeletVersion": "", "machineID": "", "operatingSystem": "", "osImage": "",
                    "systemUUID": ""
                }
            }
        }))
        .expect("node")
    }

    #[test]
    fn simulated_nodes_run_pods_but_no_containers() {
        let gaps = NodeGaps::of(&[node("simulated://0.1.0", true)]);
        assert_eq!(gaps.reason(NodeNeed::None), None);
        assert_eq!(gaps.reason(NodeNeed::Schedulable), None);
        assert!(
            gaps.reason(NodeNeed::Containers)
                .is_some_and(|r| r.contains("only simulated"))
        );
        let both = [
            node("simulated://0.1.0", true),
            node("containerd://2.0", true),
        ];
        assert_eq!(
            describe(&both),
            "2 schedulable node(s), 1 of them simulated"
        );
        let gaps = NodeGaps::of(&both);
        assert_eq!(gaps.reason(NodeNeed::Containers), None);
    }

    #[test]
    fn no_ready_node_skips_both() {
        let gaps = NodeGaps::of(&[node("containerd://2.0", false)]);
        assert!(gaps.reason(NodeNeed::Schedulable).is_some());
        assert!(gaps.reason(NodeNeed::Containers).is_some());
        assert!(
            NodeGaps::of(&[])
                .reason(NodeNeed::Schedulable)
                .is_some_and(|r| r.starts_with("no schedulable nodes"))
        );
    }
}
