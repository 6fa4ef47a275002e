//! sig-auth: the ServiceAccount API and the root CA ConfigMap.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;

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
    ]
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
