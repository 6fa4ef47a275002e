//! discovery.k8s.io EndpointSlice and networking.k8s.io Ingress: upstream's
//! validation (`pkg/apis/discovery/validation`,
//! `pkg/apis/networking/validation`) with its field paths and messages.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::Strategy;
use super::common::{duplicate, go_quote, str_at};
use crate::error::Cause;
use crate::validation::{
    dns1123_label, dns1123_subdomain, invalid, not_supported, qualified_name, required,
};

pub struct EndpointSliceStrategy;
pub struct IngressStrategy;

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;

fn items<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn too_many(field: &str, got: usize, max: usize) -> Cause {
    Cause {
        reason: "FieldValueTooMany",
        message: format!("Too many: {got}: must have at most {max} items"),
        field: field.to_string(),
    }
}

// ------------------------------------------------------------ EndpointSlice

/// `IsValidIPv4Address`/`IsValidIPv6Address`: the family must match.
fn address_errors(address_type: &str, address: &str) -> Vec<String> {
    match address_type {
        "IPv4" if address.parse::<Ipv4Addr>().is_err() => {
            vec!["must be a valid IPv4 address".to_string()]
        }
        "IPv6" if address.parse::<Ipv6Addr>().is_err() => {
            vec!["must be a valid IPv6 address".to_string()]
        }
        "FQDN" => fqdn_errors(address),
        _ => Vec::new(),
    }
}

/// `IsFullyQualifiedDomainName`: a subdomain with at least two labels.
fn fqdn_errors(name: &str) -> Vec<String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return vec!["Required value".to_string()];
    }
    let mut errs = dns1123_subdomain(name);
    if errs.is_empty() && !name.contains('.') {
        errs.push("should be a domain with at least two segments separated by dots".to_string());
    }
    errs
}

fn validate_endpoint_slice(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let address_type = obj.get("addressType").cloned().unwrap_or(Value::Null);
    let address_type_str = address_type.as_str().unwrap_or_default();
    if address_type_str.is_empty() {
        causes.push(required("addressType", ""));
    } else if !ADDRESS_TYPES.contains(&address_type_str) {
        causes.push(not_supported("addressType", &address_type, ADDRESS_TYPES));
    }

    let endpoints = items(obj, "/endpoints");
    if endpoints.len() > MAX_ENDPOINTS {
        causes.push(too_many("endpoints", endpoints.len(), MAX_ENDPOINTS));
    }
    for (i, endpoint) in endpoints.iter().enumerate() {
        let path = format!("endpoints[{i}]");
        let addresses = items(endpoint, "/addresses");
        if addresses.is_empty() {
            causes.push(required(
                &format!("{path}.addresses"),
                "must contain at least 1 address",
            ));
        } else if addresses.len() > MAX_ADDRESSES {
            causes.push(too_many(
                &format!("{path}.addresses"),
                addresses.len(),
                MAX_ADDRESSES,
            ));
        }
        for (j, address) in addresses.iter().enumerate() {
            let text = address.as_str().unwrap_or_default();
            for e in address_errors(address_type_str, text) {
                causes.push(invalid(&format!("{path}.addresses[{j}]"), address, &e));
            }
        }
        let node_name = str_at(endpoint, "/nodeName");
        if !node_name.is_empty() {
            for e in dns1123_subdomain(node_name) {
                causes.push(invalid(&format!("{path}.nodeName"), &json!(node_name), &e));
            }
        }
        let hostname = str_at(endpoint, "/hostname");
        if !hostname.is_empty() {
            for e in dns1123_label(hostname) {
                causes.push(invalid(&format!("{path}.hostname"), &json!(hostname), &e));
            }
        }
    }

    let ports = items(obj, "/ports");
    if ports.len() > MAX_PORTS {
        causes.push(too_many("ports", ports.len(), MAX_PORTS));
    }
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let path = format!("ports[{i}]");
        let name = str_at(port, "/name");
        if !name.is_empty() {
            for e in dns1123_label(name) {
                causes.push(invalid(&format!("{path}.name"), &json!(name), &e));
            }
        }
        if !names.insert(name.to_string()) {
            causes.push(duplicate(&format!("{path}.name"), go_quote(name)));
        }
        match port.get("protocol") {
            None | Some(Value::Null) => causes.push(required(&format!("{path}.protocol"), "")),
            Some(p) if !PROTOCOLS.contains(&p.as_str().unwrap_or_default()) => {
                causes.push(not_supported(&format!("{path}.protocol"), p, PROTOCOLS))
            }
            Some(_) => {}
        }
        if let Some(number) = port.get("port").and_then(Value::as_i64)
            && !(0..=65535).contains(&number)
        {
            causes.push(invalid(
                &format!("{path}.port"),
                &json!(number),
                "must be between 0 and 65535, inclusive",
            ));
        }
        let app_protocol = str_at(port, "/appProtocol");
        if !app_protocol.is_empty() {
            for e in qualified_name(app_protocol) {
                causes.push(invalid(
                    &format!("{path}.appProtocol"),
                    &json!(app_protocol),
                    &e,
                ));
            }
        }
    }
    causes
}

