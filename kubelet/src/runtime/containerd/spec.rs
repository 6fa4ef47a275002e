//! OCI runtime specs for pod containers, built from the pod spec and the
//! image config: process (args from command/args over the image's
//! Entrypoint/Cmd, env, working dir, user), the standard mounts plus the
//! pod's volume bind mounts, namespaces (the pod's network namespace by
//! path, own pid/ipc/uts/mount), the pod's sysctls, the pod's cgroup path, and CPU/memory
//! limits from `resources` (shares from requests, CFS quota and memory limit
//! from limits), as containerd's CRI plugin does.

use k8s_openapi::api::core::v1::{Container, PodSecurityContext, SecurityContext};
use serde_json::{Value, json};

use crate::quantity;

/// What the image contributes (its config).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// A bind mount into the container.
#[derive(Debug, Clone, PartialEq)]
pub struct BindMount {
    pub host_path: String,
    pub container_path: String,
    pub read_only: bool,
}

/// Everything the spec needs besides the container and image.
#[derive(Debug, Clone)]
pub struct SpecContext<'a> {
    pub hostname: &'a str,
    pub netns_path: &'a str,
    pub cgroups_path: String,
    /// Extra environment (resolved `env` of the container), in order.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<BindMount>,
    /// The pod's `securityContext.sysctls` (namespaced kernel parameters).
    pub sysctls: Vec<(String, String)>,
}

/// The command line: `command` replaces the image's Entrypoint, `args`
/// its Cmd (upstream's rules).
pub fn command_line(container: &Container, image: &ImageConfig) -> Vec<String> {
    let command = container.command.clone().unwrap_or_default();
    let args = container.args.clone();
    if !command.is_empty() {
        let mut line = command;
        line.extend(args.unwrap_or_default());
        return line;
    }
    let mut line = image.entrypoint.clone();
    line.extend(args.unwrap_or_else(|| image.cmd.clone()));
    line
}

/// (uid, gid): runAsUser/runAsGroup, else the image's numeric `uid[:gid]`
/// user, else root. Named image users resolve to root (no passwd lookup).
pub fn user(container: &Container, image: &ImageConfig) -> (i64, i64) {
    let (mut uid, mut gid) = (0, 0);
    if let Some((u, g)) = image.user.split_once(':') {
        uid = u.parse().unwrap_or(0);
        gid = g.parse().unwrap_or(0);
    } else if let Ok(u) = image.user.parse() {
        uid = u;
    }
    if let Some(sc) = &container.security_context {
        uid = sc.run_as_user.unwrap_or(uid);
        gid = sc.run_as_group.unwrap_or(gid);
    }
    (uid, gid)
}

/// The container's security context with the pod's `runAsUser`,
/// `runAsGroup` and `runAsNonRoot` filling what the container leaves unset
/// (upstream's DetermineEffectiveSecurityContext).
pub fn effective_security_context(
    pod: Option<&PodSecurityContext>,
    container: Option<&SecurityContext>,
) -> Option<SecurityContext> {
    let Some(pod) = pod else {
        return container.cloned();
    };
    let mut sc = container.cloned().unwrap_or_default();
    sc.run_as_user = sc.run_as_user.or(pod.run_as_user);
    sc.run_as_group = sc.run_as_group.or(pod.run_as_group);
    sc.run_as_non_root = sc.run_as_non_root.or(pod.run_as_non_root);
    sc.se_linux_options = sc.se_linux_options.or_else(|| pod.se_linux_options.clone());
    (container.is_some() || sc != SecurityContext::default()).then_some(sc)
}

/// The cgroup `resources` block for the container's requests and limits.
pub fn resources(container: &Container) -> Value {
    let res = container.resources.clone().unwrap_or_default();
    let get = |m: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               k: &str| { m.as_ref().and_then(|m| m.get(k)).map(|q| q.0.clone()) };
    let cpu_limit = get(&res.limits, "cpu").and_then(|q| quantity::cpu_millis(&q));
    let cpu_request = get(&res.requests, "cpu")
        .and_then(|q| quantity::cpu_millis(&q))
        .or(cpu_limit);
    let memory_limit = get(&res.limits, "memory").and_then(|q| quantity::bytes(&q));
    let mut cpu = serde_json::Map::new();
    // Upstream: shares = millis * 1024 / 1000, at least 2; quota over a
    // 100 ms period, at least 1 ms.
    let shares = cpu_request.map_or(2, |m| (m * 1024 / 1000).max(2));
    cpu.insert("shares".into(), json!(shares));
    if let Some(limit) = cpu_limit {
        cpu.insert("quota".into(), json!((limit * 100).max(1000)));
        cpu.insert("period".into(), json!(100_000));
    }
    let mut out = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "cpu": cpu,
    });
    if let Some(limit) = memory_limit {
        out["memory"] = json!({"limit": limit});
    }
    out
}

