//! Service environment variables (upstream's pkg/kubelet/envvars): every
//! container of a pod with `enableServiceLinks` (the default) sees, for each
//! service of its namespace with a cluster IP, `<NAME>_SERVICE_HOST`,
//! `<NAME>_SERVICE_PORT` (and `<NAME>_SERVICE_PORT_<PORTNAME>`) plus the
//! Docker-link style `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`.
//! The `kubernetes` service of the `default` namespace is always included.
//! The container's own `env` and `envFrom` come after them and win.

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Api;
use kube::api::ListParams;

/// The namespace and name of the API server's service.
const MASTER_NAMESPACE: &str = "default";
const MASTER_SERVICE: &str = "kubernetes";

fn env_name(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// The variables for `services` (those without a cluster IP are skipped),
/// sorted by service name.
pub fn from_services(services: &[Service]) -> Vec<(String, String)> {
    let mut services: Vec<&Service> = services.iter().collect();
    services.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut env = Vec::new();
    for service in services {
        let Some(spec) = &service.spec else { continue };
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = env_name(service.metadata.name.as_deref().unwrap_or_default());
        let ports = spec.ports.clone().unwrap_or_default();
        env.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        if let Some(first) = ports.first() {
            env.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
        }
        for port in &ports {
            if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
                env.push((
                    format!("{name}_SERVICE_PORT_{}", env_name(port_name)),
                    port.port.to_string(),
                ));
            }
        }
        for (i, port) in ports.iter().enumerate() {
            let proto = port.protocol.as_deref().unwrap_or("TCP");
            let lower = proto.to_lowercase();
            let url = format!("{lower}://{ip}:{}", port.port);
            let prefix = format!("{name}_PORT_{}_{}", port.port, proto.to_uppercase());
            if i == 0 {
                env.push((format!("{name}_PORT"), url.clone()));
            }
            env.push((prefix.clone(), url));
            env.push((format!("{prefix}_PROTO"), lower));
            env.push((format!("{prefix}_PORT"), port.port.to_string()));
            env.push((format!("{prefix}_ADDR"), ip.clone()));
        }
    }
    env
}

/// The service variables for `pod` (none when `enableServiceLinks` is
/// false, apart from the API server's service).
pub async fn for_pod(client: &kube::Client, pod: &Pod) -> Result<Vec<(String, String)>, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut services: Vec<Service> = Vec::new();
    if links {
        services = Api::<Service>::namespaced(client.clone(), &ns)
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("listing the services of namespace {ns}: {e}"))?
            .items;
    }
    if ns != MASTER_NAMESPACE || !links {
        let master = Api::<Service>::namespaced(client.clone(), MASTER_NAMESPACE)
            .get_opt(MASTER_SERVICE)
            .await
            .map_err(|e| format!("reading the {MASTER_SERVICE} service: {e}"))?;
        services.retain(|s| s.metadata.name.as_deref() != Some(MASTER_SERVICE));
        services.extend(master);
    }
    Ok(from_services(&services))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_follow_upstream_names() {
        let services: Vec<Service> = serde_json::from_value(json!([
            {"metadata": {"name": "fooservice"}, "spec": {"clusterIP": "10.0.0.11",
                "ports": [{"port": 8765, "protocol": "TCP"}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]}},
            {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
        ]))
        .expect("services");
        let env = from_services(&services);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("FOOSERVICE_SERVICE_HOST"), Some("10.0.0.11"));
        assert_eq!(get("FOOSERVICE_SERVICE_PORT"), Some("8765"));
        assert_eq!(get("FOOSERVICE_SERVICE_PORT_DNS_UDP"), Some("53"));
        assert_eq!(get("FOOSERVICE_PORT"), Some("tcp://10.0.0.11:8765"));
        assert_eq!(
            get("FOOSERVICE_PORT_8765_TCP"),
            Some("tcp://10.0.0.11:8765")
        );
        assert_eq!(get("FOOSERVICE_PORT_8765_TCP_PROTO"), Some("tcp"));
        assert_eq!(get("FOOSERVICE_PORT_8765_TCP_PORT"), Some("8765"));
        assert_eq!(get("FOOSERVICE_PORT_8765_TCP_ADDR"), Some("10.0.0.11"));
        assert_eq!(get("FOOSERVICE_PORT_53_UDP_PROTO"), Some("udp"));
        assert!(env.iter().all(|(n, _)| !n.starts_with("HEADLESS")));
    }
}
