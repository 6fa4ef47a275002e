//! Container probes as upstream's prober runs them: httpGet (status 200-399
//! succeeds), tcpSocket (a connection succeeds) and exec (exit code 0
//! succeeds, run by the runtime), with initialDelaySeconds, periodSeconds,
//! timeoutSeconds, successThreshold and failureThreshold. `ProbeState`
//! counts consecutive results and says when the result flips.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The result of one probe run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success,
    /// The message upstream puts into the `Unhealthy` event.
    Failure(String),
}

pub fn timeout(probe: &Probe) -> Duration {
    Duration::from_secs(probe.timeout_seconds.unwrap_or(1).max(1) as u64)
}

fn period(probe: &Probe) -> Duration {
    Duration::from_secs(probe.period_seconds.unwrap_or(10).max(1) as u64)
}

/// A port number, or a named port of the container.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => name.parse().ok().or_else(|| {
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
        }),
    }
}

/// An HTTP GET with upstream's User-Agent; 200-399 succeeds.
pub async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    limit: Duration,
) -> Outcome {
    let url = format!("http://{host}:{port}{path}");
    let attempt = async {
        let mut stream = TcpStream::connect((host, port)).await?;
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head[..n]).to_string())
    };
    match tokio::time::timeout(limit, attempt).await {
        Err(_) => Outcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Ok(Err(e)) => Outcome::Failure(format!("Get \"{url}\": dial tcp {host}:{port}: {e}")),
        Ok(Ok(head)) => {
            let code: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if (200..400).contains(&code) {
                Outcome::Success
            } else {
                Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
            }
        }
    }
}

/// A TCP connection attempt.
pub async fn tcp_socket(host: &str, port: u16, limit: Duration) -> Outcome {
    match tokio::time::timeout(limit, TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(format!("dial tcp {host}:{port}: connect: {e}")),
        Err(_) => Outcome::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
    }
}

/// Consecutive results of one probe of one container run.
#[derive(Debug, Default, Clone)]
pub struct ProbeState {
    successes: i32,
    failures: i32,
    last_run: Option<Instant>,
    /// The current result (None until the thresholds decided).
    pub result: Option<bool>,
}

impl ProbeState {
    /// Whether the probe should run now for a container started at
    /// `started`.
    pub fn due(&self, probe: &Probe, started: Instant, now: Instant) -> bool {
        let delay = Duration::from_secs(probe.initial_delay_seconds.unwrap_or(0).max(0) as u64);
        if now < started + delay {
            return false;
        }
        self.last_run.is_none_or(|t| now >= t + period(probe))
    }

    /// Records one run; returns the result when it changed.
    pub fn record(&mut self, probe: &Probe, ok: bool, now: Instant) -> Option<bool> {
        self.last_run = Some(now);
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let flipped = if ok && self.successes >= probe.success_threshold.unwrap_or(1).max(1) {
            Some(true)
        } else if !ok && self.failures >= probe.failure_threshold.unwrap_or(3).max(1) {
            Some(false)
        } else {
            None
        };
        match flipped {
            Some(r) if self.result != Some(r) => {
                self.result = Some(r);
                Some(r)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(v: serde_json::Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn thresholds_and_periods() {
        let p = probe(
            serde_json::json!({"periodSeconds": 2, "failureThreshold": 2, "initialDelaySeconds": 1}),
        );
        let t0 = Instant::now();
        let mut s = ProbeState::default();
        assert!(!s.due(&p, t0, t0));
        assert!(s.due(&p, t0, t0 + Duration::from_secs(1)));
        assert_eq!(s.record(&p, true, t0 + Duration::from_secs(1)), Some(true));
        assert!(!s.due(&p, t0, t0 + Duration::from_secs(2)));
        assert_eq!(s.record(&p, false, t0 + Duration::from_secs(3)), None);
        assert_eq!(
            s.record(&p, false, t0 + Duration::from_secs(5)),
            Some(false)
        );
        assert_eq!(s.record(&p, false, t0 + Duration::from_secs(7)), None);
    }

    #[tokio::test]
    async fn tcp_and_http_probes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let code = if String::from_utf8_lossy(&buf[..n]).starts_with("GET /bad ") {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = s
                    .write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            }
        });
        let limit = Duration::from_secs(1);
        assert_eq!(tcp_socket("127.0.0.1", port, limit).await, Outcome::Success);
        assert_eq!(
            http_get("127.0.0.1", port, "/", &[], limit).await,
            Outcome::Success
        );
        assert_eq!(
            http_get("127.0.0.1", port, "/bad", &[], limit).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        match tcp_socket("127.0.0.1", closed, limit).await {
            Outcome::Failure(m) => assert!(
                m.starts_with(&format!("dial tcp 127.0.0.1:{closed}: connect:")),
                "{m}"
            ),
            Outcome::Success => panic!("closed port"),
        }
    }
}
