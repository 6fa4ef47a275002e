//! kubectl's streaming protocols against the kubelet API on a real
//! containerd: a SPDY/3.1 client written here (frames with the kubelet's
//! codec, whose header compression is checked against C zlib in its unit
//! tests) does port-forward over a direct `Upgrade: SPDY/3.1` and over the
//! WebSocket tunnel of kubectl 1.31+ (`SPDY/3.1+portforward.k8s.io`), an
//! exec with stdin, stdout, stderr and the v4 exit status, and an attach to
//! a `stdin`/`stdinOnce` container that reads a line, then its input until
//! the client ends it (stdinOnce closes it), and exits. Skipped with
//! a message when not root or containerd is missing.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::node::{start_node, unavailable};
use common::{eventually, start_server};
use futures::{SinkExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use kubelet::api::spdy::frame::{Decoder, Encoder, FLAG_FIN, Frame};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const INDEX: u8 = 6;
const KUBELET_PORT: u16 = 17320 + INDEX as u16;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The kubelet's certificate is self-signed: accepted as is.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn tls() -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", KUBELET_PORT))
        .await
        .expect("connect to the kubelet");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("TLS to the kubelet")
}

/// Sends an upgrade request; the status and lower-cased headers.
async fn upgrade<S: Io>(
    io: &mut S,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await.unwrap();
    // Byte by byte up to the blank line: nothing of the session is read.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(io.read(&mut b).await.unwrap(), 1, "response head cut short");
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

/// A SPDY client session (client-initiated, odd stream ids).
struct Client {
    io: Box<dyn Io>,
    enc: Encoder,
    dec: Decoder,
    buf: BytesMut,
    next_id: u32,
}

/// What arrived on the streams: data per stream and which ended.
#[derive(Default, Debug)]
struct Received {
    data: HashMap<u32, Vec<u8>>,
    fin: Vec<u32>,
    replies: Vec<u32>,
    resets: Vec<u32>,
}

impl Client {
    fn new(io: Box<dyn Io>) -> Self {
        Client {
            io,
            enc: Encoder::new(),
            dec: Decoder::new(),
            buf: BytesMut::new(),
            next_id: 1,
        }
    }

    async fn send(&mut self, f: Frame) {
        let mut out = BytesMut::new();
        self.enc.encode(&f, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
        self.io.flush().await.unwrap();
    }

    async fn open(&mut self, headers: &[(&str, &str)]) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        self.send(Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            slot: 0,
            flags: 0,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .await;
        id
    }

    async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
        self.send(Frame::Data {
            stream_id: id,
            flags: if fin { FLAG_FIN } else { 0 },
            data: bytes::Bytes::copy_from_slice(data),
        })
        .await;
    }

    /// Reads frames until every stream in `until` ended (FIN or RST), or
    /// `limit` passed.
    async fn collect(&mut self, rx: &mut Received, until: &[u32], limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !until
            .iter()
            .all(|id| rx.fin.contains(id) || rx.resets.contains(id))
        {
            let frame = loop {
                if let Some(f) = self.dec.decode(&mut self.buf).expect("valid frames") {
                    break Some(f);
                }
                match tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.buf)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => break None,
                }
            };
            match frame {
                None => return,
                Some(Frame::SynReply { stream_id, .. }) => rx.replies.push(stream_id),
                Some(Frame::Data {
                    stream_id,
                    flags,
                    data,
                }) => {
                    rx.data
                        .entry(stream_id)
                        .or_default()
                        .extend_from_slice(&data);
                    if flags & FLAG_FIN != 0 {
                        rx.fin.push(stream_id);
                    }
                }
                Some(Frame::RstStream { stream_id, .. }) => rx.resets.push(stream_id),
                Some(Frame::Ping { id }) => self.send(Frame::Ping { id }).await,
                Some(_) => {}
            }
        }
    }
}

impl Received {
    fn text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.data.get(&id).map(Vec::as_slice).unwrap_or_default())
            .into_owned()
    }
}

