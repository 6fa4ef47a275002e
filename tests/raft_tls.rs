//! Peer traffic over mutual TLS: three members with `https://` peer URLs and
//! `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`,
//! `--peer-client-cert-auth` elect a leader and replicate writes; the peer
//! port refuses a client without a certificate and one whose certificate
//! another CA signed, and answers one with the members' certificate.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::{Cluster, PeerTls};
use store::{Kv, PutRequest, RangeRequest};

/// curl's HTTP/2 POST to the peer service with optional client files;
/// answers whether an HTTP response came back.
fn peer_answers(
    url: &str,
    ca: &std::path::Path,
    cert: Option<(&std::path::Path, &std::path::Path)>,
) -> bool {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ])
    .arg("--cacert")
    .arg(ca)
    .args(["-H", "content-type: application/grpc", "--data-binary", ""]);
    if let Some((cert, key)) = cert {
        cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    }
    let out = cmd
        .arg(format!("{url}/oxkube.raft.Peer/Vote"))
        .output()
        .expect("run curl");
    let code = String::from_utf8_lossy(&out.stdout);
    out.status.success() && code.trim() == "200"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peers_replicate_over_mutual_tls_and_refuse_strangers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = PeerTls::generate(dir.path());
    let mut cluster = Cluster::start_tls(dir.path(), 3, 17540, &tls);
    let leader = cluster
        .leader(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no leader over TLS:\n{}", cluster.logs()));
    let follower = (leader + 1) % 3;
    let kv = cluster.members[follower].client().await.expect("client");
    kv.put(PutRequest {
        key: b"tls/key".to_vec(),
        value: b"over TLS".to_vec(),
        ..Default::default()
    })
    .await
    .expect("write through a follower over TLS peers");
    let other = cluster.members[(leader + 2) % 3]
        .client()
        .await
        .expect("client");
    let got = other
        .range(RangeRequest::key("tls/key"))
        .await
        .expect("read");
    assert_eq!(got.kvs[0].value, b"over TLS");

    let url = cluster.members[leader].peer_url();
    assert!(url.starts_with("https://"));
    let have_curl = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_curl {
        eprintln!("SKIPPED the peer-port handshake checks: curl is not installed");
        return;
    }
    assert!(
        peer_answers(&url, &tls.ca, Some((&tls.cert, &tls.key))),
        "the peer port refuses a member's certificate"
    );
    assert!(
        !peer_answers(&url, &tls.ca, None),
        "the peer port answered a client without a certificate"
    );
    assert!(
        !peer_answers(&url, &tls.ca, Some((&tls.intruder_cert, &tls.intruder_key))),
        "the peer port answered a certificate from another CA"
    );
}
