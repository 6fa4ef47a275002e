//! What the node reports about the machine: capacity and allocatable
//! (cpu, memory, ephemeral-storage, pods), addresses, nodeInfo, and the
//! measurements behind the pressure conditions. Read from `/proc`, `/sys`
//! and `statvfs`, never from a hard-coded table (except the simulated
//! runtime's fixed, documented capacity).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;

use k8s_openapi::api::core::v1::{NodeAddress, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The Kubernetes version this kubelet implements (nodeInfo.kubeletVersion).
pub const KUBELET_VERSION: &str = "v1.33.0";

/// Upstream's default hard eviction threshold `memory.available<100Mi`.
pub const EVICTION_MEMORY_AVAILABLE_BYTES: u64 = 100 * 1024 * 1024;
/// Upstream's default hard eviction threshold `nodefs.available<10%`.
pub const EVICTION_NODEFS_AVAILABLE_PERCENT: u64 = 10;
/// PID pressure when fewer than this share of pid_max is free (upstream has
/// no default `pid.available` threshold; see docs/compatibility.md).
pub const PID_AVAILABLE_PERCENT: u64 = 5;

/// Capacity of a node in the units the Node object uses.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResources {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
    pub pods: u32,
}

impl NodeResources {
    /// The machine this process runs on; storage measured at `root_dir`.
    pub fn detect(root_dir: &Path, max_pods: u32) -> std::io::Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let meminfo = read_meminfo()?;
        let memory_bytes = meminfo.get("MemTotal").copied().unwrap_or(0);
        let disk = statvfs(root_dir)?;
        Ok(NodeResources {
            cpu_millis: cpus * 1000,
            memory_bytes,
            ephemeral_storage_bytes: disk.total_bytes,
            pods: max_pods,
        })
    }

    /// The fixed capacity every simulated node reports: 8 CPUs, 32Gi of
    /// memory, 100Gi of ephemeral storage, `max_pods` pods.
    pub fn simulated(max_pods: u32) -> Self {
        NodeResources {
            cpu_millis: 8000,
            memory_bytes: 32 << 30,
            ephemeral_storage_bytes: 100 << 30,
            pods: max_pods,
        }
    }

    /// `status.capacity`.
    pub fn capacity(&self) -> BTreeMap<String, Quantity> {
        self.quantities(self.memory_bytes, self.ephemeral_storage_bytes)
    }

    /// `status.allocatable`: capacity minus the hard eviction thresholds
    /// (no system/kube reservations are configured), as upstream computes it.
    pub fn allocatable(&self) -> BTreeMap<String, Quantity> {
        let memory = self
            .memory_bytes
            .saturating_sub(EVICTION_MEMORY_AVAILABLE_BYTES);
        let storage = self.ephemeral_storage_bytes
            - self.ephemeral_storage_bytes * EVICTION_NODEFS_AVAILABLE_PERCENT / 100;
        self.quantities(memory, storage)
    }

    fn quantities(&self, memory: u64, storage: u64) -> BTreeMap<String, Quantity> {
        let cpu = if self.cpu_millis.is_multiple_of(1000) {
            (self.cpu_millis / 1000).to_string()
        } else {
            format!("{}m", self.cpu_millis)
        };
        BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu)),
            (
                "ephemeral-storage".to_string(),
                Quantity(bytes_quantity(storage)),
            ),
            ("hugepages-2Mi".to_string(), Quantity("0".into())),
            ("memory".to_string(), Quantity(bytes_quantity(memory))),
            ("pods".to_string(), Quantity(self.pods.to_string())),
        ])
    }
}

/// Memory is reported in Ki like upstream (`16318060Ki`) when it is a whole
/// number of KiB, in bytes otherwise.
fn bytes_quantity(bytes: u64) -> String {
    if bytes.is_multiple_of(1024) {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// `/proc/meminfo` in bytes, by field name.
pub fn read_meminfo() -> std::io::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let mut parts = rest.split_whitespace();
            let value: u64 = parts.next()?.parse().ok()?;
            let scale = if parts.next() == Some("kB") { 1024 } else { 1 };
            Some((name.to_string(), value * scale))
        })
        .collect())
}

