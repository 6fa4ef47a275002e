//! sig-cli tests on the agnhost ReplicationController of upstream's
//! `test/e2e/kubectl/kubectl.go` (`agnhost-primary-controller.json.in`):
//! `kubectl patch` annotating its pods, and `kubectl describe` of the pod,
//! the RC, its Service, a node and the namespace. The pods must be Running
//! (simulated nodes do); the container only waits, as nothing reads it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::json;

use crate::ensure;
use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, truncate, wait_for};

const SELECTOR: &str = "app=agnhost";

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl patch should add annotations for pods in rc [Conformance]",
            |c| Box::pin(patch_annotations(c)),
        )
        .with_running_pods(),
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl describe should check if kubectl describe prints relevant information for rc and pods [Conformance]",
            |c| Box::pin(describe(c)),
        )
        .with_running_pods(),
    ]
}

fn agnhost_container() -> serde_json::Value {
    let mut c = crate::images::sleeper("agnhost-primary");
    c["ports"] = json!([{"name": "agnhost-server", "containerPort": 6379}]);
    c
}

fn controller_json() -> String {
    let labels = json!({"app": "agnhost", "role": "primary"});
    json!({
        "kind": "ReplicationController",
        "apiVersion": "v1",
        "metadata": {"name": "agnhost-primary", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": labels,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [agnhost_container()]}
            }
        }
    })
    .to_string()
}

fn service_json() -> String {
    let labels = json!({"app": "agnhost", "role": "primary"});
    json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": "agnhost-primary", "labels": labels},
        "spec": {
            "ports": [{"port": 6379, "targetPort": "agnhost-server"}],
            "selector": labels
        }
    })
    .to_string()
}

/// Upstream's `waitForOrFailWithDebug(1)`: at least one Running agnhost
/// pod; returns the Running ones (`forEachPod`).
async fn running_pods(ctx: &Ctx) -> TestResult<Vec<Pod>> {
    let pods = ctx.api::<Pod>();
    wait_for("a Running agnhost pod", Duration::from_secs(120), || {
        let pods = pods.clone();
        async move {
            let running: Vec<Pod> = pods
                .list(&ListParams::default().labels(SELECTOR))
                .await
                .step("listing pods")?
                .items
                .into_iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .collect();
            Ok(if running.is_empty() {
                Err("no Running pod".to_string())
            } else {
                Ok(running)
            })
        }
    })
    .await
}

async fn patch_annotations(ctx: Ctx) -> TestResult {
    ctx.kubectl(&["create", "-f", "-"], Some(&controller_json()))
        .await?;
    for pod in running_pods(&ctx).await? {
        ctx.kubectl(
            &[
                "patch",
                "pod",
                &pod.name_any(),
                "-p",
                r#"{"metadata":{"annotations":{"x":"y"}}}"#,
            ],
            None,
        )
        .await?;
    }
    for pod in running_pods(&ctx).await? {
        ensure!(
            pod.annotations().get("x").map(String::as_str) == Some("y"),
            "pod {} lacks the added annotation x=y: {:?}",
            pod.name_any(),
            pod.annotations()
        );
    }
    Ok(())
}

/// Upstream's `checkOutput`: each requirement's first string starts a
/// line at or after the previous requirement's line; the others are on
/// that same line.
fn check_output(output: &str, required: &[&[&str]]) -> TestResult {
    let lines: Vec<&str> = output.lines().collect();
    let mut current = 0;
    for requirement in required {
        let Some((first, rest)) = requirement.split_first() else {
            continue;
        };
        while current < lines.len() && !lines[current].contains(first) {
            current += 1;
        }
        let Some(line) = lines.get(current) else {
            return Err(TestError::Assertion(format!(
                "{first:?} not found (in order) in: {}",
                truncate(output, 1500)
            )));
        };
        for item in rest {
            ensure!(
                line.contains(item),
                "{item:?} missing from the line {line:?} of: {}",
                truncate(output, 1500)
            );
        }
    }
    Ok(())
}

