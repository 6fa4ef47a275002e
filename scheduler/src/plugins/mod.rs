//! The default filter and score plugins, one per file, named like
//! upstream's (`pkg/scheduler/framework/plugins/...`).

pub mod balanced_allocation;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod taint_toleration;
