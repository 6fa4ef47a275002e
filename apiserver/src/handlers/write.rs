//! CREATE, UPDATE (PUT), DELETE and DELETECOLLECTION, including the status
//! subresource. The object flows: decode -> metadata rules -> strategy
//! (defaults, validation) -> namespace lifecycle -> store.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use super::read::{list_options, render_object};
use crate::admission;
use crate::error::{ApiError, ApiResult};
use crate::field_validation;
use crate::meta;
use crate::negotiate::respond;
use crate::registry::list;
use crate::registry::store::target;
use crate::registry::{DeleteOptions, DeleteOutcome, UpdateKind};
use crate::strategy::UpdateLedger;

/// Checks and fills apiVersion/kind of a request body against the endpoint.
pub fn check_type(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let info = &ctx.res.info;
    let expected = info.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = Value::String(expected.clone()),
        Some(v) if v == expected => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = Value::String(info.kind.to_string()),
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
    }
    Ok(())
}

/// Checks the body's namespace against the URL's and sets it.
fn check_namespace(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let body_ns = meta::namespace(obj).to_string();
    match ctx.ns() {
        Some(ns) => {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta::meta_mut(obj).insert("namespace".into(), Value::String(ns.to_string()));
        }
        None => {
            if ctx.res.info.namespaced {
                return Err(ApiError::path_not_found());
            }
            meta::meta_mut(obj).remove("namespace");
        }
    }
    Ok(())
}

fn invalid(ctx: &Ctx, name: &str, causes: Vec<crate::error::Cause>) -> ApiError {
    ApiError::invalid(ctx.res.info.group, ctx.res.info.kind, name, causes)
}

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    if ctx.info.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    if let Some(custom) = &ctx.res.custom {
        custom.check_create()?;
    }
    let mut obj = ctx.body_json()?;
    check_type(ctx, &mut obj)?;
    let warnings = drop_unknown_fields(ctx, &mut obj)?;
    check_namespace(ctx, &mut obj)?;
    if !meta::resource_version(&obj).is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if meta::name(&obj).is_empty() {
        let generate = meta::str_field(&obj, "generateName").to_string();
        if !generate.is_empty() {
            let name = format!("{generate}{}", meta::generated_suffix());
            meta::meta_mut(&mut obj).insert("name".into(), Value::String(name));
        }
    }
    let created = create_object(ctx, obj).await?;
    let mut resp = render_object(ctx, StatusCode::CREATED, created);
    add_warnings(&mut resp, &warnings);
    Ok(resp)
}

/// Creates a checked new object: server metadata, defaults, managedFields,
/// Service allocations, validation, store (shared by POST and apply).
pub async fn create_object(ctx: &Ctx, mut obj: Value) -> ApiResult<Value> {
    ctx.res.prepare_new(&mut obj);
    if let Some(user) = &ctx.user {
        ctx.res.strategy.prepare_for_create_by(&mut obj, user);
    }
    crate::apply::track(ctx, None, &mut obj);
    // Services get their cluster IP and node ports before validation;
    // whatever fails afterwards gives them back.
    let reservation = match ctx.state.service_allocator(&ctx.res) {
        Some(alloc) => Some((alloc, alloc.allocate_create(&mut obj, ctx.dry_run())?)),
        None => None,
    };
    let created = store_new(ctx, obj).await;
    if let (Err(_), Some((alloc, r))) = (&created, &reservation) {
        alloc.revert(r);
    }
    created
}

/// Metadata and kind validation of a prepared new object (422 with causes).
fn validate_new(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    let mut causes = admission::validate_object_meta(obj, &ctx.res, true);
    causes.extend(ctx.res.strategy.validate(obj));
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(ctx, meta::name(obj), causes))
    }
}

/// Admits, validates and stores a prepared new object. Admission comes
/// first, as upstream's (a missing namespace is 404 before any 422).
async fn store_new(ctx: &Ctx, mut obj: Value) -> ApiResult<Value> {
    admission::namespace_lifecycle(ctx, &ctx.res, meta::name(&obj)).await?;
    admission::mutate_new(ctx, &mut obj).await?;
    validate_new(ctx, &obj)?;
    admission::quota::charge(ctx, &ctx.res, &obj).await?;
    ctx.state
        .store
        .create(&ctx.res, ctx.ns(), obj, ctx.dry_run())
        .await
}

