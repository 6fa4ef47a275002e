//! Leader election through a Lease: of two candidates only one works; when
//! it stops renewing, the other takes over after the lease expires.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use controllers::leader_election::{LeaderElectionConfig, run_as_leader};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

use common::wait_for;

fn candidate(identity: &str) -> LeaderElectionConfig {
    let mut cfg = LeaderElectionConfig::new("test-lock");
    cfg.identity = identity.into();
    cfg.lease_duration = Duration::from_secs(3);
    cfg.renew_deadline = Duration::from_secs(2);
    cfg.retry_period = Duration::from_millis(500);
    cfg
}

#[tokio::test]
async fn one_leader_and_takeover_after_expiry() {
    let h = common::start(&["none"]).await;
    let working = [
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    ];
    let mut tasks = Vec::new();
    for (i, id) in ["first", "second"].into_iter().enumerate() {
        let flag = working[i].clone();
        let client = h.client.clone();
        let work = async move {
            flag.store(true, Ordering::SeqCst);
            futures::future::pending::<()>().await
        };
        tasks.push(tokio::spawn(async move {
            let _ = run_as_leader(client, candidate(id), work).await;
        }));
        if i == 0 {
            wait_for(20, "the first candidate to lead", || async {
                working[0].load(Ordering::SeqCst).then_some(())
            })
            .await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !working[1].load(Ordering::SeqCst),
        "only one leader at a time"
    );
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), "kube-system");
    let lease = leases.get("test-lock").await.expect("lease");
    assert_eq!(
        lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref()),
        Some("first")
    );

    // The leader dies without releasing: the other waits for expiry.
    tasks[0].abort();
    wait_for(20, "the second candidate to take over", || async {
        working[1].load(Ordering::SeqCst).then_some(())
    })
    .await;
    let lease = leases.get("test-lock").await.expect("lease");
    let spec = lease.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("second"));
    assert_eq!(spec.lease_transitions, Some(1));
    tasks[1].abort();
}
