//! `/containerLogs/{ns}/{pod}/{container}`: reads the CRI log files the
//! runtime writes (`<pod-logs-dir>/<ns>_<pod>_<uid>/<container>/<n>.log`)
//! and answers like upstream's kubelet: the current run (or `previous`),
//! `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes`,
//! and `follow` (new lines until the run ends or the client goes away).

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

/// The query parameters of a log request.
#[derive(Debug, Default, Clone)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<usize>,
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<usize>,
}

impl LogOptions {
    pub fn from_query(q: &std::collections::HashMap<String, String>) -> Self {
        let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
        let since = q
            .get("sinceSeconds")
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| {
                Timestamp::now()
                    .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(s))
                    .ok()
            })
            .or_else(|| q.get("sinceTime").and_then(|t| t.parse().ok()));
        LogOptions {
            follow: flag("follow"),
            previous: flag("previous"),
            timestamps: flag("timestamps"),
            tail_lines: q.get("tailLines").and_then(|t| t.parse().ok()),
            since,
            limit_bytes: q
                .get("limitBytes")
                .and_then(|t| t.parse().ok())
                .filter(|n| *n > 0),
        }
    }
}

/// One CRI log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time: String,
    pub partial: bool,
    pub text: String,
}

/// Parses `<time> <stream> <P|F> <text>` lines (bad lines are skipped).
pub fn parse(content: &str) -> Vec<Entry> {
    content
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            let time = parts.next()?.to_string();
            let _stream = parts.next()?;
            let tag = parts.next()?;
            let text = parts.next().unwrap_or("").to_string();
            Some(Entry {
                time,
                partial: tag == "P",
                text,
            })
        })
        .collect()
}

/// The text a client sees for `entries` (partials joined into lines).
pub fn render(entries: &[Entry], opts: &LogOptions) -> String {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut pending: Option<(String, String)> = None;
    for e in entries {
        if let Some(since) = opts.since
            && e.time.parse::<Timestamp>().is_ok_and(|t| t < since)
        {
            continue;
        }
        let (time, mut text) = pending.take().unwrap_or((e.time.clone(), String::new()));
        text.push_str(&e.text);
        if e.partial {
            pending = Some((time, text));
        } else {
            lines.push((time, text));
        }
    }
    // Output that ended without a newline (a last partial entry) is
    // shown as it was printed, without one.
    let unterminated = pending.is_some();
    lines.extend(pending);
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut out = String::new();
    let count = lines.len();
    for (i, (time, text)) in lines.into_iter().enumerate() {
        if opts.timestamps {
            out.push_str(&time);
            out.push(' ');
        }
        out.push_str(&text);
        if !(unterminated && i + 1 == count) {
            out.push('\n');
        }
    }
    out
}

/// Why logs cannot be served (HTTP status and message).
#[derive(Debug, PartialEq)]
pub struct LogError {
    pub status: u16,
    pub message: String,
}

/// The log files of a container, oldest run first.
pub fn runs(logs_dir: &Path, ns: &str, pod: &str, container: &str) -> Vec<PathBuf> {
    let prefix = format!("{ns}_{pod}_");
    let mut pod_dirs: Vec<PathBuf> = std::fs::read_dir(logs_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    // The newest pod of that name (a re-created pod has a new UID).
    pod_dirs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let Some(dir) = pod_dirs.last() else {
        return Vec::new();
    };
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(dir.join(container))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name.strip_suffix(".log")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// The file to read for `opts` (the current or the previous run).
pub fn select(
    files: &[PathBuf],
    opts: &LogOptions,
    pod: &str,
    container: &str,
) -> Result<PathBuf, LogError> {
    let pick = if opts.previous {
        files.len().checked_sub(2).map(|i| files[i].clone())
    } else {
        files.last().cloned()
    };
    pick.ok_or_else(|| LogError {
        status: 400,
        message: if opts.previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
            )
        },
    })
}

/// Applies `limitBytes`.
pub fn limit(mut text: String, opts: &LogOptions) -> String {
    if let Some(n) = opts.limit_bytes
        && text.len() > n
    {
        let mut cut = n;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Polls the followed file for appended content.
pub const FOLLOW_POLL: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-01-01T00:00:01.000000000Z stdout F one\n\
2026-01-01T00:00:02.000000000Z stderr P tw\n\
2026-01-01T00:00:02.500000000Z stderr F o\n\
2026-01-01T00:00:03.000000000Z stdout F three\n";

    #[test]
    fn renders_tail_timestamps_since_and_limit() {
        let entries = parse(LOG);
        assert_eq!(
            render(&entries, &LogOptions::default()),
            "one\ntwo\nthree\n"
        );
        let tail = LogOptions {
            tail_lines: Some(2),
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            render(&entries, &tail),
            "2026-01-01T00:00:02.000000000Z two\n2026-01-01T00:00:03.000000000Z three\n"
        );
        let since = LogOptions {
            since: Some("2026-01-01T00:00:02.600Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(render(&entries, &since), "three\n");
        let lim = LogOptions {
            limit_bytes: Some(5),
            ..Default::default()
        };
        assert_eq!(limit(render(&entries, &lim), &lim), "one\nt");
    }

    #[test]
    fn previous_run_and_missing_runs() {
        let files = vec![PathBuf::from("0.log"), PathBuf::from("1.log")];
        let prev = LogOptions {
            previous: true,
            ..Default::default()
        };
        assert_eq!(
            select(&files, &prev, "p", "c").unwrap(),
            PathBuf::from("0.log")
        );
        assert_eq!(
            select(&files, &LogOptions::default(), "p", "c").unwrap(),
            PathBuf::from("1.log")
        );
        let err = select(&files[..1], &prev, "p", "c").unwrap_err();
        assert_eq!(
            err.message,
            "previous terminated container \"c\" in pod \"p\" not found"
        );
    }
}
