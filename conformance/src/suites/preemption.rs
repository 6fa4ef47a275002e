//! sig-scheduling SchedulerPreemption [Serial]: pods of higher priority
//! preempt lower ones, as upstream's `test/e2e/scheduling/preemption.go`
//! checks them. Nodes advertise a fake extended resource (added to their
//! status for the test and removed after it), so the tests control exactly
//! what fits; the pods are "pause" pods (`images::sleeper`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json, wait_for};
use crate::images::sleeper;
use crate::{ensure, ensure_eq};

const FOO: &str = "scheduling.k8s.io/foo";
const FAKE_CPU: &str = "example.com/fakecpu";
const POD_START: Duration = Duration::from_secs(120);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-scheduling] SchedulerPreemption [Serial] validates basic preemption works [Conformance]",
            |c| Box::pin(basic(c, false)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPreemption [Serial] validates lower priority pod preemption by critical pod [Conformance]",
            |c| Box::pin(basic(c, true)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPreemption [Serial] validates pod disruption condition is added to the preempted pod [Conformance]",
            |c| Box::pin(disruption_condition(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-scheduling] SchedulerPreemption [Serial] PreemptionExecutionPath runs ReplicaSets to verify preemption running path [Conformance]",
            |c| Box::pin(execution_path(c)),
        )
        .with_running_pods(),
    ]
}

/// Creates PriorityClasses `<prefix>-<name>` with `values`, deleted after.
async fn priority_classes(ctx: &Ctx, classes: &[(&str, i32)]) -> TestResult<Vec<String>> {
    let mut names = Vec::new();
    for (suffix, value) in classes {
        let name = ctx.name(suffix);
        let pc: PriorityClass = from_json(json!({"metadata": {"name": name}, "value": value}))?;
        ctx.delete_after::<PriorityClass>(&name);
        ctx.cluster_api::<PriorityClass>()
            .create(&PostParams::default(), &pc)
            .await
            .step(format!("creating PriorityClass {name}"))?;
        names.push(name);
    }
    Ok(names)
}

async fn ready_schedulable_nodes(ctx: &Ctx) -> TestResult<Vec<Node>> {
    let nodes = ctx
        .cluster_api::<Node>()
        .list(&ListParams::default())
        .await
        .step("listing nodes")?;
    Ok(nodes
        .items
        .into_iter()
        .filter(crate::nodes::usable)
        .collect())
}

/// Makes `node` advertise `quantity` of `resource` until the test ends
/// (upstream's e2enode.AddExtendedResource / RemoveExtendedResource).
async fn add_extended_resource(
    ctx: &Ctx,
    node: &str,
    resource: &str,
    quantity: &str,
) -> TestResult {
    let nodes = ctx.cluster_api::<Node>();
    let set =
        json!({"status": {"capacity": {resource: quantity}, "allocatable": {resource: quantity}}});
    nodes
        .patch_status(node, &PatchParams::default(), &Patch::Merge(&set))
        .await
        .step(format!("adding {resource} to node {node}"))?;
    let (node_name, resource_name) = (node.to_string(), resource.to_string());
    ctx.after(move |client| {
        Box::pin(async move {
            let nodes: kube::Api<Node> = kube::Api::all(client);
            let unset = json!({"status": {"capacity": {&resource_name: null}, "allocatable": {&resource_name: null}}});
            if let Err(err) = nodes
                .patch_status(&node_name, &PatchParams::default(), &Patch::Merge(&unset))
                .await
            {
                tracing::warn!(node = %node_name, %err, "removing the extended resource failed");
            }
        })
    });
    wait_for(
        &format!("node {node} to advertise {resource}"),
        Duration::from_secs(30),
        || {
            let nodes = nodes.clone();
            let node = node.to_string();
            let resource = resource.to_string();
            async move {
                let n = nodes.get(&node).await.step("reading the node")?;
                let has = n
                    .status
                    .and_then(|s| s.allocatable)
                    .is_some_and(|a| a.contains_key(&resource));
                Ok(if has {
                    Ok(())
                } else {
                    Err("not yet".to_string())
                })
            }
        },
    )
    .await
}

/// A pause pod asking for `amount` of `resource`.
fn pause_pod(name: &str, class: &str, resource: &str, amount: &str, extra: Value) -> Value {
    let mut container = sleeper("pause");
    container["resources"] = json!({"requests": {resource: amount}, "limits": {resource: amount}});
    let mut spec = json!({"priorityClassName": class, "containers": [container]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"metadata": {"name": name}, "spec": spec})
}

fn on_node(node: &str) -> Value {
    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
    }}}})
}

async fn create_pod(api: &kube::Api<Pod>, body: Value) -> TestResult<Pod> {
    let pod: Pod = from_json(body)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &pod)
        .await
        .step(format!("creating pod {name}"))
}

