//! Leader election through a `coordination.k8s.io/v1` Lease, like
//! client-go's `leaderelection` with a `LeaseLock`: candidates try to take
//! the Lease when it is free or expired (renewTime + leaseDurationSeconds
//! in the past), the holder renews it every `retry_period`, and a holder
//! that cannot renew within `renew_deadline` stops its work. Used for
//! `kube-controller-manager` and `kube-scheduler` in `kube-system`.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff;
use kube::api::PostParams;
use kube::{Api, Client};

use crate::error::{Error, Result, is_conflict};

#[derive(Debug, Clone)]
pub struct LeaderElectionConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// Upstream's defaults (15 s lease, 10 s renew deadline, 2 s retry) for
    /// the lease `kube-system/<name>`; identity `<hostname>_<random>`.
    pub fn new(name: &str) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "oxkube".into());
        LeaderElectionConfig {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: format!("{host}_{:08x}", rand::random::<u32>()),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Waits to become leader, then runs `work` while renewing. Returns when
/// `work` ends (Ok) or leadership is lost (Err).
pub async fn run_as_leader<F>(client: Client, cfg: LeaderElectionConfig, work: F) -> Result<()>
where
    F: Future<Output = ()>,
{
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        match try_acquire_or_renew(&api, &cfg).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(lease = %cfg.name, error = %e, "leader election attempt failed")
            }
        }
        tokio::time::sleep(cfg.retry_period).await;
    }
    tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
    let renew = async {
        let mut last_ok = std::time::Instant::now();
        loop {
            tokio::time::sleep(cfg.retry_period).await;
            match try_acquire_or_renew(&api, &cfg).await {
                Ok(true) => last_ok = std::time::Instant::now(),
                Ok(false) => return Error::Invalid(format!("lost the lease {}", cfg.name)),
                Err(e) if last_ok.elapsed() > cfg.renew_deadline => return e,
                Err(_) => {}
            }
        }
    };
    tokio::select! {
        _ = work => Ok(()),
        e = renew => {
            tracing::error!(lease = %cfg.name, error = %e, "leader election lost");
            Err(e)
        }
    }
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

/// One attempt: true when we hold the lease afterwards.
async fn try_acquire_or_renew(api: &Api<Lease>, cfg: &LeaderElectionConfig) -> Result<bool> {
    let duration_secs = cfg.lease_duration.as_secs() as i32;
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(cfg.identity.clone()),
                lease_duration_seconds: Some(duration_secs),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e.into()),
        };
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let ours = holder == cfg.identity;
    if !ours && !holder.is_empty() {
        let duration = spec.lease_duration_seconds.unwrap_or(duration_secs);
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            t.0 + jiff::SignedDuration::from_secs(i64::from(duration)) < jiff::Timestamp::now()
        });
        if !expired {
            return Ok(false);
        }
    }
    if !ours {
        spec.holder_identity = Some(cfg.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(duration_secs);
    spec.renew_time = Some(now());
    // The update carries the resourceVersion we read: a rival's write wins.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(e) if is_conflict(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
