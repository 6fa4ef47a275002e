//! Keys that sign and verify ServiceAccount tokens: the private key of
//! `--service-account-signing-key-file` and the public keys of
//! `--service-account-key-file` (PEM; PKCS#8 EC P-256 or RSA keys, PKCS#1
//! RSA keys, or SubjectPublicKeyInfo public keys), with their JWKS form for
//! the OIDC discovery document. Key ids are upstream's: the unpadded
//! base64url SHA-256 of the key's DER SubjectPublicKeyInfo.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM key found")]
    NoKey { path: PathBuf },
    #[error("{path}: unsupported key: {why}")]
    Unsupported { path: PathBuf, why: String },
    #[error("signing failed")]
    Sign,
}

/// The JWS algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Es256,
    Rs256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Rs256 => "RS256",
        }
    }
}

enum PrivateKey {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// The key tokens are signed with.
pub struct SigningKey {
    key: PrivateKey,
    public: PublicKeyInfo,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.public.alg)
            .field("kid", &self.public.kid)
            .finish()
    }
}

impl SigningKey {
    pub fn from_pem_file(path: &Path) -> Result<SigningKey, KeyError> {
        let pem = read(path)?;
        SigningKey::from_pem(&pem, path)
    }

    /// Parses the first private key of `pem` (`path` names it in errors).
    pub fn from_pem(pem: &str, path: &Path) -> Result<SigningKey, KeyError> {
        let unsupported = |why: &str| KeyError::Unsupported {
            path: path.to_path_buf(),
            why: why.to_string(),
        };
        let rng = SystemRandom::new();
        let item = private_key_der(pem).ok_or_else(|| KeyError::NoKey {
            path: path.to_path_buf(),
        })?;
        let key = match item {
            PrivateDer::Pkcs8(der) => {
                match EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                    &rng,
                ) {
                    Ok(k) => PrivateKey::Ec(k),
                    Err(_) => PrivateKey::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                        unsupported(&format!("not an EC P-256 or RSA PKCS#8 key ({e})"))
                    })?),
                }
            }
            PrivateDer::Pkcs1(der) => PrivateKey::Rsa(
                RsaKeyPair::from_der(&der).map_err(|e| unsupported(&format!("RSA key: {e}")))?,
            ),
            PrivateDer::Sec1 => {
                return Err(unsupported(
                    "SEC1 \"EC PRIVATE KEY\" files are not read; convert with `openssl pkcs8 -topk8 -nocrypt`",
                ));
            }
        };
        let public = match &key {
            PrivateKey::Ec(k) => PublicKeyInfo::ec(k.public_key().as_ref()),
            PrivateKey::Rsa(k) => PublicKeyInfo::rsa(k.public().as_ref()),
        }
        .ok_or_else(|| unsupported("cannot read its public key"))?;
        Ok(SigningKey { key, public, rng })
    }

    /// A new EC P-256 key as PKCS#8 PEM (what `oxkube server` makes).
    pub fn generate_pem() -> Result<String, KeyError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Sign)?;
        Ok(pem_block("PRIVATE KEY", doc.as_ref()))
    }

    pub fn public(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// The JWS signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.key {
            PrivateKey::Ec(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            PrivateKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
        }
    }
}

/// A public key that verifies tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    pub alg: Algorithm,
    pub kid: String,
    /// EC: the uncompressed point; RSA: the PKCS#1 RSAPublicKey DER.
    key: Vec<u8>,
    jwk: Value,
}

impl PublicKeyInfo {
    fn ec(point: &[u8]) -> Option<PublicKeyInfo> {
        if point.len() != 65 || point[0] != 4 {
            return None;
        }
        let spki = [EC_P256_SPKI_PREFIX, point].concat();
        let kid = key_id(&spki);
        let jwk = json!({
            "use": "sig",
            "kty": "EC",
            "kid": kid,
            "crv": "P-256",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Some(PublicKeyInfo {
            alg: Algorithm::Es256,
            kid,
            key: point.to_vec(),
            jwk,
        })
    }

    fn rsa(pkcs1: &[u8]) -> Option<PublicKeyInfo> {
        let (modulus, exponent) = rsa_parts(pkcs1)?;
        let spki = der_sequence(&[RSA_ALGORITHM_ID, &der_bit_string(pkcs1)].concat());
        let kid = key_id(&spki);
        let jwk = json!({
            "use": "sig",
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(modulus),
            "e": URL_SAFE_NO_PAD.encode(exponent),
        });
        Some(PublicKeyInfo {
            alg: Algorithm::Rs256,
            kid,
            key: pkcs1.to_vec(),
            jwk,
        })
    }

    fn from_spki(der: &[u8]) -> Option<PublicKeyInfo> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der).ok()?;
        match spki.parsed().ok()? {
            PublicKey::EC(_) => PublicKeyInfo::ec(&spki.subject_public_key.data),
            PublicKey::RSA(_) => PublicKeyInfo::rsa(&spki.subject_public_key.data),
            _ => None,
        }
    }

