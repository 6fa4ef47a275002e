//! Compaction: errors, historic reads after it, physical removal (seen
//! through hash_kv and reads), defragment.

mod engine_support;

use engine_support::*;
use store::{Kv, RangeRequest, StoreError};

#[tokio::test]
async fn compaction_errors_and_reads_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    for i in 0..10 {
        put(&kv, "k", &format!("v{i}")).await; // revisions 2..=11
    }
    put(&kv, "gone", "x").await; // 12
    kv.delete_range(del_req("gone")).await.unwrap(); // 13

    assert_eq!(
        kv.compact(14).await.unwrap_err(),
        StoreError::FutureRevision
    );
    let resp = kv.compact(8).await.unwrap();
    assert_eq!(resp.header.revision, 13);
    assert_eq!(kv.compact_revision(), 8);
    assert_eq!(
        kv.compact(8).await.unwrap_err(),
        StoreError::Compacted {
            compact_revision: 8
        }
    );
    assert_eq!(
        kv.compact(5).await.unwrap_err(),
        StoreError::Compacted {
            compact_revision: 8
        }
    );
    let at = |revision| RangeRequest {
        revision,
        ..RangeRequest::key("k")
    };
    assert_eq!(
        kv.range(at(7)).await.unwrap_err(),
        StoreError::Compacted {
            compact_revision: 8
        }
    );
    assert_eq!(kv.range(at(8)).await.unwrap().kvs[0].value, b"v6");
    assert_eq!(kv.range(at(9)).await.unwrap().kvs[0].value, b"v7");
    assert_eq!(get(&kv, "k").await.unwrap().version, 10);

    // Compacting past a delete forgets the key entirely.
    kv.compact(13).await.unwrap();
    assert_eq!(
        kv.range(RangeRequest {
            revision: 13,
            ..RangeRequest::key("gone")
        })
        .await
        .unwrap()
        .count,
        0
    );
    assert_eq!(get(&kv, "k").await.unwrap().value, b"v9");
    kv.defragment().unwrap();
    assert_eq!(get(&kv, "k").await.unwrap().value, b"v9");
}

#[tokio::test]
async fn hash_kv_is_stable_and_follows_history() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "a", "1").await;
    put(&kv, "b", "2").await;
    let (h1, hash_at_3, compact) = kv.hash_kv(3).await.unwrap();
    assert_eq!((h1.revision, compact), (3, 0));
    put(&kv, "a", "3").await;
    // History up to 3 did not change; the whole history did.
    assert_eq!(kv.hash_kv(3).await.unwrap().1, hash_at_3);
    let (_, hash_now, _) = kv.hash_kv(0).await.unwrap();
    assert_ne!(hash_now, hash_at_3);
    assert_eq!(kv.hash_kv(0).await.unwrap().1, hash_now);
    assert_eq!(kv.hash_kv(5).await.unwrap_err(), StoreError::FutureRevision);

    // A second store with the same history reports the same hash.
    let dir2 = tempfile::tempdir().unwrap();
    let kv2 = open(dir2.path());
    put(&kv2, "a", "1").await;
    put(&kv2, "b", "2").await;
    put(&kv2, "a", "3").await;
    assert_eq!(kv2.hash_kv(0).await.unwrap().1, hash_now);

    kv.compact(3).await.unwrap();
    kv2.compact(3).await.unwrap();
    let (_, after, compact) = kv.hash_kv(0).await.unwrap();
    assert_eq!(compact, 3);
    assert_eq!(kv2.hash_kv(0).await.unwrap().1, after);
    assert_eq!(
        kv.hash_kv(3).await.unwrap_err(),
        StoreError::Compacted {
            compact_revision: 3
        }
    );
}
