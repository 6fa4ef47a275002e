//! Resource request handlers, one module per verb family (upstream's
//! `endpoints/handlers`): `read` (get, list), `write` (create, update,
//! delete, deletecollection), `patch`, `watch`. This module parses the
//! request into a `Ctx` and dispatches.

mod binding;
mod eviction;
mod node_proxy;
mod patch;
mod read;
mod review;
mod scale;
mod watch;
mod write;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::negotiate::{self, Output};
use crate::registry::Resource;
use crate::request_info::{self, RequestInfo};
use crate::state::ApiState;

/// Everything a verb handler needs about one request.
pub struct Ctx {
    pub state: Arc<ApiState>,
    pub info: RequestInfo,
    pub res: Arc<Resource>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub output: Output,
    pub body: Bytes,
    /// Who is asking (None only on public paths, which never get here).
    pub user: Option<crate::authn::UserInfo>,
}

impl Ctx {
    /// The Service allocation ledger of an update request (inert for
    /// other kinds).
    pub fn update_ledger(&self) -> crate::strategy::UpdateLedger<'_> {
        crate::strategy::UpdateLedger::new(self.state.service_allocator(&self.res), self.dry_run())
    }

    /// The namespace the request addresses, for namespaced resources.
    pub fn ns(&self) -> Option<&str> {
        if self.res.info.namespaced {
            self.info.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn name(&self) -> &str {
        self.info.name.as_deref().unwrap_or_default()
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    pub fn dry_run(&self) -> bool {
        self.param("dryRun").is_some_and(|v| v == "All")
    }

    pub fn body_json(&self) -> ApiResult<Value> {
        negotiate::decode_body(&self.headers, &self.body)
    }
}

pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .map(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .unwrap_or_default()
                .into_iter()
                .collect()
        })
        .unwrap_or_default()
}

/// Entry point for every `/api/...` and `/apis/...` resource path.
pub async fn resource(State(state): State<Arc<ApiState>>, req: Request) -> Response {
    if node_proxy::is_streaming(&req) {
        return node_proxy::stream(state, req).await;
    }
    match dispatch(state, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(state: Arc<ApiState>, req: Request) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let query = parse_query(parts.uri.query());
    let watch_param = query.get("watch").is_some_and(|v| v == "true" || v == "1");
    let info = request_info::parse(&parts.method, parts.uri.path(), watch_param)
        .ok_or_else(ApiError::path_not_found)?;
    let table = state.table();
    let res = table
        .get(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::path_not_found)?;
    let output = negotiate::output(&parts.headers)?;
    let body = read_body(body, state.settings.max_request_body_bytes).await?;
    if info.verb == "unknown" {
        return Err(method_not_allowed());
    }
    let user = parts
        .extensions
        .get::<crate::authn::Authenticated>()
        .and_then(|a| a.0.clone());
    let ctx = Ctx {
        user,
        state,
        info,
        res,
        query,
        headers: parts.headers,
        output,
        body,
    };
    match ctx.info.subresource.as_deref() {
        None => {}
        Some("status") if ctx.res.has_subresource("status") => {}
        Some("scale") if ctx.res.has_subresource("scale") => {
            return match ctx.info.verb {
                "get" => scale::get(&ctx).await,
                "update" | "patch" => scale::update(&ctx).await,
                _ => Err(method_not_allowed()),
            };
        }
        Some("eviction") if ctx.res.has_subresource("eviction") => {
            return match ctx.info.verb {
                "create" => eviction::create(&ctx).await,
                _ => Err(method_not_allowed()),
            };
        }
        Some("binding") if ctx.res.has_subresource("binding") => {
            return match ctx.info.verb {
                "create" => binding::create(&ctx).await,
                _ => Err(method_not_allowed()),
            };
        }
        Some("token") if ctx.res.has_subresource("token") => {
            return match ctx.info.verb {
                "create" => crate::serviceaccount::token_request::create(&ctx).await,
                _ => Err(method_not_allowed()),
            };
        }
        Some("log") if ctx.res.info.kind == "Pod" && ctx.res.info.group.is_empty() => {
            return match ctx.info.verb {
                "get" => node_proxy::pod_log(&ctx).await,
                _ => Err(method_not_allowed()),
            };
        }
        // Reads and writes of the pod whose strategy keeps all but
        // spec.ephemeralContainers.
        Some("ephemeralcontainers")
            if ctx.res.has_subresource("ephemeralcontainers")
                && matches!(ctx.info.verb, "get" | "update" | "patch") => {}
        Some("finalize") if ctx.res.has_subresource("finalize") && ctx.info.verb != "update" => {
            return Err(method_not_allowed());
        }
        Some("finalize") if ctx.res.has_subresource("finalize") => {}
        // CertificateSigningRequest approval: an update of the object whose
        // strategy decides what may change.
        Some("approval") if ctx.res.has_subresource("approval") => {}
        Some(sub) if ctx.res.has_subresource(sub) => {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({}/{sub})",
                ctx.res.info.plural
            )));
        }
        Some(_) => return Err(ApiError::path_not_found()),
    }
    if !verb_allowed(&ctx) {
        return Err(method_not_allowed());
    }
    if !ctx.res.is_stored() {
        return match ctx.info.verb {
            "create" if ctx.res.info.kind.ends_with("Review") => review::create(&ctx).await,
            "create" if ctx.res.info.kind == "Binding" => binding::create(&ctx).await,
            _ => Err(method_not_allowed()),
        };
    }
    crate::apply::validate_options(&ctx)?;
    match ctx.info.verb {
        "get" => read::get(&ctx).await,
        "list" => read::list(&ctx).await,
        "watch" => watch::watch(&ctx).await,
        "create" => write::create(&ctx).await,
        "update" => write::update(&ctx).await,
        "patch" => patch::patch(&ctx).await,
        "delete" => write::delete(&ctx).await,
        "deletecollection" => write::delete_collection(&ctx).await,
        _ => Err(method_not_allowed()),
    }
}

fn verb_allowed(ctx: &Ctx) -> bool {
    let verb = ctx.info.verb;
    match ctx.info.subresource.as_deref() {
        Some(_) => matches!(verb, "get" | "update" | "patch"),
        None => {
            ctx.res.info.verbs.contains(&verb)
                || (verb == "watch" && ctx.res.info.verbs.contains(&"watch"))
        }
    }
}

/// 405 with upstream's message.
fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed("the server does not allow this method on the requested resource")
}

async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}
