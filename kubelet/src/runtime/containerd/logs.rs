//! Container logs in the CRI format: a task's stdout and stderr FIFOs are
//! read and every line is written to the container's log file as
//! `<RFC 3339 nano time> <stream> <F|P> <text>` (P: a partial line cut at
//! 16 KiB), the file kubelet's log API and `kubectl logs` read. The raw
//! chunks also go to a broadcast channel, from which `attach` sessions
//! get the container's live output.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch};

/// The longest line written as one entry; longer ones are split (P).
pub const MAX_LINE: usize = 16 * 1024;

/// Which output a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Stdout,
    Stderr,
}

/// Output chunks as attachers receive them.
pub type OutputChunk = (OutputKind, Bytes);
/// Chunks an attacher may fall behind before it loses some.
pub const OUTPUT_BACKLOG: usize = 1024;

/// One CRI log entry.
pub fn format_entry(time: &str, stream: &str, partial: bool, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 48);
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(text);
    out.push(b'\n');
    out
}

fn now_rfc3339_nano() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%9fZ")
        .to_string()
}

/// Splits `buf` into complete entries, leaving an unfinished line behind.
pub fn drain_lines(buf: &mut Vec<u8>, stream: &str, flush: bool) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            out.extend(format_entry(
                &now_rfc3339_nano(),
                stream,
                false,
                &line[..line.len() - 1],
            ));
        } else if buf.len() >= MAX_LINE {
            let part: Vec<u8> = buf.drain(..MAX_LINE).collect();
            out.extend(format_entry(&now_rfc3339_nano(), stream, true, &part));
        } else if flush && !buf.is_empty() {
            // Output that ends without a newline stays without one: the
            // last entry is partial (as containerd's CRI logger writes it),
            // so readers add no newline the container did not print.
            let rest: Vec<u8> = std::mem::take(buf);
            out.extend(format_entry(&now_rfc3339_nano(), stream, true, &rest));
        } else {
            return out;
        }
    }
}

/// Makes a FIFO at `path` (mode 0600).
pub fn mkfifo(path: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    Ok(())
}

/// Copies a container's stdout/stderr FIFOs into its log file until
/// stopped; on stop it drains what is left.
pub struct LogCopier {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub fifos: [PathBuf; 2],
}

impl LogCopier {
    /// Creates the FIFOs (`<fifo_prefix>-stdout`, `-stderr`), opens them
    /// (read-write, so no EOF before the task opens them) and starts
    /// copying into `log_path`.
    /// Every chunk read is also sent to `tee` (attachers).
    pub async fn start(
        fifo_prefix: &Path,
        log_path: &Path,
        tee: broadcast::Sender<OutputChunk>,
    ) -> std::io::Result<Self> {
        let out_path = PathBuf::from(format!("{}-stdout", fifo_prefix.display()));
        let err_path = PathBuf::from(format!("{}-stderr", fifo_prefix.display()));
        mkfifo(&out_path)?;
        mkfifo(&err_path)?;
        if let Some(dir) = log_path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let open = |p: &Path| {
            tokio::net::unix::pipe::OpenOptions::new()
                .read_write(true)
                .open_receiver(p)
        };
        let out = open(&out_path)?;
        let err = open(&err_path)?;
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .await?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(copy(out, err, file, stopped, tee));
        Ok(LogCopier {
            stop,
            task,
            fifos: [out_path, err_path],
        })
    }

    /// Drains what is buffered, then stops and removes the FIFOs.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
        for f in &self.fifos {
            let _ = std::fs::remove_file(f);
        }
    }
}

async fn copy(
    mut out: tokio::net::unix::pipe::Receiver,
    mut err: tokio::net::unix::pipe::Receiver,
    mut file: tokio::fs::File,
    mut stopped: watch::Receiver<bool>,
    tee: broadcast::Sender<OutputChunk>,
) {
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut stopping = false;
    loop {
        let idle = tokio::time::sleep(std::time::Duration::from_millis(200));
        tokio::select! {
            n = out.read(&mut a) => match n {
                Ok(n) if n > 0 => {
                    out_buf.extend_from_slice(&a[..n]);
                    // No attacher is not an error.
                    let _ = tee.send((OutputKind::Stdout, Bytes::copy_from_slice(&a[..n])));
                }
                _ => stopping = true,
            },
            n = err.read(&mut b) => match n {
                Ok(n) if n > 0 => {
                    err_buf.extend_from_slice(&b[..n]);
                    let _ = tee.send((OutputKind::Stderr, Bytes::copy_from_slice(&b[..n])));
                }
                _ => stopping = true,
            },
            _ = stopped.changed(), if !stopping => { stopping = true; continue; }
            _ = idle, if stopping => {
                let mut rest = drain_lines(&mut out_buf, "stdout", true);
                rest.extend(drain_lines(&mut err_buf, "stderr", true));
                let _ = file.write_all(&rest).await;
                let _ = file.flush().await;
                return;
            }
        }
        let mut entries = drain_lines(&mut out_buf, "stdout", false);
        entries.extend(drain_lines(&mut err_buf, "stderr", false));
        if !entries.is_empty() && file.write_all(&entries).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_cri_entries() {
        let mut buf = b"hello\nwor".to_vec();
        let out = String::from_utf8(drain_lines(&mut buf, "stdout", false)).unwrap();
        assert!(out.ends_with(" stdout F hello\n"), "{out}");
        assert_eq!(buf, b"wor");
        let out = String::from_utf8(drain_lines(&mut buf, "stdout", true)).unwrap();
        assert!(out.ends_with(" stdout P wor\n"), "{out}");
        let mut long = vec![b'x'; MAX_LINE + 3];
        let out = String::from_utf8(drain_lines(&mut long, "stderr", false)).unwrap();
        assert!(out.contains(" stderr P "));
        assert_eq!(long.len(), 3);
        // RFC 3339 with nanoseconds, UTC.
        let ts = out.split(' ').next().unwrap();
        assert_eq!(ts.len(), "2024-01-01T00:00:00.000000000Z".len(), "{ts}");
    }
}
