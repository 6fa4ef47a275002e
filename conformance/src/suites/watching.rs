//! Watching objects the way upstream's `watchtools.Until` does: a watch
//! from the resourceVersion of a list, read until an event satisfies a
//! condition (or a condition reports a failure).

use std::time::Duration;

use futures::StreamExt;
use kube::Resource;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};

use crate::framework::{Step, TestError, TestResult, next_event};

/// How long `watch_until` waits for the event it wants.
const WAIT: Duration = Duration::from_secs(120);

/// A watch on the test namespace's `K` objects matching `params`, from the
/// resourceVersion of a list (as upstream's `watchtools.Until`).
pub async fn watch_from_now<K>(
    api: &Api<K>,
    params: &WatchParams,
) -> TestResult<impl futures::Stream<Item = Result<WatchEvent<K>, kube::Error>> + Unpin + use<K>>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut list_params = ListParams::default();
    if let Some(l) = &params.label_selector {
        list_params = list_params.labels(l);
    }
    if let Some(f) = &params.field_selector {
        list_params = list_params.fields(f);
    }
    let start = api
        .list(&list_params)
        .await
        .step("listing")?
        .metadata
        .resource_version
        .unwrap_or_default();
    Ok(api.watch(params, &start).await.step("watching")?.boxed())
}

/// Reads the watch until an event satisfies `check` (an Err from `check`
/// fails the test at once).
pub async fn watch_until<K, S>(
    stream: &mut S,
    what: &str,
    check: impl Fn(&WatchEvent<K>) -> Result<bool, String>,
) -> TestResult
where
    S: futures::Stream<Item = Result<WatchEvent<K>, kube::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(TestError::Assertion(format!("no watch event with {what}")));
        }
        let event = next_event(stream, left, what).await?;
        match check(&event) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(why) => return Err(TestError::Assertion(why)),
        }
    }
}

/// The object of an ADDED, MODIFIED or DELETED event.
pub fn object<K>(e: &WatchEvent<K>) -> Option<&K> {
    match e {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => Some(o),
        _ => None,
    }
}
