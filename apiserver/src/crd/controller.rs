//! The CRD controllers that upstream runs inside the apiextensions-apiserver,
//! as one loop in the API server:
//! - naming: accepts a CRD's names unless another CRD of the same group
//!   already holds them (`NamesAccepted` with upstream's reasons:
//!   `NoConflicts`, `PluralConflict`, `KindConflict`, ...), sets
//!   `status.acceptedNames`;
//! - establishing: once names are accepted, the CRD's versions join the
//!   resource table (discovery, routing, OpenAPI) and then `Established`
//!   becomes True, so a client that saw Established finds the resource;
//! - finalizing: a CRD being deleted gets `Terminating`, its custom
//!   resources are deleted, then the cleanup finalizer is removed (which
//!   deletes the CRD) and its rows leave the table.
//!
//! It wakes on every change of a stored CRD (through the watch cache) and
//! every few seconds.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames,
};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::model;
use super::strategy::CLEANUP_FINALIZER;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::registry::list::{self, ListOptions};
use crate::registry::{DeleteOptions, ObjectStore, Resource, ResourceTable};
use crate::state::ApiState;

const RESYNC: Duration = Duration::from_secs(2);
const GROUP: &str = "apiextensions.k8s.io";

fn crd_resource(table: &ResourceTable) -> Option<Arc<Resource>> {
    table.get(GROUP, "v1", "customresourcedefinitions")
}

/// Runs forever.
pub async fn run(state: Arc<ApiState>) {
    let Some(res) = crd_resource(&state.table()) else {
        return;
    };
    let prefix = ObjectStore::prefix(&res, None);
    let mut last_key = String::new();
    loop {
        let mut changes = match state.watch_cache.get(&prefix).await {
            Ok(cache) => Some(cache.snapshot(&prefix).2),
            Err(e) => {
                warn!(error = %e, "watching CRDs");
                None
            }
        };
        match reconcile(&state, &res, &last_key).await {
            Ok(key) => last_key = key,
            Err(e) => warn!(error = %e, "CRD reconcile"),
        }
        let wait = async {
            match changes.as_mut() {
                Some(rx) => {
                    let _ = rx.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = tokio::time::sleep(RESYNC) => {}
        }
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": meta::now_rfc3339(),
    })
}

/// Sets `cond` in `conditions`, keeping lastTransitionTime when the status
/// did not change.
fn set_condition(status: &mut Value, cond: Value) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let Some(list) = status["conditions"].as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == cond["type"]) {
        Some(existing) => {
            let same = existing["status"] == cond["status"]
                && existing["reason"] == cond["reason"]
                && existing["message"] == cond["message"];
            if !same {
                let keep_time = existing["status"] == cond["status"];
                let time = existing["lastTransitionTime"].clone();
                *existing = cond;
                if keep_time {
                    existing["lastTransitionTime"] = time;
                }
            }
        }
        None => list.push(cond),
    }
}

/// Upstream's `equalToAcceptedOrFresh`.
fn fresh(requested: &str, accepted: &str, used: &BTreeSet<String>) -> Result<(), String> {
    if requested == accepted || !used.contains(requested) {
        Ok(())
    } else {
        Err(format!("{requested:?} is already in use"))
    }
}

/// The accepted names and NamesAccepted condition of `crd`, given the names
/// other CRDs of its group hold (upstream's naming controller).
fn names_and_condition(
    crd: &CustomResourceDefinition,
    resources: &BTreeSet<String>,
    kinds: &BTreeSet<String>,
) -> (CustomResourceDefinitionNames, Value) {
    let requested = &crd.spec.names;
    let accepted = crd
        .status
        .as_ref()
        .and_then(|s| s.accepted_names.clone())
        .unwrap_or_default();
    let mut new = accepted.clone();
    let mut failure: Option<(&str, String)> = None;
    match fresh(&requested.plural, &accepted.plural, resources) {
        Ok(()) => new.plural = requested.plural.clone(),
        Err(e) => failure = Some(("PluralConflict", e)),
    }
    let singular = requested.singular.clone().unwrap_or_default();
    match fresh(
        &singular,
        accepted.singular.as_deref().unwrap_or_default(),
        resources,
    ) {
        Ok(()) => new.singular = requested.singular.clone(),
        Err(e) => failure = Some(("SingularConflict", e)),
    }
    if requested.short_names != accepted.short_names {
        let mine: BTreeSet<&String> = accepted.short_names.iter().flatten().collect();
        let errs: Vec<String> = requested
            .short_names
            .iter()
            .flatten()
            .filter(|s| !mine.contains(s))
            .filter_map(|s| fresh(s, "", resources).err())
            .collect();
        if errs.is_empty() {
            new.short_names = requested.short_names.clone();
        } else {
            failure = Some(("ShortNamesConflict", errs.join(", ")));
        }
    }
    match fresh(&requested.kind, &accepted.kind, kinds) {
        Ok(()) => new.kind = requested.kind.clone(),
        Err(e) => failure = Some(("KindConflict", e)),
    }
    let list_kind = requested.list_kind.clone().unwrap_or_default();
    match fresh(
        &list_kind,
        accepted.list_kind.as_deref().unwrap_or_default(),
        kinds,
    ) {
        Ok(()) => new.list_kind = requested.list_kind.clone(),
        Err(e) => failure = Some(("ListKindConflict", e)),
    }
    new.categories = requested.categories.clone();
    let cond = match failure {
        None => condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        Some((reason, message)) => condition("NamesAccepted", "False", reason, &message),
    };
    (new, cond)
}

