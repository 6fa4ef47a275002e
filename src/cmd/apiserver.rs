//! `oxkube apiserver`: the API server alone, with kube-apiserver's flag
//! names, on an embedded store (`--data-dir`) or on etcd (`--etcd-servers`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
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
}

impl ApiFlags {
    pub fn settings(&self) -> apiserver::ApiSettings {
        let range = self
            .service_node_port_range
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .unwrap_or((30000, 32767));
        apiserver::ApiSettings {
            service_cluster_ip_range: self.service_cluster_ip_range.clone(),
            service_node_port_range: range,
            ..Default::default()
        }
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
    let server = apiserver::start(kv, serve, args.api.settings()).await?;
    tracing::info!(addr = %server.local_addr, "API server is serving");
    super::until_signal(server).await
}
