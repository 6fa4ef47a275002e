//! NodePorts: the pod's host ports must be free on the node (same
//! protocol and port conflict when either IP is 0.0.0.0 or both are equal).

use crate::framework::{FilterPlugin, HostPort, NodeInfo, PodInfo, Unfit};

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

pub fn conflicts(a: &HostPort, b: &HostPort) -> bool {
    a.port == b.port
        && a.protocol == b.protocol
        && (a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0")
}

impl FilterPlugin for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let clash = pod
            .host_ports
            .iter()
            .any(|p| node.used_ports.iter().any(|u| conflicts(p, u)));
        if clash {
            Err(Unfit::resolvable(vec![REASON.into()]))
        } else {
            Ok(())
        }
    }
}
