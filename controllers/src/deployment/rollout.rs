//! The arithmetic of a rollout (upstream's `deployment/util`), kept free of
//! I/O so it can be tested alone: maxSurge/maxUnavailable resolution, how
//! far the new ReplicaSet may grow, how far old ones may shrink, and
//! proportional scaling of several active ReplicaSets.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// A ReplicaSet as the rollout math sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RsCounts {
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    pub available: i32,
    /// The `max-replicas` annotation, when present.
    pub max_replicas_annotation: Option<i32>,
}

/// Resolves an int-or-percent against `total` (percentages round up for
/// maxSurge, down for maxUnavailable).
fn resolve(value: Option<&IntOrString>, total: i32, round_up: bool, default_pct: i32) -> i32 {
    let pct = |p: i32| {
        let v = i64::from(p) * i64::from(total);
        (if round_up { (v + 99) / 100 } else { v / 100 }) as i32
    };
    match value {
        None => pct(default_pct),
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|n| n.parse::<i32>().ok())
            .map(pct)
            .unwrap_or(0),
    }
}

/// `(maxSurge, maxUnavailable)`; both zero becomes maxUnavailable 1, like
/// upstream's `ResolveFenceposts`.
pub fn fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    let surge = resolve(max_surge, replicas, true, 25).max(0);
    let unavailable = resolve(max_unavailable, replicas, false, 25).max(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// The size the new ReplicaSet may have now (upstream's `NewRSNewReplicas`
/// for RollingUpdate): grow by what maxSurge leaves, never past `replicas`.
pub fn new_rs_size(replicas: i32, max_surge: i32, all_current: i32, new_current: i32) -> i32 {
    let max_total = replicas + max_surge;
    if all_current >= max_total {
        return new_current;
    }
    let room = max_total - all_current;
    new_current + room.min(replicas - new_current).max(0)
}

/// How many pods of old ReplicaSets may go now without dropping below
/// `replicas - maxUnavailable` (upstream's `reconcileOldReplicaSets`
/// before cleaning unhealthy replicas).
pub fn max_scale_down(
    replicas: i32,
    max_unavailable: i32,
    all_current: i32,
    new_spec: i32,
    new_available: i32,
) -> i32 {
    let min_available = replicas - max_unavailable;
    let new_unavailable = new_spec - new_available;
    all_current - min_available - new_unavailable
}

/// Scale-down of old ReplicaSets once unhealthy pods are gone: only pods
/// above `replicas - maxUnavailable` available may go, oldest sets first.
/// `olds` must be sorted oldest first; returns the new sizes.
pub fn scale_down_olds(
    olds: &[RsCounts],
    replicas: i32,
    max_unavailable: i32,
    all_available: i32,
) -> Vec<i32> {
    let min_available = replicas - max_unavailable;
    let mut budget = (all_available - min_available).max(0);
    olds.iter()
        .map(|rs| {
            let take = rs.replicas.min(budget);
            budget -= take;
            rs.replicas - take
        })
        .collect()
}

/// Scale-down of old ReplicaSets' unavailable pods first (upstream's
/// `cleanupUnhealthyReplicas`), within `budget`. Returns the new sizes and
/// what is left of the budget.
pub fn drop_unhealthy(olds: &[RsCounts], mut budget: i32) -> (Vec<i32>, i32) {
    let sizes = olds
        .iter()
        .map(|rs| {
            let unhealthy = (rs.replicas - rs.available).max(0);
            let take = unhealthy.min(budget).max(0);
            budget -= take;
            rs.replicas - take
        })
        .collect();
    (sizes, budget)
}

/// Proportional scaling of several active ReplicaSets when the Deployment
/// is resized mid-rollout (upstream's `scale` for RollingUpdate). `sets`
/// in any order; returns the new size of each, in the same order.
pub fn proportional(
    sets: &[RsCounts],
    replicas: i32,
    max_surge: i32,
    status_replicas: i32,
) -> Vec<i32> {
    let current: i32 = sets.iter().map(|s| s.replicas).sum();
    let allowed = if replicas > 0 {
        replicas + max_surge
    } else {
        0
    };
    let to_add = allowed - current;
    let mut order: Vec<usize> = (0..sets.len()).collect();
    // Largest first; ties: newer first when growing, older first when
    // shrinking (callers pass sets oldest first).
    order.sort_by(|&a, &b| {
        sets[b]
            .replicas
            .cmp(&sets[a].replicas)
            .then(if to_add > 0 { b.cmp(&a) } else { a.cmp(&b) })
    });
    let mut sizes: Vec<i32> = sets.iter().map(|s| s.replicas).collect();
    let mut added = 0;
    if to_add != 0 {
        for &i in &order {
            let rs = &sets[i];
            let fraction = if replicas == 0 {
                -rs.replicas
            } else {
                let annotated = rs.max_replicas_annotation.unwrap_or(status_replicas);
                if annotated <= 0 {
                    0
                } else {
                    let scaled = f64::from(rs.replicas) * f64::from(replicas + max_surge)
                        / f64::from(annotated);
                    scaled.round() as i32 - rs.replicas
                }
            };
            let allowed_now = to_add - added;
            let proportion = if to_add > 0 {
                fraction.min(allowed_now)
            } else {
                fraction.max(allowed_now)
            };
            sizes[i] += proportion;
            added += proportion;
        }
        if added != to_add
            && let Some(&first) = order.first()
        {
            sizes[first] = (sizes[first] + to_add - added).max(0);
        }
    }
    sizes.iter().map(|s| (*s).max(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, replicas: i32, available: i32) -> RsCounts {
        RsCounts {
            name: name.into(),
            replicas,
            available,
            max_replicas_annotation: None,
        }
    }

    #[test]
    fn fenceposts_round_like_upstream() {
        let pct = |s: &str| Some(IntOrString::String(s.into()));
        assert_eq!(fenceposts(None, None, 10), (3, 2));
        assert_eq!(
            fenceposts(pct("0%").as_ref(), pct("0%").as_ref(), 10),
            (0, 1)
        );
        assert_eq!(
            fenceposts(Some(&IntOrString::Int(1)), Some(&IntOrString::Int(0)), 3),
            (1, 0)
        );
        assert_eq!(fenceposts(None, None, 1), (1, 0));
    }

    #[test]
    fn new_rs_grows_within_surge() {
        // 3 replicas, surge 1: with 3 old pods the new set may have 1.
        assert_eq!(new_rs_size(3, 1, 3, 0), 1);
        assert_eq!(new_rs_size(3, 1, 4, 1), 1);
        assert_eq!(new_rs_size(3, 1, 3, 1), 2);
        assert_eq!(new_rs_size(3, 0, 2, 0), 1);
    }

    #[test]
    fn old_sets_shrink_oldest_first_within_availability() {
        let olds = [rs("a", 2, 2), rs("b", 2, 2)];
        assert_eq!(scale_down_olds(&olds, 4, 1, 5), vec![0, 2]);
        assert_eq!(scale_down_olds(&olds, 4, 0, 4), vec![2, 2]);
        assert_eq!(max_scale_down(3, 0, 4, 1, 0), 0);
        assert_eq!(max_scale_down(3, 0, 4, 1, 1), 1);
    }

    #[test]
    fn unhealthy_pods_go_first() {
        let olds = [rs("a", 3, 1)];
        assert_eq!(drop_unhealthy(&olds, 5), (vec![1], 3));
    }

    #[test]
    fn proportional_scaling_keeps_ratios() {
        let mut a = rs("old", 6, 6);
        a.max_replicas_annotation = Some(13);
        let mut b = rs("new", 4, 0);
        b.max_replicas_annotation = Some(13);
        // 10 -> 20 replicas, maxSurge 3: allowed 23, add 13.
        let sizes = proportional(&[a, b], 20, 3, 10);
        assert_eq!(sizes.iter().sum::<i32>(), 23);
        assert!(sizes[0] > sizes[1]);
    }
}
