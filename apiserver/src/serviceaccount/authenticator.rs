//! Bearer tokens to users (upstream's service account JWT authenticator):
//! a token issued by one of our issuers and signed by one of our keys is
//! valid while its times and audiences are, and while the ServiceAccount
//! and the object it is bound to still exist with the UIDs it names
//! (deleted more than a minute ago counts as gone).

use std::collections::BTreeMap;

use serde_json::Value;

use super::TokenSettings;
use super::claims::{self, Claims, ClaimsError, LEEWAY_SECONDS};
use super::jwt::{self, JwtError};
use crate::authn::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::state::ApiState;

/// Why a token that is ours is refused; the messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error("serviceaccounts {0:?} not found")]
    ServiceAccountNotFound(String),
    #[error("service account {0} has been deleted")]
    ServiceAccountDeleted(String),
    #[error("service account UID ({actual}) does not match claim ({claimed})")]
    ServiceAccountUid { actual: String, claimed: String },
    #[error("service account token has been invalidated")]
    Invalidated,
    #[error("{kind} UID ({actual}) does not match service account {kind} ref claim ({claimed})")]
    BoundUid {
        kind: &'static str,
        actual: String,
        claimed: String,
    },
    #[error("looking up {0}")]
    Lookup(String),
}

/// A user from a token, and the audiences it was accepted for.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: UserInfo,
    pub audiences: Vec<String>,
}

/// Authenticates `token` for `audiences` (the API audiences when None).
/// `Ok(None)`: not one of our tokens (other authenticators may take it).
pub async fn authenticate(
    state: &ApiState,
    token: &str,
    audiences: Option<&[String]>,
) -> Result<Option<Authenticated>, TokenError> {
    let Some(settings) = state.settings.service_accounts.as_deref() else {
        return Ok(None);
    };
    if !jwt::looks_like_jwt(token) || !issued_by_us(token, settings) {
        return Ok(None);
    }
    let claims: Claims = serde_json::from_value(jwt::verify(token, &settings.verifying_keys)?)
        .map_err(|_| JwtError::Malformed)?;
    let now = chrono::Utc::now().timestamp();
    let target = audiences.unwrap_or(&settings.api_audiences);
    let audiences = claims.validate_times_and_audience(now, &settings.issuers, target)?;
    let user = check_objects(state, &claims, now).await?;
    Ok(Some(Authenticated { user, audiences }))
}

/// Whether the (unverified) `iss` claim is one of ours: tokens of other
/// issuers are left to other authenticators, as upstream does.
fn issued_by_us(token: &str, settings: &TokenSettings) -> bool {
    use base64::Engine as _;
    token
        .split('.')
        .nth(1)
        .and_then(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_string))
        .is_some_and(|iss| settings.issuers.contains(&iss))
}

async fn check_objects(state: &ApiState, c: &Claims, now: i64) -> Result<UserInfo, TokenError> {
    let ns = &c.kubernetes.namespace;
    let sa_ref = &c.kubernetes.serviceaccount;
    let deleted_before = now - LEEWAY_SECONDS;
    let sa = match get_core(state, "serviceaccounts", ns, &sa_ref.name).await {
        Ok(sa) => sa,
        Err(e) if e.code == 404 => {
            return Err(TokenError::ServiceAccountNotFound(sa_ref.name.clone()));
        }
        Err(e) => return Err(TokenError::Lookup(e.message)),
    };
    if deleted_since(&sa, deleted_before) {
        return Err(TokenError::ServiceAccountDeleted(format!(
            "{ns}/{}",
            sa_ref.name
        )));
    }
    if meta::uid(&sa) != sa_ref.uid {
        return Err(TokenError::ServiceAccountUid {
            actual: meta::uid(&sa).to_string(),
            claimed: sa_ref.uid.clone(),
        });
    }
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let bound = [
        ("secret", "secrets", ns.as_str(), &c.kubernetes.secret),
        ("pod", "pods", ns.as_str(), &c.kubernetes.pod),
        ("node", "nodes", "", &c.kubernetes.node),
    ];
    for (kind, plural, namespace, reference) in bound {
        let Some(reference) = reference else { continue };
        // A pod-bound token names its pod's node for information only.
        let informational = kind == "node" && c.kubernetes.pod.is_some();
        if !informational {
            let object = get_core(state, plural, namespace, &reference.name)
                .await
                .map_err(|_| TokenError::Invalidated)?;
            if deleted_since(&object, deleted_before) {
                return Err(TokenError::Invalidated);
            }
            if meta::uid(&object) != reference.uid {
                return Err(TokenError::BoundUid {
                    kind,
                    actual: meta::uid(&object).to_string(),
                    claimed: reference.uid.clone(),
                });
            }
        }
        if kind != "secret" {
            let key = |field: &str| format!("authentication.kubernetes.io/{kind}-{field}");
            extra.insert(key("name"), vec![reference.name.clone()]);
            extra.insert(key("uid"), vec![reference.uid.clone()]);
        }
    }
    if let Some(jti) = &c.jti {
        extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={jti}")],
        );
    }
    Ok(UserInfo {
        name: claims::username(ns, &sa_ref.name),
        uid: sa_ref.uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        extra,
    })
}

/// Whether `obj` has a deletionTimestamp before `before` (Unix seconds).
fn deleted_since(obj: &Value, before: i64) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t.timestamp() < before)
}

/// A core/v1 object by resource plural; `namespace` empty for cluster
/// scoped ones.
pub async fn get_core(
    state: &ApiState,
    plural: &str,
    namespace: &str,
    name: &str,
) -> ApiResult<Value> {
    let res = state
        .table()
        .get("", "v1", plural)
        .ok_or_else(ApiError::path_not_found)?;
    let ns = (!namespace.is_empty()).then_some(namespace);
    state.store.get(&res, ns, name).await
}
