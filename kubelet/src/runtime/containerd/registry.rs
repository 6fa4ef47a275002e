//! A client of the OCI distribution API (what `docker pull` and containerd
//! speak to registries): GETs of manifests and blobs, with the registry's
//! authentication (anonymous or basic Bearer-token exchange per
//! `WWW-Authenticate`, or Basic), redirects followed, and HTTPS with the
//! system's roots, except for registries on `localhost`/loopback, which are
//! plain HTTP (containerd's default for them).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Largest manifest, config or layer the kubelet downloads (1 GiB).
const MAX_BLOB: usize = 1 << 30;
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid reference {0:?}")]
    Reference(String),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: unexpected status {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{url}: authorization failed: {message}")]
    Unauthorized { url: String, message: String },
    #[error("{what}: digest mismatch (want {want}, got {got})")]
    Digest {
        what: String,
        want: String,
        got: String,
    },
}

/// A reference split for the distribution API:
/// `docker.io/library/busybox:latest` → host `registry-1.docker.io`,
/// repository `library/busybox`, reference `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry as written in image names (`docker.io`, `host:5000`).
    pub domain: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl ImageRef {
    /// Parses a normalised reference (`image::normalize`).
    pub fn parse(normalized: &str) -> Result<ImageRef, RegistryError> {
        let bad = || RegistryError::Reference(normalized.to_string());
        let (domain, rest) = normalized.split_once('/').ok_or_else(bad)?;
        let (repository, reference) = match rest.split_once('@') {
            Some((repo, digest)) => (repo.to_string(), digest.to_string()),
            None => {
                let (repo, tag) = rest.rsplit_once(':').ok_or_else(bad)?;
                (repo.to_string(), tag.to_string())
            }
        };
        if repository.is_empty() || reference.is_empty() {
            return Err(bad());
        }
        // `repo:tag@digest`: the digest wins.
        let repository = match repository.rsplit_once(':') {
            Some((repo, _)) if reference.starts_with("sha256:") => repo.to_string(),
            _ => repository,
        };
        Ok(ImageRef {
            domain: domain.to_string(),
            repository,
            reference,
        })
    }

    /// Where the registry answers: Docker Hub's API host for `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.domain
        }
    }

    fn scheme(&self) -> &'static str {
        let host = self
            .domain
            .rsplit_once(':')
            .map_or(self.domain.as_str(), |(h, _)| h);
        if matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.starts_with("127.") {
            "http"
        } else {
            "https"
        }
    }

    pub fn url(&self, kind: &str, reference: &str) -> String {
        format!(
            "{}://{}/v2/{}/{kind}/{reference}",
            self.scheme(),
            self.api_host(),
            self.repository
        )
    }
}

/// A username and password for one registry (from a pod's
/// `imagePullSecrets`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Credentials per registry domain from `.dockerconfigjson` /
/// `.dockercfg` secret data (`auths` keys may be URLs or host names).
pub fn credentials_from_docker_config(data: &[u8]) -> BTreeMap<String, Credentials> {
    let Ok(config) = serde_json::from_slice::<Value>(data) else {
        return BTreeMap::new();
    };
    let auths = config.get("auths").unwrap_or(&config);
    let Some(auths) = auths.as_object() else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for (key, entry) in auths {
        let text = |f: &str| entry.get(f).and_then(Value::as_str).unwrap_or_default();
        let (mut username, mut password) =
            (text("username").to_string(), text("password").to_string());
        if username.is_empty()
            && let Some((u, p)) = base64::engine::general_purpose::STANDARD
                .decode(text("auth"))
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                })
        {
            username = u;
            password = p;
        }
        if username.is_empty() {
            continue;
        }
        let domain = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let domain = match domain {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            d => d,
        };
        out.insert(domain.to_string(), Credentials { username, password });
    }
    out
}

/// One registry session: remembers the token it was given.
pub struct RegistryClient {
    image: ImageRef,
    credentials: Option<Credentials>,
    authorization: Option<String>,
    tls: Arc<rustls::ClientConfig>,
}

impl RegistryClient {
    pub fn new(image: ImageRef, credentials: Option<Credentials>) -> RegistryClient {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        RegistryClient {
            image,
            credentials,
            authorization: None,
            tls: Arc::new(tls),
        }
    }

    pub fn image(&self) -> &ImageRef {
        &self.image
    }

