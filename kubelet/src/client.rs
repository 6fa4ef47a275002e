//! A `kube::Client` from a kubeconfig file (`--kubeconfig`).

use std::path::Path;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{KubeletError, Result};

pub async fn from_kubeconfig(path: &Path) -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .map_err(|e| KubeletError::Kubeconfig(format!("{}: {e}", path.display())))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| KubeletError::Kubeconfig(format!("{}: {e}", path.display())))?;
    Client::try_from(config).map_err(KubeletError::Api)
}
