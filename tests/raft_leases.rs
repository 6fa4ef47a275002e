//! Watches and leases on every member of a replicated `oxkube store`: a
//! lease granted through one follower, a key attached through another, kept
//! alive through a follower (the leader's lessor holds deadlines), then left
//! to expire: the leader revokes it through the log and a watch on a
//! follower sees the key's DELETE event; TimeToLive answers -1 afterwards.

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use futures::StreamExt;
use store::{EventType, Kv, PutRequest, RangeRequest, WatchRequest, WatchResponse};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_expiry_is_decided_by_the_leader_and_seen_by_watchers_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), 3, 17447, &[]);
    let leader = cluster
        .leader(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no leader:\n{}", cluster.logs()));
    let a = cluster.members[(leader + 1) % 3]
        .client()
        .await
        .expect("client");
    let b = cluster.members[(leader + 2) % 3]
        .client()
        .await
        .expect("client");

    let grant = a.lease_grant(2, 0).await.expect("grant through a follower");
    assert!(grant.id > 0);
    assert_eq!(grant.ttl, 2);
    b.put(PutRequest {
        key: b"leases/k".to_vec(),
        value: b"v".to_vec(),
        lease: grant.id,
        ..Default::default()
    })
    .await
    .expect("put with the lease through the other follower");
    let mut watch = b
        .watch(WatchRequest {
            key: b"leases/k".to_vec(),
            ..Default::default()
        })
        .await
        .expect("watch on a follower");

    // Keep-alives through a follower hold the key past its TTL.
    let kept_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < kept_until {
        let resp = a.lease_keep_alive(grant.id).await.expect("keep-alive");
        assert_eq!(resp.ttl, 2);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ttl = b
        .lease_time_to_live(grant.id, true)
        .await
        .expect("time to live");
    assert!(ttl.ttl >= 1, "ttl {}", ttl.ttl);
    assert_eq!(ttl.keys, vec![b"leases/k".to_vec()]);
    assert_eq!(
        b.range(RangeRequest::key("leases/k"))
            .await
            .expect("range")
            .count,
        1
    );

    // Left alone it expires: the watch on the follower sees the delete.
    let deleted = tokio::time::timeout(Duration::from_secs(8), async {
        while let Some(item) = watch.responses.next().await {
            if let Ok(WatchResponse::Events { events, .. }) = item
                && events.iter().any(|e| e.kind == EventType::Delete)
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(deleted, "no DELETE event for the expired lease's key");
    // Linearizable reads: a member that has not applied the deletion yet
    // (it arrives with the next append) waits for it first.
    for m in &cluster.members {
        let kv = m.client().await.expect("client");
        let req = RangeRequest::key("leases/k");
        assert_eq!(kv.range(req).await.expect("range").count, 0, "{}", m.name);
    }
    let gone = a
        .lease_time_to_live(grant.id, false)
        .await
        .expect("time to live");
    assert_eq!(gone.ttl, -1);
}
