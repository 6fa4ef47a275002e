//! Periodic compaction of the store's history (upstream's etcd3
//! compactor, `--etcd-compaction-interval`, default 5 minutes): every
//! interval, the revision seen at the previous interval is compacted, so
//! the store keeps about one interval of history for watches and paged
//! lists. Several API servers on one store agree through a compare-and-swap
//! on the version of the key `compact_rev_key`: only the one whose swap
//! succeeds compacts in a round, the others adopt its count and revision.

use std::sync::Arc;
use std::time::Duration;

use store::{
    Compare, CompareResult, CompareTarget, Kv, PutRequest, RangeRequest, RequestOp, ResponseOp,
    StoreError, TxnRequest,
};

/// The key upstream's compactor coordinates on (outside `/registry`).
pub const COMPACT_REV_KEY: &[u8] = b"compact_rev_key";

/// Where a compactor stands between rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// The version of `compact_rev_key` this server last saw (rounds done).
    pub seen_version: i64,
    /// The store revision at the end of the last round: compacted next time.
    pub revision: i64,
}

/// One round: swaps `compact_rev_key` if nobody did since `last`; the
/// winner compacts to `last.revision` (none on the first round). Answers
/// the state for the next round.
pub async fn round(kv: &dyn Kv, last: Round) -> Result<Round, StoreError> {
    let resp = kv
        .txn(TxnRequest {
            compare: vec![Compare {
                key: COMPACT_REV_KEY.to_vec(),
                range_end: Vec::new(),
                result: CompareResult::Equal,
                target: CompareTarget::Version(last.seen_version),
            }],
            success: vec![RequestOp::Put(PutRequest {
                key: COMPACT_REV_KEY.to_vec(),
                value: last.revision.to_string().into_bytes(),
                ..Default::default()
            })],
            failure: vec![RequestOp::Range(RangeRequest::key(
                COMPACT_REV_KEY.to_vec(),
            ))],
        })
        .await?;
    let current = resp.header.revision;
    if !resp.succeeded {
        // Another server took this round: follow its count.
        let version = resp
            .responses
            .first()
            .and_then(|r| match r {
                ResponseOp::Range(range) => range.kvs.first().map(|kv| kv.version),
                _ => None,
            })
            .unwrap_or(0);
        return Ok(Round {
            seen_version: version,
            revision: current,
        });
    }
    if last.revision > 0 {
        match kv.compact(last.revision).await {
            Ok(_) => tracing::info!(revision = last.revision, "compacted the store"),
            // Compacted already (e.g. by hand): nothing to do.
            Err(StoreError::Compacted { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Round {
        seen_version: last.seen_version + 1,
        revision: current,
    })
}

/// Runs rounds every `interval` until the task is dropped.
pub async fn run(kv: Arc<dyn Kv>, interval: Duration) {
    let mut state = Round::default();
    loop {
        tokio::time::sleep(interval).await;
        match round(kv.as_ref(), state).await {
            Ok(next) => state = next,
            Err(e) => tracing::warn!(error = %e, "store compaction failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn put(kv: &dyn Kv, key: &str) -> i64 {
        kv.put(PutRequest {
            key: key.as_bytes().to_vec(),
            value: b"v".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .header
        .revision
    }

    #[tokio::test]
    async fn compacts_what_the_previous_round_saw() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn Kv> =
            store::Engine::open(dir.path(), store::EngineOptions::default()).unwrap();
        let early = put(kv.as_ref(), "/registry/a").await;
        // First round: nothing compacted, the revision is remembered.
        let first = round(kv.as_ref(), Round::default()).await.unwrap();
        assert_eq!(first.seen_version, 1);
        let old = kv
            .range(RangeRequest {
                revision: early,
                ..RangeRequest::key(b"/registry/a".to_vec())
            })
            .await;
        assert!(old.is_ok(), "nothing compacted on the first round");
        put(kv.as_ref(), "/registry/b").await;
        // A second server that has not seen round one loses the swap and
        // adopts the count.
        let other = round(kv.as_ref(), Round::default()).await.unwrap();
        assert_eq!(other.seen_version, 1);
        // Second round: history up to the first round's revision is gone.
        let second = round(kv.as_ref(), first).await.unwrap();
        assert_eq!(second.seen_version, 2);
        let gone = kv
            .range(RangeRequest {
                revision: early,
                ..RangeRequest::key(b"/registry/a".to_vec())
            })
            .await;
        assert!(
            matches!(gone, Err(StoreError::Compacted { .. })),
            "{gone:?}"
        );
    }
}
