//! Crash safety of `oxkube store`: writers keep putting fresh keys and record
//! every acknowledged (key, revision); the store is SIGKILLed at a random
//! moment, restarted on the same data directory, and every acknowledged
//! write must be there with the revision that was acknowledged. 20 rounds.
//! The journal's segments are made 64 KiB, so kills also land while
//! segments roll over, RocksDB flushes and old segments are recycled.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use store::remote::{RemoteConfig, RemoteKv};
use store::{Kv, PutRequest, RangeRequest};

const ROUNDS: usize = 20;
const WRITERS: usize = 4;
const SMALL_SEGMENTS: &[&str] = &["--journal-segment-bytes", "65536"];

type Acked = Arc<Mutex<BTreeMap<Vec<u8>, i64>>>;

async fn connect(endpoint: &str) -> RemoteKv {
    RemoteKv::connect(&RemoteConfig {
        endpoints: vec![endpoint.to_string()],
        connect_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"))
}

/// Puts `crash/<round>/<writer>/<i>` until the store stops answering.
async fn writer(kv: Arc<RemoteKv>, round: usize, id: usize, acked: Acked) {
    for i in 0.. {
        let key = format!("crash/{round:02}/{id}/{i:06}").into_bytes();
        let req = PutRequest {
            key: key.clone(),
            value: format!("value {i}").into_bytes(),
            ..Default::default()
        };
        match tokio::time::timeout(Duration::from_secs(5), kv.put(req)).await {
            Ok(Ok(resp)) => {
                acked
                    .lock()
                    .expect("acked map")
                    .insert(key, resp.header.revision);
            }
            _ => return,
        }
    }
}

async fn check_all_present(kv: &RemoteKv, acked: &BTreeMap<Vec<u8>, i64>, round: usize) {
    let stored = kv
        .range(RangeRequest::prefix("crash/"))
        .await
        .unwrap_or_else(|e| panic!("round {round}: range after restart: {e}"));
    let by_key: BTreeMap<&[u8], &store::KeyValue> = stored
        .kvs
        .iter()
        .map(|kv| (kv.key.as_slice(), kv))
        .collect();
    for (key, rev) in acked {
        let name = String::from_utf8_lossy(key);
        let kv = by_key
            .get(key.as_slice())
            .unwrap_or_else(|| panic!("round {round}: acknowledged {name} (rev {rev}) is lost"));
        assert_eq!(kv.mod_revision, *rev, "round {round}: {name} mod_revision");
        assert_eq!(
            kv.create_revision, *rev,
            "round {round}: {name} create_revision"
        );
        assert_eq!(kv.version, 1, "round {round}: {name} version");
    }
    let highest = acked.values().max().copied().unwrap_or(0);
    assert!(
        stored.header.revision >= highest,
        "round {round}: store revision {} is behind acknowledged {highest}",
        stored.header.revision
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    require_etcd_tools!();
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let acked: Acked = Arc::new(Mutex::new(BTreeMap::new()));
    let mut rng = rand::rng();
    let mut total_before_kill = Vec::new();

    for round in 0..ROUNDS {
        let mut server = common::Server::oxkube_with(&data, None, SMALL_SEGMENTS);
        let kv = Arc::new(connect(&server.endpoint).await);
        let so_far = acked.lock().expect("acked").clone();
        check_all_present(&kv, &so_far, round).await;

        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(kv.clone(), round, w, acked.clone())))
            .collect();
        let delay = Duration::from_millis(rng.random_range(50..600));
        tokio::time::sleep(delay).await;
        let before = acked.lock().expect("acked").len();
        server.kill();
        for w in writers {
            let _ = w.await;
        }
        total_before_kill.push(before);
    }

    let server = common::Server::oxkube_with(&data, None, SMALL_SEGMENTS);
    let kv = connect(&server.endpoint).await;
    let acked = acked.lock().expect("acked").clone();
    check_all_present(&kv, &acked, ROUNDS).await;
    // The kills must have interrupted real write traffic.
    assert!(
        acked.len() > ROUNDS * WRITERS,
        "only {} writes acknowledged",
        acked.len()
    );
    eprintln!(
        "{} acknowledged writes over {ROUNDS} kills, all present (acked before each kill: {total_before_kill:?})",
        acked.len()
    );
}
