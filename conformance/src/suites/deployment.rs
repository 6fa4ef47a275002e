//! sig-apps Deployment tests (upstream `test/e2e/apps/deployment.go`):
//! the scale and status subresources, RollingUpdate adopting an existing
//! ReplicaSet, Recreate never running old and new pods together, history
//! cleanup, and the lifecycle (create, patch, update, status, delete by
//! collection) seen through a watch. They need pods that become Ready
//! (simulated nodes do). The proportional scaling and rollover tests need a
//! rollout stuck on an image that cannot be pulled, which simulated nodes
//! cannot show; they are not covered here.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::replica_pods::pods_of;
use super::watching::{object, watch_from_now, watch_until};
use crate::framework::{
    Ctx, Step, TestCase, TestError, TestResult, from_json, labels, update_with_retries, wait_for,
};
use crate::{ensure, ensure_eq};

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";
/// Upstream's poll limit for rollouts (`dRetryTimeout` is longer; pods
/// here start at once or not at all).
const WAIT: Duration = Duration::from_secs(120);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-apps] Deployment Deployment should have a working scale subresource [Conformance]",
            |c| Box::pin(scale_subresource(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] Deployment should validate Deployment Status endpoints [Conformance]",
            |c| Box::pin(status_endpoints(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] Deployment RollingUpdateDeployment should delete old pods and create new ones [Conformance]",
            |c| Box::pin(rolling_update(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] Deployment RecreateDeployment should delete old pods and create new ones [Conformance]",
            |c| Box::pin(recreate(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] Deployment deployment should delete old replica sets [Conformance]",
            |c| Box::pin(clean_up_history(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]",
            |c| Box::pin(lifecycle(c)),
        )
        .with_running_pods(),
    ]
}

/// Upstream's webserver container (httpd): here a shell that sleeps.
fn webserver(name: &str) -> Value {
    json!({"name": name, "image": crate::images::busybox(), "command": ["sleep", "3600"]})
}

/// Upstream's agnhost or pause container: here the image that only waits.
/// `command` is explicitly null without a command, so that a strategic
/// merge patch replacing a webserver container drops the old command.
fn waiter(name: &str) -> Value {
    let mut c = crate::images::sleeper(name);
    if c.get("command").is_none() {
        c["command"] = Value::Null;
    }
    c
}

fn image_of(container: &Value) -> String {
    container["image"].as_str().unwrap_or_default().to_string()
}

/// Upstream's `e2edeployment.NewDeployment`.
fn new_deployment(
    name: &str,
    replicas: i32,
    pod_labels: &[(&str, &str)],
    container: Value,
    strategy: &str,
) -> TestResult<Deployment> {
    let pod_labels = labels(pod_labels);
    let mut container = container;
    if container["command"].is_null() {
        container.as_object_mut().map(|m| m.remove("command"));
    }
    from_json(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "strategy": {"type": strategy},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]}
            }
        }
    }))
}

/// Upstream's `newRS` (see `replica_set.rs`), with a webserver container.
fn new_rs(name: &str, replicas: i32, pod_labels: &[(&str, &str)]) -> TestResult<ReplicaSet> {
    let pod_labels = labels(pod_labels);
    from_json(json!({
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": pod_labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [webserver("httpd")]}
            }
        }
    }))
}

fn revision_of<K: Resource>(obj: &K) -> Option<String> {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION).cloned())
}

/// A pod template as JSON without the hash label the controller adds.
fn template_without_hash(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(l) = v
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
    }
    v
}

/// The deployment's ReplicaSets: (new, old), as upstream's
/// `GetNewReplicaSet` / `GetOldReplicaSets` (controlled by the
/// deployment; the new one has its pod template).
async fn replica_sets(
    ctx: &Ctx,
    d: &Deployment,
) -> TestResult<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
    let uid = d.uid().unwrap_or_default();
    let template = template_without_hash(d.spec.as_ref().map(|s| &s.template));
    let owned: Vec<ReplicaSet> = ctx
        .api::<ReplicaSet>()
        .list(&ListParams::default())
        .await
        .step("listing replica sets")?
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|r| r.controller == Some(true) && r.uid == uid)
        })
        .collect();
    let (new, old): (Vec<ReplicaSet>, Vec<ReplicaSet>) = owned.into_iter().partition(|rs| {
        template_without_hash(rs.spec.as_ref().and_then(|s| s.template.as_ref())) == template
    });
    Ok((new.into_iter().next(), old))
}

