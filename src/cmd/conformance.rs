//! `oxkube conformance`: runs the behaviour suites of the `conformance`
//! crate against any cluster reachable through a kubeconfig.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct ConformanceArgs {
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: PathBuf,
    /// Run only tests whose name matches this regular expression.
    #[arg(long)]
    pub focus: Option<String>,
    /// Skip tests whose name matches this regular expression.
    #[arg(long)]
    pub skip: Option<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Known-gaps file: one `<codename><TAB><reason>` per line (`#` comments).
    /// Listed tests that fail are reported as known gaps, not failures.
    #[arg(long, value_name = "FILE")]
    pub known_gaps: Option<PathBuf>,
    /// Tests run at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
}

pub async fn run(args: ConformanceArgs) -> anyhow::Result<()> {
    let options = conformance::RunOptions {
        kubeconfig: args.kubeconfig,
        focus: args.focus,
        skip: args.skip,
        junit: args.junit,
        parallel: args.parallel.max(1),
        known_gaps: args.known_gaps,
    };
    let summary = conformance::run(options).await?;
    if summary.failed > 0 {
        anyhow::bail!("{} conformance test(s) failed", summary.failed);
    }
    Ok(())
}
