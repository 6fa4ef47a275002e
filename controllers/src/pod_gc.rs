//! The pod garbage collector (upstream's `podgc`, the orphaned-pods part):
//! pods bound to a Node that no longer exists are force-deleted (grace 0),
//! since no kubelet will ever confirm their termination. A node missing
//! from the cache is checked against the API server after a quarantine
//! before its pods go. Runs every `CHECK_PERIOD`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::DeleteParams;
use kube::runtime::reflector::{self, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::error::is_not_found;

const CHECK_PERIOD: Duration = Duration::from_secs(5);
/// How long a node must be missing from the cache before the API server is
/// asked (upstream: 40 s).
const QUARANTINE: Duration = Duration::from_secs(5);

fn drive<K>(client: &Client) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    .default_backoff();
    tokio::spawn(futures::StreamExt::for_each(stream, |_| {
        futures::future::ready(())
    }));
    store
}

pub async fn run(client: Client) {
    let nodes: Store<Node> = drive(&client);
    let pods: Store<Pod> = drive(&client);
    let _ = nodes.wait_until_ready().await;
    let _ = pods.wait_until_ready().await;
    let node_api: Api<Node> = Api::all(client.clone());
    let mut missing_since: HashMap<String, Instant> = HashMap::new();
    loop {
        tokio::time::sleep(CHECK_PERIOD).await;
        let known: HashSet<String> = nodes.state().iter().map(|n| n.name_any()).collect();
        let mut orphaned: HashMap<String, Vec<std::sync::Arc<Pod>>> = HashMap::new();
        for pod in pods.state() {
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone())
                && !node.is_empty()
                && !known.contains(&node)
            {
                orphaned.entry(node).or_default().push(pod);
            }
        }
        missing_since.retain(|n, _| orphaned.contains_key(n));
        for (node, pods) in orphaned {
            let since = *missing_since
                .entry(node.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() < QUARANTINE {
                continue;
            }
            match node_api.get_opt(&node).await {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(e) => {
                    tracing::debug!(node, error = %e, "podgc: checking node failed");
                    continue;
                }
            }
            for pod in pods {
                let api: Api<Pod> =
                    Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
                tracing::info!(pod = %pod.name_any(), node, "deleting pod bound to a missing node");
                match api
                    .delete(&pod.name_any(), &DeleteParams::default().grace_period(0))
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        tracing::warn!(pod = %pod.name_any(), error = %e, "podgc: delete failed")
                    }
                }
            }
        }
    }
}
