//! Authentication: who is asking. x509 client certificates (CN is the
//! user, each O a group), verified by the TLS layer against the client CA,
//! come first; then `Authorization: Bearer` ServiceAccount tokens
//! (`serviceaccount::authenticator`), checked in `server::observe`.

use std::collections::BTreeMap;

use x509_parser::prelude::{FromDer, X509Certificate};

/// The authenticated user of one request (upstream's `user.Info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The `userInfo` of reviews (authentication.k8s.io/v1 UserInfo).
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            out["uid"] = serde_json::json!(self.uid);
        }
        if !self.extra.is_empty() {
            out["extra"] = serde_json::json!(self.extra);
        }
        out
    }
}

impl UserInfo {
    /// The identity of a verified client certificate, or None if it has no CN.
    pub fn from_client_cert(der: &[u8]) -> Option<UserInfo> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())?
            .to_string();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        groups.push("system:authenticated".to_string());
        Some(UserInfo {
            name,
            groups,
            ..Default::default()
        })
    }
}

/// What the connection presented: a user, or nobody.
#[derive(Debug, Clone, Default)]
pub struct Authenticated(pub Option<UserInfo>);

/// Paths anonymous clients may read (upstream's `system:public-info-viewer`).
pub fn is_public_path(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/livez" | "/readyz" | "/version" | "/version/"
    ) || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}
