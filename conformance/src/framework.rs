//! What a test sees: a context with a client and its own namespace, the
//! failure type, assertion macros, and helpers for raw HTTP and polling.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

use crate::nodes::NodeNeed;

/// How a test body ends when it does not pass.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The cluster answered, but not as the behaviour requires.
    #[error("{0}")]
    Assertion(String),
    /// An API call failed where it had to succeed.
    #[error("{step}: {source}")]
    Api {
        step: String,
        #[source]
        source: kube::Error,
    },
    /// A response body was not the JSON expected.
    #[error("{step}: invalid JSON: {source}")]
    Json {
        step: String,
        #[source]
        source: serde_json::Error,
    },
    /// The test decided it cannot run here (the reason is reported).
    #[error("{0}")]
    Skip(String),
}

/// Result of a test body.
pub type TestResult<T = ()> = Result<T, TestError>;

/// Attaches a step description to fallible calls.
pub trait Step<T> {
    fn step(self, what: impl Into<String>) -> TestResult<T>;
}

impl<T> Step<T> for Result<T, kube::Error> {
    fn step(self, what: impl Into<String>) -> TestResult<T> {
        self.map_err(|source| TestError::Api {
            step: what.into(),
            source,
        })
    }
}

impl<T> Step<T> for Result<T, serde_json::Error> {
    fn step(self, what: impl Into<String>) -> TestResult<T> {
        self.map_err(|source| TestError::Json {
            step: what.into(),
            source,
        })
    }
}

/// Fails the test with a formatted message unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::framework::TestError::Assertion(format!($($arg)+)));
        }
    };
}

/// Fails the test unless both sides are equal, printing both.
#[macro_export]
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err($crate::framework::TestError::Assertion(format!(
                        "{}: got {:?}, want {:?}",
                        format!($($arg)+),
                        l,
                        r
                    )));
                }
            }
        }
    };
}

/// A test body: takes its context, returns a boxed future.
pub type TestFn = fn(Ctx) -> BoxFuture<'static, TestResult>;

/// One test of the suite.
#[derive(Clone, Copy)]
pub struct TestCase {
    /// The upstream codename it covers, or, for checks with no upstream
    /// entry, a name of the same shape (`[sig-x] ...`) that is not in the list.
    pub name: &'static str,
    /// Whether `name` is an upstream conformance codename.
    pub upstream: bool,
    /// What it needs of the nodes (see `nodes`).
    pub nodes: NodeNeed,
    /// Upper bound for the body; cleanup runs afterwards regardless.
    pub timeout: Duration,
    pub run: TestFn,
}

impl TestCase {
    /// A test covering the upstream test `codename`, without nodes, 60 s.
    pub const fn upstream(name: &'static str, run: TestFn) -> Self {
        Self {
            name,
            upstream: true,
            nodes: NodeNeed::None,
            timeout: Duration::from_secs(60),
            run,
        }
    }

    /// A check with no upstream conformance entry.
    pub const fn extra(name: &'static str, run: TestFn) -> Self {
        Self {
            name,
            upstream: false,
            nodes: NodeNeed::None,
            timeout: Duration::from_secs(60),
            run,
        }
    }

    /// Marks the test as needing nodes that run containers (and a longer
    /// timeout).
    pub const fn with_nodes(mut self) -> Self {
        self.nodes = NodeNeed::Containers;
        self.timeout = Duration::from_secs(180);
        self
    }

    /// Marks the test as needing pods that get scheduled and become
    /// Running/Ready, which simulated nodes provide too (and a longer
    /// timeout).
    pub const fn with_running_pods(mut self) -> Self {
        self.nodes = NodeNeed::Schedulable;
        self.timeout = Duration::from_secs(180);
        self
    }

    /// A longer upper bound for a test that waits on the cluster's own
    /// schedule (e.g. compaction).
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The SIG area this test reports under.
    pub fn area(&self) -> &'static str {
        crate::upstream::area_of(self.name).unwrap_or("other")
    }
}

type Cleanup = Box<dyn FnOnce(Client) -> BoxFuture<'static, ()> + Send>;

/// What a running test gets.
#[derive(Clone)]
pub struct Ctx {
    pub client: Client,
    /// The test's own namespace (created with generateName, deleted after).
    pub ns: String,
    /// A short random token (the namespace's suffix), for unique names of
    /// cluster-scoped objects and label values.
    pub unique: String,
    /// The kubeconfig the run was given (for tests that run kubectl).
    pub kubeconfig: Arc<std::path::PathBuf>,
    cleanups: Arc<Mutex<Vec<Cleanup>>>,
}

/// A raw HTTP answer.
#[derive(Debug)]
pub struct RawResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> TestResult<T> {
        serde_json::from_slice(&self.body)
            .step(format!("{what} (body: {})", truncate(&self.text(), 300)))
    }

    /// Every `Warning` header value.
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::WARNING)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The Content-Type header, or "".
    pub fn content_type(&self) -> String {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }
}

