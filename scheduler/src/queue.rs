//! The scheduling queue (upstream's `PriorityQueue`, without priorities):
//! an active FIFO, a back-off area for pods whose attempt failed (1 s
//! doubling to 10 s), and an unschedulable set that cluster events (a node
//! added or changed, a pod removed) move back, with a flush every 30 s as a
//! safety net. Pods are queued by `namespace/name`; the scheduler reads the
//! current object from its cache when it pops one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const UNSCHEDULABLE_FLUSH: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    active: VecDeque<String>,
    in_active: HashSet<String>,
    backoff: HashMap<String, Instant>,
    attempts: HashMap<String, u32>,
    /// Pod -> when it was found unschedulable.
    unschedulable: HashMap<String, Instant>,
}

#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    wake: Notify,
}

impl Queue {
    /// A new or changed pending pod: to the active queue unless it is
    /// backing off.
    pub fn add(&self, key: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.unschedulable.remove(key);
            if s.backoff.contains_key(key) || s.in_active.contains(key) {
                return;
            }
            s.in_active.insert(key.to_string());
            s.active.push_back(key.to_string());
        }
        self.wake.notify_one();
    }

    /// The pod left the queue's concern (bound, deleted).
    pub fn forget(&self, key: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.unschedulable.remove(key);
            s.backoff.remove(key);
            s.attempts.remove(key);
            if s.in_active.remove(key) {
                s.active.retain(|k| k != key);
            }
        }
    }

    pub fn is_unschedulable(&self, key: &str) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| s.unschedulable.contains_key(key))
    }

    /// No node fits now: wait for a cluster event.
    pub fn unschedulable(&self, key: &str) {
        if let Ok(mut s) = self.state.lock() {
            *s.attempts.entry(key.to_string()).or_default() += 1;
            s.unschedulable.insert(key.to_string(), Instant::now());
        }
    }

    /// The attempt failed for another reason (binding): retry after back-off.
    pub fn backoff(&self, key: &str) {
        if let Ok(mut s) = self.state.lock() {
            let n = s.attempts.entry(key.to_string()).or_default();
            *n += 1;
            let delay = INITIAL_BACKOFF
                .saturating_mul(1 << (*n - 1).min(8))
                .min(MAX_BACKOFF);
            s.backoff.insert(key.to_string(), Instant::now() + delay);
        }
        self.wake.notify_one();
    }

    /// A cluster event that may make unschedulable pods fit.
    pub fn move_all_unschedulable(&self) {
        if let Ok(mut s) = self.state.lock() {
            let keys: Vec<String> = s.unschedulable.drain().map(|(k, _)| k).collect();
            for k in keys {
                if !s.in_active.contains(&k) {
                    s.in_active.insert(k.clone());
                    s.active.push_back(k);
                }
            }
        }
        self.wake.notify_one();
    }

    /// The next pod to schedule.
    pub async fn pop(&self) -> String {
        loop {
            if let Some(k) = self.try_pop() {
                return k;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), self.wake.notified()).await;
        }
    }

    fn try_pop(&self) -> Option<String> {
        let mut s = self.state.lock().ok()?;
        let now = Instant::now();
        let due: Vec<String> = s
            .backoff
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            s.backoff.remove(&k);
            if s.in_active.insert(k.clone()) {
                s.active.push_back(k);
            }
        }
        let stale: Vec<String> = s
            .unschedulable
            .iter()
            .filter(|(_, t)| now.duration_since(**t) > UNSCHEDULABLE_FLUSH)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            s.unschedulable.remove(&k);
            if s.in_active.insert(k.clone()) {
                s.active.push_back(k);
            }
        }
        let k = s.active.pop_front()?;
        s.in_active.remove(&k);
        Some(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unschedulable_pods_come_back_on_events() {
        let q = Queue::default();
        q.add("a");
        q.add("a");
        assert_eq!(q.pop().await, "a");
        assert!(q.try_pop().is_none());
        q.unschedulable("a");
        assert!(q.is_unschedulable("a"));
        assert!(q.try_pop().is_none());
        q.move_all_unschedulable();
        assert_eq!(q.pop().await, "a");
    }

    #[tokio::test]
    async fn backoff_delays_retry() {
        let q = Queue::default();
        q.backoff("b");
        assert!(q.try_pop().is_none());
        tokio::time::sleep(INITIAL_BACKOFF + Duration::from_millis(50)).await;
        assert_eq!(q.try_pop().as_deref(), Some("b"));
    }
}