/// Names held by the other CRDs of `group` (their accepted names).
fn used_names(
    all: &[CustomResourceDefinition],
    group: &str,
    except: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut resources = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for other in all {
        if other.spec.group != group || other.metadata.name.as_deref() == Some(except) {
            continue;
        }
        let Some(n) = other
            .status
            .as_ref()
            .and_then(|s| s.accepted_names.as_ref())
        else {
            continue;
        };
        resources.insert(n.plural.clone());
        resources.extend(n.singular.clone());
        resources.extend(n.short_names.iter().flatten().cloned());
        kinds.insert(n.kind.clone());
        kinds.extend(n.list_kind.clone());
    }
    resources.remove("");
    kinds.remove("");
    (resources, kinds)
}

/// One pass over every CRD. Returns the key of the served set (to skip
/// rebuilding the table when nothing changed).
async fn reconcile(
    state: &Arc<ApiState>,
    res: &Arc<Resource>,
    last_key: &str,
) -> ApiResult<String> {
    let listed = list::list(&state.store, res, None, &ListOptions::default()).await?;
    let mut objects = listed.items;
    objects.sort_by(|a, b| {
        let ts = |o: &Value| meta::str_field(o, "creationTimestamp").to_string();
        ts(a).cmp(&ts(b)).then(meta::name(a).cmp(meta::name(b)))
    });
    let mut crds: Vec<CustomResourceDefinition> = Vec::new();
    let mut raw: HashMap<String, Value> = HashMap::new();
    for o in &objects {
        match serde_json::from_value::<CustomResourceDefinition>(o.clone()) {
            Ok(c) => {
                raw.insert(meta::name(o).to_string(), o.clone());
                crds.push(c);
            }
            Err(e) => warn!(name = meta::name(o), error = %e, "stored CRD does not decode"),
        }
    }

    // Naming: new statuses, computed in creation order so the older CRD
    // keeps a contested name.
    let mut new_status: HashMap<String, Value> = HashMap::new();
    for i in 0..crds.len() {
        let name = crds[i].metadata.name.clone().unwrap_or_default();
        let (resources, kinds) = used_names(&crds, &crds[i].spec.group, &name);
        let (names, names_cond) = names_and_condition(&crds[i], &resources, &kinds);
        let accepted = names_cond["status"] == "True";
        let mut status = raw
            .get(&name)
            .and_then(|o| o.get("status").cloned())
            .unwrap_or_else(|| json!({}));
        status["acceptedNames"] = serde_json::to_value(&names).unwrap_or(Value::Null);
        set_condition(&mut status, names_cond);
        let established = status["conditions"].as_array().is_some_and(|l| {
            l.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        });
        if accepted || established {
            set_condition(
                &mut status,
                condition(
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                ),
            );
        } else {
            set_condition(
                &mut status,
                condition(
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                ),
            );
        }
        if crds[i].metadata.deletion_timestamp.is_some() {
            set_condition(
                &mut status,
                condition(
                    "Terminating",
                    "True",
                    "InstanceDeletionInProgress",
                    "CustomResource deletion is in progress",
                ),
            );
        }
        // Later CRDs see this one's accepted names.
        if let Ok(parsed) = serde_json::from_value(status.clone()) {
            crds[i].status = Some(parsed);
        }
        new_status.insert(name, status);
    }

    // Establishing: the table first, then the conditions that announce it.
    let served: Vec<&CustomResourceDefinition> = crds
        .iter()
        .filter(|c| {
            c.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            })
        })
        .collect();
    let key = serde_json::to_string(
        &served
            .iter()
            .map(|c| {
                (
                    &c.spec,
                    c.status.as_ref().map(|s| &s.accepted_names),
                    c.metadata.deletion_timestamp.is_some(),
                )
            })
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    if key != last_key {
        // Custom groups after the built-in ones, alphabetically (upstream
        // gives every CRD group the same priority), versions by priority.
        let mut table = ResourceTable::builtin();
        let mut by_group: Vec<&&CustomResourceDefinition> = served.iter().collect();
        by_group.sort_by(|a, b| a.spec.group.cmp(&b.spec.group));
        for crd in &by_group {
            for row in model::rows(crd) {
                table.insert_resource(row);
            }
        }
        let groups: BTreeSet<&str> = served.iter().map(|c| c.spec.group.as_str()).collect();
        for group in groups {
            table.sort_versions(group, model::version_order);
        }
        state.set_table(Arc::new(table));
        info!(
            crds = served.len(),
            "resource table rebuilt with custom resources"
        );
    }

    for (name, status) in &new_status {
        let unchanged = raw.get(name).and_then(|o| o.get("status")) == Some(status);
        if !unchanged {
            write_status(state, res, name, status).await?;
        }
    }

    // Finalizing.
    for crd in crds
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_some())
    {
        finalize(state, res, crd).await?;
    }
    Ok(key)
}

