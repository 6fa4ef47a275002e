//! Networking printers: Service, Endpoints (core), EndpointSlice (discovery.k8s.io),
//! Ingress, IngressClass, NetworkPolicy (networking.k8s.io).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::util::{
    age, arr_at, at, format_label_selector, format_labels, int_at, list_with_more, name, str_at,
};
use super::{AGE, Column, NAME, Printer};

static SERVICE: [Column; 7] = [
    NAME,
    Column::new("Type", "string", "How the service is exposed."),
    Column::new("Cluster-IP", "string", "The service's primary cluster IP."),
    Column::new(
        "External-IP",
        "string",
        "External IPs or load-balancer ingress points.",
    ),
    Column::new("Port(s)", "string", "Service ports, with node ports."),
    AGE,
    Column::wide("Selector", "string", "Label selector of the backing pods."),
];
static ENDPOINTS: [Column; 3] = [
    NAME,
    Column::new("Endpoints", "string", "Endpoint addresses and ports."),
    AGE,
];
static ENDPOINTSLICE: [Column; 5] = [
    NAME,
    Column::new(
        "AddressType",
        "string",
        "Type of the addresses in the slice.",
    ),
    Column::new("Ports", "string", "Ports of the slice."),
    Column::new("Endpoints", "string", "Endpoint addresses."),
    AGE,
];
static INGRESS: [Column; 6] = [
    NAME,
    Column::new("Class", "string", "The IngressClass of the ingress."),
    Column::new("Hosts", "string", "Hosts the rules match."),
    Column::new("Address", "string", "Load-balancer ingress points."),
    Column::new("Ports", "string", "Ports the ingress serves."),
    AGE,
];
static INGRESSCLASS: [Column; 4] = [
    NAME,
    Column::new("Controller", "string", "Controller implementing the class."),
    Column::new("Parameters", "string", "Reference to the class parameters."),
    AGE,
];
static NETWORKPOLICY: [Column; 3] = [
    NAME,
    Column::new("Pod-Selector", "string", "Pods the policy applies to."),
    AGE,
];

pub(super) fn lookup(group: &str, kind: &str) -> Option<Printer> {
    match (group, kind) {
        ("", "Service") => Some((&SERVICE, service)),
        ("", "Endpoints") => Some((&ENDPOINTS, endpoints)),
        ("discovery.k8s.io", "EndpointSlice") => Some((&ENDPOINTSLICE, endpointslice)),
        ("networking.k8s.io", "Ingress") => Some((&INGRESS, ingress)),
        ("networking.k8s.io", "IngressClass") => Some((&INGRESSCLASS, ingressclass)),
        ("networking.k8s.io", "NetworkPolicy") => Some((&NETWORKPOLICY, networkpolicy)),
        _ => None,
    }
}

