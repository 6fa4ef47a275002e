//! Termination messages (`terminationMessagePath`,
//! `terminationMessagePolicy`), as upstream's kubelet handles them: every
//! container attempt gets an empty, world-writable file in the pod
//! directory, bind-mounted at its `terminationMessagePath` (default
//! `/dev/termination-log`); when the container exits, the file's content
//! (at most 4096 bytes) becomes `state.terminated.message`. With the
//! `FallbackToLogsOnError` policy, an empty file and a failed container
//! (exit code not 0) take the tail of its log instead (the last 80 lines,
//! at most 2048 bytes).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use super::spec::BindMount;

/// Upstream's default `terminationMessagePath`.
pub const DEFAULT_PATH: &str = "/dev/termination-log";
/// The most of the file that is reported.
pub const MAX_BYTES: usize = 4096;
/// The log tail reported by `FallbackToLogsOnError`.
pub const FALLBACK_LINES: usize = 80;
pub const FALLBACK_BYTES: usize = 2048;

/// Where one container attempt's termination message comes from.
#[derive(Debug, Clone)]
pub struct MessageSource {
    /// The host file bind-mounted at the container's message path.
    pub file: PathBuf,
    /// The attempt's CRI log file.
    pub log: PathBuf,
    pub fallback_to_logs: bool,
}

impl MessageSource {
    /// Creates the (empty, mode 0666 so any user may write it) message
    /// file of attempt `attempt` under `pod_dir`; returns the source and the
    /// bind mount, or None when the container sets an empty path.
    pub fn prepare(
        pod_dir: &Path,
        container: &Container,
        attempt: i32,
        log: &Path,
    ) -> std::io::Result<Option<(MessageSource, BindMount)>> {
        let path = container
            .termination_message_path
            .as_deref()
            .unwrap_or(DEFAULT_PATH);
        if path.is_empty() {
            return Ok(None);
        }
        let dir = pod_dir.join("containers").join(&container.name);
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{attempt}-termination-log"));
        std::fs::write(&file, b"")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666))?;
        let mount = BindMount {
            host_path: file.display().to_string(),
            container_path: path.to_string(),
            read_only: false,
        };
        let source = MessageSource {
            file,
            log: log.to_path_buf(),
            fallback_to_logs: container.termination_message_policy.as_deref()
                == Some("FallbackToLogsOnError"),
        };
        Ok(Some((source, mount)))
    }

    /// The message of an attempt that exited with `exit_code`.
    pub fn read(&self, exit_code: i32) -> Option<String> {
        let from_file = std::fs::read(&self.file)
            .map(|bytes| truncate_utf8(&bytes, MAX_BYTES))
            .unwrap_or_default();
        if !from_file.is_empty() {
            return Some(from_file);
        }
        if self.fallback_to_logs && exit_code != 0 {
            let log = std::fs::read(&self.log).unwrap_or_default();
            let tail = log_tail(&log, FALLBACK_LINES, FALLBACK_BYTES);
            return (!tail.is_empty()).then_some(tail);
        }
        None
    }
}

/// The first `max` bytes of `bytes` as text, cut at a character boundary.
fn truncate_utf8(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    text.trim_end_matches('\u{fffd}').to_string()
}

/// The text of the last `lines` entries of a CRI log file, at most
/// `max_bytes` (the end is kept), partial entries joined to their line
/// and no newline after a last partial entry (output that ended without one).
pub fn log_tail(cri_log: &[u8], lines: usize, max_bytes: usize) -> String {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut open = false;
    for entry in cri_log.split(|&b| b == b'\n').filter(|e| !e.is_empty()) {
        // <time> <stream> <P|F> <text>
        let mut parts = entry.splitn(4, |&b| b == b' ');
        let (Some(_), Some(_), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let text = parts.next().unwrap_or_default();
        if open && let Some(last) = out.last_mut() {
            last.extend_from_slice(text);
        } else {
            out.push(text.to_vec());
        }
        open = tag == b"P";
    }
    let start = out.len().saturating_sub(lines);
    let mut text: Vec<u8> = Vec::new();
    let count = out.len() - start;
    for (i, line) in out[start..].iter().enumerate() {
        text.extend_from_slice(line);
        // A last partial entry is output that ended without a newline.
        if !(open && i + 1 == count) {
            text.push(b'\n');
        }
    }
    let cut = text.len().saturating_sub(max_bytes);
    String::from_utf8_lossy(&text[cut..])
        .trim_start_matches('\u{fffd}')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).expect("container")
    }

    #[test]
    fn tail_of_a_cri_log_joins_partials_and_keeps_the_end() {
        let log = b"t stdout F one\nt stderr P tw\nt stderr F o\nt stdout F three\n";
        assert_eq!(log_tail(log, 80, 2048), "one\ntwo\nthree\n");
        assert_eq!(log_tail(log, 2, 2048), "two\nthree\n");
        assert_eq!(log_tail(log, 80, 6), "three\n");
        assert_eq!(log_tail(b"", 80, 2048), "");
        assert_eq!(log_tail(b"t stdout P DONE\n", 80, 2048), "DONE");
        assert_eq!(log_tail(b"t stdout F a\nt stdout P b\n", 80, 2048), "a\nb");
    }

    #[test]
    fn file_wins_and_logs_are_the_fallback_on_error_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("0.log");
        std::fs::write(&log, b"t stdout F from the log\n").expect("log");
        let c =
            container(json!({"name": "c", "terminationMessagePolicy": "FallbackToLogsOnError"}));
        let (source, mount) = MessageSource::prepare(dir.path(), &c, 0, &log)
            .expect("prepare")
            .expect("a path");
        assert_eq!(mount.container_path, DEFAULT_PATH);
        let mode = std::fs::metadata(&source.file)
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o666);
        assert_eq!(source.read(0), None);
        assert_eq!(source.read(1).as_deref(), Some("from the log\n"));
        std::fs::write(&source.file, "DONE").expect("write");
        assert_eq!(source.read(1).as_deref(), Some("DONE"));
        std::fs::write(&source.file, "x".repeat(5000)).expect("write");
        assert_eq!(source.read(0).map(|m| m.len()), Some(MAX_BYTES));

        let c = container(json!({"name": "d", "terminationMessagePath": "/tmp/msg"}));
        let (source, mount) = MessageSource::prepare(dir.path(), &c, 3, &log)
            .expect("prepare")
            .expect("a path");
        assert_eq!(mount.container_path, "/tmp/msg");
        assert_eq!(source.read(1), None, "policy File never reads the log");
        let c = container(json!({"name": "e", "terminationMessagePath": ""}));
        assert!(
            MessageSource::prepare(dir.path(), &c, 0, &log)
                .expect("prepare")
                .is_none()
        );
    }
}
