//! Controller expectations (upstream's `ControllerExpectations`): what a
//! controller has just created or deleted and not yet seen in its cache.
//! While expectations are pending a reconcile must not act on the cache
//! again, or it would create (or delete) the same pods twice. Expectations
//! are checked against the cache itself and expire after a timeout, so a
//! lost watch event cannot wedge a controller.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an unobserved expectation blocks its owner (upstream: 5 min;
/// shorter here because our checks read the cache directly).
const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Pending {
    created: HashSet<String>,
    deleted: HashSet<String>,
    since: Option<Instant>,
}

#[derive(Default)]
pub struct Expectations {
    by_owner: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    pub fn expect_created(&self, owner: &str, name: &str) {
        self.with(owner, |p| {
            p.created.insert(name.to_string());
        })
    }

    pub fn expect_deleted(&self, owner: &str, name: &str) {
        self.with(owner, |p| {
            p.deleted.insert(name.to_string());
        })
    }

    /// A create that failed will never be observed.
    pub fn creation_failed(&self, owner: &str, name: &str) {
        self.with(owner, |p| {
            p.created.remove(name);
        })
    }

    pub fn forget(&self, owner: &str) {
        if let Ok(mut map) = self.by_owner.lock() {
            map.remove(owner);
        }
    }

    /// True when every expected create has been seen (`created_seen`) and
    /// every expected delete has been seen (`deleted_seen`: gone or marked
    /// for deletion), or when the expectations timed out. Observed entries
    /// are dropped.
    pub fn satisfied(
        &self,
        owner: &str,
        created_seen: impl Fn(&str) -> bool,
        deleted_seen: impl Fn(&str) -> bool,
    ) -> bool {
        let Ok(mut map) = self.by_owner.lock() else {
            return true;
        };
        let Some(p) = map.get_mut(owner) else {
            return true;
        };
        p.created.retain(|n| !created_seen(n));
        p.deleted.retain(|n| !deleted_seen(n));
        let timed_out = p.since.is_some_and(|s| s.elapsed() > EXPECTATION_TIMEOUT);
        if (p.created.is_empty() && p.deleted.is_empty()) || timed_out {
            map.remove(owner);
            return true;
        }
        false
    }

    fn with(&self, owner: &str, f: impl FnOnce(&mut Pending)) {
        if let Ok(mut map) = self.by_owner.lock() {
            let p = map.entry(owner.to_string()).or_default();
            if p.since.is_none() {
                p.since = Some(Instant::now());
            }
            f(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_until_observed() {
        let e = Expectations::default();
        e.expect_created("ns/rs", "a");
        e.expect_deleted("ns/rs", "b");
        assert!(!e.satisfied("ns/rs", |_| false, |_| false));
        assert!(!e.satisfied("ns/rs", |n| n == "a", |_| false));
        assert!(e.satisfied("ns/rs", |_| false, |n| n == "b"));
        assert!(e.satisfied("other", |_| false, |_| false));
    }

    #[test]
    fn failed_create_is_not_waited_for() {
        let e = Expectations::default();
        e.expect_created("ns/rs", "a");
        e.creation_failed("ns/rs", "a");
        assert!(e.satisfied("ns/rs", |_| false, |_| false));
    }
}
