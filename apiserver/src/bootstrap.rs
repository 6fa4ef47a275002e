//! Objects that exist from the first start: the system namespaces
//! (`default`, `kube-system`, `kube-public`, `kube-node-lease`), the
//! built-in PriorityClasses (`system-node-critical`,
//! `system-cluster-critical`) and the `default/kubernetes` Service with its
//! Endpoints and EndpointSlice pointing at this server.

use serde_json::json;

use crate::error::ApiResult;
use crate::state::ApiState;

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates each system namespace that is missing. Safe to run on every start
/// and on several servers at once (create is a compare-and-swap).
pub async fn ensure_system_namespaces(state: &ApiState) -> ApiResult<()> {
    for name in SYSTEM_NAMESPACES {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        create_missing(state, "", "v1", "namespaces", None, ns).await?;
    }
    Ok(())
}

/// Creates the built-in PriorityClasses that are missing (upstream's
/// `scheduling/bootstrap-system-priority-classes` post-start hook).
pub async fn ensure_system_priority_classes(state: &ApiState) -> ApiResult<()> {
    for (name, value, description) in crate::strategy::scheduling::SYSTEM_PRIORITY_CLASSES {
        let pc = json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        });
        create_missing(
            state,
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            None,
            pc,
        )
        .await?;
    }
    Ok(())
}

/// The first host address of an IPv4 CIDR ("10.96.0.0/12" -> 10.96.0.1),
/// which upstream reserves for the `kubernetes` Service.
pub fn first_service_ip(cidr: &str) -> Option<std::net::Ipv4Addr> {
    let (net, bits) = cidr.split_once('/')?;
    let net: std::net::Ipv4Addr = net.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    if bits > 30 {
        return None;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some(std::net::Ipv4Addr::from((u32::from(net) & mask) + 1))
}

/// Creates `obj` in `resource` unless an object of that name exists (the
/// create is a compare-and-swap, so several servers may race safely).
async fn create_missing(
    state: &ApiState,
    group: &str,
    version: &str,
    resource: &str,
    ns: Option<&str>,
    mut obj: serde_json::Value,
) -> ApiResult<()> {
    let table = state.table();
    let Some(res) = table.get(group, version, resource) else {
        return Ok(());
    };
    res.prepare_new(&mut obj);
    match state.store.create(&res, ns, obj, false).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The `default/kubernetes` Service, Endpoints and EndpointSlice.
pub async fn ensure_kubernetes_service(
    state: &ApiState,
    address: std::net::SocketAddr,
) -> ApiResult<()> {
    let Some(cluster_ip) = first_service_ip(&state.settings.service_cluster_ip_range) else {
        return Ok(());
    };
    let ip = address.ip().to_string();
    let port = address.port();
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    create_missing(
        state,
        "",
        "v1",
        "services",
        Some("default"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": cluster_ip.to_string(),
                "clusterIPs": [cluster_ip.to_string()],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            },
            "status": {"loadBalancer": {}},
        }),
    )
    .await?;
    create_missing(state, "", "v1", "endpoints", Some("default"), json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    })).await?;
    create_missing(state, "discovery.k8s.io", "v1", "endpointslices", Some("default"), json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })).await
}

#[cfg(test)]
mod tests {
    use super::first_service_ip;

    #[test]
    fn first_ip_of_the_service_range() {
        assert_eq!(
            first_service_ip("10.96.0.0/12").unwrap().to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            first_service_ip("10.0.0.0/24").unwrap().to_string(),
            "10.0.0.1"
        );
        assert!(first_service_ip("nonsense").is_none());
    }
}
