//! Conformance suites for any Kubernetes API server, behind `oxkube conformance`.
//!
//! This crate owns: the list of upstream conformance tests (Kubernetes 1.33,
//! codename and SIG area only, see [`upstream`]), the tests written here that
//! cover some of them ([`suites`]), the runner (one namespace per test,
//! timeouts, parallelism, `--focus`/`--skip`, node detection) and the reports
//! (a summary table per SIG area, JUnit XML, Markdown).
//!
//! It does not own any cluster component: tests talk to the API server only
//! through the `kube` client, so a run means the same against oxkube and
//! against any other cluster. A failing test is a finding about the cluster,
//! reported in [`Summary`], never an `Err` of [`run`].

pub mod error;
pub mod framework;
pub mod report;
pub mod runner;
pub mod suites;
pub mod upstream;
mod upstream_data;

use std::path::PathBuf;

pub use error::ConformanceError;
pub use report::{AreaSummary, Outcome, Summary, TestReport, write_markdown};

/// Environment variable naming a Markdown file `run` writes the report to
/// (the format of `docs/conformance.md`).
pub const REPORT_MD_ENV: &str = "OXKUBE_CONFORMANCE_REPORT_MD";

/// What to run and where.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Kubeconfig of the cluster under test (its current context is used).
    pub kubeconfig: PathBuf,
    /// Run only tests whose codename matches this regex.
    pub focus: Option<String>,
    /// Leave out tests whose codename matches this regex.
    pub skip: Option<String>,
    /// Write a JUnit XML report here.
    pub junit: Option<PathBuf>,
    /// Tests run at once (at least 1).
    pub parallel: usize,
}

/// Runs the selected tests against the cluster, prints the summary (ending
/// with the line `N passed, N failed, N skipped`) and writes the reports.
pub async fn run(options: RunOptions) -> Result<Summary, ConformanceError> {
    let markdown = std::env::var_os(REPORT_MD_ENV).map(PathBuf::from);
    let summary = runner::run_suite(&options).await?;
    print!("{}", report::render_table(&summary));
    if let Some(path) = &options.junit {
        report::write_junit(&summary, path)?;
    }
    if let Some(path) = &markdown {
        write_markdown(&summary, path)?;
    }
    println!("{}", summary.final_line());
    Ok(summary)
}
