//! OpenAPI documents: `/openapi/v2` (one Swagger 2.0 document),
//! `/openapi/v3` (the index of group/versions) and `/openapi/v3/<prefix>`
//! (one OpenAPI 3.0 document per group/version, e.g. `apis/apps/v1`).
//!
//! Everything is generated from the resource table and the k8s-openapi types
//! (`schemas`), with the patch/list extensions kubectl's strategic merge
//! patch needs (`extensions`) and upstream's paths and operations (`paths`).
//! Documents are generated once per resource table, off the async runtime,
//! and kept as bytes with their ETag; `If-None-Match` gets a 304.
//!
//! What it does not do: the protobuf encoding of the v2 document (client-go
//! asks for it with an `Accept` that lists nothing else; that request gets a
//! 406 and kubectl uses the v3 documents), and CRD schemas (rows without a
//! Rust type get no paths yet).

mod extensions;
mod paths;
pub(crate) mod schemas;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Map, Value, json};

use crate::registry::ResourceTable;
use crate::state::ApiState;

use paths::PathItem;
use schemas::{Definitions, V2_REF_PREFIX};

/// The Kubernetes version the documents describe.
const KUBERNETES_VERSION: &str = "v1.33.0";

/// One generated document.
pub struct Document {
    pub body: Bytes,
    /// Strong validator, without quotes: upper-case hex.
    pub etag: String,
}

impl Document {
    fn new(value: &Value) -> Document {
        let body = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        let etag = content_hash(&body);
        Document { body, etag }
    }
}

/// Every document of one resource table.
pub struct Documents {
    pub v2: Document,
    pub v3_root: Document,
    /// `api/v1`, `apis/apps/v1`, ... -> document.
    pub v3: BTreeMap<String, Document>,
    /// How long generation took.
    pub elapsed: Duration,
}

impl Documents {
    /// Generates every document of `table`.
    pub fn generate(table: &ResourceTable) -> Documents {
        let start = Instant::now();
        let defs = Definitions::build(table);

        // Path items per group/version, in discovery order.
        let mut per_gv: Vec<(String, Vec<PathItem>)> = Vec::new();
        for (group, versions) in table.groups() {
            for version in versions {
                let mut items = vec![paths::resources_path(group, version)];
                for res in table.resources_in(group, version) {
                    items.extend(paths::resource_paths(
                        &res.info,
                        res.custom.is_some(),
                        &defs,
                    ));
                }
                let key = paths::prefix(group, version)
                    .trim_start_matches('/')
                    .to_string();
                per_gv.push((key, items));
            }
        }

        let v2 = Document::new(&v2_document(&defs, &per_gv));
        let mut v3 = BTreeMap::new();
        for (key, items) in &per_gv {
            v3.insert(key.clone(), Document::new(&v3_document(&defs, items)));
        }
        let mut index = Map::new();
        for (key, items) in &per_gv {
            if items.len() <= 1 {
                continue;
            }
            if let Some(doc) = v3.get(key) {
                index.insert(
                    key.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.etag)}),
                );
            }
        }
        let v3_root = Document::new(&json!({ "paths": index }));
        Documents {
            v2,
            v3_root,
            v3,
            elapsed: start.elapsed(),
        }
    }
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": KUBERNETES_VERSION})
}

fn v2_document(defs: &Definitions, per_gv: &[(String, Vec<PathItem>)]) -> Value {
    let mut paths = Map::new();
    for (_, items) in per_gv {
        for item in items {
            paths.insert(item.path.clone(), item.to_v2());
        }
    }
    let definitions: Map<String, Value> = defs
        .schemas
        .iter()
        .map(|(name, schema)| (name.clone(), schemas::to_v2(name, schema)))
        .collect();
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            },
        },
        "security": [{"BearerToken": []}],
    })
}

fn v3_document(defs: &Definitions, items: &[PathItem]) -> Value {
    let mut paths = Map::new();
    let mut roots = Vec::new();
    for item in items {
        let v2 = item.to_v2();
        schemas::refs_in(&v2, V2_REF_PREFIX, &mut roots);
        paths.insert(item.path.clone(), item.to_v3());
    }
    let components: Map<String, Value> = schemas::closure(&defs.schemas, roots)
        .into_iter()
        .filter_map(|name| {
            defs.schemas
                .get(&name)
                .map(|schema| (name.clone(), schemas::to_v3(&name, schema)))
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                },
            },
        },
        "security": [{"BearerToken": []}],
    })
}

