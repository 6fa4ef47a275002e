//! Pulling images from a registry and projected ServiceAccount tokens, on a
//! real containerd: a registry written here (the OCI distribution API over
//! HTTP on loopback, serving the locally built busybox image, with Bearer
//! token authentication behind Basic credentials) and a pod whose image
//! comes from it with `imagePullPolicy: Always` and an `imagePullSecrets`
//! docker config; the pod reads its projected token, which TokenReview then
//! accepts for the audience it was requested for. Without the secret the
//! pull fails with ErrImagePull. Skipped when not root or containerd is
//! missing.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use common::node::{start_node, unavailable};
use common::{eventually, start_server};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::{Event, Pod, Secret, ServiceAccount};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::{Value, json};

const USER: &str = "puller";
const PASSWORD: &str = "s3cret";
const TOKEN: &str = "registry-token-1";

struct Registry {
    blobs: HashMap<String, Vec<u8>>,
    manifest_digest: String,
    blob_downloads: AtomicUsize,
    port: u16,
}

/// Serves the OCI layout of `archive` as `test/busybox:pulled`.
async fn start_registry(archive: &Path) -> Arc<Registry> {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new("tar")
        .args(["-xf"])
        .arg(archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar");
    assert!(status.success(), "extracting {}", archive.display());
    let mut blobs = HashMap::new();
    for entry in std::fs::read_dir(dir.path().join("blobs/sha256")).expect("blobs") {
        let entry = entry.expect("entry");
        let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
        blobs.insert(digest, std::fs::read(entry.path()).expect("blob"));
    }
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).expect("index"))
            .expect("index json");
    let original = index["manifests"][0]["digest"]
        .as_str()
        .expect("manifest digest")
        .to_string();
    // A variant of the imported image: same layer, a config of its own, so
    // the pull must download the config and reuse the layer containerd has.
    let mut image_manifest: Value = serde_json::from_slice(&blobs[&original]).expect("manifest");
    let config_digest = image_manifest["config"]["digest"]
        .as_str()
        .unwrap_or_default();
    let mut config: Value = serde_json::from_slice(&blobs[config_digest]).expect("config");
    config["config"]["Labels"] = json!({"pulled-by": "oxkube-test"});
    let config = serde_json::to_vec(&config).expect("config json");
    image_manifest["config"]["digest"] = json!(digest(&config));
    image_manifest["config"]["size"] = json!(config.len());
    blobs.insert(digest(&config), config);
    let manifest_bytes = serde_json::to_vec(&image_manifest).expect("manifest json");
    let manifest_digest = digest(&manifest_bytes);
    blobs.insert(manifest_digest.clone(), manifest_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let registry = Arc::new(Registry {
        blobs,
        manifest_digest,
        blob_downloads: AtomicUsize::new(0),
        port,
    });
    let app = Router::new()
        .route("/token", get(token))
        .route("/v2/test/busybox/manifests/{reference}", get(manifest))
        .route("/v2/test/busybox/blobs/{digest}", get(blob))
        .with_state(registry.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    registry
}

fn digest(data: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn challenge(registry: &Registry) -> Response {
    let value = format!(
        "Bearer realm=\"http://127.0.0.1:{}/token\",service=\"test-registry\",scope=\"repository:test/busybox:pull\"",
        registry.port
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
    )
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
}

async fn token(headers: HeaderMap) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return (StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    axum::Json(json!({"token": TOKEN})).into_response()
}

async fn manifest(
    State(registry): State<Arc<Registry>>,
    UrlPath(reference): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return challenge(&registry);
    }
    if reference != "pulled" && reference != registry.manifest_digest {
        return StatusCode::NOT_FOUND.into_response();
    }
    let body = registry.blobs[&registry.manifest_digest].clone();
    (
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.oci.image.manifest.v1+json".to_string(),
            ),
            (
                header::HeaderName::from_static("docker-content-digest"),
                registry.manifest_digest.clone(),
            ),
        ],
        Body::from(body),
    )
        .into_response()
}