/// Size and free space of the filesystem holding `path` (or its nearest
/// existing ancestor).
#[derive(Debug, Clone, Copy)]
pub struct DiskUsage {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

pub fn statvfs(path: &Path) -> std::io::Result<DiskUsage> {
    let mut probe = path;
    while !probe.exists() {
        probe = probe.parent().unwrap_or(Path::new("/"));
    }
    let c_path = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a
    // valid NUL-terminated string that outlives the call.
    let mut out: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut out) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = out.f_frsize as u64;
    Ok(DiskUsage {
        total_bytes: out.f_blocks as u64 * frsize,
        available_bytes: out.f_bavail as u64 * frsize,
    })
}

/// Whether the node is short of memory, disk or PIDs right now, measured
/// against upstream's default hard eviction thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

impl Pressure {
    pub fn measure(root_dir: &Path) -> Self {
        let memory = read_meminfo()
            .ok()
            .and_then(|m| m.get("MemAvailable").copied())
            .is_some_and(|avail| avail < EVICTION_MEMORY_AVAILABLE_BYTES);
        let disk = statvfs(root_dir).is_ok_and(|d| {
            d.total_bytes > 0
                && d.available_bytes * 100 < d.total_bytes * EVICTION_NODEFS_AVAILABLE_PERCENT
        });
        let pid = pid_usage().is_some_and(|(used, max)| {
            max > 0 && (max.saturating_sub(used)) * 100 < max * PID_AVAILABLE_PERCENT
        });
        Pressure { memory, disk, pid }
    }
}

/// (running processes, pid_max).
fn pid_usage() -> Option<(u64, u64)> {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let used = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .count() as u64;
    Some((used, max))
}

/// The host name as the kernel knows it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The address other machines reach this one at: the source address of the
/// default route (found by connecting a UDP socket, which sends nothing),
/// else loopback.
pub fn detect_node_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.connect("192.0.2.1:9")?;
        Ok(socket.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// `status.addresses`: InternalIP then Hostname.
pub fn node_addresses(ip: &str, hostname: &str) -> Vec<NodeAddress> {
    vec![
        NodeAddress {
            type_: "InternalIP".into(),
            address: ip.into(),
        },
        NodeAddress {
            type_: "Hostname".into(),
            address: hostname.into(),
        },
    ]
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Go's name of the machine architecture (GOARCH).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `status.nodeInfo` for this machine and runtime.
pub fn system_info(container_runtime_version: &str) -> NodeSystemInfo {
    let os_image = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into());
    NodeSystemInfo {
        architecture: go_arch().into(),
        boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
        container_runtime_version: container_runtime_version.into(),
        kernel_version: read_trimmed("/proc/sys/kernel/osrelease"),
        kube_proxy_version: String::new(),
        kubelet_version: KUBELET_VERSION.into(),
        machine_id: read_trimmed("/etc/machine-id"),
        operating_system: "linux".into(),
        os_image,
        system_uuid: read_trimmed("/sys/class/dmi/id/product_uuid"),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocatable_subtracts_eviction_thresholds() {
        let r = NodeResources {
            cpu_millis: 2000,
            memory_bytes: 4 << 30,
            ephemeral_storage_bytes: 100 << 30,
            pods: 110,
        };
        let cap = r.capacity();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        let alloc = r.allocatable();
        assert_eq!(alloc["memory"].0, "4091904Ki");
        assert_eq!(alloc["ephemeral-storage"].0, "94371840Ki");
        assert_eq!(alloc["cpu"].0, "2");
    }

    #[test]
    fn detects_this_machine() {
        let r = NodeResources::detect(Path::new("/"), 110).unwrap();
        assert!(r.cpu_millis >= 1000);
        assert!(r.memory_bytes > 0);
        assert!(r.ephemeral_storage_bytes > 0);
        let info = system_info("simulated://0.1");
        assert_eq!(info.kubelet_version, KUBELET_VERSION);
        assert_eq!(info.operating_system, "linux");
        assert!(!info.kernel_version.is_empty());
    }
}
