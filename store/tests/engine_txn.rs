//! Txns through the embedded engine: the compare shapes kube-apiserver
//! sends, nested txns, and the checks done before anything is applied.

mod engine_support;

use engine_support::*;
use store::{
    CompareResult, CompareTarget, Kv, RangeRequest, RequestOp, ResponseOp, StoreError, TxnRequest,
};

#[tokio::test]
async fn create_if_absent_like_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let create = || TxnRequest {
        compare: vec![cmp(
            "/registry/pods/ns/p",
            CompareResult::Equal,
            CompareTarget::Mod(0),
        )],
        success: vec![op_put("/registry/pods/ns/p", "v1")],
        failure: vec![],
    };
    let first = kv.txn(create()).await.unwrap();
    assert!(first.succeeded);
    assert_eq!(first.header.revision, 2);
    match &first.responses[..] {
        [ResponseOp::Put(p)] => assert_eq!(p.header.revision, 2),
        other => panic!("unexpected responses {other:?}"),
    }
    let second = kv.txn(create()).await.unwrap();
    assert!(!second.succeeded);
    assert!(second.responses.is_empty());
    assert_eq!(second.header.revision, 2);
}

#[tokio::test]
async fn guarded_update_and_delete_like_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let key = "/registry/configmaps/ns/c";
    let rev = put(&kv, key, "v1").await;
    let update = |expected: i64, value: &str| TxnRequest {
        compare: vec![cmp(key, CompareResult::Equal, CompareTarget::Mod(expected))],
        success: vec![op_put(key, value)],
        failure: vec![op_get(key)],
    };

    // Stale revision: the failure branch returns the current object.
    let stale = kv.txn(update(rev - 1, "nope")).await.unwrap();
    assert!(!stale.succeeded);
    match &stale.responses[..] {
        [ResponseOp::Range(r)] => {
            assert_eq!(r.kvs[0].value, b"v1");
            assert_eq!(r.kvs[0].mod_revision, rev);
            assert_eq!(r.header.revision, rev);
        }
        other => panic!("unexpected responses {other:?}"),
    }

    let ok = kv.txn(update(rev, "v2")).await.unwrap();
    assert!(ok.succeeded);
    assert_eq!(ok.header.revision, rev + 1);
    assert_eq!(get(&kv, key).await.unwrap().value, b"v2");

    let delete = TxnRequest {
        compare: vec![cmp(key, CompareResult::Equal, CompareTarget::Mod(rev + 1))],
        success: vec![op_del(key)],
        failure: vec![op_get(key)],
    };
    let deleted = kv.txn(delete).await.unwrap();
    assert!(deleted.succeeded);
    assert_eq!(deleted.header.revision, rev + 2);
    match &deleted.responses[..] {
        [ResponseOp::DeleteRange(d)] => assert_eq!(d.deleted, 1),
        other => panic!("unexpected responses {other:?}"),
    }
    assert_eq!(get(&kv, key).await, None);
}

#[tokio::test]
async fn compares_on_ranges_values_versions_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "r/a", "x").await;
    put(&kv, "r/b", "x").await;
    put(&kv, "r/b", "y").await;
    let over_range = |target| store::Compare {
        key: b"r/".to_vec(),
        range_end: store::prefix_end(b"r/"),
        result: CompareResult::Greater,
        target,
    };
    let holds = |compare: store::Compare| TxnRequest {
        compare: vec![compare],
        ..Default::default()
    };
    // Every key in the range must satisfy the compare.
    assert!(
        kv.txn(holds(over_range(CompareTarget::Version(0))))
            .await
            .unwrap()
            .succeeded
    );
    assert!(
        !kv.txn(holds(over_range(CompareTarget::Version(1))))
            .await
            .unwrap()
            .succeeded
    );
    // A missing key compares as zero, except for values, which never match.
    assert!(
        kv.txn(holds(cmp(
            "missing",
            CompareResult::Equal,
            CompareTarget::Version(0)
        )))
        .await
        .unwrap()
        .succeeded
    );
    assert!(
        !kv.txn(holds(cmp(
            "missing",
            CompareResult::NotEqual,
            CompareTarget::Value(b"z".to_vec())
        )))
        .await
        .unwrap()
        .succeeded
    );
    assert!(
        kv.txn(holds(cmp(
            "r/b",
            CompareResult::Less,
            CompareTarget::Value(b"z".to_vec())
        )))
        .await
        .unwrap()
        .succeeded
    );
    assert!(
        kv.txn(holds(cmp(
            "r/b",
            CompareResult::Equal,
            CompareTarget::Lease(0)
        )))
        .await
        .unwrap()
        .succeeded
    );
    assert!(
        kv.txn(holds(cmp(
            "r/a",
            CompareResult::Equal,
            CompareTarget::Create(2)
        )))
        .await
        .unwrap()
        .succeeded
    );
}

