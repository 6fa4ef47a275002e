//! The etcd gRPC front end over the embedded engine, in process, seen
//! through `etcd_client`: watch ids and answers on a shared stream,
//! RequestProgress, the request size limit, and require-leader metadata.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions, EventType, WatchOptions};
use store::grpc::EtcdServer;
use store::{Engine, EngineOptions};
use tokio::net::TcpListener;

struct Running {
    endpoint: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::open(dir.path(), EngineOptions::default()).expect("open engine");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = EtcdServer::new(engine.clone()).with_maintenance(engine as Arc<_>);
    tokio::spawn(server.serve(listener, None, async {
        let _ = stopped.await;
    }));
    Running {
        endpoint,
        _stop: stop,
        _dir: dir,
    }
}

async fn client(endpoint: &str, options: Option<ConnectOptions>) -> Client {
    Client::connect([endpoint], options).await.expect("connect")
}

async fn next(stream: &mut etcd_client::WatchStream) -> etcd_client::WatchResponse {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("watch answer in time")
        .expect("watch stream error")
        .expect("watch stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_carries_many_watches() {
    let s = start().await;
    let mut c = client(&s.endpoint, None).await;
    c.put("a", "1", None).await.expect("put");

    let mut stream = c.watch("a", None).await.expect("watch");
    let created = next(&mut stream).await;
    assert!(created.created());
    assert_eq!(created.watch_id(), 0);
    assert_eq!(created.header().map(|h| h.revision()), Some(2));

    stream.watch("b", None).await.expect("second watch");
    assert_eq!(next(&mut stream).await.watch_id(), 1);
    stream
        .watch("c", Some(WatchOptions::new().with_watch_id(7)))
        .await
        .expect("client-chosen id");
    let third = next(&mut stream).await;
    assert!(third.created() && !third.canceled());
    assert_eq!(third.watch_id(), 7);
    stream
        .watch("d", Some(WatchOptions::new().with_watch_id(7)))
        .await
        .expect("duplicate id");
    let dup = next(&mut stream).await;
    assert!(dup.created() && dup.canceled());
    assert_eq!(
        dup.cancel_reason(),
        "mvcc: duplicate watch ID provided on the WatchStream"
    );

    c.put("b", "2", None).await.expect("put b");
    let ev = next(&mut stream).await;
    assert_eq!(ev.watch_id(), 1);
    assert_eq!(ev.events().len(), 1);
    assert_eq!(ev.events()[0].event_type(), EventType::Put);
    assert_eq!(ev.events()[0].kv().map(|kv| kv.mod_revision()), Some(3));

    // RequestProgress: one answer for the whole stream, id -1, no events.
    stream.request_progress().await.expect("progress");
    let progress = next(&mut stream).await;
    assert_eq!(progress.watch_id(), -1);
    assert!(progress.events().is_empty());
    assert_eq!(progress.header().map(|h| h.revision()), Some(3));

    stream.cancel(1).await.expect("cancel");
    let canceled = next(&mut stream).await;
    assert!(canceled.canceled());
    assert_eq!(canceled.watch_id(), 1);
    c.put("b", "3", None).await.expect("put b");
    c.put("a", "4", None).await.expect("put a");
    let ev = next(&mut stream).await;
    assert_eq!(ev.watch_id(), 0, "events of a canceled watch were sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_etcds_error() {
    let s = start().await;
    let mut c = client(&s.endpoint, None).await;
    let big = vec![b'x'; 1024 * 1024 + 600 * 1024];
    let err = c.put("big", big, None).await.expect_err("too large");
    match err {
        etcd_client::Error::GRpcStatus(status) => {
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert_eq!(status.message(), "etcdserver: request is too large");
        }
        other => panic!("unexpected error {other:?}"),
    }
    // Just under the limit is fine.
    let ok = vec![b'y'; 1024 * 1024 + 400 * 1024];
    c.put("fits", ok, None).await.expect("put under the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_leader_is_satisfied_by_a_single_member() {
    let s = start().await;
    let options = ConnectOptions::new().with_require_leader(true);
    let mut c = client(&s.endpoint, Some(options)).await;
    c.put("k", "v", None).await.expect("put with hasleader");
    let mut stream = c.watch("k", None).await.expect("watch with hasleader");
    assert!(next(&mut stream).await.created());
    let status = c.status().await.expect("status");
    assert_eq!(
        status.leader(),
        status.header().map(|h| h.member_id()).unwrap_or(0)
    );
    let v: Vec<u64> = status
        .version()
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    assert!(v >= vec![3, 5, 13], "version {}", status.version());
}