async fn blob(
    State(registry): State<Arc<Registry>>,
    UrlPath(digest): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return challenge(&registry);
    }
    match registry.blobs.get(&digest) {
        Some(data) => {
            registry.blob_downloads.fetch_add(1, Ordering::SeqCst);
            Body::from(data.clone()).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn waiting_reason(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_with_pull_secret_and_mounts_a_projected_token() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: containerd tests need root and containerd: {why}");
        return;
    }
    let server = start_server().await;
    let node = start_node(&server, "pull-node", 7).await;
    let registry = start_registry(&node.dir.path().join("containerd/busybox.tar")).await;
    let client = server.client.clone();
    let image = format!("127.0.0.1:{}/test/busybox:pulled", registry.port);

    Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap(),
        )
        .await
        .expect("default service account");
    let docker_config = json!({"auths": {format!("127.0.0.1:{}", registry.port): {
        "auth": base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    }}});
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": docker_config.to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .expect("pull secret");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = |name: &str, secrets: Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "nodeName": "pull-node",
                "restartPolicy": "Never",
                "serviceAccountName": "default",
                "imagePullSecrets": secrets,
                "containers": [{
                    "name": "c",
                    "image": image,
                    "imagePullPolicy": "Always",
                    "command": ["cat", "/var/run/secrets/tokens/vault-token"],
                    "volumeMounts": [{"name": "token", "mountPath": "/var/run/secrets/tokens"}],
                }],
                "volumes": [{"name": "token", "projected": {"sources": [{
                    "serviceAccountToken": {"path": "vault-token", "audience": "vault", "expirationSeconds": 7200}
                }]}}],
            }
        }))
        .unwrap()
    };
    let created = pods
        .create(
            &PostParams::default(),
            &pod("pulled", json!([{"name": "regcred"}])),
        )
        .await
        .expect("pod");
    let uid = created.metadata.uid.clone().unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let p = pods.get("pulled").await.expect("read pod");
        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pulled pod did not succeed: {}",
            serde_json::to_string(&p.status).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The new config came from the registry; the layer was already there.
    assert_eq!(registry.blob_downloads.load(Ordering::SeqCst), 1);
    let images = std::process::Command::new("ctr")
        .args([
            "-a",
            &node.socket.display().to_string(),
            "-n",
            "k8s.io",
            "images",
            "ls",
            "-q",
        ])
        .output()
        .expect("ctr images ls");
    assert!(
        String::from_utf8_lossy(&images.stdout)
            .lines()
            .any(|l| l == image),
        "containerd lists {image}"
    );

    let token = node.log("default", "pulled", &uid, "c", 0);
    let token = token
        .lines()
        .filter_map(|l| l.splitn(4, ' ').nth(3))
        .collect::<String>();
    assert_eq!(token.split('.').count(), 3, "a JWT in the log: {token:?}");
    let review = Api::<TokenReview>::all(client.clone())
        .create(
            &PostParams::default(),
            &TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token.clone()),
                    audiences: Some(vec!["vault".into()]),
                },
                ..Default::default()
            },
        )
        .await
        .expect("token review");
    let status = review.status.expect("status");
    assert_eq!(status.authenticated, Some(true), "{:?}", status.error);
    let extra = status.user.and_then(|u| u.extra).unwrap_or_default();
    assert_eq!(
        extra.get("authentication.kubernetes.io/pod-name"),
        Some(&vec!["pulled".to_string()])
    );

    let events = Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("events");
    assert!(
        events.items.iter().any(|e| {
            e.reason.as_deref() == Some("Pulled")
                && e.message.as_deref().is_some_and(|m| {
                    m.starts_with(&format!("Successfully pulled image \"{image}\""))
                })
        }),
        "a Pulled event"
    );

    // Without the secret the registry refuses: ErrImagePull, then back-off.
    pods.create(&PostParams::default(), &pod("anonymous", json!([])))
        .await
        .expect("pod");
    let reason = eventually(Duration::from_secs(60), "the pull to fail", || async {
        let p = pods.get("anonymous").await.ok()?;
        waiting_reason(&p).filter(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
    })
    .await;
    assert!(reason == "ErrImagePull" || reason == "ImagePullBackOff");
    drop(node);
}