impl Strategy for EndpointSliceStrategy {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_endpoint_slice(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = validate_endpoint_slice(new);
        if new.get("addressType") != old.get("addressType") {
            causes.push(invalid(
                "addressType",
                new.get("addressType").unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
        causes
    }
}

// ------------------------------------------------------------------ Ingress

static WILDCARD_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("static regex")
});

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];

/// A rule or TLS host: a DNS subdomain or a `*.` wildcard one, never an IP.
fn host_errors(host: &str) -> Vec<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return vec!["must be a DNS name, not an IP address".to_string()];
    }
    if host.contains('*') {
        let mut errs = Vec::new();
        if host.len() > 253 {
            errs.push("must be no more than 253 characters".to_string());
        }
        if !WILDCARD_SUBDOMAIN.is_match(host) {
            errs.push("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
        }
        return errs;
    }
    dns1123_subdomain(host)
}

fn validate_backend(backend: &Value, path: &str, causes: &mut Vec<Cause>) {
    let service = backend.get("service").filter(|s| !s.is_null());
    let resource = backend.get("resource").filter(|r| !r.is_null());
    match (service, resource) {
        (Some(_), Some(_)) => causes.push(invalid(
            path,
            &json!(""),
            "cannot set both resource and service backends",
        )),
        (None, None) => causes.push(invalid(
            path,
            &json!(""),
            "resource or service backend is required",
        )),
        (Some(service), None) => {
            let name = str_at(service, "/name");
            if name.is_empty() {
                causes.push(required(&format!("{path}.service.name"), ""));
            } else {
                for e in crate::validation::dns1035_label(name) {
                    causes.push(invalid(&format!("{path}.service.name"), &json!(name), &e));
                }
            }
            let port = service.get("port").cloned().unwrap_or(Value::Null);
            let port_name = str_at(&port, "/name");
            let port_number = port.get("number").and_then(Value::as_i64).unwrap_or(0);
            let port_path = format!("{path}.service.port");
            match (port_name.is_empty(), port_number == 0) {
                (false, false) => causes.push(invalid(
                    &port_path,
                    &json!(port_name),
                    "cannot set both port name & port number",
                )),
                (true, true) => {
                    causes.push(required(&port_path, "port name or number is required"))
                }
                (false, true) => {
                    for e in crate::validation::dns1035_label(port_name)
                        .into_iter()
                        .take(1)
                    {
                        causes.push(invalid(&format!("{port_path}.name"), &json!(port_name), &e));
                    }
                }
                (true, false) => {
                    if !(1..=65535).contains(&port_number) {
                        causes.push(invalid(
                            &format!("{port_path}.number"),
                            &json!(port_number),
                            "must be between 1 and 65535, inclusive",
                        ));
                    }
                }
            }
        }
        (None, Some(resource)) => {
            if str_at(resource, "/kind").is_empty() {
                causes.push(required(&format!("{path}.resource.kind"), ""));
            }
            if str_at(resource, "/name").is_empty() {
                causes.push(required(&format!("{path}.resource.name"), ""));
            }
        }
    }
}

fn validate_http_path(p: &Value, path: &str, causes: &mut Vec<Cause>) {
    let path_type = p.get("pathType").cloned().unwrap_or(Value::Null);
    let route = str_at(p, "/path");
    match path_type.as_str() {
        None | Some("") => causes.push(required(
            &format!("{path}.pathType"),
            "pathType must be specified",
        )),
        Some("Exact" | "Prefix") => {
            if !route.starts_with('/') {
                causes.push(invalid(
                    &format!("{path}.path"),
                    &json!(route),
                    "must be an absolute path",
                ));
            }
            for bad in ["//", "/./", "/../", "%2f", "%2F"] {
                if route.contains(bad) {
                    causes.push(invalid(
                        &format!("{path}.path"),
                        &json!(route),
                        &format!("must not contain '{bad}'"),
                    ));
                }
            }
        }
        Some("ImplementationSpecific") => {
            if !route.is_empty() && !route.starts_with('/') {
                causes.push(invalid(
                    &format!("{path}.path"),
                    &json!(route),
                    "must be an absolute path",
                ));
            }
        }
        Some(_) => causes.push(not_supported(
            &format!("{path}.pathType"),
            &path_type,
            PATH_TYPES,
        )),
    }
    validate_backend(
        p.get("backend").unwrap_or(&Value::Null),
        &format!("{path}.backend"),
        causes,
    );
}

