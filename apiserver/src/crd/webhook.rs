//! `Webhook` conversion of custom resources: a `ConversionReview`
//! (`apiextensions.k8s.io/v1`) POSTed over HTTPS to the CRD's
//! `conversion.webhook.clientConfig.url`, trusting its `caBundle`, and the
//! converted objects read back (upstream's webhook converter).
//!
//! The registry converts objects in synchronous code (`Resource::from_storage`
//! and `to_storage`), so the call runs through `block_in_place` on a
//! multi-threaded runtime (on any other thread, on a small runtime of its
//! own). Only `url` client configs are supported: `service` references need
//! in-cluster Service routing, which the API server does not do.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::WebhookClientConfig;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};

/// How long one conversion call may take (upstream: 30 s).
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error("conversion webhook service references are not supported; use clientConfig.url")]
    ServiceReference,
    #[error("invalid conversion webhook URL {0:?}")]
    Url(String),
    #[error("invalid caBundle: {0}")]
    CaBundle(String),
    #[error("calling the conversion webhook: {0}")]
    Call(String),
    #[error("conversion webhook response: {0}")]
    Response(String),
}

/// The parts of an https URL the client needs.
struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, ConversionError> {
    let bad = || ConversionError::Url(url.to_string());
    let rest = url.strip_prefix("https://").ok_or_else(bad)?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.to_string(), p.parse().map_err(|_| bad())?)
        }
        _ => (authority.to_string(), 443),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Target {
        host,
        port,
        path: path.to_string(),
    })
}

/// A CRD's conversion webhook client.
pub struct WebhookConverter {
    target: Target,
    tls: Arc<rustls::ClientConfig>,
}

impl WebhookConverter {
    pub fn new(config: &WebhookClientConfig) -> Result<Self, ConversionError> {
        if config.service.is_some() {
            return Err(ConversionError::ServiceReference);
        }
        let url = config
            .url
            .as_deref()
            .ok_or(ConversionError::ServiceReference)?;
        let target = parse_url(url)?;
        let mut roots = rustls::RootCertStore::empty();
        if let Some(bundle) = &config.ca_bundle {
            let mut reader = std::io::BufReader::new(bundle.0.as_slice());
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| ConversionError::CaBundle(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| ConversionError::CaBundle(e.to_string()))?;
            }
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(WebhookConverter {
            target,
            tls: Arc::new(tls),
        })
    }

    /// Converts `objects` to `desired` (an apiVersion) through the webhook.
    pub async fn convert(
        &self,
        objects: Vec<Value>,
        desired: &str,
    ) -> Result<Vec<Value>, ConversionError> {
        let uid = uuid::Uuid::new_v4().to_string();
        let review = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects},
        });
        let body = serde_json::to_vec(&review).map_err(|e| ConversionError::Call(e.to_string()))?;
        let answer = tokio::time::timeout(TIMEOUT, self.post(body))
            .await
            .map_err(|_| ConversionError::Call("timed out".into()))??;
        let response = answer
            .get("response")
            .ok_or_else(|| ConversionError::Response("no response".into()))?;
        if response.get("uid").and_then(Value::as_str) != Some(uid.as_str()) {
            return Err(ConversionError::Response(
                "uid does not match the request".into(),
            ));
        }
        let status = response
            .pointer("/result/status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if status != "Success" {
            let message = response
                .pointer("/result/message")
                .and_then(Value::as_str)
                .unwrap_or("conversion failed");
            return Err(ConversionError::Response(message.to_string()));
        }
        let converted = response
            .get("convertedObjects")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ConversionError::Response("no convertedObjects".into()))?;
        if converted.len() != objects_len(&review) {
            return Err(ConversionError::Response(format!(
                "expected {} converted objects, got {}",
                objects_len(&review),
                converted.len()
            )));
        }
        for c in &converted {
            if c.get("apiVersion").and_then(Value::as_str) != Some(desired) {
                return Err(ConversionError::Response(format!(
                    "invalid apiVersion {:?} of a converted object, expected {desired:?}",
                    c.get("apiVersion")
                )));
            }
        }
        Ok(converted)
    }

    async fn post(&self, body: Vec<u8>) -> Result<Value, ConversionError> {
        let call = |e: &dyn std::fmt::Display| ConversionError::Call(e.to_string());
        let tcp = tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(|e| call(&e))?;
        let name = ServerName::try_from(self.target.host.clone()).map_err(|e| call(&e))?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| call(&e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| call(&e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let authority = format!("{}:{}", self.target.host, self.target.port);
        let req = http::Request::post(self.target.path.as_str())
            .header(http::header::HOST, authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| call(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| call(&e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| call(&e))?
            .to_bytes();
        if !status.is_success() {
            return Err(ConversionError::Response(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| ConversionError::Response(e.to_string()))
    }

    /// `convert` for one object, from synchronous code.
    pub fn convert_one_blocking(
        &self,
        obj: Value,
        desired: &str,
    ) -> Result<Value, ConversionError> {
        let run = async {
            let mut out = self.convert(vec![obj], desired).await?;
            out.pop()
                .ok_or_else(|| ConversionError::Response("no converted object".into()))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(run))
            }
            _ => std::thread::scope(|s| {
                s.spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| ConversionError::Call(e.to_string()))?
                        .block_on(run)
                })
                .join()
                .unwrap_or_else(|_| Err(ConversionError::Call("conversion thread panicked".into())))
            }),
        }
    }
}

fn objects_len(review: &Value) -> usize {
    review
        .pointer("/request/objects")
        .and_then(Value::as_array)
        .map(Vec::len)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("https://127.0.0.1:9443/convert").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 9443, "/convert")
        );
        let t = parse_url("https://hooks.example.com").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("hooks.example.com", 443, "/")
        );
        assert!(parse_url("http://insecure").is_err());
    }
}
