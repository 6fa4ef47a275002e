//! Watches: history replay then live events, filters, prev_kv, progress,
//! compaction, and fan-out to many watchers.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use futures::StreamExt;
use store::{Event, EventType, Kv, Watch, WatchRequest, WatchResponse};
use tokio::time::timeout;

async fn next(watch: &mut Watch) -> WatchResponse {
    timeout(Duration::from_secs(10), watch.responses.next())
        .await
        .expect("watch response in time")
        .expect("stream still open")
        .expect("no error")
}

/// Collects events until `n` have arrived.
async fn events(watch: &mut Watch, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        match next(watch).await {
            WatchResponse::Events { events, .. } => out.extend(events),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(out.len(), n, "no more events than expected");
    out
}

fn summary(events: &[Event]) -> Vec<(EventType, String, i64)> {
    events
        .iter()
        .map(|e| {
            (
                e.kind,
                String::from_utf8_lossy(&e.kv.key).into_owned(),
                e.kv.mod_revision,
            )
        })
        .collect()
}

fn prefix(p: &str) -> WatchRequest {
    WatchRequest {
        key: p.as_bytes().to_vec(),
        range_end: store::prefix_end(p.as_bytes()),
        ..Default::default()
    }
}

#[tokio::test]
async fn replays_history_then_follows_live_writes() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "w/a", "1").await; // 2
    put(&kv, "other", "x").await; // 3
    put(&kv, "w/a", "2").await; // 4
    kv.delete_range(del_req("w/a")).await.unwrap(); // 5

    let mut watch = kv
        .watch(WatchRequest {
            start_revision: 2,
            prev_kv: true,
            ..prefix("w/")
        })
        .await
        .unwrap();
    let replayed = events(&mut watch, 3).await;
    assert_eq!(
        summary(&replayed),
        [
            (EventType::Put, "w/a".to_string(), 2),
            (EventType::Put, "w/a".to_string(), 4),
            (EventType::Delete, "w/a".to_string(), 5),
        ]
    );
    assert_eq!(replayed[0].prev_kv, None);
    assert_eq!(replayed[1].prev_kv.as_ref().unwrap().value, b"1");
    assert_eq!(replayed[2].prev_kv.as_ref().unwrap().value, b"2");
    assert_eq!(replayed[2].kv.version, 0);

    put(&kv, "w/b", "3").await; // 6
    let live = events(&mut watch, 1).await;
    assert_eq!(summary(&live), [(EventType::Put, "w/b".to_string(), 6)]);
    assert_eq!(live[0].kv.create_revision, 6);
    assert_eq!(live[0].prev_kv, None);
}

