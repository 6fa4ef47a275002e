//! The `default/kubernetes` Endpoints and EndpointSlice when several API
//! servers share a store: upstream's lease endpoint reconciler
//! (`--endpoint-reconciler-type=lease`). Each server keeps the key
//! `/registry/masterleases/<ip>:<port>` under a store lease of 15 s,
//! refreshed every 10 s, and writes the Endpoints from the live keys when
//! they differ. A server that dies drops out when its lease expires; one
//! that stops cleanly deletes its key (`remove`).
//!
//! Upstream keys by IP alone, all servers on one port; keying by
//! `ip:port` also lists servers sharing an IP on different ports (one
//! Endpoints subset per port). An EndpointSlice has one port list, so the
//! slice carries every IP with the port of the first server in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use store::{DeleteRangeRequest, PutRequest, RangeRequest, StoreError};

use crate::error::ApiResult;
use crate::state::ApiState;

/// Where the servers' keys live (upstream: `/masterleases/`).
pub const PREFIX: &str = "/registry/masterleases/";
/// Upstream's `--endpoint-reconciler` lease TTL and refresh period.
pub const LEASE_TTL_SECONDS: i64 = 15;
pub const INTERVAL: Duration = Duration::from_secs(10);

fn key(address: SocketAddr) -> Vec<u8> {
    format!("{PREFIX}{address}").into_bytes()
}

/// Runs the reconciler for the server reachable at `address` until the
/// task is aborted.
pub fn spawn(state: Arc<ApiState>, address: SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lease = 0;
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tick.tick().await;
            match refresh(&state, address, &mut lease).await {
                Ok(servers) => tracing::debug!(?servers, "kubernetes endpoints reconciled"),
                Err(err) => tracing::warn!(%err, "reconciling the kubernetes endpoints"),
            }
        }
    })
}

/// Deletes this server's key and rewrites the Endpoints without it.
pub async fn remove(state: &ApiState, address: SocketAddr) -> ApiResult<()> {
    state
        .store
        .kv()
        .delete_range(DeleteRangeRequest {
            key: key(address),
            ..Default::default()
        })
        .await?;
    let servers = live_servers(state).await?;
    write_endpoints(state, &servers).await
}

/// Keeps this server's key alive and writes the Endpoints of every live
/// key. Returns them.
async fn refresh(
    state: &ApiState,
    address: SocketAddr,
    lease: &mut i64,
) -> ApiResult<Vec<SocketAddr>> {
    let kv = state.store.kv();
    let alive = *lease != 0 && kv.lease_keep_alive(*lease).await.is_ok_and(|r| r.ttl > 0);
    if !alive {
        *lease = kv.lease_grant(LEASE_TTL_SECONDS, 0).await?.id;
    }
    let put = kv
        .put(PutRequest {
            key: key(address),
            value: address.to_string().into_bytes(),
            lease: *lease,
            ..Default::default()
        })
        .await;
    if let Err(StoreError::LeaseNotFound) = put {
        // Expired between the keep-alive and the put: next round.
        *lease = 0;
    }
    put?;
    let servers = live_servers(state).await?;
    write_endpoints(state, &servers).await?;
    Ok(servers)
}

