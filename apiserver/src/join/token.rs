//! The join token: `K10<sha256 hex of the CA certificate PEM>::server:<secret>`
//! (k3s's secure format), or the bare `<secret>` (k3s's short format, which
//! cannot pin the CA: the joining server then trusts whatever CA the server
//! it contacts presents).

use super::SERVER_USER;

const PREFIX: &str = "K10";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is empty")]
    Empty,
    #[error("the token's CA hash is not 64 hex digits")]
    BadHash,
    #[error("the token's credentials are not server:<secret>")]
    BadCredentials,
}

/// A parsed token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The SHA-256 of the cluster CA (lowercase hex), if the token pins it.
    pub ca_hash: Option<String>,
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("ca_hash", &self.ca_hash)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Token {
    /// Parses either form. A string starting with `K10` and holding `::` is
    /// the secure form; anything else is a bare secret.
    pub fn parse(text: &str) -> Result<Token, TokenError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        let secure = text
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once("::"));
        let Some((hash, credentials)) = secure else {
            return Ok(Token {
                ca_hash: None,
                secret: text.to_string(),
            });
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TokenError::BadHash);
        }
        let secret = match credentials.split_once(':') {
            Some((SERVER_USER, secret)) if !secret.is_empty() => secret,
            _ => return Err(TokenError::BadCredentials),
        };
        Ok(Token {
            ca_hash: Some(hash.to_ascii_lowercase()),
            secret: secret.to_string(),
        })
    }

    /// The secure form for the CA certificate `ca_pem`.
    pub fn secure(ca_pem: &[u8], secret: &str) -> String {
        format!("{PREFIX}{}::{SERVER_USER}:{secret}", ca_hash(ca_pem))
    }
}

/// SHA-256 (lowercase hex) of the CA certificate's PEM bytes as stored.
pub fn ca_hash(ca_pem: &[u8]) -> String {
    sha256(ca_pem).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 through the ring provider rustls already uses.
fn sha256(data: &[u8]) -> Vec<u8> {
    use rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    match TLS13_AES_128_GCM_SHA256.tls13() {
        Some(suite) => suite.common.hash_provider.hash(data).as_ref().to_vec(),
        None => unreachable!("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite"),
    }
}

/// A new random secret (32 hex digits, 128 bits).
pub fn generate_secret() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time that depends on their lengths only.
pub fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_input() {
        assert_eq!(
            ca_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn secure_form_round_trips() {
        let text = Token::secure(b"pem", "s3cret:with:colons");
        assert!(text.starts_with("K10"));
        let token = Token::parse(&text).unwrap();
        assert_eq!(token.ca_hash.as_deref(), Some(ca_hash(b"pem").as_str()));
        assert_eq!(token.secret, "s3cret:with:colons");
    }

    #[test]
    fn short_form_is_the_secret() {
        let token = Token::parse(" abc \n").unwrap();
        assert_eq!(token.ca_hash, None);
        assert_eq!(token.secret, "abc");
        assert_eq!(Token::parse(""), Err(TokenError::Empty));
    }

    #[test]
    fn malformed_secure_forms_are_refused() {
        assert_eq!(Token::parse("K10abc::server:x"), Err(TokenError::BadHash));
        let hash = ca_hash(b"x");
        assert_eq!(
            Token::parse(&format!("K10{hash}::node:x")),
            Err(TokenError::BadCredentials)
        );
        assert_eq!(
            Token::parse(&format!("K10{hash}::server:")),
            Err(TokenError::BadCredentials)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let token = Token::parse("topsecret").unwrap();
        assert!(!format!("{token:?}").contains("topsecret"));
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
        assert_eq!(generate_secret().len(), 32);
        assert_ne!(generate_secret(), generate_secret());
    }
}
