//! Content negotiation: what the client asked for in `Accept` (JSON, YAML,
//! a meta.k8s.io Table, or PartialObjectMetadata), what it sent in
//! `Content-Type`, and the encoding of responses.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::error::ApiError;

/// The representation a response is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    Table,
    PartialObjectMetadata,
}

/// Chooses the output from the `Accept` header, in the client's order.
/// Protobuf is not served yet: a client listing JSON after it gets JSON.
pub fn output(headers: &HeaderMap) -> Result<Output, ApiError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Output::Json);
    };
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let mime = parts.next().unwrap_or_default();
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |k: &str| params.iter().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        match mime {
            "application/json" | "application/*" | "*/*" | "application/yaml" => {
                let as_ = param("as");
                let group_ok = param("g") == Some("meta.k8s.io");
                let version_ok = matches!(param("v"), Some("v1") | Some("v1beta1"));
                match as_ {
                    Some("Table") if group_ok && version_ok => return Ok(Output::Table),
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                        if group_ok && version_ok =>
                    {
                        return Ok(Output::PartialObjectMetadata);
                    }
                    Some(_) => continue,
                    None if mime == "application/yaml" => return Ok(Output::Yaml),
                    None => return Ok(Output::Json),
                }
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(accept))
}

/// Encodes `body` as JSON (or YAML) with the given status.
pub fn respond(status: StatusCode, body: &Value, output: Output) -> Response {
    let (ct, bytes) = match output {
        Output::Yaml => match serde_yaml::to_string(body) {
            Ok(s) => ("application/yaml", s.into_bytes()),
            Err(e) => return ApiError::internal(e.to_string()).into_response(),
        },
        _ => (
            "application/json",
            serde_json::to_vec(body).unwrap_or_default(),
        ),
    };
    let mut resp = (status, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

/// Decodes a request body as JSON or YAML according to `Content-Type`.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = ct.split(';').next().unwrap_or_default().trim();
    let value: Value = match mime {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode_to_json(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "json: cannot unmarshal into Go value of type map[string]interface {}",
        ));
    }
    Ok(value)
}
