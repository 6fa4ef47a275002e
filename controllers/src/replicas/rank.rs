//! Which pods a shrinking set deletes first (upstream's
//! `ActivePodsWithRanks` ordering).

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;

use crate::objects::{self, is_ready};

/// Orders pods so the ones to delete first come first, like upstream's
/// `ActivePodsWithRanks`: unscheduled before scheduled, Pending before
/// Unknown before Running, not ready before ready, more pods of the set on
/// the same node first, ready for less time first, more restarts first,
/// newer first.
pub fn rank_for_deletion(pods: &mut [&Pod], related: &[&Pod]) {
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for p in related {
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            *per_node.entry(node).or_default() += 1;
        }
    }
    let phase_rank = |p: &Pod| match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 3,
    };
    let restarts = |p: &Pod| -> i32 {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
            .unwrap_or(0)
    };
    let node_of = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    pods.sort_by(|a, b| {
        let (na, nb) = (node_of(a), node_of(b));
        (!na.is_empty())
            .cmp(&!nb.is_empty())
            .then(phase_rank(a).cmp(&phase_rank(b)))
            .then(is_ready(a).cmp(&is_ready(b)))
            .then_with(|| {
                let ca = per_node.get(na.as_str()).copied().unwrap_or(0);
                let cb = per_node.get(nb.as_str()).copied().unwrap_or(0);
                cb.cmp(&ca)
            })
            .then_with(|| {
                let since = |p: &Pod| objects::ready_since(p).flatten();
                // Ready more recently (later timestamp) goes first.
                since(b).cmp(&since(a))
            })
            .then(restarts(b).cmp(&restarts(a)))
            .then_with(|| {
                let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
                created(b).cmp(&created(a))
            })
    });
}
