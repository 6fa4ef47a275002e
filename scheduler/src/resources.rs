//! Resource quantities as the scheduler counts them: every quantity in
//! milli-units (cpu in millicores, memory in milli-bytes would overflow, so
//! memory and other resources are whole units ×1000 too, which fits in i64
//! up to petabytes), and a pod's effective requests like upstream's
//! `PodRequests`: the sum of its containers (restartable init containers
//! included), at least the largest regular init container, plus overhead.

use std::collections::BTreeMap;

use component_base::quantity::milli_value;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Resource name -> amount in milli-units.
pub type Resources = BTreeMap<String, i64>;

fn quantities(map: Option<&BTreeMap<String, Quantity>>) -> Resources {
    map.map(|m| {
        m.iter()
            .filter_map(|(k, v)| milli_value(&v.0).map(|n| (k.clone(), n)))
            .collect()
    })
    .unwrap_or_default()
}

/// A container's requests; a limit without a request counts as the request
/// (the API server's defaulting does the same upstream).
fn container_requests(c: &Container) -> Resources {
    let res = c.resources.as_ref();
    let mut out = quantities(res.and_then(|r| r.limits.as_ref()));
    out.extend(quantities(res.and_then(|r| r.requests.as_ref())));
    out
}

pub fn add(into: &mut Resources, from: &Resources) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

pub fn sub(into: &mut Resources, from: &Resources) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() -= v;
    }
}

/// The pod's effective requests.
pub fn pod_requests(pod: &Pod) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::new();
    };
    let mut total = Resources::new();
    for c in &spec.containers {
        add(&mut total, &container_requests(c));
    }
    let mut sidecars = Resources::new();
    for c in spec.init_containers.as_deref().unwrap_or_default() {
        let req = container_requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            add(&mut sidecars, &req);
            add(&mut total, &req);
        } else {
            // A regular init container runs beside the sidecars started
            // before it, alone otherwise.
            let mut peak = sidecars.clone();
            add(&mut peak, &req);
            for (k, v) in peak {
                let e = total.entry(k).or_default();
                *e = (*e).max(v);
            }
        }
    }
    add(&mut total, &quantities(spec.overhead.as_ref()));
    total
}

/// Upstream's non-zero defaults for scoring: a pod without cpu/memory
/// requests counts as 100m cpu and 200Mi memory.
pub fn non_zero(req: &Resources) -> (i64, i64) {
    let cpu = req.get("cpu").copied().filter(|v| *v > 0).unwrap_or(100);
    let mem = req
        .get("memory")
        .copied()
        .filter(|v| *v > 0)
        .unwrap_or(200 * 1024 * 1024 * 1000);
    (cpu, mem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities() {}

    #[test]
    fn init_containers_and_overhead() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "100m"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "200m"}}}
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}],
                "overhead": {"cpu": "10m"}
            }
        }))
        .unwrap();
        assert_eq!(pod_requests(&pod).get("cpu"), Some(&1010));
    }
}