/// Drops fields the kind does not know; refuses them under
/// `fieldValidation=Strict`; returns the warnings to send under `Warn`.
pub fn drop_unknown_fields(ctx: &Ctx, obj: &mut Value) -> ApiResult<Vec<String>> {
    let mode = field_validation::Mode::parse(ctx.param("fieldValidation"))?;
    let info = &ctx.res.info;
    let unknown = match ctx.res.strategy.prune_unknown(obj) {
        Some(unknown) => unknown,
        None => field_validation::prune_unknown(info.group, info.version, info.kind, obj),
    };
    let duplicates = if mode == field_validation::Mode::Ignore {
        Vec::new()
    } else {
        field_validation::duplicate_fields(&ctx.body)
    };
    field_validation::check(mode, &unknown, &duplicates)
}

/// Adds one `Warning: 299 - "..."` header per message.
pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {}", serde_json::Value::String(w.clone()));
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append(http::header::WARNING, v);
        }
    }
}

/// The metadata fields clients cannot change on update.
fn keep_server_metadata(new: &mut Value, old: &Value) {
    let old_meta = meta::meta(old).clone();
    let m = meta::meta_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old_meta.get(field) {
            Some(v) => {
                m.insert(field.into(), v.clone());
            }
            None => {
                m.remove(field);
            }
        }
    }
}

/// Turns the client's new object into the object to store, given the
/// current one (shared by PUT and PATCH).
/// Service IPs and node ports a type change needs are taken through
/// `allocations` (one ledger per request, finished by the caller).
pub fn prepare_update(
    ctx: &Ctx,
    mut new: Value,
    old: &Value,
    allocations: &mut UpdateLedger,
) -> ApiResult<Value> {
    check_type(ctx, &mut new)?;
    let name = ctx.name();
    let rv = meta::resource_version(&new).to_string();
    if !rv.is_empty() && rv != meta::resource_version(old) {
        return Err(ApiError::stale_update(target(&ctx.res, name)));
    }
    let new_uid = meta::uid(&new);
    if !new_uid.is_empty() && new_uid != meta::uid(old) {
        return Err(ApiError::conflict(
            target(&ctx.res, name),
            &format!(
                "Precondition failed: UID in precondition: {new_uid}, UID in object meta: {}",
                meta::uid(old)
            ),
        ));
    }
    keep_server_metadata(&mut new, old);
    let kind = match ctx.info.subresource.as_deref() {
        None => UpdateKind::Main,
        Some("status") => UpdateKind::Status,
        Some("finalize") => UpdateKind::Finalize,
        Some(_) => UpdateKind::Raw,
    };
    let strategy = &ctx.res.strategy;
    match kind {
        UpdateKind::Main => {
            if ctx.res.has_subresource("status") {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            strategy.prepare_for_update(&mut new, old);
            allocations.attempt(&mut new, old)?;
            if strategy.tracks_generation() && meta::spec_fields(&new) != meta::spec_fields(old) {
                let generation = meta::meta(old)
                    .get("generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta::meta_mut(&mut new).insert("generation".into(), json!(generation + 1));
            }
        }
        UpdateKind::Status => {
            meta::copy_spec(&mut new, old);
            strategy.prepare_for_subresource_update("status", &mut new, old);
        }
        UpdateKind::Finalize => {
            let finalizers = new.pointer("/spec/finalizers").cloned();
            let metadata = new.get("metadata").cloned();
            new = old.clone();
            if let Some(m) = metadata {
                new["metadata"] = m;
            }
            new["spec"]["finalizers"] = finalizers.unwrap_or_else(|| json!([]));
        }
        UpdateKind::Raw => {
            let sub = ctx.info.subresource.as_deref().unwrap_or_default();
            strategy.prepare_for_subresource_update(sub, &mut new, old);
        }
    }
    crate::apply::track(ctx, Some(old), &mut new);
    let mut causes = admission::validate_object_meta(&new, &ctx.res, false);
    causes.extend(strategy.validate_update(&new, old));
    if !causes.is_empty() {
        return Err(invalid(ctx, name, causes));
    }
    Ok(new)
}

pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    let mut body = ctx.body_json()?;
    check_type(ctx, &mut body)?;
    let warnings = drop_unknown_fields(ctx, &mut body)?;
    check_namespace(ctx, &mut body)?;
    let body_name = meta::name(&body).to_string();
    if body_name != ctx.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            ctx.name()
        )));
    }
    let allow_create = ctx.res.strategy.allow_create_on_update() && ctx.info.subresource.is_none();
    let mut allocations = ctx.update_ledger();
    let result =
        ctx.state
            .store
            .guaranteed_update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run(), |current| {
                match current {
                    Some(old) => prepare_update(ctx, body.clone(), &old, &mut allocations),
                    None if allow_create => {
                        let mut obj = body.clone();
                        ctx.res.prepare_new(&mut obj);
                        crate::apply::track(ctx, None, &mut obj);
                        validate_new(ctx, &obj)?;
                        Ok(obj)
                    }
                    None => Err(ApiError::not_found(target(&ctx.res, ctx.name()))),
                }
            })
            .await;
    allocations.finish(result.is_ok());
    let (stored, created) = result?;
    finish_write(ctx, stored, created, &warnings).await
}

