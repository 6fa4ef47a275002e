//! The node agent (kubelet). It talks to the API server only over HTTPS with
//! the `kube` client, exactly like upstream's kubelet, also inside
//! `oxkube server`.
//!
//! The pipeline, one module each:
//! - `host`: capacity, addresses, nodeInfo and pressure of the machine;
//! - `node` + `node_conditions`: Node registration and the status loop;
//! - `lease`: the heartbeat Lease in `kube-node-lease`;
//! - `pod_source` → `pod_workers` → `runtime` → `pod_status` →
//!   `status_manager`: a watch on this node's pods, one worker per pod that
//!   syncs it with the runtime and reports its status;
//! - `runtime`: the `Runtime` trait and its implementations (`simulated`);
//! - `simulated_nodes`: many simulated nodes in one process (scale tests);
//! - `agent`: one node agent put together.

pub mod agent;
pub mod api;
pub mod client;
pub mod cni;
pub mod config;
pub mod error;
pub mod events;
pub mod host;
pub mod ipam;
pub mod lease;
pub mod node;
pub mod node_conditions;
pub mod pod_source;
pub mod pod_status;
pub mod pod_workers;
pub mod probe;
pub mod quantity;
pub mod runtime;
pub mod simulated_nodes;
pub mod status_manager;

pub use agent::{RunningKubelet, start, start_containerd};
pub use config::{KubeletConfig, RuntimeKind};
pub use error::KubeletError;
