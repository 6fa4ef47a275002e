//! sig-cli: stock kubectl against the cluster (api-versions, cluster-info,
//! version, diff, run, server-side dry-run, proxy), as upstream's
//! `test/e2e/kubectl` runs it. Skipped with a reason when kubectl is absent.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use regex::Regex;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::framework::{Ctx, Step, TestCase, TestError, TestResult, truncate};
use crate::{ensure, ensure_eq};

const HTTPD_IMAGE: &str = "registry.k8s.io/e2e-test-images/httpd:2.4.38-4";
const BUSYBOX_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1";

pub fn tests() -> Vec<TestCase> {
    vec![
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl api-versions should check if v1 is in available api versions [Conformance]",
            |c| Box::pin(api_versions(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl cluster-info should check if Kubernetes control plane services is included in cluster-info [Conformance]",
            |c| Box::pin(cluster_info(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]",
            |c| Box::pin(version(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl diff should check if kubectl diff finds a difference for Deployments [Conformance]",
            |c| Box::pin(diff(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl run pod should create a pod from an image when restart is Never [Conformance]",
            |c| Box::pin(run_pod(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Kubectl server-side dry-run should check if kubectl can dry-run update Pods [Conformance]",
            |c| Box::pin(server_dry_run(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Proxy server should support proxy with --port 0 [Conformance]",
            |c| Box::pin(proxy_port_zero(c)),
        ),
        TestCase::upstream(
            "[sig-cli] Kubectl client Proxy server should support --unix-socket=/path [Conformance]",
            |c| Box::pin(proxy_unix_socket(c)),
        ),
    ]
}

async fn api_versions(ctx: Ctx) -> TestResult {
    let out = ctx.kubectl(&["api-versions"], None).await?;
    ensure!(
        out.lines().any(|l| l.trim() == "v1"),
        "no v1 in kubectl api-versions: {}",
        truncate(&out, 400)
    );
    Ok(())
}

async fn cluster_info(ctx: Ctx) -> TestResult {
    let out = ctx.kubectl(&["cluster-info"], None).await?;
    for wanted in ["Kubernetes control plane", "is running at"] {
        ensure!(
            out.contains(wanted),
            "{wanted:?} missing from kubectl cluster-info: {}",
            truncate(&out, 400)
        );
    }
    Ok(())
}

async fn version(ctx: Ctx) -> TestResult {
    let out = ctx.kubectl(&["version"], None).await?;
    for item in ["Client Version: ", "Server Version: "] {
        let pattern = Regex::new(&format!(r"{item}v\d\.\d+\.[\d\w\-\.\+]+"))
            .map_err(|e| TestError::Assertion(format!("version pattern: {e}")))?;
        ensure!(
            pattern.is_match(&out),
            "{item:?} with a version missing from kubectl version: {}",
            truncate(&out, 400)
        );
    }
    Ok(())
}

fn httpd_deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpd-deployment
  labels:
    app: httpd
spec:
  replicas: 2
  selector:
    matchLabels:
      app: httpd
  template:
    metadata:
      labels:
        app: httpd
    spec:
      containers:
      - name: httpd
        image: {image}
        ports:
        - containerPort: 80
"
    )
}

async fn diff(ctx: Ctx) -> TestResult {
    ctx.kubectl(&["create", "-f", "-"], Some(&httpd_deployment(HTTPD_IMAGE)))
        .await?;
    let out = ctx
        .kubectl_any(&["diff", "-f", "-"], Some(&httpd_deployment(BUSYBOX_IMAGE)))
        .await?;
    // kubectl diff exits 1 when it found differences, >1 on errors.
    ensure_eq!(
        out.code,
        Some(1),
        "kubectl diff exit code (stderr {})",
        truncate(&out.stderr, 400)
    );
    for image in [HTTPD_IMAGE, BUSYBOX_IMAGE] {
        ensure!(
            out.stdout.contains(image),
            "{image} missing from kubectl diff: {}",
            truncate(&out.stdout, 800)
        );
    }
    Ok(())
}

async fn run_pod(ctx: Ctx) -> TestResult {
    let name = "e2e-test-httpd-pod";
    let image = format!("--image={HTTPD_IMAGE}");
    ctx.kubectl(
        &[
            "run",
            name,
            "--restart=Never",
            "--pod-running-timeout=2m0s",
            &image,
        ],
        None,
    )
    .await?;
    let pod = ctx.api::<Pod>().get(name).await.step("reading the pod")?;
    let images: Vec<_> = pod
        .spec
        .map(|s| s.containers.into_iter().filter_map(|c| c.image).collect())
        .unwrap_or_default();
    ensure_eq!(images, vec![HTTPD_IMAGE.to_string()], "pod images");
    Ok(())
}

async fn server_dry_run(ctx: Ctx) -> TestResult {
    let name = "e2e-test-httpd-pod";
    let image = format!("--image={HTTPD_IMAGE}");
    let labels = format!("--labels=run={name}");
    ctx.kubectl(
        &["run", name, &image, "--pod-running-timeout=2m0s", &labels],
        None,
    )
    .await?;
    let patch =
        format!(r#"{{"spec":{{"containers":[{{"name": "{name}","image": "{BUSYBOX_IMAGE}"}}]}}}}"#);
    ctx.kubectl(
        &["patch", "pod", name, "-p", &patch, "--dry-run=server"],
        None,
    )
    .await?;
    let pod = ctx.api::<Pod>().get(name).await.step("reading the pod")?;
    let images: Vec<_> = pod
        .spec
        .map(|s| s.containers.into_iter().filter_map(|c| c.image).collect())
        .unwrap_or_default();
    ensure_eq!(
        images,
        vec![HTTPD_IMAGE.to_string()],
        "pod images after a server-side dry-run patch"
    );
    ctx.kubectl(&["delete", "pods", name], None).await?;
    Ok(())
}

/// `GET /api/` through a `kubectl proxy` connection: the APIVersions
/// object must list at least one version.
async fn check_api_through_proxy<S>(mut stream: S) -> TestResult
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(b"GET /api/ HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .map_err(|e| TestError::Assertion(format!("sending GET /api/ to the proxy: {e}")))?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .map_err(|_| TestError::Assertion("the proxy did not answer GET /api/".into()))?
        .map_err(|e| TestError::Assertion(format!("reading the proxy's answer: {e}")))?;
    let text = String::from_utf8_lossy(&answer);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let versions: serde_json::Value = serde_json::from_str(body).map_err(|e| {
        TestError::Assertion(format!(
            "GET /api/ through the proxy: {e}: {}",
            truncate(&text, 400)
        ))
    })?;
    ensure!(
        versions["versions"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "expected at least one supported apiversion, got {}",
        truncate(body, 400)
    );
    Ok(())
}

/// The first line kubectl proxy prints ("Starting to serve on ...").
async fn first_line(child: &mut tokio::process::Child) -> TestResult<String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| TestError::Assertion("kubectl proxy has no stdout".into()))?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .map_err(|_| TestError::Assertion("kubectl proxy printed nothing within 30s".into()))?
    .map_err(|e| TestError::Assertion(format!("reading kubectl proxy's output: {e}")))?;
    Ok(line)
}

async fn proxy_port_zero(ctx: Ctx) -> TestResult {
    let mut child =
        crate::kubectl::spawn(&ctx.kubeconfig, &["proxy", "-p", "0", "--disable-filter"])?;
    let line = first_line(&mut child).await?;
    let port = Regex::new(r"Starting to serve on 127\.0\.0\.1:(\d+)")
        .ok()
        .and_then(|re| re.captures(&line).and_then(|c| c[1].parse::<u16>().ok()))
        .ok_or_else(|| {
            TestError::Assertion(format!("no port in kubectl proxy's output: {line:?}"))
        })?;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| {
            TestError::Assertion(format!("connecting to the proxy on port {port}: {e}"))
        })?;
    check_api_through_proxy(stream).await
}

async fn proxy_unix_socket(ctx: Ctx) -> TestResult {
    let dir = std::env::temp_dir().join(format!("kubectl-proxy-unix-{}", ctx.unique));
    std::fs::create_dir_all(&dir)
        .map_err(|e| TestError::Assertion(format!("creating {}: {e}", dir.display())))?;
    let path = dir.join("test");
    let flag = format!("--unix-socket={}", path.display());
    let mut child = crate::kubectl::spawn(&ctx.kubeconfig, &["proxy", &flag])?;
    let line = first_line(&mut child).await?;
    ensure!(
        line.starts_with("Starting to serve on"),
        "unexpected kubectl proxy output: {line:?}"
    );
    let result = match tokio::net::UnixStream::connect(&path).await {
        Ok(stream) => check_api_through_proxy(stream).await,
        Err(e) => Err(TestError::Assertion(format!(
            "connecting to {}: {e}",
            path.display()
        ))),
    };
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
