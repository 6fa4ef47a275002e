//! NodeUnschedulable: nodes with `spec.unschedulable` (cordoned) take only
//! pods tolerating `node.kubernetes.io/unschedulable:NoSchedule`.

use k8s_openapi::api::core::v1::Taint;

use super::taint_toleration::tolerates;
use crate::framework::{FilterPlugin, NodeInfo, PodInfo, Unfit};

pub const REASON: &str = "node(s) were unschedulable";

pub struct NodeUnschedulable;

impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let cordoned = node
            .node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        if !cordoned {
            return Ok(());
        }
        let taint = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        };
        let tolerations = pod
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        if tolerations.iter().any(|t| tolerates(t, &taint)) {
            return Ok(());
        }
        Err(Unfit::unresolvable(REASON))
    }
}
