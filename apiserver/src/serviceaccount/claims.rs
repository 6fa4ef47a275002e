//! The claims of a bound ServiceAccount token (upstream's
//! `pkg/serviceaccount/claims.go`): the registered JWT claims plus the
//! private `kubernetes.io` claim naming the namespace, the ServiceAccount and
//! the object the token is bound to.

use serde::{Deserialize, Deserializer, Serialize};

/// The username of a ServiceAccount: `system:serviceaccount:<ns>:<name>`.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Seconds the kubelet asks for in `kube-api-access-*` volumes; such
/// requests get a year-long token with `warnafter` at this age
/// (upstream's WarnOnlyBoundTokenExpirationSeconds).
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 60 * 60 + 7;
/// The extended lifetime of those tokens (ExpirationExtensionSeconds).
pub const EXTENDED_EXPIRATION_SECONDS: i64 = 24 * 365 * 60 * 60;
/// Clock skew allowed when checking times (go-jose's DefaultLeeway).
pub const LEEWAY_SECONDS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, deserialize_with = "audience")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    pub nbf: i64,
    pub sub: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    pub serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(a) => vec![a],
        OneOrMany::Many(a) => a,
    })
}

/// Why the claims of a correctly signed token are not accepted; the
/// messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("service account token has expired")]
    Expired,
    #[error("service account token is not valid yet")]
    NotValidYet,
    #[error("token audiences {token:?} is invalid for the target audiences {target:?}")]
    Audience {
        token: Vec<String>,
        target: Vec<String>,
    },
    #[error("token issuer is not accepted")]
    Issuer,
}

impl Claims {
    /// Time and audience checks; `now` in Unix seconds. Returns the
    /// audiences the token is good for (those of `target` it carries).
    pub fn validate_times_and_audience(
        &self,
        now: i64,
        accepted_issuers: &[String],
        target: &[String],
    ) -> Result<Vec<String>, ClaimsError> {
        if !accepted_issuers.contains(&self.iss) {
            return Err(ClaimsError::Issuer);
        }
        if now - LEEWAY_SECONDS >= self.exp {
            return Err(ClaimsError::Expired);
        }
        if now + LEEWAY_SECONDS < self.nbf || now + LEEWAY_SECONDS < self.iat {
            return Err(ClaimsError::NotValidYet);
        }
        let good: Vec<String> = target
            .iter()
            .filter(|a| self.aud.contains(a))
            .cloned()
            .collect();
        if good.is_empty() {
            return Err(ClaimsError::Audience {
                token: self.aud.clone(),
                target: target.to_vec(),
            });
        }
        Ok(good)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Claims {
        serde_json::from_value(json!({
            "aud": "api", "exp": 2000, "iat": 1000, "nbf": 1000, "iss": "https://issuer",
            "sub": "system:serviceaccount:ns:sa",
            "kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "sa", "uid": "u"}},
        }))
        .unwrap()
    }

    #[test]
    fn audience_may_be_a_string() {
        assert_eq!(claims().aud, vec!["api".to_string()]);
        let back = serde_json::to_value(claims()).unwrap();
        assert_eq!(back["aud"], json!(["api"]));
        assert!(back["kubernetes.io"].get("pod").is_none());
    }

    #[test]
    fn times_issuer_and_audiences() {
        let c = claims();
        let iss = ["https://issuer".to_string()];
        let api = ["api".to_string(), "other".to_string()];
        assert_eq!(
            c.validate_times_and_audience(1500, &iss, &api),
            Ok(vec!["api".to_string()])
        );
        // Leeway of a minute either side.
        assert!(c.validate_times_and_audience(2059, &iss, &api).is_ok());
        assert_eq!(
            c.validate_times_and_audience(2060, &iss, &api),
            Err(ClaimsError::Expired)
        );
        assert_eq!(
            c.validate_times_and_audience(939, &iss, &api),
            Err(ClaimsError::NotValidYet)
        );
        assert_eq!(
            c.validate_times_and_audience(1500, &["x".to_string()], &api),
            Err(ClaimsError::Issuer)
        );
        let err = c
            .validate_times_and_audience(1500, &iss, &["other".to_string()])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"token audiences ["api"] is invalid for the target audiences ["other"]"#
        );
    }
}
