//! Pods that run to completion: create one with `restartPolicy: Never`,
//! wait for it to succeed, and read its log, which is how upstream's
//! `TestContainerOutput` checks what a container saw (env, files).

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{LogParams, PostParams};

use crate::framework::{Ctx, Step, TestError, TestResult, from_json, truncate, wait_for};

/// How long a pod may take to be scheduled, start and finish.
const COMPLETION_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `pod` (its JSON; `restartPolicy` is set to Never) in the test
/// namespace until it succeeds; returns the log of its first container.
pub async fn output_of(ctx: &Ctx, mut pod: serde_json::Value) -> TestResult<String> {
    pod["spec"]["restartPolicy"] = "Never".into();
    let pod: Pod = from_json(pod)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let container = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let api = ctx.api::<Pod>();
    api.create(&PostParams::default(), &pod)
        .await
        .step(format!("creating pod {name}"))?;
    let phase = wait_for(&format!("pod {name} to finish"), COMPLETION_TIMEOUT, || {
        let api = api.clone();
        let name = name.clone();
        async move {
            let pod = api.get(&name).await.step("reading the pod")?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            Ok(match phase.as_str() {
                "Succeeded" | "Failed" => Ok(phase),
                other => Err(format!("phase {other:?}")),
            })
        }
    })
    .await?;
    let log = api
        .logs(
            &name,
            &LogParams {
                container: Some(container),
                ..LogParams::default()
            },
        )
        .await
        .step(format!("reading the log of pod {name}"))?;
    if phase != "Succeeded" {
        return Err(TestError::Assertion(format!(
            "pod {name} failed; its log: {}",
            truncate(&log, 600)
        )));
    }
    Ok(log)
}

/// Fails unless every line of `expected` is a line of `output`.
pub fn expect_lines(output: &str, expected: &[String], what: &str) -> TestResult {
    for line in expected {
        if !output.lines().any(|l| l == line) {
            return Err(TestError::Assertion(format!(
                "{what}: line {line:?} missing from the container's output: {}",
                truncate(output, 800)
            )));
        }
    }
    Ok(())
}