/// Sorted, de-duplicated IPs (or hostnames) of load-balancer ingress points.
/// The server prints the wide form, so nothing is clipped.
fn lb_ingress(obj: &Value) -> String {
    let set: BTreeSet<&str> = arr_at(obj, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| {
            let ip = str_at(i, &["ip"]);
            let host = str_at(i, &["hostname"]);
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn external_ip(obj: &Value) -> String {
    let external: Vec<&str> = arr_at(obj, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match str_at(obj, &["spec", "type"]) {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = lb_ingress(obj);
            if !external.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_at(obj, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// "80/TCP,443:30443/TCP".
fn port_string(obj: &Value) -> String {
    let ports: Vec<String> = arr_at(obj, &["spec", "ports"])
        .iter()
        .map(|p| {
            let proto = str_at(p, &["protocol"]);
            let node_port = int_at(p, &["nodePort"]);
            if node_port > 0 {
                format!("{}:{node_port}/{proto}", int_at(p, &["port"]))
            } else {
                format!("{}/{proto}", int_at(p, &["port"]))
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    }
}

fn service(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // Like the v1 conversion: clusterIPs wins, a lone clusterIP stands in for it.
    let cluster_ip = match arr_at(obj, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
    {
        Some(ip) => ip,
        None => match str_at(obj, &["spec", "clusterIP"]) {
            "" => "<none>",
            ip => ip,
        },
    };
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "type"])),
        json!(cluster_ip),
        json!(external_ip(obj)),
        json!(port_string(obj)),
        json!(age(obj, now)),
        json!(format_labels(at(obj, &["spec", "selector"]))),
    ]
}

/// Go's net.JoinHostPort: IPv6 addresses get brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Up to three "ip:port" entries, then " + N more...", or "<none>" without subsets.
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for p in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(p, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn endpoints(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![
        json!(name(obj)),
        json!(format_endpoints(obj)),
        json!(age(obj, now)),
    ]
}

fn endpointslice(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let ports: Vec<String> = arr_at(obj, &["ports"])
        .iter()
        .map(|p| {
            match (
                at(p, &["port"]).and_then(Value::as_i64),
                at(p, &["name"]).and_then(Value::as_str),
            ) {
                (Some(n), _) => n.to_string(),
                (None, Some(n)) => n.to_string(),
                (None, None) => "*".to_string(),
            }
        })
        .collect();
    let addrs: Vec<String> = arr_at(obj, &["endpoints"])
        .iter()
        .flat_map(|e| {
            arr_at(e, &["addresses"])
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["addressType"])),
        json!(list_with_more(&ports, 3)),
        json!(list_with_more(&addrs, 3)),
        json!(age(obj, now)),
    ]
}

fn ingress_hosts(obj: &Value) -> String {
    const MAX: usize = 3;
    let rules = arr_at(obj, &["spec", "rules"]);
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for r in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(r, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    if more {
        format!("{} + {} more...", list.join(","), rules.len() - MAX)
    } else {
        list.join(",")
    }
}

fn ingress(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let class = at(obj, &["spec", "ingressClassName"])
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ports = if arr_at(obj, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        json!(name(obj)),
        json!(class),
        json!(ingress_hosts(obj)),
        json!(lb_ingress(obj)),
        json!(ports),
        json!(age(obj, now)),
    ]
}

fn ingressclass(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let params = match at(obj, &["spec", "parameters"]) {
        Some(p) => {
            let mut s = str_at(p, &["kind"]).to_string();
            if let Some(g) = at(p, &["apiGroup"]).and_then(Value::as_str) {
                s = format!("{s}.{g}");
            }
            format!("{s}/{}", str_at(p, &["name"]))
        }
        None => "<none>".to_string(),
    };
    vec![
        json!(name(obj)),
        json!(str_at(obj, &["spec", "controller"])),
        json!(params),
        json!(age(obj, now)),
    ]
}

fn networkpolicy(obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    // podSelector is a required struct upstream: a missing one prints like an empty one.
    let empty = json!({});
    let sel = at(obj, &["spec", "podSelector"]).unwrap_or(&empty);
    vec![
        json!(name(obj)),
        json!(format_label_selector(Some(sel))),
        json!(age(obj, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_shape;
    use serde_json::json;

    #[test]
    fn service_types_and_ports() {
        let np = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                "selector": {"app": "web", "tier": "fe"},
                "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080},
                          {"port": 443, "protocol": "TCP", "nodePort": 30443}]}});
        assert_eq!(
            assert_shape("", "Service", &np),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.96.0.20"),
                json!("<none>"),
                json!("80/TCP,443:30443/TCP"),
                json!("60m"),
                json!("app=web,tier=fe")
            ]
        );
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.9"],
            "externalIPs": ["1.2.3.4"], "ports": [{"port": 53, "protocol": "UDP", "nodePort": 31053}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "a-very-long-hostname.example.com"}]}}});
        let c = assert_shape("", "Service", &lb);
        assert_eq!(c[3], "203.0.113.9,a-very-long-hostname.example.com,1.2.3.4");
        assert_eq!(c[4], "53:31053/UDP");
        assert_eq!(c[6], "<none>");
        let pending = json!({"metadata": {"name": "p"}, "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.10"]}});
        let c = assert_shape("", "Service", &pending);
        assert_eq!(
            (c[3].clone(), c[4].clone()),
            (json!("<pending>"), json!("<none>"))
        );
        let headless =
            json!({"metadata": {"name": "h"}, "spec": {"type": "ClusterIP", "clusterIP": "None"}});
        assert_eq!(assert_shape("", "Service", &headless)[2], "None");
        let ext = json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        let c = assert_shape("", "Service", &ext);
        assert_eq!(
            (c[2].clone(), c[3].clone()),
            (json!("<none>"), json!("db.example.com"))
        );
    }

    #[test]
    fn endpoints_and_slices() {
        let ep = json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::3"}], "ports": [{"port": 80}]}]});
        assert_eq!(
            assert_shape("", "Endpoints", &ep)[1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more..."
        );
        let ep2 = json!({"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "fd00::3"}], "ports": [{"port": 80}]}]});
        assert_eq!(assert_shape("", "Endpoints", &ep2)[1], "[fd00::3]:80");
        let none = json!({"metadata": {"name": "n"}});
        assert_eq!(assert_shape("", "Endpoints", &none)[1], "<none>");
        let es = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}, {"name": "metrics"}, {}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]});
        let c = assert_shape("discovery.k8s.io", "EndpointSlice", &es);
        assert_eq!(
            c[1..4],
            [
                json!("IPv4"),
                json!("80,metrics,*"),
                json!("10.0.0.1,10.0.0.2")
            ]
        );
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv6"});
        assert_eq!(
            assert_shape("discovery.k8s.io", "EndpointSlice", &empty)[2],
            "<unset>"
        );
    }

    #[test]
    fn ingress_class_and_policy() {
        let ing = json!({"metadata": {"name": "site"}, "spec": {"ingressClassName": "nginx",
            "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"}],
            "tls": [{"hosts": ["a.example.com"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.4"}]}}});
        let c = assert_shape("networking.k8s.io", "Ingress", &ing);
        assert_eq!(
            c[1..5],
            [
                json!("nginx"),
                json!("a.example.com,b.example.com,c.example.com + 2 more..."),
                json!("198.51.100.4"),
                json!("80, 443")
            ]
        );
        let bare = json!({"metadata": {"name": "b"}, "spec": {"rules": [{}]}});
        let c = assert_shape("networking.k8s.io", "Ingress", &bare);
        assert_eq!(
            c[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
        let ic = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(
            assert_shape("networking.k8s.io", "IngressClass", &ic)[2],
            "IngressParameters.k8s.example.com/p"
        );
        let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
        assert_eq!(
            assert_shape("networking.k8s.io", "NetworkPolicy", &np)[1],
            "<none>"
        );
        let np2 = json!({"metadata": {"name": "db"}, "spec": {"podSelector": {"matchLabels": {"role": "db"}}}});
        assert_eq!(
            assert_shape("networking.k8s.io", "NetworkPolicy", &np2)[1],
            "role=db"
        );
    }
}
