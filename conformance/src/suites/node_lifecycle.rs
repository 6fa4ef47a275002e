//! sig-node tests of what the kubelet runs around a container: lifecycle
//! hooks (postStart/preStop, exec and httpGet) and liveness/readiness
//! probes (exec, httpGet, tcpSocket). Upstream's handler pod (agnhost
//! netexec, which logs every request) is a busybox `httpd` here whose
//! CGI script `/cgi-bin/echo` writes `GET <uri>` to the container's log;
//! upstream's agnhost liveness server is `httpd` serving a file that the
//! container removes when it should turn unhealthy.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use serde_json::{Value, json};

use super::node_containers::{
    POD_TIMEOUT, condition, container_status, create_pod, phase, pod, slow, wait_log, wait_phase,
    wait_pod,
};
use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, wait_for};
use crate::images::busybox;

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart exec hook properly [NodeConformance] [Conformance]",
            |c| Box::pin(post_start_exec(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute poststart http hook properly [NodeConformance] [Conformance]",
            |c| Box::pin(post_start_http(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute prestop exec hook properly [NodeConformance] [Conformance]",
            |c| Box::pin(pre_stop_exec(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] Container Lifecycle Hook when create a pod with lifecycle hook should execute prestop http hook properly [NodeConformance] [Conformance]",
            |c| Box::pin(pre_stop_http(c)),
        )
        .with_nodes(),
        TestCase::upstream(
            "[sig-node] PreStop should call prestop when killing a pod [Conformance]",
            |c| Box::pin(prestop_when_killing(c)),
        )
        .with_nodes(),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container should be restarted with a exec \"cat /tmp/health\" liveness probe [NodeConformance] [Conformance]",
                |c| Box::pin(liveness_exec_restarts(c)),
            ),
            240,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container should *not* be restarted with a exec \"cat /tmp/health\" liveness probe [NodeConformance] [Conformance]",
                |c| Box::pin(liveness_exec_healthy(c)),
            ),
            240,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container should be restarted with a /healthz http liveness probe [NodeConformance] [Conformance]",
                |c| Box::pin(liveness_http_restarts(c)),
            ),
            240,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container should *not* be restarted with a /healthz http liveness probe [NodeConformance] [Conformance]",
                |c| Box::pin(liveness_http_healthy(c)),
            ),
            240,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container should *not* be restarted with a tcp:8080 liveness probe [NodeConformance] [Conformance]",
                |c| Box::pin(liveness_tcp_healthy(c)),
            ),
            240,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container should have monotonically increasing restart count [NodeConformance] [Conformance]",
                |c| Box::pin(liveness_monotonic(c)),
            ),
            420,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container with readiness probe should not be ready before initial delay and never restart [NodeConformance] [Conformance]",
                |c| Box::pin(readiness_initial_delay(c)),
            ),
            240,
        ),
        slow(
            TestCase::upstream(
                "[sig-node] Probing container with readiness probe that fails should never be ready and never restart [NodeConformance] [Conformance]",
                |c| Box::pin(readiness_failing(c)),
            ),
            240,
        ),
    ]
}

// ---- Lifecycle hooks

const HANDLER_PORT: u16 = 8080;

/// A container serving HTTP on 8080 whose `/cgi-bin/echo` logs each
/// request as `GET <uri>` (upstream: agnhost netexec logs them).
fn echo_server(name: &str) -> Value {
    let script = "mkdir -p /www/cgi-bin && printf '%s\\n' '#!/bin/sh' \
        'echo \"$REQUEST_METHOD $REQUEST_URI\" >/proc/1/fd/1' \
        'printf \"Content-Type: text/plain\\r\\n\\r\\nok\\n\"' > /www/cgi-bin/echo \
        && chmod +x /www/cgi-bin/echo && exec httpd -f -p 8080 -h /www";
    json!({
        "name": name,
        "image": busybox(),
        "command": ["sh", "-c", script],
        "ports": [{"containerPort": HANDLER_PORT}],
        "readinessProbe": {"tcpSocket": {"port": HANDLER_PORT}, "periodSeconds": 1}
    })
}

