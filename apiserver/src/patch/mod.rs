//! Patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
//! Kubernetes strategic merge patch (`strategic`).

pub mod strategic;

use serde_json::Value;

use crate::error::ApiError;

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// The patch type named by a request's `Content-Type`, or 415 with the
/// types upstream lists.
pub fn patch_type(headers: &http::HeaderMap) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    PatchType::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct})"),
        )
    })
}

/// Applies a JSON patch document to `original`.
pub fn json_patch(original: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_slice(patch)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = original.clone();
    json_patch::patch(&mut doc, &ops).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })?;
    Ok(doc)
}

/// Applies a JSON merge patch to `original`.
pub fn merge_patch(original: &Value, patch: &[u8]) -> Result<Value, ApiError> {
    let p: Value = serde_json::from_slice(patch)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !p.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal into Go value of type map[string]interface {}",
        ));
    }
    let mut doc = original.clone();
    json_patch::merge(&mut doc, &p);
    Ok(doc)
}
