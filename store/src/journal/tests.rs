use std::sync::atomic::AtomicUsize;

use super::*;

fn small() -> JournalOptions {
    JournalOptions {
        segment_bytes: 4096,
        first_segment_bytes: 1024,
        spares: 1,
    }
}

/// An owner that never persists: every segment must be kept.
fn no_persist() -> Persist {
    Box::new(|| Err("this owner keeps nothing".to_string()))
}

fn append(journal: &Journal, payload: &[u8]) -> u64 {
    journal.lock().append(payload).expect("append")
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("spare-"))
        .collect();
    names.sort();
    names
}

#[test]
fn records_come_back_after_the_given_number_across_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (journal, replay) = Journal::open(dir.path(), 0, small(), no_persist()).expect("open");
        assert!(replay.is_empty());
        for i in 1..=100u64 {
            let payload = format!("record {i} {}", "x".repeat(60));
            assert_eq!(append(&journal, payload.as_bytes()), i);
        }
        assert_eq!(journal.last_seq(), 100);
    }
    assert!(segments(dir.path()).len() > 2, "{:?}", segments(dir.path()));
    let (journal, replay) = Journal::open(dir.path(), 40, small(), no_persist()).expect("reopen");
    assert_eq!(replay.len(), 60);
    assert!(replay[0].starts_with(b"record 41 "));
    assert!(replay[59].starts_with(b"record 100 "));
    assert_eq!(append(&journal, b"next"), 101);
}

#[test]
fn a_torn_tail_ends_the_journal_and_is_overwritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = {
        let (journal, _) = Journal::open(dir.path(), 0, small(), no_persist()).expect("open");
        append(&journal, b"one");
        append(&journal, b"two");
        lock(&journal.shared.writer).path.clone()
    };
    // Damage the second record's payload, as a write cut short would.
    let file = segment::open_for_writing(&path).expect("open segment");
    file.write_all_at(b"TW", (record::HEADER_LEN + 3 + record::HEADER_LEN) as u64)
        .expect("damage");
    let (journal, replay) = Journal::open(dir.path(), 0, small(), no_persist()).expect("reopen");
    assert_eq!(replay, vec![b"one".to_vec()]);
    assert_eq!(append(&journal, b"again"), 2);
    drop(journal);
    let (_, replay) = Journal::open(dir.path(), 0, small(), no_persist()).expect("reopen");
    assert_eq!(replay, vec![b"one".to_vec(), b"again".to_vec()]);
}

#[test]
fn sealed_segments_are_recycled_once_persisted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let persisted = Arc::new(AtomicUsize::new(0));
    let counter = persisted.clone();
    let persist: Persist = Box::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let (journal, _) = Journal::open(dir.path(), 0, small(), persist).expect("open");
    for _ in 0..200 {
        append(&journal, &[7u8; 100]);
    }
    // The maintenance thread works in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while segments(dir.path()).len() > 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(persisted.load(Ordering::SeqCst) > 0);
    assert!(
        segments(dir.path()).len() <= 2,
        "old segments remain: {:?}",
        segments(dir.path())
    );
    let last = journal.last_seq();
    let first_kept = lock(&journal.shared.writer).first_seq;
    drop(journal);
    // Records the owner did not have are replayed from the kept segment.
    let (journal, replay) =
        Journal::open(dir.path(), first_kept - 1, small(), no_persist()).expect("reopen");
    assert_eq!(replay.len() as u64, last - first_kept + 1);
    assert_eq!(append(&journal, b"x"), last + 1);
    drop(journal);
    // A database behind the first kept record is refused, not silently
    // missing records.
    assert!(matches!(
        Journal::open(dir.path(), 0, small(), no_persist()),
        Err(JournalError::Missing { .. })
    ));
}

#[test]
fn a_database_ahead_of_the_journal_starts_a_new_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (journal, _) = Journal::open(dir.path(), 0, small(), no_persist()).expect("open");
        append(&journal, b"one");
    }
    let (journal, replay) = Journal::open(dir.path(), 50, small(), no_persist()).expect("reopen");
    assert!(replay.is_empty());
    assert_eq!(append(&journal, b"fifty-one"), 51);
    drop(journal);
    let (_, replay) = Journal::open(dir.path(), 50, small(), no_persist()).expect("reopen");
    assert_eq!(replay, vec![b"fifty-one".to_vec()]);
}

#[test]
fn a_record_larger_than_a_segment_gets_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = vec![1u8; 10_000];
    {
        let (journal, _) = Journal::open(dir.path(), 0, small(), no_persist()).expect("open");
        append(&journal, b"small");
        append(&journal, &big);
        append(&journal, b"after");
    }
    let (_, replay) = Journal::open(dir.path(), 0, small(), no_persist()).expect("reopen");
    assert_eq!(replay.len(), 3);
    assert_eq!(replay[1], big);
}

#[test]
fn a_missing_segment_in_the_middle_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (journal, _) = Journal::open(dir.path(), 0, small(), no_persist()).expect("open");
        for _ in 0..200 {
            append(&journal, &[3u8; 100]);
        }
    }
    let names = segments(dir.path());
    assert!(names.len() >= 3, "{names:?}");
    std::fs::remove_file(dir.path().join(&names[1])).expect("remove a middle segment");
    assert!(matches!(
        Journal::open(dir.path(), 0, small(), no_persist()),
        Err(JournalError::Gap { .. })
    ));
}