fn first_image(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .clone()
}

/// Upstream's `WaitForDeploymentRevisionAndImage`: the deployment and its
/// new ReplicaSet carry `revision`, and the template has `image`.
async fn wait_revision_and_image(ctx: &Ctx, name: &str, revision: &str, image: &str) -> TestResult {
    wait_for(&format!("revision {revision} with image {image}"), WAIT, || async {
        let d = ctx
            .api::<Deployment>()
            .get(name)
            .await
            .step("reading the deployment")?;
        let (new, _) = replica_sets(ctx, &d).await?;
        let d_rev = revision_of(&d);
        let rs_rev = new.as_ref().and_then(revision_of);
        let rs_image = new.as_ref().and_then(|rs| {
            rs.spec.as_ref()?.template.as_ref()?.spec.as_ref()?.containers.first()?.image.clone()
        });
        Ok(
            if d_rev.as_deref() == Some(revision)
                && rs_rev.as_deref() == Some(revision)
                && first_image(&d).as_deref() == Some(image)
                && rs_image.as_deref() == Some(image)
            {
                Ok(())
            } else {
                Err(format!(
                    "deployment revision {d_rev:?}, new replica set revision {rs_rev:?}, image {rs_image:?}"
                ))
            },
        )
    })
    .await
}

/// Upstream's `DeploymentComplete`: every replica updated and available,
/// and the current generation observed.
fn complete(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
        && s.observed_generation >= d.metadata.generation
}

async fn wait_complete(ctx: &Ctx, name: &str) -> TestResult<Deployment> {
    let api = ctx.api::<Deployment>();
    wait_for("the deployment to complete", WAIT, || async {
        let d = api.get(name).await.step("reading the deployment")?;
        Ok(if complete(&d) {
            Ok(d)
        } else {
            Err(format!("status {:?}", d.status))
        })
    })
    .await
}

async fn create(ctx: &Ctx, d: &Deployment) -> TestResult<Deployment> {
    ctx.api::<Deployment>()
        .create(&PostParams::default(), d)
        .await
        .step("creating the deployment")
}

async fn scale_subresource(ctx: Ctx) -> TestResult {
    let name = "test-new-deployment";
    let container = webserver("httpd");
    let image = image_of(&container);
    create(
        &ctx,
        &new_deployment(name, 1, &[("name", "httpd")], container, "RollingUpdate")?,
    )
    .await?;
    wait_revision_and_image(&ctx, name, "1", &image).await?;
    wait_complete(&ctx, name).await?;
    let api = ctx.api::<Deployment>();
    let mut scale: Scale = api.get_scale(name).await.step("reading the scale")?;
    ensure_eq!(
        scale.spec.as_ref().and_then(|s| s.replicas),
        Some(1),
        "scale spec.replicas"
    );
    ensure_eq!(
        scale.status.as_ref().map(|s| s.replicas),
        Some(1),
        "scale status.replicas"
    );
    scale.metadata.resource_version = None;
    scale.spec.get_or_insert_with(Default::default).replicas = Some(2);
    let updated = api
        .replace_scale(name, &PostParams::default(), &scale)
        .await
        .step("updating the scale")?;
    ensure_eq!(
        updated.spec.and_then(|s| s.replicas),
        Some(2),
        "spec.replicas in the scale update's answer"
    );
    let replicas = |d: Deployment| d.spec.and_then(|s| s.replicas);
    ensure_eq!(
        replicas(api.get(name).await.step("reading the deployment")?),
        Some(2),
        "spec.replicas after the scale update"
    );
    api.patch_scale(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"replicas": 4}})),
    )
    .await
    .step("patching the scale")?;
    ensure_eq!(
        replicas(api.get(name).await.step("reading the deployment")?),
        Some(4),
        "spec.replicas after the scale patch"
    );
    Ok(())
}