const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The full OCI spec (runtime-spec 1.0.2) for one container.
pub fn build(container: &Container, image: &ImageConfig, ctx: &SpecContext) -> Value {
    let args = command_line(container, image);
    let (uid, gid) = user(container, image);
    let sc = container.security_context.clone().unwrap_or_default();
    // allowPrivilegeEscalation: false sets no_new_privs (upstream's
    // AddNoNewPrivileges); unset leaves it to the runtime default (off).
    let no_new_privileges = sc.allow_privilege_escalation == Some(false);
    let read_only_root = sc.read_only_root_filesystem.unwrap_or(false);
    let mut env: Vec<String> = Vec::new();
    let mut set = |k: &str, v: &str| {
        let prefix = format!("{k}=");
        env.retain(|e| !e.starts_with(&prefix));
        env.push(format!("{k}={v}"));
    };
    for e in &image.env {
        if let Some((k, v)) = e.split_once('=') {
            set(k, v);
        }
    }
    if !image.env.iter().any(|e| e.starts_with("PATH=")) {
        set(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    }
    set("HOSTNAME", ctx.hostname);
    for (k, v) in &ctx.env {
        set(k, v);
    }
    let cwd = container
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| (!image.working_dir.is_empty()).then(|| image.working_dir.clone()))
        .unwrap_or_else(|| "/".into());
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    for m in &ctx.mounts {
        mounts.push(json!({
            "destination": m.container_path,
            "type": "bind",
            "source": m.host_path,
            "options": ["rbind", "rprivate", if m.read_only { "ro" } else { "rw" }],
        }));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if !ctx.netns_path.is_empty() {
        namespaces.push(json!({"type": "network", "path": ctx.netns_path}));
    }
    let sysctl: serde_json::Map<String, Value> = ctx
        .sysctls
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": container.tty.unwrap_or(false),
            "user": {"uid": uid, "gid": gid},
            "args": args,
            "env": env,
            "cwd": cwd,
            "capabilities": {
                "bounding": CAPABILITIES,
                "effective": CAPABILITIES,
                "permitted": CAPABILITIES,
            },
            "noNewPrivileges": no_new_privileges,
        },
        "root": {"path": "rootfs", "readonly": read_only_root},
        "hostname": ctx.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": ctx.cgroups_path,
            "sysctl": sysctl,
            "resources": resources(container),
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                            "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                              "/proc/sys", "/proc/sysrq-trigger"],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(v: Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: vec!["/entry".into()],
            cmd: vec!["sh".into()],
            env: vec!["PATH=/bin".into(), "A=image".into()],
            working_dir: "/work".into(),
            user: "1000:2000".into(),
        }
    }

    #[test]
    fn command_and_args_follow_upstream_rules() {
        let img = image();
        let c = container(json!({"name": "c"}));
        assert_eq!(command_line(&c, &img), ["/entry", "sh"]);
        let c = container(json!({"name": "c", "args": ["x"]}));
        assert_eq!(command_line(&c, &img), ["/entry", "x"]);
        let c = container(json!({"name": "c", "command": ["httpd"], "args": ["-f"]}));
        assert_eq!(command_line(&c, &img), ["httpd", "-f"]);
    }

    #[test]
    fn spec_has_env_user_mounts_netns_and_limits() {
        let c = container(json!({
            "name": "c", "env": [{"name": "A", "value": "pod"}],
            "securityContext": {"runAsUser": 7},
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}
        }));
        let ctx = SpecContext {
            hostname: "web",
            netns_path: "/var/run/netns/x",
            cgroups_path: "/oxkube/pod1/c".into(),
            env: vec![("A".into(), "pod".into())],
            mounts: vec![BindMount {
                host_path: "/tmp/v".into(),
                container_path: "/data".into(),
                read_only: true,
            }],
            sysctls: Vec::new(),
        };
        let spec = build(&c, &image(), &ctx);
        let env: Vec<&str> = spec["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"A=pod") && !env.contains(&"A=image"),
            "{env:?}"
        );
        assert!(env.contains(&"HOSTNAME=web"));
        assert_eq!(spec["process"]["user"], json!({"uid": 7, "gid": 2000}));
        assert_eq!(spec["process"]["cwd"], "/work");
        let limits = &spec["linux"]["resources"];
        assert_eq!(limits["cpu"]["quota"], 50_000);
        assert_eq!(limits["cpu"]["period"], 100_000);
        assert_eq!(limits["cpu"]["shares"], 512);
        assert_eq!(limits["memory"]["limit"], 64 << 20);
        let netns = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["type"] == "network")
            .unwrap();
        assert_eq!(netns["path"], "/var/run/netns/x");
        let data = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/data")
            .unwrap();
        assert_eq!(data["options"][2], "ro");
    }

    #[test]
    fn security_context_sets_read_only_root_no_new_privs_and_pod_defaults() {
        let ctx = SpecContext {
            hostname: "h",
            netns_path: "",
            cgroups_path: "/x".into(),
            env: vec![],
            mounts: vec![],
            sysctls: vec![("kernel.shm_rmid_forced".into(), "1".into())],
        };
        let c = container(json!({"name": "c"}));
        let spec = build(&c, &image(), &ctx);
        assert_eq!(spec["root"]["readonly"], false);
        assert_eq!(spec["linux"]["sysctl"]["kernel.shm_rmid_forced"], "1");
        assert_eq!(spec["process"]["noNewPrivileges"], false);
        let c = container(json!({"name": "c", "securityContext": {
            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}}));
        let spec = build(&c, &image(), &ctx);
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(spec["process"]["noNewPrivileges"], true);

        let pod: PodSecurityContext =
            serde_json::from_value(json!({"runAsUser": 1001, "runAsGroup": 2002})).unwrap();
        let own: SecurityContext = serde_json::from_value(json!({"runAsUser": 5})).unwrap();
        let merged = effective_security_context(Some(&pod), Some(&own)).unwrap();
        assert_eq!(
            (merged.run_as_user, merged.run_as_group),
            (Some(5), Some(2002))
        );
        let merged = effective_security_context(Some(&pod), None).unwrap();
        assert_eq!(
            (merged.run_as_user, merged.run_as_group),
            (Some(1001), Some(2002))
        );
        assert_eq!(effective_security_context(None, None), None);
        let empty = PodSecurityContext::default();
        assert_eq!(effective_security_context(Some(&empty), None), None);
    }
}