async fn wait_running(api: &kube::Api<Pod>, name: &str) -> TestResult<Pod> {
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

/// Whether the pod is gone or being deleted.
async fn preempted(api: &kube::Api<Pod>, name: &str) -> TestResult<bool> {
    Ok(match api.get_opt(name).await.step("reading a pod")? {
        None => true,
        Some(p) => p.metadata.deletion_timestamp.is_some(),
    })
}

/// Basic preemption (or, with `critical`, by a system-cluster-critical pod
/// in kube-system): two pods per node fill 4/5 of a fake resource, the
/// first one at low priority; a pod as big as it, at higher priority, must
/// preempt exactly that one.
async fn basic(ctx: Ctx, critical: bool) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    let classes = priority_classes(&ctx, &[("low", 1), ("medium", 100), ("high", 1000)]).await?;
    let (low, medium, high) = (&classes[0], &classes[1], &classes[2]);
    let nodes = ready_schedulable_nodes(&ctx).await?;
    ensure!(!nodes.is_empty(), "no ready schedulable nodes");
    let api = ctx.api::<Pod>();
    let mut pods = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        add_extended_resource(&ctx, &node_name, FOO, "5").await?;
        for j in 0..2 {
            let class = if pods.is_empty() { low } else { medium };
            let name = format!("pod{i}-{j}-{class}");
            create_pod(&api, pause_pod(&name, class, FOO, "2", on_node(&node_name))).await?;
            pods.push(name);
        }
    }
    ensure!(pods.len() >= 2, "need at least two pods");
    for name in &pods {
        wait_running(&api, name).await?;
    }
    if critical {
        let system: kube::Api<Pod> = kube::Api::namespaced(ctx.client.clone(), "kube-system");
        let name = ctx.name("critical-pod");
        let cleanup_name = name.clone();
        ctx.after(move |client| {
            Box::pin(async move {
                let system: kube::Api<Pod> = kube::Api::namespaced(client, "kube-system");
                let _ = system
                    .delete(&cleanup_name, &DeleteParams::default().grace_period(0))
                    .await;
            })
        });
        create_pod(
            &system,
            pause_pod(&name, "system-cluster-critical", FOO, "2", json!({})),
        )
        .await?;
        wait_running(&system, &name).await?;
    } else {
        create_pod(&api, pause_pod("preemptor-pod", high, FOO, "2", json!({}))).await?;
        wait_running(&api, "preemptor-pod").await?;
    }
    ensure!(
        preempted(&api, &pods[0]).await?,
        "expected pod {} to be preempted",
        pods[0]
    );
    for name in &pods[1..] {
        let pod = api.get(name).await.step("reading a medium pod")?;
        ensure!(
            pod.metadata.deletion_timestamp.is_none(),
            "pod {name} was preempted too"
        );
    }
    Ok(())
}

/// The preempted pod (kept by a finalizer) has a DisruptionTarget
/// condition.
async fn disruption_condition(ctx: Ctx) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    const FINALIZER: &str = "example.com/test-finalizer";
    let classes = priority_classes(&ctx, &[("low", 1), ("high", 1000)]).await?;
    let nodes = ready_schedulable_nodes(&ctx).await?;
    let node = nodes
        .first()
        .and_then(|n| n.metadata.name.clone())
        .ok_or_else(|| TestError::Assertion("no ready schedulable nodes".into()))?;
    add_extended_resource(&ctx, &node, FOO, "1").await?;
    let api = ctx.api::<Pod>();
    let mut victim = pause_pod("victim-pod", &classes[0], FOO, "1", on_node(&node));
    victim["metadata"]["finalizers"] = json!([FINALIZER]);
    create_pod(&api, victim).await?;
    let ns = ctx.ns.clone();
    ctx.after(move |client| {
        Box::pin(async move {
            let pods: kube::Api<Pod> = kube::Api::namespaced(client, &ns);
            let _ = pods
                .patch(
                    "victim-pod",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        })
    });
    wait_running(&api, "victim-pod").await?;
    create_pod(
        &api,
        pause_pod("preemptor-pod", &classes[1], FOO, "1", on_node(&node)),
    )
    .await?;
    let victim = wait_for(
        "the victim pod to be terminating",
        Duration::from_secs(60),
        || {
            let api = api.clone();
            async move {
                let pod = api.get("victim-pod").await.step("reading the victim")?;
                Ok(if pod.metadata.deletion_timestamp.is_some() {
                    Ok(pod)
                } else {
                    Err("not terminating".to_string())
                })
            }
        },
    )
    .await?;
    let has_condition = victim
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "DisruptionTarget");
    ensure!(
        has_condition,
        "the victim has no DisruptionTarget condition"
    );
    Ok(())
}

