//! Parses a resource request path into what it addresses (upstream's
//! `RequestInfoFactory`): group, version, namespace, resource, name,
//! subresource, and the verb from the method and query.

use http::Method;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Upstream verb: get, list, watch, create, update, patch, delete,
    /// deletecollection.
    pub verb: &'static str,
}

/// Parses `/api/v1/...` or `/apis/<group>/<version>/...`. Returns None for
/// paths that are not resource paths (discovery documents and the like).
pub fn parse(method: &Method, path: &str, watch_param: bool) -> Option<RequestInfo> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let mut rest: Vec<&str> = rest.to_vec();
    if rest.is_empty() || rest.iter().any(|s| s.is_empty()) {
        return None;
    }
    // The deprecated `/watch/` prefix form.
    let mut watch = watch_param;
    if rest[0] == "watch" {
        watch = true;
        rest.remove(0);
        if rest.is_empty() {
            return None;
        }
    }
    let mut info = RequestInfo {
        group: group.to_string(),
        version: version.to_string(),
        ..Default::default()
    };
    // namespaces/<ns>/<resource>... addresses namespaced resources;
    // namespaces/<ns>[/status|/finalize] addresses the namespace itself.
    let tail: Vec<&str> = if rest[0] == "namespaces"
        && rest.len() >= 3
        && !matches!(rest[2], "status" | "finalize")
    {
        info.namespace = Some(rest[1].to_string());
        rest[2..].to_vec()
    } else {
        rest
    };
    info.resource = tail[0].to_string();
    if tail.len() >= 2 {
        info.name = Some(tail[1].to_string());
    }
    if tail.len() >= 3 {
        info.subresource = Some(tail[2..].join("/"));
    }
    info.verb = match (method.as_str(), info.name.is_some()) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    };
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_object() {
        let i = parse(&Method::GET, "/api/v1/namespaces/default/pods/web", false).unwrap();
        assert_eq!(i.namespace.as_deref(), Some("default"));
        assert_eq!(i.resource, "pods");
        assert_eq!(i.name.as_deref(), Some("web"));
        assert_eq!(i.verb, "get");
    }

    #[test]
    fn namespace_itself_and_its_subresource() {
        let i = parse(&Method::GET, "/api/v1/namespaces/default", false).unwrap();
        assert_eq!(
            (i.resource.as_str(), i.name.as_deref()),
            ("namespaces", Some("default"))
        );
        assert_eq!(i.namespace, None);
        let i = parse(&Method::PUT, "/api/v1/namespaces/x/finalize", false).unwrap();
        assert_eq!(i.namespace, None);
        assert_eq!(
            (i.resource.as_str(), i.name.as_deref()),
            ("namespaces", Some("x"))
        );
        assert_eq!(i.subresource.as_deref(), Some("finalize"));
    }

    #[test]
    fn group_list_watch_and_subresource() {
        let i = parse(&Method::GET, "/apis/apps/v1/deployments", true).unwrap();
        assert_eq!((i.group.as_str(), i.verb), ("apps", "watch"));
        let i = parse(&Method::GET, "/api/v1/watch/namespaces/a/pods", false).unwrap();
        assert_eq!((i.verb, i.namespace.as_deref()), ("watch", Some("a")));
        let i = parse(
            &Method::PUT,
            "/apis/apps/v1/namespaces/a/deployments/d/scale",
            false,
        )
        .unwrap();
        assert_eq!(i.subresource.as_deref(), Some("scale"));
        let i = parse(&Method::DELETE, "/api/v1/namespaces/a/configmaps", false).unwrap();
        assert_eq!(i.verb, "deletecollection");
    }
}
