//! The Deployment controller (upstream's `pkg/controller/deployment`).
//!
//! One reconcile: claim the Deployment's ReplicaSets (adopting orphans that
//! match its selector), split them into the new one (template equal to the
//! Deployment's, ignoring `pod-template-hash`) and old ones, then:
//! - deleting: status only;
//! - paused, or a scaling event (`desired-replicas` annotation differs from
//!   `spec.replicas`): scale (proportionally when several are active);
//! - `Recreate`: old sets to 0, wait until their pods are gone, then the new
//!   set to full size;
//! - `RollingUpdate`: grow the new set within maxSurge (`rollout::new_rs_size`),
//!   shrink old ones within maxUnavailable (unhealthy pods first).
//!
//! Then clean up history beyond `revisionHistoryLimit` once complete, and
//! write the status with upstream's Progressing/Available conditions
//! (`status`). ReplicaSets come from a reflector fed by one watch, which
//! also triggers the owning Deployment.

pub mod replicasets;
pub mod rollout;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::SelectorExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::error::{Error, Result, is_conflict, is_not_found};
use crate::objects::{self, controller_ref};
use component_base::events::Events;
use replicasets as rsx;
use rollout::RsCounts;

pub struct Ctx {
    pub client: Client,
    sets: Store<ReplicaSet>,
    pub events: Events,
}

