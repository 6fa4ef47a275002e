//! The node's conditions (MemoryPressure, DiskPressure, PIDPressure, Ready)
//! with upstream's reasons and messages. A condition keeps its
//! lastTransitionTime while its status stays the same; lastHeartbeatTime is
//! the time of the report.

use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::host::Pressure;

/// The conditions for `pressure` and the runtime's health (`Err(message)`
/// when it is down), carrying transition times over from `previous`.
pub fn compute(
    pressure: Pressure,
    runtime: &Result<(), String>,
    previous: &[NodeCondition],
    now: Timestamp,
) -> Vec<NodeCondition> {
    let pressure_condition = |type_: &str, under: bool, yes: (&str, &str), no: (&str, &str)| {
        let (reason, message) = if under { yes } else { no };
        (
            type_.to_string(),
            under,
            reason.to_string(),
            message.to_string(),
        )
    };
    let (ready, ready_reason, ready_message) = match runtime {
        Ok(()) => (
            true,
            "KubeletReady".to_string(),
            "kubelet is posting ready status".to_string(),
        ),
        Err(why) => (false, "KubeletNotReady".to_string(), why.clone()),
    };
    let wanted = [
        pressure_condition(
            "MemoryPressure",
            pressure.memory,
            (
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            ),
            (
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
        ),
        pressure_condition(
            "DiskPressure",
            pressure.disk,
            ("KubeletHasDiskPressure", "kubelet has disk pressure"),
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ),
        pressure_condition(
            "PIDPressure",
            pressure.pid,
            (
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
            ),
            (
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
        ),
        ("Ready".to_string(), ready, ready_reason, ready_message),
    ];
    wanted
        .into_iter()
        .map(|(type_, on, reason, message)| {
            let status = if on { "True" } else { "False" }.to_string();
            let transition = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(now));
            NodeCondition {
                type_,
                status,
                reason: Some(reason),
                message: Some(message),
                last_heartbeat_time: Some(Time(now)),
                last_transition_time: Some(transition),
            }
        })
        .collect()
}

/// Whether two condition lists differ in anything but heartbeat times.
pub fn changed(a: &[NodeCondition], b: &[NodeCondition]) -> bool {
    let key = |c: &NodeCondition| {
        (
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
        )
    };
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| key(x) != key(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_node_conditions_read_like_upstream() {
        let now = Timestamp::now();
        let c = compute(Pressure::default(), &Ok(()), &[], now);
        let types: Vec<_> = c.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        assert_eq!(c[0].status, "False");
        assert_eq!(c[0].reason.as_deref(), Some("KubeletHasSufficientMemory"));
        assert_eq!(
            c[1].message.as_deref(),
            Some("kubelet has no disk pressure")
        );
        assert_eq!(c[3].status, "True");
        assert_eq!(
            c[3].message.as_deref(),
            Some("kubelet is posting ready status")
        );
    }

    #[test]
    fn transition_time_kept_while_status_holds() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let t1 = Timestamp::from_second(1_700_000_100).unwrap();
        let first = compute(Pressure::default(), &Ok(()), &[], t0);
        let second = compute(Pressure::default(), &Ok(()), &first, t1);
        assert_eq!(second[3].last_transition_time, Some(Time(t0)));
        assert_eq!(second[3].last_heartbeat_time, Some(Time(t1)));
        assert!(!changed(&first, &second));
        let down = compute(
            Pressure::default(),
            &Err("container runtime is down".into()),
            &second,
            t1,
        );
        assert_eq!(down[3].status, "False");
        assert_eq!(down[3].reason.as_deref(), Some("KubeletNotReady"));
        assert_eq!(down[3].last_transition_time, Some(Time(t1)));
        assert!(changed(&second, &down));
    }
}
