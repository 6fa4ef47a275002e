//! Resources that are not stored, only answered: SelfSubjectReview (who am
//! I), the access reviews (can I / can they) and TokenReview. Until RBAC
//! lands every authenticated user may do everything, and the reviews say so.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::negotiate::{Output, respond};

/// Answers a POST to a review resource with the request plus its `status`.
pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    if ctx.output == Output::Table {
        return Err(ApiError::not_acceptable(
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        ));
    }
    let mut obj = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.body_json()?
    };
    super::write::check_type(ctx, &mut obj)?;
    let status = match ctx.res.info.kind {
        "SelfSubjectReview" => {
            let user = ctx.user.as_ref().ok_or_else(ApiError::unauthorized)?;
            json!({"userInfo": user.to_json()})
        }
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            json!({"allowed": true, "reason": "every authenticated user is allowed (no authorizer configured)"})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "TokenReview" => token_review(ctx, &obj).await?,
        other => {
            return Err(ApiError::method_not_allowed(format!(
                "{other} is not served by this server"
            )));
        }
    };
    obj["status"] = status;
    if obj.get("metadata").is_none_or(Value::is_null) {
        obj["metadata"] = json!({});
    }
    Ok(respond(StatusCode::CREATED, &obj, ctx.output))
}

/// TokenReview: whether `spec.token` authenticates, for `spec.audiences`
/// (the API audiences when empty), and as whom.
async fn token_review(ctx: &Ctx, review: &Value) -> ApiResult<Value> {
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request("token is required for TokenReview"));
    }
    let requested: Vec<String> = review
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let audiences = (!requested.is_empty()).then_some(requested.as_slice());
    Ok(
        match crate::serviceaccount::authenticator::authenticate(&ctx.state, token, audiences).await
        {
            Ok(Some(a)) => json!({
                "authenticated": true,
                "user": a.user.to_json(),
                "audiences": a.audiences,
            }),
            Ok(None) => json!({"user": {}, "error": "[invalid bearer token]"}),
            Err(e) => json!({"user": {}, "error": format!("[invalid bearer token, {e}]")}),
        },
    )
}
