//! What an HA `oxkube server` is on this start, from its flags and data
//! dir: the first server (`--cluster-init`), a new server joining
//! (`--server URL --token T`), or a member restarting on its data (a Raft
//! log in `<data-dir>/store/raft-log`; no join again, whatever the flags).
//! Also the token file `<data-dir>/token` and the joining steps before the
//! PKI is made (fetching the cluster-wide files).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use apiserver::join::{JoinClient, Token};

/// This server's part in an HA control plane.
pub enum Role {
    /// Forms a new one-member store (`--cluster-init`, pristine data dir).
    Init,
    /// Joins the servers reachable at `server` (pristine data dir).
    Join { server: String, token: Token },
    /// Restarts a member from its data dir.
    Restart,
}

/// `oxkube server`'s HA flags (k3s's names, etcd's peer port).
#[derive(clap::Args, Debug)]
pub struct HaArgs {
    /// Start a new HA control plane: the embedded store becomes a
    /// one-member Raft store that other servers join with --server.
    #[arg(long)]
    pub cluster_init: bool,
    /// Join the HA control plane of the server at this URL
    /// (https://host:6443), with --token.
    #[arg(long)]
    pub server: Option<String>,
    /// The join token (`<data-dir>/token` of a running server):
    /// K10<sha256 of the CA>::server:<secret>, or the bare secret (which
    /// cannot pin the CA). With --cluster-init: the secret to use.
    #[arg(long, env = "OXKUBE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// HA: the store's peer port (mutual TLS), on --bind-address.
    #[arg(long, default_value_t = 2380)]
    pub peer_port: u16,
    /// HA: the address other servers reach this one at (default:
    /// --bind-address).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
}

pub fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

fn raft_log_dir(data_dir: &Path) -> PathBuf {
    store_dir(data_dir).join("raft-log")
}

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

/// `None` for a single server (no HA flag, no Raft log in the data dir).
pub fn role(data_dir: &Path, flags: &HaArgs) -> anyhow::Result<Option<Role>> {
    if flags.cluster_init && flags.server.is_some() {
        bail!("--cluster-init starts a new cluster and --server joins one: give only one");
    }
    if raft_log_dir(data_dir).exists() {
        if flags.server.is_some() || flags.cluster_init {
            tracing::info!("the data dir holds a store member: restarting it, not joining again");
        }
        return Ok(Some(Role::Restart));
    }
    let single_store = store_dir(data_dir).exists();
    if flags.cluster_init {
        if single_store {
            bail!(
                "{} holds the store of a single server; --cluster-init cannot convert it (start from an empty --data-dir)",
                data_dir.display()
            );
        }
        return Ok(Some(Role::Init));
    }
    let Some(server) = &flags.server else {
        return Ok(None);
    };
    if single_store {
        bail!(
            "{} holds the store of a single server; a joining server needs an empty --data-dir",
            data_dir.display()
        );
    }
    let Some(token) = &flags.token else {
        bail!("--server needs --token (the token file of a running server)");
    };
    let token = Token::parse(token).context("--token")?;
    Ok(Some(Role::Join {
        server: server.clone(),
        token,
    }))
}

/// Joining: checks the server's CA against the token and installs the
/// cluster-wide PKI in the data dir. Returns the client for the member add.
pub async fn fetch_cluster_files(
    data_dir: &Path,
    server: &str,
    token: &Token,
) -> anyhow::Result<JoinClient> {
    let client = JoinClient::connect(server, token)
        .await
        .with_context(|| format!("contacting {server}"))?;
    client
        .install_shared_files(data_dir)
        .await
        .with_context(|| format!("fetching the cluster PKI from {server}"))?;
    tracing::info!(%server, "installed the cluster PKI");
    Ok(client)
}

