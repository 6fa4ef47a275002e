//! Server TLS from etcd's flags: `--cert-file`/`--key-file` (PEM), and with
//! `--trusted-ca-file` client certificates signed by that CA, required when
//! `--client-cert-auth` is set and accepted but optional otherwise. rustls
//! (ring) underneath, through tonic's `ServerTlsConfig`.

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The TLS files and policy of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub trusted_ca_file: Option<PathBuf>,
    pub client_cert_auth: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--client-cert-auth needs --trusted-ca-file to verify client certificates")]
    ClientAuthWithoutCa,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl TlsFiles {
    /// The calling side with the same files (peer traffic): the CA verifies
    /// the server, the certificate is this side's client identity.
    pub fn client_config(&self) -> Result<ClientTlsConfig, TlsError> {
        let identity = Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?);
        let mut config = ClientTlsConfig::new().identity(identity);
        if let Some(ca) = &self.trusted_ca_file {
            config = config.ca_certificate(Certificate::from_pem(read(ca)?));
        }
        Ok(config)
    }

    pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
        let identity = Identity::from_pem(read(&self.cert_file)?, read(&self.key_file)?);
        let mut config = ServerTlsConfig::new().identity(identity);
        match &self.trusted_ca_file {
            Some(ca) => {
                config = config
                    .client_ca_root(Certificate::from_pem(read(ca)?))
                    .client_auth_optional(!self.client_cert_auth);
            }
            None if self.client_cert_auth => return Err(TlsError::ClientAuthWithoutCa),
            None => {}
        }
        Ok(config)
    }
}
