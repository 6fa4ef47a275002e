//! Crash-loop back-off per container, like upstream's flowcontrol.Backoff
//! in the kubelet: the first restart is immediate, later ones wait 10 s,
//! doubling up to 5 min; an entry idle for twice the maximum is reset.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct CrashBackoff {
    entries: HashMap<String, (Duration, Instant)>,
}

impl CrashBackoff {
    /// The remaining wait before `key` may restart, if any.
    pub fn remaining(&self, key: &str, now: Instant) -> Option<Duration> {
        let (delay, since) = self.entries.get(key)?;
        let elapsed = now.saturating_duration_since(*since);
        (elapsed < *delay).then(|| *delay - elapsed)
    }

    /// The current delay of `key` (for the CrashLoopBackOff message).
    pub fn delay(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(INITIAL, |e| e.0)
    }

    /// Records a restart of `key` now: the next one waits longer.
    pub fn next(&mut self, key: &str, now: Instant) {
        let entry = self
            .entries
            .entry(key.to_string())
            .or_insert((Duration::ZERO, now));
        let idle = now.saturating_duration_since(entry.1);
        entry.0 = if entry.0.is_zero() || idle > 2 * MAX {
            INITIAL
        } else {
            (entry.0 * 2).min(MAX)
        };
        entry.1 = now;
    }

    pub fn forget_prefix(&mut self, prefix: &str) {
        self.entries.retain(|k, _| !k.starts_with(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_ten_seconds_to_five_minutes() {
        let mut b = CrashBackoff::default();
        let t0 = Instant::now();
        assert_eq!(b.remaining("c", t0), None);
        b.next("c", t0);
        assert_eq!(b.remaining("c", t0), Some(INITIAL));
        assert_eq!(b.remaining("c", t0 + INITIAL), None);
        b.next("c", t0 + INITIAL);
        assert_eq!(b.delay("c"), Duration::from_secs(20));
        let mut t = t0 + INITIAL;
        for _ in 0..10 {
            t += b.delay("c");
            b.next("c", t);
        }
        assert_eq!(b.delay("c"), MAX);
    }
}
