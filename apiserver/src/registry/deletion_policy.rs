//! Which garbage-collection finalizers a DELETE leaves on an object, like
//! upstream's `deletionFinalizersForGarbageCollection` in
//! `registry/generic/registry/store.go`: `propagationPolicy=Orphan` (or the
//! deprecated `orphanDependents=true`) adds `orphan`, `Foreground` adds
//! `foregroundDeletion`, `Background` adds neither; without an explicit
//! policy a finalizer already on the object decides, then the resource's
//! default (ReplicationController v1 and batch/v1 Job orphan, for backward
//! compatibility). The garbage collector (`controllers/`) removes them.

use super::Resource;
use super::store::DeleteOptions;

pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// The resource's default when a DELETE names no policy.
fn orphans_by_default(res: &Resource) -> bool {
    let info = &res.info;
    matches!(
        (info.group, info.version, info.plural),
        ("", "v1", "replicationcontrollers") | ("batch", "v1", "jobs")
    )
}

fn should_orphan(res: &Resource, current: &[String], opts: &DeleteOptions) -> bool {
    match opts.propagation_policy.as_deref() {
        Some("Orphan") => return true,
        Some("Background" | "Foreground") => return false,
        _ => {}
    }
    for f in current {
        match f.as_str() {
            ORPHAN_FINALIZER => return true,
            FOREGROUND_FINALIZER => return false,
            _ => {}
        }
    }
    orphans_by_default(res)
}

fn should_delete_dependents(current: &[String], opts: &DeleteOptions) -> bool {
    match opts.propagation_policy.as_deref() {
        Some("Foreground") => return true,
        Some("Background" | "Orphan") => return false,
        _ => {}
    }
    for f in current {
        match f.as_str() {
            FOREGROUND_FINALIZER => return true,
            ORPHAN_FINALIZER => return false,
            _ => {}
        }
    }
    false
}

/// The finalizers the object should carry once this DELETE is applied: the
/// current ones minus both GC finalizers, plus the one the policy asks for.
pub fn finalizers_after_delete(
    res: &Resource,
    current: &[String],
    opts: &DeleteOptions,
) -> Vec<String> {
    let orphan = should_orphan(res, current, opts);
    let foreground = should_delete_dependents(current, opts);
    let mut out: Vec<String> = current
        .iter()
        .filter(|f| f.as_str() != ORPHAN_FINALIZER && f.as_str() != FOREGROUND_FINALIZER)
        .cloned()
        .collect();
    if orphan {
        out.push(ORPHAN_FINALIZER.to_string());
    }
    if foreground {
        out.push(FOREGROUND_FINALIZER.to_string());
    }
    out
}

/// The policy of a DELETE from `propagationPolicy` and the deprecated
/// `orphanDependents` (true = Orphan, false = Background); both at once is
/// refused like upstream's DeleteOptions validation.
pub fn policy_from_request(
    propagation_policy: Option<&str>,
    orphan_dependents: Option<bool>,
) -> crate::error::ApiResult<Option<String>> {
    match (propagation_policy, orphan_dependents) {
        (Some(_), Some(_)) => Err(crate::error::ApiError::invalid(
            "",
            "DeleteOptions",
            "",
            vec![crate::validation::forbidden(
                "orphanDependents",
                "orphanDependents and deletionPropagation cannot be both set",
            )],
        )),
        (Some(p), None) => Ok(Some(p.to_string())),
        (None, Some(true)) => Ok(Some("Orphan".to_string())),
        (None, Some(false)) => Ok(Some("Background".to_string())),
        (None, None) => Ok(None),
    }
}
