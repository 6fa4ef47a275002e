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
            json!({"userInfo": {"username": user.name, "groups": user.groups}})
        }
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            json!({"allowed": true, "reason": "every authenticated user is allowed (no authorizer configured)"})
        }
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "TokenReview" => json!({
            "authenticated": false,
            "error": "no token authenticator is configured",
        }),
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
