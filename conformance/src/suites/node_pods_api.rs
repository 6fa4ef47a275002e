//! sig-node tests of the Pod API around running pods (test/e2e/common/node/
//! pods.go, pods_extended.go): a pod observed by a watch from creation to
//! graceful deletion, label updates, collection deletes, status patches and
//! the QoS class the API server sets.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

use super::node_containers::{POD_TIMEOUT, create_pod, pod, wait_phase};
use crate::framework::{
    Ctx, Step, TestCase, TestError, TestResult, from_json, next_event, update_with_retries,
    wait_for, wait_until_none_left,
};
use crate::images::busybox;
use crate::pod_runs::{expect_lines, output_of};

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-node] Pods should be submitted and removed [NodeConformance] [Conformance]",
            |c| Box::pin(submitted_and_removed(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Pods should be updated [NodeConformance] [Conformance]",
            |c| Box::pin(updated(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Pods should allow activeDeadlineSeconds to be updated [NodeConformance] [Conformance]",
            |c| Box::pin(active_deadline_updated(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Pods should delete a collection of pods [Conformance]",
            |c| Box::pin(delete_collection(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-node] Pods should patch a pod status [Conformance]",
            |c| Box::pin(patch_status(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-node] Pods should run through the lifecycle of Pods and PodStatus [Conformance]",
            |c| Box::pin(lifecycle(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-node] Pods should contain environment variables for services [NodeConformance] [Conformance]",
            |c| Box::pin(service_env_vars(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Pods Extended Pods Set QOS Class should be set on Pods with matching resource requests and limits for memory and cpu [Conformance]",
            |c| Box::pin(qos_guaranteed(c)),
        ),
    ]
}

/// A pod labelled `labels` whose container exits on SIGTERM.
fn labelled_pod(name: &str, labels: serde_json::Value) -> serde_json::Value {
    let mut p = pod(name, &["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]);
    p["metadata"]["labels"] = labels;
    p
}

async fn submitted_and_removed(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-submit-remove");
    let value = ctx.unique.clone();
    let api = ctx.api::<Pod>();
    let selector = format!("time={value}");
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing pods before the create")?;
    if !list.items.is_empty() {
        return Err(TestError::Assertion(format!(
            "{} pods match {selector} before the create",
            list.items.len()
        )));
    }
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut watch = api
        .watch(&WatchParams::default().labels(&selector), &rv)
        .await
        .step("watching the pods")?
        .boxed();
    create_pod(
        &ctx,
        labelled_pod(&name, json!({"name": "foo", "time": value})),
    )
    .await?;
    match next_event(&mut watch, POD_TIMEOUT, "the pod's ADDED event").await? {
        WatchEvent::Added(p) if p.metadata.name.as_deref() == Some(name.as_str()) => {}
        other => {
            return Err(TestError::Assertion(format!(
                "first event {:?}, want ADDED {name}",
                crate::framework::describe_event(&other)
            )));
        }
    }
    wait_phase(&ctx, &name, "Running").await?;
    api.delete(&name, &DeleteParams::default().grace_period(30))
        .await
        .step("deleting the pod gracefully")?;
    // The kubelet stops the pod within its grace period, then the pod is
    // removed; a watcher sees the deletion timestamp, then DELETED.
    let mut saw_graceful = false;
    loop {
        match next_event(
            &mut watch,
            Duration::from_secs(60),
            "the pod's DELETED event",
        )
        .await?
        {
            WatchEvent::Modified(p)
                if p.metadata.deletion_timestamp.is_some()
                    && p.metadata.deletion_grace_period_seconds.unwrap_or(0) != 0 =>
            {
                saw_graceful = true;
            }
            WatchEvent::Deleted(p) => {
                if !saw_graceful && p.metadata.deletion_timestamp.is_none() {
                    return Err(TestError::Assertion(
                        "the pod was deleted without a graceful deletion timestamp".into(),
                    ));
                }
                break;
            }
            _ => {}
        }
    }
    let left = api
        .list(&ListParams::default().labels(&selector))
        .await
        .step("listing pods after the delete")?;
    if !left.items.is_empty() {
        return Err(TestError::Assertion(
            "the deleted pod is still listed".into(),
        ));
    }
    Ok(())
}

async fn updated(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-update");
    let api = ctx.api::<Pod>();
    create_pod(
        &ctx,
        labelled_pod(&name, json!({"name": "foo", "time": "first"})),
    )
    .await?;
    wait_phase(&ctx, &name, "Running").await?;
    update_with_retries(&api, &name, false, |p| {
        p.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("time".into(), "second".into());
        Ok(())
    })
    .await?;
    let list = api
        .list(&ListParams::default().labels("time=second"))
        .await
        .step("listing pods by the new label")?;
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if names != [name.clone()] {
        return Err(TestError::Assertion(format!(
            "pods labelled time=second: {names:?}, want [{name}]"
        )));
    }
    Ok(())
}

async fn active_deadline_updated(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-update-activedeadlineseconds");
    let api = ctx.api::<Pod>();
    create_pod(&ctx, labelled_pod(&name, json!({"name": "foo"}))).await?;
    wait_phase(&ctx, &name, "Running").await?;
    update_with_retries(&api, &name, false, |p| {
        if let Some(spec) = p.spec.as_mut() {
            spec.active_deadline_seconds = Some(5);
        }
        Ok(())
    })
    .await?;
    // The kubelet stops the pod once it ran 5 s: Failed, DeadlineExceeded.
    let pod = wait_phase(&ctx, &name, "Failed").await?;
    let reason = pod.status.and_then(|s| s.reason);
    if reason.as_deref() != Some("DeadlineExceeded") {
        return Err(TestError::Assertion(format!(
            "status.reason {reason:?}, want DeadlineExceeded"
        )));
    }
    Ok(())
}

async fn delete_collection(ctx: Ctx) -> TestResult {
    let api = ctx.api::<Pod>();
    let selector = format!("type=Testing,unique={}", ctx.unique);
    for i in 1..=3 {
        let name = format!("{}-{i}", ctx.name("test-pod"));
        let mut p = labelled_pod(&name, json!({"type": "Testing", "unique": ctx.unique}));
        p["spec"]["terminationGracePeriodSeconds"] = json!(1);
        create_pod(&ctx, p).await?;
    }
    wait_for("3 pods Running", POD_TIMEOUT, || {
        let api = api.clone();
        let selector = selector.clone();
        async move {
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .step("listing the pods")?;
            let running = list
                .items
                .iter()
                .filter(|p| super::node_containers::phase(p) == "Running")
                .count();
            Ok(if running == 3 {
                Ok(())
            } else {
                Err(format!("{running} Running"))
            })
        }
    })
    .await?;
    api.delete_collection(
        &DeleteParams::default().grace_period(1),
        &ListParams::default().labels(&selector),
    )
    .await
    .step("deleting the collection")?;
    wait_until_none_left("the pods to be gone", POD_TIMEOUT, &api, &selector).await
}

async fn patch_status(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod");
    let api = ctx.api::<Pod>();
    create_pod(&ctx, labelled_pod(&name, json!({"e2e": name}))).await?;
    wait_phase(&ctx, &name, "Running").await?;
    let patch = json!({
        "metadata": {"annotations": {"patchedstatus": "true"}},
        "status": {"message": "Patched by e2e test", "reason": "E2E"}
    });
    let patched = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .step("patching the pod status")?;
    let status = patched.status.unwrap_or_default();
    if status.message.as_deref() != Some("Patched by e2e test")
        || status.reason.as_deref() != Some("E2E")
    {
        return Err(TestError::Assertion(format!(
            "status message {:?} and reason {:?} after the patch, want \"Patched by e2e test\" and \"E2E\"",
            status.message, status.reason
        )));
    }
    Ok(())
}

async fn lifecycle(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-test");
    let selector = "test-pod-static=true";
    let api = ctx.api::<Pod>();
    let rv = api
        .list(&ListParams::default().labels(selector))
        .await
        .step("listing the pods")?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut watch = api
        .watch(&WatchParams::default().labels(selector), &rv)
        .await
        .step("watching the pods")?
        .boxed();
    let mut p = labelled_pod(&name, json!({"test-pod-static": "true"}));
    p["spec"]["containers"][0]["name"] = json!(name);
    create_pod(&ctx, p).await?;
    loop {
        match next_event(&mut watch, POD_TIMEOUT, "the pod Running").await? {
            WatchEvent::Added(p) | WatchEvent::Modified(p)
                if super::node_containers::phase(&p) == "Running" =>
            {
                break;
            }
            _ => {}
        }
    }
    // A strategic merge patch of a label and the container's image (an
    // other spelling of the same image where the image is local).
    let image = busybox();
    let image2 = image
        .strip_prefix("docker.io/library/")
        .map(str::to_string)
        .unwrap_or_else(|| format!("docker.io/{image}"));
    let patch = json!({
        "metadata": {"labels": {"test-pod": "patched"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": name, "image": image2}]}
    });
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .step("patching the pod")?;
    let label = patched
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("test-pod"))
        .cloned();
    let got_image = patched
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    if label.as_deref() != Some("patched") || got_image.as_deref() != Some(image2.as_str()) {
        return Err(TestError::Assertion(format!(
            "after the patch: label test-pod {label:?}, image {got_image:?}; want \"patched\" and {image2:?}"
        )));
    }
    // Ready and ContainersReady set to False through /status.
    let updated = update_with_retries(&api, &name, true, |p| {
        let mut flipped = 0;
        for c in p
            .status
            .iter_mut()
            .flat_map(|s| s.conditions.iter_mut().flatten())
        {
            if (c.type_ == "Ready" || c.type_ == "ContainersReady") && c.status == "True" {
                c.status = "False".into();
                flipped += 1;
            }
        }
        if flipped != 2 {
            return Err(TestError::Assertion(format!(
                "{flipped} of Ready/ContainersReady were True, want 2"
            )));
        }
        Ok(())
    })
    .await?;
    let falses = updated
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .filter(|c| (c.type_ == "Ready" || c.type_ == "ContainersReady") && c.status == "False")
        .count();
    if falses != 2 {
        return Err(TestError::Assertion(format!(
            "{falses} of Ready/ContainersReady are False after the status update, want 2"
        )));
    }
    api.delete_collection(
        &DeleteParams::default().grace_period(1),
        &ListParams::default().labels(selector),
    )
    .await
    .step("deleting the pod by collection")?;
    loop {
        if let WatchEvent::Deleted(p) =
            next_event(&mut watch, POD_TIMEOUT, "the pod DELETED").await?
            && p.metadata.name.as_deref() == Some(name.as_str())
        {
            break;
        }
    }
    match api.get_opt(&name).await.step("reading the deleted pod")? {
        None => Ok(()),
        Some(_) => Err(TestError::Assertion(
            "the pod is still there after DELETED".into(),
        )),
    }
}

async fn qos_guaranteed(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-qos-class");
    let mut p = pod(&name, &["sleep", "600"]);
    let resources = json!({"cpu": "100m", "memory": "100Mi"});
    p["spec"]["containers"][0]["resources"] = json!({"requests": resources, "limits": resources});
    let created = create_pod(&ctx, p).await?;
    expect_guaranteed(created, "")?;
    let read = ctx.api::<Pod>().get(&name).await.step("reading the pod")?;
    expect_guaranteed(read, " on read")
}

fn expect_guaranteed(pod: Pod, when: &str) -> TestResult {
    let qos = pod.status.and_then(|s| s.qos_class);
    if qos.as_deref() != Some("Guaranteed") {
        return Err(TestError::Assertion(format!(
            "status.qosClass {qos:?}{when}, want Guaranteed"
        )));
    }
    Ok(())
}

async fn service_env_vars(ctx: Ctx) -> TestResult {
    // A server pod behind the service "fooservice" (port 8765 -> 8080);
    // a pod started after it sees the service in its environment.
    let server = ctx.name("server-envvars");
    let mut p = pod(&server, &["httpd", "-f", "-p", "8080", "-h", "/etc"]);
    p["metadata"]["labels"] = json!({"name": server});
    create_pod(&ctx, p).await?;
    wait_phase(&ctx, &server, "Running").await?;
    let service: Service = from_json(json!({
        "metadata": {"name": "fooservice", "labels": {"name": "fooservice"}},
        "spec": {"selector": {"name": server}, "ports": [{"port": 8765, "targetPort": 8080}]}
    }))?;
    let service = ctx
        .api::<Service>()
        .create(&kube::api::PostParams::default(), &service)
        .await
        .step("creating the service")?;
    let ip = service
        .spec
        .and_then(|s| s.cluster_ip)
        .filter(|ip| !ip.is_empty() && ip != "None")
        .ok_or_else(|| TestError::Assertion("the service got no cluster IP".into()))?;
    let out = output_of(&ctx, pod(&ctx.name("client-envvars"), &["env"])).await?;
    expect_lines(
        &out,
        &[
            format!("FOOSERVICE_SERVICE_HOST={ip}"),
            "FOOSERVICE_SERVICE_PORT=8765".into(),
            format!("FOOSERVICE_PORT=tcp://{ip}:8765"),
            format!("FOOSERVICE_PORT_8765_TCP=tcp://{ip}:8765"),
            "FOOSERVICE_PORT_8765_TCP_PROTO=tcp".into(),
            "FOOSERVICE_PORT_8765_TCP_PORT=8765".into(),
            format!("FOOSERVICE_PORT_8765_TCP_ADDR={ip}"),
        ],
        "service environment variables",
    )
}
