//! The same scripted operations against a real etcd 3.4 (started here on
//! loopback) and against `oxkube store`, both through `store::remote::RemoteKv`
//! (etcd's own gRPC API on the wire), compared step by step: revisions,
//! versions, counts, `more`, prev values, lease TTLs and keys, watch events,
//! and errors' gRPC codes and messages.
//!
//! Not compared: cluster/member ids and raft terms in headers (each server
//! has its own), lease ids the server picks at random, remaining TTLs that
//! tick, and `Status.version` (etcd 3.4 says 3.4.x, oxkube reports 3.5.x
//! because kube-apiserver requires >= 3.5.13).

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use store::remote::{RemoteConfig, RemoteKv};
use store::*;

/// Keeps only what both servers must agree on in a header.
fn h(header: ResponseHeader) -> ResponseHeader {
    ResponseHeader {
        revision: header.revision,
        ..Default::default()
    }
}

fn norm_range(mut r: RangeResponse) -> RangeResponse {
    r.header = h(r.header);
    r
}

fn norm_op(op: ResponseOp) -> ResponseOp {
    match op {
        ResponseOp::Range(r) => ResponseOp::Range(norm_range(r)),
        ResponseOp::Put(mut r) => {
            r.header = h(r.header);
            ResponseOp::Put(r)
        }
        ResponseOp::DeleteRange(mut r) => {
            r.header = h(r.header);
            ResponseOp::DeleteRange(r)
        }
        ResponseOp::Txn(t) => ResponseOp::Txn(norm_txn(t)),
    }
}

