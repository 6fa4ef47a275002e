//! Conformance suites for any Kubernetes API server, behind `oxkube conformance`.
//!
//! This crate owns: the list of upstream conformance tests (Kubernetes 1.33,
//! codename and SIG area only, see [`upstream`]), the tests written here that
//! cover some of them ([`suites`]), the runner (one namespace per test,
//! timeouts, parallelism, `--focus`/`--skip`, node detection) and the reports
//! (a summary table per SIG area, JUnit XML, Markdown), and the known-gaps
//! list that lets a run pass while named tests still fail ([`known_gaps`]).
//!
//! It does not own any cluster component: tests talk to the API server only
//! through the `kube` client, so a run means the same against oxkube and
//! against any other cluster. A failing test is a finding about the cluster,
//! reported in [`Summary`], never an `Err` of [`run`].

pub mod error;
pub mod framework;
pub mod images;
pub mod known_gaps;
pub mod kubectl;
pub mod nodes;
pub mod pod_runs;
pub mod report;
pub mod runner;
pub mod suites;
pub mod upstream;
mod upstream_data;

use std::path::PathBuf;

pub use error::ConformanceError;
pub use known_gaps::{KnownGap, KnownGaps};
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
    /// Known-gaps file (`<codename>\t<reason>` per line): listed tests that
    /// fail are reported as known gaps and do not count as failures.
    pub known_gaps: Option<PathBuf>,
}

/// Runs the selected tests against the cluster, prints the summary (ending
/// with the line `N passed, N failed, N skipped`) and writes the reports.
/// Known gaps count among the skipped there and not in `failed`, so
/// `summary.failed > 0` is exactly "the run fails".
pub async fn run(options: RunOptions) -> Result<Summary, ConformanceError> {
    let markdown = std::env::var_os(REPORT_MD_ENV).map(PathBuf::from);
    let gaps = match &options.known_gaps {
        Some(path) => {
            let names: Vec<&str> = suites::all().iter().map(|t| t.name).collect();
            KnownGaps::load(path, &names)?
        }
        None => KnownGaps::default(),
    };
    let summary = runner::run_suite(&options, &gaps)
        .await?
        .with_known_gap_list(&gaps);
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
