//! First-start PKI for the all-in-one server: a cluster CA, the API server's
//! serving certificate and an admin client certificate (group
//! `system:masters`), plus `admin.kubeconfig`. Files are created once under
//! `<data-dir>/pki/` and reused on every later start.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("pki file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("service account key: {0}")]
    ServiceAccountKey(String),
}

/// Paths of the files `ensure` creates.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub admin_kubeconfig: PathBuf,
    /// The ServiceAccount token signing key (PKCS#8 EC P-256): the API
    /// server's `--service-account-signing-key-file` and `-key-file`.
    pub service_account_key: PathBuf,
}

impl PkiFiles {
    pub fn in_dir(data_dir: &Path) -> Self {
        let pki = data_dir.join("pki");
        PkiFiles {
            ca_cert: pki.join("ca.crt"),
            ca_key: pki.join("ca.key"),
            serving_cert: pki.join("apiserver.crt"),
            serving_key: pki.join("apiserver.key"),
            admin_cert: pki.join("admin.crt"),
            admin_key: pki.join("admin.key"),
            admin_kubeconfig: data_dir.join("admin.kubeconfig"),
            service_account_key: pki.join("sa.key"),
        }
    }
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    fs::write(path, contents).map_err(io)?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

/// Creates whatever of the CA, serving and admin certificates is missing,
/// and (re)writes the admin kubeconfig for `server_url`.
pub fn ensure(
    data_dir: &Path,
    server_url: &str,
    extra_sans: &[String],
) -> Result<PkiFiles, PkiError> {
    let files = PkiFiles::in_dir(data_dir);
    if !files.ca_cert.exists() || !files.ca_key.exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name("oxkube-ca", None);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        (params.not_before, params.not_after) = validity(3650);
        let cert = params.self_signed(&key)?;
        write(&files.ca_key, &key.serialize_pem(), true)?;
        write(&files.ca_cert, &cert.pem(), false)?;
        // A new CA invalidates every leaf it did not sign.
        let _ = fs::remove_file(&files.serving_cert);
        let _ = fs::remove_file(&files.admin_cert);
    }
    let ca_key = KeyPair::from_pem(&read(&files.ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&read(&files.ca_cert)?, ca_key)?;
    if !files.service_account_key.exists() {
        let pem = crate::serviceaccount::keys::SigningKey::generate_pem()
            .map_err(|e| PkiError::ServiceAccountKey(e.to_string()))?;
        write(&files.service_account_key, &pem, true)?;
    }

    if !files.serving_cert.exists() || !files.serving_key.exists() {
        let mut sans = vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            "kubernetes.default.svc.cluster.local".to_string(),
        ];
        if let Ok(host) = hostname()
            && !sans.contains(&host)
        {
            sans.push(host);
        }
        sans.extend(extra_sans.iter().cloned());
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name = name("kube-apiserver", None);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (params.not_before, params.not_after) = validity(365);
        let cert = params.signed_by(&key, &issuer)?;
        write(&files.serving_key, &key.serialize_pem(), true)?;
        write(&files.serving_cert, &cert.pem(), false)?;
    }

    if !files.admin_cert.exists() || !files.admin_key.exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name("kubernetes-admin", Some("system:masters"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        (params.not_before, params.not_after) = validity(365);
        let cert = params.signed_by(&key, &issuer)?;
        write(&files.admin_key, &key.serialize_pem(), true)?;
        write(&files.admin_cert, &cert.pem(), false)?;
    }

    let kubeconfig = kubeconfig(
        server_url,
        &read(&files.ca_cert)?,
        &read(&files.admin_cert)?,
        &read(&files.admin_key)?,
    );
    write(&files.admin_kubeconfig, &kubeconfig, true)?;
    Ok(files)
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        dn.push(DnType::OrganizationName, o);
    }
    dn
}

fn hostname() -> std::io::Result<String> {
    Ok(fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_string())
}