/// The token's secret for this start, and the token file written (secure
/// form, for the CA now in the data dir). The first server takes
/// `--token` or makes a secret; a joiner keeps the token it joined with;
/// a restart keeps its file and refuses a `--token` with another secret.
pub fn settle_token(
    data_dir: &Path,
    role: &Role,
    given: Option<&str>,
    ca_cert: &Path,
) -> anyhow::Result<String> {
    let ca_pem =
        std::fs::read(ca_cert).with_context(|| format!("reading {}", ca_cert.display()))?;
    let path = token_path(data_dir);
    let stored = match std::fs::read_to_string(&path) {
        Ok(text) => Some(Token::parse(&text).with_context(|| format!("{}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let given = given.map(Token::parse).transpose().context("--token")?;
    let secret = match (role, &stored, &given) {
        (Role::Restart, Some(stored), Some(given)) if given.secret != stored.secret => {
            bail!(
                "--token differs from the token this server was set up with ({})",
                path.display()
            )
        }
        (Role::Restart, Some(stored), _) => stored.secret.clone(),
        (Role::Restart, None, Some(given)) => given.secret.clone(),
        (Role::Restart, None, None) => {
            bail!("{} is missing: give --token", path.display())
        }
        (Role::Join { token, .. }, _, _) => token.secret.clone(),
        (Role::Init, _, Some(given)) => given.secret.clone(),
        (Role::Init, Some(stored), None) => stored.secret.clone(),
        (Role::Init, None, None) => apiserver::join::token::generate_secret(),
    };
    if let Some(Token {
        ca_hash: Some(hash),
        ..
    }) = &given
        && *hash != apiserver::join::token::ca_hash(&ca_pem)
    {
        bail!(
            "--token names another cluster CA than {}",
            ca_cert.display()
        );
    }
    write_private(&path, &format!("{}\n", Token::secure(&ca_pem, &secret)))?;
    Ok(secret)
}

/// This member's name: `<node name or host name>-<8 hex>`, made once and
/// kept in the data dir (several servers may share a host name, as in
/// tests; k3s does the same).
pub fn member_name(data_dir: &Path, node_name: Option<&str>) -> anyhow::Result<String> {
    let path = data_dir.join("store-member-name");
    if let Ok(name) = std::fs::read_to_string(&path)
        && !name.trim().is_empty()
    {
        return Ok(name.trim().to_string());
    }
    let base = match node_name {
        Some(n) => n.to_string(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "oxkube".to_string()),
    };
    let suffix = apiserver::join::token::generate_secret();
    let name = format!("{base}-{}", &suffix[..8]);
    std::fs::write(&path, format!("{name}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(name)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod {}", path.display()))
}

/// The address peers and joiners reach this server at.
pub fn advertise_address(bind: IpAddr, advertise: Option<IpAddr>) -> anyhow::Result<IpAddr> {
    match advertise {
        Some(ip) if ip.is_unspecified() => bail!("--advertise-address cannot be {ip}"),
        Some(ip) => Ok(ip),
        None if bind.is_unspecified() => {
            bail!("with --bind-address {bind}, HA servers need --advertise-address")
        }
        None => Ok(bind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(init: bool, server: Option<&str>) -> HaArgs {
        HaArgs {
            cluster_init: init,
            server: server.map(str::to_string),
            token: Some("secret".to_string()),
            peer_port: 2380,
            advertise_address: None,
        }
    }

    #[test]
    fn roles_from_flags_and_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(role(dir.path(), &flags(false, None)).unwrap().is_none());
        assert!(matches!(
            role(dir.path(), &flags(true, None)).unwrap(),
            Some(Role::Init)
        ));
        assert!(matches!(
            role(dir.path(), &flags(false, Some("https://a:6443"))).unwrap(),
            Some(Role::Join { .. })
        ));
        assert!(role(dir.path(), &flags(true, Some("https://a:6443"))).is_err());
        std::fs::create_dir_all(store_dir(dir.path())).unwrap();
        // A single server's store is not converted.
        assert!(role(dir.path(), &flags(true, None)).is_err());
        std::fs::create_dir_all(raft_log_dir(dir.path())).unwrap();
        // A member restarts, even with the join flags.
        assert!(matches!(
            role(dir.path(), &flags(false, Some("https://a:6443"))).unwrap(),
            Some(Role::Restart)
        ));
        assert!(matches!(
            role(dir.path(), &flags(false, None)).unwrap(),
            Some(Role::Restart)
        ));
    }

    #[test]
    fn token_file_is_kept_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "pem").unwrap();
        let secret = settle_token(dir.path(), &Role::Init, None, &ca).unwrap();
        let text = std::fs::read_to_string(token_path(dir.path())).unwrap();
        assert_eq!(text.trim(), Token::secure(b"pem", &secret));
        // Restarts keep the secret; another one is refused.
        assert_eq!(
            settle_token(dir.path(), &Role::Restart, None, &ca).unwrap(),
            secret
        );
        assert!(settle_token(dir.path(), &Role::Restart, Some("other"), &ca).is_err());
        // A token pinning another CA is refused.
        let foreign = Token::secure(b"another pem", &secret);
        assert!(settle_token(dir.path(), &Role::Init, Some(&foreign), &ca).is_err());
    }

    #[test]
    fn member_names_persist() {
        let dir = tempfile::tempdir().unwrap();
        let a = member_name(dir.path(), Some("n1")).unwrap();
        assert!(a.starts_with("n1-"));
        assert_eq!(member_name(dir.path(), Some("n2")).unwrap(), a);
    }
}
