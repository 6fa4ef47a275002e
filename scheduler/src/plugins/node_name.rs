//! NodeName: a pod that names its node (`spec.nodeName`) fits only there.

use crate::framework::{FilterPlugin, NodeInfo, PodInfo, Unfit};

pub const REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl FilterPlugin for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(n) if !n.is_empty() && n != node.name => Err(Unfit::unresolvable(REASON)),
            _ => Ok(()),
        }
    }
}