fn has_condition(d: &Deployment, type_: &str, reason: Option<&str>) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == type_ && (reason.is_none() || c.reason.as_deref() == reason))
        })
}

async fn status_endpoints(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Deployment>();
    let name = ctx.name("test-deployment");
    let mut events = watch_from_now(&api, &WatchParams::default().labels("e2e=testing")).await?;
    let container = webserver("httpd");
    let image = image_of(&container);
    let mut d = new_deployment(
        &name,
        1,
        &[("name", "httpd"), ("e2e", "testing")],
        container,
        "RollingUpdate",
    )?;
    d.metadata.labels = Some(labels(&[("name", "httpd"), ("e2e", "testing")]));
    create(&ctx, &d).await?;
    wait_revision_and_image(&ctx, &name, "1", &image).await?;
    wait_complete(&ctx, &name).await?;
    let read = api.get_status(&name).await.step("reading /status")?;
    ensure_eq!(read.name_any(), name, "the object read through /status");
    let condition: DeploymentCondition = from_json(json!({
        "type": "StatusUpdate", "status": "True",
        "reason": "E2E", "message": "Set from e2e test"
    }))?;
    let updated = update_with_retries(&api, &name, true, |d: &mut Deployment| {
        d.status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(condition.clone());
        Ok(())
    })
    .await?;
    ensure!(
        has_condition(&updated, "StatusUpdate", Some("E2E")),
        "the status update's answer lacks the new condition"
    );
    watch_until(&mut events, "the StatusUpdate condition", |e| {
        Ok(object(e).is_some_and(|d: &Deployment| {
            d.name_any() == name && has_condition(d, "StatusUpdate", Some("E2E"))
        }))
    })
    .await?;
    let patched = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "StatusPatched", "status": "True"}
            ]}})),
        )
        .await
        .step("patching /status")?;
    ensure!(
        has_condition(&patched, "StatusPatched", None),
        "the status patch's answer lacks the patched condition"
    );
    watch_until(&mut events, "the StatusPatched condition", |e| {
        Ok(object(e).is_some_and(|d: &Deployment| {
            d.name_any() == name && has_condition(d, "StatusPatched", None)
        }))
    })
    .await
}

async fn rolling_update(ctx: Ctx) -> TestResult {
    // A ReplicaSet with a high revision, to be adopted.
    let mut rs = new_rs(
        "test-rolling-update-controller",
        1,
        &[("name", "sample-pod"), ("pod", "httpd")],
    )?;
    rs.metadata.annotations = Some(labels(&[(REVISION, "3546343826724305832")]));
    ctx.api::<ReplicaSet>()
        .create(&PostParams::default(), &rs)
        .await
        .step("creating the replica set to adopt")?;
    pods_of(&ctx, "sample-pod", 1, true).await?;
    let name = "test-rolling-update-deployment";
    let container = waiter("agnhost");
    let image = image_of(&container);
    create(
        &ctx,
        &new_deployment(
            name,
            1,
            &[("name", "sample-pod")],
            container,
            "RollingUpdate",
        )?,
    )
    .await?;
    // The next revision after the adopted one.
    wait_revision_and_image(&ctx, name, "3546343826724305833", &image).await?;
    let d = wait_complete(&ctx, name).await?;
    let (_, old) = replica_sets(&ctx, &d).await?;
    let names: Vec<String> = old.iter().map(|rs| rs.name_any()).collect();
    ensure_eq!(
        names,
        vec!["test-rolling-update-controller".to_string()],
        "old replica sets (the adopted one)"
    );
    Ok(())
}

