//! Waiting on the pods of ReplicaSets and ReplicationControllers, as
//! upstream's `e2epod.PodsCreated` / `VerifyPodsRunning` do, and telling
//! which set controls a pod.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use crate::framework::{Ctx, Step, TestResult, wait_for};

const WAIT: Duration = Duration::from_secs(60);

/// Waits until exactly `replicas` pods labelled `name=<name>` exist (not
/// being deleted) and, with `running`, all are Running; returns them.
pub async fn pods_of(
    ctx: &Ctx,
    name: &str,
    replicas: usize,
    running: bool,
) -> TestResult<Vec<Pod>> {
    let pods = ctx.api::<Pod>();
    let selector = format!("name={name}");
    let what = if running { "running" } else { "created" };
    wait_for(&format!("{replicas} pods of {name} {what}"), WAIT, || {
        let pods = pods.clone();
        let selector = selector.clone();
        async move {
            let live: Vec<Pod> = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .step("listing pods")?
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            let phases: Vec<String> = live.iter().map(phase).collect();
            let ok = live.len() == replicas && (!running || phases.iter().all(|p| p == "Running"));
            Ok(if ok {
                Ok(live)
            } else {
                Err(format!("phases {phases:?}"))
            })
        }
    })
    .await
}

/// Waits until the pod `name` is Running.
pub async fn wait_running(pods: &Api<Pod>, name: &str) -> TestResult {
    wait_for(&format!("pod {name} to run"), WAIT, || {
        let pods = pods.clone();
        let name = name.to_string();
        async move {
            let pod = pods.get(&name).await.step("reading the pod")?;
            let phase = phase(&pod);
            Ok(if phase == "Running" {
                Ok(())
            } else {
                Err(format!("phase {phase:?}"))
            })
        }
    })
    .await
}

fn phase(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

/// Whether the object with `uid` is the pod's controller.
pub fn controlled_by(pod: &Pod, uid: &str) -> bool {
    pod.owner_references()
        .iter()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// Waits until the pod `name` is controlled by `uid`, or gone (upstream
/// accepts a deleted-and-replaced orphan as adopted).
pub async fn wait_adopted(pods: &Api<Pod>, name: &str, uid: &str) -> TestResult {
    wait_for("the orphan to be adopted (or replaced)", WAIT, || {
        let pods = pods.clone();
        let name = name.to_string();
        let uid = uid.to_string();
        async move {
            Ok(match pods.get_opt(&name).await.step("reading the pod")? {
                None => Ok(()),
                Some(p) if controlled_by(&p, &uid) => Ok(()),
                Some(_) => Err("not adopted yet".to_string()),
            })
        }
    })
    .await
}

/// Relabels the pod `name` to `name=not-matching-name` (retrying on
/// conflicts) and waits until `uid` no longer controls it.
pub async fn relabel_and_wait_released(pods: &Api<Pod>, name: &str, uid: &str) -> TestResult {
    crate::framework::update_with_retries(pods, name, false, |pod: &mut Pod| {
        pod.metadata.labels = Some(crate::framework::labels(&[("name", "not-matching-name")]));
        Ok(())
    })
    .await?;
    wait_for("the pod to be released", WAIT, || {
        let pods = pods.clone();
        let name = name.to_string();
        let uid = uid.to_string();
        async move {
            let pod = pods.get(&name).await.step("reading the pod")?;
            Ok(if controlled_by(&pod, &uid) {
                Err("still controlled by its set".to_string())
            } else {
                Ok(())
            })
        }
    })
    .await
}