#[tokio::test]
async fn from_now_filters_and_txn_events_arrive_together() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "f/old", "x").await;
    let mut no_delete = kv
        .watch(WatchRequest {
            no_delete: true,
            ..prefix("f/")
        })
        .await
        .unwrap();
    let mut no_put = kv
        .watch(WatchRequest {
            no_put: true,
            prev_kv: true,
            ..prefix("f/")
        })
        .await
        .unwrap();
    let mut single = kv
        .watch(WatchRequest {
            key: b"f/a".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();

    kv.txn(store::TxnRequest {
        success: vec![op_put("f/a", "1"), op_put("f/b", "2"), op_del("f/old")],
        ..Default::default()
    })
    .await
    .unwrap(); // revision 3

    match next(&mut no_delete).await {
        WatchResponse::Events { header, events } => {
            assert_eq!(header.revision, 3);
            assert_eq!(
                summary(&events),
                [
                    (EventType::Put, "f/a".to_string(), 3),
                    (EventType::Put, "f/b".to_string(), 3),
                ]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let deletes = events(&mut no_put, 1).await;
    assert_eq!(
        summary(&deletes),
        [(EventType::Delete, "f/old".to_string(), 3)]
    );
    assert_eq!(deletes[0].prev_kv.as_ref().unwrap().value, b"x");
    assert_eq!(
        summary(&events(&mut single, 1).await),
        [(EventType::Put, "f/a".to_string(), 3)]
    );
}

#[tokio::test]
async fn progress_request_answers_with_current_revision_once_synced() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    put(&kv, "p/a", "1").await; // 2
    put(&kv, "unrelated", "1").await; // 3
    let mut watch = kv
        .watch(WatchRequest {
            start_revision: 2,
            ..prefix("p/")
        })
        .await
        .unwrap();
    watch.progress.send(()).unwrap();
    // Events come first; the progress answer follows once caught up.
    assert_eq!(summary(&events(&mut watch, 1).await).len(), 1);
    match next(&mut watch).await {
        WatchResponse::Progress { header } => assert_eq!(header.revision, 3),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn idle_watchers_get_progress_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let options = store::EngineOptions {
        progress_notify_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let kv = open_with(dir.path(), options);
    put(&kv, "x", "1").await;
    let mut notified = kv
        .watch(WatchRequest {
            progress_notify: true,
            ..prefix("n/")
        })
        .await
        .unwrap();
    match next(&mut notified).await {
        WatchResponse::Progress { header } => assert_eq!(header.revision, 2),
        other => panic!("unexpected {other:?}"),
    }
    let mut quiet = kv.watch(prefix("n/")).await.unwrap();
    assert!(
        timeout(Duration::from_millis(600), quiet.responses.next())
            .await
            .is_err(),
        "no notification without progress_notify"
    );
}

#[tokio::test]
async fn watching_a_compacted_revision_reports_it_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    for i in 0..5 {
        put(&kv, "c", &i.to_string()).await; // 2..=6
    }
    kv.compact(5).await.unwrap();
    let mut watch = kv
        .watch(WatchRequest {
            key: b"c".to_vec(),
            start_revision: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    match next(&mut watch).await {
        WatchResponse::Compacted {
            header,
            compact_revision,
        } => {
            assert_eq!(compact_revision, 5);
            assert_eq!(header.revision, 6);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(watch.responses.next().await.is_none());

    // From the compact revision on, history is still there.
    let mut watch = kv
        .watch(WatchRequest {
            key: b"c".to_vec(),
            start_revision: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        summary(&events(&mut watch, 2).await),
        [
            (EventType::Put, "c".to_string(), 5),
            (EventType::Put, "c".to_string(), 6)
        ]
    );
}

#[tokio::test]
async fn a_thousand_watchers_on_one_prefix_see_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let kv = open(dir.path());
    let mut watches = Vec::new();
    for _ in 0..1000 {
        watches.push(kv.watch(prefix("/registry/pods/")).await.unwrap());
    }
    for i in 0..20 {
        put(&kv, &format!("/registry/pods/ns/p{i}"), "spec").await;
    }
    kv.delete_range(del_req("/registry/pods/ns/p0"))
        .await
        .unwrap();
    let expected: Vec<i64> = (2..=22).collect();
    let mut tasks = Vec::new();
    for mut watch in watches {
        tasks.push(tokio::spawn(async move {
            events(&mut watch, 21)
                .await
                .iter()
                .map(|e| e.kv.mod_revision)
                .collect::<Vec<_>>()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), expected);
    }
}

#[tokio::test]
async fn a_watcher_that_falls_behind_the_log_replays_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let options = store::EngineOptions {
        watch_log_events: 8,
        ..Default::default()
    };
    let kv = open_with(dir.path(), options);
    let mut slow = kv.watch(prefix("s/")).await.unwrap();
    // Far more revisions than the in-memory log keeps, without reading.
    for i in 0..200 {
        put(&kv, &format!("s/{}", i % 7), &i.to_string()).await;
    }
    let revs: Vec<i64> = events(&mut slow, 200)
        .await
        .iter()
        .map(|e| e.kv.mod_revision)
        .collect();
    assert_eq!(revs, (2..=201).collect::<Vec<_>>());
    put(&kv, "s/live", "x").await;
    assert_eq!(events(&mut slow, 1).await[0].kv.mod_revision, 202);
}
