//! ServiceAccount tokens end to end through the `kube` crate: TokenRequest
//! (defaults, validation, binding to a pod), authentication with the token
//! (SelfSubjectReview, TokenReview), invalidation when the account or the
//! pod goes, the ServiceAccount admission plugin, and OIDC discovery.

use k8s_openapi::api::authentication::v1::{
    BoundObjectReference, SelfSubjectReview, TokenRequest, TokenRequestSpec, TokenReview,
    TokenReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

struct Harness {
    admin: Client,
    server: apiserver::testing::TestServer,
    _dir: tempfile::TempDir,
}

async fn client_from(kubeconfig: Kubeconfig) -> Client {
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("client config");
    config.default_retry = false;
    Client::try_from(config).expect("client")
}

async fn harness() -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = apiserver::ApiSettings {
        service_account_admission: true,
        ..Default::default()
    };
    let server = apiserver::testing::TestServer::start_with(dir.path(), settings)
        .await
        .expect("start the API server");
    let kubeconfig = Kubeconfig::read_from(&server.kubeconfig).expect("read kubeconfig");
    Harness {
        admin: client_from(kubeconfig).await,
        server,
        _dir: dir,
    }
}

impl Harness {
    /// A client that authenticates with `token` only (no certificate).
    async fn with_token(&self, token: &str) -> Client {
        let ca = std::fs::read(&self.server.pki.ca_cert).expect("ca");
        use base64::Engine as _;
        let yaml = json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "t",
            "clusters": [{"name": "c", "cluster": {
                "server": self.server.url,
                "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(ca),
            }}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}],
        });
        let kubeconfig =
            Kubeconfig::from_yaml(&serde_yaml::to_string(&yaml).expect("yaml")).expect("parse");
        client_from(kubeconfig).await
    }

    async fn namespace(&self, name: &str) {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(self.admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("namespace");
    }

    async fn account(&self, ns: &str, name: &str, extra: Value) -> ServiceAccount {
        let mut sa = json!({"metadata": {"name": name}});
        if let (Some(sa), Some(extra)) = (sa.as_object_mut(), extra.as_object()) {
            sa.extend(extra.clone());
        }
        Api::<ServiceAccount>::namespaced(self.admin.clone(), ns)
            .create(&PostParams::default(), &serde_json::from_value(sa).unwrap())
            .await
            .expect("service account")
    }

    async fn token(
        &self,
        ns: &str,
        sa: &str,
        spec: TokenRequestSpec,
    ) -> kube::Result<TokenRequest> {
        Api::<ServiceAccount>::namespaced(self.admin.clone(), ns)
            .create_token_request(
                sa,
                &PostParams::default(),
                &TokenRequest {
                    spec,
                    ..Default::default()
                },
            )
            .await
    }
}

fn code(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn whoami(client: &Client) -> kube::Result<Value> {
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(serde_json::to_value(review.status.and_then(|s| s.user_info)).unwrap())
}

async fn review(admin: &Client, token: &str, audiences: Option<Vec<String>>) -> Value {
    let review = Api::<TokenReview>::all(admin.clone())
        .create(
            &PostParams::default(),
            &TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token.into()),
                    audiences,
                },
                ..Default::default()
            },
        )
        .await
        .expect("token review");
    serde_json::to_value(review.status).unwrap()
}

#[tokio::test]
async fn token_request_authenticates_until_the_account_is_deleted() {
    let h = harness().await;
    h.namespace("tokens").await;
    let sa = h.account("tokens", "robot", json!({})).await;

    let issued = h
        .token("tokens", "robot", TokenRequestSpec::default())
        .await
        .expect("token request");
    let status = issued.status.expect("status");
    assert_eq!(issued.spec.expiration_seconds, Some(3600));
    assert_eq!(
        issued.spec.audiences,
        vec!["https://kubernetes.default.svc.cluster.local".to_string()]
    );
    let lifetime = status.expiration_timestamp.0.as_second() - chrono::Utc::now().timestamp();
    assert!((3590..=3600).contains(&lifetime), "{lifetime}");

    let robot = h.with_token(&status.token).await;
    let me = whoami(&robot).await.expect("whoami with the token");
    assert_eq!(me["username"], "system:serviceaccount:tokens:robot");
    assert_eq!(me["uid"], json!(sa.metadata.uid));
    assert_eq!(
        me["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:tokens",
            "system:authenticated"
        ])
    );
    assert!(
        me["extra"]["authentication.kubernetes.io/credential-id"][0]
            .as_str()
            .is_some_and(|c| c.starts_with("JTI="))
    );
    // Any API call works with it (no authorizer yet).
    Api::<Pod>::namespaced(robot.clone(), "tokens")
        .list(&Default::default())
        .await
        .expect("list with the token");

    let ok = review(&h.admin, &status.token, None).await;
    assert_eq!(ok["authenticated"], true);
    assert_eq!(ok["user"]["username"], "system:serviceaccount:tokens:robot");
    let other = review(&h.admin, &status.token, Some(vec!["vault".into()])).await;
    assert_ne!(other["authenticated"], true);
    assert!(
        other["error"]
            .as_str()
            .is_some_and(|e| e.contains("token audiences")),
        "{other}"
    );

    // A forged or foreign token is 401.
    let forged = format!("{}x", &status.token[..status.token.len() - 1]);
    let err = whoami(&h.with_token(&forged).await).await.unwrap_err();
    assert_eq!(code(err).0, 401);
    let err = whoami(&h.with_token("not-a-jwt").await).await.unwrap_err();
    assert_eq!(code(err).0, 401);

    // Deleting the account invalidates its tokens.
    Api::<ServiceAccount>::namespaced(h.admin.clone(), "tokens")
        .delete("robot", &DeleteParams::default())
        .await
        .expect("delete sa");
    let err = whoami(&robot).await.unwrap_err();
    assert_eq!(code(err).0, 401);
    let gone = review(&h.admin, &status.token, None).await;
    assert!(
        gone["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found")),
        "{gone}"
    );
}

