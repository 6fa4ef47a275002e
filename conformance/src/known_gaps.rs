//! Known gaps: tests expected to fail against a given server, each with a
//! reason, read from a file passed with `--known-gaps`.
//!
//! The format is one test per line, `<codename>\t<reason>`; blank lines and
//! lines starting with `#` are ignored. A listed test that fails is reported
//! as a known gap (it does not fail the run); one that passes is reported as
//! fixed, so the entry can be removed. Every codename must name a test of
//! this suite, or loading the file fails before anything runs.

use std::path::{Path, PathBuf};

use crate::ConformanceError;

/// One entry of the known-gaps file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownGap {
    pub codename: String,
    pub reason: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// The parsed known-gaps file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownGaps {
    /// Where the list came from (for messages), if from a file.
    pub source: Option<PathBuf>,
    /// The entries in file order.
    pub entries: Vec<KnownGap>,
}

impl KnownGaps {
    /// Reads and checks `path` against the names of the tests this suite has.
    pub fn load(path: &Path, known_tests: &[&str]) -> Result<Self, ConformanceError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConformanceError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut gaps = Self::parse(&text, known_tests).map_err(|(line, message)| {
            ConformanceError::KnownGaps {
                path: path.to_path_buf(),
                line,
                message,
            }
        })?;
        gaps.source = Some(path.to_path_buf());
        Ok(gaps)
    }

    /// Parses the file's text; on error returns the 1-based line and why.
    pub fn parse(text: &str, known_tests: &[&str]) -> Result<Self, (usize, String)> {
        let mut entries: Vec<KnownGap> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim_end_matches('\r');
            if trimmed.trim().is_empty() || trimmed.trim_start().starts_with('#') {
                continue;
            }
            let Some((codename, reason)) = trimmed.split_once('\t') else {
                return Err((
                    line,
                    "expected `<codename><TAB><reason>`, found no tab".to_string(),
                ));
            };
            let codename = codename.trim();
            let reason = reason.trim();
            if reason.is_empty() {
                return Err((line, format!("no reason given for `{codename}`")));
            }
            if !known_tests.contains(&codename) {
                return Err((line, format!("unknown test codename `{codename}`")));
            }
            if let Some(first) = entries.iter().find(|e| e.codename == codename) {
                return Err((
                    line,
                    format!("`{codename}` is already listed on line {}", first.line),
                ));
            }
            entries.push(KnownGap {
                codename: codename.to_string(),
                reason: reason.to_string(),
                line,
            });
        }
        Ok(Self {
            source: None,
            entries,
        })
    }

    /// The reason `codename` is listed, if it is.
    pub fn reason(&self, codename: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.codename == codename)
            .map(|e| e.reason.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTS: &[&str] = &["[sig-a] one [Conformance]", "[sig-b] two"];

    #[test]
    fn parses_entries_comments_and_blank_lines() {
        let text = "# header\n\n[sig-a] one [Conformance]\tno controller yet\r\n  # indented comment\n[sig-b] two\t  spaced reason  \n";
        let gaps = KnownGaps::parse(text, TESTS).expect("valid file");
        assert_eq!(gaps.entries.len(), 2);
        assert_eq!(
            gaps.reason("[sig-a] one [Conformance]"),
            Some("no controller yet")
        );
        assert_eq!(gaps.reason("[sig-b] two"), Some("spaced reason"));
        assert_eq!(gaps.entries[1].line, 5);
        assert_eq!(gaps.reason("[sig-c] three"), None);
    }

    #[test]
    fn rejects_unknown_codenames() {
        let err = KnownGaps::parse("# c\n[sig-x] nope\treason\n", TESTS);
        assert_eq!(
            err,
            Err((2, "unknown test codename `[sig-x] nope`".to_string()))
        );
    }

    #[test]
    fn rejects_missing_tab_missing_reason_and_duplicates() {
        assert!(matches!(
            KnownGaps::parse("[sig-b] two reason\n", TESTS),
            Err((1, m)) if m.contains("no tab")
        ));
        assert!(matches!(
            KnownGaps::parse("[sig-b] two\t \n", TESTS),
            Err((1, m)) if m.contains("no reason")
        ));
        assert!(matches!(
            KnownGaps::parse("[sig-b] two\ta\n[sig-b] two\tb\n", TESTS),
            Err((2, m)) if m.contains("line 1")
        ));
    }

    #[test]
    fn checked_in_list_names_only_known_tests() {
        let names: Vec<&str> = crate::suites::all().iter().map(|t| t.name).collect();
        let gaps = KnownGaps::parse(include_str!("../known-gaps.tsv"), &names);
        assert!(gaps.is_ok(), "conformance/known-gaps.tsv: {gaps:?}");
    }

    #[test]
    fn load_reports_path_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gaps.tsv");
        std::fs::write(&path, "[sig-x] nope\treason\n").expect("write");
        let err = KnownGaps::load(&path, TESTS).expect_err("unknown codename");
        let text = err.to_string();
        assert!(text.contains("gaps.tsv:1"), "{text}");
        assert!(text.contains("unknown test codename"), "{text}");
        let missing = KnownGaps::load(&dir.path().join("absent.tsv"), TESTS);
        assert!(matches!(missing, Err(ConformanceError::Read { .. })));
    }
}
