//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` with an
//! authentication.k8s.io/v1 `TokenRequest` (what `kubectl create token` and
//! the kubelet's projected volumes send), like upstream's `TokenREST`:
//! defaults (`expirationSeconds` 3600, audiences = `--api-audiences`),
//! validation (at least 10 minutes, at most 2^32 seconds), the bound object
//! (a Pod running as this ServiceAccount, a Secret or a Node, checked by
//! UID), then a signed token and its expiry in `status`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::TokenSettings;
use super::claims::{self, Claims, KubernetesClaims, ObjectRef};
use crate::error::{ApiError, ApiResult, Target};
use crate::handlers::Ctx;
use crate::meta;
use crate::negotiate::respond;
use crate::validation::invalid;

const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
const API_VERSION: &str = "authentication.k8s.io/v1";

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    let settings = ctx
        .state
        .settings
        .service_accounts
        .clone()
        .filter(|s| s.signing_key.is_some())
        .ok_or_else(ApiError::path_not_found)?;
    let mut request = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.body_json()?
    };
    check_type(&mut request)?;
    let name = ctx.name().to_string();
    let namespace = ctx.ns().unwrap_or_default().to_string();
    let expiration = default_and_validate(&mut request, &name)?;

    let sa = get(ctx, "serviceaccounts", &namespace, &name).await?;
    let bound = bound_object(ctx, &request, &namespace, &name).await?;
    let audiences: Vec<String> = match request.pointer("/spec/audiences").and_then(Value::as_array)
    {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => settings.api_audiences.clone(),
    };
    request["spec"]["audiences"] = json!(audiences);

    let token_claims = issue_claims(&settings, &sa, &bound, &audiences, expiration);
    let key = settings
        .signing_key
        .as_ref()
        .ok_or_else(ApiError::path_not_found)?;
    let token = super::jwt::sign(
        &serde_json::to_value(&token_claims).map_err(|e| ApiError::internal(e.to_string()))?,
        key,
    )
    .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;
    // The requester is told the lifetime it asked for, even when the
    // token itself was extended (upstream hides the extension too).
    let expires = chrono::DateTime::from_timestamp(token_claims.iat + expiration, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    if request.get("metadata").is_none_or(Value::is_null) {
        request["metadata"] = json!({});
    }
    request["metadata"]["name"] = json!(name);
    request["metadata"]["namespace"] = json!(namespace);
    request["metadata"]["creationTimestamp"] = Value::Null;
    Ok(respond(StatusCode::CREATED, &request, ctx.output))
}

fn check_type(request: &mut Value) -> ApiResult<()> {
    if !request.is_object() {
        return Err(ApiError::bad_request("TokenRequest must be an object"));
    }
    match request.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => request["apiVersion"] = json!(API_VERSION),
        Some(API_VERSION) => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({API_VERSION})"
            )));
        }
    }
    match request.get("kind").and_then(Value::as_str) {
        None | Some("") => request["kind"] = json!("TokenRequest"),
        Some("TokenRequest") => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind (TokenRequest)"
            )));
        }
    }
    if !request.get("spec").is_some_and(Value::is_object) {
        request["spec"] = json!({});
    }
    Ok(())
}

/// Defaults `spec.expirationSeconds` and checks it (422 as upstream).
fn default_and_validate(request: &mut Value, name: &str) -> ApiResult<i64> {
    let spec = &mut request["spec"];
    let seconds = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request("spec.expirationSeconds must be an integer".to_string())
        })?,
    };
    spec["expirationSeconds"] = json!(seconds);
    let message = if seconds < MIN_EXPIRATION_SECONDS {
        Some("may not specify a duration less than 10 minutes")
    } else if seconds > MAX_EXPIRATION_SECONDS {
        Some("may not specify a duration larger than 2^32 seconds")
    } else {
        None
    };
    if let Some(message) = message {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![invalid("spec.expirationSeconds", &json!(seconds), message)],
        ));
    }
    Ok(seconds)
}

/// The object a token is bound to, and the node of a bound pod.
#[derive(Default)]
struct Bound {
    pod: Option<ObjectRef>,
    secret: Option<ObjectRef>,
    node: Option<ObjectRef>,
}

