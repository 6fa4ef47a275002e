//! ServiceAccount issuer discovery (upstream's
//! `pkg/serviceaccount/openidmetadata.go`): `/.well-known/openid-configuration`
//! and `/openid/v1/jwks`, so that relying parties outside the cluster can
//! verify our tokens. Served only when the issuer is an `https://` URL;
//! 404 otherwise, like upstream.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;
use serde_json::json;

use crate::error::ApiError;
use crate::state::ApiState;

const MAX_AGE: &str = "public, max-age=3600";

fn issuer_settings(state: &ApiState) -> Option<&super::TokenSettings> {
    state
        .settings
        .service_accounts
        .as_deref()
        .filter(|s| s.issuer().starts_with("https://"))
}

pub async fn configuration(State(state): State<Arc<ApiState>>) -> Response {
    let Some(settings) = issuer_settings(&state) else {
        return ApiError::path_not_found().into_response();
    };
    let jwks_uri = settings.jwks_uri.clone().unwrap_or_else(|| {
        format!(
            "https://{}/openid/v1/jwks",
            state.settings.advertise_address
        )
    });
    let mut algs: Vec<&str> = settings
        .verifying_keys
        .iter()
        .map(|k| k.alg.name())
        .collect();
    algs.sort_unstable();
    algs.dedup();
    let doc = json!({
        "issuer": settings.issuer(),
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, MAX_AGE),
        ],
        doc.to_string(),
    )
        .into_response()
}

pub async fn jwks(State(state): State<Arc<ApiState>>) -> Response {
    let Some(settings) = issuer_settings(&state) else {
        return ApiError::path_not_found().into_response();
    };
    let keys: Vec<_> = settings
        .verifying_keys
        .iter()
        .map(|k| k.jwk().clone())
        .collect();
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, MAX_AGE),
        ],
        json!({"keys": keys}).to_string(),
    )
        .into_response()
}
