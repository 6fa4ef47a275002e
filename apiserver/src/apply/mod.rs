//! Server-side apply and `managedFields`.
//!
//! - `fieldpath`: path elements and field sets (structured-merge-diff's
//!   model); `fieldsv1`: their FieldsV1 JSON encoding.
//! - `schema`: the [`TypeModel`] (scalars, granular/atomic maps, atomic,
//!   set and associative lists) built from OpenAPI schemas.
//! - `walk`: field sets of objects, comparisons, pruning; `merge`: an
//!   applied configuration merged into the live object.
//! - `managed`: the managedFields entries of an object; `manager`: how one
//!   write (update or apply) changes them, and conflicts.
//! - `models`: the type model of each served resource (built-in kinds from
//!   the OpenAPI definitions, custom resources from their CRD schema).
//!
//! The write paths call one hook, [`track`], with the old and new object:
//! every create, update and non-apply patch (and subresource writes, with
//! `subresource` set) records an `Update` entry for its manager (the
//! `fieldManager` parameter, or the User-Agent up to its first `/`). Apply
//! patches go through [`apply_patch`] instead.
//!
//! For the CRD engineer: [`TypeModel::from_schema`] takes a version's
//! `openAPIV3Schema` as JSON; `models::for_resource` already builds and
//! caches it from `CustomVersion::schema` (untyped when absent).

pub mod config;
pub mod fieldpath;
pub mod fieldsv1;
pub mod managed;
pub mod manager;
pub mod merge;
pub mod models;
pub mod schema;
pub mod walk;

use serde_json::{Value, json};

use crate::error::{ApiError, Cause};
use crate::handlers::Ctx;
use crate::meta;
use crate::patch::PatchType;
use crate::registry::Resource;

pub use fieldpath::{Path, PathElement, Set};
pub use managed::{Managed, Operation};
pub use schema::TypeModel;

/// The annotation client-side apply keeps its last configuration in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Longest field manager name.
pub const MAX_MANAGER_LEN: usize = 128;

/// The manager of a request: `fieldManager`, else the User-Agent's prefix
/// before the first `/` (printable characters, at most 128 bytes).
pub fn manager_name(ctx: &Ctx) -> String {
    if let Some(m) = ctx.param("fieldManager").filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let agent = ctx
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let prefix = agent.split('/').next().unwrap_or_default();
    let mut out = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_MANAGER_LEN {
            break;
        }
        out.push(c);
    }
    out
}

fn is_apply(ctx: &Ctx) -> bool {
    ctx.info.verb == "patch"
        && crate::patch::patch_type(&ctx.headers).is_ok_and(|t| t == PatchType::Apply)
}

