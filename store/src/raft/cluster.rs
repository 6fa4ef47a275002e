//! Cluster formation as etcd spells it: `--initial-cluster name=url,...`
//! (a name may repeat for several peer URLs), `--initial-cluster-state`,
//! `--initial-cluster-token`, and member ids derived from a member's peer
//! URLs and the token (so every member computes the same ids, and a member
//! added with `etcdctl member add` finds its own id from its URLs).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("--initial-cluster entry {0:?} is not name=url")]
    BadEntry(String),
    #[error("--initial-cluster-state must be new or existing, not {0:?}")]
    BadState(String),
    #[error("couldn't find local name {0:?} in the initial cluster configuration")]
    NameMissing(String),
    #[error(
        "--initial-cluster has {name}={urls:?} but --initial-advertise-peer-urls is {advertised:?}"
    )]
    UrlMismatch {
        name: String,
        urls: Vec<String>,
        advertised: Vec<String>,
    },
}

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Every member of `--initial-cluster` starts together.
    New,
    /// This member was added to a running cluster (`etcdctl member add`).
    Existing,
}

impl std::str::FromStr for ClusterState {
    type Err = ClusterError;
    fn from_str(s: &str) -> Result<Self, ClusterError> {
        match s {
            "new" => Ok(ClusterState::New),
            "existing" => Ok(ClusterState::Existing),
            other => Err(ClusterError::BadState(other.to_string())),
        }
    }
}

/// One member of `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    pub peer_urls: Vec<String>,
}

/// Parses `name=url,name=url,...` into members in first-seen order.
pub fn parse_initial_cluster(spec: &str) -> Result<Vec<InitialMember>, ClusterError> {
    let mut members: Vec<InitialMember> = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, url) = entry
            .split_once('=')
            .filter(|(n, u)| !n.is_empty() && !u.is_empty())
            .ok_or_else(|| ClusterError::BadEntry(entry.to_string()))?;
        match members.iter_mut().find(|m| m.name == name) {
            Some(member) => member.peer_urls.push(url.to_string()),
            None => members.push(InitialMember {
                name: name.to_string(),
                peer_urls: vec![url.to_string()],
            }),
        }
    }
    Ok(members)
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A member's id: a hash of its sorted peer URLs and the cluster token
/// (etcd hashes the same inputs with SHA-1). Never 0.
pub fn member_id(peer_urls: &[String], token: &str) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut parts: Vec<&[u8]> = urls.iter().map(|u| u.as_bytes()).collect();
    parts.push(token.as_bytes());
    fnv1a(&parts).max(1)
}

/// The cluster id: a hash of the initial members' ids and the token.
pub fn cluster_id(member_ids: &[u64], token: &str) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let bytes: Vec<[u8; 8]> = ids.iter().map(|id| id.to_be_bytes()).collect();
    let mut parts: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
    parts.push(token.as_bytes());
    fnv1a(&parts).max(1)
}

/// The initial members by id, checking that `name` is one of them with the
/// advertised URLs.
pub fn initial_members(
    members: &[InitialMember],
    name: &str,
    advertised: &[String],
    token: &str,
) -> Result<BTreeMap<u64, InitialMember>, ClusterError> {
    let me = members
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| ClusterError::NameMissing(name.to_string()))?;
    let mut mine = me.peer_urls.clone();
    let mut adv = advertised.to_vec();
    mine.sort();
    adv.sort();
    if mine != adv {
        return Err(ClusterError::UrlMismatch {
            name: name.to_string(),
            urls: me.peer_urls.clone(),
            advertised: advertised.to_vec(),
        });
    }
    Ok(members
        .iter()
        .map(|m| (member_id(&m.peer_urls, token), m.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_groups_urls_by_name() {
        let members =
            parse_initial_cluster("a=http://1:2380,b=http://2:2380,a=http://3:2380").unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].peer_urls, vec!["http://1:2380", "http://3:2380"]);
        assert_eq!(
            parse_initial_cluster("a"),
            Err(ClusterError::BadEntry("a".to_string()))
        );
    }

    #[test]
    fn ids_do_not_depend_on_url_order_and_differ_by_token() {
        let ab = vec!["http://a".to_string(), "http://b".to_string()];
        let ba = vec!["http://b".to_string(), "http://a".to_string()];
        assert_eq!(member_id(&ab, "t"), member_id(&ba, "t"));
        assert_ne!(member_id(&ab, "t"), member_id(&ab, "u"));
    }

    #[test]
    fn local_member_must_be_listed_with_its_urls() {
        let members = parse_initial_cluster("a=http://1:2380,b=http://2:2380").unwrap();
        let urls = vec!["http://1:2380".to_string()];
        assert!(initial_members(&members, "a", &urls, "t").is_ok());
        assert_eq!(
            initial_members(&members, "c", &urls, "t"),
            Err(ClusterError::NameMissing("c".to_string()))
        );
        assert!(matches!(
            initial_members(&members, "b", &urls, "t"),
            Err(ClusterError::UrlMismatch { .. })
        ));
    }
}
