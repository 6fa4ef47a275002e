//! The kubelet on a real containerd (a private one from
//! scripts/start-containerd.sh) with CNI networking, against a real
//! in-process API server: pods get IPs and run, env and volumes are visible
//! inside the container (through its CRI log), exit codes and restart
//! policies, crash-loop back-off, graceful deletion (SIGTERM, then SIGKILL
//! after the grace period), one pod reaching another pod's IP, and
//! containerd left without containers. Skipped with a message when not root
//! or containerd is missing.

mod common;

use std::time::{Duration, Instant};

use common::node::{start_node, unavailable};
use common::{eventually, start_server};
use k8s_openapi::api::core::v1::{ConfigMap, ContainerStatus, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

macro_rules! skip_unless_node {
    () => {
        if let Some(why) = unavailable() {
            eprintln!("SKIPPED: containerd tests need root and containerd: {why}");
            return;
        }
    };
}

async fn create(pods: &Api<Pod>, v: Value) -> Pod {
    let pod: Pod = serde_json::from_value(v).expect("pod");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod")
}

fn status_of(p: &Pod, container: &str) -> Option<ContainerStatus> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == container)
        .cloned()
}

async fn wait_pod<F>(pods: &Api<Pod>, name: &str, what: &str, timeout: u64, check: F) -> Pod
where
    F: Fn(&Pod) -> bool,
{
    eventually(Duration::from_secs(timeout), what, || async {
        let p = pods.get(name).await.ok()?;
        check(&p).then_some(p)
    })
    .await
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_runs_with_ip_env_and_volumes() {
    skip_unless_node!();
    let server = start_server().await;
    let node = start_node(&server, "ctr-a", 0).await;
    let client = server.client.clone();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"greeting": "hello-cm", "file.txt": "from-configmap"}})).unwrap(),
    )
    .await
    .expect("configmap");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "sec"}, "stringData": {"password": "s3cret"}}),
            )
            .unwrap(),
        )
        .await
        .expect("secret");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = create(&pods, json!({
        "metadata": {"name": "envpod", "labels": {"app": "envtest"}},
        "spec": {
            "nodeName": "ctr-a",
            "terminationGracePeriodSeconds": 2,
            "containers": [{
                "name": "main", "image": "busybox:local",
                "command": ["sh", "-c", "echo PLAIN=$PLAIN; echo CM=$CM; echo SECRET=$SECRET; echo POD=$(POD_NAME) IP=$POD_IP; cat /cfg/file.txt; echo; cat /sec/password; echo; cat /info/labels; echo; echo data > /scratch/x && cat /scratch/x; echo MEM=$MEM; exec sleep 3600"],
                "env": [
                    {"name": "PLAIN", "value": "plain-value"},
                    {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                    {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
                ],
                "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
                "volumeMounts": [
                    {"name": "cfg", "mountPath": "/cfg"},
                    {"name": "sec", "mountPath": "/sec", "readOnly": true},
                    {"name": "info", "mountPath": "/info"},
                    {"name": "scratch", "mountPath": "/scratch"}
                ]
            }],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "sec"}},
                {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "scratch", "emptyDir": {}}
            ]
        }
    }))
    .await;
    let uid = created.metadata.uid.clone().expect("uid");
    let running = wait_pod(&pods, "envpod", "envpod Ready", 60, |p| {
        status_of(p, "main").is_some_and(|s| s.ready)
    })
    .await;
    assert_eq!(phase(&running), "Running");
    let ip = running
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("podIP");
    assert!(ip.starts_with("10.90.0."), "{ip}");
    let st = status_of(&running, "main").expect("status");
    assert!(
        st.container_id
            .as_deref()
            .is_some_and(|c| c.starts_with("containerd://"))
    );
    assert!(
        st.image_id.starts_with("docker.io/library/busybox@sha256:"),
        "{}",
        st.image_id
    );
    assert_eq!(st.image, "docker.io/library/busybox:local");
    assert_eq!(st.restart_count, 0);

    let log = eventually(Duration::from_secs(10), "log lines", || async {
        let log = node.log("default", "envpod", &uid, "main", 0);
        log.contains("MEM=").then_some(log)
    })
    .await;
    for expected in [
        "stdout F PLAIN=plain-value",
        "stdout F CM=hello-cm",
        "stdout F SECRET=s3cret",
        &format!("stdout F POD=envpod IP={ip}"),
        "stdout F from-configmap",
        "stdout F s3cret",
        "stdout F app=\"envtest\"",
        "stdout F data",
        "stdout F MEM=64",
    ] {
        assert!(
            log.contains(expected),
            "missing {expected:?} in log:\n{log}"
        );
    }
    // The same log through the API server's pods/log and the kubelet API.
    let tail = pods
        .logs(
            "envpod",
            &kube::api::LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .expect("pods/log");
    assert_eq!(tail, "MEM=64\n");
    let all = pods
        .logs("envpod", &Default::default())
        .await
        .expect("pods/log");
    assert!(all.starts_with("PLAIN=plain-value\nCM=hello-cm\n"), "{all}");
    match pods
        .logs(
            "envpod",
            &kube::api::LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 400);
            assert_eq!(
                s.message,
                "previous terminated container \"main\" in pod \"envpod\" not found"
            );
        }
        other => panic!("previous logs of a first run: {other:?}"),
    }
    pods.delete("envpod", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(Duration::from_secs(30), "containers removed", || async {
        node.containers().is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_restart_policy_and_back_off() {
    skip_unless_node!();
    let server = start_server().await;
    let node = start_node(&server, "ctr-b", 1).await;
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    let spec = |name: &str, policy: &str, script: &str| {
        json!({"metadata": {"name": name}, "spec": {"nodeName": "ctr-b", "restartPolicy": policy, "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "c", "image": "busybox:local", "command": ["sh", "-c", script]}]}})
    };
    create(&pods, spec("never-fails", "Never", "echo bye; exit 3")).await;
    create(&pods, spec("onfailure-ok", "OnFailure", "exit 0")).await;
    create(
        &pods,
        spec("always-crashes", "Always", "echo crash; exit 1"),
    )
    .await;

    let failed = wait_pod(&pods, "never-fails", "Failed", 60, |p| phase(p) == "Failed").await;
    let t = status_of(&failed, "c")
        .and_then(|s| s.state)
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    let ok = wait_pod(&pods, "onfailure-ok", "Succeeded", 60, |p| {
        phase(p) == "Succeeded"
    })
    .await;
    let t = status_of(&ok, "c")
        .and_then(|s| s.state)
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));

    // First restart at once, then the 10 s back-off shows as CrashLoopBackOff.
    let looping = wait_pod(&pods, "always-crashes", "CrashLoopBackOff", 60, |p| {
        status_of(p, "c").is_some_and(|s| {
            s.restart_count >= 1
                && s.state
                    .as_ref()
                    .and_then(|st| st.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
        })
    })
    .await;
    let st = status_of(&looping, "c").expect("status");
    let waiting = st.state.and_then(|s| s.waiting).expect("waiting");
    let message = waiting.message.unwrap_or_default();
    assert!(
        message
            .starts_with("back-off 10s restarting failed container=c pod=always-crashes_default("),
        "{message}"
    );
    let last = st
        .last_state
        .and_then(|s| s.terminated)
        .expect("lastState.terminated");
    assert_eq!(last.exit_code, 1);
    assert_eq!(phase(&looping), "Running");
    let uid = looping.metadata.uid.clone().unwrap_or_default();
    assert!(
        node.log("default", "always-crashes", &uid, "c", 1)
            .contains("stdout F crash")
    );
    for name in ["never-fails", "onfailure-ok", "always-crashes"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    eventually(Duration::from_secs(30), "containers removed", || async {
        node.containers().is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_each_other_and_stop_gracefully() {
    skip_unless_node!();
    let server = start_server().await;
    let node = start_node(&server, "ctr-c", 2).await;
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    create(&pods, json!({"metadata": {"name": "web"}, "spec": {"nodeName": "ctr-c", "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "httpd", "image": "busybox:local", "command": ["sh", "-c",
            "mkdir -p /www && echo page-from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]}]}}))
    .await;
    let web = wait_pod(&pods, "web", "web Ready", 60, |p| {
        status_of(p, "httpd").is_some_and(|s| s.ready)
    })
    .await;
    let web_ip = web.status.and_then(|s| s.pod_ip).expect("web IP");
    let client = create(&pods, json!({"metadata": {"name": "client"}, "spec": {"nodeName": "ctr-c", "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "wget", "image": "busybox:local", "command": ["sh", "-c",
            format!("for i in 1 2 3 4 5; do wget -qO- http://{web_ip}:8080/ && break; sleep 1; done; exec sleep 3600")]}]}}))
    .await;
    let client_uid = client.metadata.uid.clone().unwrap_or_default();
    eventually(
        Duration::from_secs(30),
        "client fetched the page",
        || async {
            node.log("default", "client", &client_uid, "wget", 0)
                .contains("stdout F page-from-web")
                .then_some(())
        },
    )
    .await;

    // kubectl exec's path: WebSocket through the API server to the kubelet.
    let mut attached = pods
        .exec(
            "client",
            vec![
                "sh",
                "-c",
                &format!("wget -qO- http://{web_ip}:8080/; echo oops >&2; exit 3"),
            ],
            &kube::api::AttachParams::default().stdout(true).stderr(true),
        )
        .await
        .expect("exec");
    let mut out = String::new();
    let mut err = String::new();
    let mut stdout = attached.stdout().expect("stdout");
    let mut stderr = attached.stderr().expect("stderr");
    let status = attached.take_status().expect("status");
    use tokio::io::AsyncReadExt;
    let (a, b) = tokio::join!(
        stdout.read_to_string(&mut out),
        stderr.read_to_string(&mut err)
    );
    a.expect("read stdout");
    b.expect("read stderr");
    let status = status.await.expect("exec status");
    assert_eq!(out, "page-from-web\n");
    assert_eq!(err, "oops\n");
    assert_eq!(
        status.reason.as_deref(),
        Some("NonZeroExitCode"),
        "{status:?}"
    );
    let cause = status
        .details
        .and_then(|d| d.causes)
        .and_then(|c| c.into_iter().next())
        .expect("exit code cause");
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("3"))
    );

    // Port-forward (WebSocket, v4 framing) to web's port 8080.
    let mut forwarder = pods.portforward("web", &[8080]).await.expect("portforward");
    let mut conn = forwarder.take_stream(8080).expect("stream for 8080");
    use tokio::io::AsyncWriteExt;
    conn.write_all(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_string(&mut response)).await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("page-from-web\n"), "{response}");
    drop(conn);
    forwarder.abort();

    // Graceful deletion: a finalizer keeps the object so the final status
    // stays visible. One container exits on SIGTERM, one ignores it and is
    // killed after the 2 s grace period.
    let graceful = create(
        &pods,
        json!({"metadata": {"name": "graceful", "finalizers": ["example.com/hold"]},
        "spec": {"nodeName": "ctr-c", "terminationGracePeriodSeconds": 2, "containers": [
            {"name": "polite", "image": "busybox:local", "command": ["sh", "-c",
                "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.2; done"]},
            {"name": "stubborn", "image": "busybox:local", "command": ["sh", "-c",
                "trap '' TERM; while true; do sleep 0.2; done"]}]}}),
    )
    .await;
    let uid = graceful.metadata.uid.clone().unwrap_or_default();
    wait_pod(&pods, "graceful", "graceful Ready", 60, |p| {
        ["polite", "stubborn"]
            .iter()
            .all(|c| status_of(p, c).is_some_and(|s| s.ready))
    })
    .await;
    let started = Instant::now();
    pods.delete("graceful", &DeleteParams::default())
        .await
        .expect("delete");
    let stopped = wait_pod(&pods, "graceful", "containers terminated", 30, |p| {
        ["polite", "stubborn"].iter().all(|c| {
            status_of(p, c).is_some_and(|s| s.state.is_some_and(|st| st.terminated.is_some()))
        })
    })
    .await;
    let took = started.elapsed();
    let code = |c: &str| {
        status_of(&stopped, c)
            .and_then(|s| s.state)
            .and_then(|s| s.terminated)
            .map(|t| t.exit_code)
    };
    assert_eq!(code("polite"), Some(0));
    assert_eq!(
        code("stubborn"),
        Some(137),
        "SIGKILL after the grace period"
    );
    assert!(
        took >= Duration::from_secs(2),
        "grace period honoured: {took:?}"
    );
    assert!(
        node.log("default", "graceful", &uid, "polite", 0)
            .contains("stdout F got TERM")
    );
    pods.patch(
        "graceful",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("drop finalizer");
    for name in ["web", "client"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    eventually(Duration::from_secs(30), "containers removed", || async {
        node.containers().is_empty().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_restart_containers_and_gate_readiness() {
    skip_unless_node!();
    let server = start_server().await;
    let node = start_node(&server, "ctr-d", 3).await;
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    create(&pods, json!({"metadata": {"name": "live"}, "spec": {"nodeName": "ctr-d", "terminationGracePeriodSeconds": 2,
        "containers": [{"name": "c", "image": "busybox:local",
            "command": ["sh", "-c", "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 3600"],
            "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 1}}]}}))
    .await;
    create(&pods, json!({"metadata": {"name": "ready"}, "spec": {"nodeName": "ctr-d", "terminationGracePeriodSeconds": 2,
        "containers": [
            {"name": "web", "image": "busybox:local", "command": ["sh", "-c",
                "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"],
             "readinessProbe": {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 1}},
            {"name": "closed", "image": "busybox:local", "command": ["sleep", "3600"],
             "readinessProbe": {"tcpSocket": {"port": 9999}, "periodSeconds": 1}}]}}))
    .await;

    let restarted = wait_pod(&pods, "live", "liveness restart", 60, |p| {
        status_of(p, "c").is_some_and(|s| s.restart_count >= 1)
    })
    .await;
    assert_eq!(phase(&restarted), "Running");
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(server.client.clone(), "default");
    let list = events.list(&Default::default()).await.expect("events");
    let of_live: Vec<(String, String)> = list
        .items
        .iter()
        .filter(|e| e.involved_object.name.as_deref() == Some("live"))
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        of_live
            .iter()
            .any(|(r, m)| r == "Unhealthy" && m.starts_with("Liveness probe failed:")),
        "{of_live:?}"
    );
    assert!(
        of_live
            .iter()
            .any(|(r, m)| r == "Killing"
                && m == "Container c failed liveness probe, will be restarted"),
        "{of_live:?}"
    );

    let gated = wait_pod(&pods, "ready", "web ready, closed not", 60, |p| {
        status_of(p, "web").is_some_and(|s| s.ready)
    })
    .await;
    assert!(!status_of(&gated, "closed").expect("closed").ready);
    let ready = gated
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .cloned()
        .expect("Ready condition");
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [closed]")
    );
    for name in ["live", "ready"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    eventually(Duration::from_secs(30), "containers removed", || async {
        node.containers().is_empty().then_some(())
    })
    .await;
}
