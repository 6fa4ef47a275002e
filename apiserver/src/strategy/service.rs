//! core/v1 Service: upstream's v1 defaults, clusterIP/clusterIPs and IP
//! family normalisation, `ValidateService`/`ValidateServiceUpdate` with
//! their messages, the update rules that keep allocated values
//! (patchAllocatedValues) and drop type-dependent ones, and the
//! `spec.clusterIP`/`spec.type` field selectors. Allocation of cluster IPs
//! and node ports lives in `service_alloc`, owned by the server.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::common::{
    default_if_missing, duplicate, go_int_or_string, go_quote, go_string_slice, i64_at, invalid_go,
    object_at, str_at, validate_labels,
};
use super::{NameRule, Strategy, pointer_str};
use crate::error::Cause;
use crate::validation::{
    dns1035_label, dns1123_label, dns1123_subdomain, forbidden, invalid, not_supported,
    qualified_name, required,
};

pub struct ServiceStrategy;

pub(crate) fn svc_type(svc: &Value) -> &str {
    match str_at(svc, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    }
}

pub(crate) fn needs_cluster_ip(svc: &Value) -> bool {
    svc_type(svc) != "ExternalName"
}

pub(crate) fn needs_node_port(svc: &Value) -> bool {
    matches!(svc_type(svc), "NodePort" | "LoadBalancer")
}

pub(crate) fn is_headless(svc: &Value) -> bool {
    svc.pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 1 && a[0] == "None")
}

fn externally_accessible(svc: &Value) -> bool {
    match svc_type(svc) {
        "NodePort" | "LoadBalancer" => true,
        "ClusterIP" => svc
            .pointer("/spec/externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()),
        _ => false,
    }
}

/// LoadBalancer with externalTrafficPolicy Local.
pub(crate) fn needs_health_check(svc: &Value) -> bool {
    svc_type(svc) == "LoadBalancer" && str_at(svc, "/spec/externalTrafficPolicy") == "Local"
}

pub(crate) fn family_of(ip: &str) -> Option<&'static str> {
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => Some("IPv4"),
        IpAddr::V6(_) => Some("IPv6"),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// SetDefaults_Service.
fn default_service(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    if str_at(spec, "/sessionAffinity").is_empty() {
        spec["sessionAffinity"] = json!("None");
    }
    match str_at(spec, "/sessionAffinity") {
        "None" => {
            if let Some(m) = spec.as_object_mut() {
                m.remove("sessionAffinityConfig");
            }
        }
        "ClientIP"
            if spec
                .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
                .is_none_or(Value::is_null) =>
        {
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 10800}});
        }
        _ => {}
    }
    if str_at(spec, "/type").is_empty() {
        spec["type"] = json!("ClusterIP");
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter(|p| p.is_object()) {
            if str_at(p, "/protocol").is_empty() {
                p["protocol"] = json!("TCP");
            }
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.is_empty(),
                Some(v) => v.as_i64() == Some(0),
            };
            if unset {
                p["targetPort"] = p.get("port").cloned().unwrap_or(json!(0));
            }
        }
    }
    let accessible = externally_accessible(obj);
    let spec = object_at(obj, "spec");
    if accessible && str_at(spec, "/externalTrafficPolicy").is_empty() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    let t = str_at(spec, "/type").to_string();
    if matches!(t.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default_if_missing(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if t == "LoadBalancer" {
        default_if_missing(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// Keeps clusterIP and clusterIPs[0] in step (the strategy's normalizeClusterIPs).
fn normalize_cluster_ips(obj: &mut Value) {
    let spec = object_at(obj, "spec");
    let ip = str_at(spec, "/clusterIP").to_string();
    let ips = strings(spec.get("clusterIPs"));
    if ips.is_empty() && !ip.is_empty() {
        spec["clusterIPs"] = json!([ip]);
    } else if ip.is_empty() && !ips.is_empty() {
        spec["clusterIP"] = json!(ips[0]);
    }
}

/// ipFamilyPolicy and ipFamilies for a cluster whose service family is
/// `default_family` (upstream's initIPFamilyFields for single-stack).
pub(crate) fn init_ip_families(obj: &mut Value, default_family: &str) {
    if !needs_cluster_ip(obj) {
        return;
    }
    let headless = is_headless(obj);
    let selectorless = obj
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .is_none_or(|m| m.is_empty());
    let ips = strings(obj.pointer("/spec/clusterIPs"));
    let spec = object_at(obj, "spec");
    let mut families = strings(spec.get("ipFamilies"));
    if headless && selectorless {
        default_if_missing(spec, "ipFamilyPolicy", json!("RequireDualStack"));
        if families.is_empty() {
            families.push(default_family.to_string());
        }
        if families.len() < 2 && str_at(spec, "/ipFamilyPolicy") != "SingleStack" {
            let alt = if families[0] == "IPv4" {
                "IPv6"
            } else {
                "IPv4"
            };
            families.push(alt.to_string());
        }
        spec["ipFamilies"] = json!(families);
        return;
    }
    default_if_missing(spec, "ipFamilyPolicy", json!("SingleStack"));
    if families.is_empty() {
        for ip in ips.iter().filter(|ip| ip.as_str() != "None") {
            if let Some(f) = family_of(ip) {
                families.push(f.to_string());
            }
        }
        if families.is_empty() {
            families.push(default_family.to_string());
        }
        spec["ipFamilies"] = json!(families);
    }
}

/// The v1 `ServicePort` key of a duplicate port, as `%#v` prints it.
fn go_service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:{}, NodePort:0}}",
        go_quote(protocol),
        go_int_or_string(&json!(0))
    )
}

