//! Results and their renderings: the terminal table, JUnit XML, Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::known_gaps::KnownGap;
use crate::{ConformanceError, upstream};

/// What the report tells about a listed test that passed.
pub const FIXED_NOTE: &str = "fixed: remove it from the known gaps";

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
    /// Failed, but listed as a known gap: `reason` from the list, `failure`
    /// what the test saw. Counted among skipped; does not fail the run.
    KnownGap {
        reason: String,
        failure: String,
    },
    /// Passed although listed as a known gap (the reason listed): counted
    /// as passed, and reported so that the entry gets removed.
    Fixed(String),
}

impl Outcome {
    /// The outcome once the known-gap list is taken into account: a failure
    /// of a listed test becomes [`Outcome::KnownGap`], a pass
    /// [`Outcome::Fixed`]; skips stay skips.
    pub fn with_known_gap(self, reason: Option<&str>) -> Self {
        match (self, reason) {
            (Outcome::Failed(failure), Some(reason)) => Outcome::KnownGap {
                reason: reason.to_string(),
                failure,
            },
            (Outcome::Passed, Some(reason)) => Outcome::Fixed(reason.to_string()),
            (outcome, _) => outcome,
        }
    }
}

/// One executed (or skipped) test.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub name: &'static str,
    pub area: &'static str,
    /// Covers an upstream conformance codename (otherwise an extra check).
    pub upstream: bool,
    pub outcome: Outcome,
    pub duration: Duration,
}

impl TestReport {
    /// The progress line printed when the test ends.
    pub fn line(&self) -> String {
        let secs = self.duration.as_secs_f64();
        match &self.outcome {
            Outcome::Passed => format!("PASS [{secs:.1}s] {}", self.name),
            Outcome::Failed(why) => format!("FAIL [{secs:.1}s] {}\n     {why}", self.name),
            Outcome::Skipped(why) => format!("SKIP {} ({why})", self.name),
            Outcome::KnownGap { reason, failure } => format!(
                "GAP  [{secs:.1}s] {}\n     known gap: {reason}\n     failure: {failure}",
                self.name
            ),
            Outcome::Fixed(_) => format!("PASS [{secs:.1}s] {} ({FIXED_NOTE})", self.name),
        }
    }
}

/// Counts for one SIG area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AreaSummary {
    pub area: String,
    /// Upstream conformance tests in this area (whole list).
    pub upstream_total: usize,
    pub passed: usize,
    pub failed: usize,
    /// Failing tests listed as known gaps.
    pub known_gaps: usize,
    /// Skipped for another reason (e.g. no nodes).
    pub skipped: usize,
    /// Selected upstream tests with no test here.
    pub not_covered: usize,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Passed, including listed known gaps that passed ([`Summary::fixed`]).
    pub passed: usize,
    /// Failed and not listed as known gaps: these fail the run.
    pub failed: usize,
    /// Skipped, including failing known gaps ([`Summary::known_gaps`]).
    pub skipped: usize,
    /// Failing tests listed as known gaps (counted in `skipped`).
    pub known_gaps: usize,
    /// Passing tests listed as known gaps (counted in `passed`).
    pub fixed: usize,
    /// The known-gaps list the run used (file order) and its file.
    pub known_gap_list: Vec<KnownGap>,
    pub known_gaps_file: Option<String>,
    /// Selected upstream codenames with no test here.
    pub not_covered: Vec<&'static str>,
    pub tests: Vec<TestReport>,
    pub areas: Vec<AreaSummary>,
    /// `gitVersion` the server reported.
    pub server_version: String,
    /// The nodes the run saw (`nodes::describe`), for the report.
    pub nodes: String,
}