/// A kubeconfig with embedded credentials, the shape kubectl expects.
pub fn kubeconfig(server_url: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: oxkube\n  cluster:\n    server: {server_url}\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: oxkube\n  context:\n    cluster: oxkube\n    user: admin\ncurrent-context: oxkube\n",
        b64(ca_pem),
        b64(cert_pem),
        b64(key_pem)
    )
}

/// From an hour ago (clock skew) to `days` from now.
fn validity(days: i64) -> (time::OffsetDateTime, time::OffsetDateTime) {
    let now = time::OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(1),
        now + time::Duration::days(days),
    )
}

/// A client certificate for a control-plane component (CN `common_name`,
/// e.g. `system:kube-scheduler`, no groups, like kubeadm makes them),
/// signed by the cluster CA that `ensure` created, and a kubeconfig for it
/// at `<data-dir>/<file_stem>.kubeconfig`. The certificate is made once and
/// reused; the kubeconfig is rewritten for `server_url`. Returns the
/// kubeconfig's path.
pub fn ensure_component_kubeconfig(
    data_dir: &Path,
    server_url: &str,
    file_stem: &str,
    common_name: &str,
) -> Result<PathBuf, PkiError> {
    ensure_client_kubeconfig(data_dir, server_url, file_stem, common_name, None)
}

/// The kubelet's client certificate and kubeconfig for node `node_name`:
/// CN `system:node:<name>`, O `system:nodes` (what the Node authorizer
/// expects), at `<data-dir>/node-<name>.kubeconfig`.
pub fn ensure_node_kubeconfig(
    data_dir: &Path,
    server_url: &str,
    node_name: &str,
) -> Result<PathBuf, PkiError> {
    ensure_client_kubeconfig(
        data_dir,
        server_url,
        &format!("node-{node_name}"),
        &format!("system:node:{node_name}"),
        Some("system:nodes"),
    )
}

fn ensure_client_kubeconfig(
    data_dir: &Path,
    server_url: &str,
    file_stem: &str,
    common_name: &str,
    organization: Option<&str>,
) -> Result<PathBuf, PkiError> {
    let files = PkiFiles::in_dir(data_dir);
    let pki = data_dir.join("pki");
    let cert_path = pki.join(format!("{file_stem}.crt"));
    let key_path = pki.join(format!("{file_stem}.key"));
    // A certificate older than the CA was signed by an earlier CA.
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = modified(&cert_path) < modified(&files.ca_cert);
    if stale || !key_path.exists() {
        let ca_key = KeyPair::from_pem(&read(&files.ca_key)?)?;
        let issuer = Issuer::from_ca_cert_pem(&read(&files.ca_cert)?, ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name, organization);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        (params.not_before, params.not_after) = validity(365);
        let cert = params.signed_by(&key, &issuer)?;
        write(&key_path, &key.serialize_pem(), true)?;
        write(&cert_path, &cert.pem(), false)?;
    }
    let path = data_dir.join(format!("{file_stem}.kubeconfig"));
    let kubeconfig = kubeconfig(
        server_url,
        &read(&files.ca_cert)?,
        &read(&cert_path)?,
        &read(&key_path)?,
    );
    write(&path, &kubeconfig, true)?;
    Ok(path)
}

// ---- HA control plane: shared files and the store's peer certificates ----

/// The files, relative to the data dir, that every server of an HA control
/// plane must share (the cluster CA and its key, the store's peer CA and its
/// key): a joining server fetches them from a running server
/// (`crate::join`) before it makes its own certificates. Anything that
/// signs for the whole cluster belongs here.
pub const CLUSTER_SHARED_FILES: &[&str] = &[
    "pki/ca.crt",
    "pki/ca.key",
    "pki/sa.key",
    "pki/peer-ca.crt",
    "pki/peer-ca.key",
];

