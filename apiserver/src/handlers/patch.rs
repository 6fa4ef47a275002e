//! PATCH: the patch is applied to the current object inside the store's
//! read-modify-write loop, then the result goes through the same update
//! rules as a PUT.
//!
//! Server-side apply (`application/apply-patch+yaml`) merges the applied
//! configuration for its `fieldManager` (see `crate::apply`); applying to a
//! missing object creates it (201).

use axum::response::Response;
use serde_json::Value;

use super::Ctx;
use super::write::{create_object, drop_unknown_fields, finish_write, prepare_update};
use crate::error::{ApiError, ApiResult};
use crate::patch::{self, PatchType};
use crate::registry::store::target;

pub async fn patch(ctx: &Ctx) -> ApiResult<Response> {
    let kind = patch::patch_type(&ctx.headers)?;
    if kind == PatchType::Strategic && ctx.res.custom.is_some() {
        // Custom resources have no patch strategies: upstream refuses.
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    if kind == PatchType::Apply {
        return apply(ctx).await;
    }
    let strategic: Option<Value> = if kind == PatchType::Strategic {
        Some(
            serde_json::from_slice(&ctx.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
        )
    } else {
        None
    };
    let info = &ctx.res.info;
    let mut warnings = Vec::new();
    let mut allocations = ctx.update_ledger();
    let result = ctx
        .state
        .store
        .guaranteed_update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run(), |current| {
            let Some(old) = current else {
                return Err(ApiError::not_found(target(&ctx.res, ctx.name())));
            };
            let mut patched = match (kind, strategic.as_ref()) {
                (PatchType::Json, _) => patch::json_patch(&old, &ctx.body)?,
                (PatchType::Strategic, Some(p)) => {
                    patch::strategic::apply(&old, p, info.group, info.kind)
                        .map_err(|e| ApiError::new(e.code(), e.reason(), e.to_string()))?
                }
                _ => patch::merge_patch(&old, &ctx.body)?,
            };
            keep_resource_version(&mut patched, &old);
            warnings = drop_unknown_fields(ctx, &mut patched)?;
            prepare_update(ctx, patched, &old, &mut allocations)
        })
        .await;
    allocations.finish(result.is_ok());
    let (stored, created) = result?;
    finish_write(ctx, stored, created, &warnings).await
}

/// A patch that does not name a resourceVersion never conflicts.
fn keep_resource_version(patched: &mut Value, old: &Value) {
    if crate::meta::resource_version(patched).is_empty() {
        crate::meta::meta_mut(patched).insert(
            "resourceVersion".into(),
            Value::String(crate::meta::resource_version(old).to_string()),
        );
    }
}

/// Server-side apply.
async fn apply(ctx: &Ctx) -> ApiResult<Response> {
    let (mut config, warnings) = crate::apply::config::decode(ctx)?;
    crate::apply::config::check(ctx, &mut config)?;
    crate::apply::check_types(ctx, &config)?;
    let mut missing = false;
    let mut allocations = ctx.update_ledger();
    let result = ctx
        .state
        .store
        .guaranteed_update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run(), |current| {
            let Some(old) = current else {
                missing = true;
                return Err(ApiError::not_found(target(&ctx.res, ctx.name())));
            };
            let mut applied = crate::apply::apply_patch(ctx, Some(&old), &config)?;
            keep_resource_version(&mut applied, &old);
            prepare_update(ctx, applied, &old, &mut allocations)
        })
        .await;
    allocations.finish(result.is_ok());
    match result {
        Err(e) if missing && ctx.info.subresource.is_none() && e.code == 404 => {
            let mut obj = crate::apply::apply_patch(ctx, None, &config)?;
            if !crate::meta::resource_version(&obj).is_empty() {
                return Err(e);
            }
            crate::meta::meta_mut(&mut obj).remove("resourceVersion");
            let created = create_object(ctx, obj).await?;
            finish_write(ctx, created, true, &warnings).await
        }
        Err(e) => Err(e),
        Ok((stored, created)) => finish_write(ctx, stored, created, &warnings).await,
    }
}