impl Summary {
    pub fn new(
        mut tests: Vec<TestReport>,
        not_covered: Vec<&'static str>,
        server_version: String,
    ) -> Self {
        tests.sort_by(|a, b| a.name.cmp(b.name));
        let mut areas: BTreeMap<String, AreaSummary> = BTreeMap::new();
        for u in upstream::UPSTREAM {
            areas.entry(u.area.to_string()).or_default().upstream_total += 1;
        }
        for name in &not_covered {
            let area = upstream::area_of(name).unwrap_or("other");
            areas.entry(area.to_string()).or_default().not_covered += 1;
        }
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        let (mut known_gaps, mut fixed) = (0, 0);
        for t in &tests {
            let a = areas.entry(t.area.to_string()).or_default();
            match t.outcome {
                Outcome::Passed => {
                    a.passed += 1;
                    passed += 1;
                }
                Outcome::Fixed(_) => {
                    a.passed += 1;
                    passed += 1;
                    fixed += 1;
                }
                Outcome::KnownGap { .. } => {
                    a.known_gaps += 1;
                    skipped += 1;
                    known_gaps += 1;
                }
                Outcome::Failed(_) => {
                    a.failed += 1;
                    failed += 1;
                }
                Outcome::Skipped(_) => {
                    a.skipped += 1;
                    skipped += 1;
                }
            }
        }
        let areas = areas
            .into_iter()
            .map(|(area, mut s)| {
                s.area = area;
                s
            })
            .collect();
        Self {
            passed,
            failed,
            skipped,
            known_gaps,
            fixed,
            known_gap_list: Vec::new(),
            known_gaps_file: None,
            not_covered,
            tests,
            areas,
            server_version,
            nodes: String::new(),
        }
    }

    /// Records the known-gaps list the run used (for the Markdown report).
    pub fn with_known_gap_list(mut self, gaps: &crate::known_gaps::KnownGaps) -> Self {
        self.known_gap_list = gaps.entries.clone();
        self.known_gaps_file = gaps.source.as_ref().map(|p| p.display().to_string());
        self
    }

    /// The last line of the output, which CI's log reader looks for. Known
    /// gaps are counted among the skipped, fixed known gaps among the passed.
    pub fn final_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    fn totals(&self) -> AreaSummary {
        let mut t = AreaSummary {
            area: "total".to_string(),
            ..AreaSummary::default()
        };
        for a in &self.areas {
            t.upstream_total += a.upstream_total;
            t.passed += a.passed;
            t.failed += a.failed;
            t.known_gaps += a.known_gaps;
            t.skipped += a.skipped;
            t.not_covered += a.not_covered;
        }
        t
    }
}

