//! sig-node Ephemeral Containers tests (test/e2e/common/node/
//! ephemeral_containers.go): a container added to a running pod through
//! the `pods/ephemeralcontainers` subresource (read, append, replace)
//! starts, can be exec'd and logs; the list can be updated with a second one.

use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use serde_json::{Value, json};

use super::node_containers::{
    POD_TIMEOUT, container_status_of_ephemeral, create_pod, exec, pod, wait_log, wait_phase,
    wait_pod,
};
use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json};
use crate::images::busybox;

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-node] Ephemeral Containers [NodeConformance] will start an ephemeral container in an existing pod [Conformance]",
            |c| Box::pin(start_ephemeral(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Ephemeral Containers [NodeConformance] should update the ephemeral containers in an existing pod [Conformance]",
            |c| Box::pin(update_ephemeral(c)),
        )
        .with_nodes(),
    ]
}

fn debugger(name: &str) -> Value {
    json!({
        "name": name,
        "image": busybox(),
        "command": ["sh", "-c", "while true; do echo polo; sleep 2; done"],
        "stdin": true,
        "tty": true
    })
}

/// A running target pod; its name.
async fn target_pod(ctx: &Ctx) -> TestResult<String> {
    let name = ctx.name("ephemeral-containers-target-pod");
    let mut p = pod(&name, &["sleep", "600"]);
    p["spec"]["containers"][0]["name"] = json!("test-container-1");
    create_pod(ctx, p).await?;
    wait_phase(ctx, &name, "Running").await?;
    Ok(name)
}

/// Waits until ephemeral container `container` of pod `name` runs.
async fn wait_ephemeral_running(ctx: &Ctx, name: &str, container: &str) -> TestResult {
    wait_pod(
        ctx,
        name,
        &format!("ephemeral container {container} running"),
        POD_TIMEOUT,
        |pod| match container_status_of_ephemeral(pod, container).and_then(|s| s.state) {
            Some(s) if s.running.is_some() => Ok(()),
            s => Err(format!("state {s:?}")),
        },
    )
    .await
}

/// The ephemeral container answers exec and logs.
async fn check_debugger(ctx: &Ctx, name: &str, container: &str) -> TestResult {
    let out = exec(ctx, name, container, &["echo", "marco"]).await?;
    if !out.contains("marco") {
        return Err(TestError::Assertion(format!(
            "exec in ephemeral container {container} printed {out:?}, want marco"
        )));
    }
    wait_log(ctx, name, container, "polo").await
}

/// Adds `container` to the pod's ephemeral containers (read the
/// subresource, append, replace it); returns the names after the update.
async fn add_ephemeral(ctx: &Ctx, name: &str, container: Value) -> TestResult<Vec<String>> {
    let api = ctx.api::<Pod>();
    let mut current = api
        .get_ephemeral_containers(name)
        .await
        .step("reading the ephemeral containers")?;
    let spec = current
        .spec
        .as_mut()
        .ok_or_else(|| TestError::Assertion("the pod has no spec".into()))?;
    spec.ephemeral_containers
        .get_or_insert_with(Vec::new)
        .push(from_json(container)?);
    let updated = api
        .replace_ephemeral_containers(name, &PostParams::default(), &current)
        .await
        .step("updating the ephemeral containers")?;
    Ok(updated
        .spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .map(|c| c.name.clone())
        .collect())
}

async fn start_ephemeral(ctx: Ctx) -> TestResult {
    let name = target_pod(&ctx).await?;
    let names = add_ephemeral(&ctx, &name, debugger("debugger")).await?;
    if names != ["debugger"] {
        return Err(TestError::Assertion(format!(
            "ephemeral containers after the update: {names:?}, want [debugger]"
        )));
    }
    wait_ephemeral_running(&ctx, &name, "debugger").await?;
    check_debugger(&ctx, &name, "debugger").await
}

async fn update_ephemeral(ctx: Ctx) -> TestResult {
    let name = target_pod(&ctx).await?;
    add_ephemeral(&ctx, &name, debugger("debugger")).await?;
    wait_ephemeral_running(&ctx, &name, "debugger").await?;
    let names = add_ephemeral(&ctx, &name, debugger("debugger2")).await?;
    if names != ["debugger", "debugger2"] {
        return Err(TestError::Assertion(format!(
            "ephemeral containers after the update: {names:?}, want [debugger, debugger2]"
        )));
    }
    wait_ephemeral_running(&ctx, &name, "debugger2").await?;
    check_debugger(&ctx, &name, "debugger2").await
}
