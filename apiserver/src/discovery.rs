//! Discovery documents, generated from the resource table: legacy
//! (`/api`, `/apis`, `/apis/<g>`, `/api/v1`, `/apis/<g>/<v>`) and aggregated
//! (`apidiscovery.k8s.io/v2` and `v2beta1`, chosen by the Accept header).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::registry::{Resource, ResourceTable};
use crate::state::ApiState;

fn json_response(body: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

/// The aggregated discovery version the client asked for, if any.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
    }
    None
}

fn aggregated_response(version: &str, items: Vec<Value>) -> Response {
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    });
    let ct = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    let mut resp = json_response(&body);
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

fn aggregated_resource(r: &Resource) -> Value {
    let info = &r.info;
    let mut entry = json!({
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": if info.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": info.singular,
        "verbs": info.verbs,
    });
    if !info.short_names.is_empty() {
        entry["shortNames"] = json!(info.short_names);
    }
    if !info.categories.is_empty() {
        entry["categories"] = json!(info.categories);
    }
    if !info.subresources.is_empty() {
        let subs: Vec<Value> = info
            .subresources
            .iter()
            .map(|s| {
                json!({
                    "subresource": s.name,
                    "responseKind": {
                        "group": if s.group.is_empty() && s.kind == info.kind { info.group } else { s.group },
                        "version": if s.version.is_empty() { info.version } else { s.version },
                        "kind": s.kind,
                    },
                    "verbs": s.verbs,
                })
            })
            .collect();
        entry["subresources"] = Value::Array(subs);
    }
    entry
}

fn aggregated_group(table: &ResourceTable, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = table
                .resources_in(group, v)
                .iter()
                .map(|r| aggregated_resource(r))
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let metadata = if group.is_empty() {
        json!({"creationTimestamp": null})
    } else {
        json!({"name": group, "creationTimestamp": null})
    };
    json!({"metadata": metadata, "versions": versions})
}

fn legacy_resource_list(table: &ResourceTable, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in table.resources_in(group, version) {
        let info = &r.info;
        let mut entry = json!({
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": info.verbs,
        });
        if !info.short_names.is_empty() {
            entry["shortNames"] = json!(info.short_names);
        }
        if !info.categories.is_empty() {
            entry["categories"] = json!(info.categories);
        }
        resources.push(entry);
        for s in info.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", info.plural, s.name),
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if !s.group.is_empty() {
                sub["group"] = json!(s.group);
            }
            if !s.version.is_empty() {
                sub["version"] = json!(s.version);
            }
            resources.push(sub);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// GET /api
pub async fn api(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let table = state.table();
    if let Some(v) = aggregated_version(&headers) {
        let items = table
            .groups()
            .filter(|(g, _)| g.is_empty())
            .map(|(g, vs)| aggregated_group(&table, g, vs))
            .collect();
        return aggregated_response(v, items);
    }
    json_response(&json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": state.settings.advertise_address}],
    }))
}

/// GET /apis
pub async fn apis(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let table = state.table();
    if let Some(v) = aggregated_version(&headers) {
        let items = table
            .groups()
            .filter(|(g, _)| !g.is_empty())
            .map(|(g, vs)| aggregated_group(&table, g, vs))
            .collect();
        return aggregated_response(v, items);
    }
    let groups: Vec<Value> = table
        .groups()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json_response(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// GET /apis/<group>
pub async fn group(State(state): State<Arc<ApiState>>, Path(group): Path<String>) -> Response {
    let table = state.table();
    match table.groups().find(|(g, _)| *g == group) {
        Some((g, vs)) if !g.is_empty() => {
            let mut body = group_json(g, vs);
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            json_response(&body)
        }
        _ => ApiError::path_not_found().into_response(),
    }
}

/// GET /api/v1
pub async fn core_version(
    State(state): State<Arc<ApiState>>,
    Path(version): Path<String>,
) -> Response {
    let table = state.table();
    if !table.has_group_version("", &version) {
        return ApiError::path_not_found().into_response();
    }
    json_response(&legacy_resource_list(&table, "", &version))
}

/// GET /apis/<group>/<version>
pub async fn group_version(
    State(state): State<Arc<ApiState>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    let table = state.table();
    if !table.has_group_version(&group, &version) {
        return ApiError::path_not_found().into_response();
    }
    json_response(&legacy_resource_list(&table, &group, &version))
}
