//! The node's heartbeat: a Lease named after the node in `kube-node-lease`
//! (holderIdentity = node, leaseDurationSeconds = 40, owned by the Node),
//! whose renewTime is bumped every quarter of the duration, as upstream's
//! node lease controller does. Conflicts re-read and retry.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::error::Result;

/// The namespace of node leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

pub struct NodeLease {
    api: Api<Lease>,
    node_name: String,
    node_uid: String,
    duration_seconds: i32,
    renew_interval: Duration,
}

impl NodeLease {
    pub fn new(
        client: Client,
        node_name: &str,
        node_uid: &str,
        duration_seconds: i32,
        renew_interval: Duration,
    ) -> Self {
        NodeLease {
            api: Api::namespaced(client, NODE_LEASE_NAMESPACE),
            node_name: node_name.into(),
            node_uid: node_uid.into(),
            duration_seconds,
            renew_interval,
        }
    }

    fn spec(&self) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.node_name.clone()),
            lease_duration_seconds: Some(self.duration_seconds),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..Default::default()
        }
    }

    /// Creates the lease or bumps its renewTime.
    pub async fn renew(&self) -> Result<Lease> {
        match self.api.get_opt(&self.node_name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.node_name.clone()),
                        namespace: Some(NODE_LEASE_NAMESPACE.into()),
                        owner_references: (!self.node_uid.is_empty()).then(|| {
                            vec![OwnerReference {
                                api_version: "v1".into(),
                                kind: "Node".into(),
                                name: self.node_name.clone(),
                                uid: self.node_uid.clone(),
                                ..Default::default()
                            }]
                        }),
                        ..Default::default()
                    },
                    spec: Some(self.spec()),
                };
                Ok(self.api.create(&PostParams::default(), &lease).await?)
            }
            Some(mut lease) => {
                let acquire = lease.spec.as_ref().and_then(|s| s.acquire_time.clone());
                lease.spec = Some(LeaseSpec {
                    acquire_time: acquire,
                    ..self.spec()
                });
                Ok(self
                    .api
                    .replace(&self.node_name, &PostParams::default(), &lease)
                    .await?)
            }
        }
    }

    /// Renews forever; a failed renewal is retried after 200 ms, doubling up
    /// to the renew interval (upstream's backoff on errors).
    pub async fn run(self) {
        let mut retry = Duration::from_millis(200);
        loop {
            match self.renew().await {
                Ok(_) => {
                    retry = Duration::from_millis(200);
                    tokio::time::sleep(self.renew_interval).await;
                }
                Err(e) => {
                    tracing::warn!(node = %self.node_name, error = %e, "renewing node lease");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(self.renew_interval);
                }
            }
        }
    }
}