async fn describe(ctx: Ctx) -> TestResult {
    ctx.kubectl(&["create", "-f", "-"], Some(&controller_json()))
        .await?;
    ctx.kubectl(&["create", "-f", "-"], Some(&service_json()))
        .await?;
    let image = agnhost_container()["image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = ctx.ns.clone();
    for pod in running_pods(&ctx).await? {
        let out = ctx
            .kubectl(&["describe", "pod", &pod.name_any()], None)
            .await?;
        check_output(
            &out,
            &[
                &["Name:", "agnhost-primary-"],
                &["Namespace:", &ns],
                &["Node:"],
                &["Labels:", "app=agnhost"],
                &["role=primary"],
                &["Annotations:"],
                &["Status:", "Running"],
                &["IP:"],
                &["Controlled By:", "ReplicationController/agnhost-primary"],
                &["Image:", &image],
                &["State:", "Running"],
                &["QoS Class:", "BestEffort"],
            ],
        )?;
    }
    // Upstream retries: the RC's status may lag its pods.
    let rc_required: &[&[&str]] = &[
        &["Name:", "agnhost-primary"],
        &["Namespace:", &ns],
        &["Selector:", "app=agnhost,role=primary"],
        &["Labels:", "app=agnhost"],
        &["role=primary"],
        &["Annotations:"],
        &["Replicas:", "1 current", "1 desired"],
        &[
            "Pods Status:",
            "1 Running",
            "0 Waiting",
            "0 Succeeded",
            "0 Failed",
        ],
        &["Pod Template:"],
        &["Image:", &image],
        &["Events:"],
    ];
    wait_for("kubectl describe rc", Duration::from_secs(60), || async {
        let out = ctx
            .kubectl(&["describe", "rc", "agnhost-primary"], None)
            .await?;
        Ok(match check_output(&out, rc_required) {
            Ok(()) => Ok(()),
            Err(e) => Err(e.to_string()),
        })
    })
    .await?;
    let out = ctx
        .kubectl(&["describe", "service", "agnhost-primary"], None)
        .await?;
    check_output(
        &out,
        &[
            &["Name:", "agnhost-primary"],
            &["Namespace:", &ns],
            &["Labels:", "app=agnhost"],
            &["role=primary"],
            &["Annotations:"],
            &["Selector:", "app=agnhost", "role=primary"],
            &["Type:", "ClusterIP"],
            &["IP:"],
            &["Port:", "<unset>", "6379/TCP"],
            &["Endpoints:"],
            &["Session Affinity:", "None"],
        ],
    )?;
    let nodes = ctx
        .cluster_api::<Node>()
        .list(&ListParams::default())
        .await
        .step("listing nodes")?;
    let Some(node) = nodes.items.first() else {
        return Err(TestError::Assertion("no node to describe".into()));
    };
    let out = ctx
        .kubectl(&["describe", "node", &node.name_any()], None)
        .await?;
    check_output(
        &out,
        &[
            &["Name:", &node.name_any()],
            &["Labels:"],
            &["Annotations:"],
            &["CreationTimestamp:"],
            &["Conditions:"],
            &[
                "Type",
                "Status",
                "LastHeartbeatTime",
                "LastTransitionTime",
                "Reason",
                "Message",
            ],
            &["Addresses:"],
            &["Capacity:"],
            &["Version:"],
            &["Kernel Version:"],
            &["OS Image:"],
            &["Container Runtime Version:"],
            &["Kubelet Version:"],
            &["Kube-Proxy Version:"],
            &["Pods:"],
        ],
    )?;
    let out = ctx.kubectl(&["describe", "namespace", &ns], None).await?;
    check_output(
        &out,
        &[
            &["Name:", &ns],
            &["Labels:"],
            &["Annotations:"],
            &["Status:", "Active"],
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_output_wants_lines_in_order() {
        let out = "Name: a\nLabels: x=1\nStatus: Running\n";
        assert!(check_output(out, &[&["Name:", "a"], &["Status:", "Running"]]).is_ok());
        assert!(check_output(out, &[&["Status:"], &["Name:"]]).is_err());
        assert!(check_output(out, &[&["Labels:", "y=2"]]).is_err());
    }
}