/// Checks `fieldManager` (and `force`) of a write as upstream's
/// `Validate{Create,Update,Patch}Options` do: 422 on `<Kind>Options.meta.k8s.io`.
pub fn validate_options(ctx: &Ctx) -> Result<(), ApiError> {
    let (options, apply) = match ctx.info.verb {
        "create" => ("CreateOptions", false),
        "update" => ("UpdateOptions", false),
        "patch" => ("PatchOptions", is_apply(ctx)),
        _ => return Ok(()),
    };
    let manager = ctx.param("fieldManager").unwrap_or_default();
    let mut causes: Vec<Cause> = Vec::new();
    if ctx.info.verb == "patch" {
        if !apply && ctx.param("force").is_some() {
            causes.push(crate::validation::forbidden(
                "force",
                "may not be specified for non-apply patch",
            ));
        }
        if apply && manager.is_empty() {
            causes.push(crate::validation::required(
                "fieldManager",
                "is required for apply patch",
            ));
        }
    }
    if manager.len() > MAX_MANAGER_LEN {
        causes.push(crate::validation::too_long("fieldManager", MAX_MANAGER_LEN));
    }
    for (i, c) in manager.char_indices() {
        if c.is_control() {
            causes.push(crate::validation::invalid(
                "fieldManager",
                &json!(manager),
                &format!("invalid character U+{:04X} (at position {i})", c as u32),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", options, "", causes))
    }
}

/// Fields nobody owns in a write: the status of a main-resource write
/// when the resource has a status subresource, the spec of a status write.
fn ignored_fields(res: &Resource, subresource: &str) -> Set {
    let mut s = Set::new();
    match subresource {
        "" if res.has_subresource("status") => s.insert(&[PathElement::field("status")]),
        "status" => s.insert(&[PathElement::field("spec")]),
        _ => {}
    }
    s
}

/// The hook of every non-apply write: records `manager`'s change from `old`
/// (None for a create) to `new` in `new`'s managedFields. Failures never
/// fail the write (upstream's `UpdateNoErrors`): the object is then stored
/// without managedFields.
pub fn track(ctx: &Ctx, old: Option<&Value>, new: &mut Value) {
    if is_apply(ctx) {
        return;
    }
    let subresource = ctx.info.subresource.as_deref().unwrap_or_default();
    record_update(&ctx.res, subresource, &manager_name(ctx), old, new);
}

/// [`track`] without a request: the change of one write by `manager`.
pub fn record_update(
    res: &Resource,
    subresource: &str,
    manager: &str,
    old: Option<&Value>,
    new: &mut Value,
) {
    let sent = new.pointer("/metadata/managedFields").cloned();
    let live = || {
        old.map(Managed::of)
            .unwrap_or_else(|| Ok(Managed::default()))
    };
    let decoded = if !subresource.is_empty() {
        live()
    } else if managed::is_reset(sent.as_ref()) {
        Ok(Managed::default())
    } else {
        match sent.as_ref().map(Managed::decode) {
            Some(Ok(m)) if !m.entries.is_empty() => Ok(m),
            _ => live(),
        }
    };
    // The walks skip metadata.managedFields; `write_to` replaces it in
    // place, so an unchanged object stays byte-for-byte the same.
    let mut managed = match decoded {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "dropping undecodable managedFields");
            Managed::default().write_to(new);
            return;
        }
    };
    // Objects without managedFields stay untracked on update (upstream's
    // skip of non-applied managers); creates are always tracked.
    if old.is_some() && managed.entries.is_empty() {
        managed.write_to(new);
        return;
    }
    let (model, ty) = models::for_resource(res);
    let ignored = ignored_fields(res, subresource);
    let now = meta::now_rfc3339();
    let scope = manager::Scope {
        model: &model,
        ty,
        api_version: &res.info.api_version(),
        subresource,
        ignored: &ignored,
        now: &now,
    };
    let empty = json!({});
    match manager::update(&scope, &mut managed, old.unwrap_or(&empty), new, manager) {
        Ok(()) => managed.write_to(new),
        Err(e) => {
            tracing::warn!(error = %e, "managedFields dropped: the object does not fit its type");
            Managed::default().write_to(new);
        }
    }
}

/// An apply patch: `config` merged into `live` (None: the object does not
/// exist yet) for the request's manager, with managedFields updated.
pub fn apply_patch(ctx: &Ctx, live: Option<&Value>, config: &Value) -> Result<Value, ApiError> {
    let info = &ctx.res.info;
    let manager = ctx.param("fieldManager").unwrap_or_default();
    let force = ctx.param("force").is_some_and(|f| f == "true");
    let subresource = ctx.info.subresource.as_deref().unwrap_or_default();
    let base = json!({"apiVersion": info.api_version(), "kind": info.kind, "metadata": {}});
    let live = live.unwrap_or(&base);
    let mut managed = Managed::of(live).unwrap_or_default();
    let (model, ty) = models::for_resource(&ctx.res);
    let gvk = gvk_string(&ctx.res);
    let last_applied = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    // kubectl's server-side apply may take over what its client-side apply
    // set (the fields of the last-applied configuration).
    let allowed = match last_applied {
        Some(text) if manager == "kubectl" => serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| walk::field_set(&model, ty, &v).ok()),
        _ => None,
    };
    let ignored = ignored_fields(&ctx.res, subresource);
    let now = meta::now_rfc3339();
    let api_version = info.api_version();
    let scope = manager::Scope {
        model: &model,
        ty,
        api_version: &api_version,
        subresource,
        ignored: &ignored,
        now: &now,
    };
    let mut merged = manager::apply(
        &scope,
        &mut managed,
        live,
        config,
        manager,
        force,
        allowed.as_ref(),
    )
    .map_err(|e| match e {
        manager::ManageError::Conflicts(c) => conflict_error(&c),
        manager::ManageError::Walk(w) => typed_error(&gvk, &[w]),
    })?;
    if manager == "kubectl" && last_applied.is_some() {
        let mut cfg = config.clone();
        if let Some(a) = cfg
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        {
            a.shift_remove(LAST_APPLIED);
        }
        let text = serde_json::to_string(&sorted(&cfg)).unwrap_or_default() + "\n";
        if let Some(m) = merged.get_mut("metadata").and_then(Value::as_object_mut) {
            let annotations = m.entry("annotations").or_insert_with(|| json!({}));
            annotations[LAST_APPLIED] = Value::String(text);
        }
    }
    managed.write_to(&mut merged);
    Ok(merged)
}

/// The kind as Go prints a GroupVersionKind (`/v1, Kind=ConfigMap`).
fn gvk_string(res: &Resource) -> String {
    let info = &res.info;
    format!("{}/{}, Kind={}", info.group, info.version, info.kind)
}

/// Refuses a configuration with fields its type does not declare, before
/// anything else looks at it (upstream converts it to a typed value first,
/// whatever `fieldValidation` says).
pub fn check_types(ctx: &Ctx, config: &Value) -> Result<(), ApiError> {
    let (model, ty) = models::for_resource(&ctx.res);
    let undeclared = walk::undeclared(&model, ty, config);
    if undeclared.is_empty() {
        Ok(())
    } else {
        Err(typed_error(&gvk_string(&ctx.res), &undeclared))
    }
}

/// Upstream's answer to a configuration that does not fit its type: a 500
/// without reason (a plain error there), naming each field.
fn typed_error(gvk: &str, errors: &[walk::WalkError]) -> ApiError {
    let detail = match errors {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|e| format!("  {e}")).collect();
            format!("errors:\n{}", lines.join("\n"))
        }
    };
    ApiError::new(
        500,
        "",
        format!("failed to create typed patch object ({gvk}): {detail}"),
    )
}

/// A copy of `v` with object keys sorted (how Go encodes maps).
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// 409 Conflict with upstream's message and one `FieldManagerConflict`
/// cause per field.
fn conflict_error(conflicts: &[manager::Conflict]) -> ApiError {
    let mut err = ApiError::new(409, "Conflict", manager::conflict_message(conflicts));
    err.details = Some(Box::new(crate::error::Details {
        causes: conflicts
            .iter()
            .map(|c| Cause {
                reason: "FieldManagerConflict",
                message: format!("conflict with {}", c.manager),
                field: c.path.to_string(),
            })
            .collect(),
        ..Default::default()
    }));
    err
}
