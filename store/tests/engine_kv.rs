//! Put / range / delete through the embedded engine: revisions, versions,
//! range variants and etcd's errors.

mod engine_support;

use engine_support::*;
use store::{DeleteRangeRequest, Kv, PutRequest, RangeRequest, SortOrder, SortTarget, StoreError};

#[tokio::test]
async fn revisions_and_versions_follow_etcd_across_put_delete_recreate() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());

    // An empty store is at revision 1; the first write gets revision 2.
    let empty = kv.range(RangeRequest::key("a")).await.unwrap();
    assert_eq!(empty.header.revision, 1);
    assert_eq!(empty.count, 0);

    assert_eq!(put(&kv, "a", "1").await, 2);
    assert_eq!(put(&kv, "a", "2").await, 3);
    let a = get(&kv, "a").await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 3, 2));
    assert_eq!(a.value, b"2");

    let deleted = kv.delete_range(del_req("a")).await.unwrap();
    assert_eq!(deleted.deleted, 1);
    assert_eq!(deleted.header.revision, 4);
    assert_eq!(get(&kv, "a").await, None);

    // Deleting nothing does not move the revision.
    let none = kv.delete_range(del_req("a")).await.unwrap();
    assert_eq!((none.deleted, none.header.revision), (0, 4));

    assert_eq!(put(&kv, "a", "3").await, 5);
    let a = get(&kv, "a").await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (5, 5, 1));

    // Header identifies the member and the cluster.
    let resp = kv.range(RangeRequest::key("a")).await.unwrap();
    assert_ne!(resp.header.member_id, 0);
    assert_ne!(resp.header.cluster_id, 0);
    assert_eq!(resp.header.revision, 5);
}

#[tokio::test]
async fn put_options_prev_kv_ignore_value_ignore_lease() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let lease = kv.lease_grant(60, 0).await.unwrap().id;
    kv.put(PutRequest {
        lease,
        ..put_req("k", "v1")
    })
    .await
    .unwrap();

    let resp = kv
        .put(PutRequest {
            prev_kv: true,
            ignore_lease: true,
            ..put_req("k", "v2")
        })
        .await
        .unwrap();
    let prev = resp.prev_kv.unwrap();
    assert_eq!((prev.value.as_slice(), prev.lease), (&b"v1"[..], lease));
    let now = get(&kv, "k").await.unwrap();
    assert_eq!(
        (now.value.as_slice(), now.lease, now.version),
        (&b"v2"[..], lease, 2)
    );

    kv.put(PutRequest {
        key: b"k".to_vec(),
        ignore_value: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let now = get(&kv, "k").await.unwrap();
    assert_eq!(
        (now.value.as_slice(), now.lease, now.version),
        (&b"v2"[..], 0, 3)
    );

    let missing = kv
        .put(PutRequest {
            key: b"nope".to_vec(),
            ignore_value: true,
            ..Default::default()
        })
        .await;
    assert_eq!(missing, Err(StoreError::KeyNotFound));
    assert_eq!(
        missing.unwrap_err().to_string(),
        "etcdserver: key not found"
    );
    let with_value = kv
        .put(PutRequest {
            ignore_value: true,
            ..put_req("k", "x")
        })
        .await;
    assert_eq!(with_value, Err(StoreError::ValueProvided));

    let unknown_lease = kv
        .put(PutRequest {
            lease: 12345,
            ..put_req("k", "x")
        })
        .await;
    assert_eq!(unknown_lease, Err(StoreError::LeaseNotFound));
    assert_eq!(kv.put(put_req("", "x")).await, Err(StoreError::EmptyKey));
    assert_eq!(
        kv.range(RangeRequest::key("")).await.map(|_| ()),
        Err(StoreError::EmptyKey)
    );
    // Nothing of the failed requests was stored.
    assert_eq!(get(&kv, "k").await.unwrap().mod_revision, 4);
    assert_eq!(get(&kv, "nope").await, None);
}

#[tokio::test]
async fn oversized_put_is_rejected_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let big = "x".repeat(1_572_864);
    let err = kv.put(put_req("big", &big)).await.unwrap_err();
    assert_eq!(err, StoreError::RequestTooLarge);
    assert_eq!(err.to_string(), "etcdserver: request is too large");
    assert_eq!(get(&kv, "big").await, None);
    assert_eq!(
        kv.range(RangeRequest::key("big"))
            .await
            .unwrap()
            .header
            .revision,
        1
    );
    // Just under the limit is fine.
    let ok = "x".repeat(1_500_000);
    assert_eq!(put(&kv, "big", &ok).await, 2);
}

async fn fill(kv: &store::Engine) {
    // a..e with values in reverse order so value-sorting differs from key order
    for (key, value) in [("a", "5"), ("b", "4"), ("c", "3"), ("d", "2"), ("e", "1")] {
        put(kv, key, value).await;
    }
    put(kv, "b", "44").await; // b: version 2, mod 7
}