fn norm_txn(mut t: TxnResponse) -> TxnResponse {
    t.header = h(t.header);
    t.responses = t.responses.into_iter().map(norm_op).collect();
    t
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

fn range(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}

fn cmp(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare {
        key: key.into(),
        range_end: vec![],
        result,
        target,
    }
}

/// One step's observable outcome, as text.
type Transcript = Vec<(String, String)>;

struct Recorder {
    kv: Arc<dyn Kv>,
    out: Transcript,
}

impl Recorder {
    fn note(&mut self, step: &str, outcome: impl std::fmt::Debug) {
        self.out.push((step.to_string(), format!("{outcome:#?}")));
    }

    async fn put(&mut self, step: &str, req: PutRequest) {
        let r = self.kv.put(req).await.map(|mut r| {
            r.header = h(r.header);
            r
        });
        self.note(step, r);
    }

    async fn range(&mut self, step: &str, req: RangeRequest) {
        let r = self.kv.range(req).await.map(norm_range);
        self.note(step, r);
    }

    async fn delete(&mut self, step: &str, req: DeleteRangeRequest) {
        let r = self.kv.delete_range(req).await.map(|mut r| {
            r.header = h(r.header);
            r
        });
        self.note(step, r);
    }

    async fn txn(&mut self, step: &str, req: TxnRequest) {
        let r = self.kv.txn(req).await.map(norm_txn);
        self.note(step, r);
    }
}

async fn kv_script(rec: &mut Recorder) {
    rec.put("put a", put("a", "1")).await;
    rec.put(
        "put a again with prev_kv",
        PutRequest {
            prev_kv: true,
            ..put("a", "2")
        },
    )
    .await;
    for (k, v) in [
        ("b", "3"),
        ("c", "4"),
        ("d", "5"),
        ("e/1", "6"),
        ("e/2", "7"),
    ] {
        rec.put(&format!("put {k}"), put(k, v)).await;
    }
    rec.range("get a", range("a", "")).await;
    rec.range("get missing", range("zz", "")).await;
    rec.range("range a..d", range("a", "d")).await;
    rec.range("prefix e/", RangeRequest::prefix("e/")).await;
    rec.range("from a", range("a", "\0")).await;
    rec.range(
        "limit 2",
        RangeRequest {
            limit: 2,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "at revision 2",
        RangeRequest {
            revision: 2,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "sort by mod descending, limit 3",
        RangeRequest {
            sort_order: SortOrder::Descend,
            sort_target: SortTarget::Mod,
            limit: 3,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "sort by value ascending",
        RangeRequest {
            sort_order: SortOrder::Ascend,
            sort_target: SortTarget::Value,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "keys only",
        RangeRequest {
            keys_only: true,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "count only",
        RangeRequest {
            count_only: true,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "min/max mod revision",
        RangeRequest {
            min_mod_revision: 4,
            max_mod_revision: 6,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "future revision",
        RangeRequest {
            revision: 1000,
            ..range("a", "")
        },
    )
    .await;
    rec.range("empty key", range("", "")).await;
    rec.put("put empty key", put("", "x")).await;
    rec.put(
        "ignore_value on missing key",
        PutRequest {
            ignore_value: true,
            ..put("nokey", "")
        },
    )
    .await;
    rec.put(
        "ignore_value keeps value",
        PutRequest {
            ignore_value: true,
            prev_kv: true,
            ..put("b", "")
        },
    )
    .await;
    rec.put(
        "ignore_value with a value",
        PutRequest {
            ignore_value: true,
            ..put("b", "v")
        },
    )
    .await;

    rec.txn(
        "txn success branch",
        TxnRequest {
            compare: vec![
                cmp(
                    "a",
                    CompareResult::Equal,
                    CompareTarget::Value(b"2".to_vec()),
                ),
                cmp("b", CompareResult::Greater, CompareTarget::Version(0)),
            ],
            success: vec![
                RequestOp::Put(PutRequest {
                    prev_kv: true,
                    ..put("a", "3")
                }),
                RequestOp::Range(range("a", "")),
                RequestOp::DeleteRange(DeleteRangeRequest {
                    key: b"c".to_vec(),
                    range_end: vec![],
                    prev_kv: true,
                }),
            ],
            failure: vec![RequestOp::Put(put("failed", "1"))],
        },
    )
    .await;
    rec.txn(
        "txn failure branch with nested txn",
        TxnRequest {
            compare: vec![cmp("a", CompareResult::Less, CompareTarget::Mod(2))],
            success: vec![],
            failure: vec![
                RequestOp::Put(put("f", "1")),
                RequestOp::Txn(TxnRequest {
                    compare: vec![cmp(
                        "missing",
                        CompareResult::Equal,
                        CompareTarget::Create(0),
                    )],
                    success: vec![RequestOp::Put(put("g", "1"))],
                    failure: vec![],
                }),
            ],
        },
    )
    .await;
    rec.txn(
        "txn duplicate key",
        TxnRequest {
            compare: vec![],
            success: vec![RequestOp::Put(put("x", "1")), RequestOp::Put(put("x", "2"))],
            failure: vec![],
        },
    )
    .await;
    rec.txn(
        "txn too many ops",
        TxnRequest {
            compare: vec![],
            success: (0..129)
                .map(|i| RequestOp::Put(put(&format!("many/{i}"), "v")))
                .collect(),
            failure: vec![],
        },
    )
    .await;
    rec.txn(
        "txn compares a range",
        TxnRequest {
            compare: vec![Compare {
                key: b"e/".to_vec(),
                range_end: b"e0".to_vec(),
                result: CompareResult::Greater,
                target: CompareTarget::Create(1),
            }],
            success: vec![RequestOp::Range(RangeRequest::prefix("e/"))],
            failure: vec![],
        },
    )
    .await;
    rec.delete(
        "delete prefix with prev_kv",
        DeleteRangeRequest {
            key: b"e/".to_vec(),
            range_end: prefix_end(b"e/"),
            prev_kv: true,
        },
    )
    .await;
    rec.delete(
        "delete missing",
        DeleteRangeRequest {
            key: b"nothing".to_vec(),
            range_end: vec![],
            prev_kv: false,
        },
    )
    .await;
    rec.range("everything", range("\0", "\0")).await;
}

async fn lease_script(rec: &mut Recorder) {
    let kv = rec.kv.clone();
    let granted = kv.lease_grant(100, 0).await.map(|g| (g.ttl, g.id != 0));
    rec.note("grant with server-chosen id", granted);
    let r = kv
        .lease_grant(60, 7777)
        .await
        .map(|g| (h(g.header), g.id, g.ttl));
    rec.note("grant id 7777", r);
    let r = kv.lease_grant(60, 7777).await.map(|g| g.id);
    rec.note("grant id 7777 again", r);
    let r = kv.lease_grant(9_000_000_001, 0).await.map(|g| g.id);
    rec.note("grant too long", r);
    rec.put(
        "put with lease",
        PutRequest {
            lease: 7777,
            ..put("leased/1", "v")
        },
    )
    .await;
    rec.put(
        "put with second key on lease",
        PutRequest {
            lease: 7777,
            ..put("leased/2", "v")
        },
    )
    .await;
    rec.put(
        "put with missing lease",
        PutRequest {
            lease: 4242,
            ..put("leased/3", "v")
        },
    )
    .await;
    rec.put(
        "ignore_lease keeps the lease",
        PutRequest {
            ignore_lease: true,
            ..put("leased/1", "w")
        },
    )
    .await;
    rec.range("leased keys", RangeRequest::prefix("leased/"))
        .await;
    let r = kv.lease_time_to_live(7777, true).await.map(|t| {
        let mut keys = t.keys.clone();
        keys.sort();
        (t.id, t.granted_ttl, (55..=60).contains(&t.ttl), keys)
    });
    rec.note("time to live with keys", r);
    let r = kv.lease_keep_alive(7777).await.map(|k| (k.id, k.ttl));
    rec.note("keep alive", r);
    let r = kv.lease_keep_alive(4242).await.map(|k| (k.id, k.ttl));
    rec.note("keep alive missing lease", r);
    let r = kv
        .lease_time_to_live(4242, false)
        .await
        .map(|t| (t.id, t.ttl));
    rec.note("time to live of missing lease", r);
    let r = kv.lease_leases().await.map(|(_, ids)| ids.contains(&7777));
    rec.note("leases lists 7777", r);
    let r = kv.lease_revoke(7777).await.map(h);
    rec.note("revoke", r);
    rec.range("leased keys after revoke", RangeRequest::prefix("leased/"))
        .await;
    let r = kv.lease_revoke(7777).await.map(h);
    rec.note("revoke again", r);
}

async fn watch_script(rec: &mut Recorder) {
    let kv = rec.kv.clone();
    let current = kv.range(range("a", "")).await.map(|r| r.header.revision);
    let Ok(current) = current else {
        rec.note("revision for watch", current);
        return;
    };
    let watch = kv
        .watch(WatchRequest {
            key: b"\0".to_vec(),
            range_end: vec![0],
            start_revision: 2,
            prev_kv: true,
            ..Default::default()
        })
        .await;
    let Ok(mut watch) = watch else {
        rec.note("watch from revision 2", watch.map(|_| ()));
        return;
    };
    // Every revision 2..=current is one put, delete or txn: collect them all.
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.last().map(|e: &Event| e.kv.mod_revision) != Some(current) {
        match tokio::time::timeout_at(deadline, watch.responses.next()).await {
            Ok(Some(Ok(WatchResponse::Events { events: batch, .. }))) => events.extend(batch),
            Ok(Some(Ok(_))) => {}
            Ok(other) => {
                rec.note("watch stream ended", other.map(|r| r.map(|_| ())));
                break;
            }
            Err(_) => {
                rec.note("watch timed out", events.len());
                break;
            }
        }
    }
    for (i, e) in events.into_iter().enumerate() {
        rec.note(&format!("watch event {i}"), e);
    }

    let r = kv
        .watch(WatchRequest {
            key: b"a".to_vec(),
            no_put: true,
            ..Default::default()
        })
        .await;
    let Ok(mut filtered) = r else {
        rec.note("filtered watch", r.map(|_| ()));
        return;
    };
    let _ = kv.put(put("a", "after-watch")).await;
    let _ = kv
        .delete_range(DeleteRangeRequest {
            key: b"a".to_vec(),
            range_end: vec![],
            prev_kv: false,
        })
        .await;
    let next = tokio::time::timeout(Duration::from_secs(10), filtered.responses.next()).await;
    let next = next.map(|r| {
        r.map(|r| {
            r.map(|resp| match resp {
                WatchResponse::Events { header, events } => format!("{:?} {events:?}", h(header)),
                other => format!("{other:?}"),
            })
        })
    });
    rec.note("no_put watch sees only the delete", next);
}

async fn compaction_script(rec: &mut Recorder) {
    let kv = rec.kv.clone();
    let r = kv.compact(1000).await.map(|c| h(c.header));
    rec.note("compact future", r);
    let r = kv.compact(5).await.map(|c| h(c.header));
    rec.note("compact 5", r);
    let r = kv.compact(3).await.map(|c| h(c.header));
    rec.note("compact 3 again", r);
    rec.range(
        "range at compacted revision",
        RangeRequest {
            revision: 4,
            ..range("a", "\0")
        },
    )
    .await;
    rec.range(
        "range at compact revision itself",
        RangeRequest {
            revision: 5,
            ..range("b", "")
        },
    )
    .await;
    let watch = kv
        .watch(WatchRequest {
            key: b"b".to_vec(),
            start_revision: 3,
            ..Default::default()
        })
        .await;
    let outcome = match watch {
        Ok(mut w) => {
            let first = tokio::time::timeout(Duration::from_secs(10), w.responses.next()).await;
            format!(
                "{:?}",
                first.map(|r| r.map(|r| r.map(|resp| match resp {
                    WatchResponse::Compacted {
                        compact_revision, ..
                    } => format!("compacted at {compact_revision}"),
                    other => format!("{other:?}"),
                })))
            )
        }
        Err(e) => format!("error {e:?}"),
    };
    rec.note("watch from compacted revision", outcome);
}

async fn run_script(endpoint: &str) -> Transcript {
    let kv = RemoteKv::connect(&RemoteConfig {
        endpoints: vec![endpoint.to_string()],
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    let mut rec = Recorder {
        kv: Arc::new(kv),
        out: Vec::new(),
    };
    kv_script(&mut rec).await;
    lease_script(&mut rec).await;
    watch_script(&mut rec).await;
    compaction_script(&mut rec).await;
    let members = rec.kv.members().await.map(|(_, m)| m.len());
    rec.note("one member", members);
    rec.out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oxkube_store_answers_like_etcd() {
    require_etcd_tools!();
    let tmp = tempfile::tempdir().expect("temp dir");
    let etcd = common::Server::etcd(&tmp.path().join("etcd"));
    let ours = common::Server::oxkube(&tmp.path().join("oxkube"), None);

    let expected = run_script(&etcd.endpoint).await;
    let actual = run_script(&ours.endpoint).await;

    eprintln!("compared {} steps", expected.len());
    if let Ok(path) = std::env::var("OXKUBE_DIFF_TRANSCRIPT") {
        let text: String = expected
            .iter()
            .map(|(step, outcome)| format!("== {step}\n{outcome}\n"))
            .collect();
        std::fs::write(path, text).expect("write transcript");
    }
    // A script that stopped early would compare nothing.
    assert!(
        expected.len() > 60,
        "etcd transcript too short: {expected:#?}"
    );

    let mut differences = Vec::new();
    for (i, (want, got)) in expected.iter().zip(actual.iter()).enumerate() {
        if want != got {
            differences.push(format!(
                "step {i} `{}`:\n  etcd:   {}\n  oxkube: {}",
                want.0,
                want.1.replace('\n', "\n          "),
                got.1.replace('\n', "\n          ")
            ));
        }
    }
    assert_eq!(
        expected.len(),
        actual.len(),
        "different number of steps\n{}",
        differences.join("\n")
    );
    assert!(
        differences.is_empty(),
        "{} of {} steps differ:\n{}",
        differences.len(),
        expected.len(),
        differences.join("\n")
    );
}

/// `RemoteKv` (the apiserver's `--etcd-servers` client) over https with a
/// client certificate, against `oxkube store --client-cert-auth`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_kv_speaks_tls_with_client_certificates() {
    require_etcd_tools!();
    let tmp = tempfile::tempdir().expect("temp dir");
    let pki = common::Pki::generate(tmp.path());
    let ours = common::Server::oxkube(&tmp.path().join("oxkube"), Some(&pki));
    let config = RemoteConfig {
        endpoints: vec![ours.endpoint.clone()],
        ca_file: Some(pki.client.ca.clone()),
        cert_file: Some(pki.client.cert.clone()),
        key_file: Some(pki.client.key.clone()),
        connect_timeout: Some(Duration::from_secs(5)),
    };
    let kv = RemoteKv::connect(&config).await.expect("connect over TLS");
    let put = kv.put(put("tls", "yes")).await.expect("put over TLS");
    let got = kv.range(range("tls", "")).await.expect("get over TLS");
    assert_eq!(got.kvs.len(), 1);
    assert_eq!(got.kvs[0].value, b"yes".to_vec());
    assert_eq!(got.kvs[0].mod_revision, put.header.revision);

    // Without a client certificate the server refuses the connection.
    let anonymous = RemoteConfig {
        cert_file: None,
        key_file: None,
        ..config
    };
    let refused = match RemoteKv::connect(&anonymous).await {
        Ok(kv) => kv.range(range("tls", "")).await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client without a certificate was served");
}