#[tokio::test]
async fn one_revision_per_txn_with_ranges_seeing_earlier_ops() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "c", "old").await; // 2
    let resp = kv
        .txn(TxnRequest {
            compare: vec![],
            success: vec![
                op_get("a"),
                op_put("a", "1"),
                op_put("b", "2"),
                op_get("a"),
                op_del("c"),
            ],
            failure: vec![],
        })
        .await
        .unwrap();
    assert_eq!(resp.header.revision, 3);
    match &resp.responses[..] {
        [
            ResponseOp::Range(before),
            ResponseOp::Put(_),
            ResponseOp::Put(_),
            ResponseOp::Range(after),
            ResponseOp::DeleteRange(d),
        ] => {
            assert_eq!((before.count, before.header.revision), (0, 2));
            assert_eq!(after.kvs[0].value, b"1");
            assert_eq!(after.header.revision, 3);
            assert_eq!((d.deleted, d.header.revision), (1, 3));
        }
        other => panic!("unexpected responses {other:?}"),
    }
    let a = get(&kv, "a").await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision), (3, 3));
    assert_eq!(get(&kv, "b").await.unwrap().mod_revision, 3);
    assert_eq!(get(&kv, "c").await, None);
    // A put and a delete of the same key in one txn is refused (etcd).
    let both = TxnRequest {
        success: vec![op_put("b", "3"), op_del("b")],
        ..Default::default()
    };
    assert_eq!(kv.txn(both).await, Err(StoreError::DuplicateKey));
}

#[tokio::test]
async fn nested_txn_takes_branches_evaluated_before_the_txn() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "flag", "on").await;
    let nested = TxnRequest {
        // Evaluated against the state before the outer txn's put of "x".
        compare: vec![cmp("x", CompareResult::Equal, CompareTarget::Version(0))],
        success: vec![op_put("y", "x-was-absent")],
        failure: vec![op_put("y", "x-was-present")],
    };
    let outer = TxnRequest {
        compare: vec![cmp(
            "flag",
            CompareResult::Equal,
            CompareTarget::Value(b"on".to_vec()),
        )],
        success: vec![op_put("x", "1"), RequestOp::Txn(nested)],
        failure: vec![],
    };
    let resp = kv.txn(outer).await.unwrap();
    assert!(resp.succeeded);
    assert_eq!(resp.header.revision, 3);
    match &resp.responses[..] {
        [ResponseOp::Put(_), ResponseOp::Txn(inner)] => {
            assert!(inner.succeeded);
            assert_eq!(inner.responses.len(), 1);
        }
        other => panic!("unexpected responses {other:?}"),
    }
    let y = get(&kv, "y").await.unwrap();
    assert_eq!(
        (y.value.as_slice(), y.mod_revision),
        (&b"x-was-absent"[..], 3)
    );
    assert_eq!(get(&kv, "x").await.unwrap().mod_revision, 3);
}

#[tokio::test]
async fn invalid_txns_are_rejected_before_anything_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let too_many = TxnRequest {
        success: (0..129).map(|i| op_put(&format!("k{i}"), "v")).collect(),
        ..Default::default()
    };
    let err = kv.txn(too_many).await.unwrap_err();
    assert_eq!(err, StoreError::TooManyOps);
    assert_eq!(
        err.to_string(),
        "etcdserver: too many operations in txn request"
    );

    let duplicate = TxnRequest {
        success: vec![op_put("a", "1"), op_put("a", "2")],
        ..Default::default()
    };
    let err = kv.txn(duplicate).await.unwrap_err();
    assert_eq!(err, StoreError::DuplicateKey);
    assert_eq!(
        err.to_string(),
        "etcdserver: duplicate key given in txn request"
    );

    // A put with an unknown lease after a valid put: neither is applied.
    let bad_lease = TxnRequest {
        success: vec![
            op_put("a", "1"),
            RequestOp::Put(store::PutRequest {
                lease: 999,
                ..put_req("b", "2")
            }),
        ],
        ..Default::default()
    };
    assert_eq!(kv.txn(bad_lease).await, Err(StoreError::LeaseNotFound));
    let future_read = TxnRequest {
        success: vec![
            op_put("a", "1"),
            RequestOp::Range(RangeRequest {
                revision: 50,
                ..RangeRequest::key("a")
            }),
        ],
        ..Default::default()
    };
    assert_eq!(kv.txn(future_read).await, Err(StoreError::FutureRevision));
    assert_eq!(get(&kv, "a").await, None);
    assert_eq!(
        kv.range(RangeRequest::key("a"))
            .await
            .unwrap()
            .header
            .revision,
        1
    );
}
