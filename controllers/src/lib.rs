//! kube-controller-manager equivalents, one module per controller, on
//! kube-runtime (`watcher` -> reflector `Store` -> `Controller` reconcile
//! with back-off). Talks to the API server only over HTTPS with the `kube`
//! client; depends on no sibling crate.
//!
//! - `replicaset`, `replication_controller` (one core: `replicas`),
//!   `deployment`: workloads.
//! - `garbage_collector`: ownerReferences, background/foreground/orphan.
//! - `disruption`: PodDisruptionBudget status for `pods/eviction`.
//! - `pod_gc`: pods bound to Nodes that no longer exist.
//! - `node_lifecycle`: Ready=Unknown for silent nodes, not-ready/unreachable
//!   taints, eviction after tolerationSeconds.
//! - `endpoints`: Endpoints and EndpointSlices of Services with a selector.
//! - `resource_quota`: ResourceQuota `status.hard`/`status.used`.
//! - `namespace_defaults`: the `default` ServiceAccount and the
//!   `kube-root-ca.crt` ConfigMap in every namespace.
//! - `manager`: runs a chosen set (`--controllers`), `leader_election`: one
//!   active manager (or scheduler) per cluster through a Lease.
//! - Shared pieces: `objects` (owner refs, readiness), `expectations`,
//!   `error` (events: `component_base::events`).

pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod error;
pub mod expectations;
pub mod garbage_collector;
pub mod leader_election;
pub mod manager;
pub mod namespace_defaults;
pub mod node_lifecycle;
pub mod objects;
pub mod pod_gc;
pub mod replicas;
pub mod replicaset;
pub mod replication_controller;
pub mod resource_quota;

pub use error::{Error, Result};
pub use manager::{ManagerConfig, run as run_manager};
