//! GET of one object and LIST of a collection, rendered as the client asked
//! (object/list JSON or YAML, Table, PartialObjectMetadata).

use axum::response::Response;
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::Ctx;
use crate::error::ApiResult;
use crate::negotiate::{Output, respond};
use crate::printers::IncludeObject;
use crate::registry::ObjectStore;
use crate::registry::list::{self, ListOptions};
use crate::registry::store::decode;
use crate::selectors::{FieldSelector, LabelSelector};

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let obj = ctx.state.store.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    Ok(render_object(ctx, StatusCode::OK, obj))
}

pub fn list_options(ctx: &Ctx) -> ApiResult<ListOptions> {
    Ok(ListOptions {
        label_selector: LabelSelector::parse(ctx.param("labelSelector").unwrap_or_default())?,
        field_selector: FieldSelector::parse(ctx.param("fieldSelector").unwrap_or_default())?,
        limit: ctx.param("limit").and_then(|l| l.parse().ok()).unwrap_or(0),
        continue_token: ctx
            .param("continue")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        resource_version: ctx.param("resourceVersion").map(str::to_string),
        resource_version_match: ctx
            .param("resourceVersionMatch")
            .filter(|m| !m.is_empty())
            .map(str::to_string),
    })
}

pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    let opts = list_options(ctx)?;
    let from_cache = opts.resource_version.as_deref() == Some("0")
        && opts.continue_token.is_none()
        && opts.resource_version_match.as_deref() != Some("Exact");
    let result = if from_cache {
        list_from_cache(ctx, &opts).await?
    } else {
        list::list(&ctx.state.store, &ctx.res, ctx.ns(), &opts).await?
    };
    let mut list_meta = Map::new();
    list_meta.insert(
        "resourceVersion".into(),
        Value::String(result.resource_version.to_string()),
    );
    if let Some(c) = &result.continue_token {
        list_meta.insert("continue".into(), Value::String(c.clone()));
    }
    if let Some(n) = result.remaining_item_count {
        list_meta.insert("remainingItemCount".into(), json!(n));
    }
    let info = &ctx.res.info;
    let body = match ctx.output {
        Output::Table => ctx.res.table(
            &result.items,
            Value::Object(list_meta),
            include_object(ctx),
            chrono::Utc::now(),
        ),
        Output::PartialObjectMetadata => json!({
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": list_meta,
            "items": result.items.iter().map(partial_metadata).collect::<Vec<_>>(),
        }),
        // Custom resource lists are unstructured upstream: their items keep
        // kind/apiVersion, and the list kind is the CRD's listKind.
        Output::Json | Output::Yaml => match &ctx.res.custom {
            Some(custom) => json!({
                "apiVersion": info.api_version(),
                "items": result.items,
                "kind": custom.list_kind,
                "metadata": list_meta,
            }),
            None => json!({
                "kind": format!("{}List", info.kind),
                "apiVersion": info.api_version(),
                "metadata": list_meta,
                "items": result.items.into_iter().map(as_list_item).collect::<Vec<_>>(),
            }),
        },
    };
    Ok(respond(StatusCode::OK, &body, ctx.output))
}

/// `resourceVersion=0`: any recent state will do, so the watch cache answers
/// (the whole list: upstream ignores `limit` here too).
async fn list_from_cache(ctx: &Ctx, opts: &ListOptions) -> ApiResult<list::ListResult> {
    list::check_field_selector(&ctx.res, &opts.field_selector)?;
    let cache = ctx
        .state
        .watch_cache
        .get(&ObjectStore::prefix(&ctx.res, None))
        .await?;
    let (objects, revision, _) = cache.snapshot(&ObjectStore::prefix(&ctx.res, ctx.ns()));
    let mut items = Vec::with_capacity(objects.len());
    for kv in &objects {
        let obj = decode(&ctx.res, kv)?;
        if list::matches(&ctx.res, &obj, &opts.label_selector, &opts.field_selector) {
            items.push(obj);
        }
    }
    Ok(list::ListResult {
        items,
        resource_version: revision,
        continue_token: None,
        remaining_item_count: None,
    })
}

/// Items of built-in lists carry no kind/apiVersion (upstream's typed lists).
fn as_list_item(mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    obj
}

pub fn include_object(ctx: &Ctx) -> IncludeObject {
    match ctx.param("includeObject") {
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        _ => IncludeObject::Metadata,
    }
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// Renders one object (a GET, or the result of a write) as asked.
pub fn render_object(ctx: &Ctx, status: StatusCode, obj: Value) -> Response {
    let body = match ctx.output {
        Output::Table => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            ctx.res.table(
                std::slice::from_ref(&obj),
                json!({"resourceVersion": rv}),
                include_object(ctx),
                chrono::Utc::now(),
            )
        }
        Output::PartialObjectMetadata => partial_metadata(&obj),
        Output::Json | Output::Yaml => obj,
    };
    respond(status, &body, ctx.output)
}
