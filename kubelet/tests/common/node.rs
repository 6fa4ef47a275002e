//! A private containerd (scripts/start-containerd.sh) and a kubelet on it,
//! for the containerd tests; skipped (with a message) when not root or
//! containerd is missing. Drop stops the kubelet, kills leftover tasks,
//! stops containerd and removes the test's network namespaces and bridge.

use std::path::PathBuf;
use std::process::Command;

use super::TestServer;

pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub logs: PathBuf,
    pub node: kubelet::RunningKubelet,
    pub bridge: String,
}

/// Why the containerd tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["containerd", "runc", "ctr", "ip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} is not installed (scripts/install-deps.sh)"));
        }
    }
    if !std::path::Path::new("/usr/lib/cni/bridge").exists() {
        return Some("the CNI plugins are not installed".into());
    }
    None
}

/// Starts containerd and a kubelet named `name` on it; pods get IPs from
/// 10.<90+index>.0.0/24 on bridge `oxkt<index>`.
pub async fn start_node(server: &TestServer, name: &str, index: u8) -> TestNode {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/start-containerd.sh"
    );
    let out = Command::new("bash")
        .arg(script)
        .arg(dir.path().join("containerd"))
        .output()
        .expect("run start-containerd.sh");
    assert!(
        out.status.success(),
        "start-containerd.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let socket = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
    let root = dir.path().join("kubelet");
    let logs = dir.path().join("logs");
    let bridge = format!("oxkt{index}");
    let subnet = format!("10.{}.0.0/24", 90 + index as u32);
    let mut config = kubelet::KubeletConfig::new(name);
    config.root_dir = root.clone();
    config.port = 17320 + index as u16;
    config.pod_cidr = subnet.clone();
    config.pod_resync_period = std::time::Duration::from_millis(500);
    let ctr = kubelet::runtime::containerd::ContainerdConfig {
        endpoint: format!("unix://{}", socket.display()),
        root_dir: root.clone(),
        pod_logs_dir: logs.clone(),
        sandbox_image: "docker.io/library/busybox:local".into(),
        cni: kubelet::cni::CniConfig {
            bin_dir: "/usr/lib/cni".into(),
            conf_dir: root.join("cni"),
            bridge: bridge.clone(),
            subnet,
            data_dir: root.join("cni/networks"),
        },
    };
    let node = kubelet::start_containerd(server.client.clone(), config, ctr)
        .await
        .expect("start kubelet on containerd");
    TestNode {
        dir,
        socket,
        logs,
        node,
        bridge,
    }
}

impl TestNode {
    /// IDs of the containers containerd has in k8s.io.
    pub fn containers(&self) -> Vec<String> {
        let out = Command::new("ctr")
            .args([
                "-a",
                &self.socket.display().to_string(),
                "-n",
                "k8s.io",
                "containers",
                "ls",
                "-q",
            ])
            .output()
            .expect("ctr");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The CRI log of a container's run `attempt`.
    pub fn log(&self, ns: &str, pod: &str, uid: &str, container: &str, attempt: u32) -> String {
        std::fs::read_to_string(
            self.logs
                .join(format!("{ns}_{pod}_{uid}"))
                .join(container)
                .join(format!("{attempt}.log")),
        )
        .unwrap_or_default()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.node.abort();
        let sock = self.socket.display().to_string();
        let cleanup = format!(
            "for t in $(ctr -a {sock} -n k8s.io tasks ls -q); do ctr -a {sock} -n k8s.io tasks kill -s SIGKILL $t; done; sleep 0.5; \
             for t in $(ctr -a {sock} -n k8s.io tasks ls -q); do ctr -a {sock} -n k8s.io tasks rm -f $t; done; \
             for c in $(ctr -a {sock} -n k8s.io containers ls -q); do ctr -a {sock} -n k8s.io containers rm $c; done; \
             for c in $(ctr -a {sock} -n k8s.io snapshots ls | awk 'NR>1 && $3==\"Active\" {{print $1}}'); do ctr -a {sock} -n k8s.io snapshots rm $c; done; \
             kill $(cat {dir}/containerd/containerd.pid) 2>/dev/null; \
             ip link delete {bridge} 2>/dev/null; true",
            dir = self.dir.path().display(),
            bridge = self.bridge
        );
        let _ = Command::new("sh").args(["-c", &cleanup]).output();
        // Named netns of this node's pods hold the pod UIDs in their names;
        // the sandboxes are gone, so any left are ours only if unused.
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "for n in $(ls {root}/pods 2>/dev/null); do ip netns delete oxkube-$n 2>/dev/null; done; true",
                    root = self.dir.path().join("kubelet").display()
                ),
            ])
            .output();
    }
}