/// The addresses under `PREFIX`, sorted.
async fn live_servers(state: &ApiState) -> ApiResult<Vec<SocketAddr>> {
    let resp = state
        .store
        .kv()
        .range(RangeRequest::prefix(PREFIX.as_bytes().to_vec()))
        .await?;
    let mut servers: Vec<SocketAddr> = resp
        .kvs
        .iter()
        .filter_map(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
        .collect();
    servers.sort();
    servers.dedup();
    Ok(servers)
}

/// Endpoints subsets: one per port, its addresses sorted.
pub fn subsets(servers: &[SocketAddr]) -> Value {
    let mut ports: Vec<u16> = servers.iter().map(|s| s.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let subsets: Vec<Value> = ports
        .iter()
        .map(|port| {
            let mut ips: Vec<String> = servers
                .iter()
                .filter(|s| s.port() == *port)
                .map(|s| s.ip().to_string())
                .collect();
            ips.sort();
            ips.dedup();
            json!({
                "addresses": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            })
        })
        .collect();
    Value::Array(subsets)
}

async fn write_endpoints(state: &ApiState, servers: &[SocketAddr]) -> ApiResult<()> {
    let Some(first) = servers.first() else {
        return Ok(());
    };
    let table = state.table();
    if let Some(res) = table.get("", "v1", "endpoints") {
        let subsets = subsets(servers);
        state
            .store
            .guaranteed_update(&res, Some("default"), "kubernetes", false, |old| {
                let mut obj = old.unwrap_or_else(|| {
                    json!({
                        "apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                    })
                });
                if obj.get("metadata").and_then(|m| m.get("uid")).is_none() {
                    res.prepare_new(&mut obj);
                }
                obj["subsets"] = subsets.clone();
                Ok(obj)
            })
            .await?;
    }
    if let Some(res) = table.get("discovery.k8s.io", "v1", "endpointslices") {
        let mut ips: Vec<String> = servers.iter().map(|s| s.ip().to_string()).collect();
        ips.dedup();
        let endpoints: Vec<Value> = ips
            .iter()
            .map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}}))
            .collect();
        let ports = json!([{"name": "https", "port": first.port(), "protocol": "TCP"}]);
        let family = if first.is_ipv6() { "IPv6" } else { "IPv4" };
        state
            .store
            .guaranteed_update(&res, Some("default"), "kubernetes", false, |old| {
                let mut obj = old.unwrap_or_else(|| {
                    json!({
                        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": "kubernetes"}},
                    })
                });
                if obj.get("metadata").and_then(|m| m.get("uid")).is_none() {
                    res.prepare_new(&mut obj);
                }
                obj["addressType"] = json!(family);
                obj["endpoints"] = Value::Array(endpoints.clone());
                obj["ports"] = ports.clone();
                Ok(obj)
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_subset_per_port_addresses_sorted() {
        let servers: Vec<SocketAddr> = ["10.0.0.2:6443", "10.0.0.1:6443", "127.0.0.1:7443"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            subsets(&servers),
            json!([
                {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                 "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
                {"addresses": [{"ip": "127.0.0.1"}],
                 "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]},
            ])
        );
    }

    #[tokio::test]
    async fn servers_join_and_leave_the_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        let engine = store::Engine::open(dir.path(), store::EngineOptions::default()).unwrap();
        let state = ApiState::new(engine, crate::ApiSettings::default());
        crate::bootstrap::ensure_system_namespaces(&state)
            .await
            .unwrap();
        let first: SocketAddr = "127.0.0.1:6443".parse().unwrap();
        crate::bootstrap::ensure_kubernetes_service(&state, first)
            .await
            .unwrap();
        let a: SocketAddr = "10.0.0.1:6443".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:6443".parse().unwrap();
        let (mut la, mut lb) = (0, 0);
        refresh(&state, a, &mut la).await.unwrap();
        let servers = refresh(&state, b, &mut lb).await.unwrap();
        assert_eq!(servers, vec![a, b]);
        let table = state.table();
        let res = table.get("", "v1", "endpoints").unwrap();
        let ep = state
            .store
            .get(&res, Some("default"), "kubernetes")
            .await
            .unwrap();
        assert_eq!(ep["subsets"], subsets(&[a, b]));
        assert!(ep["metadata"]["uid"].is_string());
        // The lease is kept, not granted again.
        let kept = la;
        refresh(&state, a, &mut la).await.unwrap();
        assert_eq!(la, kept);
        remove(&state, b).await.unwrap();
        let ep = state
            .store
            .get(&res, Some("default"), "kubernetes")
            .await
            .unwrap();
        assert_eq!(ep["subsets"], subsets(&[a]));
        let slices = table
            .get("discovery.k8s.io", "v1", "endpointslices")
            .unwrap();
        let slice = state
            .store
            .get(&slices, Some("default"), "kubernetes")
            .await
            .unwrap();
        assert_eq!(slice["endpoints"][0]["addresses"], json!(["10.0.0.1"]));
    }
}