fn valid_port_num(p: i64) -> bool {
    (1..=65535).contains(&p)
}

const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

/// `IsValidPortName` messages.
fn port_name_errors(name: &str) -> Vec<&'static str> {
    let mut errs = Vec::new();
    if name.len() > 15 {
        errs.push("must be no more than 15 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)");
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens");
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen");
    }
    errs
}

fn valid_ip_msg() -> &'static str {
    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
}

fn validate_cluster_ips_related(svc: &Value, causes: &mut Vec<Cause>) {
    if !needs_cluster_ip(svc) {
        return;
    }
    let spec = svc.get("spec").unwrap_or(&Value::Null);
    let ip = str_at(spec, "/clusterIP");
    let ips_v = spec.get("clusterIPs");
    let ips = strings(ips_v);
    if !ip.is_empty() {
        if ips.is_empty() {
            causes.push(required("spec.clusterIPs", ""));
        } else if ips[0] != ip {
            causes.push(invalid_go(
                "spec.clusterIPs",
                go_string_slice(ips_v),
                "first value must match `clusterIP`",
            ));
        }
    } else if !ips.is_empty() {
        causes.push(invalid_go(
            "spec.clusterIPs",
            go_string_slice(ips_v),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let families = strings(spec.get("ipFamilies"));
    let mut seen = Vec::new();
    for (i, f) in families.iter().enumerate() {
        if f != "IPv4" && f != "IPv6" {
            causes.push(not_supported(
                &format!("spec.ipFamilies[{i}]"),
                &json!(f),
                &["IPv4", "IPv6"],
            ));
        }
        if seen.contains(f) {
            causes.push(duplicate(&format!("spec.ipFamilies[{i}]"), go_quote(f)));
        }
        seen.push(f.clone());
    }
    if let Some(p) = spec.get("ipFamilyPolicy").filter(|v| !v.is_null())
        && !matches!(
            p.as_str(),
            Some("SingleStack" | "PreferDualStack" | "RequireDualStack")
        )
    {
        causes.push(not_supported(
            "spec.ipFamilyPolicy",
            p,
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }
    let mut bad = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                bad = true;
                causes.push(invalid_go(
                    "spec.clusterIPs",
                    go_string_slice(ips_v),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if family_of(ip).is_none() {
            bad = true;
            causes.push(invalid(
                &format!("spec.clusterIPs[{i}]"),
                &json!(ip),
                valid_ip_msg(),
            ));
        }
    }
    if ips.len() > 2 {
        causes.push(invalid_go(
            "spec.clusterIPs",
            go_string_slice(ips_v),
            "may only hold up to 2 values",
        ));
    }
    if bad {
        return;
    }
    if ips.len() > 1 && family_of(&ips[0]) == family_of(&ips[1]) {
        causes.push(invalid_go(
            "spec.clusterIPs",
            go_string_slice(ips_v),
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(svc) {
        for (i, ip) in ips.iter().enumerate().take(families.len()) {
            let fam = family_of(ip);
            if families[i] == "IPv4" && fam == Some("IPv6") {
                causes.push(invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    &json!(ip),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if families[i] == "IPv6" && fam != Some("IPv6") {
                causes.push(invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    &json!(ip),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
}

fn validate_service(svc: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = crate::meta::name(svc);
    if !name.is_empty() {
        for e in dns1035_label(name) {
            causes.push(invalid("metadata.name", &json!(name), &e));
        }
    }
    let spec = svc.get("spec").unwrap_or(&Value::Null);
    let t = str_at(spec, "/type");
    let headless = is_headless(svc);
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if ports.is_empty() && !headless && t != "ExternalName" {
        causes.push(required("spec.ports", ""));
    }
    match t {
        "LoadBalancer" | "NodePort" if headless => causes.push(invalid(
            "spec.clusterIPs[0]",
            &json!("None"),
            &format!("may not be set to 'None' for {t} services"),
        )),
        "ExternalName" => {
            if !strings(spec.get("clusterIPs")).is_empty() {
                causes.push(forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            if !strings(spec.get("ipFamilies")).is_empty() {
                causes.push(forbidden(
                    "spec.ipFamilies",
                    "may not be set for ExternalName services",
                ));
            }
            if spec.get("ipFamilyPolicy").is_some_and(|v| !v.is_null()) {
                causes.push(forbidden(
                    "spec.ipFamilyPolicy",
                    "may not be set for ExternalName services",
                ));
            }
            let cname = str_at(spec, "/externalName");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                causes.push(required("spec.externalName", ""));
            } else {
                for e in dns1123_subdomain(cname) {
                    causes.push(invalid("spec.externalName", &json!(cname), &e));
                }
            }
        }
        _ => {}
    }
    let mut names: Vec<String> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let pname = str_at(p, "/name");
        if ports.len() > 1 && pname.is_empty() {
            causes.push(required(&format!("{path}.name"), ""));
        } else if !pname.is_empty() {
            for e in dns1123_label(pname) {
                causes.push(invalid(&format!("{path}.name"), &json!(pname), &e));
            }
            if names.iter().any(|n| n == pname) {
                causes.push(duplicate(&format!("{path}.name"), go_quote(pname)));
            } else {
                names.push(pname.to_string());
            }
        }
        let port = i64_at(p, "/port").unwrap_or(0);
        if !valid_port_num(port) {
            causes.push(invalid(
                &format!("{path}.port"),
                &json!(port),
                PORT_RANGE_MSG,
            ));
        }
        let proto = p.get("protocol").cloned().unwrap_or(json!(""));
        if proto == "" {
            causes.push(required(&format!("{path}.protocol"), ""));
        } else if !matches!(proto.as_str(), Some("TCP" | "UDP" | "SCTP")) {
            causes.push(not_supported(
                &format!("{path}.protocol"),
                &proto,
                &["SCTP", "TCP", "UDP"],
            ));
        }
        match p.get("targetPort") {
            Some(Value::String(s)) => {
                for e in port_name_errors(s) {
                    causes.push(invalid(&format!("{path}.targetPort"), &json!(s), e));
                }
            }
            Some(v) => {
                let n = v.as_i64().unwrap_or(0);
                if !valid_port_num(n) {
                    causes.push(invalid(
                        &format!("{path}.targetPort"),
                        &json!(n),
                        PORT_RANGE_MSG,
                    ));
                }
            }
            None => {}
        }
        if let Some(ap) = p.get("appProtocol").and_then(Value::as_str) {
            for e in qualified_name(ap) {
                causes.push(invalid(&format!("{path}.appProtocol"), &json!(ap), &e));
            }
        }
    }
    validate_labels(spec.get("selector"), "spec.selector", &mut causes);
    let affinity = spec.get("sessionAffinity").cloned().unwrap_or(json!(""));
    match affinity.as_str() {
        Some("") | None => causes.push(required("spec.sessionAffinity", "")),
        Some("ClientIP") => {
            let timeout = i64_at(spec, "/sessionAffinityConfig/clientIP/timeoutSeconds");
            match timeout {
                None => causes.push(required(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    "",
                )),
                Some(t) if !(1..=86400).contains(&t) => causes.push(invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    &json!(t),
                    "must be greater than 0 and less than 86400",
                )),
                Some(_) => {}
            }
        }
        Some("None") => {
            if spec
                .get("sessionAffinityConfig")
                .is_some_and(|v| !v.is_null())
            {
                causes.push(forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        Some(_) => causes.push(not_supported(
            "spec.sessionAffinity",
            &affinity,
            &["ClientIP", "None"],
        )),
    }
    validate_cluster_ips_related(svc, &mut causes);
    for (i, ip) in strings(spec.get("externalIPs")).iter().enumerate() {
        if family_of(ip).is_none() {
            causes.push(invalid(
                &format!("spec.externalIPs[{i}]"),
                &json!(ip),
                valid_ip_msg(),
            ));
        }
    }
    if t.is_empty() {
        causes.push(required("spec.type", ""));
    } else if !matches!(
        t,
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName"
    ) {
        causes.push(not_supported(
            "spec.type",
            &json!(t),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    if t == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if i64_at(p, "/nodePort").unwrap_or(0) != 0 {
                causes.push(forbidden(
                    &format!("spec.ports[{i}].nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports: Vec<(String, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let np = i64_at(p, "/nodePort").unwrap_or(0);
        if np == 0 {
            continue;
        }
        let key = (str_at(p, "/protocol").to_string(), np);
        if node_ports.contains(&key) {
            causes.push(duplicate(
                &format!("spec.ports[{i}].nodePort"),
                np.to_string(),
            ));
        }
        node_ports.push(key);
    }
    let mut keys: Vec<(String, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let key = (
            str_at(p, "/protocol").to_string(),
            i64_at(p, "/port").unwrap_or(0),
        );
        if keys.contains(&key) {
            causes.push(duplicate(
                &format!("spec.ports[{i}]"),
                go_service_port_key(&key.0, key.1),
            ));
        }
        keys.push(key);
    }
    if !strings(spec.get("loadBalancerSourceRanges")).is_empty() && t != "LoadBalancer" {
        causes.push(forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    let alloc_np = spec
        .get("allocateLoadBalancerNodePorts")
        .filter(|v| !v.is_null());
    if alloc_np.is_some() && t != "LoadBalancer" {
        causes.push(forbidden(
            "spec.allocateLoadBalancerNodePorts",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if t == "LoadBalancer" && alloc_np.is_none() {
        causes.push(required("allocateLoadBalancerNodePorts", ""));
    }
    // External traffic policy and health check node port.
    let etp = spec
        .get("externalTrafficPolicy")
        .cloned()
        .unwrap_or(json!(""));
    if !externally_accessible(svc) {
        if etp != "" {
            causes.push(invalid(
                "spec.externalTrafficPolicy",
                &etp,
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp == "" {
        causes.push(required("spec.externalTrafficPolicy", ""));
    } else if !matches!(etp.as_str(), Some("Cluster" | "Local")) {
        causes.push(not_supported(
            "spec.externalTrafficPolicy",
            &etp,
            &["Cluster", "Local"],
        ));
    }
    let hc = i64_at(spec, "/healthCheckNodePort").unwrap_or(0);
    if !needs_health_check(svc) {
        if hc != 0 {
            causes.push(invalid(
                "spec.healthCheckNodePort",
                &json!(hc),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc == 0 {
        causes.push(required("spec.healthCheckNodePort", ""));
    } else if !valid_port_num(hc) {
        causes.push(invalid(
            "spec.healthCheckNodePort",
            &json!(hc),
            PORT_RANGE_MSG,
        ));
    }
    match spec.get("internalTrafficPolicy").filter(|v| !v.is_null()) {
        None => {
            if matches!(t, "NodePort" | "LoadBalancer" | "ClusterIP") {
                causes.push(required("spec.internalTrafficPolicy", ""));
            }
        }
        Some(p) => {
            if !matches!(p.as_str(), Some("Cluster" | "Local")) {
                causes.push(not_supported(
                    "spec.internalTrafficPolicy",
                    p,
                    &["Cluster", "Local"],
                ));
            }
        }
    }
    if let Some(td) = spec.get("trafficDistribution").filter(|v| !v.is_null())
        && td != "PreferClose"
    {
        causes.push(not_supported(
            "spec.trafficDistribution",
            td,
            &["PreferClose"],
        ));
    }
    causes
}

/// validateUpgradeDowngradeClusterIPs (single- and dual-stack).
fn validate_cluster_ips_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    if !needs_cluster_ip(new) || !needs_cluster_ip(old) {
        return;
    }
    if is_headless(old) && is_headless(new) {
        return;
    }
    let o = strings(old.pointer("/spec/clusterIPs"));
    let n_v = new.pointer("/spec/clusterIPs");
    let n = strings(n_v);
    let changed = |i: usize| {
        invalid_go(
            &format!("spec.clusterIPs[{i}]"),
            go_string_slice(n_v),
            "may not change once set",
        )
    };
    if o.len() == n.len() {
        for (i, ip) in o.iter().enumerate() {
            if *ip != n[i] {
                causes.push(changed(i));
            }
        }
    } else if o.len() > n.len() {
        if n.is_empty() {
            causes.push(invalid_go(
                "spec.clusterIPs[0]",
                go_string_slice(n_v),
                "primary clusterIP can not be unset",
            ));
        } else if n[0] != o[0] {
            causes.push(changed(0));
        }
        if n.len() == 1 && str_at(new, "/spec/ipFamilyPolicy") != "SingleStack" {
            causes.push(invalid(
                "spec.ipFamilyPolicy",
                new.pointer("/spec/ipFamilyPolicy").unwrap_or(&Value::Null),
                "must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if !o.is_empty() && n[0] != o[0] {
        causes.push(changed(0));
    }
}

fn validate_families_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    if !needs_cluster_ip(new) || !needs_cluster_ip(old) {
        return;
    }
    if is_headless(old) || is_headless(new) {
        return;
    }
    let o = strings(old.pointer("/spec/ipFamilies"));
    let n_v = new.pointer("/spec/ipFamilies");
    let n = strings(n_v);
    if o.len() == n.len() && o != n {
        causes.push(invalid_go(
            "spec.ipFamilies[0]",
            go_string_slice(n_v),
            "may not change once set",
        ));
    }
}

/// Keeps allocated values a PUT without them would drop
/// (upstream's patchAllocatedValues), and drops values that no longer fit
/// a changed type (dropTypeDependentFields).
fn patch_allocated_values(new: &mut Value, old: &Value) {
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        let spec = object_at(new, "spec");
        if str_at(spec, "/clusterIP").is_empty() {
            spec["clusterIP"] = old.pointer("/spec/clusterIP").cloned().unwrap_or(json!(""));
            if str_at(spec, "/clusterIP").is_empty()
                && let Some(m) = spec.as_object_mut()
            {
                m.remove("clusterIP");
            }
        }
        if strings(spec.get("clusterIPs")).is_empty()
            && let Some(ips) = old.pointer("/spec/clusterIPs").filter(|v| !v.is_null())
        {
            spec["clusterIPs"] = ips.clone();
        }
        for key in ["ipFamilies", "ipFamilyPolicy"] {
            if spec.get(key).is_none_or(Value::is_null)
                && let Some(v) = old
                    .pointer(&format!("/spec/{key}"))
                    .filter(|v| !v.is_null())
            {
                spec[key] = v.clone();
            }
        }
    }
    if needs_node_port(old) && needs_node_port(new) {
        let used = |svc: &Value| -> Vec<i64> {
            svc.pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| i64_at(p, "/nodePort"))
                .filter(|n| *n != 0)
                .collect()
        };
        let old_used = used(old);
        let new_used = used(new);
        let by_name: Vec<(String, i64)> = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    str_at(p, "/name").to_string(),
                    i64_at(p, "/nodePort").unwrap_or(0),
                )
            })
            .collect();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter(|p| p.is_object()) {
                if i64_at(p, "/nodePort").unwrap_or(0) != 0 {
                    continue;
                }
                let name = str_at(p, "/name").to_string();
                if let Some((_, np)) = by_name.iter().find(|(n, _)| *n == name)
                    && *np != 0
                    && !(old_used.contains(np) && new_used.contains(np))
                {
                    p["nodePort"] = json!(np);
                }
            }
        }
    }
    if needs_health_check(old) && needs_health_check(new) {
        let spec = object_at(new, "spec");
        if i64_at(spec, "/healthCheckNodePort").unwrap_or(0) == 0
            && let Some(hc) = i64_at(old, "/spec/healthCheckNodePort")
        {
            spec["healthCheckNodePort"] = json!(hc);
        }
    }
    // Type-dependent fields left over from the old type.
    let same = |new: &Value, key: &str| new.pointer(key) == old.pointer(key);
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if same(new, &format!("/spec/{key}"))
                && let Some(m) = new.get_mut("spec").and_then(Value::as_object_mut)
            {
                m.remove(key);
            }
        }
    }
    if needs_node_port(old)
        && !needs_node_port(new)
        && same(new, "/spec/ports")
        && let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut)
    {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.remove("nodePort");
        }
    }
    if needs_health_check(old)
        && !needs_health_check(new)
        && same(new, "/spec/healthCheckNodePort")
        && let Some(m) = new.get_mut("spec").and_then(Value::as_object_mut)
    {
        m.remove("healthCheckNodePort");
    }
    if svc_type(old) == "LoadBalancer" && svc_type(new) != "LoadBalancer" {
        for key in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(new, &format!("/spec/{key}"))
                && let Some(m) = new.get_mut("spec").and_then(Value::as_object_mut)
            {
                m.remove(key);
            }
        }
    }
    if !externally_accessible(new)
        && same(new, "/spec/externalTrafficPolicy")
        && let Some(m) = new.get_mut("spec").and_then(Value::as_object_mut)
    {
        m.remove("externalTrafficPolicy");
    }
}

impl Strategy for ServiceStrategy {
    fn tracks_generation(&self) -> bool {
        false
    }
    fn name_rule(&self) -> NameRule {
        // Services use DNS-1035 labels, checked in `validate`; the path
        // segment rule only refuses what DNS-1035 refuses too.
        NameRule::PathSegment
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_service(obj);
        normalize_cluster_ips(obj);
        init_ip_families(obj, "IPv4");
        obj["status"] = json!({"loadBalancer": {}});
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        patch_allocated_values(new, old);
        default_service(new);
        normalize_cluster_ips(new);
        init_ip_families(new, "IPv4");
    }
    fn validate(&self, obj: &Value) -> Vec<Cause> {
        validate_service(obj)
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        validate_cluster_ips_update(old, new, &mut causes);
        validate_families_update(old, new, &mut causes);
        if needs_health_check(old)
            && needs_health_check(new)
            && i64_at(old, "/spec/healthCheckNodePort") != i64_at(new, "/spec/healthCheckNodePort")
        {
            causes.push(forbidden("spec.healthCheckNodePort", "field is immutable"));
        }
        causes.extend(validate_service(new));
        causes
    }
    fn selectable_fields(&self) -> &'static [&'static str] {
        &["spec.clusterIP", "spec.type"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> Option<String> {
        match field {
            "spec.clusterIP" => pointer_str(obj, "/spec/clusterIP"),
            "spec.type" => pointer_str(obj, "/spec/type"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let mut svc = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"app": "web"}, "ports": [{"port": 80}]}});
        ServiceStrategy.prepare_for_create(&mut svc);
        let spec = &svc["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["ports"][0]["targetPort"], 80);
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(spec.get("externalTrafficPolicy").is_none());
        assert_eq!(svc["status"], json!({"loadBalancer": {}}));
        assert!(ServiceStrategy.validate(&svc).is_empty());
    }

    #[test]
    fn headless_without_selector_is_dual_stack_required() {
        let mut svc = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        ServiceStrategy.prepare_for_create(&mut svc);
        assert_eq!(svc["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(svc["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        assert!(ServiceStrategy.validate(&svc).is_empty());
    }

    #[test]
    fn update_keeps_cluster_ip_and_refuses_change() {
        let mut old = json!({"metadata": {"name": "web"}, "spec": {
            "ports": [{"port": 80}], "clusterIP": "10.96.0.10"}});
        ServiceStrategy.prepare_for_create(&mut old);
        let mut new = json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}});
        ServiceStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.10");
        assert!(ServiceStrategy.validate_update(&new, &old).is_empty());
        new["spec"]["clusterIP"] = json!("10.96.0.11");
        new["spec"]["clusterIPs"] = json!(["10.96.0.11"]);
        let causes = ServiceStrategy.validate_update(&new, &old);
        assert_eq!(causes[0].field, "spec.clusterIPs[0]");
        assert_eq!(
            causes[0].message,
            "Invalid value: []string{\"10.96.0.11\"}: may not change once set"
        );
    }
}
