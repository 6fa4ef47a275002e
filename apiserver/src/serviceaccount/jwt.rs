//! Compact JWS (RFC 7515) for ServiceAccount tokens: `header.claims.signature`,
//! each part unpadded base64url, signed with ES256 or RS256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::keys::{KeyError, PublicKeyInfo, SigningKey};

/// Why a string is not a token signed by one of our keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is not a JWT")]
    Malformed,
    #[error("invalid signature")]
    BadSignature,
}

/// Signs `claims` with `key`: the compact serialization.
pub fn sign(claims: &Value, key: &SigningKey) -> Result<String, KeyError> {
    let header = json!({"alg": key.public().alg.name(), "kid": key.public().kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Whether `token` looks like a JWT at all (three parts, a JSON header with
/// `alg`): upstream's authenticator passes other bearer tokens on to the
/// next authenticator instead of failing them.
pub fn looks_like_jwt(token: &str) -> bool {
    decode_header(token).is_ok()
}

fn decode_header(token: &str) -> Result<Value, JwtError> {
    let mut parts = token.split('.');
    let header = parts.next().ok_or(JwtError::Malformed)?;
    if parts.count() != 2 {
        return Err(JwtError::Malformed);
    }
    let header: Value = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if !header.get("alg").is_some_and(Value::is_string) {
        return Err(JwtError::Malformed);
    }
    Ok(header)
}

/// The claims of `token` if one of `keys` signed it (the one named by the
/// header's `kid`, or any when there is none).
pub fn verify(token: &str, keys: &[PublicKeyInfo]) -> Result<Value, JwtError> {
    let header = decode_header(token)?;
    let alg = header["alg"].as_str().unwrap_or_default();
    let kid = header.get("kid").and_then(Value::as_str);
    let (signing_input, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let signed = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| kid == k.kid))
        .any(|k| k.verify(alg, signing_input.as_bytes(), &signature));
    if !signed {
        return Err(JwtError::BadSignature);
    }
    let (_, claims) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
    URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or(JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn key() -> SigningKey {
        SigningKey::from_pem(&SigningKey::generate_pem().unwrap(), Path::new("t")).unwrap()
    }

    #[test]
    fn round_trip() {
        let k = key();
        let claims = json!({"sub": "system:serviceaccount:a:b", "exp": 1});
        let token = sign(&claims, &k).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(verify(&token, &[k.public().clone()]).unwrap(), claims);
    }

    #[test]
    fn other_key_or_tampering_is_refused() {
        let (a, b) = (key(), key());
        let token = sign(&json!({"sub": "x"}), &a).unwrap();
        assert_eq!(
            verify(&token, &[b.public().clone()]),
            Err(JwtError::BadSignature)
        );
        let (rest, sig) = token.rsplit_once('.').unwrap();
        let (header, _) = rest.split_once('.').unwrap();
        let forged = format!(
            "{header}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#)
        );
        assert_eq!(
            verify(&forged, &[a.public().clone()]),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "abc", "a.b", "a.b.c.d", "e30.e30.!!"] {
            assert!(!looks_like_jwt(t) || verify(t, &[]).is_err(), "{t}");
        }
        assert!(!looks_like_jwt("abc.def.ghi"));
    }
}
