//! Leases: grant, attach, keep-alive, time-to-live, revoke and expiry
//! deleting attached keys with delete events.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use futures::StreamExt;
use store::{EventType, Kv, PutRequest, StoreError, WatchRequest, WatchResponse};

#[tokio::test]
async fn grant_keep_alive_time_to_live_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let granted = kv.lease_grant(60, 0).await.unwrap();
    assert!(granted.id > 0);
    assert_eq!(granted.ttl, 60);
    // Granting does not move the revision.
    assert_eq!(granted.header.revision, 1);
    assert_eq!(
        kv.lease_grant(60, granted.id).await,
        Err(StoreError::LeaseExists)
    );
    assert_eq!(
        kv.lease_grant(9_000_000_001, 0).await,
        Err(StoreError::LeaseTtlTooLarge)
    );
    let own = kv.lease_grant(1, 42).await.unwrap();
    assert_eq!(
        (own.id, own.ttl),
        (42, 2),
        "TTLs below the minimum are raised"
    );

    kv.put(PutRequest {
        lease: granted.id,
        ..put_req("l/a", "1")
    })
    .await
    .unwrap();
    kv.put(PutRequest {
        lease: granted.id,
        ..put_req("l/b", "1")
    })
    .await
    .unwrap();
    let ttl = kv.lease_time_to_live(granted.id, true).await.unwrap();
    assert_eq!(ttl.granted_ttl, 60);
    assert!((58..=60).contains(&ttl.ttl), "remaining {}", ttl.ttl);
    assert_eq!(ttl.keys, vec![b"l/a".to_vec(), b"l/b".to_vec()]);

    let alive = kv.lease_keep_alive(granted.id).await.unwrap();
    assert_eq!((alive.id, alive.ttl), (granted.id, 60));
    assert_eq!(
        kv.lease_keep_alive(7).await.unwrap_err(),
        StoreError::LeaseNotFound
    );

    let missing = kv.lease_time_to_live(7, true).await.unwrap();
    assert_eq!((missing.ttl, missing.granted_ttl), (-1, 0));

    let (_, mut ids) = kv.lease_leases().await.unwrap();
    ids.sort();
    let mut expected = vec![42, granted.id];
    expected.sort();
    assert_eq!(ids, expected);

    // Moving a key to no lease detaches it.
    kv.put(put_req("l/b", "2")).await.unwrap();
    let ttl = kv.lease_time_to_live(granted.id, true).await.unwrap();
    assert_eq!(ttl.keys, vec![b"l/a".to_vec()]);
}

#[tokio::test]
async fn revoke_deletes_attached_keys_in_one_revision() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let id = kv.lease_grant(60, 0).await.unwrap().id;
    for key in ["r/a", "r/b"] {
        kv.put(PutRequest {
            lease: id,
            ..put_req(key, "v")
        })
        .await
        .unwrap();
    }
    put(&kv, "r/c", "free").await; // 4
    let mut watch = kv
        .watch(WatchRequest {
            key: b"r/".to_vec(),
            range_end: store::prefix_end(b"r/"),
            ..Default::default()
        })
        .await
        .unwrap();
    let header = kv.lease_revoke(id).await.unwrap();
    assert_eq!(header.revision, 5);
    assert_eq!(kv.lease_revoke(id).await, Err(StoreError::LeaseNotFound));
    match watch.responses.next().await {
        Some(Ok(WatchResponse::Events { events, .. })) => {
            let got: Vec<_> = events.iter().map(|e| (e.kind, e.kv.mod_revision)).collect();
            assert_eq!(got, [(EventType::Delete, 5), (EventType::Delete, 5)]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(get(&kv, "r/a").await, None);
    assert_eq!(get(&kv, "r/c").await.unwrap().value, b"free");
}

#[tokio::test]
async fn expired_leases_delete_their_keys_with_delete_events() {
    let dir = tempfile::tempdir().unwrap();
    let options = store::EngineOptions {
        min_lease_ttl: 1,
        lease_check_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let kv = open_with(dir.path(), options);
    let id = kv.lease_grant(1, 0).await.unwrap().id;
    kv.put(PutRequest {
        lease: id,
        ..put_req("e/a", "v")
    })
    .await
    .unwrap(); // 2
    let mut watch = kv
        .watch(WatchRequest {
            key: b"e/a".to_vec(),
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), watch.responses.next()).await;
    match response {
        Ok(Some(Ok(WatchResponse::Events { events, .. }))) => {
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].kind, EventType::Delete);
            assert_eq!(events[0].kv.mod_revision, 3);
            assert_eq!(events[0].prev_kv.as_ref().unwrap().lease, id);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(get(&kv, "e/a").await, None);
    assert_eq!(kv.lease_time_to_live(id, false).await.unwrap().ttl, -1);
    assert_eq!(
        kv.lease_keep_alive(id).await.unwrap_err(),
        StoreError::LeaseNotFound
    );
}
