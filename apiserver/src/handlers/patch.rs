//! PATCH: the patch is applied to the current object inside the store's
//! read-modify-write loop, then the result goes through the same update
//! rules as a PUT.

use axum::response::Response;
use serde_json::Value;

use super::Ctx;
use super::write::{drop_unknown_fields, finish_write, prepare_update};
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
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "server-side apply (application/apply-patch+yaml) is not supported by this server yet",
        ));
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
    let (stored, created) = ctx
        .state
        .store
        .guaranteed_update(&ctx.res, ctx.ns(), ctx.name(), ctx.dry_run(), |current| {
            let Some(old) = current else {
                return Err(ApiError::not_found(target(&ctx.res, ctx.name())));
            };
            let patched = match kind {
                PatchType::Json => patch::json_patch(&old, &ctx.body)?,
                PatchType::Merge => patch::merge_patch(&old, &ctx.body)?,
                // Apply never gets here: it was refused above.
                PatchType::Strategic | PatchType::Apply => {
                    let p = strategic.as_ref().unwrap_or(&Value::Null);
                    patch::strategic::apply(&old, p, info.group, info.kind)
                        .map_err(|e| ApiError::new(e.code(), e.reason(), e.to_string()))?
                }
            };
            // A patch that does not name a resourceVersion never conflicts.
            let mut patched = patched;
            if crate::meta::resource_version(&patched).is_empty() {
                crate::meta::meta_mut(&mut patched).insert(
                    "resourceVersion".into(),
                    Value::String(crate::meta::resource_version(&old).to_string()),
                );
            }
            warnings = drop_unknown_fields(ctx, &mut patched)?;
            prepare_update(ctx, patched, &old)
        })
        .await?;
    finish_write(ctx, stored, created, &warnings).await
}
