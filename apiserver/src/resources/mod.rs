//! The resource table: every resource the server serves (built-in now, CRDs
//! later), with what discovery, routing, storage and OpenAPI need to know.
//! One generic registry serves every row; per-kind behaviour lives in
//! `strategy/`.

mod builtin;

pub use builtin::builtin_resources;

/// A subresource of a resource (`pods/status`, `deployments/scale`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    /// The path segment after the object name: "status", "scale", "log", ...
    pub name: &'static str,
    /// Kind served by the subresource, with its group/version when it
    /// differs from the parent (scale is `autoscaling/v1` `Scale`).
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub verbs: &'static [&'static str],
}

/// One resource in one group/version, as upstream kube-apiserver 1.33 serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; "" for the legacy core group served under `/api/v1`.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Plural, lower case, as in URLs: "pods", "deployments".
    pub plural: &'static str,
    /// Singular, lower case: "pod".
    pub singular: &'static str,
    pub namespaced: bool,
    /// Verbs in discovery order as upstream lists them, e.g.
    /// ["create","delete","deletecollection","get","list","patch","update","watch"].
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// The etcd key prefix kube-apiserver stores this resource under, without
    /// the leading "/registry/": "pods", "services/specs", "minions",
    /// "deployments", "apiregistration.k8s.io/apiservices".
    pub storage_prefix: &'static str,
    /// True for the group/version upstream stores this resource in
    /// (its storage version); other versions of the same resource share
    /// its storage and are converted.
    pub storage_version: bool,
}

impl ResourceInfo {
    /// "apps/v1", or "v1" for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}