pub async fn run(client: Client) {
    let (sets, writer) = reflector::store();
    let set_events = reflector(
        writer,
        watcher(
            Api::<ReplicaSet>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let controller = Controller::new(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    );
    let deployments = controller.store();
    let ctx = Arc::new(Ctx {
        events: Events::new(client.clone(), "deployment-controller"),
        client,
        sets,
    });
    controller
        .watches_stream(set_events, move |rs: ReplicaSet| {
            deployments_for_set(&deployments, &rs)
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn deployments_for_set(
    deployments: &Store<Deployment>,
    rs: &ReplicaSet,
) -> Vec<ObjectRef<Deployment>> {
    let ns = rs.namespace().unwrap_or_default();
    if let Some(owner) = controller_ref(rs) {
        if owner.kind == "Deployment" {
            return vec![ObjectRef::new(&owner.name).within(&ns)];
        }
        return Vec::new();
    }
    deployments
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(ns.as_str()))
        .filter(|d| {
            objects::selector(d.spec.as_ref().map(|s| &s.selector))
                .is_some_and(|sel| sel.matches(rs.labels()))
        })
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(d: Arc<Deployment>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(deployment = %objects::key(d.as_ref()), error = %err, "sync failed");
    Action::requeue(Duration::from_secs(2))
}

/// Resolved rollout parameters of one Deployment.
struct Plan {
    replicas: i32,
    max_surge: i32,
    max_unavailable: i32,
    recreate: bool,
}

fn plan(d: &Deployment) -> Plan {
    let replicas = status::replicas(d);
    let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref());
    let recreate = strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate");
    let rolling = strategy.and_then(|s| s.rolling_update.as_ref());
    let (max_surge, max_unavailable) = if recreate {
        (0, 0)
    } else {
        rollout::fenceposts(
            rolling.and_then(|r| r.max_surge.as_ref()),
            rolling.and_then(|r| r.max_unavailable.as_ref()),
            replicas,
        )
    };
    Plan {
        replicas,
        max_surge,
        max_unavailable,
        recreate,
    }
}

async fn reconcile(d: Arc<Deployment>, ctx: Arc<Ctx>) -> Result<Action> {
    let d = d.as_ref();
    let p = plan(d);
    let owned = claim_sets(&ctx, d).await?;
    let (mut new_rs, mut olds) = rsx::split(d, owned);
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let mut status_base = d.status.clone().unwrap_or_default();
    if d.metadata.deletion_timestamp.is_some() {
        return write_status(&ctx, d, new_rs.as_ref(), &olds, &p, status_base, false).await;
    }
    paused_condition(d, paused, &mut status_base);

    let max_old_revision = olds
        .iter()
        .map(|rs| rsx::revision(&rs.metadata))
        .max()
        .unwrap_or(0);
    // Keep the new set's revision above every old one (after an undo the
    // old template's set comes back as the newest revision).
    if let Some(rs) = &new_rs
        && rsx::revision(&rs.metadata) <= max_old_revision
    {
        new_rs = Some(rsx::set_revision(&ctx, d, rs, max_old_revision + 1, p.max_surge).await?);
    }
    if let Some(rs) = &new_rs {
        sync_deployment_revision(&ctx, d, rsx::revision(&rs.metadata)).await?;
        if status::condition(&status_base, status::PROGRESSING).is_none()
            && status::progress_deadline(d).is_some()
        {
            status::set_condition(
                &mut status_base,
                status::new_condition(
                    status::PROGRESSING,
                    "True",
                    status::FOUND_NEW_RS,
                    format!("Found new replica set \"{}\"", rs.name_any()),
                ),
            );
        }
    }

    if paused || scaling_event(d, new_rs.as_ref(), &olds) {
        scale(&ctx, d, &p, &mut new_rs, &mut olds).await?;
        if paused {
            rsx::cleanup(&ctx, d, &olds).await?;
        }
        return write_status(&ctx, d, new_rs.as_ref(), &olds, &p, status_base, false).await;
    }

    if p.recreate {
        let mut changed = false;
        for rs in olds.iter_mut() {
            if rsx::spec_replicas(rs) > 0 {
                *rs = rsx::scale(&ctx, d, rs, 0, p.max_surge).await?;
                changed = true;
            }
        }
        let old_pods = olds
            .iter()
            .map(|rs| rs.status.as_ref().map(|s| s.replicas).unwrap_or(0))
            .sum::<i32>();
        if changed || old_pods > 0 {
            return write_status(&ctx, d, new_rs.as_ref(), &olds, &p, status_base, true).await;
        }
    }

    let rs = match new_rs.take() {
        Some(rs) => rs,
        None => create_new_set(&ctx, d, &p, &olds, max_old_revision + 1, &mut status_base).await?,
    };
    let all_current: i32 =
        olds.iter().map(rsx::spec_replicas).sum::<i32>() + rsx::spec_replicas(&rs);
    let current = rsx::spec_replicas(&rs);
    let target = if p.recreate || current > p.replicas {
        p.replicas
    } else {
        rollout::new_rs_size(p.replicas, p.max_surge, all_current, current)
    };
    let rs = rsx::scale(&ctx, d, &rs, target, p.max_surge).await?;
    let scaled_up = target != current;
    new_rs = Some(rs);
    if !scaled_up && !p.recreate {
        scale_down_olds(&ctx, d, &p, new_rs.as_ref(), &mut olds).await?;
    }
    write_status(&ctx, d, new_rs.as_ref(), &olds, &p, status_base, true).await
}

/// ReplicaSets of the Deployment: controlled by it, plus matching orphans,
/// which are adopted.
async fn claim_sets(ctx: &Ctx, d: &Deployment) -> Result<Vec<ReplicaSet>> {
    let ns = d.namespace().unwrap_or_default();
    let uid = d.uid().unwrap_or_default();
    let selector = objects::selector(d.spec.as_ref().map(|s| &s.selector))
        .ok_or_else(|| Error::Invalid(format!("deployment {}: invalid selector", d.name_any())))?;
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let mut owned = Vec::new();
    for rs in ctx.sets.state() {
        if rs.namespace().as_deref() != Some(ns.as_str()) {
            continue;
        }
        match controller_ref(rs.as_ref()) {
            Some(r) if r.uid == uid => owned.push(rs.as_ref().clone()),
            Some(_) => {}
            None if selector.matches(rs.labels())
                && d.metadata.deletion_timestamp.is_none()
                && rs.metadata.deletion_timestamp.is_none()
                && objects::set_owner_refs(&api, rs.as_ref(), |refs| {
                    refs.push(objects::owner_ref(d))
                })
                .await? =>
            {
                owned.push(rs.as_ref().clone());
            }
            None => {}
        }
    }
    Ok(owned)
}

/// Creates the ReplicaSet for the current template; on a name collision
/// with a different template bumps `status.collisionCount` and retries.
async fn create_new_set(
    ctx: &Ctx,
    d: &Deployment,
    p: &Plan,
    olds: &[ReplicaSet],
    revision: i64,
    status_base: &mut DeploymentStatus,
) -> Result<ReplicaSet> {
    let all_current: i32 = olds.iter().map(rsx::spec_replicas).sum();
    let size = if p.recreate {
        p.replicas
    } else {
        rollout::new_rs_size(p.replicas, p.max_surge, all_current, 0)
    };
    let rs = rsx::new_replica_set(d, size, revision, p.max_surge)
        .ok_or_else(|| Error::Invalid(format!("deployment {} has no spec", d.name_any())))?;
    let ns = d.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let created = match api.create(&PostParams::default(), &rs).await {
        Ok(created) => created,
        Err(e) if is_conflict(&e) => {
            let existing = api.get(&rs.name_any()).await?;
            let ours =
                controller_ref(&existing).is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
            let same = rsx::template(&existing)
                .zip(d.spec.as_ref().map(|s| &s.template))
                .is_some_and(|(a, b)| rsx::same_template(a, b));
            if ours && same {
                return Ok(existing);
            }
            let count = d
                .status
                .as_ref()
                .and_then(|s| s.collision_count)
                .unwrap_or(0)
                + 1;
            let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            deployments
                .patch_status(
                    &d.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"status": {"collisionCount": count}})),
                )
                .await?;
            return Err(Error::Invalid(format!(
                "replica set {} exists with another template; collisionCount is now {count}",
                rs.name_any()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if size > 0 {
        ctx.events
            .normal(
                &objects::reference(d),
                "ScalingReplicaSet",
                format!(
                    "Scaled up replica set {} from 0 to {size}",
                    created.name_any()
                ),
            )
            .await;
    }
    sync_deployment_revision(ctx, d, revision).await?;
    if status::progress_deadline(d).is_some() {
        status::set_condition(
            status_base,
            status::new_condition(
                status::PROGRESSING,
                "True",
                status::NEW_RS_CREATED,
                format!("Created new replica set \"{}\"", created.name_any()),
            ),
        );
    }
    Ok(created)
}

/// Copies the new ReplicaSet's revision onto the Deployment.
async fn sync_deployment_revision(ctx: &Ctx, d: &Deployment, revision: i64) -> Result<()> {
    if rsx::revision(&d.metadata) == revision {
        return Ok(());
    }
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"annotations": {rsx::REVISION: revision.to_string()}}});
    api.patch(
        &d.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Upstream's `checkPausedConditions`.
fn paused_condition(d: &Deployment, paused: bool, status: &mut DeploymentStatus) {
    if status::progress_deadline(d).is_none() {
        return;
    }
    let marked = status::condition(status, status::PROGRESSING)
        .is_some_and(|c| c.reason.as_deref() == Some(status::PAUSED));
    if paused && !marked {
        status::set_condition(
            status,
            status::new_condition(
                status::PROGRESSING,
                "Unknown",
                status::PAUSED,
                "Deployment is paused".into(),
            ),
        );
    } else if !paused && marked {
        status::set_condition(
            status,
            status::new_condition(
                status::PROGRESSING,
                "Unknown",
                status::RESUMED,
                "Deployment is resumed".into(),
            ),
        );
    }
}

fn active(rs: &ReplicaSet) -> bool {
    rsx::spec_replicas(rs) > 0
}

/// Some active set was sized for another `spec.replicas`.
fn scaling_event(d: &Deployment, new_rs: Option<&ReplicaSet>, olds: &[ReplicaSet]) -> bool {
    let replicas = status::replicas(d);
    new_rs
        .into_iter()
        .chain(olds.iter())
        .filter(|rs| active(rs))
        .any(|rs| rsx::annotation_i32(rs, rsx::DESIRED_REPLICAS).is_some_and(|v| v != replicas))
}

/// Upstream's `scale`: one active set takes all replicas; a saturated new
/// set leaves the old ones at zero; otherwise proportional scaling.
async fn scale(
    ctx: &Ctx,
    d: &Deployment,
    p: &Plan,
    new_rs: &mut Option<ReplicaSet>,
    olds: &mut [ReplicaSet],
) -> Result<()> {
    let active_count = new_rs
        .iter()
        .chain(olds.iter())
        .filter(|rs| active(rs))
        .count();
    if active_count <= 1 {
        let target = match new_rs {
            Some(rs) if active(rs) || active_count == 0 => Some(rs),
            _ => olds
                .iter_mut()
                .rev()
                .find(|rs| active(rs) || active_count == 0),
        };
        if let Some(rs) = target {
            *rs = rsx::scale(ctx, d, rs, p.replicas, p.max_surge).await?;
        }
        return Ok(());
    }
    let saturated = new_rs.as_ref().is_some_and(|rs| {
        rsx::spec_replicas(rs) == p.replicas
            && rs
                .status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0)
                == p.replicas
    });
    if saturated {
        for rs in olds.iter_mut().filter(|rs| active(rs)) {
            *rs = rsx::scale(ctx, d, rs, 0, p.max_surge).await?;
        }
        return Ok(());
    }
    if p.recreate {
        return Ok(());
    }
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let mut sets: Vec<&mut ReplicaSet> = olds.iter_mut().filter(|rs| active(rs)).collect();
    if let Some(rs) = new_rs.as_mut().filter(|rs| active(rs)) {
        sets.push(rs);
    }
    let counts: Vec<RsCounts> = sets.iter().map(|rs| counts(rs)).collect();
    let sizes = rollout::proportional(&counts, p.replicas, p.max_surge, status_replicas);
    for (rs, size) in sets.into_iter().zip(sizes) {
        *rs = rsx::scale(ctx, d, rs, size, p.max_surge).await?;
    }
    Ok(())
}

fn counts(rs: &ReplicaSet) -> RsCounts {
    RsCounts {
        name: rs.name_any(),
        replicas: rsx::spec_replicas(rs),
        available: rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0),
        max_replicas_annotation: rsx::annotation_i32(rs, rsx::MAX_REPLICAS),
    }
}

/// Upstream's `reconcileOldReplicaSets`: unhealthy old pods first, then
/// healthy ones down to `replicas - maxUnavailable` available.
async fn scale_down_olds(
    ctx: &Ctx,
    d: &Deployment,
    p: &Plan,
    new_rs: Option<&ReplicaSet>,
    olds: &mut [ReplicaSet],
) -> Result<()> {
    let old_total: i32 = olds.iter().map(rsx::spec_replicas).sum();
    if old_total == 0 {
        return Ok(());
    }
    let new_spec = new_rs.map(rsx::spec_replicas).unwrap_or(0);
    let new_available = new_rs
        .and_then(|rs| rs.status.as_ref())
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    let all_current = old_total + new_spec;
    let budget = rollout::max_scale_down(
        p.replicas,
        p.max_unavailable,
        all_current,
        new_spec,
        new_available,
    );
    if budget <= 0 {
        return Ok(());
    }
    let active_idx: Vec<usize> = (0..olds.len()).filter(|&i| active(&olds[i])).collect();
    let view: Vec<RsCounts> = active_idx.iter().map(|&i| counts(&olds[i])).collect();
    let (sizes, _) = rollout::drop_unhealthy(&view, budget);
    for (&i, size) in active_idx.iter().zip(sizes) {
        let rs = olds[i].clone();
        olds[i] = rsx::scale(ctx, d, &rs, size, p.max_surge).await?;
    }
    let all_available: i32 = olds
        .iter()
        .chain(new_rs)
        .map(|rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.available_replicas)
                .unwrap_or(0)
        })
        .sum();
    let view: Vec<RsCounts> = active_idx.iter().map(|&i| counts(&olds[i])).collect();
    let sizes = rollout::scale_down_olds(&view, p.replicas, p.max_unavailable, all_available);
    for (&i, size) in active_idx.iter().zip(sizes) {
        let rs = olds[i].clone();
        olds[i] = rsx::scale(ctx, d, &rs, size, p.max_surge).await?;
    }
    Ok(())
}

/// Computes and writes the status; `rollout` adds the Progressing logic
/// and history cleanup of a rollout sync.
async fn write_status(
    ctx: &Ctx,
    d: &Deployment,
    new_rs: Option<&ReplicaSet>,
    olds: &[ReplicaSet],
    p: &Plan,
    base: DeploymentStatus,
    rollout: bool,
) -> Result<Action> {
    let all: Vec<&ReplicaSet> = olds.iter().chain(new_rs).collect();
    let mut with_base = d.clone();
    with_base.status = Some(base);
    let mut st = status::calculate(&with_base, &all, new_rs, p.max_unavailable);
    if rollout {
        if status::complete(d, &st) {
            rsx::cleanup(ctx, d, olds).await?;
        }
        status::update_progress(d, new_rs, &mut st);
        status::copy_replica_failure(new_rs, &mut st);
    }
    if d.status.as_ref() != Some(&st) {
        let api: Api<Deployment> =
            Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
        match api
            .patch_status(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": st})),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match status::recheck_after(d, &st) {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}
