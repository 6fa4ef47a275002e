//! The lessor (etcd's `lease.lessor`): granted leases with their TTL and
//! deadline, and the keys attached to each. The writer grants, revokes and
//! attaches; keep-alives only move the deadline and need no disk write
//! (like etcd, a restart gives every lease its full TTL again).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// etcd's `MaxLeaseTTL`.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

#[derive(Debug)]
pub struct Lease {
    /// Granted TTL in seconds.
    pub ttl: i64,
    pub deadline: Instant,
    pub keys: BTreeSet<Vec<u8>>,
    /// A revoke for this expired lease is on its way to the writer.
    pub revoking: bool,
}

/// What `TimeToLive` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    pub remaining: i64,
    pub granted: i64,
    pub keys: Vec<Vec<u8>>,
}

#[derive(Debug, Default)]
pub struct Lessor {
    leases: HashMap<i64, Lease>,
}

fn ttl_duration(ttl: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
}

impl Lessor {
    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Adds a lease whose TTL starts now.
    pub fn grant(&mut self, id: i64, ttl: i64, now: Instant) {
        self.leases.insert(
            id,
            Lease {
                ttl,
                deadline: now + ttl_duration(ttl),
                keys: BTreeSet::new(),
                revoking: false,
            },
        );
    }

    pub fn remove(&mut self, id: i64) -> Option<Lease> {
        self.leases.remove(&id)
    }

    /// Keys attached to `id`, in key order.
    pub fn keys(&self, id: i64) -> Option<Vec<Vec<u8>>> {
        self.leases
            .get(&id)
            .map(|l| l.keys.iter().cloned().collect())
    }

    pub fn attach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.insert(key.to_vec());
        }
    }

    pub fn detach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.remove(key);
        }
    }

    /// Keep-alive: restarts the TTL of a live lease and returns it.
    pub fn renew(&mut self, id: i64, now: Instant) -> Result<i64, StoreError> {
        match self.leases.get_mut(&id) {
            Some(lease) if lease.deadline > now => {
                lease.deadline = now + ttl_duration(lease.ttl);
                Ok(lease.ttl)
            }
            _ => Err(StoreError::LeaseNotFound),
        }
    }

    /// Gives every lease its full TTL from `now` (a new leader's view, as
    /// etcd's lessor `Promote`).
    pub fn renew_all(&mut self, now: Instant) {
        for lease in self.leases.values_mut() {
            lease.deadline = now + ttl_duration(lease.ttl);
            lease.revoking = false;
        }
    }

    pub fn info(&self, id: i64, now: Instant, with_keys: bool) -> Option<LeaseInfo> {
        self.leases.get(&id).map(|lease| LeaseInfo {
            remaining: lease.deadline.saturating_duration_since(now).as_secs() as i64,
            granted: lease.ttl,
            keys: if with_keys {
                lease.keys.iter().cloned().collect()
            } else {
                Vec::new()
            },
        })
    }

    /// Lease ids in ascending order.
    pub fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.leases.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Leases past their deadline that nobody is revoking yet; they are
    /// marked as being revoked.
    pub fn take_expired(&mut self, now: Instant) -> Vec<i64> {
        let mut out = Vec::new();
        for (id, lease) in &mut self.leases {
            if !lease.revoking && lease.deadline <= now {
                lease.revoking = true;
                out.push(*id);
            }
        }
        out.sort_unstable();
        out
    }

    /// A revoke that was sent for an expired lease did not happen.
    pub fn revoke_failed(&mut self, id: i64) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.revoking = false;
        }
    }
}

/// Picks lease ids the way etcd does in spirit: a member-specific prefix,
/// a time component and a counter, always positive and never 0.
#[derive(Debug)]
pub struct LeaseIdGen {
    next: i64,
}

impl LeaseIdGen {
    pub fn new(member_id: u64) -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let seed = ((member_id & 0xffff) << 47) | ((millis & 0x7_ffff_ffff) << 8);
        LeaseIdGen {
            next: (seed & (i64::MAX as u64)) as i64,
        }
    }

    /// The next candidate id.
    pub fn next(&mut self) -> i64 {
        self.next = self.next.wrapping_add(1) & i64::MAX;
        if self.next == 0 {
            self.next = 1;
        }
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renew_restarts_ttl_and_expired_leases_are_taken_once() {
        let mut lessor = Lessor::default();
        let t0 = Instant::now();
        lessor.grant(7, 10, t0);
        lessor.attach(7, b"a");
        assert_eq!(lessor.renew(7, t0 + Duration::from_secs(5)), Ok(10));
        let info = lessor.info(7, t0 + Duration::from_secs(6), true);
        assert_eq!(
            info,
            Some(LeaseInfo {
                remaining: 9,
                granted: 10,
                keys: vec![b"a".to_vec()]
            })
        );
        assert_eq!(
            lessor.take_expired(t0 + Duration::from_secs(14)),
            Vec::<i64>::new()
        );
        assert_eq!(lessor.take_expired(t0 + Duration::from_secs(16)), vec![7]);
        assert_eq!(
            lessor.take_expired(t0 + Duration::from_secs(17)),
            Vec::<i64>::new()
        );
        assert_eq!(
            lessor.renew(7, t0 + Duration::from_secs(16)),
            Err(StoreError::LeaseNotFound)
        );
        assert_eq!(lessor.renew(8, t0), Err(StoreError::LeaseNotFound));
    }

    #[test]
    fn generated_ids_are_positive_and_distinct() {
        let mut ids = LeaseIdGen::new(u64::MAX);
        let a = ids.next();
        let b = ids.next();
        assert!(a > 0 && b > 0 && a != b);
    }
}
