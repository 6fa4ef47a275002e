//! Ephemeral containers (`spec.ephemeralContainers`, added through the
//! `pods/ephemeralcontainers` subresource, e.g. by `kubectl debug`): each
//! runs once, like a container with restartPolicy Never, after the pod's
//! init containers, and can be exec'd and attached like any other. Their
//! statuses travel with the regular ones and the status computation sorts
//! them out by name (names are unique across a pod's containers).

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod};

/// The container to run for `ephemeral` (the same fields; ports, probes
/// and lifecycle are rejected by the API server for ephemeral containers).
pub fn as_container(ephemeral: &EphemeralContainer) -> Option<Container> {
    let value = serde_json::to_value(ephemeral).ok()?;
    match serde_json::from_value(value) {
        Ok(container) => Some(container),
        Err(e) => {
            tracing::warn!(container = %ephemeral.name, error = %e, "ephemeral container");
            None
        }
    }
}

/// The pod's ephemeral containers as containers.
pub fn containers(pod: &Pod) -> Vec<Container> {
    pod.spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .filter_map(as_container)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ephemeral_containers_become_containers() {
        let pod: Pod = serde_json::from_value(json!({
            "spec": {"containers": [{"name": "main"}], "ephemeralContainers": [{
                "name": "debugger", "image": "busybox", "command": ["sh"],
                "stdin": true, "tty": true, "targetContainerName": "main"
            }]}
        }))
        .expect("pod");
        let list = containers(&pod);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "debugger");
        assert_eq!(list[0].image.as_deref(), Some("busybox"));
        assert_eq!(list[0].stdin, Some(true));
        assert_eq!(list[0].command.as_deref(), Some(&["sh".to_string()][..]));
    }
}
