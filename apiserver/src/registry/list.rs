//! Lists: selectors, `limit` + `continue` paging over one store revision, and
//! upstream's `resourceVersion` / `resourceVersionMatch` rules.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{RangeRequest, StoreError, prefix_end};

use super::store::{ObjectStore, decode};
use super::table::Resource;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validation::string_map;

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: i64,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

pub struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: i64,
    pub continue_token: Option<String>,
    pub remaining_item_count: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

const TOKEN_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

fn encode_token(rv: i64, start: &str) -> String {
    let token = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.into(),
    };
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_token(token: &str) -> ApiResult<ContinueToken> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // rv -1: go on at the latest revision (the token a 410 hands out).
    if t.v != "meta.k8s.io/v1" || t.rv == 0 || t.rv < -1 || t.start.contains("..") {
        return Err(bad());
    }
    Ok(t)
}

/// Does `obj` pass the label and field selectors?
pub fn matches(
    res: &Resource,
    obj: &Value,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> bool {
    if !labels.is_empty() && !labels.matches(&string_map(meta::meta(obj).get("labels"))) {
        return false;
    }
    if fields.is_empty() {
        return true;
    }
    fields.matches(&|field| match field {
        "metadata.name" => Some(meta::name(obj).to_string()),
        "metadata.namespace" => Some(meta::namespace(obj).to_string()),
        f => res.strategy.field_value(obj, f),
    })
}

/// Refuses field selectors on fields the kind does not support, with
/// upstream's message.
pub fn check_field_selector(res: &Resource, fields: &FieldSelector) -> ApiResult<()> {
    for f in fields.fields() {
        let supported = f == "metadata.name"
            || (f == "metadata.namespace" && res.info.namespaced)
            || res.strategy.selectable_fields().contains(&f);
        if !supported {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {f}"
            )));
        }
    }
    Ok(())
}

pub async fn list(
    store: &ObjectStore,
    res: &Resource,
    namespace: Option<&str>,
    opts: &ListOptions,
) -> ApiResult<ListResult> {
    check_field_selector(res, &opts.field_selector)?;
    let prefix = ObjectStore::prefix(res, namespace);
    let mut continue_start = String::new();
    let (mut revision, mut start) = match &opts.continue_token {
        Some(token) => {
            let t = decode_token(token)?;
            let mut start = prefix.clone();
            start.extend_from_slice(t.start.as_bytes());
            continue_start = t.start;
            (t.rv.max(0), start)
        }
        None => {
            let exact = opts.resource_version_match.as_deref() == Some("Exact");
            let rv = match opts.resource_version.as_deref() {
                None | Some("") | Some("0") => 0,
                Some(s) => s
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
            };
            (if exact { rv } else { 0 }, prefix.clone())
        }
    };
    let min_rv: i64 = match (&opts.continue_token, opts.resource_version.as_deref()) {
        (None, Some(s)) if opts.resource_version_match.as_deref() != Some("Exact") => {
            s.parse().unwrap_or(0)
        }
        _ => 0,
    };
    let end = prefix_end(&prefix);
    let limit = opts.limit.max(0);
    let filtering = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
    let mut items = Vec::new();
    let mut continue_from: Option<String> = None;
    let mut remaining = None;
    loop {
        let want = if limit > 0 {
            limit - items.len() as i64
        } else {
            0
        };
        let resp = store
            .kv()
            .range(RangeRequest {
                key: start.clone(),
                range_end: end.clone(),
                revision,
                limit: want,
                ..Default::default()
            })
            .await
            .map_err(|e| match e {
                StoreError::Compacted { .. } if opts.continue_token.is_some() => {
                    // Upstream hands out a token to go on, inconsistently,
                    // from the same key at the latest revision.
                    ApiError {
                        continue_token: Some(encode_token(-1, &continue_start)),
                        ..ApiError::expired(TOKEN_EXPIRED)
                    }
                }
                StoreError::Compacted { .. } => {
                    ApiError::expired(format!("too old resource version: {revision}"))
                }
                other => other.into(),
            })?;
        if revision == 0 {
            revision = resp.header.revision;
            if min_rv > revision {
                return Err(ApiError::timeout(format!(
                    "Too large resource version: {min_rv}, current: {revision}"
                )));
            }
        }
        for kv in &resp.kvs {
            let obj = decode(res, kv)?;
            if matches(res, &obj, &opts.label_selector, &opts.field_selector) {
                items.push(obj);
            }
        }
        let Some(last) = resp.kvs.last() else { break };
        if limit == 0 || !resp.more {
            break;
        }
        let mut next = last.key.clone();
        next.push(0);
        if items.len() as i64 >= limit {
            let relative = String::from_utf8_lossy(&next[prefix.len()..]).into_owned();
            continue_from = Some(encode_token(revision, &relative));
            if !filtering {
                remaining = Some(resp.count - resp.kvs.len() as i64);
            }
            break;
        }
        start = next;
    }
    Ok(ListResult {
        items,
        resource_version: revision,
        continue_token: continue_from,
        remaining_item_count: remaining,
    })
}