/// A WebSocket whose binary messages carry a byte stream, as client-go's
/// tunneling connection does.
fn tunnel<S: Io + 'static>(ws: tokio_tungstenite::WebSocketStream<S>) -> Box<dyn Io> {
    let (mine, theirs) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let (mut tx, mut rx) = ws.split();
        let (mut r, mut w) = tokio::io::split(mine);
        let inbound = async {
            while let Some(Ok(m)) = rx.next().await {
                match m {
                    Message::Binary(b) if w.write_all(&b).await.is_err() => break,
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            let _ = w.shutdown().await;
        };
        let outbound = async {
            let mut buf = vec![0u8; 32 * 1024];
            while let Ok(n) = r.read(&mut buf).await {
                if n == 0
                    || tx
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                {
                    break;
                }
            }
        };
        tokio::join!(inbound, outbound);
    });
    Box::new(theirs)
}

async fn forward_once(client: &mut Client, port: u16, request_id: &str) -> Received {
    let port_s = port.to_string();
    let error = client
        .open(&[
            ("streamType", "error"),
            ("port", &port_s),
            ("requestID", request_id),
        ])
        .await;
    let data = client
        .open(&[
            ("streamType", "data"),
            ("port", &port_s),
            ("requestID", request_id),
        ])
        .await;
    client
        .data(data, b"GET /index.html HTTP/1.0\r\n\r\n", false)
        .await;
    let mut rx = Received::default();
    client
        .collect(&mut rx, &[error, data], Duration::from_secs(20))
        .await;
    assert!(
        rx.replies.contains(&error) && rx.replies.contains(&data),
        "{rx:?}"
    );
    rx
}

async fn create(pods: &Api<Pod>, v: Value) {
    let pod: Pod = serde_json::from_value(v).unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
}

