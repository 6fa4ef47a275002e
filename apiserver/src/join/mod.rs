//! Joining servers to an HA control plane, the k3s way: the first server
//! (`oxkube server --cluster-init`) writes a token
//! `K10<sha256 of the CA>::server:<secret>`; a new server
//! (`--server URL --token ...`) fetches the CA from `/cacerts` without
//! trusting it, checks it against the token's hash, then, over TLS verified
//! with that CA and HTTP basic auth `server:<secret>`, fetches the
//! cluster-wide PKI (`pki::CLUSTER_SHARED_FILES`) from
//! `/v1-oxkube/server-bootstrap` and has itself added to the store as a
//! learner with `POST /v1-oxkube/members`.
//!
//! - `token`: the token's format, its CA hash and secret comparison.
//! - `endpoint`: the routes a running server serves (outside the Kubernetes
//!   API's authentication: the token is the credential).
//! - `client`: the joining side.
//!
//! What it does not own: starting the store member or promoting it (the
//! `oxkube server` command does that through the `Kv` it starts).

pub mod client;
pub mod endpoint;
pub mod token;

pub use client::{JoinClient, JoinError};
pub use endpoint::{JoinConfig, router};
pub use token::{Token, TokenError};

/// The unauthenticated path serving the cluster CA (as k3s).
pub const CACERTS_PATH: &str = "/cacerts";
/// The shared PKI, base64 per file, for a server holding the token.
pub const BOOTSTRAP_PATH: &str = "/v1-oxkube/server-bootstrap";
/// `POST {"peerURLs": [...]}`: adds a store learner with these peer URLs.
pub const MEMBERS_PATH: &str = "/v1-oxkube/members";
/// The user name of a server token's credentials.
pub const SERVER_USER: &str = "server";