#[tokio::test]
async fn token_request_validation() {
    let h = harness().await;
    h.namespace("tokens").await;
    h.account("tokens", "robot", json!({})).await;
    let short = TokenRequestSpec {
        expiration_seconds: Some(599),
        ..Default::default()
    };
    let (status, message) = code(h.token("tokens", "robot", short).await.unwrap_err());
    assert_eq!(status, 422);
    assert_eq!(
        message,
        "TokenRequest.authentication.k8s.io \"robot\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
    );
    let (status, message) = code(
        h.token("tokens", "nobody", TokenRequestSpec::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, message.as_str()),
        (404, "serviceaccounts \"nobody\" not found")
    );
    let to_configmap = TokenRequestSpec {
        bound_object_ref: Some(BoundObjectReference {
            api_version: Some("v1".into()),
            kind: Some("ConfigMap".into()),
            name: Some("x".into()),
            uid: None,
        }),
        ..Default::default()
    };
    let (status, message) = code(h.token("tokens", "robot", to_configmap).await.unwrap_err());
    assert_eq!(
        (status, message.as_str()),
        (
            400,
            "cannot bind token to object of type /v1, Kind=ConfigMap"
        )
    );
}

#[tokio::test]
async fn pod_bound_token_and_admission() {
    let h = harness().await;
    h.namespace("apps").await;
    // No `default` account yet (no controller in this test): pods are
    // refused after the plugin's retries.
    let pods = Api::<Pod>::namespaced(h.admin.clone(), "apps");
    let pod = |name: &str, extra: Value| -> Pod {
        let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    };
    let (status, message) = code(
        pods.create(&PostParams::default(), &pod("early", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert_eq!(
        message,
        "pods \"early\" is forbidden: error looking up service account apps/default: serviceaccount \"default\" not found"
    );
    assert!(pods.get_opt("early").await.unwrap().is_none());

    h.account("apps", "default", json!({})).await;
    h.account(
        "apps",
        "quiet",
        json!({"automountServiceAccountToken": false}),
    )
    .await;
    let web = pods
        .create(&PostParams::default(), &pod("web", json!({})))
        .await
        .expect("pod");
    let spec = web.spec.clone().unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    let volume = &spec.volumes.as_ref().expect("volumes")[0];
    assert!(volume.name.starts_with("kube-api-access-"));
    let mounts = spec.containers[0].volume_mounts.as_ref().expect("mounts");
    assert_eq!(
        mounts[0].mount_path,
        "/var/run/secrets/kubernetes.io/serviceaccount"
    );
    assert_eq!(mounts[0].name, volume.name);

    let quiet = pods
        .create(
            &PostParams::default(),
            &pod("quiet", json!({"serviceAccountName": "quiet"})),
        )
        .await
        .expect("pod");
    assert!(quiet.spec.unwrap().volumes.is_none());
    let opted_in = pods
        .create(
            &PostParams::default(),
            &pod(
                "opted-in",
                json!({"serviceAccountName": "quiet", "automountServiceAccountToken": true}),
            ),
        )
        .await
        .expect("pod");
    assert_eq!(opted_in.spec.unwrap().volumes.map(|v| v.len()), Some(1));

    // A token bound to the pod names it, and dies with it.
    let bind = |name: &str, uid: Option<String>| TokenRequestSpec {
        bound_object_ref: Some(BoundObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(name.into()),
            uid,
        }),
        ..Default::default()
    };
    let (status, message) = code(
        h.token("apps", "quiet", bind("web", None))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status, message.as_str()),
        (
            400,
            "cannot bind token for serviceaccount \"quiet\" to pod running with serviceaccount \"default\""
        )
    );
    let (status, _) = code(
        h.token("apps", "default", bind("web", Some("wrong-uid".into())))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 409);
    let bound = h
        .token("apps", "default", bind("web", web.metadata.uid.clone()))
        .await
        .expect("bound token")
        .status
        .unwrap()
        .token;
    let as_pod = h.with_token(&bound).await;
    let me = whoami(&as_pod).await.expect("whoami");
    assert_eq!(
        me["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["web"])
    );
    assert_eq!(
        me["extra"]["authentication.kubernetes.io/pod-uid"],
        json!([web.metadata.uid])
    );
    pods.delete("web", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete pod");
    let err = whoami(&as_pod).await.unwrap_err();
    assert_eq!(code(err).0, 401);
}

#[tokio::test]
async fn oidc_discovery_publishes_the_verifying_key() {
    let h = harness().await;
    let get = |path: &str| http::Request::get(path).body(Vec::new()).expect("request");
    let config: Value = serde_json::from_str(
        &h.admin
            .request_text(get("/.well-known/openid-configuration"))
            .await
            .expect("discovery"),
    )
    .unwrap();
    assert_eq!(
        config["issuer"],
        "https://kubernetes.default.svc.cluster.local"
    );
    assert_eq!(
        config["jwks_uri"],
        json!(format!("{}/openid/v1/jwks", h.server.url))
    );
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let jwks: Value = serde_json::from_str(
        &h.admin
            .request_text(get("/openid/v1/jwks"))
            .await
            .expect("jwks"),
    )
    .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );

    // The token's header names that key.
    h.namespace("oidc").await;
    h.account("oidc", "robot", json!({})).await;
    let token = h
        .token("oidc", "robot", TokenRequestSpec::default())
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    use base64::Engine as _;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], key["kid"]);
    assert_eq!(header["alg"], "ES256");
}
