//! Authentication: who is asking. Today x509 client certificates (CN is the
//! user, each O a group), verified by the TLS layer against the client CA;
//! bearer and ServiceAccount tokens come with the RBAC work.

use x509_parser::prelude::{FromDer, X509Certificate};

/// The authenticated user of one request (upstream's `user.Info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
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
        Some(UserInfo { name, groups })
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
