//! Errors of the runner itself (a failing test is a result, not an error).

use std::path::PathBuf;

/// Why a conformance run could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    /// The kubeconfig could not be read or understood.
    #[error("cannot load kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A client could not be built from the kubeconfig.
    #[error("cannot build a client: {0}")]
    Client(#[source] kube::Error),
    /// The cluster did not answer a request the runner itself needs.
    #[error("cluster unreachable ({what}): {source}")]
    Cluster {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    /// `--focus` or `--skip` is not a valid regular expression.
    #[error("invalid {flag} regex: {source}")]
    Regex {
        flag: &'static str,
        #[source]
        source: regex::Error,
    },
    /// A file the run needs could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The known-gaps file is malformed or names a test this suite lacks.
    #[error("{path}:{line}: {message}")]
    KnownGaps {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
