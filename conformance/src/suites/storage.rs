//! sig-storage: immutable ConfigMaps and Secrets, StorageClass and CSIDriver APIs.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::framework::{Ctx, Step, TestCase, TestResult, expect_status, from_json};
use crate::{ensure, ensure_eq};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-storage] ConfigMap should be immutable if `immutable` field is set [Conformance]",
            |c| Box::pin(configmap_immutable(c)),
        ),
        TestCase::upstream(
            "[sig-storage] Secrets should be immutable if `immutable` field is set [Conformance]",
            |c| Box::pin(secret_immutable(c)),
        ),
        TestCase::upstream(
            "[sig-storage] StorageClasses CSI Conformance should run through the lifecycle of a StorageClass [Conformance]",
            |c| Box::pin(storageclass_lifecycle(c)),
        ),
        TestCase::upstream(
            "[sig-storage] CSIInlineVolumes should run through the lifecycle of a CSIDriver [Conformance]",
            |c| Box::pin(csidriver_lifecycle(c)),
        ),
    ]
}

async fn configmap_immutable(ctx: Ctx) -> TestResult {
    let api = ctx.api::<ConfigMap>();
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "immutable"}, "data": {"data": "value"}}))?;
    api.create(&PostParams::default(), &cm)
        .await
        .step("creating configmap")?;
    let patched = api
        .patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"data": "value2"}})),
        )
        .await
        .step("changing data of a mutable configmap")?;
    ensure_eq!(
        patched
            .data
            .unwrap_or_default()
            .get("data")
            .map(String::as_str),
        Some("value2"),
        "data after patch"
    );
    let marked = api
        .patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"immutable": true})),
        )
        .await
        .step("marking the configmap immutable")?;
    ensure_eq!(marked.immutable, Some(true), "immutable after patch");
    expect_status(
        api.patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"data": "value3"}})),
        )
        .await,
        422,
        "changing data of an immutable configmap",
    )?;
    expect_status(
        api.patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"immutable": false})),
        )
        .await,
        422,
        "making an immutable configmap mutable",
    )?;
    let labelled = api
        .patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"label1": "value1"}}})),
        )
        .await
        .step("changing labels of an immutable configmap")?;
    ensure!(
        labelled
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("label1"),
        "label missing"
    );
    api.delete("immutable", &DeleteParams::default())
        .await
        .step("deleting an immutable configmap")?;
    Ok(())
}

async fn secret_immutable(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Secret>();
    let s: Secret =
        from_json(json!({"metadata": {"name": "immutable"}, "stringData": {"data": "value"}}))?;
    api.create(&PostParams::default(), &s)
        .await
        .step("creating secret")?;
    api.patch(
        "immutable",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"data": "dmFsdWUy"}})),
    )
    .await
    .step("changing data of a mutable secret")?;
    let marked = api
        .patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"immutable": true})),
        )
        .await
        .step("marking the secret immutable")?;
    ensure_eq!(marked.immutable, Some(true), "immutable after patch");
    expect_status(
        api.patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"data": "dmFsdWUz"}})),
        )
        .await,
        422,
        "changing data of an immutable secret",
    )?;
    expect_status(
        api.patch(
            "immutable",
            &PatchParams::default(),
            &Patch::Merge(json!({"immutable": false})),
        )
        .await,
        422,
        "making an immutable secret mutable",
    )?;
    api.patch(
        "immutable",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"label1": "value1"}}})),
    )
    .await
    .step("changing labels of an immutable secret")?;
    api.delete("immutable", &DeleteParams::default())
        .await
        .step("deleting an immutable secret")?;
    Ok(())
}

async fn storageclass_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<StorageClass>();
    let name = ctx.name("e2e-sc");
    ctx.delete_after::<StorageClass>(&name);
    let sc: StorageClass = from_json(json!({
        "metadata": {"name": name, "labels": {"e2e-sc": ctx.unique}},
        "provisioner": "e2e-fake-provisioner"
    }))?;
    api.create(&PostParams::default(), &sc)
        .await
        .step("creating storage class")?;
    let got = api.get(&name).await.step("reading storage class")?;
    ensure_eq!(
        got.provisioner.as_str(),
        "e2e-fake-provisioner",
        "provisioner"
    );
    let patched = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"patched": "true"}}})),
        )
        .await
        .step("patching storage class")?;
    ensure!(
        patched
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("patched"),
        "label missing after patch"
    );
    // provisioner is immutable.
    let mut body = api.get(&name).await.step("reading storage class")?;
    body.provisioner = "other".into();
    expect_status(
        api.replace(&name, &PostParams::default(), &body).await,
        422,
        "changing the provisioner",
    )?;
    api.delete(&name, &DeleteParams::default())
        .await
        .step("deleting storage class")?;
    expect_status(
        api.get(&name).await,
        404,
        "GET of the deleted storage class",
    )?;
    let replacement = ctx.name("e2e-sc2");
    ctx.delete_after::<StorageClass>(&replacement);
    let sc: StorageClass = from_json(json!({
        "metadata": {"name": replacement, "labels": {"e2e-sc": ctx.unique}},
        "provisioner": "e2e-fake-provisioner"
    }))?;
    let created = api
        .create(&PostParams::default(), &sc)
        .await
        .step("creating the replacement")?;
    let mut body = created;
    body.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = api
        .replace(&replacement, &PostParams::default(), &body)
        .await
        .step("updating storage class")?;
    ensure!(
        updated
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("updated"),
        "label missing after update"
    );
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&format!("e2e-sc={}", ctx.unique)),
    )
    .await
    .step("deleting storage classes by collection")?;
    expect_status(
        api.get(&replacement).await,
        404,
        "GET after deletecollection",
    )?;
    Ok(())
}

async fn csidriver_lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.cluster_api::<CSIDriver>();
    let mut names = Vec::new();
    for i in 1..=2 {
        let name = format!("e2e-{}-{i}.csi.example.com", ctx.unique);
        ctx.delete_after::<CSIDriver>(&name);
        let d: CSIDriver = from_json(json!({
            "metadata": {"name": name, "labels": {"e2e-csi": ctx.unique}},
            "spec": {"attachRequired": false, "volumeLifecycleModes": ["Ephemeral"]}
        }))?;
        api.create(&PostParams::default(), &d)
            .await
            .step(format!("creating {name}"))?;
        names.push(name);
    }
    let patched = api
        .patch(
            &names[0],
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"patched": "true"}}})),
        )
        .await
        .step("patching CSIDriver")?;
    ensure!(
        patched
            .metadata
            .labels
            .clone()
            .unwrap_or_default()
            .contains_key("patched"),
        "label missing after patch"
    );
    let mut body = patched;
    body.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("updated".into(), "true".into());
    let updated = api
        .replace(&names[0], &PostParams::default(), &body)
        .await
        .step("updating CSIDriver")?;
    ensure!(
        updated
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("updated"),
        "label missing after update"
    );
    let list = api
        .list(&ListParams::default().labels(&format!("e2e-csi={}", ctx.unique)))
        .await
        .step("listing CSIDrivers")?;
    ensure_eq!(list.items.len(), 2, "CSIDrivers found by label");
    api.delete(&names[0], &DeleteParams::default())
        .await
        .step("deleting the first CSIDriver")?;
    expect_status(
        api.get(&names[0]).await,
        404,
        "GET of the deleted CSIDriver",
    )?;
    api.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&format!("e2e-csi={}", ctx.unique)),
    )
    .await
    .step("deleting CSIDrivers by collection")?;
    expect_status(api.get(&names[1]).await, 404, "GET after deletecollection")?;
    Ok(())
}