async fn recreate(ctx: Ctx) -> TestResult {
    let name = "test-recreate-deployment";
    let api = ctx.api::<Deployment>();
    let container = waiter("agnhost");
    let image = image_of(&container);
    create(
        &ctx,
        &new_deployment(name, 1, &[("name", "sample-pod-3")], container, "Recreate")?,
    )
    .await?;
    wait_revision_and_image(&ctx, name, "1", &image).await?;
    wait_complete(&ctx, name).await?;
    let mut events = watch_from_now(
        &api,
        &WatchParams::default().fields(&format!("metadata.name={name}")),
    )
    .await?;
    let next = webserver("httpd");
    update_with_retries(&api, name, false, |d: &mut Deployment| {
        if let Some(c) = d
            .spec
            .as_mut()
            .map(|s| &mut s.template)
            .and_then(|t| t.spec.as_mut())
            .and_then(|s| s.containers.first_mut())
        {
            c.name = "httpd".into();
            c.image = next["image"].as_str().map(str::to_string);
            c.command = Some(vec!["sleep".into(), "3600".into()]);
        }
        Ok(())
    })
    .await?;
    // Upstream's watchRecreateDeployment: never new pods beside old ones.
    watch_until(&mut events, "the recreated deployment complete", |e| {
        let Some(d) = object(e) else {
            return Ok(false);
        };
        let s = d.status.clone().unwrap_or_default();
        let updated = s.updated_replicas.unwrap_or(0);
        if updated > 0 && s.replicas.unwrap_or(0) != updated {
            return Err(format!(
                "deployment {name} is running new pods alongside old pods: {s:?}"
            ));
        }
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        Ok(s.replicas == Some(want)
            && s.updated_replicas == Some(want)
            && s.observed_generation >= d.metadata.generation)
    })
    .await
}

async fn clean_up_history(ctx: Ctx) -> TestResult {
    ctx.api::<ReplicaSet>()
        .create(
            &PostParams::default(),
            &new_rs(
                "test-cleanup-controller",
                1,
                &[("name", "cleanup-pod"), ("pod", "httpd")],
            )?,
        )
        .await
        .step("creating the replica set to adopt")?;
    pods_of(&ctx, "cleanup-pod", 1, true).await?;
    // Exactly one pod may be created from now on: the deployment's.
    let mut pod_events = watch_from_now(&ctx.api::<Pod>(), &WatchParams::default()).await?;
    let name = "test-cleanup-deployment";
    let mut d = new_deployment(
        name,
        1,
        &[("name", "cleanup-pod")],
        waiter("agnhost"),
        "RollingUpdate",
    )?;
    if let Some(spec) = d.spec.as_mut() {
        spec.revision_history_limit = Some(0);
    }
    create(&ctx, &d).await?;
    let api = ctx.api::<Deployment>();
    let mut created = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = api.get(name).await.step("reading the deployment")?;
        let (_, old) = replica_sets(&ctx, &d).await?;
        if old.is_empty() && complete(&d) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TestError::Assertion(format!(
                "{} old replica sets were not cleaned up",
                old.len()
            )));
        }
        // Meanwhile, check the pods created.
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(250), pod_events.next()).await
        {
            if let WatchEvent::Added(pod) = event.step("watching pods")? {
                created += 1;
                let container = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                ensure!(created == 1, "a second pod was created: {}", pod.name_any());
                ensure_eq!(container, "agnhost", "container of the created pod");
            }
        }
    }
    Ok(())
}

