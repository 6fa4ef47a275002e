//! sig-scheduling SchedulerPredicates [Serial]: the scheduler honours
//! nodeSelector, host ports and resource requests, as upstream's
//! `test/e2e/scheduling/predicates.go` checks them (pause pods; a
//! FailedScheduling event for the pod that must not be scheduled).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json, wait_for};
use crate::images::sleeper;
use crate::{ensure, ensure_eq};

const POD_START: Duration = Duration::from_secs(120);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if not matching [Conformance]",
            |c| Box::pin(node_selector_not_matching(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPredicates [Serial] validates that NodeSelector is respected if matching [Conformance]",
            |c| Box::pin(node_selector_matching(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPredicates [Serial] validates that there exists conflict between pods with same hostPort and protocol but one using 0.0.0.0 hostIP [Conformance]",
            |c| Box::pin(host_port_conflict(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPredicates [Serial] validates resource limits of pods that are allowed to run [Conformance]",
            |c| Box::pin(resource_limits(c)),
        )
        .with_running_pods(),
    ]
}

fn pause_pod(name: &str, extra_spec: Value) -> Value {
    let mut spec = json!({"containers": [sleeper("pause")], "terminationGracePeriodSeconds": 1});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    json!({"metadata": {"name": name, "labels": {"name": name}}, "spec": spec})
}

async fn create(ctx: &Ctx, body: Value) -> TestResult<Pod> {
    let pod: Pod = from_json(body)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    ctx.api::<Pod>()
        .create(&PostParams::default(), &pod)
        .await
        .step(format!("creating pod {name}"))
}

async fn wait_running(ctx: &Ctx, name: &str) -> TestResult<Pod> {
    let api = ctx.api::<Pod>();
    wait_for(&format!("pod {name} to run"), POD_START, || {
        let api = api.clone();
        let name = name.to_string();
        async move {
            let pod = api.get(&name).await.step("reading the pod")?;
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
            Ok(match phase.as_deref() {
                Some("Running") => Ok(pod),
                other => Err(format!("phase {other:?}")),
            })
        }
    })
    .await
}

/// Waits for a FailedScheduling event about `pod` (upstream's
/// WaitForSchedulerAfterAction with expectSuccess=false) and checks the pod
/// stayed unassigned.
async fn wait_failed_scheduling(ctx: &Ctx, pod: &str) -> TestResult {
    let events = ctx.api::<Event>();
    wait_for(
        &format!("a FailedScheduling event for {pod}"),
        Duration::from_secs(60),
        || {
            let events = events.clone();
            let pod = pod.to_string();
            async move {
                let list = events
                    .list(&ListParams::default())
                    .await
                    .step("listing events")?;
                let found = list.items.iter().any(|e| {
                    e.reason.as_deref() == Some("FailedScheduling")
                        && e.involved_object.name.as_deref() == Some(pod.as_str())
                });
                Ok(if found {
                    Ok(())
                } else {
                    Err("no event yet".to_string())
                })
            }
        },
    )
    .await?;
    let live = ctx.api::<Pod>().get(pod).await.step("reading the pod")?;
    ensure!(
        live.spec.and_then(|s| s.node_name).is_none(),
        "pod {pod} was scheduled"
    );
    Ok(())
}

/// A node a pod can run on (upstream's GetNodeThatCanRunPod: run a pod
/// without constraints and see where it lands), that pod deleted again.
async fn node_that_can_run_pod(ctx: &Ctx) -> TestResult<String> {
    create(ctx, pause_pod("without-label", json!({}))).await?;
    let pod = wait_running(ctx, "without-label").await?;
    ctx.api::<Pod>()
        .delete("without-label", &DeleteParams::default().grace_period(0))
        .await
        .step("deleting the probe pod")?;
    pod.spec
        .and_then(|s| s.node_name)
        .ok_or_else(|| TestError::Assertion("the probe pod has no node".into()))
}

/// Labels `node` with `key=value` until the test ends.
async fn label_node(ctx: &Ctx, node: &str, key: &str, value: &str) -> TestResult {
    let nodes = ctx.cluster_api::<Node>();
    nodes
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
        )
        .await
        .step(format!("labelling node {node}"))?;
    let (node, key) = (node.to_string(), key.to_string());
    ctx.after(move |client| {
        Box::pin(async move {
            let nodes: kube::Api<Node> = kube::Api::all(client);
            let unset = json!({"metadata": {"labels": {&key: null}}});
            if let Err(err) = nodes
                .patch(&node, &PatchParams::default(), &Patch::Merge(unset))
                .await
            {
                tracing::warn!(%node, %err, "removing the test label failed");
            }
        })
    });
    Ok(())
}

async fn node_selector_not_matching(ctx: Ctx) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    create(
        &ctx,
        pause_pod(
            "restricted-pod",
            json!({"nodeSelector": {"label": "nonempty"}}),
        ),
    )
    .await?;
    wait_failed_scheduling(&ctx, "restricted-pod").await
}

async fn node_selector_matching(ctx: Ctx) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    let node = node_that_can_run_pod(&ctx).await?;
    let key = format!("kubernetes.io/e2e-{}", ctx.name("label"));
    label_node(&ctx, &node, &key, "42").await?;
    create(
        &ctx,
        pause_pod("with-labels", json!({"nodeSelector": {&key: "42"}})),
    )
    .await?;
    let pod = wait_running(&ctx, "with-labels").await?;
    ensure_eq!(
        pod.spec.and_then(|s| s.node_name),
        Some(node),
        "node of the pod with the selector"
    );
    Ok(())
}