/// Cuts long texts for messages.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Ctx {
    pub(crate) fn new(client: Client, ns: String, kubeconfig: Arc<std::path::PathBuf>) -> Self {
        let unique = ns.rsplit('-').next().unwrap_or("x").to_string();
        Self {
            client,
            ns,
            unique,
            kubeconfig,
            cleanups: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs kubectl in the test namespace; a non-zero exit fails the test.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> TestResult<String> {
        crate::kubectl::run_ok(&self.kubeconfig, Some(&self.ns), args, stdin).await
    }

    /// Runs kubectl in the test namespace, whatever its exit code.
    pub async fn kubectl_any(
        &self,
        args: &[&str],
        stdin: Option<&str>,
    ) -> TestResult<crate::kubectl::KubectlRun> {
        crate::kubectl::run(&self.kubeconfig, Some(&self.ns), args, stdin).await
    }

    /// A typed API for a namespaced kind in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// A typed API for a cluster-scoped kind.
    pub fn cluster_api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }

    /// A typed API across all namespaces.
    pub fn all_api<K>(&self) -> Api<K>
    where
        K: Resource<DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }

    /// A name unique to this run: `prefix-<unique>`.
    pub fn name(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.unique)
    }

    /// Deletes the cluster-scoped object `name` of kind `K` after the test,
    /// whatever its outcome (namespaced objects go with the namespace).
    pub fn delete_after<K>(&self, name: &str)
    where
        K: Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let name = name.to_string();
        let cleanup: Cleanup = Box::new(move |client: Client| {
            Box::pin(async move {
                let api: Api<K> = Api::all(client);
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.is_not_found() => {}
                    Err(err) => {
                        tracing::warn!(%name, %err, "cleanup of cluster-scoped object failed")
                    }
                }
            })
        });
        if let Ok(mut list) = self.cleanups.lock() {
            list.push(cleanup);
        }
    }

    /// Waits until the namespaces of earlier tests are gone, as upstream's
    /// `CheckTestingNSDeletedExcept` does before [Serial] scheduling tests:
    /// their pods would otherwise still hold node resources (or be
    /// preempted) while the test counts on an idle cluster.
    pub async fn wait_for_other_test_namespaces_gone(&self) -> TestResult {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let selector = format!("{}=true", crate::runner::NAMESPACE_LABEL);
        let own = self.ns.clone();
        wait_for(
            "the namespaces of earlier tests to be deleted",
            Duration::from_secs(300),
            || {
                let namespaces = namespaces.clone();
                let selector = selector.clone();
                let own = own.clone();
                async move {
                    let list = namespaces
                        .list(&kube::api::ListParams::default().labels(&selector))
                        .await
                        .step("listing test namespaces")?;
                    let others: Vec<String> = list
                        .items
                        .into_iter()
                        .filter_map(|n| n.metadata.name)
                        .filter(|n| *n != own)
                        .collect();
                    Ok(if others.is_empty() {
                        Ok(())
                    } else {
                        Err(format!("still there: {others:?}"))
                    })
                }
            },
        )
        .await
    }

    /// Runs `cleanup` after the test, whatever its outcome (for state that
    /// is not an object to delete, e.g. a node's extended resource).
    pub fn after<F>(&self, cleanup: F)
    where
        F: FnOnce(Client) -> BoxFuture<'static, ()> + Send + 'static,
    {
        if let Ok(mut list) = self.cleanups.lock() {
            list.push(Box::new(cleanup));
        }
    }

    pub(crate) async fn run_cleanups(&self) {
        let list: Vec<Cleanup> = match self.cleanups.lock() {
            Ok(mut list) => list.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for cleanup in list.into_iter().rev() {
            cleanup(self.client.clone()).await;
        }
    }

    /// Sends a raw request; any HTTP status is a response, not an error.
    pub async fn raw(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> TestResult<RawResponse> {
        let mut builder = http::Request::builder().method(method.clone()).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(kube::client::Body::from(body.unwrap_or_default()))
            .map_err(|e| TestError::Assertion(format!("building request {method} {path}: {e}")))?;
        let response = self
            .client
            .send(request)
            .await
            .step(format!("{method} {path}"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect_bytes()
            .await
            .step(format!("reading body of {method} {path}"))?;
        Ok(RawResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.to_vec(),
        })
    }

    /// GET with an Accept header.
    pub async fn get_raw(&self, path: &str, accept: &str) -> TestResult<RawResponse> {
        self.raw(http::Method::GET, path, &[("Accept", accept)], None)
            .await
    }
}

/// Polls `check` every 250 ms until it yields `Some`, or fails after `limit`
/// with the last observation.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Result<T, String>>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await? {
            Ok(value) => return Ok(value),
            Err(last) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(TestError::Assertion(format!(
                        "timed out after {limit:?} waiting for {what}; last seen: {last}"
                    )));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until listing `api` with the label `selector` finds nothing.
pub async fn wait_until_none_left<K>(
    what: &str,
    limit: Duration,
    api: &Api<K>,
    selector: &str,
) -> TestResult
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    wait_for(what, limit, || async move {
        let left = api
            .list(&kube::api::ListParams::default().labels(selector))
            .await
            .step("listing what should be gone")?;
        Ok(if left.items.is_empty() {
            Ok(())
        } else {
            Err(format!("{} left", left.items.len()))
        })
    })
    .await
}

/// Whether a kube error is an API status with this HTTP code.
pub fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

/// Expects a call to fail with an API status of `code`; returns the status message.
pub fn expect_status<T: std::fmt::Debug>(
    result: Result<T, kube::Error>,
    code: u16,
    what: &str,
) -> TestResult<String> {
    match result {
        Ok(v) => Err(TestError::Assertion(format!(
            "{what}: expected HTTP {code}, but the call succeeded: {}",
            truncate(&format!("{v:?}"), 300)
        ))),
        Err(kube::Error::Api(s)) if s.code == code => Ok(s.message.clone()),
        Err(kube::Error::Api(s)) => Err(TestError::Assertion(format!(
            "{what}: expected HTTP {code}, got {} {} ({})",
            s.code, s.reason, s.message
        ))),
        Err(other) => Err(TestError::Api {
            step: what.to_string(),
            source: other,
        }),
    }
}

/// Upstream's `retry.RetryOnConflict` around GET, `change`, PUT of the
/// object `name` (through `/status` when `status`): a 409 from a writer
/// in between (usually a controller) starts over, at most 20 times.
pub async fn update_with_retries<K>(
    api: &Api<K>,
    name: &str,
    status: bool,
    change: impl Fn(&mut K) -> TestResult,
) -> TestResult<K>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let mut conflicts = 0;
    loop {
        let mut obj = api.get(name).await.step(format!("reading {name}"))?;
        change(&mut obj)?;
        let params = kube::api::PostParams::default();
        let result = if status {
            api.replace_status(name, &params, &obj).await
        } else {
            api.replace(name, &params, &obj).await
        };
        match result {
            Err(e) if is_status(&e, 409) && conflicts < 20 => conflicts += 1,
            other => return other.step(format!("updating {name}")),
        }
    }
}