    /// Whether `signature` is this key's signature of `message` by `alg`.
    pub fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        match (self.alg, alg) {
            (Algorithm::Es256, "ES256") => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.key)
                    .verify(message, signature)
                    .is_ok()
            }
            (Algorithm::Rs256, "RS256") => {
                UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.key)
                    .verify(message, signature)
                    .is_ok()
            }
            _ => false,
        }
    }

    /// The key as a JSON Web Key.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }
}

/// Every public key of a PEM file: public keys, and the public halves of
/// private keys (upstream accepts both in `--service-account-key-file`).
pub fn public_keys_from_pem_file(path: &Path) -> Result<Vec<PublicKeyInfo>, KeyError> {
    let pem = read(path)?;
    let mut keys = Vec::new();
    let mut reader = std::io::Cursor::new(pem.as_bytes());
    while let Ok(Some(item)) = rustls_pemfile::read_one(&mut reader) {
        if let rustls_pemfile::Item::SubjectPublicKeyInfo(der) = item {
            keys.extend(PublicKeyInfo::from_spki(&der));
        }
    }
    if let Ok(signing) = SigningKey::from_pem(&pem, path) {
        keys.push(signing.public);
    }
    if keys.is_empty() {
        return Err(KeyError::NoKey {
            path: path.to_path_buf(),
        });
    }
    Ok(keys)
}

enum PrivateDer {
    Pkcs8(Vec<u8>),
    Pkcs1(Vec<u8>),
    Sec1,
}

fn private_key_der(pem: &str) -> Option<PrivateDer> {
    let mut reader = std::io::Cursor::new(pem.as_bytes());
    while let Ok(Some(item)) = rustls_pemfile::read_one(&mut reader) {
        match item {
            rustls_pemfile::Item::Pkcs8Key(k) => {
                return Some(PrivateDer::Pkcs8(k.secret_pkcs8_der().to_vec()));
            }
            rustls_pemfile::Item::Pkcs1Key(k) => {
                return Some(PrivateDer::Pkcs1(k.secret_pkcs1_der().to_vec()));
            }
            rustls_pemfile::Item::Sec1Key(_) => return Some(PrivateDer::Sec1),
            _ => {}
        }
    }
    None
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki_der))
}

pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// SubjectPublicKeyInfo of an EC P-256 key, up to the point itself:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused) }.
const EC_P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_ALGORITHM_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn der_sequence(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    out.extend(der_length(content.len()));
    out.extend_from_slice(content);
    out
}

fn der_bit_string(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x03];
    out.extend(der_length(content.len() + 1));
    out.push(0);
    out.extend_from_slice(content);
    out
}

/// Modulus and exponent (big-endian, without leading zeros) of a PKCS#1
/// RSAPublicKey.
fn rsa_parts(pkcs1: &[u8]) -> Option<(&[u8], &[u8])> {
    let (seq, _) = der_element(pkcs1, 0x30)?;
    let (modulus, rest) = der_element(seq, 0x02)?;
    let (exponent, _) = der_element(rest, 0x02)?;
    Some((strip_zeros(modulus), strip_zeros(exponent)))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// The content of the DER element of type `tag` at the start of `input`,
/// and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let len = input
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    let content = input.get(header..header + len)?;
    Some((content, &input[header + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_signs_and_verifies() {
        let pem = SigningKey::generate_pem().unwrap();
        let key = SigningKey::from_pem(&pem, Path::new("test")).unwrap();
        assert_eq!(key.public().alg, Algorithm::Es256);
        let sig = key.sign(b"hello").unwrap();
        assert!(key.public().verify("ES256", b"hello", &sig));
        assert!(!key.public().verify("ES256", b"hellp", &sig));
        assert!(!key.public().verify("RS256", b"hello", &sig));
        assert_eq!(key.public().jwk()["kid"], json!(key.public().kid));
    }

    #[test]
    fn public_key_of_spki_matches_private() {
        let pem = SigningKey::generate_pem().unwrap();
        let key = SigningKey::from_pem(&pem, Path::new("test")).unwrap();
        let spki = [EC_P256_SPKI_PREFIX, &key.public().key].concat();
        let from_spki = PublicKeyInfo::from_spki(&spki).unwrap();
        assert_eq!(&from_spki, key.public());
    }

    #[test]
    fn rsa_public_key_parts() {
        // SEQUENCE { INTEGER 0x00c5, INTEGER 65537 }
        let pkcs1 = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xc5, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        let (n, e) = rsa_parts(&pkcs1).unwrap();
        assert_eq!(n, &[0xc5]);
        assert_eq!(e, &[1, 0, 1]);
        assert!(rsa_parts(&pkcs1[..5]).is_none());
    }

    #[test]
    fn sec1_keys_are_refused_with_a_reason() {
        let pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n";
        let err = SigningKey::from_pem(pem, Path::new("k.pem")).unwrap_err();
        assert!(err.to_string().contains("openssl pkcs8"), "{err}");
    }
}