/// 128 bits of two independent 64-bit hashes, as upper-case hex.
fn content_hash(bytes: &[u8]) -> String {
    let mut sip = DefaultHasher::new();
    sip.write(bytes);
    let mut fnv: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        fnv ^= u64::from(*b);
        fnv = fnv.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:016X}{:016X}", sip.finish(), fnv)
}

// ------------------------------------------------------------------ cache

type CacheEntry = (Weak<ResourceTable>, Arc<Documents>);

fn cache() -> &'static tokio::sync::Mutex<Vec<CacheEntry>> {
    static CACHE: OnceLock<tokio::sync::Mutex<Vec<CacheEntry>>> = OnceLock::new();
    CACHE.get_or_init(|| tokio::sync::Mutex::new(Vec::new()))
}

/// The documents of `table`, generated on first use (on a blocking thread)
/// and kept while the table lives.
pub async fn documents_for(table: Arc<ResourceTable>) -> Option<Arc<Documents>> {
    let mut entries = cache().lock().await;
    entries.retain(|(weak, _)| weak.strong_count() > 0);
    let weak = Arc::downgrade(&table);
    if let Some((_, docs)) = entries.iter().find(|(w, _)| Weak::ptr_eq(w, &weak)) {
        return Some(docs.clone());
    }
    let docs = tokio::task::spawn_blocking(move || Arc::new(Documents::generate(&table)))
        .await
        .ok()?;
    tracing::info!(
        elapsed_ms = docs.elapsed.as_millis() as u64,
        v2_bytes = docs.v2.body.len(),
        v3_documents = docs.v3.len(),
        "generated OpenAPI documents"
    );
    entries.push((weak, docs.clone()));
    Some(docs)
}

// --------------------------------------------------------------- handlers

/// Whether the client accepts JSON (no `Accept`, `*/*`, `application/*`
/// and `application/json` do).
fn accepts_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.iter().all(|v| v.trim().is_empty()) {
        return true;
    }
    values.iter().flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        !refused && matches!(media.as_str(), "application/json" | "application/*" | "*/*")
    })
}

/// Whether `If-None-Match` names `etag`.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

fn status_response(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    (
        code,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

fn serve(doc: &Document, headers: &HeaderMap) -> Response {
    serve_as(doc, headers, true)
}

/// `negotiate`: answer 406 unless the client accepts JSON (the v3 index is
/// JSON whatever the client asks for, as upstream's is).
fn serve_as(doc: &Document, headers: &HeaderMap, negotiate: bool) -> Response {
    if negotiate && !accepts_json(headers) {
        return status_response(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "only the following media types are accepted: application/json".into(),
        );
    }
    let etag = HeaderValue::from_str(&format!("\"{}\"", doc.etag))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let common = [
        (ETAG, etag),
        (VARY, HeaderValue::from_static("Accept")),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache, private")),
    ];
    if not_modified(headers, &doc.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        doc.body.clone(),
    )
        .into_response()
}

fn unavailable() -> Response {
    status_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the OpenAPI documents could not be generated".into(),
    )
}

/// `GET /openapi/v2`.
pub async fn v2(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    match documents_for(state.table()).await {
        Some(docs) => serve(&docs.v2, &headers),
        None => unavailable(),
    }
}

/// `GET /openapi/v3`: `{"paths": {"apis/apps/v1": {"serverRelativeURL": ...}}}`.
pub async fn v3_root(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    match documents_for(state.table()).await {
        Some(docs) => serve_as(&docs.v3_root, &headers, false),
        None => unavailable(),
    }
}

/// `GET /openapi/v3/<prefix>`, e.g. `/openapi/v3/apis/apps/v1`.
pub async fn v3_group_version(
    State(state): State<Arc<ApiState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(docs) = documents_for(state.table()).await else {
        return unavailable();
    };
    let key = path.trim_matches('/');
    match docs.v3.get(key) {
        Some(doc) => serve(doc, &headers),
        None => status_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the OpenAPI document of \"{key}\" does not exist"),
        ),
    }
}

#[cfg(test)]
mod tests;
