//! Pod networking by executing the standard CNI plugins (bridge,
//! host-local, portmap, loopback from Debian's `containernetworking-plugins`
//! in `/usr/lib/cni`) with a conflist the kubelet writes: ADD when a pod's
//! sandbox is created (the pod IP comes from the result), DEL at teardown.
//! Network namespaces are named ones (`ip netns add`), under
//! `/var/run/netns/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("CNI plugin {plugin} {command}: {message}")]
    Plugin {
        plugin: String,
        command: String,
        message: String,
    },
    #[error("network namespace {0}: {1}")]
    Netns(String, String),
    #[error("CNI: {0}")]
    Io(#[from] std::io::Error),
}

/// The network configuration and where the plugins are.
#[derive(Debug, Clone)]
pub struct CniConfig {
    /// `--cni-bin-dir` (upstream's flag name).
    pub bin_dir: PathBuf,
    /// `--cni-conf-dir`: where the conflist is written.
    pub conf_dir: PathBuf,
    /// The bridge device (default `oxkube0`).
    pub bridge: String,
    /// The pod CIDR (host-local's subnet).
    pub subnet: String,
    /// host-local's state directory.
    pub data_dir: PathBuf,
}

/// The pod a CNI call is for.
#[derive(Debug, Clone)]
pub struct CniPod<'a> {
    pub container_id: &'a str,
    pub netns_path: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    /// hostPort mappings: (hostPort, containerPort, protocol).
    pub port_mappings: Vec<(i32, i32, String)>,
}

pub const NETWORK_NAME: &str = "oxkube";
const CNI_VERSION: &str = "1.0.0";

impl CniConfig {
    /// The conflist: bridge (gateway, masquerade, hairpin) with host-local
    /// IPAM over the pod CIDR, then portmap for hostPorts.
    pub fn conflist(&self) -> Value {
        json!({
            "cniVersion": CNI_VERSION,
            "name": NETWORK_NAME,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": true,
                    "ipMasq": true,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": self.data_dir,
                    }
                },
                {"type": "portmap", "capabilities": {"portMappings": true}}
            ]
        })
    }

    /// Writes `<conf_dir>/10-oxkube.conflist`.
    pub fn write_conflist(&self) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.conf_dir)?;
        let path = self.conf_dir.join("10-oxkube.conflist");
        let text = serde_json::to_string_pretty(&self.conflist())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        std::fs::write(&path, text)?;
        Ok(path)
    }

    async fn exec(
        &self,
        command: &str,
        pod: &CniPod<'_>,
        ifname: &str,
        config: &Value,
    ) -> Result<Value, CniError> {
        let plugin = config["type"].as_str().unwrap_or_default().to_string();
        let fail = |message: String| CniError::Plugin {
            plugin: plugin.clone(),
            command: command.into(),
            message,
        };
        let mut child = tokio::process::Command::new(self.bin_dir.join(&plugin))
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", pod.container_id)
            .env("CNI_NETNS", pod.netns_path)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", &self.bin_dir)
            .env(
                "CNI_ARGS",
                format!(
                    "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
                    pod.namespace, pod.name, pod.container_id, pod.uid
                ),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("cannot run {}: {e}", self.bin_dir.join(&plugin).display())))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(config.to_string().as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            let parsed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let msg = parsed["msg"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
            return Err(fail(msg));
        }
        if out.stdout.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad result: {e}")))
    }

    fn plugin_config(&self, plugin: &Value, prev: Option<&Value>, pod: &CniPod<'_>) -> Value {
        let mut config = plugin.clone();
        config["cniVersion"] = json!(CNI_VERSION);
        config["name"] = json!(NETWORK_NAME);
        if let Some(prev) = prev.filter(|p| !p.is_null()) {
            config["prevResult"] = prev.clone();
        }
        if plugin["capabilities"]["portMappings"] == true {
            let mappings: Vec<Value> = pod
                .port_mappings
                .iter()
                .map(|(host, container, proto)| {
                    json!({"hostPort": host, "containerPort": container, "protocol": proto.to_lowercase()})
                })
                .collect();
            config["runtimeConfig"] = json!({"portMappings": mappings});
        }
        config
    }

    /// Sets up `lo` and `eth0` in the pod's netns; returns the pod IP.
    pub async fn add(&self, pod: &CniPod<'_>) -> Result<String, CniError> {
        let lo = json!({"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"});
        self.exec("ADD", pod, "lo", &lo).await?;
        let list = self.conflist();
        let mut result: Option<Value> = None;
        for plugin in list["plugins"].as_array().into_iter().flatten() {
            let config = self.plugin_config(plugin, result.as_ref(), pod);
            result = Some(self.exec("ADD", pod, "eth0", &config).await?);
        }
        let result = result.unwrap_or(Value::Null);
        result["ips"]
            .as_array()
            .and_then(|ips| ips.first())
            .and_then(|ip| ip["address"].as_str())
            .and_then(|a| a.split('/').next())
            .map(str::to_string)
            .ok_or_else(|| CniError::Plugin {
                plugin: "bridge".into(),
                command: "ADD".into(),
                message: format!("no IP in result {result}"),
            })
    }

    /// Tears the pod's network down (plugins in reverse order; errors of
    /// individual plugins are logged, the first is returned).
    pub async fn del(&self, pod: &CniPod<'_>) -> Result<(), CniError> {
        let list = self.conflist();
        let mut first_error = None;
        for plugin in list["plugins"].as_array().into_iter().flatten().rev() {
            let config = self.plugin_config(plugin, None, pod);
            if let Err(e) = self.exec("DEL", pod, "eth0", &config).await {
                tracing::warn!(error = %e, "CNI DEL");
                first_error.get_or_insert(e);
            }
        }
        let lo = json!({"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"});
        let _ = self.exec("DEL", pod, "lo", &lo).await;
        first_error.map_or(Ok(()), Err)
    }
}

