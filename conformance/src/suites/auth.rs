//! sig-auth: the ServiceAccount API, the root CA ConfigMap, and
//! ServiceAccount tokens in pods (automount, projected tokens, TokenReview).

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, ServiceAccount};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

use crate::images::busybox;
use crate::pod_runs::output_of;

use crate::framework::{
    Ctx, Step, TestCase, TestResult, describe_event, from_json, next_event, wait_for,
};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-auth] ServiceAccounts should run through the lifecycle of a ServiceAccount [Conformance]",
            |c| Box::pin(sa_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-auth] ServiceAccounts should update a ServiceAccount [Conformance]",
            |c| Box::pin(sa_update(c)),
        ),
        TestCase::upstream(
            "[sig-auth] ServiceAccounts should guarantee kube-root-ca.crt exist in any namespace [Conformance]",
            |c| Box::pin(root_ca(c)),
        ),
        TestCase::upstream(
            "[sig-auth] ServiceAccounts should allow opting out of API token automount [Conformance]",
            |c| Box::pin(automount_opt_out(c)),
        ),
        TestCase::upstream(
            "[sig-auth] ServiceAccounts should mount an API token into pods [Conformance]",
            |c| Box::pin(mount_api_token(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-auth] ServiceAccounts should mount projected service account token [Conformance]",
            |c| Box::pin(projected_token(c)),
        )
        .with_nodes(),
    ]
}

const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

async fn automount_opt_out(ctx: Ctx) -> TestResult {
    let accounts = ctx.api::<ServiceAccount>();
    for (name, automount) in [("mount", true), ("nomount", false)] {
        let sa: ServiceAccount = from_json(json!({
            "metadata": {"name": name}, "automountServiceAccountToken": automount
        }))?;
        accounts
            .create(&PostParams::default(), &sa)
            .await
            .step(format!("creating service account {name}"))?;
    }
    // (account, pod's automountServiceAccountToken, token volume expected)
    let cases = [
        ("default", None, true),
        ("mount", None, true),
        ("nomount", None, false),
        ("default", Some(true), true),
        ("mount", Some(true), true),
        ("nomount", Some(true), true),
        ("default", Some(false), false),
        ("mount", Some(false), false),
        ("nomount", Some(false), false),
    ];
    let pods = ctx.api::<Pod>();
    for (account, automount, expected) in cases {
        let suffix = match automount {
            None => "",
            Some(true) => "-mountspec",
            Some(false) => "-nomountspec",
        };
        let name = format!("pod-service-account-{account}sa{suffix}");
        let mut spec = json!({
            "containers": [{"name": "token-test", "image": busybox()}],
            "restartPolicy": "Never",
            "serviceAccountName": account,
        });
        if let Some(a) = automount {
            spec["automountServiceAccountToken"] = json!(a);
        }
        let pod: Pod = from_json(json!({"metadata": {"name": name}, "spec": spec}))?;
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .step(format!("creating pod {name}"))?;
        let mounted = created.spec.iter().flat_map(|s| &s.containers).any(|c| {
            c.volume_mounts
                .iter()
                .flatten()
                .any(|m| m.mount_path == TOKEN_MOUNT_PATH)
        });
        ensure!(
            mounted == expected,
            "{name}: expected token volume {expected}, got {mounted}"
        );
    }
    Ok(())
}