/// Three ReplicaSets (priorities 1-3) fill 950/1000 of a fake resource on
/// one node; a priority-4 pod asking for 500 preempts the pods of the two
/// lowest (once each) and keeps the third.
async fn execution_path(ctx: Ctx) -> TestResult {
    ctx.wait_for_other_test_namespaces_gone().await?;
    let classes = priority_classes(&ctx, &[("p1", 1), ("p2", 2), ("p3", 3), ("p4", 4)]).await?;
    let nodes = ready_schedulable_nodes(&ctx).await?;
    let node = nodes
        .first()
        .ok_or_else(|| TestError::Assertion("no ready schedulable nodes".into()))?;
    let hostname = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/hostname").cloned())
        .ok_or_else(|| TestError::Assertion("node has no kubernetes.io/hostname label".into()))?;
    let node_name = node.metadata.name.clone().unwrap_or_default();
    add_extended_resource(&ctx, &node_name, FAKE_CPU, "1000").await?;

    // Every pod name seen, from a watch started before the ReplicaSets.
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let watch = {
        let seen = seen.clone();
        let api = ctx.api::<Pod>();
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                if let Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = event
                    && let (Some(name), Ok(mut seen)) = (p.metadata.name, seen.lock())
                {
                    seen.insert(name);
                }
            }
        })
    };
    let selector = json!({"kubernetes.io/hostname": hostname});
    let replica_sets = ctx.api::<k8s_openapi::api::apps::v1::ReplicaSet>();
    for (i, amount) in [(1, "200"), (2, "300"), (3, "450")] {
        let pod_name = format!("pod{i}");
        let template = pause_pod(
            &pod_name,
            &classes[i - 1],
            FAKE_CPU,
            amount,
            json!({"nodeSelector": selector}),
        );
        let rs = json!({
            "metadata": {"name": format!("rs-{pod_name}")},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"name": pod_name}},
                "template": {"metadata": {"labels": {"name": pod_name}}, "spec": template["spec"]},
            }
        });
        replica_sets
            .create(&PostParams::default(), &from_json(rs)?)
            .await
            .step(format!("creating ReplicaSet rs-{pod_name}"))?;
        let rs_api = replica_sets.clone();
        let rs_name = format!("rs-{pod_name}");
        wait_for(&format!("{rs_name} to be available"), POD_START, || {
            let rs_api = rs_api.clone();
            let rs_name = rs_name.clone();
            async move {
                let rs = rs_api.get(&rs_name).await.step("reading the ReplicaSet")?;
                let available = rs.status.and_then(|s| s.available_replicas).unwrap_or(0);
                Ok(if available >= 1 {
                    Ok(())
                } else {
                    Err(format!("{available} available"))
                })
            }
        })
        .await?;
    }

    let api = ctx.api::<Pod>();
    create_pod(
        &api,
        pause_pod(
            "pod4",
            &classes[3],
            FAKE_CPU,
            "500",
            json!({"nodeSelector": selector}),
        ),
    )
    .await?;
    wait_for("pod4 to be scheduled", POD_START, || {
        let api = api.clone();
        async move {
            let pod = api.get("pod4").await.step("reading pod4")?;
            Ok(match pod.spec.and_then(|s| s.node_name) {
                Some(n) if !n.is_empty() => Ok(()),
                _ => Err("not scheduled".to_string()),
            })
        }
    })
    .await?;
    let counts = || -> BTreeMap<&'static str, usize> {
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        ["rs-pod1", "rs-pod2", "rs-pod3"]
            .into_iter()
            .map(|prefix| {
                (
                    prefix,
                    seen.iter().filter(|n| n.starts_with(prefix)).count(),
                )
            })
            .collect()
    };
    let expected = BTreeMap::from([("rs-pod1", 2), ("rs-pod2", 2), ("rs-pod3", 1)]);
    let reached = wait_for(
        "each ReplicaSet's pods to be preempted once",
        Duration::from_secs(60),
        || {
            let now = counts();
            let expected = expected.clone();
            async move {
                if now.iter().any(|(k, v)| *v > expected[k]) {
                    return Ok(Ok(Err(format!("over-preempted: {now:?}"))));
                }
                Ok(if now == expected {
                    Ok(Ok(()))
                } else {
                    Err(format!("{now:?}"))
                })
            }
        },
    )
    .await?;
    reached.map_err(TestError::Assertion)?;
    // Stable for a while: nothing preempted twice.
    tokio::time::sleep(Duration::from_secs(5)).await;
    watch.abort();
    ensure_eq!(counts(), expected, "pod names seen per ReplicaSet");
    Ok(())
}