fn validate_ingress(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let rules = items(obj, "/spec/rules");
    let default_backend = obj.pointer("/spec/defaultBackend").filter(|b| !b.is_null());
    if rules.is_empty() && default_backend.is_none() {
        causes.push(invalid(
            "spec.rules",
            &json!("[]"),
            "either `defaultBackend` or `rules` must be specified",
        ));
    }
    if let Some(backend) = default_backend {
        validate_backend(backend, "spec.defaultBackend", &mut causes);
    }
    for (i, rule) in rules.iter().enumerate() {
        let path = format!("spec.rules[{i}]");
        let host = str_at(rule, "/host");
        if !host.is_empty() {
            for e in host_errors(host) {
                causes.push(invalid(&format!("{path}.host"), &json!(host), &e));
            }
        }
        if let Some(http) = rule.get("http").filter(|h| !h.is_null()) {
            let paths = items(http, "/paths");
            if paths.is_empty() {
                causes.push(required(&format!("{path}.http.paths"), ""));
            }
            for (j, p) in paths.iter().enumerate() {
                validate_http_path(p, &format!("{path}.http.paths[{j}]"), &mut causes);
            }
        }
    }
    for (i, tls) in items(obj, "/spec/tls").iter().enumerate() {
        for (j, host) in items(tls, "/hosts").iter().enumerate() {
            let host = host.as_str().unwrap_or_default();
            for e in host_errors(host) {
                causes.push(invalid(
                    &format!("spec.tls[{i}].hosts[{j}]"),
                    &json!(host),
                    &e,
                ));
            }
        }
    }
    let class = str_at(obj, "/spec/ingressClassName");
    if !class.is_empty() {
        for e in dns1123_subdomain(class) {
            causes.push(invalid("spec.ingressClassName", &json!(class), &e));
        }
    }
    causes
}

impl Strategy for IngressStrategy {
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_ingress(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(address_type: &str, address: &str) -> Value {
        json!({
            "addressType": address_type,
            "endpoints": [{"addresses": [address], "conditions": {"ready": true}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
        })
    }

    fn fields(causes: &[Cause]) -> Vec<(&str, &str)> {
        causes
            .iter()
            .map(|c| (c.field.as_str(), c.message.as_str()))
            .collect()
    }

    #[test]
    fn endpoint_slice_address_type_and_addresses() {
        assert!(validate_endpoint_slice(&slice("IPv4", "10.0.0.1")).is_empty());
        assert!(validate_endpoint_slice(&slice("IPv6", "fd00::1")).is_empty());
        assert!(validate_endpoint_slice(&slice("FQDN", "example.com")).is_empty());
        assert_eq!(
            fields(&validate_endpoint_slice(&slice("IPv5", "10.0.0.1"))),
            [(
                "addressType",
                "Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""
            )]
        );
        assert_eq!(
            fields(&validate_endpoint_slice(&slice("IPv4", "not-an-ip"))),
            [(
                "endpoints[0].addresses[0]",
                "Invalid value: \"not-an-ip\": must be a valid IPv4 address"
            )]
        );
        assert_eq!(
            fields(&validate_endpoint_slice(&slice("IPv6", "10.0.0.1"))),
            [(
                "endpoints[0].addresses[0]",
                "Invalid value: \"10.0.0.1\": must be a valid IPv6 address"
            )]
        );
    }

    #[test]
    fn endpoint_slice_address_type_is_immutable() {
        let causes = EndpointSliceStrategy
            .validate_update(&slice("IPv6", "fd00::1"), &slice("IPv4", "1.1.1.1"));
        assert_eq!(
            fields(&causes),
            [("addressType", "Invalid value: \"IPv6\": field is immutable")]
        );
    }

    fn ingress(host: &str) -> Value {
        json!({"spec": {"rules": [{"host": host, "http": {"paths": [{
            "path": "/foo", "pathType": "Prefix",
            "backend": {"service": {"name": "svc", "port": {"number": 80}}}
        }]}}]}})
    }

    #[test]
    fn ingress_hosts() {
        assert!(validate_ingress(&ingress("foo.bar.com")).is_empty());
        assert!(validate_ingress(&ingress("*.bar.com")).is_empty());
        let causes = validate_ingress(&ingress("*.*.example.com"));
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.rules[0].host");
        assert!(causes[0].message.starts_with(
            "Invalid value: \"*.*.example.com\": a wildcard DNS-1123 subdomain must start with '*.'"
        ));
        assert_eq!(
            fields(&validate_ingress(&ingress("1.2.3.4"))),
            [(
                "spec.rules[0].host",
                "Invalid value: \"1.2.3.4\": must be a DNS name, not an IP address"
            )]
        );
    }

    #[test]
    fn ingress_paths_and_backends() {
        let mut obj = ingress("a.example.com");
        obj["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = Value::Null;
        assert_eq!(
            fields(&validate_ingress(&obj)),
            [(
                "spec.rules[0].http.paths[0].pathType",
                "Required value: pathType must be specified"
            )]
        );
        let mut obj = ingress("a.example.com");
        obj["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("foo");
        assert_eq!(
            fields(&validate_ingress(&obj)),
            [(
                "spec.rules[0].http.paths[0].path",
                "Invalid value: \"foo\": must be an absolute path"
            )]
        );
        assert_eq!(
            fields(&validate_ingress(&json!({"spec": {}}))),
            [(
                "spec.rules",
                "Invalid value: \"[]\": either `defaultBackend` or `rules` must be specified"
            )]
        );
    }
}