    /// GETs `url` with `accept`, authenticating on a 401 challenge.
    pub async fn get(
        &mut self,
        url: &str,
        accept: &str,
    ) -> Result<(HeaderMap, Bytes), RegistryError> {
        let first = self.fetch(url, accept, self.authorization.clone()).await?;
        let (status, headers, body) = if first.0 == StatusCode::UNAUTHORIZED {
            let challenge = first
                .1
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            self.authorization = Some(self.authorize(url, &challenge).await?);
            self.fetch(url, accept, self.authorization.clone()).await?
        } else {
            first
        };
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Unauthorized {
                url: url.into(),
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
        }
        if !status.is_success() {
            return Err(RegistryError::Status {
                url: url.into(),
                status,
                body: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
        }
        Ok((headers, body))
    }

    /// The `Authorization` value answering `challenge` (RFC 6750 Bearer
    /// with a token from the realm, or Basic).
    async fn authorize(&self, url: &str, challenge: &str) -> Result<String, RegistryError> {
        let fail = |message: String| RegistryError::Unauthorized {
            url: url.into(),
            message,
        };
        let basic = self.credentials.as_ref().map(|c| {
            let pair = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return basic.ok_or_else(|| fail("the registry wants credentials".into()));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(fail(format!("unsupported challenge {challenge:?}")));
        }
        let params = challenge_params(params);
        let realm = params
            .get("realm")
            .ok_or_else(|| fail("Bearer challenge without realm".into()))?;
        let mut query = Vec::new();
        if let Some(service) = params.get("service") {
            query.push(format!("service={}", encode(service)));
        }
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", self.image.repository));
        query.push(format!("scope={}", encode(&scope)));
        let token_url = format!("{realm}?{}", query.join("&"));
        let (status, _, body) = self.fetch(&token_url, "application/json", basic).await?;
        if !status.is_success() {
            return Err(fail(format!("token endpoint answered {status}")));
        }
        let answer: Value = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("token endpoint answer: {e}")))?;
        let token = answer
            .get("token")
            .or_else(|| answer.get("access_token"))
            .and_then(Value::as_str)
            .ok_or_else(|| fail("token endpoint answered no token".into()))?;
        Ok(format!("Bearer {token}"))
    }

    /// One GET, following redirects (without the registry's authorization
    /// when they leave its host, as storage backends sign their own URLs).
    async fn fetch(
        &self,
        url: &str,
        accept: &str,
        authorization: Option<String>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let mut url = url.to_string();
        let origin = host_of(&url);
        for _ in 0..=MAX_REDIRECTS {
            let auth = authorization.as_ref().filter(|_| host_of(&url) == origin);
            let (status, headers, body) = self.once(&url, accept, auth).await?;
            if status.is_redirection()
                && let Some(location) = headers.get(header::LOCATION).and_then(|l| l.to_str().ok())
            {
                url = resolve(&url, location);
                continue;
            }
            return Ok((status, headers, body));
        }
        Err(RegistryError::Http {
            url,
            message: "too many redirects".into(),
        })
    }

    async fn once(
        &self,
        url: &str,
        accept: &str,
        authorization: Option<&String>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        let err = |message: String| RegistryError::Http {
            url: url.to_string(),
            message,
        };
        let uri: Uri = url.parse().map_err(|e| err(format!("{e}")))?;
        let host = uri.host().ok_or_else(|| err("no host".into()))?.to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| err(format!("connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = Request::builder()
            .method(Method::GET)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(header::HOST, uri.authority().map_or("", |a| a.as_str()))
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, "oxkube-kubelet");
        if let Some(a) = authorization
            && let Ok(v) = HeaderValue::from_str(a)
        {
            builder = builder.header(header::AUTHORIZATION, v);
        }
        let request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|e| err(e.to_string()))?;
        let response = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| err(format!("server name: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("TLS: {e}")))?;
            send(TokioIo::new(tls), request).await
        } else {
            send(TokioIo::new(tcp), request).await
        }
        .map_err(err)?;
        Ok(response)
    }
}

async fn send<T>(
    io: T,
    request: Request<Empty<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (parts, body) = response.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BLOB);
    let body = limited
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

fn host_of(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// `location` against `base` (absolute URLs, or absolute paths).
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    match base.parse::<Uri>() {
        Ok(u) => format!(
            "{}://{}{location}",
            u.scheme_str().unwrap_or("https"),
            u.authority().map_or("", |a| a.as_str())
        ),
        Err(_) => location.to_string(),
    }
}

/// `realm="https://auth",service="registry",scope="repository:x:pull"`.
fn challenge_params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((v, r)) => (v.to_string(), r),
                None => (quoted.to_string(), ""),
            }
        } else {
            match after.split_once(',') {
                Some((v, r)) => (v.trim().to_string(), r),
                None => (after.trim().to_string(), ""),
            }
        };
        out.insert(key, value);
        rest = remaining.trim_start_matches(',').trim();
    }
    out
}

/// Percent-encoding of a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = ImageRef::parse("docker.io/library/busybox:1.36").unwrap();
        assert_eq!(
            (r.api_host(), r.repository.as_str(), r.reference.as_str()),
            ("registry-1.docker.io", "library/busybox", "1.36")
        );
        assert_eq!(
            r.url("manifests", "1.36"),
            "https://registry-1.docker.io/v2/library/busybox/manifests/1.36"
        );
        let local = ImageRef::parse("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(
            local.url("blobs", "sha256:ab"),
            "http://127.0.0.1:5000/v2/team/app/blobs/sha256:ab"
        );
        let pinned = ImageRef::parse("quay.io/a/b:v1@sha256:0123").unwrap();
        assert_eq!(
            (pinned.repository.as_str(), pinned.reference.as_str()),
            ("a/b", "sha256:0123")
        );
        assert!(ImageRef::parse("nothing").is_err());
    }

    #[test]
    fn bearer_challenge() {
        let p = challenge_params(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/busybox:pull");
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }

    #[test]
    fn docker_config_credentials() {
        let auth = base64::engine::general_purpose::STANDARD.encode("bob:secret");
        let data = format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}}, "127.0.0.1:5000": {{"username": "u", "password": "p"}}}}}}"#
        );
        let creds = credentials_from_docker_config(data.as_bytes());
        assert_eq!(creds["docker.io"].username, "bob");
        assert_eq!(creds["docker.io"].password, "secret");
        assert_eq!(creds["127.0.0.1:5000"].password, "p");
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(
            resolve("https://r.io/v2/a/blobs/x", "/store/x?sig=1"),
            "https://r.io/store/x?sig=1"
        );
        assert_eq!(
            resolve("https://r.io/v2", "https://cdn.io/y"),
            "https://cdn.io/y"
        );
    }
}
