//! Membership changes of a replicated `oxkube store` through etcd's Cluster
//! API with `etcdctl` 3.4: member list (hex ids, names, URLs), member add
//! (a voter, started with `--initial-cluster-state existing` and the
//! `ETCD_INITIAL_CLUSTER` etcdctl prints), member add --learner then member
//! promote, member remove, and etcd's errors for the refused changes.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{Cluster, Member, etcdctl};
use store::{Kv, PutRequest, RangeRequest};

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: std::process::Output, message: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} succeeded");
    assert!(
        stderr.contains(message),
        "{what}: expected {message:?}, got {stderr}"
    );
}

/// `member list` lines as (id, status, name, peer urls, is learner).
fn members(endpoint: &str) -> Vec<(String, String, String, String, bool)> {
    ok(etcdctl(endpoint, &["member", "list"]), "member list")
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(", ").collect();
            assert_eq!(f.len(), 6, "member list line {line:?}");
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
                f[3].to_string(),
                f[5] == "true",
            )
        })
        .collect()
}

/// The value `etcdctl member add` printed for `ETCD_INITIAL_CLUSTER`.
fn initial_cluster_from(add_output: &str) -> String {
    add_output
        .lines()
        .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no ETCD_INITIAL_CLUSTER in {add_output}"))
        .to_string()
}

fn new_member(dir: &std::path::Path, name: &str, port: u16) -> Member {
    Member {
        name: name.to_string(),
        host: "127.0.0.1".to_string(),
        client_port: port,
        peer_port: port + 50,
        data_dir: dir.join(name),
        log: dir.join(format!("{name}.log")),
        netns: None,
        peer_tls: None,
        child: None,
    }
}

/// Waits until `member` serves `key` from its own state.
async fn serves(member: &Member, key: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(kv) = member.client().await {
            let mut req = RangeRequest::key(key);
            req.serializable = true;
            if let Ok(resp) = kv.range(req).await
                && resp.count == 1
            {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn etcdctl_adds_promotes_and_removes_members() {
    if common::missing_etcd_tools().is_some() {
        eprintln!("SKIPPED: etcdctl is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cluster = Cluster::start(dir.path(), 3, 17460, &[]);
    let leader = cluster
        .leader(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| panic!("no leader:\n{}", cluster.logs()));
    let ep = cluster.members[leader].endpoint();
    let follower_ep = cluster.members[(leader + 1) % 3].endpoint();

    // Three started voters, ids in hex as etcd prints them.
    let listed = members(&follower_ep);
    assert_eq!(listed.len(), 3, "{listed:?}");
    for (id, status, name, peers, learner) in &listed {
        assert!(u64::from_str_radix(id, 16).is_ok(), "id {id}");
        assert_eq!(status, "started");
        assert!(name.starts_with('m'), "name {name}");
        assert!(peers.starts_with("http://127.0.0.1:"), "peer urls {peers}");
        assert!(!learner);
    }

    // Errors as etcd words them.
    refused(
        etcdctl(&ep, &["member", "remove", "1234abcd"]),
        "etcdserver: member not found",
        "removing an unknown member",
    );
    let taken = cluster.members[0].peer_url();
    refused(
        etcdctl(
            &ep,
            &["member", "add", "dup", &format!("--peer-urls={taken}")],
        ),
        "etcdserver: Peer URLs already exists",
        "adding a member with a peer URL in use",
    );
    refused(
        etcdctl(&ep, &["member", "promote", &listed[0].0]),
        "etcdserver: can only promote a learner member",
        "promoting a voter",
    );

    // Add a voter through a follower, start it as etcd's output says.
    let mut m3 = new_member(dir.path(), "m3", 17463);
    let added = ok(
        etcdctl(
            &follower_ep,
            &[
                "member",
                "add",
                "m3",
                &format!("--peer-urls={}", m3.peer_url()),
            ],
        ),
        "member add",
    );
    assert!(added.contains("added to cluster"), "{added}");
    let initial = initial_cluster_from(&added);
    assert!(
        initial.contains(&format!("m3={}", m3.peer_url())),
        "{initial}"
    );
    m3.start(&initial, "existing", &[]);
    let kv = cluster.members[leader].client().await.expect("client");
    kv.put(PutRequest {
        key: b"membership/after-add".to_vec(),
        value: b"1".to_vec(),
        ..Default::default()
    })
    .await
    .expect("put with four members");
    assert!(
        serves(&m3, "membership/after-add", Duration::from_secs(20)).await,
        "the added member does not serve the data:\n{}",
        m3.log_text()
    );
    // Once it runs, the new member publishes its name and client URLs.
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = members(&ep);
        let started = listed
            .iter()
            .any(|(_, status, name, _, learner)| name == "m3" && status == "started" && !learner);
        if started || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|(_, status, name, _, learner)| name == "m3" && status == "started" && !learner),
        "{listed:?}"
    );

    // A learner, then promoted.
    let mut m4 = new_member(dir.path(), "m4", 17464);
    let added = ok(
        etcdctl(
            &ep,
            &[
                "member",
                "add",
                "m4",
                &format!("--peer-urls={}", m4.peer_url()),
                "--learner",
            ],
        ),
        "member add --learner",
    );
    let id = added
        .split_whitespace()
        .nth(1)
        .expect("Member <id> added")
        .to_string();
    m4.start(&initial_cluster_from(&added), "existing", &[]);
    assert!(
        serves(&m4, "membership/after-add", Duration::from_secs(20)).await,
        "the learner does not serve the data:\n{}",
        m4.log_text()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !members(&ep)
        .iter()
        .any(|(i, _, name, _, learner)| *i == id && name == "m4" && *learner)
    {
        assert!(Instant::now() < deadline, "learner not listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let promoted = ok(etcdctl(&ep, &["member", "promote", &id]), "member promote");
    assert!(promoted.contains("promoted"), "{promoted}");
    assert!(
        members(&ep)
            .iter()
            .any(|(i, _, _, _, learner)| *i == id && !*learner),
        "member not promoted"
    );

    // Remove a follower that is not m3/m4's contact.
    let victim = (0..3).find(|i| *i != leader).expect("a follower");
    let victim_id = format!("{:x}", {
        cluster.members[victim]
            .status()
            .await
            .expect("victim status")
            .header
            .member_id
    });
    let removed = ok(
        etcdctl(&ep, &["member", "remove", &victim_id]),
        "member remove",
    );
    assert!(removed.contains("removed from cluster"), "{removed}");
    cluster.members[victim].kill();
    let listed = members(&ep);
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed.iter().all(|(i, ..)| *i != victim_id));
    // The cluster still takes writes (4 voters, 4 running).
    kv.put(PutRequest {
        key: b"membership/after-remove".to_vec(),
        value: b"1".to_vec(),
        ..Default::default()
    })
    .await
    .expect("put after remove");
    assert!(serves(&m4, "membership/after-remove", Duration::from_secs(10)).await);
}