/// The path of a named network namespace.
pub fn netns_path(name: &str) -> String {
    format!("/var/run/netns/{name}")
}

async fn ip_netns(args: &[&str]) -> Result<(), CniError> {
    let out = tokio::process::Command::new("ip")
        .arg("netns")
        .args(args)
        .output()
        .await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(CniError::Netns(
            args.last().copied().unwrap_or_default().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Creates the named netns (an existing one is reused).
pub async fn create_netns(name: &str) -> Result<String, CniError> {
    let path = netns_path(name);
    if !Path::new(&path).exists() {
        ip_netns(&["add", name]).await?;
    }
    Ok(path)
}

/// Deletes the named netns if it exists.
pub async fn delete_netns(name: &str) -> Result<(), CniError> {
    if Path::new(&netns_path(name)).exists() {
        ip_netns(&["delete", name]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflist_uses_bridge_host_local_and_portmap() {
        let c = CniConfig {
            bin_dir: "/usr/lib/cni".into(),
            conf_dir: "/tmp/x".into(),
            bridge: "oxkube0".into(),
            subnet: "10.88.0.0/16".into(),
            data_dir: "/tmp/x/networks".into(),
        };
        let list = c.conflist();
        assert_eq!(list["plugins"][0]["type"], "bridge");
        assert_eq!(
            list["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.88.0.0/16"
        );
        assert_eq!(list["plugins"][1]["type"], "portmap");
        let pod = CniPod {
            container_id: "c",
            netns_path: "/var/run/netns/x",
            namespace: "default",
            name: "web",
            uid: "u",
            port_mappings: vec![(8080, 80, "TCP".into())],
        };
        let config = c.plugin_config(&list["plugins"][1], Some(&json!({"ips": []})), &pod);
        assert_eq!(config["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(
            config["runtimeConfig"]["portMappings"][0]["protocol"],
            "tcp"
        );
        assert_eq!(config["name"], NETWORK_NAME);
        assert!(config.get("prevResult").is_some());
    }
}
