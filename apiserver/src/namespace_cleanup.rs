//! Namespace deletion, done inside the API server (upstream runs it in the
//! controller manager's namespace controller): once a namespace is marked
//! for deletion, every namespaced object in it is deleted; when nothing is
//! left, the `kubernetes` finalizer is removed from `spec.finalizers` and the
//! namespace itself goes away.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::error::ApiResult;
use crate::meta;
use crate::registry::list::{self, ListOptions};
use crate::registry::{DeleteOptions, Resource};
use crate::state::ApiState;

/// How often terminating namespaces are looked at without a wake-up.
const RESYNC: Duration = Duration::from_secs(2);

/// The finalizer kube-apiserver puts in `spec.finalizers` of every namespace.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Runs forever: wakes on `wake` (a namespace was deleted) or every RESYNC.
pub async fn run(state: Arc<ApiState>, wake: Arc<Notify>) {
    loop {
        if let Err(e) = sweep(&state).await {
            warn!(error = %e, "namespace cleanup");
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }
}

/// One stored resource per storage prefix (rows sharing storage, such as
/// core and events.k8s.io Events, are one set of objects).
fn namespaced_stored(state: &ApiState) -> Vec<Arc<Resource>> {
    let table = state.table();
    let mut seen = HashSet::new();
    let mut out: Vec<Arc<Resource>> = table
        .all()
        .filter(|r| r.info.namespaced && r.is_stored() && r.info.storage_version)
        .cloned()
        .collect();
    out.sort_by(|a, b| a.info.storage_prefix.cmp(b.info.storage_prefix));
    out.retain(|r| seen.insert(r.info.storage_prefix));
    out
}

async fn sweep(state: &ApiState) -> ApiResult<()> {
    let table = state.table();
    let Some(namespaces) = table.get("", "v1", "namespaces") else {
        return Ok(());
    };
    let all = list::list(&state.store, &namespaces, None, &ListOptions::default()).await?;
    for ns in all.items.iter().filter(|n| meta::is_deleting(n)) {
        let name = meta::name(ns).to_string();
        let remaining = delete_content(state, &name).await?;
        if remaining > 0 {
            debug!(namespace = %name, remaining, "namespace content remaining");
            continue;
        }
        finalize(state, &namespaces, &name).await?;
    }
    Ok(())
}

/// Deletes what is in `namespace`; returns how many objects are still there.
async fn delete_content(state: &ApiState, namespace: &str) -> ApiResult<usize> {
    let mut remaining = 0;
    for res in namespaced_stored(state) {
        let found =
            list::list(&state.store, &res, Some(namespace), &ListOptions::default()).await?;
        for obj in found.items {
            remaining += 1;
            if meta::is_deleting(&obj) {
                continue;
            }
            match state
                .store
                .delete(
                    &res,
                    Some(namespace),
                    meta::name(&obj),
                    // Like upstream's namespace deleter: Background, so a
                    // kind that orphans by default (Job, RC) does not wait
                    // for the garbage collector.
                    &DeleteOptions {
                        propagation_policy: Some("Background".into()),
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(crate::registry::DeleteOutcome::Deleted(gone)) => {
                    state.deleted(&res, &gone);
                    remaining -= 1;
                }
                Ok(crate::registry::DeleteOutcome::Pending(_)) => {}
                Err(e) if e.code == 404 => remaining -= 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(remaining)
}

/// Removes the `kubernetes` finalizer and, if no finalizer is left, the
/// namespace.
async fn finalize(state: &ApiState, namespaces: &Resource, name: &str) -> ApiResult<()> {
    let (updated, _) = state
        .store
        .guaranteed_update(namespaces, None, name, false, |current| {
            let Some(mut ns) = current else {
                return Err(crate::error::ApiError::not_found(
                    crate::registry::store::target(namespaces, name),
                ));
            };
            let kept: Vec<Value> = ns
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter(|v| *v != KUBERNETES_FINALIZER)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            ns["spec"]["finalizers"] = json!(kept);
            Ok(ns)
        })
        .await?;
    if state
        .store
        .delete_if_finalized(namespaces, None, &updated)
        .await?
    {
        info!(namespace = %name, "namespace deleted");
    }
    Ok(())
}