async fn wait_running(pods: &Api<Pod>, name: &str) {
    eventually(
        Duration::from_secs(90),
        &format!("{name} Running"),
        || async {
            let p = pods.get(name).await.ok()?;
            let st = p.status?;
            (st.container_statuses?.iter().all(|c| c.ready)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spdy_port_forward_exec_and_attach() {
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: streaming tests need root and containerd: {why}");
        return;
    }
    let server = start_server().await;
    let _node = start_node(&server, "stream-a", INDEX).await;
    let pods: Api<Pod> = Api::namespaced(server.client.clone(), "default");
    // httpd on every address (8080) and on the pod's loopback only (8081):
    // port-forward reaches both, as it dials inside the pod's netns.
    create(&pods, json!({"metadata": {"name": "web"}, "spec": {"nodeName": "stream-a", "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "web", "image": "busybox:local", "command": ["sh", "-c",
            "mkdir -p /www && echo page-from-web > /www/index.html && httpd -p 127.0.0.1:8081 -h /www && exec httpd -f -p 8080 -h /www"]}]}})).await;
    create(&pods, json!({"metadata": {"name": "talk"}, "spec": {"nodeName": "stream-a", "terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox:local", "stdin": true, "stdinOnce": true,
            "command": ["sh", "-c", "read x; echo got $x; cat; echo to-stderr >&2; exit 3"]}]}})).await;
    create(&pods, json!({"metadata": {"name": "term"}, "spec": {"nodeName": "stream-a", "terminationGracePeriodSeconds": 1, "restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox:local", "stdin": true, "tty": true,
            "command": ["sh", "-c", "read x; echo got $x; exit 0"]}]}})).await;
    wait_running(&pods, "web").await;
    wait_running(&pods, "talk").await;
    wait_running(&pods, "term").await;

    // Port-forward over a direct SPDY upgrade.
    let mut io = tls().await;
    let (status, headers) = upgrade(
        &mut io,
        "/portForward/default/web",
        &[("X-Stream-Protocol-Version", "portforward.k8s.io")],
    )
    .await;
    assert_eq!(status, 101);
    assert_eq!(headers.get("upgrade").map(String::as_str), Some("SPDY/3.1"));
    assert_eq!(
        headers.get("x-stream-protocol-version").map(String::as_str),
        Some("portforward.k8s.io")
    );
    let mut client = Client::new(Box::new(io));
    for (i, port) in [8080u16, 8081].into_iter().enumerate() {
        let rx = forward_once(&mut client, port, &i.to_string()).await;
        let page = rx.text(3 + 4 * i as u32);
        assert!(
            page.contains("200 OK") && page.contains("page-from-web"),
            "port {port}: {page:?}"
        );
        assert_eq!(rx.text(1 + 4 * i as u32), "", "no error for port {port}");
    }
    // A port nobody listens on: the error stream says so.
    let rx = forward_once(&mut client, 9999, "2").await;
    let error = rx.text(9);
    assert!(
        error.starts_with("error forwarding port 9999 to pod "),
        "{error:?}"
    );
    assert!(
        error.contains("connection refused") || error.contains("Connection refused"),
        "{error:?}"
    );
    // A stream without a port header is refused.
    let bad = client.open(&[("streamType", "data")]).await;
    let mut rx = Received::default();
    client
        .collect(&mut rx, &[bad], Duration::from_secs(5))
        .await;
    assert!(rx.resets.contains(&bad), "{rx:?}");

    // The same over the WebSocket tunnel (kubectl 1.31+).
    let io = tls().await;
    let request = tokio_tungstenite::tungstenite::http::Request::builder()
        .uri(format!(
            "wss://127.0.0.1:{KUBELET_PORT}/portForward/default/web"
        ))
        .header("Host", "127.0.0.1")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header(
            "Sec-WebSocket-Key",
            tokio_tungstenite::tungstenite::handshake::client::generate_key(),
        )
        .header("Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io")
        .body(())
        .unwrap();
    let (ws, resp) = tokio_tungstenite::client_async(request, io)
        .await
        .expect("WebSocket tunnel");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("SPDY/3.1+portforward.k8s.io")
    );
    let mut client = Client::new(tunnel(ws));
    let rx = forward_once(&mut client, 8080, "0").await;
    assert!(rx.text(3).contains("page-from-web"), "{rx:?}");

    // exec over SPDY, v4: stdin in, stdout and stderr out, exit code in the status.
    let mut io = tls().await;
    let (status, headers) = upgrade(
        &mut io,
        "/exec/default/web/web?command=sh&command=-c&command=read+x%3B+echo+out%3A%24x%3B+echo+oops+%3E%262%3B+exit+7&stdin=1&stdout=1&stderr=1",
        &[("X-Stream-Protocol-Version", "v4.channel.k8s.io"), ("X-Stream-Protocol-Version", "channel.k8s.io")],
    )
    .await;
    assert_eq!(status, 101);
    assert_eq!(
        headers.get("x-stream-protocol-version").map(String::as_str),
        Some("v4.channel.k8s.io")
    );
    let mut client = Client::new(Box::new(io));
    let error = client.open(&[("streamType", "error")]).await;
    let stdin = client.open(&[("streamType", "stdin")]).await;
    let stdout = client.open(&[("streamType", "stdout")]).await;
    let stderr = client.open(&[("streamType", "stderr")]).await;
    client.data(stdin, b"hello\n", true).await;
    let mut rx = Received::default();
    client
        .collect(&mut rx, &[error, stdout, stderr], Duration::from_secs(20))
        .await;
    assert_eq!(rx.text(stdout), "out:hello\n");
    assert_eq!(rx.text(stderr), "oops\n");
    let status: Value = serde_json::from_str(&rx.text(error))
        .unwrap_or_else(|e| panic!("status JSON: {e}: {rx:?}"));
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "7", "{status}");

    // exec with a TTY: one output, and the size from the resize stream.
    let mut io = tls().await;
    let (status, _) = upgrade(
        &mut io,
        "/exec/default/web/web?command=sh&command=-c&command=sleep+1%3B+stty+size&stdout=1&tty=1",
        &[("X-Stream-Protocol-Version", "v4.channel.k8s.io")],
    )
    .await;
    assert_eq!(status, 101);
    let mut client = Client::new(Box::new(io));
    let error = client.open(&[("streamType", "error")]).await;
    let stdout = client.open(&[("streamType", "stdout")]).await;
    let resize = client.open(&[("streamType", "resize")]).await;
    client
        .data(resize, br#"{"Width":100,"Height":30}"#, false)
        .await;
    let mut rx = Received::default();
    client
        .collect(&mut rx, &[error, stdout], Duration::from_secs(20))
        .await;
    assert_eq!(rx.text(stdout).trim(), "30 100", "{rx:?}");

    // An unknown protocol is refused with the accepted ones.
    let mut io = tls().await;
    let (status, headers) = upgrade(
        &mut io,
        "/exec/default/web/web?command=true&stdout=1",
        &[("X-Stream-Protocol-Version", "v9.channel.k8s.io")],
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        headers.contains_key("x-accepted-stream-protocol-versions"),
        "{headers:?}"
    );

    // attach over SPDY to the container's own process: stdin reaches it,
    // its output comes back, and when it exits the status is Success.
    let mut io = tls().await;
    let (status, _) = upgrade(
        &mut io,
        "/attach/default/talk/main?stdin=1&stdout=1&stderr=1",
        &[("X-Stream-Protocol-Version", "v4.channel.k8s.io")],
    )
    .await;
    assert_eq!(status, 101);
    let mut client = Client::new(Box::new(io));
    let error = client.open(&[("streamType", "error")]).await;
    let stdin = client.open(&[("streamType", "stdin")]).await;
    let stdout = client.open(&[("streamType", "stdout")]).await;
    let stderr = client.open(&[("streamType", "stderr")]).await;
    // The end of input closes the container's stdin (stdinOnce): `cat`
    // ends.
    client.data(stdin, b"world\n", false).await;
    client.data(stdin, b"more\n", true).await;
    let mut rx = Received::default();
    client
        .collect(&mut rx, &[error, stdout, stderr], Duration::from_secs(20))
        .await;
    assert_eq!(rx.text(stdout), "got world\nmore\n");
    assert_eq!(rx.text(stderr), "to-stderr\n");
    let status: Value = serde_json::from_str(&rx.text(error))
        .unwrap_or_else(|e| panic!("status JSON: {e}: {rx:?}"));
    assert_eq!(status["status"], "Success", "{status}");
    let exit = eventually(Duration::from_secs(30), "talk's exit code", || async {
        let p = pods.get("talk").await.ok()?;
        p.status?.container_statuses?[0]
            .state
            .as_ref()?
            .terminated
            .as_ref()
            .map(|t| t.exit_code)
    })
    .await;
    assert_eq!(exit, 3);

    // attach with a TTY: the terminal echoes the input, then the output.
    let mut io = tls().await;
    let (status, _) = upgrade(
        &mut io,
        "/attach/default/term/main?stdin=1&stdout=1&tty=1",
        &[("X-Stream-Protocol-Version", "v4.channel.k8s.io")],
    )
    .await;
    assert_eq!(status, 101);
    let mut client = Client::new(Box::new(io));
    let error = client.open(&[("streamType", "error")]).await;
    let stdin = client.open(&[("streamType", "stdin")]).await;
    let stdout = client.open(&[("streamType", "stdout")]).await;
    let resize = client.open(&[("streamType", "resize")]).await;
    client
        .data(resize, br#"{"Width":80,"Height":24}"#, false)
        .await;
    client.data(stdin, b"tty-line\n", false).await;
    let mut rx = Received::default();
    client
        .collect(&mut rx, &[error, stdout], Duration::from_secs(20))
        .await;
    let out = rx.text(stdout);
    assert!(
        out.contains("tty-line\r\n") && out.contains("got tty-line\r\n"),
        "{out:?}"
    );
}