/// Paths of the store's peer TLS files (`ensure_peer_pki`): a CA of its
/// own, like k3s's etcd peer CA, so a peer certificate is no API
/// credential and an API client certificate is no peer.
#[derive(Debug, Clone)]
pub struct PeerPkiFiles {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl PeerPkiFiles {
    pub fn in_dir(data_dir: &Path) -> Self {
        let pki = data_dir.join("pki");
        PeerPkiFiles {
            ca_cert: pki.join("peer-ca.crt"),
            ca_key: pki.join("peer-ca.key"),
            cert: pki.join("peer.crt"),
            key: pki.join("peer.key"),
        }
    }
}

/// Creates the peer CA when missing (the first server; joiners receive it)
/// and makes this server's peer certificate for `sans` (IP addresses or
/// names), valid for both ends of a peer connection (server and client
/// auth). The certificate is remade at every call, so it always names the
/// current addresses.
pub fn ensure_peer_pki(data_dir: &Path, sans: &[String]) -> Result<PeerPkiFiles, PkiError> {
    let files = PeerPkiFiles::in_dir(data_dir);
    if !files.ca_cert.exists() || !files.ca_key.exists() {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name("oxkube-peer-ca", None);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        (params.not_before, params.not_after) = validity(3650);
        let cert = params.self_signed(&key)?;
        write(&files.ca_key, &key.serialize_pem(), true)?;
        write(&files.ca_cert, &cert.pem(), false)?;
    }
    let ca_key = KeyPair::from_pem(&read(&files.ca_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&read(&files.ca_cert)?, ca_key)?;
    let mut all_sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for san in sans {
        if !all_sans.contains(san) {
            all_sans.push(san.clone());
        }
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(all_sans)?;
    params.distinguished_name = name("oxkube-peer", None);
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    (params.not_before, params.not_after) = validity(365);
    let cert = params.signed_by(&key, &issuer)?;
    write(&files.key, &key.serialize_pem(), true)?;
    write(&files.cert, &cert.pem(), false)?;
    Ok(files)
}

/// Writes one of `CLUSTER_SHARED_FILES` received from another server
/// (keys readable by the owner only). Refuses any other path.
pub fn install_shared_file(
    data_dir: &Path,
    relative: &str,
    contents: &[u8],
) -> Result<(), PkiError> {
    let path = data_dir.join(relative);
    if !CLUSTER_SHARED_FILES.contains(&relative) {
        return Err(PkiError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "not a cluster-shared file",
            ),
        });
    }
    let text = std::str::from_utf8(contents).map_err(|e| PkiError::Io {
        path: path.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    write(&path, text, relative.ends_with(".key"))
}

#[cfg(test)]
mod peer_tests {
    use super::*;

    #[test]
    fn peer_pki_keeps_its_ca_and_remakes_the_leaf() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_peer_pki(dir.path(), &["10.0.0.1".to_string()]).unwrap();
        let ca = fs::read_to_string(&first.ca_cert).unwrap();
        let leaf = fs::read_to_string(&first.cert).unwrap();
        let second = ensure_peer_pki(dir.path(), &["10.0.0.2".to_string()]).unwrap();
        assert_eq!(fs::read_to_string(&second.ca_cert).unwrap(), ca);
        assert_ne!(fs::read_to_string(&second.cert).unwrap(), leaf);
        let pem = fs::read(&second.cert).unwrap();
        let (_, der) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
        let cert = der.parse_x509().unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        let ip = x509_parser::extensions::GeneralName::IPAddress(&[10, 0, 0, 2]);
        assert!(sans.value.general_names.contains(&ip));
    }

    #[test]
    fn only_shared_files_can_be_installed() {
        let dir = tempfile::tempdir().unwrap();
        install_shared_file(dir.path(), "pki/ca.key", b"key").unwrap();
        let mode = fs::metadata(dir.path().join("pki/ca.key")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        assert!(install_shared_file(dir.path(), "../etc/passwd", b"x").is_err());
        assert!(install_shared_file(dir.path(), "admin.kubeconfig", b"x").is_err());
    }
}