async fn mount_api_token(ctx: Ctx) -> TestResult {
    let sa: ServiceAccount = from_json(json!({"metadata": {"name": "mount-test"}}))?;
    ctx.api::<ServiceAccount>()
        .create(&PostParams::default(), &sa)
        .await
        .step("creating service account mount-test")?;
    let name = ctx.name("pod-service-account");
    let pod: Pod = from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": "mount-test",
            "containers": [{"name": "test", "image": busybox(), "command": ["sleep", "100000"]}],
            "terminationGracePeriodSeconds": 0,
            "restartPolicy": "Never",
        }
    }))?;
    let pods = ctx.api::<Pod>();
    pods.create(&PostParams::default(), &pod)
        .await
        .step("creating the pod")?;
    let pod = wait_for("the pod to run", Duration::from_secs(120), || {
        let pods = pods.clone();
        let name = name.clone();
        async move {
            let pod = pods.get(&name).await.step("reading the pod")?;
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
            Ok(match phase.as_deref() {
                Some("Running") => Ok(pod),
                other => Err(format!("phase {other:?}")),
            })
        }
    })
    .await?;
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let node = ctx
        .cluster_api::<Node>()
        .get(&node_name)
        .await
        .step("reading the pod's node")?;
    let read = |file: &'static str| {
        let ctx = ctx.clone();
        let name = name.clone();
        async move {
            let path = format!("{TOKEN_MOUNT_PATH}/{file}");
            ctx.kubectl(&["exec", &name, "-c", "test", "--", "cat", &path], None)
                .await
        }
    };
    let token = read("token").await?;
    let ca = read("ca.crt").await?;
    let namespace = read("namespace").await?;
    let root_ca = ctx
        .api::<ConfigMap>()
        .get("kube-root-ca.crt")
        .await
        .step("reading kube-root-ca.crt")?;
    let expected_ca = root_ca
        .data
        .and_then(|d| d.get("ca.crt").cloned())
        .unwrap_or_default();
    ensure_eq!(ca, expected_ca, "mounted ca.crt");
    ensure_eq!(namespace, ctx.ns.clone(), "mounted namespace");

    let review = ctx
        .cluster_api::<TokenReview>()
        .create(
            &PostParams::default(),
            &TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token),
                    audiences: None,
                },
                ..Default::default()
            },
        )
        .await
        .step("reviewing the mounted token")?;
    let status = review.status.unwrap_or_default();
    ensure!(
        status.authenticated == Some(true),
        "token review is not authenticated: {:?}",
        status.error
    );
    ensure!(
        status.error.as_deref().unwrap_or_default().is_empty(),
        "token review error {:?}",
        status.error
    );
    let user = status.user.unwrap_or_default();
    ensure_eq!(
        user.username.unwrap_or_default(),
        format!("system:serviceaccount:{}:mount-test", ctx.ns),
        "username"
    );
    let groups = user.groups.unwrap_or_default();
    for group in [
        "system:authenticated".to_string(),
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{}", ctx.ns),
    ] {
        ensure!(
            groups.contains(&group),
            "expected group {group}, had {groups:?}"
        );
    }
    let extra = user.extra.unwrap_or_default();
    let single = |key: &str| -> Option<String> {
        extra
            .get(&format!("authentication.kubernetes.io/{key}"))
            .filter(|v| v.len() == 1)
            .map(|v| v[0].clone())
    };
    ensure!(
        single("credential-id").is_some_and(|c| c.starts_with("JTI=")),
        "credential-id {:?}",
        single("credential-id")
    );
    ensure_eq!(single("pod-name"), Some(name.clone()), "pod-name extra");
    ensure_eq!(single("pod-uid"), pod.metadata.uid.clone(), "pod-uid extra");
    ensure_eq!(single("node-name"), Some(node_name), "node-name extra");
    ensure_eq!(
        single("node-uid"),
        node.metadata.uid.clone(),
        "node-uid extra"
    );
    Ok(())
}

async fn projected_token(ctx: Ctx) -> TestResult {
    let path = "/test-volume/token";
    let pod = json!({
        "metadata": {"name": ctx.name("test-pod")},
        "spec": {
            "containers": [{
                "name": "agnhost-container",
                "image": busybox(),
                "command": ["sh", "-c", format!("echo \"content of file \\\"{path}\\\": $(cat {path})\"")],
                "volumeMounts": [{"name": "test-volume", "mountPath": "/test-volume", "readOnly": true}],
            }],
            "volumes": [{"name": "test-volume", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}
            ]}}],
        }
    });
    let output = output_of(&ctx, pod).await?;
    let pattern = regex::Regex::new(&format!(
        r#"content of file "{path}": [A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.?[A-Za-z0-9-_.+/=]*"#
    ))
    .map_err(|e| crate::framework::TestError::Assertion(e.to_string()))?;
    ensure!(
        pattern.is_match(&output),
        "service account token: output {output:?} does not match {pattern}"
    );
    Ok(())
}

