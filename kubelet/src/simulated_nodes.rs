//! Many simulated nodes in one process (`oxkube kubelet --runtime=simulated
//! --simulated-nodes N --node-name PREFIX`): nodes `PREFIX-0` ..
//! `PREFIX-(N-1)`, each with its own registration, lease, pod watch,
//! workers and simulated runtime. Node i has InternalIP 172.16.0.0/12 + i+1
//! and pod CIDR 10.(128 + i/256).(i%256).0/24; capacity is fixed (see
//! `NodeResources::simulated`). For scale tests of the scheduler and
//! controllers; never the default.

use std::sync::Arc;

use futures::StreamExt;
use kube::Client;

use crate::agent::{self, RunningKubelet};
use crate::error::Result;
use crate::host::{self, NodeResources};
use crate::ipam::simulated_node_cidr;
use crate::node::NodeIdentity;
use crate::runtime::simulated::{SIMULATED_RUNTIME_VERSION, SimulatedRuntime};
use crate::{KubeletConfig, KubeletError};

/// The InternalIP of simulated node `index`.
pub fn simulated_node_ip(index: u32) -> String {
    let n = 0xAC10_0000u32 + index + 1;
    std::net::Ipv4Addr::from(n).to_string()
}

/// Name of simulated node `index` under `prefix`.
pub fn simulated_node_name(prefix: &str, index: u32) -> String {
    format!("{prefix}-{index}")
}

/// One simulated node agent.
pub async fn start_one(client: Client, base: &KubeletConfig, index: u32) -> Result<RunningKubelet> {
    let name = simulated_node_name(&base.node_name, index);
    let mut config = base.clone();
    config.node_name = name.clone();
    config.pod_cidr = simulated_node_cidr(index);
    let runtime =
        SimulatedRuntime::new(&config.pod_cidr).map_err(|e| KubeletError::Config(e.to_string()))?;
    let identity = NodeIdentity {
        name: name.clone(),
        internal_ip: simulated_node_ip(index),
        hostname: name.clone(),
        resources: NodeResources::simulated(config.max_pods),
        system_info: host::system_info(SIMULATED_RUNTIME_VERSION),
        kubelet_port: config.port,
        labels: NodeIdentity::default_labels(&name, &config.node_labels),
        measure_pressure: false,
    };
    agent::start(client, config, identity, Arc::new(runtime)).await
}

/// Starts `count` simulated nodes named after `base.node_name`, registering
/// up to 16 at a time.
pub async fn start_many(
    client: Client,
    base: &KubeletConfig,
    count: u32,
) -> Result<Vec<RunningKubelet>> {
    let results: Vec<Result<RunningKubelet>> = futures::stream::iter(0..count)
        .map(|i| start_one(client.clone(), base, i))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut nodes = Vec::with_capacity(count as usize);
    for r in results {
        match r {
            Ok(node) => nodes.push(node),
            Err(e) => {
                nodes.iter().for_each(RunningKubelet::abort);
                return Err(e);
            }
        }
    }
    nodes.sort_by(|a, b| a.node_name.cmp(&b.node_name));
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_addresses_are_distinct() {
        assert_eq!(simulated_node_ip(0), "172.16.0.1");
        assert_eq!(simulated_node_ip(255), "172.16.1.0");
        assert_eq!(simulated_node_name("sim", 7), "sim-7");
    }
}