async fn host_port_conflict(ctx: Ctx) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    let node = node_that_can_run_pod(&ctx).await?;
    let key = format!("kubernetes.io/e2e-hostport-{}", ctx.name("label"));
    label_node(&ctx, &node, &key, "95").await?;
    let port_pod = |name: &str, host_ip: &str| {
        let mut container = sleeper("pause");
        container["ports"] = json!([{
            "containerPort": 8080, "hostPort": 54322, "hostIP": host_ip, "protocol": "TCP"
        }]);
        json!({"metadata": {"name": name}, "spec": {
            "containers": [container],
            "nodeSelector": {&key: "95"},
            "terminationGracePeriodSeconds": 1,
        }})
    };
    create(&ctx, port_pod("pod4", "0.0.0.0")).await?;
    wait_running(&ctx, "pod4").await?;
    let internal_ip = ctx
        .cluster_api::<Node>()
        .get(&node)
        .await
        .step("reading the node")?
        .status
        .and_then(|s| s.addresses)
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address)
        .unwrap_or_else(|| "127.0.0.1".into());
    create(&ctx, port_pod("pod5", &internal_ip)).await?;
    wait_failed_scheduling(&ctx, "pod5").await
}

/// Upstream's check: a node's allocatable cpu minus what its pods request
/// (milli-cpu), per schedulable node.
async fn free_cpu_per_node(ctx: &Ctx) -> TestResult<BTreeMap<String, i64>> {
    let nodes = ctx
        .cluster_api::<Node>()
        .list(&ListParams::default())
        .await
        .step("listing nodes")?;
    let mut free: BTreeMap<String, i64> = nodes
        .items
        .iter()
        .filter(|n| crate::nodes::usable(n))
        .map(|n| {
            let cpu = n
                .status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get("cpu"))
                .and_then(|q| component_base::quantity::milli_value(&q.0))
                .unwrap_or(0);
            (n.metadata.name.clone().unwrap_or_default(), cpu)
        })
        .collect();
    let pods = ctx
        .all_api::<Pod>()
        .list(&ListParams::default())
        .await
        .step("listing pods")?;
    for pod in &pods.items {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()) else {
            continue;
        };
        let requested: i64 = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu"))
            .filter_map(|q| component_base::quantity::milli_value(&q.0))
            .sum();
        if let Some(f) = free.get_mut(node) {
            *f -= requested;
        }
    }
    Ok(free)
}

async fn resource_limits(ctx: Ctx) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    let free = free_cpu_per_node(&ctx).await?;
    ensure!(!free.is_empty(), "no ready schedulable nodes");
    let largest = free.values().copied().max().unwrap_or(0);
    // One pod per node takes 70% of its free cpu.
    let mut fillers = Vec::new();
    for (node, cpu) in &free {
        let name = format!("filler-pod-{}", fillers.len());
        let milli = format!("{}m", cpu * 7 / 10);
        let mut body = pause_pod(
            &name,
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
            }}}}),
        );
        body["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": milli}, "limits": {"cpu": milli}});
        create(&ctx, body).await?;
        fillers.push(name);
    }
    for name in &fillers {
        wait_running(&ctx, name).await?;
    }
    // Half of the largest node's free cpu fits nowhere any more.
    let mut additional = pause_pod("additional-pod", json!({}));
    let milli = format!("{}m", largest * 5 / 10);
    additional["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": milli}, "limits": {"cpu": milli}});
    create(&ctx, additional).await?;
    wait_failed_scheduling(&ctx, "additional-pod").await?;
    let pods = ctx
        .api::<Pod>()
        .list(&ListParams::default())
        .await
        .step("listing the test's pods")?;
    let scheduled = pods
        .items
        .iter()
        .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
        .count();
    ensure_eq!(scheduled, fillers.len(), "scheduled pods");
    ensure_eq!(pods.items.len() - scheduled, 1, "pods left unscheduled");
    Ok(())
}