/// The human summary: failures and skips with their reasons, then the table.
pub fn render_table(summary: &Summary) -> String {
    let mut out = String::new();
    let failed: Vec<_> = summary
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Failed(_)))
        .collect();
    if !failed.is_empty() {
        out.push_str("\nFailed:\n");
        for t in failed {
            if let Outcome::Failed(why) = &t.outcome {
                let _ = writeln!(out, "  {}\n      {why}", t.name);
            }
        }
    }
    let gaps: Vec<_> = summary
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::KnownGap { .. }))
        .collect();
    if !gaps.is_empty() {
        out.push_str("\nKnown gaps (failing as listed, not counted as failures):\n");
        for t in gaps {
            if let Outcome::KnownGap { reason, failure } = &t.outcome {
                let _ = writeln!(
                    out,
                    "  {}\n      known gap: {reason}\n      failure: {failure}",
                    t.name
                );
            }
        }
    }
    let fixed: Vec<_> = summary
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Fixed(_)))
        .collect();
    if !fixed.is_empty() {
        let file = summary.known_gaps_file.as_deref().unwrap_or("the list");
        let _ = writeln!(
            out,
            "\nFixed (listed as known gaps but passing: remove them from {file}):"
        );
        for t in fixed {
            if let Outcome::Fixed(reason) = &t.outcome {
                let _ = writeln!(out, "  {}\n      {FIXED_NOTE} (listed: {reason})", t.name);
            }
        }
    }
    let skipped: Vec<_> = summary
        .tests
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Skipped(_)))
        .collect();
    if !skipped.is_empty() {
        out.push_str("\nSkipped:\n");
        for t in skipped {
            if let Outcome::Skipped(why) = &t.outcome {
                let _ = writeln!(out, "  {} ({why})", t.name);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{:<22} {:>8} {:>7} {:>7} {:>9} {:>8} {:>12}",
        "AREA", "UPSTREAM", "PASSED", "FAILED", "KNOWN GAP", "SKIPPED", "NOT COVERED"
    );
    let rows = summary.areas.iter().cloned().chain([summary.totals()]);
    for a in rows {
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>7} {:>7} {:>9} {:>8} {:>12}",
            a.area, a.upstream_total, a.passed, a.failed, a.known_gaps, a.skipped, a.not_covered
        );
    }
    out
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one `testsuite`, one `testcase` per test (classname = SIG area).
pub fn render_junit(summary: &Summary) -> String {
    let total: f64 = summary.tests.iter().map(|t| t.duration.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{total:.3}\">",
        summary.tests.len(),
        summary.failed,
        summary.skipped
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"oxkube-conformance\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{total:.3}\">",
        summary.tests.len(),
        summary.failed,
        summary.skipped
    );
    for t in &summary.tests {
        let head = format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
            xml_escape(t.name),
            xml_escape(t.area),
            t.duration.as_secs_f64()
        );
        match &t.outcome {
            Outcome::Passed => {
                let _ = writeln!(out, "{head}/>");
            }
            Outcome::Failed(why) => {
                let _ = writeln!(
                    out,
                    "{head}>\n      <failure message=\"{0}\" type=\"Failure\">{0}</failure>\n    </testcase>",
                    xml_escape(why)
                );
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(
                    out,
                    "{head}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml_escape(why)
                );
            }
            Outcome::KnownGap { reason, failure } => {
                let _ = writeln!(
                    out,
                    "{head}>\n      <skipped message=\"known gap: {}\"/>\n      <system-out>{}</system-out>\n    </testcase>",
                    xml_escape(reason),
                    xml_escape(failure)
                );
            }
            Outcome::Fixed(_) => {
                let _ = writeln!(
                    out,
                    "{head}>\n      <system-out>{FIXED_NOTE}</system-out>\n    </testcase>"
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn write_file(path: &Path, text: &str) -> Result<(), ConformanceError> {
    std::fs::write(path, text).map_err(|source| ConformanceError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the JUnit XML report.
pub fn write_junit(summary: &Summary, path: &Path) -> Result<(), ConformanceError> {
    write_file(path, &render_junit(summary))
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown report (the body of `docs/conformance.md`).
pub fn render_markdown(summary: &Summary) -> String {
    let mut out = String::new();
    out.push_str("# Conformance\n\n");
    out.push_str(
        "`oxkube conformance` runs behaviour tests against any cluster reachable through a \
         kubeconfig. Each test covers one upstream conformance test of Kubernetes 1.33, named by \
         its codename from upstream's `test/conformance/testdata/conformance.yaml`; a few extra \
         checks (marked *extra*) cover behaviour with no upstream entry. Tests check what the API \
         returns, so a run against kube-apiserver and one against oxkube mean the same.\n\n",
    );
    out.push_str("## Regenerating this file\n\n");
    out.push_str(
        "One command, from the repository root, after `cargo build -p oxkube` (it starts a fresh \
         `oxkube server`, runs the suite against it with the known gaps below, and rewrites \
         this file):\n\n\
         ```sh\n\
         OXKUBE_CONFORMANCE_REPORT_MD=docs/conformance.md scripts/e2e.sh\n\
         ```\n\n\
         Against a server already running (`oxkube server --data-dir /tmp/conf --secure-port 16443`):\n\n\
         ```sh\n\
         OXKUBE_CONFORMANCE_REPORT_MD=docs/conformance.md oxkube conformance \
         --kubeconfig /tmp/conf/admin.kubeconfig --known-gaps conformance/known-gaps.tsv\n\
         ```\n\n\
         The tests that need a node run only where one is Ready and schedulable; without one they \
         are skipped (\"no schedulable nodes\"). Tests whose pods only need to be scheduled and \
         become Running/Ready (ReplicaSet, ReplicationController, Deployment, namespace deletion) \
         also run on simulated nodes, which report pods Running and Ready without running \
         containers: next to the server above, \
         `oxkube kubelet --kubeconfig /tmp/conf/admin.kubeconfig --runtime=simulated \
         --simulated-nodes 2 --node-name sim --port 10650`. Tests that look into containers \
         (logs, files, exec) are then skipped (\"only simulated nodes\"). They need a real node: \
         on this machine (root, containerd from `scripts/install-deps.sh`, no registry) that is an \
         `oxkube server --with-node` on a private containerd (`scripts/start-containerd.sh`), \
         with `OXKUBE_CONFORMANCE_IMAGE=docker.io/library/busybox:local` so every test pod \
         uses the local image; `scripts/e2e-node.sh` runs them that way in CI.\n\n\
         `--focus`/`--skip` (regexes on the codename), `--junit FILE` and `--parallel N` work as usual. \
         The upstream list is regenerated with \
         `python3 conformance/tools/gen_upstream.py conformance.yaml > conformance/src/upstream_data.rs`.\n\n",
    );
    let nodes = if summary.nodes.is_empty() {
        String::new()
    } else {
        format!(", {}", summary.nodes)
    };
    let _ = writeln!(
        out,
        "## Last run\n\nServer `{}`{nodes}: **{}**.\n",
        summary.server_version,
        summary.final_line()
    );
    if summary.known_gaps > 0 || summary.fixed > 0 {
        let _ = writeln!(
            out,
            "Of the skipped, {} are known gaps; of the passed, {} are listed as known gaps \
             but now pass (remove them from the list).\n",
            summary.known_gaps, summary.fixed
        );
    }
    out.push_str("| Area | Upstream | Passed | Failed | Known gap | Skipped | Not covered |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for a in summary.areas.iter().cloned().chain([summary.totals()]) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            a.area, a.upstream_total, a.passed, a.failed, a.known_gaps, a.skipped, a.not_covered
        );
    }
    render_known_gaps(&mut out, summary);
    out.push_str("\n## Tests\n\n| Test | Result |\n| --- | --- |\n");
    for t in &summary.tests {
        let result = match &t.outcome {
            Outcome::Passed => "passed".to_string(),
            Outcome::Failed(why) => format!("**failed**: {}", md_cell(why)),
            Outcome::Skipped(why) => format!("skipped: {}", md_cell(why)),
            Outcome::KnownGap { reason, failure } => format!(
                "known gap: {} (failure: {})",
                md_cell(reason),
                md_cell(failure)
            ),
            Outcome::Fixed(_) => format!("passed (**{FIXED_NOTE}**)"),
        };
        let extra = if t.upstream { "" } else { " *(extra)*" };
        let _ = writeln!(out, "| `{}`{extra} | {result} |", md_cell(t.name));
    }
    let _ = writeln!(
        out,
        "\n## Not yet covered ({})\n",
        summary.not_covered.len()
    );
    for name in &summary.not_covered {
        let _ = writeln!(out, "- `{name}`");
    }
    out
}

/// The `## Known gaps` section: every entry of the list with its reason and
/// what it did in this run.
fn render_known_gaps(out: &mut String, summary: &Summary) {
    let file = summary
        .known_gaps_file
        .as_deref()
        .unwrap_or("conformance/known-gaps.tsv");
    let _ = writeln!(out, "\n## Known gaps ({})\n", summary.known_gap_list.len());
    let _ = writeln!(
        out,
        "Tests listed in `{file}` (`<codename><TAB><reason>` per line, `#` comments, passed \
         with `--known-gaps`). When one fails it is reported as a known gap, counted among the \
         skipped, and does not fail the run; when one passes it counts as passed and is \
         reported as fixed, to be removed from the list. A codename the suite does not know \
         is an error before anything runs.\n"
    );
    if summary.known_gap_list.is_empty() {
        out.push_str("None.\n");
        return;
    }
    out.push_str("| Test | Reason | This run |\n| --- | --- | --- |\n");
    for gap in &summary.known_gap_list {
        let seen = summary
            .tests
            .iter()
            .find(|t| t.name == gap.codename)
            .map(|t| match &t.outcome {
                Outcome::KnownGap { .. } => "failed (known gap)".to_string(),
                Outcome::Fixed(_) => format!("**passed: {FIXED_NOTE}**"),
                Outcome::Skipped(why) => format!("skipped: {}", md_cell(why)),
                Outcome::Passed | Outcome::Failed(_) => "not matched".to_string(),
            })
            .unwrap_or_else(|| "not run".to_string());
        let _ = writeln!(
            out,
            "| `{}` | {} | {seen} |",
            md_cell(&gap.codename),
            md_cell(&gap.reason)
        );
    }
}

/// Writes the Markdown report to `path`.
pub fn write_markdown(summary: &Summary, path: &Path) -> Result<(), ConformanceError> {
    write_file(path, &render_markdown(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &'static str, outcome: Outcome) -> TestReport {
        TestReport {
            name,
            area: upstream::area_of(name).unwrap_or("other"),
            upstream: true,
            outcome,
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn counts_and_final_line() {
        let s = Summary::new(
            vec![
                report("[sig-node] a", Outcome::Passed),
                report("[sig-node] b", Outcome::Failed("x <y>".into())),
                report(
                    "[sig-apps] c",
                    Outcome::Skipped("no schedulable nodes".into()),
                ),
            ],
            vec!["[sig-apps] d"],
            "v1.33.0".into(),
        );
        assert_eq!(s.final_line(), "1 passed, 1 failed, 1 skipped");
        let node = s.areas.iter().find(|a| a.area == "sig-node");
        assert_eq!(node.map(|a| (a.passed, a.failed)), Some((1, 1)));
        let apps = s.areas.iter().find(|a| a.area == "sig-apps");
        assert_eq!(apps.map(|a| (a.skipped, a.not_covered)), Some((1, 1)));
        let xml = render_junit(&s);
        assert!(xml.contains("x &lt;y&gt;"));
        assert!(xml.contains("<skipped message=\"no schedulable nodes\"/>"));
        let md = render_markdown(&s);
        assert!(md.contains("- `[sig-apps] d`"));
        assert!(render_table(&s).contains("total"));
    }

    #[test]
    fn known_gaps_count_as_skipped_and_fixed_as_passed() {
        let gaps = crate::known_gaps::KnownGaps::parse(
            "[sig-node] a\tno kube-root-ca.crt publisher\n[sig-node] b\tno Event conversion\n",
            &["[sig-node] a", "[sig-node] b", "[sig-node] c"],
        )
        .expect("valid list");
        let outcome = |name: &str, o: Outcome| o.with_known_gap(gaps.reason(name));
        let s = Summary::new(
            vec![
                report(
                    "[sig-node] a",
                    outcome("[sig-node] a", Outcome::Failed("absent".into())),
                ),
                report("[sig-node] b", outcome("[sig-node] b", Outcome::Passed)),
                report(
                    "[sig-node] c",
                    outcome("[sig-node] c", Outcome::Failed("boom".into())),
                ),
            ],
            vec![],
            "v1.33.0".into(),
        )
        .with_known_gap_list(&gaps);
        assert_eq!(s.final_line(), "1 passed, 1 failed, 1 skipped");
        assert_eq!((s.known_gaps, s.fixed), (1, 1));
        let node = s.areas.iter().find(|a| a.area == "sig-node");
        assert_eq!(
            node.map(|a| (a.passed, a.failed, a.known_gaps, a.skipped)),
            Some((1, 1, 1, 0))
        );
        let xml = render_junit(&s);
        assert!(xml.contains("<skipped message=\"known gap: no kube-root-ca.crt publisher\"/>"));
        assert!(xml.contains("failures=\"1\""));
        let table = render_table(&s);
        assert!(table.contains("Known gaps"), "{table}");
        assert!(table.contains(FIXED_NOTE), "{table}");
        let md = render_markdown(&s);
        assert!(md.contains("## Known gaps (2)"), "{md}");
        assert!(
            md.contains("| `[sig-node] b` | no Event conversion |"),
            "{md}"
        );
        assert!(
            md.contains("--known-gaps conformance/known-gaps.tsv"),
            "{md}"
        );
        // A skip stays a skip even when listed.
        assert_eq!(
            Outcome::Skipped("no nodes".into()).with_known_gap(Some("r")),
            Outcome::Skipped("no nodes".into())
        );
    }
}
