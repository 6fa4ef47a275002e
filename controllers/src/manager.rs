//! The controller manager: runs the controllers chosen with upstream's
//! `--controllers` semantics (`*` = every controller on by default, `name`
//! enables, `-name` disables; first match wins), each as its own task on
//! one shared client. Names are upstream's (`replicaset-controller`, ...),
//! with the older short names (`replicaset`, ...) accepted as aliases.

use std::future::Future;
use std::pin::Pin;

use kube::Client;

/// (name, alias) of every controller this crate has.
pub const CONTROLLERS: [(&str, &str); 11] = [
    ("replicaset-controller", "replicaset"),
    ("replicationcontroller-controller", "replicationcontroller"),
    ("deployment-controller", "deployment"),
    ("garbage-collector-controller", "garbagecollector"),
    ("disruption-controller", "disruption"),
    ("pod-garbage-collector-controller", "podgc"),
    ("node-lifecycle-controller", "nodelifecycle"),
    ("serviceaccount-controller", "serviceaccount"),
    ("resourcequota-controller", "resourcequota"),
    ("endpointslice-controller", "endpointslice"),
    (
        "root-ca-certificate-publisher-controller",
        "root-ca-cert-publisher",
    ),
];

/// What the manager needs besides a client.
#[derive(Debug, Clone, Default)]
pub struct ManagerConfig {
    /// `--controllers` values (default `["*"]`).
    pub controllers: Vec<String>,
    /// PEM of the cluster CA for `kube-root-ca.crt`; without it that
    /// controller does not run.
    pub root_ca_pem: Option<String>,
    /// `--node-monitor-grace-period` (None: upstream's 40 s).
    pub node_monitor_grace_period: Option<std::time::Duration>,
}

/// Upstream's `IsControllerEnabled`.
pub fn is_enabled(name: &str, alias: &str, flags: &[String]) -> bool {
    let mut star = false;
    for f in flags {
        if f == name || f == alias {
            return true;
        }
        if let Some(off) = f.strip_prefix('-')
            && (off == name || off == alias)
        {
            return false;
        }
        if f == "*" {
            star = true;
        }
    }
    star
}

/// Names in `flags` that are not controllers (for a start-up error).
pub fn unknown(flags: &[String]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| f.as_str() != "*")
        .filter(|f| {
            let n = f.trim_start_matches('-');
            !CONTROLLERS
                .iter()
                .any(|(name, alias)| n == *name || n == *alias)
        })
        .cloned()
        .collect()
}

/// Runs every enabled controller until the process stops.
pub async fn run(client: Client, cfg: ManagerConfig) {
    let flags = if cfg.controllers.is_empty() {
        vec!["*".to_string()]
    } else {
        cfg.controllers.clone()
    };
    let mut tasks: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
    for (name, alias) in CONTROLLERS {
        if !is_enabled(name, alias, &flags) {
            continue;
        }
        let c = client.clone();
        let task: Pin<Box<dyn Future<Output = ()> + Send>> = match alias {
            "replicaset" => Box::pin(crate::replicaset::run(c)),
            "replicationcontroller" => Box::pin(crate::replication_controller::run(c)),
            "deployment" => Box::pin(crate::deployment::run(c)),
            "garbagecollector" => Box::pin(crate::garbage_collector::run(c)),
            "disruption" => Box::pin(crate::disruption::run(c)),
            "podgc" => Box::pin(crate::pod_gc::run(c)),
            "nodelifecycle" => Box::pin(crate::node_lifecycle::run(
                c,
                cfg.node_monitor_grace_period
                    .unwrap_or(std::time::Duration::from_secs(40)),
            )),
            "resourcequota" => Box::pin(crate::resource_quota::run(c)),
            "endpointslice" => Box::pin(crate::endpoints::run(c)),
            "serviceaccount" => Box::pin(crate::namespace_defaults::run_service_accounts(c)),
            "root-ca-cert-publisher" => match &cfg.root_ca_pem {
                Some(pem) => Box::pin(crate::namespace_defaults::run_root_ca_publisher(
                    c,
                    pem.clone(),
                )),
                None => {
                    tracing::warn!("no cluster CA known: {name} not started");
                    continue;
                }
            },
            _ => continue,
        };
        tracing::info!(controller = name, "starting controller");
        tasks.push(task);
    }
    futures::future::join_all(tasks).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn controllers_flag_semantics() {
        assert!(is_enabled(
            "deployment-controller",
            "deployment",
            &flags(&["*"])
        ));
        assert!(!is_enabled(
            "deployment-controller",
            "deployment",
            &flags(&["*", "-deployment"])
        ));
        assert!(is_enabled(
            "deployment-controller",
            "deployment",
            &flags(&["deployment-controller"])
        ));
        assert!(!is_enabled(
            "replicaset-controller",
            "replicaset",
            &flags(&["deployment"])
        ));
        assert_eq!(
            unknown(&flags(&["*", "-nope", "replicaset"])),
            vec!["-nope".to_string()]
        );
    }
}
