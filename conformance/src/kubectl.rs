//! Running the user's `kubectl` against the cluster under test, as upstream's
//! sig-cli conformance tests do (`e2ekubectl.RunKubectl`). The binary is
//! `$KUBECTL` or `kubectl` on `PATH`; tests that need it are skipped with a
//! reason when there is none.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::framework::{TestError, TestResult};

/// Longest a single kubectl invocation may take.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// What one kubectl invocation printed and how it exited.
#[derive(Debug)]
pub struct KubectlRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl KubectlRun {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// The kubectl binary to use: `$KUBECTL`, else `kubectl` found on `PATH`.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    })
}

/// Runs `kubectl --kubeconfig <kubeconfig> [--namespace <ns>] <args>` with
/// `stdin` as its input.
pub async fn run(
    kubeconfig: &Path,
    namespace: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> TestResult<KubectlRun> {
    let Some(kubectl) = binary() else {
        return Err(TestError::Skip(
            "kubectl not found (set KUBECTL or put kubectl on PATH)".into(),
        ));
    };
    let mut command = tokio::process::Command::new(&kubectl);
    command.arg("--kubeconfig").arg(kubeconfig);
    if let Some(ns) = namespace {
        command.arg("--namespace").arg(ns);
    }
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let shown = format!("kubectl {}", args.join(" "));
    let mut child = command
        .spawn()
        .map_err(|e| TestError::Assertion(format!("starting {shown}: {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|e| TestError::Assertion(format!("writing to {shown}: {e}")))?;
    }
    let output = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            TestError::Assertion(format!(
                "{shown} did not finish within {}s",
                KUBECTL_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| TestError::Assertion(format!("running {shown}: {e}")))?;
    Ok(KubectlRun {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Like [`run`], but a non-zero exit fails the test with kubectl's stderr.
pub async fn run_ok(
    kubeconfig: &Path,
    namespace: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> TestResult<String> {
    let out = run(kubeconfig, namespace, args, stdin).await?;
    if out.success() {
        Ok(out.stdout)
    } else {
        Err(TestError::Assertion(format!(
            "kubectl {} exited with {:?}: {}",
            args.join(" "),
            out.code,
            out.stderr.trim()
        )))
    }
}

/// Starts a long-running kubectl (e.g. `proxy`) with stdout piped; the
/// child dies with the returned handle.
pub fn spawn(kubeconfig: &Path, args: &[&str]) -> TestResult<tokio::process::Child> {
    let Some(kubectl) = binary() else {
        return Err(TestError::Skip(
            "kubectl not found (set KUBECTL or put kubectl on PATH)".into(),
        ));
    };
    tokio::process::Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TestError::Assertion(format!("starting kubectl {}: {e}", args.join(" "))))
}