async fn sa_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ServiceAccount>();
    let list = api
        .list(&ListParams::default())
        .await
        .step("listing service accounts")?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut watch = api
        .watch(
            &WatchParams::default().labels("test-serviceaccount-static=true"),
            &rv,
        )
        .await
        .step("watching service accounts")?
        .boxed();
    let sa: ServiceAccount = from_json(json!({
        "metadata": {"name": "testserviceaccount", "labels": {"test-serviceaccount-static": "true"}},
        "automountServiceAccountToken": false
    }))?;
    api.create(&PostParams::default(), &sa)
        .await
        .step("creating service account")?;
    let (kind, name, _) =
        describe_event(&next_event(&mut watch, Duration::from_secs(20), "ADDED").await?);
    ensure!(
        kind == "ADDED" && name == "testserviceaccount",
        "first watch event {kind} {name}"
    );
    let patched = api
        .patch(
            "testserviceaccount",
            &PatchParams::default(),
            &Patch::Strategic(json!({"automountServiceAccountToken": true})),
        )
        .await
        .step("patching service account")?;
    ensure_eq!(
        patched.automount_service_account_token,
        Some(true),
        "automount after patch"
    );
    let list = api
        .list(&ListParams::default().labels("test-serviceaccount-static=true"))
        .await
        .step("listing by label")?;
    ensure_eq!(list.items.len(), 1, "service accounts found by label");
    ensure_eq!(
        list.items[0].automount_service_account_token,
        Some(true),
        "listed automount value"
    );
    api.delete("testserviceaccount", &DeleteParams::default())
        .await
        .step("deleting service account")?;
    loop {
        let (kind, name, _) =
            describe_event(&next_event(&mut watch, Duration::from_secs(20), "DELETED").await?);
        if kind == "DELETED" {
            ensure_eq!(name.as_str(), "testserviceaccount", "deleted object");
            break;
        }
    }
    Ok(())
}

async fn sa_update(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ServiceAccount>();
    let sa: ServiceAccount = from_json(json!({"metadata": {"name": "e2e-sa-update"}}))?;
    let created = api
        .create(&PostParams::default(), &sa)
        .await
        .step("creating service account")?;
    let mut body = created;
    body.automount_service_account_token = Some(false);
    let updated = api
        .replace("e2e-sa-update", &PostParams::default(), &body)
        .await
        .step("updating service account")?;
    ensure_eq!(
        updated.automount_service_account_token,
        Some(false),
        "automount after update"
    );
    Ok(())
}

async fn root_ca(ctx: Ctx) -> TestResult {
    const NAME: &str = "kube-root-ca.crt";
    let api = ctx.api::<ConfigMap>();
    let has_cert = |cm: &ConfigMap| {
        cm.data.as_ref().is_some_and(|d| {
            d.get("ca.crt")
                .is_some_and(|c| c.contains("BEGIN CERTIFICATE"))
        })
    };
    let wait = |what: &'static str| {
        let api = api.clone();
        async move {
            wait_for(what, Duration::from_secs(30), || {
                let api = api.clone();
                async move {
                    match api.get_opt(NAME).await.step("reading kube-root-ca.crt")? {
                        Some(cm) if has_cert(&cm) => Ok(Ok(cm)),
                        Some(cm) => Ok(Err(format!(
                            "data keys {:?}",
                            cm.data.map(|d| d.into_keys().collect::<Vec<_>>())
                        ))),
                        None => Ok(Err("absent".into())),
                    }
                }
            })
            .await
        }
    };
    wait("kube-root-ca.crt to exist in a new namespace").await?;
    api.delete(NAME, &DeleteParams::default())
        .await
        .step("deleting kube-root-ca.crt")?;
    wait("kube-root-ca.crt to be recreated").await?;
    api.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ca.crt": "changed"}})),
    )
    .await
    .step("modifying kube-root-ca.crt")?;
    wait("kube-root-ca.crt to be reconciled").await?;
    Ok(())
}
