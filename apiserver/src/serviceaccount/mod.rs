//! ServiceAccount tokens, as kube-apiserver serves them:
//! - `keys.rs`, `jwt.rs`: the signing and verifying keys and compact JWS;
//! - `claims.rs`: what a bound token says;
//! - `token_request.rs`: `POST .../serviceaccounts/{name}/token` (TokenRequest);
//! - `authenticator.rs`: `Authorization: Bearer <token>` to a user, and
//!   TokenReview;
//! - `admission.rs`: the ServiceAccount admission plugin (default account,
//!   the `kube-api-access-*` projected volume);
//! - `oidc.rs`: `/.well-known/openid-configuration` and `/openid/v1/jwks`.
//!
//! [`TokenSettings`] is built once from the `--service-account-*` flags (or
//! by `oxkube server` from its PKI) and held in `ApiSettings`.

pub mod admission;
pub mod authenticator;
pub mod claims;
pub mod jwt;
pub mod keys;
pub mod oidc;
pub mod token_request;

use std::path::Path;

use keys::{KeyError, PublicKeyInfo, SigningKey};

/// Upstream's default `--service-account-issuer` for clusters with the
/// `cluster.local` domain.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Where automounted tokens are mounted in containers.
pub const DEFAULT_API_TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How tokens are issued and checked.
#[derive(Debug)]
pub struct TokenSettings {
    /// `--service-account-issuer`: the first is written into new tokens,
    /// all are accepted.
    pub issuers: Vec<String>,
    /// `--api-audiences` (default: the issuer).
    pub api_audiences: Vec<String>,
    /// `--service-account-signing-key-file`; without it TokenRequest is not
    /// served (tokens are still verified).
    pub signing_key: Option<SigningKey>,
    /// `--service-account-key-file` keys, plus the signing key's public half.
    pub verifying_keys: Vec<PublicKeyInfo>,
    /// `--service-account-max-token-expiration` in seconds (0 = none).
    pub max_expiration_seconds: i64,
    /// `--service-account-extend-token-expiration` (default true).
    pub extend_expiration: bool,
    /// `--service-account-jwks-uri`; default `<external address>/openid/v1/jwks`.
    pub jwks_uri: Option<String>,
}

impl TokenSettings {
    /// Settings from key files, as the flags name them.
    pub fn from_files(
        issuers: Vec<String>,
        signing_key_file: Option<&Path>,
        key_files: &[&Path],
    ) -> Result<TokenSettings, KeyError> {
        let signing_key = signing_key_file
            .map(SigningKey::from_pem_file)
            .transpose()?;
        let mut verifying_keys = Vec::new();
        for file in key_files {
            verifying_keys.extend(keys::public_keys_from_pem_file(file)?);
        }
        if let Some(k) = &signing_key
            && !verifying_keys.contains(k.public())
        {
            verifying_keys.push(k.public().clone());
        }
        let issuers = if issuers.is_empty() {
            vec![DEFAULT_ISSUER.to_string()]
        } else {
            issuers
        };
        Ok(TokenSettings {
            api_audiences: vec![issuers[0].clone()],
            issuers,
            signing_key,
            verifying_keys,
            max_expiration_seconds: 0,
            extend_expiration: true,
            jwks_uri: None,
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuers[0]
    }
}
