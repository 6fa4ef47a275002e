//! Partitions of a 3-member replicated `oxkube store`: members run in
//! network namespaces the test creates (veth pairs on a bridge); the leader
//! is cut off from its peers with nftables drop rules. The cut-off minority
//! refuses linearizable reads and writes with etcd's error (`etcdserver:
//! request timed out`, Unavailable) while still answering serializable
//! reads; the majority elects a leader and keeps writing; after healing,
//! every member converges to the same revision and HashKV hash. Needs root
//! (skipped otherwise).

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, etcdctl};
use common::netns::Net;
use store::{Kv, PutRequest, RangeRequest, StoreError};

async fn hashes_agree(cluster: &Cluster, timeout: Duration) -> Result<String, String> {
    let endpoints: Vec<String> = cluster.members.iter().map(|m| m.bare_endpoint()).collect();
    let deadline = Instant::now() + timeout;
    loop {
        let out = etcdctl(&endpoints.join(","), &["endpoint", "hashkv", "-w", "json"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let pick = |field: &str| -> Vec<String> {
            text.split(&format!("\"{field}\":"))
                .skip(1)
                .map(|s| {
                    s.trim_start()
                        .split(|c: char| !c.is_ascii_digit())
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        };
        let hashes = pick("hash");
        let revisions = pick("revision");
        if out.status.success()
            && hashes.len() == 3
            && hashes.windows(2).all(|w| w[0] == w[1])
            && revisions.windows(2).all(|w| w[0] == w[1])
        {
            return Ok(text);
        }
        if Instant::now() > deadline {
            return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cut_off_leader_refuses_majority_continues_then_all_converge() {
    if common::missing_etcd_tools().is_some() {
        eprintln!("SKIPPED: etcdctl is not installed");
        return;
    }
    let net = match Net::create(7, 3) {
        Ok(net) => net,
        Err(err) => {
            eprintln!("SKIPPED: cannot create network namespaces: {err}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let netns: Vec<Option<String>> = (0..3).map(|i| Some(net.namespace(i))).collect();
    let mut cluster = Cluster::start_on(dir.path(), &net.hosts, &netns, 17480, &[]);
    let leader = cluster
        .leader(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no leader:\n{}", cluster.logs()));
    let old = cluster.members[leader].client().await.expect("client");
    old.put(PutRequest {
        key: b"partition/before".to_vec(),
        value: b"1".to_vec(),
        ..Default::default()
    })
    .await
    .expect("put before the partition");

    net.isolate(leader);
    let majority: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new_leader = cluster
        .leader_among(&majority, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("the majority elected no leader:\n{}", cluster.logs()));
    assert_ne!(new_leader, leader);
    let kv = cluster.members[majority[0]].client().await.expect("client");
    for i in 0..50 {
        kv.put(PutRequest {
            key: format!("partition/majority/{i}").into_bytes(),
            value: b"1".to_vec(),
            ..Default::default()
        })
        .await
        .expect("the majority takes writes");
    }

    // The cut-off member refuses with etcd's errors (etcdctl shows them).
    let minority = cluster.members[leader].endpoint();
    let put = etcdctl(&minority, &["put", "partition/minority", "x"]);
    assert!(!put.status.success(), "a write on the minority succeeded");
    let err = String::from_utf8_lossy(&put.stderr);
    assert!(err.contains("etcdserver: request timed out"), "put: {err}");
    let get = etcdctl(&minority, &["get", "partition/before"]);
    assert!(
        !get.status.success(),
        "a linearizable read on the minority succeeded"
    );
    let err = String::from_utf8_lossy(&get.stderr);
    assert!(err.contains("etcdserver: request timed out"), "get: {err}");
    let fresh = cluster.members[leader].client().await.expect("client");
    match fresh.range(RangeRequest::key("partition/before")).await {
        Err(StoreError::Timeout) => {}
        other => panic!("linearizable range on the minority answered {other:?}"),
    }
    // A serializable read answers from the member's own (stale) state.
    let stale = etcdctl(
        &minority,
        &[
            "get",
            "partition/before",
            "--consistency=s",
            "--print-value-only",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&stale.stdout).trim(), "1");

    net.heal(leader);
    let text = hashes_agree(&cluster, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("members did not converge: {e}\n{}", cluster.logs()));
    eprintln!("converged: {text}");
    // The healed member serves the majority's writes, linearizably.
    let healed = cluster.members[leader].client().await.expect("client");
    let resp = healed
        .range(RangeRequest::prefix("partition/majority/"))
        .await
        .expect("read on the healed member");
    assert_eq!(resp.count, 50);
    drop(cluster);
    drop(net);
}