/// After an update: remove an object whose last finalizer went away while
/// it was being deleted, then answer.
pub async fn finish_write(
    ctx: &Ctx,
    stored: Value,
    created: bool,
    warnings: &[String],
) -> ApiResult<Response> {
    if !ctx.dry_run() {
        ctx.state
            .store
            .delete_if_finalized(&ctx.res, ctx.ns(), &stored)
            .await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp = render_object(ctx, status, stored);
    add_warnings(&mut resp, warnings);
    Ok(resp)
}

fn delete_options(ctx: &Ctx) -> ApiResult<DeleteOptions> {
    let body: Value = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.body_json()?
    };
    delete_options_from(ctx, &body)
}

/// DeleteOptions from a `DeleteOptions` object (the DELETE body, or an
/// Eviction's `deleteOptions`) and the query parameters.
pub(super) fn delete_options_from(ctx: &Ctx, body: &Value) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions {
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        dry_run: ctx.dry_run()
            || body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All")),
        propagation_policy: crate::registry::deletion_policy::policy_from_request(
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .or(ctx.param("propagationPolicy")),
            body.get("orphanDependents")
                .and_then(Value::as_bool)
                .or(ctx.param("orphanDependents").and_then(|v| v.parse().ok())),
        )?,
        grace_period_seconds: body
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or(ctx.param("gracePeriodSeconds").and_then(|g| g.parse().ok())),
    };
    if let Some(p) = &opts.propagation_policy
        && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::invalid(
            "",
            "DeleteOptions",
            "",
            vec![crate::validation::not_supported(
                "propagationPolicy",
                &Value::String(p.clone()),
                &["Foreground", "Background", "Orphan", "nil"],
            )],
        ));
    }
    if opts.grace_period_seconds.is_some_and(|g| g < 0) {
        opts.grace_period_seconds = Some(0);
    }
    Ok(opts)
}

fn deleted_status(ctx: &Ctx, obj: &Value) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta::name(obj),
            "group": ctx.res.info.group,
            "kind": ctx.res.info.plural,
            "uid": meta::uid(obj),
        }
    })
}

pub async fn delete(ctx: &Ctx) -> ApiResult<Response> {
    if ctx.info.subresource.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let opts = delete_options(ctx)?;
    let outcome = ctx
        .state
        .store
        .delete(&ctx.res, ctx.ns(), ctx.name(), &opts)
        .await?;
    if ctx.res.info.kind == "Namespace" && ctx.res.info.group.is_empty() {
        ctx.state.namespace_deleted.notify_one();
    }
    if let DeleteOutcome::Deleted(obj) = &outcome
        && !opts.dry_run
    {
        ctx.state.deleted(&ctx.res, obj);
    }
    Ok(match outcome {
        DeleteOutcome::Pending(obj) => render_object(ctx, StatusCode::OK, obj),
        DeleteOutcome::Deleted(obj) if ctx.res.strategy.return_deleted_object() => {
            render_object(ctx, StatusCode::OK, obj)
        }
        DeleteOutcome::Deleted(obj) => respond(
            StatusCode::OK,
            &deleted_status(ctx, &obj),
            crate::negotiate::Output::Json,
        ),
    })
}

pub async fn delete_collection(ctx: &Ctx) -> ApiResult<Response> {
    let opts = delete_options(ctx)?;
    let list_opts = list_options(ctx)?;
    let found = list::list(&ctx.state.store, &ctx.res, ctx.ns(), &list_opts).await?;
    let mut deleted = Vec::new();
    for obj in found.items {
        let ns = if ctx.res.info.namespaced {
            Some(meta::namespace(&obj).to_string())
        } else {
            None
        };
        match ctx
            .state
            .store
            .delete(&ctx.res, ns.as_deref(), meta::name(&obj), &opts)
            .await
        {
            Ok(DeleteOutcome::Deleted(o)) => {
                if !opts.dry_run {
                    ctx.state.deleted(&ctx.res, &o);
                }
                deleted.push(o)
            }
            Ok(DeleteOutcome::Pending(o)) => deleted.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let info = &ctx.res.info;
    let body = json!({
        "kind": format!("{}List", info.kind),
        "apiVersion": info.api_version(),
        "metadata": {"resourceVersion": found.resource_version.to_string()},
        "items": deleted,
    });
    Ok(respond(StatusCode::OK, &body, ctx.output))
}
