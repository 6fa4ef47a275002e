//! `oxkube apiserver`: the API server alone, with kube-apiserver's flag
//! names, on an embedded store (`--data-dir`) or on etcd (`--etcd-servers`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

/// Flags shared by `server` and `apiserver` (kube-apiserver's names).
#[derive(Args, Debug, Clone)]
pub struct ApiFlags {
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind_address: IpAddr,
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// Issuer of ServiceAccount tokens; repeat to also accept older issuers
    /// (the first is used for new tokens).
    #[arg(long = "service-account-issuer")]
    pub service_account_issuers: Vec<String>,
    /// Private key that signs ServiceAccount tokens (PEM, PKCS#8 EC P-256
    /// or RSA, or PKCS#1 RSA). `oxkube server` makes one in its PKI.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// Files of public (or private) keys that verify ServiceAccount tokens.
    #[arg(long = "service-account-key-file", value_delimiter = ',')]
    pub service_account_key_files: Vec<PathBuf>,
    /// Audiences of the API (default: the issuer).
    #[arg(long, value_delimiter = ',')]
    pub api_audiences: Vec<String>,
    /// Extend the kubelet's 3607 s projected tokens to a year (with warnafter).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true")]
    pub service_account_extend_token_expiration: bool,
    /// Longest token lifetime TokenRequest grants, in seconds (0: none).
    #[arg(long, default_value_t = 0)]
    pub service_account_max_token_expiration_seconds: i64,
    /// `jwks_uri` of the OIDC discovery document (default: this server's
    /// `/openid/v1/jwks`).
    #[arg(long)]
    pub service_account_jwks_uri: Option<String>,
    /// Admission plugins to turn off (of those built: ServiceAccount).
    #[arg(long, value_delimiter = ',')]
    pub disable_admission_plugins: Vec<String>,
    /// How often the store's history is compacted (Go duration, e.g. 5m,
    /// 30s, 1h30m; 0 turns compaction off).
    #[arg(long, default_value = "5m", value_parser = parse_go_duration)]
    pub etcd_compaction_interval: std::time::Duration,
}

/// A Go `time.Duration` string as kube-apiserver's flags take them
/// (`300ms`, `30s`, `5m`, `1h30m0s`, `0`).
fn parse_go_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * seconds;
        rest = next;
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// Admission plugins this server has (the rest of upstream's are built in
/// or not built yet; naming one of those is an error, as upstream for
/// unknown names).
const ADMISSION_PLUGINS: &[&str] = &["NamespaceLifecycle", "ServiceAccount"];

impl ApiFlags {
    /// Request settings from the flags; `default_signing_key` is the
    /// ServiceAccount key `oxkube server` keeps in its PKI (used when no
    /// `--service-account-*key-file` is given).
    pub fn settings(
        &self,
        default_signing_key: Option<&Path>,
    ) -> anyhow::Result<apiserver::ApiSettings> {
        let range = self
            .service_node_port_range
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .unwrap_or((30000, 32767));
        for plugin in &self.disable_admission_plugins {
            if !ADMISSION_PLUGINS.contains(&plugin.as_str()) {
                bail!("admission plugin {plugin:?} is unknown (known: {ADMISSION_PLUGINS:?})");
            }
        }
        Ok(apiserver::ApiSettings {
            service_cluster_ip_range: self.service_cluster_ip_range.clone(),
            service_node_port_range: range,
            service_accounts: self.token_settings(default_signing_key)?.map(Arc::new),
            service_account_admission: !self
                .disable_admission_plugins
                .iter()
                .any(|p| p == "ServiceAccount"),
            compaction_interval: Some(self.etcd_compaction_interval).filter(|i| !i.is_zero()),
            ..Default::default()
        })
    }

    fn token_settings(
        &self,
        default_signing_key: Option<&Path>,
    ) -> anyhow::Result<Option<apiserver::serviceaccount::TokenSettings>> {
        let signing = self.service_account_signing_key_file.as_deref().or(
            if self.service_account_key_files.is_empty() {
                default_signing_key
            } else {
                None
            },
        );
        if signing.is_none() && self.service_account_key_files.is_empty() {
            return Ok(None);
        }
        let key_files: Vec<&Path> = self
            .service_account_key_files
            .iter()
            .map(PathBuf::as_path)
            .collect();
        let mut settings = apiserver::serviceaccount::TokenSettings::from_files(
            self.service_account_issuers.clone(),
            signing,
            &key_files,
        )
        .context("reading the service account keys")?;
        if !self.api_audiences.is_empty() {
            settings.api_audiences = self.api_audiences.clone();
        }
        settings.extend_expiration = self.service_account_extend_token_expiration;
        settings.max_expiration_seconds = self.service_account_max_token_expiration_seconds;
        settings.jwks_uri = self.service_account_jwks_uri.clone();
        Ok(Some(settings))
    }
}

#[derive(Args, Debug)]
pub struct ApiserverArgs {
    #[command(flatten)]
    pub api: ApiFlags,
    /// etcd endpoints (comma separated); without it, an embedded store in --data-dir.
    #[arg(long, value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    #[arg(long)]
    pub etcd_certfile: Option<PathBuf>,
    #[arg(long)]
    pub etcd_keyfile: Option<PathBuf>,
    /// Data directory of the embedded store (when --etcd-servers is not given).
    #[arg(long, default_value = "/var/lib/oxkube")]
    pub data_dir: PathBuf,
}

pub async fn run(args: ApiserverArgs) -> anyhow::Result<()> {
    let (Some(cert), Some(key)) = (&args.api.tls_cert_file, &args.api.tls_private_key_file) else {
        bail!("--tls-cert-file and --tls-private-key-file are required");
    };
    let kv: Arc<dyn store::Kv> = if args.etcd_servers.is_empty() {
        store::Engine::open(
            &args.data_dir.join("store"),
            store::EngineOptions::default(),
        )
        .context("opening the embedded store")?
    } else {
        let config = store::remote::RemoteConfig {
            endpoints: args.etcd_servers.clone(),
            ca_file: args.etcd_cafile.clone(),
            cert_file: args.etcd_certfile.clone(),
            key_file: args.etcd_keyfile.clone(),
            connect_timeout: None,
        };
        Arc::new(
            store::remote::RemoteKv::connect(&config)
                .await
                .context("connecting to etcd")?,
        )
    };
    let serve = apiserver::ServeConfig {
        bind: SocketAddr::new(args.api.bind_address, args.api.secure_port),
        tls_cert_file: cert.clone(),
        tls_private_key_file: key.clone(),
        client_ca_file: args.api.client_ca_file.clone(),
    };
    let server = apiserver::start(kv, serve, args.api.settings(None)?).await?;
    tracing::info!(addr = %server.local_addr, "API server is serving");
    super::until_signal(server).await
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("1h30m0s"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
    }
}