async fn bound_object(ctx: &Ctx, request: &Value, namespace: &str, sa: &str) -> ApiResult<Bound> {
    let Some(reference) = request
        .pointer("/spec/boundObjectRef")
        .filter(|r| r.is_object())
    else {
        return Ok(Bound::default());
    };
    let text = |field: &str| {
        reference
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind, name, uid) =
        (text("apiVersion"), text("kind"), text("name"), text("uid"));
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let object = match (group, kind.as_str()) {
        ("", "Pod") => {
            let pod = get(ctx, "pods", namespace, &name).await?;
            let runs_as = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if runs_as != sa {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount {sa:?} to pod running with serviceaccount {runs_as:?}"
                )));
            }
            pod
        }
        ("", "Secret") => get(ctx, "secrets", namespace, &name).await?,
        ("", "Node") => get(ctx, "nodes", "", &name).await?,
        _ => {
            let gvk = if group.is_empty() {
                format!("/{api_version}, Kind={kind}")
            } else {
                format!("{api_version}, Kind={kind}")
            };
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {gvk}"
            )));
        }
    };
    let actual_uid = meta::uid(&object).to_string();
    if !uid.is_empty() && uid != actual_uid {
        return Err(ApiError::conflict(
            Target {
                group,
                resource: &kind,
                name: &name,
            },
            &format!(
                "the UID in the bound object reference ({uid}) does not match the UID in record ({actual_uid}). The object might have been deleted and then recreated"
            ),
        ));
    }
    let this = Some(ObjectRef {
        name: name.clone(),
        uid: actual_uid,
    });
    Ok(match kind.as_str() {
        "Pod" => {
            // A pod-bound token also names the pod's node (upstream's
            // ServiceAccountTokenPodNodeInfo), when the node exists.
            let node_name = object
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let node = if node_name.is_empty() {
                None
            } else {
                get(ctx, "nodes", "", node_name)
                    .await
                    .ok()
                    .map(|n| ObjectRef {
                        name: node_name.to_string(),
                        uid: meta::uid(&n).to_string(),
                    })
            };
            Bound {
                pod: this,
                node,
                ..Default::default()
            }
        }
        "Secret" => Bound {
            secret: this,
            ..Default::default()
        },
        _ => Bound {
            node: this,
            ..Default::default()
        },
    })
}

fn issue_claims(
    settings: &TokenSettings,
    sa: &Value,
    bound: &Bound,
    audiences: &[String],
    requested: i64,
) -> Claims {
    let now = chrono::Utc::now().timestamp();
    let mut lifetime = requested;
    if settings.max_expiration_seconds > 0 {
        lifetime = lifetime.min(settings.max_expiration_seconds);
    }
    let mut warnafter = None;
    let kube_audiences = audiences.iter().all(|a| settings.api_audiences.contains(a));
    if settings.extend_expiration
        && bound.pod.is_some()
        && requested == claims::WARN_ONLY_EXPIRATION_SECONDS
        && kube_audiences
    {
        warnafter = Some(now + requested);
        lifetime = claims::EXTENDED_EXPIRATION_SECONDS;
    }
    let namespace = meta::namespace(sa).to_string();
    let name = meta::name(sa).to_string();
    Claims {
        aud: audiences.to_vec(),
        exp: now + lifetime,
        iat: now,
        iss: settings.issuer().to_string(),
        jti: Some(uuid::Uuid::new_v4().to_string()),
        kubernetes: KubernetesClaims {
            namespace: namespace.clone(),
            node: bound.node.clone(),
            pod: bound.pod.clone(),
            secret: bound.secret.clone(),
            serviceaccount: ObjectRef {
                name: name.clone(),
                uid: meta::uid(sa).to_string(),
            },
            warnafter,
        },
        nbf: now,
        sub: claims::username(&namespace, &name),
    }
}

/// An object by resource plural (core group), 404 as the registry says.
pub(super) async fn get(ctx: &Ctx, plural: &str, namespace: &str, name: &str) -> ApiResult<Value> {
    super::authenticator::get_core(&ctx.state, plural, namespace, name).await
}
