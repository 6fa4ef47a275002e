//! Selection, node detection, and parallel execution of the tests.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use regex::Regex;
use tracing::{Instrument, info, warn};

use crate::framework::{Ctx, TestCase, TestError};
use crate::known_gaps::KnownGaps;
use crate::nodes::NodeGaps;
use crate::report::{Outcome, Summary, TestReport};
use crate::{ConformanceError, RunOptions, suites, upstream};

/// Label put on every namespace the runner creates.
pub const NAMESPACE_LABEL: &str = "conformance.oxkube.io/run";

/// Which codenames a run selects.
#[derive(Debug, Default)]
pub struct Filter {
    focus: Option<Regex>,
    skip: Option<Regex>,
}

impl Filter {
    pub fn new(focus: Option<&str>, skip: Option<&str>) -> Result<Self, ConformanceError> {
        let compile = |flag: &'static str, re: Option<&str>| {
            re.map(Regex::new)
                .transpose()
                .map_err(|source| ConformanceError::Regex { flag, source })
        };
        Ok(Self {
            focus: compile("--focus", focus)?,
            skip: compile("--skip", skip)?,
        })
    }

    pub fn selects(&self, name: &str) -> bool {
        self.focus.as_ref().is_none_or(|re| re.is_match(name))
            && !self.skip.as_ref().is_some_and(|re| re.is_match(name))
    }
}

async fn client_for(path: &std::path::Path) -> Result<Client, ConformanceError> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|source| ConformanceError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|source| ConformanceError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
    // Tests must see 429/503 answers (an eviction refused by a disruption
    // budget is a 429), as client-go's callers do: no silent retries.
    config.default_retry = false;
    Client::try_from(config).map_err(ConformanceError::Client)
}

pub(crate) async fn run_suite(
    options: &RunOptions,
    gaps: &KnownGaps,
) -> Result<Summary, ConformanceError> {
    let filter = Filter::new(options.focus.as_deref(), options.skip.as_deref())?;
    let client = client_for(&options.kubeconfig).await?;
    let version = client
        .apiserver_version()
        .await
        .map_err(|source| ConformanceError::Cluster {
            what: "GET /version",
            source,
        })?;
    info!(major = %version.major, minor = %version.minor, git = %version.git_version, "cluster reached");

    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|source| ConformanceError::Cluster {
            what: "listing nodes",
            source,
        })?;
    let node_gaps = NodeGaps::of(&nodes.items);

    let selected: Vec<TestCase> = suites::all()
        .into_iter()
        .filter(|t| filter.selects(t.name))
        .collect();
    let not_covered: Vec<&'static str> = upstream::UPSTREAM
        .iter()
        .filter(|u| filter.selects(u.codename))
        .filter(|u| !suites::all().iter().any(|t| t.name == u.codename))
        .map(|u| u.codename)
        .collect();
    info!(
        tests = selected.len(),
        parallel = options.parallel,
        "starting"
    );

    let parallel = options.parallel.max(1);
    let kubeconfig = std::sync::Arc::new(options.kubeconfig.clone());
    // `[Serial]` tests change cluster-wide state (node resources, priority
    // classes): as upstream, they run one at a time after the others.
    let (serial, concurrent): (Vec<TestCase>, Vec<TestCase>) = selected
        .into_iter()
        .partition(|t| t.name.contains("[Serial]"));
    let mut results: Vec<TestReport> = Vec::new();
    for (batch, width) in [(concurrent, parallel), (serial, 1)] {
        let reports: Vec<TestReport> = futures::stream::iter(batch)
            .map(|test| {
                let client = client.clone();
                let node_gap = node_gaps.reason(test.nodes).map(str::to_string);
                let listed = gaps.reason(test.name).map(str::to_string);
                let kubeconfig = kubeconfig.clone();
                async move { run_one(client, kubeconfig, test, node_gap, listed).await }
            })
            .buffer_unordered(width)
            .collect()
            .await;
        results.extend(reports);
    }

    let mut summary = Summary::new(results, not_covered, version.git_version);
    summary.nodes = crate::nodes::describe(&nodes.items);
    Ok(summary)
}

async fn run_one(
    client: Client,
    kubeconfig: std::sync::Arc<std::path::PathBuf>,
    test: TestCase,
    node_gap: Option<String>,
    known_gap: Option<String>,
) -> TestReport {
    let started = Instant::now();
    let outcome = match node_gap {
        Some(reason) => Outcome::Skipped(reason),
        None => execute(client, kubeconfig, &test).await,
    }
    .with_known_gap(known_gap.as_deref());
    let report = TestReport {
        name: test.name,
        area: test.area(),
        upstream: test.upstream,
        outcome,
        duration: started.elapsed(),
    };
    println!("{}", report.line());
    report
}

async fn execute(
    client: Client,
    kubeconfig: std::sync::Arc<std::path::PathBuf>,
    test: &TestCase,
) -> Outcome {
    let ns = match create_namespace(&client).await {
        Ok(ns) => ns,
        Err(err) => return Outcome::Failed(format!("creating the test namespace: {err}")),
    };
    let span = tracing::info_span!("test", name = test.name, namespace = %ns);
    let ctx = Ctx::new(client.clone(), ns.clone(), kubeconfig);
    let body = (test.run)(ctx.clone()).instrument(span);
    let outcome = match tokio::time::timeout(test.timeout, body).await {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(TestError::Skip(reason))) => Outcome::Skipped(reason),
        Ok(Err(err)) => Outcome::Failed(err.to_string()),
        Err(_) => Outcome::Failed(format!("timed out after {}s", test.timeout.as_secs())),
    };
    ctx.run_cleanups().await;
    delete_namespace(&client, &ns).await;
    outcome
}

async fn create_namespace(client: &Client) -> Result<String, kube::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            generate_name: Some("conformance-".to_string()),
            labels: Some([(NAMESPACE_LABEL.to_string(), "true".to_string())].into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let created = api.create(&PostParams::default(), &ns).await?;
    let name = created.metadata.name.unwrap_or_default();
    wait_for_default_service_account(client, &name).await;
    Ok(name)
}

/// Waits (up to upstream's ServiceAccountProvisionTimeout, 2 min) for the
/// controller manager to make the namespace's `default` ServiceAccount, as
/// upstream's framework does before every test: pods cannot be created
/// without it. A cluster that never makes it fails the pod tests instead.
async fn wait_for_default_service_account(client: &Client, ns: &str) {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(_)) = api.get_opt("default").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    warn!(%ns, "no default service account after 2 minutes");
}

async fn delete_namespace(client: &Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    // The namespace is left to terminate in the background; a test that
    // needs the deletion to complete waits for it itself.
    let attempt = tokio::time::timeout(
        Duration::from_secs(20),
        api.delete(ns, &DeleteParams::default()),
    )
    .await;
    match attempt {
        Ok(Ok(_)) => {}
        Ok(Err(kube::Error::Api(s))) if s.is_not_found() => {}
        Ok(Err(err)) => warn!(%ns, %err, "deleting the test namespace failed"),
        Err(_) => warn!(%ns, "deleting the test namespace timed out"),
    }
}
