//! The scheduler's cache (upstream's `internal/cache`): nodes with the pods
//! placed on them, kept incrementally from the node and pod watches, plus
//! *assumed* pods: chosen for a node but whose binding is still in flight.
//! A node's totals count both, so the next pod sees the capacity the
//! previous one took before the API server confirms it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::{HostPort, NodeInfo, host_ports};
use crate::resources::{self, Resources};

/// A pod on a node (bound or assumed), with what it takes there.
#[derive(Clone)]
pub struct Placement {
    pub node: String,
    pub pod: Arc<Pod>,
    pub priority: i32,
    pub requests: Resources,
    pub non_zero: (i64, i64),
    pub ports: Vec<HostPort>,
    pub assumed: bool,
}

impl Placement {
    pub fn new(pod: Arc<Pod>, node: &str, assumed: bool) -> Placement {
        let requests = resources::pod_requests(&pod);
        Placement {
            node: node.to_string(),
            priority: crate::framework::priority_of(&pod),
            non_zero: resources::non_zero(&requests),
            requests,
            ports: host_ports(&pod),
            assumed,
            pod,
        }
    }
}

#[derive(Default)]
pub struct Cache {
    nodes: HashMap<String, NodeInfo>,
    pods: HashMap<String, Placement>,
}

fn allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    let map = status
        .and_then(|s| s.allocatable.as_ref())
        .or_else(|| status.and_then(|s| s.capacity.as_ref()));
    map.map(|m| {
        m.iter()
            .filter_map(|(k, v)| {
                component_base::quantity::milli_value(&v.0).map(|n| (k.clone(), n))
            })
            .collect()
    })
    .unwrap_or_default()
}

impl Cache {
    pub fn set_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let alloc = allocatable(&node);
        if let Some(info) = self.nodes.get_mut(&name) {
            info.node = node;
            info.allocatable = alloc;
            return;
        }
        let mut info = NodeInfo {
            node,
            name: name.clone(),
            allocatable: alloc,
            requested: Resources::new(),
            non_zero_requested: (0, 0),
            pod_count: 0,
            used_ports: BTreeSet::new(),
        };
        for p in self.pods.values().filter(|p| p.node == name) {
            add_to(&mut info, p);
        }
        self.nodes.insert(name, info);
    }

    pub fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Records a bound pod (from the watch) or an assumed one.
    pub fn place(&mut self, key: &str, pod: &Pod, node: &str, assumed: bool) {
        self.unplace(key);
        let p = Placement::new(Arc::new(pod.clone()), node, assumed);
        if let Some(info) = self.nodes.get_mut(node) {
            add_to(info, &p);
        }
        self.pods.insert(key.to_string(), p);
    }

    /// Forgets a pod (deleted, finished, or its binding failed).
    pub fn unplace(&mut self, key: &str) {
        if let Some(p) = self.pods.remove(key)
            && let Some(info) = self.nodes.get_mut(&p.node)
        {
            remove_from(info, &p);
        }
    }

    /// The pods placed on each node, by node name.
    pub fn placements_by_node(&self) -> HashMap<&str, Vec<(&str, &Placement)>> {
        let mut out: HashMap<&str, Vec<(&str, &Placement)>> = HashMap::new();
        for (key, p) in &self.pods {
            out.entry(p.node.as_str())
                .or_default()
                .push((key.as_str(), p));
        }
        out
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }

    /// True while a pod is assumed and its binding not yet seen.
    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// True when the pod is known to be on a node (bound or assumed).
    pub fn is_placed(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// Counts `p` on `info` (also used on copies, to simulate placements).
pub fn add_to(info: &mut NodeInfo, p: &Placement) {
    resources::add(&mut info.requested, &p.requests);
    info.non_zero_requested.0 += p.non_zero.0;
    info.non_zero_requested.1 += p.non_zero.1;
    info.pod_count += 1;
    info.used_ports.extend(p.ports.iter().cloned());
}

/// Takes `p` off `info` (also used on copies, to simulate evictions).
pub fn remove_from(info: &mut NodeInfo, p: &Placement) {
    resources::sub(&mut info.requested, &p.requests);
    info.non_zero_requested.0 -= p.non_zero.0;
    info.non_zero_requested.1 -= p.non_zero.1;
    info.pod_count -= 1;
    for port in &p.ports {
        info.used_ports.remove(port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "10"}}
            }))
            .unwrap(),
        )
    }

    fn pod(cpu: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn assumed_and_bound_pods_count_once() {
        let mut c = Cache::default();
        c.set_node(node("n1"));
        c.place("ns/p", &pod("500m"), "n1", true);
        assert!(c.is_assumed("ns/p"));
        c.place("ns/p", &pod("500m"), "n1", false);
        let n = c.nodes().next().unwrap();
        assert_eq!(n.requested.get("cpu"), Some(&500));
        assert_eq!(n.pod_count, 1);
        c.unplace("ns/p");
        assert_eq!(c.nodes().next().unwrap().pod_count, 0);
    }

    #[test]
    fn pods_seen_before_their_node_are_counted() {
        let mut c = Cache::default();
        c.place("ns/p", &pod("1"), "n1", false);
        c.set_node(node("n1"));
        assert_eq!(c.nodes().next().unwrap().requested.get("cpu"), Some(&1000));
    }
}
