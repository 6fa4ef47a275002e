//! Linearizability of a 3-member replicated `oxkube store` under faults:
//! several clients, each on its own member, run put / linearizable get /
//! compare-and-swap (a Txn on the value) on a few keys while the leader is
//! SIGKILLed and restarted and a member is cut off by a partition (when
//! network namespaces can be made; kills only otherwise). The recorded
//! history is checked by the Wing-Gong checker in `common::linearizability`;
//! a violation fails with the offending sub-history. The checker itself is
//! tested on small histories, including non-linearizable ones.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::linearizability::{Input, Op, Output, check};
use common::netns::Net;
use rand::Rng;
use store::remote::RemoteKv;
use store::{
    Compare, CompareResult, CompareTarget, Kv, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

fn op(client: usize, input: Input, output: Output, call: u64, ret: Option<u64>) -> Op {
    Op {
        client,
        key: "k".to_string(),
        input,
        output,
        call,
        ret,
    }
}

fn put(v: &str) -> Input {
    Input::Put(v.to_string())
}

fn got(v: Option<&str>) -> Output {
    Output::Get(v.map(str::to_string))
}

#[test]
fn checker_accepts_concurrent_reads_of_either_value() {
    let history = vec![
        op(0, put("a"), Output::Put, 0, Some(10)),
        op(1, put("b"), Output::Put, 20, Some(40)),
        op(2, Input::Get, got(Some("b")), 22, Some(25)),
        op(3, Input::Get, got(Some("a")), 26, Some(30)),
    ];
    // b is read before a while the put of b is in flight: not linearizable
    // (once b is visible, a cannot come back).
    assert!(check(&history).is_err());
    let history = vec![
        op(0, put("a"), Output::Put, 0, Some(10)),
        op(1, put("b"), Output::Put, 20, Some(40)),
        op(2, Input::Get, got(Some("a")), 22, Some(25)),
        op(3, Input::Get, got(Some("b")), 26, Some(30)),
        op(
            4,
            Input::Cas {
                expected: "b".into(),
                new: "c".into(),
            },
            Output::Cas(true),
            31,
            Some(35),
        ),
        op(5, Input::Get, got(Some("c")), 41, Some(42)),
    ];
    assert!(check(&history).is_ok());
}

#[test]
fn checker_reports_a_stale_read_with_its_sub_history() {
    let history = vec![
        op(0, put("old"), Output::Put, 0, Some(5)),
        op(1, put("new"), Output::Put, 10, Some(20)),
        // Starts after the put of "new" returned, yet sees "old".
        op(2, Input::Get, got(Some("old")), 30, Some(35)),
    ];
    let err = check(&history).expect_err("a stale read is not linearizable");
    let text = err.to_string();
    assert!(text.contains("key \"k\""), "{text}");
    assert!(text.contains("\"old\""), "{text}");
    assert!(
        err.ops.iter().any(|o| o.output == got(Some("old"))),
        "{text}"
    );
}

#[test]
fn checker_lets_unknown_writes_happen_or_not() {
    // A put that timed out may show up later...
    let history = vec![
        op(0, put("a"), Output::Put, 0, Some(5)),
        op(1, put("x"), Output::Unknown, 6, None),
        op(2, Input::Get, got(Some("x")), 100, Some(110)),
    ];
    assert!(check(&history).is_ok());
    // ...or never.
    let history = vec![
        op(0, put("a"), Output::Put, 0, Some(5)),
        op(1, put("x"), Output::Unknown, 6, None),
        op(2, Input::Get, got(Some("a")), 100, Some(110)),
    ];
    assert!(check(&history).is_ok());
    // A failed CAS must have seen another value.
    let history = vec![
        op(0, put("a"), Output::Put, 0, Some(5)),
        op(
            1,
            Input::Cas {
                expected: "a".into(),
                new: "b".into(),
            },
            Output::Cas(false),
            10,
            Some(15),
        ),
    ];
    assert!(check(&history).is_err());
}

type History = Arc<Mutex<Vec<Op>>>;

const KEYS: [&str; 3] = ["lin/a", "lin/b", "lin/c"];

async fn client(id: usize, kv: RemoteKv, start: Instant, until: Instant, history: History) {
    let mut n = 0u64;
    let mut last_seen: Option<String> = None;
    while Instant::now() < until {
        n += 1;
        let (key, choice) = {
            let mut rng = rand::rng();
            (
                KEYS[rng.random_range(0..KEYS.len())],
                rng.random_range(0..10),
            )
        };
        let value = format!("c{id}-{n}");
        let input = match choice {
            0..=3 => Input::Get,
            4..=6 => Input::Put(value.clone()),
            _ => Input::Cas {
                expected: last_seen.clone().unwrap_or_else(|| "none".to_string()),
                new: value.clone(),
            },
        };
        let call = start.elapsed().as_nanos() as u64;
        let outcome = tokio::time::timeout(Duration::from_secs(6), async {
            match &input {
                Input::Get => kv.range(RangeRequest::key(key)).await.map(|r| {
                    Output::Get(
                        r.kvs
                            .first()
                            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
                    )
                }),
                Input::Put(v) => kv
                    .put(PutRequest {
                        key: key.as_bytes().to_vec(),
                        value: v.clone().into_bytes(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| Output::Put),
                Input::Cas { expected, new } => kv
                    .txn(TxnRequest {
                        compare: vec![Compare {
                            key: key.as_bytes().to_vec(),
                            range_end: Vec::new(),
                            result: CompareResult::Equal,
                            target: CompareTarget::Value(expected.clone().into_bytes()),
                        }],
                        success: vec![RequestOp::Put(PutRequest {
                            key: key.as_bytes().to_vec(),
                            value: new.clone().into_bytes(),
                            ..Default::default()
                        })],
                        failure: Vec::new(),
                    })
                    .await
                    .map(|r| Output::Cas(r.succeeded)),
            }
        })
        .await;
        let (output, ret) = match outcome {
            Ok(Ok(output)) => (output, Some(start.elapsed().as_nanos() as u64)),
            _ => (Output::Unknown, None),
        };
        if let Output::Get(seen) = &output {
            last_seen = seen.clone();
        }
        let failed = ret.is_none();
        history.lock().expect("history").push(Op {
            client: id,
            key: key.to_string(),
            input,
            output,
            call,
            ret,
        });
        if failed {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_under_kills_and_partitions_is_linearizable() {
    let net = Net::create(8, 3).ok();
    if net.is_none() {
        eprintln!("network namespaces unavailable: kills only");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = match &net {
        Some(net) => {
            let netns: Vec<Option<String>> = (0..3).map(|i| Some(net.namespace(i))).collect();
            Cluster::start_on(dir.path(), &net.hosts, &netns, 17500, &[])
        }
        None => Cluster::start(dir.path(), 3, 17500, &[]),
    };
    let leader = cluster
        .leader(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no leader:\n{}", cluster.logs()));

    let history: History = Arc::default();
    let start = Instant::now();
    let until = start + Duration::from_secs(14);
    let mut clients = Vec::new();
    for id in 0..6 {
        let kv = cluster.members[id % 3].client().await.expect("client");
        clients.push(tokio::spawn(client(id, kv, start, until, history.clone())));
    }

    // Faults: kill the leader, restart it; then cut a member off, heal.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.members[leader].kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.start_member(leader);
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Some(net) = &net {
        let victim = cluster
            .leader(Duration::from_secs(5))
            .await
            .unwrap_or((leader + 1) % 3);
        net.isolate(victim);
        tokio::time::sleep(Duration::from_secs(4)).await;
        net.heal(victim);
    }
    for c in clients {
        let _ = c.await;
    }

    let history = history.lock().expect("history").clone();
    let done = history.iter().filter(|o| o.ret.is_some()).count();
    let writes_ok = history
        .iter()
        .filter(|o| o.ret.is_some() && !matches!(o.input, Input::Get))
        .count();
    eprintln!(
        "{} operations, {done} answered ({writes_ok} writes), {} unknown",
        history.len(),
        history.len() - done
    );
    assert!(done > 200, "too few operations completed: {done}");
    if let Err(violation) = check(&history) {
        panic!("{violation}");
    }
    drop(cluster);
    drop(net);
}
