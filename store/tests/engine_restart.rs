//! Durability and concurrency: a reopened store keeps every acknowledged
//! write, its revision, compaction and leases; concurrent writers get
//! distinct consecutive revisions; status and members.

mod engine_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use engine_support::*;
use store::{Kv, PutRequest, RangeRequest};

#[tokio::test]
async fn reopening_keeps_writes_revision_compaction_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let (lease, hash) = {
        let kv = open(dir.path());
        for i in 0..50 {
            put(&kv, &format!("k{:02}", i % 10), &i.to_string()).await;
        }
        kv.delete_range(del_req("k00")).await.unwrap(); // 52
        let lease = kv.lease_grant(300, 0).await.unwrap().id;
        kv.put(PutRequest {
            lease,
            ..put_req("leased", "v")
        })
        .await
        .unwrap(); // 53
        kv.compact(40).await.unwrap();
        let hash = kv.hash_kv(0).await.unwrap().1;
        (lease, hash)
    };
    let kv = open(dir.path());
    let all = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.header.revision, 53);
    assert_eq!(all.count, 10); // k01..k09 + leased
    let k09 = get(&kv, "k09").await.unwrap();
    assert_eq!(
        (k09.value.as_slice(), k09.version, k09.mod_revision),
        (&b"49"[..], 5, 51)
    );
    assert_eq!(kv.compact_revision(), 40);
    assert_eq!(
        kv.range(RangeRequest {
            revision: 39,
            ..RangeRequest::key("k01")
        })
        .await
        .unwrap_err(),
        store::StoreError::Compacted {
            compact_revision: 40
        }
    );
    assert_eq!(kv.hash_kv(0).await.unwrap().1, hash);
    let ttl = kv.lease_time_to_live(lease, true).await.unwrap();
    assert_eq!(ttl.granted_ttl, 300);
    assert_eq!(ttl.keys, vec![b"leased".to_vec()]);
    // The next write continues the revision sequence.
    assert_eq!(put(&kv, "after", "restart").await, 54);
    let status = kv.status().await.unwrap();
    assert!(status.raft_term >= 3, "term grows per open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_distinct_consecutive_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let mut tasks = Vec::new();
    for writer in 0..64 {
        let kv: Arc<store::Engine> = kv.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..20 {
                revs.push(put(&kv, &format!("c/{writer}/{i}"), "v").await);
            }
            revs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let revs = task.await.unwrap();
        assert!(revs.windows(2).all(|w| w[0] < w[1]), "per-writer order");
        all.extend(revs);
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 64 * 20);
    assert_eq!(
        distinct.iter().copied().collect::<Vec<_>>(),
        (2..=1281).collect::<Vec<_>>()
    );
    let count = kv
        .range(RangeRequest {
            count_only: true,
            ..RangeRequest::prefix("c/")
        })
        .await
        .unwrap();
    assert_eq!((count.count, count.header.revision), (1280, 1281));
    let status = kv.status().await.unwrap();
    assert_eq!(status.raft_index, 1280);
}

#[tokio::test]
async fn status_and_members_describe_the_single_member() {
    let dir = tempfile::tempdir().unwrap();
    let options = store::EngineOptions {
        name: "node-1".to_string(),
        peer_urls: vec!["https://10.0.0.1:2380".to_string()],
        client_urls: vec!["https://10.0.0.1:2379".to_string()],
        ..Default::default()
    };
    let kv = open_with(dir.path(), options);
    put(&kv, "a", "1").await;
    let status = kv.status().await.unwrap();
    assert_eq!(status.version, store::mvcc::ETCD_VERSION);
    assert_eq!(status.leader, status.header.member_id);
    assert_eq!(status.header.revision, 2);
    assert_eq!(status.raft_index, 1);
    assert!(status.db_size > 0);
    let (header, members) = kv.members().await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].id, header.member_id);
    assert_eq!(members[0].name, "node-1");
    assert_eq!(members[0].peer_urls, ["https://10.0.0.1:2380"]);
    assert_eq!(members[0].client_urls, ["https://10.0.0.1:2379"]);
}