/// Starts the handler pod; returns its name and IP.
async fn start_handler(ctx: &Ctx) -> TestResult<(String, String)> {
    let name = ctx.name("pod-handle-http-request");
    create_pod(
        ctx,
        json!({
            "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [echo_server("container-handle-http-request")]}
        }),
    )
    .await?;
    let ip = wait_pod(ctx, &name, "Ready with an IP", POD_TIMEOUT, |pod| {
        let ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone());
        match ip {
            Some(ip) if condition(pod, "Ready").as_deref() == Some("True") => Ok(ip),
            _ => Err(format!("phase {:?}", phase(pod))),
        }
    })
    .await?;
    Ok((name, ip))
}

/// A pod whose container sleeps (exiting on SIGTERM) with `lifecycle`.
fn hook_pod(name: &str, lifecycle: Value) -> Value {
    let mut p = pod(name, &["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]);
    p["spec"]["terminationGracePeriodSeconds"] = json!(15);
    p["spec"]["containers"][0]["name"] = json!("pod-with-hook");
    p["spec"]["containers"][0]["lifecycle"] = lifecycle;
    p
}

fn echo_uri(msg: &str) -> String {
    format!("/cgi-bin/echo?msg={msg}")
}

fn exec_hook(ip: &str, msg: &str) -> Value {
    json!({"exec": {"command": ["sh", "-c", format!("wget -qO- 'http://{ip}:{HANDLER_PORT}{}'", echo_uri(msg))]}})
}

fn http_hook(ip: &str, msg: &str) -> Value {
    json!({"httpGet": {"host": ip, "port": HANDLER_PORT, "path": echo_uri(msg)}})
}

/// Runs a pod with `lifecycle`; the handler must see `msg` after the pod
/// started (postStart) or after it was deleted (preStop).
async fn run_hook_test(
    ctx: &Ctx,
    handler: &(String, String),
    lifecycle: Value,
    msg: &str,
    pre_stop: bool,
) -> TestResult {
    let (handler_name, _) = handler;
    let name = ctx.name("pod-with-hook");
    create_pod(ctx, hook_pod(&name, lifecycle)).await?;
    wait_phase(ctx, &name, "Running").await?;
    let want = format!("GET {}", echo_uri(msg));
    if !pre_stop {
        // postStart finished before the container was reported Running.
        wait_log(ctx, handler_name, "container-handle-http-request", &want).await?;
    }
    let api = ctx.api::<Pod>();
    api.delete(&name, &DeleteParams::default().grace_period(15))
        .await
        .step("deleting the pod with the hook")?;
    wait_for(&format!("pod {name} to be gone"), POD_TIMEOUT, || {
        let api = api.clone();
        let name = name.clone();
        async move {
            Ok(match api.get_opt(&name).await.step("reading the pod")? {
                None => Ok(()),
                Some(p) => Err(format!("phase {:?}", phase(&p))),
            })
        }
    })
    .await?;
    if pre_stop {
        wait_log(ctx, handler_name, "container-handle-http-request", &want).await?;
    }
    Ok(())
}

async fn post_start_exec(ctx: Ctx) -> TestResult {
    let handler = start_handler(&ctx).await?;
    let lifecycle = json!({"postStart": exec_hook(&handler.1, "poststart")});
    run_hook_test(&ctx, &handler, lifecycle, "poststart", false).await
}

async fn post_start_http(ctx: Ctx) -> TestResult {
    let handler = start_handler(&ctx).await?;
    let lifecycle = json!({"postStart": http_hook(&handler.1, "poststart")});
    run_hook_test(&ctx, &handler, lifecycle, "poststart", false).await
}

async fn pre_stop_exec(ctx: Ctx) -> TestResult {
    let handler = start_handler(&ctx).await?;
    let lifecycle = json!({"preStop": exec_hook(&handler.1, "prestop")});
    run_hook_test(&ctx, &handler, lifecycle, "prestop", true).await
}

async fn pre_stop_http(ctx: Ctx) -> TestResult {
    let handler = start_handler(&ctx).await?;
    let lifecycle = json!({"preStop": http_hook(&handler.1, "prestop")});
    run_hook_test(&ctx, &handler, lifecycle, "prestop", true).await
}

async fn prestop_when_killing(ctx: Ctx) -> TestResult {
    // Upstream: a server pod counts /write calls, the tester's preStop
    // hook posts to it, and deleting the tester must make the count 1.
    let (server, ip) = start_handler(&ctx).await?;
    let tester = ctx.name("tester");
    let mut p = hook_pod(&tester, json!({"preStop": exec_hook(&ip, "prestop")}));
    // A container that ignores SIGTERM: only the hook can have sent the
    // request, and it must have run before the kill.
    p["spec"]["containers"][0]["command"] = json!(["sleep", "600"]);
    p["spec"]["terminationGracePeriodSeconds"] = json!(5);
    create_pod(&ctx, p).await?;
    wait_phase(&ctx, &tester, "Running").await?;
    ctx.api::<Pod>()
        .delete(&tester, &DeleteParams::default())
        .await
        .step("deleting the tester pod")?;
    let want = format!("GET {}", echo_uri("prestop"));
    wait_log(&ctx, &server, "container-handle-http-request", &want).await?;
    let log =
        super::node_containers::log_of(&ctx, &server, "container-handle-http-request").await?;
    let calls = log.lines().filter(|l| *l == want).count();
    if calls != 1 {
        return Err(TestError::Assertion(format!(
            "the preStop hook called the server {calls} times, want 1"
        )));
    }
    Ok(())
}

// ---- Probes

/// How long a container that must not restart is watched (upstream: 4
/// minutes; several probe periods are enough to see a wrong restart).
const OBSERVE: Duration = Duration::from_secs(45);

fn probe_pod(name: &str, script: &str, probe_kind: &str, probe: Value) -> Value {
    let mut p = pod(name, &["sh", "-c", script]);
    p["spec"]["containers"][0][probe_kind] = probe;
    p
}

/// Creates `pod`, waits until it runs, then: with `restarts` > 0 waits
/// until the container restarted that often; with 0 watches it for
/// [`OBSERVE`] and fails on any restart.
async fn liveness_test(ctx: &Ctx, pod: Value, restarts: i32) -> TestResult {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    create_pod(ctx, pod).await?;
    wait_phase(ctx, &name, "Running").await?;
    let count = |pod: &Pod| {
        container_status(pod, "test-container")
            .map(|s| s.restart_count)
            .unwrap_or(0)
    };
    if restarts > 0 {
        wait_pod(
            ctx,
            &name,
            &format!("{restarts} restart(s)"),
            Duration::from_secs(180),
            |pod| {
                let n = count(pod);
                if n >= restarts {
                    Ok(())
                } else {
                    Err(format!("restartCount {n}"))
                }
            },
        )
        .await?;
        return Ok(());
    }
    let started = Instant::now();
    while started.elapsed() < OBSERVE {
        let pod = ctx.api::<Pod>().get(&name).await.step("reading the pod")?;
        let n = count(&pod);
        if n != 0 {
            return Err(TestError::Assertion(format!(
                "the container restarted {n} times with a passing liveness probe"
            )));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

fn exec_probe(initial_delay: i32) -> Value {
    json!({"exec": {"command": ["cat", "/tmp/health"]}, "initialDelaySeconds": initial_delay,
           "periodSeconds": 2, "failureThreshold": 1})
}

async fn liveness_exec_restarts(ctx: Ctx) -> TestResult {
    let p = probe_pod(
        &ctx.name("busybox"),
        "echo ok >/tmp/health; sleep 10; rm -rf /tmp/health; sleep 600",
        "livenessProbe",
        exec_probe(15),
    );
    liveness_test(&ctx, p, 1).await
}

async fn liveness_exec_healthy(ctx: Ctx) -> TestResult {
    let p = probe_pod(
        &ctx.name("busybox"),
        "echo ok >/tmp/health; sleep 600",
        "livenessProbe",
        exec_probe(5),
    );
    liveness_test(&ctx, p, 0).await
}

/// httpd on 8080 serving /healthz, which `after` removes (or keeps).
fn healthz_script(remove_after: Option<u32>) -> String {
    let mut script = "mkdir -p /www && echo ok > /www/healthz && httpd -p 8080 -h /www".to_string();
    match remove_after {
        Some(secs) => script.push_str(&format!("; sleep {secs}; rm /www/healthz; sleep 600")),
        None => script.push_str("; sleep 600"),
    }
    script
}

fn http_probe(initial_delay: i32) -> Value {
    json!({"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": initial_delay,
           "periodSeconds": 2, "failureThreshold": 1})
}

async fn liveness_http_restarts(ctx: Ctx) -> TestResult {
    let p = probe_pod(
        &ctx.name("liveness"),
        &healthz_script(Some(10)),
        "livenessProbe",
        http_probe(15),
    );
    liveness_test(&ctx, p, 1).await
}

async fn liveness_http_healthy(ctx: Ctx) -> TestResult {
    let p = probe_pod(
        &ctx.name("liveness"),
        &healthz_script(None),
        "livenessProbe",
        http_probe(5),
    );
    liveness_test(&ctx, p, 0).await
}

async fn liveness_tcp_healthy(ctx: Ctx) -> TestResult {
    let probe = json!({"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5,
                       "periodSeconds": 2, "failureThreshold": 1});
    let p = probe_pod(
        &ctx.name("liveness"),
        &healthz_script(None),
        "livenessProbe",
        probe,
    );
    liveness_test(&ctx, p, 0).await
}

async fn liveness_monotonic(ctx: Ctx) -> TestResult {
    // /healthz never exists: every run is killed by the probe and the
    // restart count only ever grows (with the crash-loop back-off).
    const RESTARTS: i32 = 5;
    let name = ctx.name("liveness");
    let p = probe_pod(
        &name,
        "mkdir -p /www && exec httpd -f -p 8080 -h /www",
        "livenessProbe",
        http_probe(5),
    );
    create_pod(&ctx, p).await?;
    let api = ctx.api::<Pod>();
    let mut last = 0;
    let deadline = Instant::now() + Duration::from_secs(380);
    while last < RESTARTS {
        if Instant::now() > deadline {
            return Err(TestError::Assertion(format!(
                "restartCount reached {last}, want {RESTARTS}"
            )));
        }
        let pod = api.get(&name).await.step("reading the pod")?;
        let count = container_status(&pod, "test-container").map_or(0, |s| s.restart_count);
        if count < last {
            return Err(TestError::Assertion(format!(
                "restartCount went down from {last} to {count}"
            )));
        }
        last = count;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// When the container started and when it became ready (RFC 3339, from
/// its running state and the Ready condition).
fn ready_after_start(pod: &Pod) -> Option<i64> {
    let started = container_status(pod, "test-container")?
        .state?
        .running?
        .started_at?;
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .clone()?;
    Some(ready.0.as_second() - started.0.as_second())
}

async fn readiness_initial_delay(ctx: Ctx) -> TestResult {
    const DELAY: i32 = 20;
    let name = ctx.name("test-webserver");
    let probe = json!({"exec": {"command": ["cat", "/tmp/health"]}, "initialDelaySeconds": DELAY,
                       "periodSeconds": 1});
    let p = probe_pod(
        &name,
        "echo ok >/tmp/health; sleep 600",
        "readinessProbe",
        probe,
    );
    create_pod(&ctx, p).await?;
    let pod = wait_pod(&ctx, &name, "Ready", Duration::from_secs(90), |pod| {
        if condition(pod, "Ready").as_deref() == Some("True") {
            Ok(pod.clone())
        } else {
            Err(format!(
                "phase {:?}, Ready {:?}",
                phase(pod),
                condition(pod, "Ready")
            ))
        }
    })
    .await?;
    let waited = ready_after_start(&pod)
        .ok_or_else(|| TestError::Assertion("no start or Ready transition time".into()))?;
    if waited < i64::from(DELAY) {
        return Err(TestError::Assertion(format!(
            "ready {waited}s after the start, before the initial delay of {DELAY}s"
        )));
    }
    let restarts = container_status(&pod, "test-container").map_or(0, |s| s.restart_count);
    if restarts != 0 {
        return Err(TestError::Assertion(format!(
            "restartCount {restarts}, want 0"
        )));
    }
    Ok(())
}

async fn readiness_failing(ctx: Ctx) -> TestResult {
    let name = ctx.name("test-webserver");
    let probe = json!({"exec": {"command": ["false"]}, "periodSeconds": 1});
    let p = probe_pod(&name, "sleep 600", "readinessProbe", probe);
    create_pod(&ctx, p).await?;
    wait_phase(&ctx, &name, "Running").await?;
    let started = Instant::now();
    while started.elapsed() < OBSERVE {
        let pod = ctx.api::<Pod>().get(&name).await.step("reading the pod")?;
        let status = container_status(&pod, "test-container");
        if status.as_ref().is_some_and(|s| s.ready)
            || condition(&pod, "Ready").as_deref() == Some("True")
        {
            return Err(TestError::Assertion(
                "a pod with a failing readiness probe is ready".into(),
            ));
        }
        if let Some(n) = status.map(|s| s.restart_count).filter(|n| *n != 0) {
            return Err(TestError::Assertion(format!("restartCount {n}, want 0")));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}