/// Builds a typed object from JSON.
pub fn from_json<K: DeserializeOwned>(value: serde_json::Value) -> TestResult<K> {
    serde_json::from_value(value).step("building an object from JSON")
}

/// Sends a JSON patch (RFC 6902) to the object `name` of kind `K` in the
/// test namespace, or cluster-wide when `K` is cluster-scoped.
pub async fn json_patch<K>(
    ctx: &Ctx,
    namespaced: bool,
    name: &str,
    ops: serde_json::Value,
) -> TestResult<K>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let ns = namespaced.then_some(ctx.ns.as_str());
    let path = format!("{}/{name}", K::url_path(&(), ns));
    let body = serde_json::to_vec(&ops).step("encoding a JSON patch")?;
    let resp = ctx
        .raw(
            http::Method::PATCH,
            &path,
            &[
                ("Content-Type", "application/json-patch+json"),
                ("Accept", "application/json"),
            ],
            Some(body),
        )
        .await?;
    if !resp.status.is_success() {
        return Err(TestError::Assertion(format!(
            "JSON patch of {path}: HTTP {} {}",
            resp.status,
            truncate(&resp.text(), 300)
        )));
    }
    resp.json(&format!("JSON patch of {path}"))
}

/// A label map from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Next event of a watch stream within `limit`.
pub async fn next_event<K, S>(
    stream: &mut S,
    limit: Duration,
    what: &str,
) -> TestResult<kube::api::WatchEvent<K>>
where
    S: futures::Stream<Item = Result<kube::api::WatchEvent<K>, kube::Error>> + Unpin,
{
    use futures::StreamExt;
    loop {
        match tokio::time::timeout(limit, stream.next()).await {
            Err(_) => {
                return Err(TestError::Assertion(format!(
                    "no watch event within {limit:?} while waiting for {what}"
                )));
            }
            Ok(None) => {
                return Err(TestError::Assertion(format!(
                    "watch closed while waiting for {what}"
                )));
            }
            Ok(Some(Err(err))) => {
                return Err(TestError::Api {
                    step: format!("watch while waiting for {what}"),
                    source: err,
                });
            }
            Ok(Some(Ok(kube::api::WatchEvent::Bookmark(_)))) => continue,
            Ok(Some(Ok(event))) => return Ok(event),
        }
    }
}

/// Short description of a watch event: `ADDED name rv`.
pub fn describe_event<K: Resource>(event: &kube::api::WatchEvent<K>) -> (String, String, String) {
    use kube::api::WatchEvent;
    let (kind, obj) = match event {
        WatchEvent::Added(o) => ("ADDED", Some(o)),
        WatchEvent::Modified(o) => ("MODIFIED", Some(o)),
        WatchEvent::Deleted(o) => ("DELETED", Some(o)),
        WatchEvent::Bookmark(_) => ("BOOKMARK", None),
        WatchEvent::Error(_) => ("ERROR", None),
    };
    let name = obj.and_then(|o| o.meta().name.clone()).unwrap_or_default();
    let rv = obj
        .and_then(|o| o.meta().resource_version.clone())
        .unwrap_or_default();
    (kind.to_string(), name, rv)
}