async fn lifecycle(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Deployment>();
    let name = "test-deployment";
    let selector = "test-deployment-static=true";
    let mut events = watch_from_now(&api, &WatchParams::default().labels(selector)).await?;
    let initial = webserver(name);
    let patch_container = waiter(name);
    let patch_image = image_of(&patch_container);
    let mut d = new_deployment(
        name,
        2,
        &[("test-deployment-static", "true")],
        initial.clone(),
        "RollingUpdate",
    )?;
    d.metadata.labels = Some(labels(&[("test-deployment-static", "true")]));
    if let Some(t) = d
        .spec
        .as_mut()
        .map(|s| &mut s.template)
        .and_then(|t| t.spec.as_mut())
    {
        t.termination_grace_period_seconds = Some(1);
    }
    create(&ctx, &d).await?;
    let ours = |d: &Deployment| {
        d.name_any() == name
            && d.labels().get("test-deployment-static").map(String::as_str) == Some("true")
    };
    watch_until(&mut events, "ADDED", |e| {
        Ok(matches!(e, WatchEvent::Added(d) if ours(d)))
    })
    .await?;
    let ready = |d: &Deployment, n: i32| {
        d.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
            == n
    };
    watch_until(&mut events, "2 ready replicas", |e| {
        Ok(object(e).is_some_and(|d| ours(d) && ready(d, 2)))
    })
    .await?;

    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({
            "metadata": {"labels": {"test-deployment": "patched"}},
            "spec": {
                "replicas": 1,
                "template": {"spec": {
                    "terminationGracePeriodSeconds": 2,
                    "containers": [patch_container]
                }}
            }
        })),
    )
    .await
    .step("patching the deployment")?;
    watch_until(&mut events, "MODIFIED after the patch", |e| {
        Ok(matches!(e, WatchEvent::Modified(d) if ours(d)))
    })
    .await?;
    let settled = |d: &Deployment, n: i32| {
        let s = d.status.clone().unwrap_or_default();
        ready(d, n) && s.updated_replicas == Some(n) && s.unavailable_replicas.unwrap_or(0) == 0
    };
    let grace = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.termination_grace_period_seconds)
    };
    watch_until(&mut events, "1 replica of the patched template", |e| {
        Ok(object(e).is_some_and(|d| {
            ours(d)
                && settled(d, 1)
                && first_image(d).as_deref() == Some(patch_image.as_str())
                && grace(d) == Some(2)
        }))
    })
    .await?;
    let all = ctx
        .all_api::<Deployment>()
        .list(&ListParams::default().labels(selector))
        .await
        .step("listing deployments in all namespaces")?;
    ensure!(
        all.items
            .iter()
            .any(|d| ours(d) && d.meta().namespace.as_deref() == Some(ctx.ns.as_str())),
        "the deployment is missing from the list"
    );

    // A full update, as upstream's (from the object first created).
    let update_image = image_of(&initial);
    let mut update = d.clone();
    update
        .metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert("test-deployment".into(), "updated".into());
    if let Some(spec) = update.spec.as_mut() {
        spec.replicas = Some(2);
    }
    let current = api.get(name).await.step("reading the deployment")?;
    update.metadata.resource_version = current.metadata.resource_version;
    api.replace(name, &PostParams::default(), &update)
        .await
        .step("updating the deployment")?;
    watch_until(&mut events, "MODIFIED after the update", |e| {
        Ok(matches!(e, WatchEvent::Modified(d) if ours(d)))
    })
    .await?;
    let read = api.get_status(name).await.step("reading /status")?;
    ensure_eq!(
        first_image(&read),
        Some(update_image.clone()),
        "image read through /status"
    );
    ensure_eq!(
        read.labels().get("test-deployment").map(String::as_str),
        Some("updated"),
        "label read through /status"
    );
    watch_until(&mut events, "2 replicas of the updated template", |e| {
        Ok(object(e).is_some_and(|d| ours(d) && settled(d, 2)))
    })
    .await?;

    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Strategic(json!({
            "metadata": {"labels": {"test-deployment": "patched-status"}},
            "status": {"readyReplicas": 0, "availableReplicas": 0}
        })),
    )
    .await
    .step("patching /status")?;
    watch_until(&mut events, "MODIFIED after the status patch", |e| {
        Ok(matches!(e, WatchEvent::Modified(d) if ours(d)))
    })
    .await?;
    let read = api.get_status(name).await.step("reading /status")?;
    ensure_eq!(
        first_image(&read),
        Some(update_image.clone()),
        "image read through /status"
    );
    ensure_eq!(
        read.labels().get("test-deployment").map(String::as_str),
        Some("updated"),
        "labels are not changed through /status"
    );
    watch_until(&mut events, "2 ready replicas again", |e| {
        Ok(object(e).is_some_and(|d| {
            ours(d) && settled(d, 2) && first_image(d).as_deref() == Some(update_image.as_str())
        }))
    })
    .await?;

    api.delete_collection(
        &DeleteParams {
            grace_period_seconds: Some(1),
            ..DeleteParams::default()
        },
        &ListParams::default().labels(selector),
    )
    .await
    .step("deleting deployments by collection")?;
    watch_until(&mut events, "DELETED", |e| {
        Ok(matches!(e, WatchEvent::Deleted(d) if ours(d)))
    })
    .await
}