#[tokio::test]
async fn range_limit_count_more_and_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    fill(&kv).await;

    let resp = kv
        .range(RangeRequest {
            key: b"a".to_vec(),
            range_end: b"e".to_vec(),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["a", "b"]);
    assert_eq!((resp.count, resp.more), (4, true));

    let resp = kv
        .range(RangeRequest {
            key: b"a".to_vec(),
            range_end: b"e".to_vec(),
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((resp.kvs.len(), resp.count, resp.more), (4, 4, false));

    // range_end "\0": every key >= key.
    let resp = kv
        .range(RangeRequest {
            key: b"c".to_vec(),
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["c", "d", "e"]);
    // key "\0" and range_end "\0": all keys.
    let resp = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            count_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((resp.count, resp.kvs.len()), (5, 0));

    let resp = kv
        .range(RangeRequest {
            keys_only: true,
            ..RangeRequest::prefix("")
        })
        .await;
    assert!(resp.is_err(), "empty key is rejected even as a prefix");

    let resp = kv
        .range(RangeRequest {
            keys_only: true,
            ..RangeRequest::key("b")
        })
        .await
        .unwrap();
    assert_eq!(resp.kvs[0].value, b"");
    assert_eq!(resp.kvs[0].version, 2);
}

#[tokio::test]
async fn range_sort_and_revision_filters() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    fill(&kv).await;
    let all = |sort_order, sort_target| RangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        sort_order,
        sort_target,
        ..Default::default()
    };
    let resp = kv
        .range(all(SortOrder::Descend, SortTarget::Key))
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["e", "d", "c", "b", "a"]);
    let resp = kv
        .range(all(SortOrder::Ascend, SortTarget::Value))
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["e", "d", "c", "b", "a"]);
    // A non-key target without an order sorts ascending.
    let resp = kv
        .range(all(SortOrder::None, SortTarget::Mod))
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["a", "c", "d", "e", "b"]);
    let resp = kv
        .range(RangeRequest {
            limit: 2,
            ..all(SortOrder::Descend, SortTarget::Mod)
        })
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["b", "e"]);
    assert_eq!((resp.count, resp.more), (5, true));

    let resp = kv
        .range(RangeRequest {
            min_mod_revision: 4,
            max_mod_revision: 6,
            ..all(SortOrder::None, SortTarget::Key)
        })
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["c", "d", "e"]);
    // count is the number of keys in the range, before filters (etcd).
    assert_eq!(resp.count, 5);
    let resp = kv
        .range(RangeRequest {
            min_create_revision: 3,
            max_create_revision: 3,
            ..all(SortOrder::None, SortTarget::Key)
        })
        .await
        .unwrap();
    assert_eq!(keys(&resp.kvs), ["b"]);
}

#[tokio::test]
async fn historic_reads_and_revision_errors() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "k", "v2").await; // 2
    put(&kv, "k", "v3").await; // 3
    put(&kv, "other", "x").await; // 4
    kv.delete_range(del_req("k")).await.unwrap(); // 5

    let at = |revision| RangeRequest {
        revision,
        ..RangeRequest::key("k")
    };
    let resp = kv.range(at(2)).await.unwrap();
    assert_eq!(resp.kvs[0].value, b"v2");
    // The header carries the current revision, as in etcd.
    assert_eq!(resp.header.revision, 5);
    assert_eq!(kv.range(at(4)).await.unwrap().kvs[0].value, b"v3");
    assert_eq!(kv.range(at(5)).await.unwrap().count, 0);
    assert_eq!(kv.range(at(1)).await.unwrap().count, 0);
    let all_at_3 = kv
        .range(RangeRequest {
            revision: 3,
            ..RangeRequest::prefix("")
        })
        .await;
    assert_eq!(all_at_3.map(|_| ()), Err(StoreError::EmptyKey));
    let all_at_4 = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&all_at_4.kvs), ["k", "other"]);

    let err = kv.range(at(6)).await.unwrap_err();
    assert_eq!(err, StoreError::FutureRevision);
    assert_eq!(
        err.to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    kv.compact(3).await.unwrap();
    let err = kv.range(at(2)).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::Compacted {
            compact_revision: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(kv.range(at(3)).await.unwrap().kvs[0].value, b"v3");
}

#[tokio::test]
async fn delete_range_returns_prev_kvs_in_one_revision() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    for key in ["p/a", "p/b", "p/c", "q"] {
        put(&kv, key, key).await;
    }
    let resp = kv
        .delete_range(DeleteRangeRequest {
            key: b"p/".to_vec(),
            range_end: store::prefix_end(b"p/"),
            prev_kv: true,
        })
        .await
        .unwrap();
    assert_eq!(resp.deleted, 3);
    assert_eq!(keys(&resp.prev_kvs), ["p/a", "p/b", "p/c"]);
    assert_eq!(resp.header.revision, 6);
    let left = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(keys(&left.kvs), ["q"]);
}

/// Writers racing for the writer (some commit on their own thread, the
/// rest through the writer thread's group commit): every write gets its own
/// revision, revisions have no gaps, and every write is readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_distinct_gapless_revisions() {
    const TASKS: usize = 16;
    const PUTS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let kv = kv.clone();
            tokio::spawn(async move {
                let mut revs = Vec::with_capacity(PUTS);
                for i in 0..PUTS {
                    revs.push(put(&kv, &format!("t{t}/k{i}"), "v").await);
                }
                revs
            })
        })
        .collect();
    let mut revs = Vec::new();
    for task in tasks {
        // A request left in the queue with nobody to commit it hangs.
        let mine = tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("a write was never committed")
            .unwrap();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        revs.extend(mine);
    }
    revs.sort_unstable();
    let expected: Vec<i64> = (2..2 + (TASKS * PUTS) as i64).collect();
    assert_eq!(revs, expected);
    let all = kv
        .range(store::RangeRequest {
            range_end: b"u".to_vec(),
            count_only: true,
            ..store::RangeRequest::key("t")
        })
        .await
        .unwrap();
    assert_eq!(all.count, (TASKS * PUTS) as i64);
}
