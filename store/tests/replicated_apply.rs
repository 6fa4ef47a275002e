//! The engine as a Raft state machine: logged writes get revisions in log
//! order and keep their log mark with the data across a reopen; a refused
//! op is still an applied entry; a dump installed into another engine gives
//! the same keys, revision, HashKV hash and mark.

use store::mvcc::{Engine, EngineOptions, LogMark, WriteOp, WriteResult};
use store::{Kv, PutRequest, RangeRequest, StoreError};

fn put(key: &str, value: &str) -> WriteOp {
    WriteOp::Put(PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        ..Default::default()
    })
}

fn mark(index: u8) -> LogMark {
    LogMark {
        applied: vec![index],
        membership: None,
    }
}

/// Every key (etcd's `--from-key ""`).
fn all() -> RangeRequest {
    RangeRequest {
        key: vec![0],
        range_end: vec![0],
        ..Default::default()
    }
}

fn options() -> EngineOptions {
    EngineOptions {
        expire_leases: false,
        ..Default::default()
    }
}

#[tokio::test]
async fn logged_writes_keep_their_mark_across_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let engine = Engine::open(dir.path(), options()).expect("open");
        let answers = engine
            .apply_logged(vec![
                (Some(put("a", "1")), mark(1)),
                (None, mark(2)),
                (
                    Some(WriteOp::Put(PutRequest {
                        key: b"b".to_vec(),
                        ignore_value: true,
                        ..Default::default()
                    })),
                    mark(3),
                ),
                (Some(put("b", "2")), mark(4)),
            ])
            .await
            .expect("apply");
        assert!(matches!(&answers[0], Ok(WriteResult::Put(r)) if r.header.revision == 2));
        assert_eq!(answers[1], Ok(WriteResult::None));
        assert_eq!(answers[2], Err(StoreError::KeyNotFound));
        assert!(matches!(&answers[3], Ok(WriteResult::Put(r)) if r.header.revision == 3));
    }
    let engine = Engine::open(dir.path(), options()).expect("reopen");
    let mark = engine.log_mark().expect("mark").expect("a mark");
    assert_eq!(mark.applied, vec![4]);
    let all = engine.range(all()).await.expect("range");
    assert_eq!(all.count, 2);
    assert_eq!(all.header.revision, 3);
}

#[tokio::test]
async fn an_installed_dump_is_the_same_store() {
    let a_dir = tempfile::tempdir().expect("temp dir");
    let b_dir = tempfile::tempdir().expect("temp dir");
    let a = Engine::open(a_dir.path(), options()).expect("open a");
    let b = Engine::open(b_dir.path(), options()).expect("open b");
    b.apply_logged(vec![(Some(put("stale", "x")), mark(1))])
        .await
        .expect("apply b");
    let mut batch = Vec::new();
    for i in 0..50u8 {
        batch.push((Some(put(&format!("k{}", i % 7), &format!("v{i}"))), mark(i)));
    }
    batch.push((
        Some(WriteOp::Compact { revision: 20 }),
        LogMark {
            applied: vec![200],
            membership: Some(vec![9, 9]),
        },
    ));
    a.apply_logged(batch).await.expect("apply a");

    let dump = a.snapshot().await.expect("dump");
    assert_eq!(dump.applied, Some(vec![200]));
    assert_eq!(dump.membership, Some(vec![9, 9]));
    b.install_snapshot(dump.data).await.expect("install");

    let ra = a.range(all()).await.expect("range a");
    let rb = b.range(all()).await.expect("range b");
    assert_eq!(ra.kvs, rb.kvs);
    assert_eq!(ra.header.revision, rb.header.revision);
    assert_eq!(b.compact_revision(), 20);
    let (_, hash_a, _) = a.hash_kv(0).await.expect("hash a");
    let (_, hash_b, _) = b.hash_kv(0).await.expect("hash b");
    assert_eq!(hash_a, hash_b);
    let mark_b = b.log_mark().expect("mark").expect("a mark");
    assert_eq!(mark_b.applied, vec![200]);
    assert_eq!(mark_b.membership, Some(vec![9, 9]));
}