async fn write_status(
    state: &Arc<ApiState>,
    res: &Arc<Resource>,
    name: &str,
    status: &Value,
) -> ApiResult<()> {
    let result = state
        .store
        .guaranteed_update(res, None, name, false, |current| {
            let mut obj = current.ok_or_else(|| ApiError::internal("CRD is gone"))?;
            obj["status"] = status.clone();
            Ok(obj)
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code == 500 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the custom resources of a CRD being deleted; once none is left,
/// removes the cleanup finalizer (which removes the CRD).
async fn finalize(
    state: &Arc<ApiState>,
    res: &Arc<Resource>,
    crd: &CustomResourceDefinition,
) -> ApiResult<()> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    if !crd
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == CLEANUP_FINALIZER)
    {
        return Ok(());
    }
    let mut remaining = 0usize;
    // Any served row addresses the storage; build one if the CRD was never
    // established.
    let rows = model::rows(crd);
    if let Some(row) = rows.first() {
        let items = list::list(&state.store, row, None, &ListOptions::default()).await?;
        for obj in items.items {
            let ns = row
                .info
                .namespaced
                .then(|| meta::namespace(&obj).to_string());
            match state
                .store
                .delete(
                    row,
                    ns.as_deref(),
                    meta::name(&obj),
                    &DeleteOptions::default(),
                )
                .await
            {
                Ok(crate::registry::DeleteOutcome::Deleted(_)) => {}
                Ok(crate::registry::DeleteOutcome::Pending(_)) => remaining += 1,
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    if remaining > 0 {
        debug!(crd = %name, remaining, "custom resources still finalizing");
        return Ok(());
    }
    let (stored, _) = state
        .store
        .guaranteed_update(res, None, &name, false, |current| {
            let mut obj = current.ok_or_else(|| ApiError::internal("CRD is gone"))?;
            if let Some(list) = obj["metadata"]["finalizers"].as_array_mut() {
                list.retain(|f| f != CLEANUP_FINALIZER);
            }
            set_condition(
                &mut obj["status"],
                condition(
                    "Terminating",
                    "True",
                    "InstanceDeletionCompleted",
                    "removed all instances",
                ),
            );
            Ok(obj)
        })
        .await?;
    state.store.delete_if_finalized(res, None, &stored).await?;
    info!(crd = %name, "custom resources removed; CRD deleted");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(name: &str, plural: &str, kind: &str) -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"group": "example.com", "scope": "Namespaced", "versions": [],
                "names": {"plural": plural, "singular": plural.trim_end_matches('s'), "kind": kind, "listKind": format!("{kind}List")}}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn second_crd_with_the_same_plural_is_refused() {
        let first = crd("widgets.example.com", "widgets", "Widget");
        let mut all = vec![first.clone()];
        let (resources, kinds) = used_names(&all, "example.com", "x");
        let (names, cond) = names_and_condition(&first, &resources, &kinds);
        assert_eq!(cond["reason"], "NoConflicts");
        all[0].status = serde_json::from_value(json!({"acceptedNames": names})).ok();
        // Same plural, its own singular: upstream checks the singular after
        // the plural and the last conflict found names the reason.
        let mut second = crd("other.example.com", "widgets", "Gadget");
        second.spec.names.singular = Some("gadget".into());
        let (resources, kinds) = used_names(&all, "example.com", "other.example.com");
        let (_, cond) = names_and_condition(&second, &resources, &kinds);
        assert_eq!(cond["status"], "False");
        assert_eq!(cond["reason"], "PluralConflict");
        assert_eq!(cond["message"], "\"widgets\" is already in use");
    }
}
