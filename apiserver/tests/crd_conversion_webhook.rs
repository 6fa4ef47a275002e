//! `Webhook` conversion: a CRD with v1 (storage) and v2 whose conversion
//! webhook is a small HTTPS server inside the test (certificates from the
//! API server's own PKI helper, trusted through `caBundle`). v1 keeps
//! `spec.hostPort: "host:port"`, v2 splits it into `spec.host` and
//! `spec.port`, like upstream's e2e converter.

mod crd_common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use crd_common::{harness, install, raw};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

/// Converts one object to `desired`.
fn convert(mut obj: Value, desired: &str) -> Value {
    let spec = obj["spec"].clone();
    obj["spec"] = if desired.ends_with("/v2") {
        let host_port = spec["hostPort"].as_str().unwrap_or_default().to_string();
        let (host, port) = host_port.split_once(':').unwrap_or((&host_port, ""));
        json!({"host": host, "port": port})
    } else {
        json!({"hostPort": format!("{}:{}", spec["host"].as_str().unwrap_or_default(), spec["port"].as_str().unwrap_or_default())})
    };
    obj["apiVersion"] = json!(desired);
    obj
}

/// Starts the webhook on a free port; returns its URL, its CA (PEM) and
/// the reviews it received.
async fn start_webhook(dir: &std::path::Path) -> (String, String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let url = format!("https://127.0.0.1:{port}");
    let files = apiserver::pki::ensure(dir, &url, &["127.0.0.1".to_string()]).expect("pki");
    let tls =
        apiserver::tls::server_config(&files.serving_cert, &files.serving_key, None).expect("tls");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_server = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen_by_server.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let review: Value =
                                serde_json::from_slice(&body).unwrap_or(Value::Null);
                            if let Ok(mut s) = seen.lock() {
                                s.push(review.clone());
                            }
                            let desired = review["request"]["desiredAPIVersion"]
                                .as_str()
                                .unwrap_or_default();
                            let converted: Vec<Value> = review["request"]["objects"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|o| convert(o.clone(), desired))
                                .collect();
                            let answer = json!({
                                "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
                                "response": {"uid": review["request"]["uid"], "convertedObjects": converted,
                                             "result": {"status": "Success"}}
                            });
                            Ok::<_, std::convert::Infallible>(
                                http::Response::builder()
                                    .header("Content-Type", "application/json")
                                    .body(Full::new(Bytes::from(
                                        serde_json::to_vec(&answer).unwrap_or_default(),
                                    )))
                                    .unwrap_or_default(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let ca = std::fs::read_to_string(&files.ca_cert).expect("ca");
    (format!("{url}/convert"), ca, seen)
}

fn schema(props: Value) -> Value {
    json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_converts_between_versions() {
    let h = harness().await;
    let hook_dir = tempfile::tempdir().expect("dir");
    let (url, ca, seen) = start_webhook(hook_dir.path()).await;
    install(&h.client, json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "endpoints.conv.example.com"},
        "spec": {"group": "conv.example.com", "scope": "Namespaced",
            "names": {"plural": "endpoints", "kind": "Endpoint"},
            "conversion": {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"url": url,
                    "caBundle": base64::engine::general_purpose::STANDARD.encode(ca.as_bytes())}}},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": schema(json!({"hostPort": {"type": "string"}}))},
                {"name": "v2", "served": true, "storage": false,
                 "schema": schema(json!({"host": {"type": "string"}, "port": {"type": "string"}}))}]}
    }))
    .await;

    let v1 = "/apis/conv.example.com/v1/namespaces/default/endpoints";
    let v2 = "/apis/conv.example.com/v2/namespaces/default/endpoints";
    let (code, body) = raw(
        &h.client,
        "POST",
        v1,
        Some("application/json"),
        None,
        Some(json!({
        "apiVersion": "conv.example.com/v1", "kind": "Endpoint",
        "metadata": {"name": "a"}, "spec": {"hostPort": "localhost:8080"}})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(
        seen.lock().map(|s| s.is_empty()).unwrap_or(false),
        "no conversion needed for the storage version"
    );

    // Read through v2: converted by the webhook.
    let (code, got) = raw(&h.client, "GET", &format!("{v2}/a"), None, None, None).await;
    assert_eq!(code, 200, "{got}");
    assert_eq!(got["apiVersion"], "conv.example.com/v2");
    assert_eq!(got["spec"], json!({"host": "localhost", "port": "8080"}));
    let review = seen
        .lock()
        .ok()
        .and_then(|s| s.last().cloned())
        .unwrap_or_default();
    assert_eq!(review["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(review["kind"], "ConversionReview");
    assert_eq!(
        review["request"]["desiredAPIVersion"],
        "conv.example.com/v2"
    );

    // Written through v2: stored as v1.
    let (code, body) = raw(
        &h.client,
        "POST",
        v2,
        Some("application/json"),
        None,
        Some(json!({
        "apiVersion": "conv.example.com/v2", "kind": "Endpoint",
        "metadata": {"name": "b"}, "spec": {"host": "example.org", "port": "443"}})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["spec"], json!({"host": "example.org", "port": "443"}));
    let stored = h
        .server
        .kv
        .range(store::RangeRequest::key(
            b"/registry/conv.example.com/endpoints/default/b".to_vec(),
        ))
        .await
        .expect("range");
    let stored: Value = serde_json::from_slice(&stored.kvs[0].value).expect("json");
    assert_eq!(stored["apiVersion"], "conv.example.com/v1");
    assert_eq!(stored["spec"], json!({"hostPort": "example.org:443"}));

    // A list through v2 converts every item (a non-homogeneous list
    // upstream's e2e builds the same way).
    let (code, list) = raw(&h.client, "GET", v2, None, None, None).await;
    assert_eq!(code, 200);
    let specs: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["spec"].clone())
        .collect();
    assert_eq!(
        specs,
        vec![
            json!({"host": "localhost", "port": "8080"}),
            json!({"host": "example.org", "port": "443"})
        ]
    );
}
