//! sig-node tests of what the kubelet does with one container: command and
//! args over the image's defaults, init containers, logs, a read-only root
//! filesystem, /etc/hosts entries, termination messages, security contexts
//! and resource values in the downward API. Each test runs its pods on a
//! node that runs containers and checks what they printed or the status the
//! kubelet reported, as upstream's test/e2e/common/node tests do.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Node, Pod, PodStatus};
use kube::api::{DeleteParams, LogParams, PostParams};
use serde_json::{Value, json};

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, from_json, truncate, wait_for};
use crate::images::busybox;
use crate::pod_runs::{expect_lines, output_of};

/// How long a pod may take to reach what a test waits for.
pub(super) const POD_TIMEOUT: Duration = Duration::from_secs(120);

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-node] Containers should use the image defaults if command and args are blank [NodeConformance] [Conformance]",
            |c| Box::pin(image_defaults(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Containers should be able to override the image's default arguments (container cmd) [NodeConformance] [Conformance]",
            |c| Box::pin(override_args(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Containers should be able to override the image's default command (container entrypoint) [NodeConformance] [Conformance]",
            |c| Box::pin(override_command(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Containers should be able to override the image's default command and arguments [NodeConformance] [Conformance]",
            |c| Box::pin(override_both(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] InitContainer [NodeConformance] should invoke init containers on a RestartNever pod [Conformance]",
            |c| Box::pin(init_restart_never(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] InitContainer [NodeConformance] should invoke init containers on a RestartAlways pod [Conformance]",
            |c| Box::pin(init_restart_always(c)),
        )
        .with_nodes(),
        slow(
            TestCase::upstream(
                "[sig-node] InitContainer [NodeConformance] should not start app containers if init containers fail on a RestartAlways pod [Conformance]",
                |c| Box::pin(init_fail_restart_always(c)),
            ),
            300,
        ),
        TestCase::upstream(
            "[sig-node] InitContainer [NodeConformance] should not start app containers and fail the pod if init containers fail on a RestartNever pod [Conformance]",
            |c| Box::pin(init_fail_restart_never(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Kubelet when scheduling a busybox command in a pod should print the output to logs [NodeConformance] [Conformance]",
            |c| Box::pin(busybox_logs(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Kubelet when scheduling a busybox command that always fails in a pod should have an terminated reason [NodeConformance] [Conformance]",
            |c| Box::pin(always_fails_reason(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Kubelet when scheduling a busybox command that always fails in a pod should be possible to delete [NodeConformance] [Conformance]",
            |c| Box::pin(always_fails_delete(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Kubelet when scheduling a read only busybox container should not write to root filesystem [LinuxOnly] [NodeConformance] [Conformance]",
            |c| Box::pin(read_only_root(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Kubelet when scheduling an agnhost Pod with hostAliases should write entries to /etc/hosts [NodeConformance] [Conformance]",
            |c| Box::pin(host_aliases(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Runtime blackbox test on terminated container should report termination message if TerminationMessagePath is set as non-root user and at a non-default path [NodeConformance] [Conformance]",
            |c| Box::pin(termination_non_root(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Runtime blackbox test on terminated container should report termination message from log output if TerminationMessagePolicy FallbackToLogsOnError is set [NodeConformance] [Conformance]",
            |c| Box::pin(termination_from_logs(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Runtime blackbox test on terminated container should report termination message as empty when pod succeeds and TerminationMessagePolicy FallbackToLogsOnError is set [NodeConformance] [Conformance]",
            |c| Box::pin(termination_empty_on_success(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Runtime blackbox test on terminated container should report termination message from file when pod succeeds and TerminationMessagePolicy FallbackToLogsOnError is set [NodeConformance] [Conformance]",
            |c| Box::pin(termination_from_file(c)),
        )
        .with_nodes(),
        slow(
            TestCase::upstream(
                "[sig-node] Container Runtime blackbox test when starting a container that exits should run with the expected status [NodeConformance] [Conformance]",
                |c| Box::pin(expected_status(c)),
            ),
            300,
        ),
        TestCase::upstream(
            "[sig-node] Security Context When creating a container with runAsUser should run the container with uid 65534 [LinuxOnly] [NodeConformance] [Conformance]",
            |c| Box::pin(run_as_user_65534(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Security Context should support container.SecurityContext.RunAsUser And container.SecurityContext.RunAsGroup [LinuxOnly] [Conformance]",
            |c| Box::pin(container_run_as_user_group(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Security Context should support pod.Spec.SecurityContext.RunAsUser And pod.Spec.SecurityContext.RunAsGroup [LinuxOnly] [Conformance]",
            |c| Box::pin(pod_run_as_user_group(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Security Context When creating a pod with privileged should run the container as unprivileged when false [LinuxOnly] [NodeConformance] [Conformance]",
            |c| Box::pin(unprivileged(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Security Context When creating a pod with readOnlyRootFilesystem should run the container with writable rootfs when readOnlyRootFilesystem=false [NodeConformance] [Conformance]",
            |c| Box::pin(writable_root(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Security Context when creating containers with AllowPrivilegeEscalation should not allow privilege escalation when false [LinuxOnly] [NodeConformance] [Conformance]",
            |c| Box::pin(no_privilege_escalation(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Downward API should provide container's limits.cpu/memory and requests.cpu/memory as env vars [NodeConformance] [Conformance]",
            |c| Box::pin(downward_resources(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Downward API should provide default limits.cpu/memory from node allocatable [NodeConformance] [Conformance]",
            |c| Box::pin(downward_default_limits(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] KubeletManagedEtcHosts should test kubelet managed /etc/hosts file [NodeConformance] [Conformance]",
            |c| Box::pin(managed_etc_hosts(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should allow substituting values in a volume subpath [Conformance]",
            |c| Box::pin(subpath_substitution(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should fail substituting values in a volume subpath with absolute path [Conformance]",
            |c| Box::pin(subpath_absolute_fails(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should fail substituting values in a volume subpath with backticks [Conformance]",
            |c| Box::pin(subpath_backticks_fails(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Variable Expansion should succeed in writing subpaths in container [Conformance]",
            |c| Box::pin(subpath_writing(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Sysctls [LinuxOnly] [NodeConformance] should support sysctls [MinimumKubeletVersion:1.21] [Environment:NotInUserNS] [Conformance]",
            |c| Box::pin(sysctls(c)),
        )
        .with_nodes(),
    ]
}

/// `test` with nodes and a longer timeout of `secs`.
pub(super) const fn slow(test: TestCase, secs: u64) -> TestCase {
    let mut test = test.with_nodes();
    test.timeout = Duration::from_secs(secs);
    test
}

/// A pod `name` with one busybox container `test-container` running
/// `command` (no shell unless the command is one).
pub(super) fn pod(name: &str, command: &[&str]) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "test-container",
                "image": busybox(),
                "command": command,
            }]
        }
    })
}

/// Creates `pod` (its JSON) in the test namespace.
pub(super) async fn create_pod(ctx: &Ctx, pod: Value) -> TestResult<Pod> {
    let pod: Pod = from_json(pod)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    ctx.api::<Pod>()
        .create(&PostParams::default(), &pod)
        .await
        .step(format!("creating pod {name}"))
}

/// Polls pod `name` until `check` accepts it (returns Ok).
pub(super) async fn wait_pod<T, F>(
    ctx: &Ctx,
    name: &str,
    what: &str,
    limit: Duration,
    check: F,
) -> TestResult<T>
where
    F: Fn(&Pod) -> Result<T, String>,
{
    let api = ctx.api::<Pod>();
    wait_for(&format!("pod {name}: {what}"), limit, || {
        let api = api.clone();
        let check = &check;
        async move {
            let pod = api.get(name).await.step("reading the pod")?;
            Ok(check(&pod))
        }
    })
    .await
}

pub(super) fn status(pod: &Pod) -> PodStatus {
    pod.status.clone().unwrap_or_default()
}

pub(super) fn phase(pod: &Pod) -> String {
    status(pod).phase.unwrap_or_default()
}

/// Waits until the pod's phase is `want` (and fails early on the other
/// final phase).
pub(super) async fn wait_phase(ctx: &Ctx, name: &str, want: &str) -> TestResult<Pod> {
    let pod = wait_pod(
        ctx,
        name,
        &format!("phase {want}"),
        POD_TIMEOUT,
        |pod| match phase(pod).as_str() {
            p if p == want => Ok(Ok(pod.clone())),
            p @ ("Succeeded" | "Failed") => Ok(Err(format!(
                "pod ended in phase {p}, want {want}: {:?}",
                status(pod).container_statuses
            ))),
            p => Err(format!("phase {p:?}")),
        },
    )
    .await?;
    pod.map_err(TestError::Assertion)
}

/// The status of the container `container` (init containers too).
pub(super) fn container_status(pod: &Pod, container: &str) -> Option<ContainerStatus> {
    let s = status(pod);
    s.container_statuses
        .into_iter()
        .flatten()
        .chain(s.init_container_statuses.into_iter().flatten())
        .find(|c| c.name == container)
}

/// The status of ephemeral container `container`.
pub(super) fn container_status_of_ephemeral(pod: &Pod, container: &str) -> Option<ContainerStatus> {
    status(pod)
        .ephemeral_container_statuses
        .into_iter()
        .flatten()
        .find(|c| c.name == container)
}

/// The value of condition `kind` ("True"/"False"), if reported.
pub(super) fn condition(pod: &Pod, kind: &str) -> Option<String> {
    status(pod)
        .conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == kind)
        .map(|c| c.status)
}

/// The log of `container` of pod `name`.
pub(super) async fn log_of(ctx: &Ctx, name: &str, container: &str) -> TestResult<String> {
    ctx.api::<Pod>()
        .logs(
            name,
            &LogParams {
                container: Some(container.into()),
                ..LogParams::default()
            },
        )
        .await
        .step(format!("reading the log of pod {name}"))
}

/// Waits until the log of `container` of pod `name` contains `text`.
pub(super) async fn wait_log(ctx: &Ctx, name: &str, container: &str, text: &str) -> TestResult {
    let api = ctx.api::<Pod>();
    wait_for(
        &format!("{text:?} in the log of pod {name}"),
        POD_TIMEOUT,
        || {
            let api = api.clone();
            async move {
                let log = api
                    .logs(
                        name,
                        &LogParams {
                            container: Some(container.into()),
                            ..LogParams::default()
                        },
                    )
                    .await;
                Ok(match log {
                    Ok(log) if log.contains(text) => Ok(()),
                    Ok(log) => Err(format!("log: {}", truncate(&log, 400))),
                    Err(e) => Err(e.to_string()),
                })
            }
        },
    )
    .await
}

/// Runs `command` in `container` of pod `name` (kubectl exec); its stdout.
pub(super) async fn exec(
    ctx: &Ctx,
    name: &str,
    container: &str,
    command: &[&str],
) -> TestResult<String> {
    let mut args = vec!["exec", name, "-c", container, "--"];
    args.extend_from_slice(command);
    ctx.kubectl(&args, None).await
}

// ---- Containers: command and args over the image's Entrypoint and Cmd.

/// The busybox images (upstream's e2e busybox and the local replacement)
/// have no Entrypoint and `Cmd ["sh"]`.
const IMAGE_DEFAULT_CMDLINE: &str = "sh";

async fn image_defaults(ctx: Ctx) -> TestResult {
    // No command, no args: the image's `sh`, kept alive by an open stdin.
    let name = ctx.name("client-containers");
    let mut p = pod(&name, &[]);
    let c = &mut p["spec"]["containers"][0];
    c.as_object_mut().map(|c| c.remove("command"));
    c["stdin"] = json!(true);
    create_pod(&ctx, p).await?;
    wait_phase(&ctx, &name, "Running").await?;
    let cmdline = exec(&ctx, &name, "test-container", &["cat", "/proc/1/cmdline"]).await?;
    let argv: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
    if argv.join(" ") != IMAGE_DEFAULT_CMDLINE {
        return Err(TestError::Assertion(format!(
            "the container runs {argv:?}, want the image's default {IMAGE_DEFAULT_CMDLINE:?}"
        )));
    }
    Ok(())
}

/// Runs `container` (merged into a busybox container) to completion and
/// expects exactly `want` as its output.
async fn expect_output(ctx: &Ctx, container: Value, want: &str) -> TestResult {
    let mut p = pod(&ctx.name("client-containers"), &[]);
    let c = &mut p["spec"]["containers"][0];
    c.as_object_mut().map(|c| c.remove("command"));
    if let (Some(c), Some(extra)) = (c.as_object_mut(), container.as_object()) {
        c.extend(extra.clone());
    }
    let out = output_of(ctx, p).await?;
    if out.trim_end() != want {
        return Err(TestError::Assertion(format!(
            "the container printed {:?}, want {want:?}",
            truncate(&out, 400)
        )));
    }
    Ok(())
}

async fn override_args(ctx: Ctx) -> TestResult {
    // args replace the image's Cmd (the image has no Entrypoint).
    expect_output(
        &ctx,
        json!({"args": ["echo", "override", "arguments"]}),
        "override arguments",
    )
    .await
}

async fn override_command(ctx: Ctx) -> TestResult {
    // command replaces the Entrypoint, and the image's Cmd is not appended.
    expect_output(
        &ctx,
        json!({"command": ["echo", "override", "command"]}),
        "override command",
    )
    .await
}

async fn override_both(ctx: Ctx) -> TestResult {
    expect_output(
        &ctx,
        json!({"command": ["echo"], "args": ["override", "arguments"]}),
        "override arguments",
    )
    .await
}

// ---- InitContainer

fn init_pod(name: &str, restart: &str, init: &[(&str, &str)], app: Value) -> Value {
    let init: Vec<Value> = init
        .iter()
        .map(|(n, cmd)| json!({"name": n, "image": busybox(), "command": [cmd]}))
        .collect();
    json!({
        "metadata": {"name": name, "labels": {"name": "foo"}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "initContainers": init,
            "containers": [app]
        }
    })
}

fn terminated(pod: &Pod, container: &str) -> Option<(i32, String)> {
    container_status(pod, container)
        .and_then(|s| s.state)
        .and_then(|s| s.terminated)
        .map(|t| (t.exit_code, t.reason.unwrap_or_default()))
}

/// Both init containers ran to completion, in order, and Initialized is True.
fn check_inits_completed(pod: &Pod) -> TestResult {
    let statuses = status(pod).init_container_statuses.unwrap_or_default();
    let names: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
    if names != ["init1", "init2"] {
        return Err(TestError::Assertion(format!(
            "initContainerStatuses name {names:?}, want [init1, init2]"
        )));
    }
    for s in &statuses {
        let t = s.state.as_ref().and_then(|st| st.terminated.as_ref());
        match t {
            Some(t) if t.exit_code == 0 && t.reason.as_deref() == Some("Completed") => {}
            _ => {
                return Err(TestError::Assertion(format!(
                    "init container {} did not complete: {:?}",
                    s.name, s.state
                )));
            }
        }
    }
    let finished = |i: usize| {
        statuses[i]
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.clone())
    };
    let started = |i: usize| {
        statuses[i]
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.started_at.clone())
    };
    if let (Some(f), Some(s)) = (finished(0), started(1))
        && s.0 < f.0
    {
        return Err(TestError::Assertion(format!(
            "init2 started at {} before init1 finished at {}",
            s.0, f.0
        )));
    }
    if condition(pod, "Initialized").as_deref() != Some("True") {
        return Err(TestError::Assertion(format!(
            "condition Initialized is {:?}, want True",
            condition(pod, "Initialized")
        )));
    }
    Ok(())
}

async fn init_restart_never(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-init");
    let app = json!({"name": "run1", "image": busybox(), "command": ["true"]});
    create_pod(
        &ctx,
        init_pod(&name, "Never", &[("init1", "true"), ("init2", "true")], app),
    )
    .await?;
    let pod = wait_phase(&ctx, &name, "Succeeded").await?;
    check_inits_completed(&pod)?;
    match terminated(&pod, "run1") {
        Some((0, _)) => Ok(()),
        other => Err(TestError::Assertion(format!(
            "app container run1: {other:?}, want exit code 0"
        ))),
    }
}

async fn init_restart_always(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-init");
    let app = json!({"name": "run1", "image": busybox(), "command": ["sleep", "3600"]});
    create_pod(
        &ctx,
        init_pod(
            &name,
            "Always",
            &[("init1", "true"), ("init2", "true")],
            app,
        ),
    )
    .await?;
    let pod = wait_pod(&ctx, &name, "Running and Ready", POD_TIMEOUT, |pod| {
        if phase(pod) == "Running" && condition(pod, "Ready").as_deref() == Some("True") {
            Ok(pod.clone())
        } else {
            Err(format!(
                "phase {:?}, conditions {:?}",
                phase(pod),
                status(pod).conditions
            ))
        }
    })
    .await?;
    check_inits_completed(&pod)
}

/// The pod has not started its app container and is not initialized.
fn check_not_started(pod: &Pod) -> Result<(), String> {
    let run1 = container_status(pod, "run1").and_then(|s| s.state);
    if run1
        .as_ref()
        .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
    {
        return Err(format!("app container run1 started: {run1:?}"));
    }
    if condition(pod, "Initialized").as_deref() == Some("True") {
        return Err("condition Initialized is True".into());
    }
    if condition(pod, "Ready").as_deref() == Some("True") {
        return Err("condition Ready is True".into());
    }
    Ok(())
}

async fn init_fail_restart_always(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-init");
    let app = json!({"name": "run1", "image": busybox(), "command": ["sleep", "3600"]});
    create_pod(
        &ctx,
        init_pod(
            &name,
            "Always",
            &[("init1", "false"), ("init2", "true")],
            app,
        ),
    )
    .await?;
    // init1 keeps failing and restarting (with back-off); init2 and the
    // app container never start, the pod stays Pending.
    let outcome = wait_pod(
        &ctx,
        &name,
        "init1 restarted 3 times",
        Duration::from_secs(240),
        |pod| {
            let checks = || -> Result<(), String> {
                if phase(pod) != "Pending" {
                    return Err(format!("phase {:?}, want Pending", phase(pod)));
                }
                check_not_started(pod)?;
                let init2 = container_status(pod, "init2").and_then(|s| s.state);
                if init2
                    .as_ref()
                    .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
                {
                    return Err(format!("init2 ran after init1 failed: {init2:?}"));
                }
                Ok(())
            };
            if let Err(e) = checks() {
                return Ok(Err(e));
            }
            match container_status(pod, "init1") {
                Some(s) if s.restart_count >= 3 => Ok(Ok(())),
                s => Err(format!(
                    "init1 restartCount {:?}",
                    s.map(|s| s.restart_count)
                )),
            }
        },
    )
    .await?;
    outcome.map_err(TestError::Assertion)
}

async fn init_fail_restart_never(ctx: Ctx) -> TestResult {
    let name = ctx.name("pod-init");
    let app = json!({"name": "run1", "image": busybox(), "command": ["true"]});
    create_pod(
        &ctx,
        init_pod(
            &name,
            "Never",
            &[("init1", "true"), ("init2", "false")],
            app,
        ),
    )
    .await?;
    let pod = wait_phase(&ctx, &name, "Failed").await?;
    check_not_started(&pod).map_err(TestError::Assertion)?;
    match (terminated(&pod, "init1"), terminated(&pod, "init2")) {
        (Some((0, _)), Some((code, _))) if code != 0 => Ok(()),
        other => Err(TestError::Assertion(format!(
            "init1/init2 terminations {other:?}, want init1 exit 0 and init2 a failure"
        ))),
    }
}

// ---- Kubelet

async fn busybox_logs(ctx: Ctx) -> TestResult {
    let name = ctx.name("busybox-scheduling");
    let mut p = pod(&name, &["sh", "-c", "echo 'Hello World'; sleep 240"]);
    p["spec"]["restartPolicy"] = json!("Never");
    create_pod(&ctx, p).await?;
    wait_log(&ctx, &name, "test-container", "Hello World").await
}

async fn bin_false(ctx: &Ctx) -> TestResult<String> {
    let name = ctx.name("bin-false");
    let mut p = pod(&name, &["false"]);
    p["spec"]["restartPolicy"] = json!("Never");
    create_pod(ctx, p).await?;
    Ok(name)
}

async fn always_fails_reason(ctx: Ctx) -> TestResult {
    let name = bin_false(&ctx).await?;
    let (code, reason) = wait_pod(&ctx, &name, "a terminated container", POD_TIMEOUT, |pod| {
        terminated(pod, "test-container")
            .ok_or_else(|| format!("{:?}", status(pod).container_statuses))
    })
    .await?;
    if reason.is_empty() || code == 0 {
        return Err(TestError::Assertion(format!(
            "terminated with exit code {code} and reason {reason:?}, want a failure with a reason"
        )));
    }
    Ok(())
}

async fn always_fails_delete(ctx: Ctx) -> TestResult {
    let name = bin_false(&ctx).await?;
    let api = ctx.api::<Pod>();
    api.delete(&name, &DeleteParams::default())
        .await
        .step("deleting the pod")?;
    wait_for(&format!("pod {name} to be gone"), POD_TIMEOUT, || {
        let api = api.clone();
        let name = name.clone();
        async move {
            Ok(match api.get_opt(&name).await.step("reading the pod")? {
                None => Ok(()),
                Some(p) => Err(format!("still there, phase {:?}", phase(&p))),
            })
        }
    })
    .await
}

async fn read_only_root(ctx: Ctx) -> TestResult {
    let name = ctx.name("busybox-readonly-fs");
    let mut p = pod(&name, &["sh", "-c", "echo test > /file; sleep 240"]);
    p["spec"]["restartPolicy"] = json!("Never");
    p["spec"]["containers"][0]["securityContext"] = json!({"readOnlyRootFilesystem": true});
    create_pod(&ctx, p).await?;
    wait_log(
        &ctx,
        &name,
        "test-container",
        "/file: Read-only file system",
    )
    .await
}

async fn host_aliases(ctx: Ctx) -> TestResult {
    let name = ctx.name("busybox-host-aliases");
    let mut p = pod(&name, &["sh", "-c", "cat /etc/hosts; sleep 6000"]);
    p["spec"]["restartPolicy"] = json!("Never");
    p["spec"]["hostAliases"] = json!([{"ip": "123.45.67.89", "hostnames": ["foo", "bar"]}]);
    create_pod(&ctx, p).await?;
    wait_log(&ctx, &name, "test-container", "123.45.67.89\tfoo\tbar").await
}

// ---- Container Runtime: termination messages

/// Runs `container` (merged into the test container) with
/// restartPolicy Never until phase `want`; returns the termination message.
async fn termination_message(
    ctx: &Ctx,
    container: Value,
    want: &str,
) -> TestResult<Option<String>> {
    let name = ctx.name("termination-message");
    let mut p = pod(&name, &[]);
    p["spec"]["restartPolicy"] = json!("Never");
    if let (Some(c), Some(extra)) = (
        p["spec"]["containers"][0].as_object_mut(),
        container.as_object(),
    ) {
        c.extend(extra.clone());
    }
    create_pod(ctx, p).await?;
    let pod = wait_phase(ctx, &name, want).await?;
    let s = container_status(&pod, "test-container")
        .ok_or_else(|| TestError::Assertion("no container status".into()))?;
    if s.ready {
        return Err(TestError::Assertion(
            "a terminated container is ready".into(),
        ));
    }
    let t = s
        .state
        .and_then(|s| s.terminated)
        .ok_or_else(|| TestError::Assertion("the container is not terminated".into()))?;
    Ok(t.message)
}

fn expect_message(got: Option<String>, want: &str) -> TestResult {
    if got.as_deref().unwrap_or_default() != want {
        return Err(TestError::Assertion(format!(
            "termination message {got:?}, want {want:?}"
        )));
    }
    Ok(())
}

async fn termination_non_root(ctx: Ctx) -> TestResult {
    let container = json!({
        "command": ["sh", "-c", "echo -n DONE > /dev/termination-custom-log"],
        "terminationMessagePath": "/dev/termination-custom-log",
        "securityContext": {"runAsUser": 1000}
    });
    expect_message(
        termination_message(&ctx, container, "Succeeded").await?,
        "DONE",
    )
}

async fn termination_from_logs(ctx: Ctx) -> TestResult {
    let container = json!({
        "command": ["sh", "-c", "echo -n DONE; false"],
        "terminationMessagePolicy": "FallbackToLogsOnError"
    });
    expect_message(
        termination_message(&ctx, container, "Failed").await?,
        "DONE",
    )
}

async fn termination_empty_on_success(ctx: Ctx) -> TestResult {
    // The log is not used when the container succeeds.
    let container = json!({
        "command": ["sh", "-c", "echo -n DONE"],
        "terminationMessagePolicy": "FallbackToLogsOnError"
    });
    expect_message(termination_message(&ctx, container, "Succeeded").await?, "")
}

async fn termination_from_file(ctx: Ctx) -> TestResult {
    let container = json!({
        "command": ["sh", "-c", "echo -n OK > /dev/termination-log; echo -n DONE"],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError"
    });
    expect_message(
        termination_message(&ctx, container, "Succeeded").await?,
        "OK",
    )
}

// ---- Container Runtime: status of a container that exits

/// Exits 1 on its first run, 0 on its second, then keeps running (the
/// runs are counted in a file of the pod's emptyDir).
const EXIT_SCRIPT: &str = "f=/restart-count/restartCount; echo hello >> $f; count=$(wc -l < $f); \
    if [ $count -eq 1 ]; then exit 1; fi; if [ $count -eq 2 ]; then exit 0; fi; \
    trap 'exit 0' TERM; while true; do sleep 1; done";

async fn expected_status(ctx: Ctx) -> TestResult {
    // (restartPolicy, restarts, phase, ready, running)
    let cases = [
        ("Always", "rpa", 2, "Running", true, true),
        ("OnFailure", "rpof", 1, "Succeeded", false, false),
        ("Never", "rpn", 0, "Failed", false, false),
    ];
    for (policy, suffix, restarts, want_phase, want_ready, want_running) in cases {
        let name = ctx.name(&format!("terminate-cmd-{suffix}"));
        let mut p = pod(&name, &["sh", "-c", EXIT_SCRIPT]);
        p["spec"]["restartPolicy"] = json!(policy);
        p["spec"]["volumes"] = json!([{"name": "restart-count", "emptyDir": {}}]);
        p["spec"]["containers"][0]["volumeMounts"] =
            json!([{"name": "restart-count", "mountPath": "/restart-count"}]);
        create_pod(&ctx, p).await?;
        let what = format!(
            "restartPolicy {policy}: restartCount {restarts}, phase {want_phase}, ready {want_ready}, running {want_running}"
        );
        wait_pod(&ctx, &name, &what, Duration::from_secs(150), |pod| {
            let s = container_status(pod, "test-container");
            let count = s.as_ref().map_or(-1, |s| s.restart_count);
            let ready = s.as_ref().is_some_and(|s| s.ready);
            let state = s.and_then(|s| s.state).unwrap_or_default();
            let running = state.running.is_some();
            let settled = if want_running {
                running
            } else {
                state.terminated.is_some()
            };
            if count == restarts && phase(pod) == want_phase && ready == want_ready && settled {
                Ok(())
            } else {
                Err(format!(
                    "restartCount {count}, phase {:?}, ready {ready}, state {state:?}",
                    phase(pod)
                ))
            }
        })
        .await?;
        ctx.api::<Pod>()
            .delete(&name, &DeleteParams::default())
            .await
            .step(format!("deleting pod {name}"))?;
    }
    Ok(())
}

// ---- Security Context

/// The output of `script` (sh -c) run to completion in a pod whose spec
/// gets `pod_sc` and whose container gets `container_sc`.
async fn output_with(
    ctx: &Ctx,
    script: &str,
    pod_sc: Option<Value>,
    container_sc: Option<Value>,
) -> TestResult<String> {
    let mut p = pod(&ctx.name("security-context"), &["sh", "-c", script]);
    if let Some(sc) = pod_sc {
        p["spec"]["securityContext"] = sc;
    }
    if let Some(sc) = container_sc {
        p["spec"]["containers"][0]["securityContext"] = sc;
    }
    output_of(ctx, p).await
}

async fn run_as_user_65534(ctx: Ctx) -> TestResult {
    let out = output_with(&ctx, "id -u", None, Some(json!({"runAsUser": 65534}))).await?;
    expect_lines(&out, &["65534".into()], "uid")
}

async fn container_run_as_user_group(ctx: Ctx) -> TestResult {
    // The container's values win over the pod's.
    let out = output_with(
        &ctx,
        "echo uid=$(id -u) gid=$(id -g)",
        Some(json!({"runAsUser": 2001, "runAsGroup": 3002})),
        Some(json!({"runAsUser": 1001, "runAsGroup": 2002})),
    )
    .await?;
    expect_lines(
        &out,
        &["uid=1001 gid=2002".into()],
        "container runAsUser/runAsGroup",
    )
}

async fn pod_run_as_user_group(ctx: Ctx) -> TestResult {
    let out = output_with(
        &ctx,
        "echo uid=$(id -u) gid=$(id -g)",
        Some(json!({"runAsUser": 1001, "runAsGroup": 2002})),
        None,
    )
    .await?;
    expect_lines(
        &out,
        &["uid=1001 gid=2002".into()],
        "pod runAsUser/runAsGroup",
    )
}

async fn unprivileged(ctx: Ctx) -> TestResult {
    let out = output_with(
        &ctx,
        "ip link add dummy0 type dummy 2>&1 || true",
        None,
        Some(json!({"privileged": false})),
    )
    .await?;
    if !out.contains("Operation not permitted") {
        return Err(TestError::Assertion(format!(
            "an unprivileged container added a link: {}",
            truncate(&out, 400)
        )));
    }
    Ok(())
}

async fn writable_root(ctx: Ctx) -> TestResult {
    let out = output_with(
        &ctx,
        "echo written > /checkfile && cat /checkfile",
        None,
        Some(json!({"readOnlyRootFilesystem": false})),
    )
    .await?;
    expect_lines(&out, &["written".into()], "file on the root filesystem")
}

async fn no_privilege_escalation(ctx: Ctx) -> TestResult {
    // Upstream runs a setuid binary; the local image has none, so this
    // checks the mechanism that stops it: no_new_privs on the process.
    let out = output_with(
        &ctx,
        "grep NoNewPrivs /proc/self/status; id -u",
        None,
        Some(json!({"runAsUser": 1000, "allowPrivilegeEscalation": false})),
    )
    .await?;
    expect_lines(
        &out,
        &["NoNewPrivs:\t1".into(), "1000".into()],
        "process without privilege escalation",
    )
}

// ---- Downward API resources

fn resource_env(var: &str, resource: &str) -> Value {
    json!({"name": var, "valueFrom": {"resourceFieldRef": {"resource": resource}}})
}

fn resource_envs() -> Value {
    json!([
        resource_env("CPU_LIMIT", "limits.cpu"),
        resource_env("MEMORY_LIMIT", "limits.memory"),
        resource_env("CPU_REQUEST", "requests.cpu"),
        resource_env("MEMORY_REQUEST", "requests.memory"),
    ])
}

async fn downward_resources(ctx: Ctx) -> TestResult {
    let mut p = pod(&ctx.name("downward-api"), &["env"]);
    let c = &mut p["spec"]["containers"][0];
    c["env"] = resource_envs();
    c["resources"] = json!({
        "requests": {"cpu": "250m", "memory": "32Mi"},
        "limits": {"cpu": "1250m", "memory": "64Mi"}
    });
    let out = output_of(&ctx, p).await?;
    // CPU rounds up to whole cores (divisor 1).
    expect_lines(
        &out,
        &[
            "CPU_LIMIT=2".into(),
            "MEMORY_LIMIT=67108864".into(),
            "CPU_REQUEST=1".into(),
            "MEMORY_REQUEST=33554432".into(),
        ],
        "resource values",
    )
}

fn cores(q: &str) -> Option<u64> {
    match q.strip_suffix('m') {
        Some(m) => m.parse::<u64>().ok().map(|m| m.div_ceil(1000)),
        None => q.parse::<f64>().ok().map(|c| c.ceil() as u64),
    }
}

fn bytes(q: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, factor) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

async fn downward_default_limits(ctx: Ctx) -> TestResult {
    let name = ctx.name("downward-api");
    let mut p = pod(&name, &["env"]);
    p["spec"]["containers"][0]["env"] = json!([
        resource_env("CPU_LIMIT", "limits.cpu"),
        resource_env("MEMORY_LIMIT", "limits.memory"),
    ]);
    let out = output_of(&ctx, p).await?;
    // Without limits the values are the node's allocatable.
    let pod = ctx.api::<Pod>().get(&name).await.step("reading the pod")?;
    let node_name = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
    let node = ctx
        .cluster_api::<Node>()
        .get(&node_name)
        .await
        .step(format!("reading node {node_name}"))?;
    let alloc = node.status.and_then(|s| s.allocatable).unwrap_or_default();
    let cpu = alloc.get("cpu").and_then(|q| cores(&q.0));
    let memory = alloc.get("memory").and_then(|q| bytes(&q.0));
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(TestError::Assertion(format!(
            "node {node_name} reports no allocatable cpu/memory: {alloc:?}"
        )));
    };
    expect_lines(
        &out,
        &[format!("CPU_LIMIT={cpu}"), format!("MEMORY_LIMIT={memory}")],
        "default limits from node allocatable",
    )
}

// ---- KubeletManagedEtcHosts

const MANAGED_HOSTS: &str = "# Kubernetes-managed hosts file.";

fn etc_hosts_container(name: &str) -> Value {
    json!({"name": name, "image": busybox(), "command": ["sleep", "900"]})
}

/// Whether /etc/hosts in `container` of pod `pod` is the kubelet's.
async fn hosts_managed(ctx: &Ctx, pod: &str, container: &str) -> TestResult<bool> {
    let hosts = exec(ctx, pod, container, &["cat", "/etc/hosts"]).await?;
    Ok(hosts.contains(MANAGED_HOSTS))
}

async fn managed_etc_hosts(ctx: Ctx) -> TestResult {
    // busybox-1 and -2 get the kubelet's file; busybox-3 mounts the node's
    // /etc/hosts itself, and a hostNetwork pod keeps the node's file.
    let name = ctx.name("test-pod");
    let mut three = etc_hosts_container("busybox-3");
    three["volumeMounts"] = json!([{"name": "host-etc-hosts", "mountPath": "/etc/hosts"}]);
    create_pod(
        &ctx,
        json!({
            "metadata": {"name": name},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "volumes": [{"name": "host-etc-hosts", "hostPath": {"path": "/etc/hosts"}}],
                "containers": [etc_hosts_container("busybox-1"), etc_hosts_container("busybox-2"), three]
            }
        }),
    )
    .await?;
    let host_name = ctx.name("test-host-network-pod");
    create_pod(
        &ctx,
        json!({
            "metadata": {"name": host_name},
            "spec": {
                "hostNetwork": true,
                "terminationGracePeriodSeconds": 0,
                "containers": [etc_hosts_container("busybox-1"), etc_hosts_container("busybox-2")]
            }
        }),
    )
    .await?;
    wait_phase(&ctx, &name, "Running").await?;
    wait_phase(&ctx, &host_name, "Running").await?;
    let cases = [
        (&name, "busybox-1", true),
        (&name, "busybox-2", true),
        (&name, "busybox-3", false),
        (&host_name, "busybox-1", false),
        (&host_name, "busybox-2", false),
    ];
    for (pod, container, managed) in cases {
        if hosts_managed(&ctx, pod, container).await? != managed {
            return Err(TestError::Assertion(format!(
                "/etc/hosts of {pod}/{container}: kubelet-managed should be {managed}"
            )));
        }
    }
    Ok(())
}

// ---- Variable Expansion in subPathExpr

fn subpath_pod(name: &str, env: Value, script: &str, expr: &str) -> Value {
    json!({
        "metadata": {"name": name, "annotations": {"mysubpath": "mypath/foo"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "volumes": [{"name": "workdir1", "emptyDir": {}}],
            "containers": [{
                "name": "dapi-container",
                "image": busybox(),
                "command": ["sh", "-c", script],
                "env": env,
                "volumeMounts": [
                    {"name": "workdir1", "mountPath": "/subpath_mount", "subPathExpr": expr},
                    {"name": "workdir1", "mountPath": "/volume_mount"}
                ]
            }]
        }
    })
}

async fn subpath_substitution(ctx: Ctx) -> TestResult {
    let name = ctx.name("var-expansion");
    let env =
        json!([{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]);
    // The subPath directory, named after the pod, exists in the volume.
    let script = format!("test -d /volume_mount/{name}; echo $?");
    let out = output_of(&ctx, subpath_pod(&name, env, &script, "$(POD_NAME)")).await?;
    expect_lines(&out, &["0".into()], "subPath directory from subPathExpr")
}

/// A subPathExpr expanding to `value` must keep the container from being
/// created (CreateContainerConfigError) and the pod from running.
async fn subpath_fails(ctx: &Ctx, value: &str) -> TestResult {
    let name = ctx.name("var-expansion");
    let env = json!([{"name": "POD_NAME", "value": value}]);
    create_pod(ctx, subpath_pod(&name, env, "sleep 600", "$(POD_NAME)")).await?;
    wait_pod(
        ctx,
        &name,
        "CreateContainerConfigError",
        POD_TIMEOUT,
        |pod| {
            let s = container_status(pod, "dapi-container").and_then(|s| s.state);
            if s.as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
            {
                return Ok(Err(format!(
                    "the container ran with subPath {value:?}: {s:?}"
                )));
            }
            match s.and_then(|s| s.waiting).and_then(|w| w.reason) {
                Some(r) if r == "CreateContainerConfigError" => Ok(Ok(())),
                r => Err(format!("waiting reason {r:?}")),
            }
        },
    )
    .await?
    .map_err(TestError::Assertion)
}

async fn subpath_absolute_fails(ctx: Ctx) -> TestResult {
    subpath_fails(&ctx, "/tmp").await
}

async fn subpath_backticks_fails(ctx: Ctx) -> TestResult {
    // Upstream's "backticks" case: a value that climbs out of the volume.
    subpath_fails(&ctx, "..").await
}

async fn subpath_writing(ctx: Ctx) -> TestResult {
    let name = ctx.name("var-expansion");
    let env = json!([{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['mysubpath']"}}}]);
    create_pod(&ctx, subpath_pod(&name, env, "sleep 600", "$(POD_NAME)")).await?;
    wait_phase(&ctx, &name, "Running").await?;
    exec(
        &ctx,
        &name,
        "dapi-container",
        &["touch", "/volume_mount/mypath/foo/test.log"],
    )
    .await?;
    exec(
        &ctx,
        &name,
        "dapi-container",
        &["test", "-f", "/subpath_mount/test.log"],
    )
    .await?;
    exec(
        &ctx,
        &name,
        "dapi-container",
        &["touch", "/subpath_mount/written.log"],
    )
    .await?;
    exec(
        &ctx,
        &name,
        "dapi-container",
        &["test", "-f", "/volume_mount/mypath/foo/written.log"],
    )
    .await?;
    Ok(())
}

// ---- Sysctls

async fn sysctls(ctx: Ctx) -> TestResult {
    let mut p = pod(&ctx.name("sysctl"), &["sysctl", "kernel.shm_rmid_forced"]);
    p["spec"]["securityContext"] =
        json!({"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]});
    let out = output_of(&ctx, p).await?;
    expect_lines(
        &out,
        &["kernel.shm_rmid_forced = 1".into()],
        "sysctl in the pod",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_upstream_rounds_them() {
        assert_eq!(cores("1250m"), Some(2));
        assert_eq!(cores("4"), Some(4));
        assert_eq!(bytes("16318060Ki"), Some(16318060 * 1024));
        assert_eq!(bytes("64Mi"), Some(64 << 20));
        assert_eq!(bytes("123"), Some(123));
    }
}
