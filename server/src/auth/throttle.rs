//! Back-off after repeated failures (sign-in, enrollment codes), per account and per address.
//!
//! Kept in memory: one server process answers a commune, and a restart forgetting the counts
//! costs an attacker a restart's worth of guesses at most.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest wait, and how long a quiet key takes to be forgotten.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

pub struct Throttle {
    /// Failures allowed before waiting starts.
    free: u32,
    keys: Mutex<HashMap<String, Entry>>,
}

/// The throttles of the server: accounts are strict; addresses allow more, since a whole commune
/// office may share one address and one person's typos must not lock out the others.
pub struct Throttles {
    pub accounts: Throttle,
    pub addresses: Throttle,
    pub enrollment_codes: Throttle,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            accounts: Throttle::new(5),
            addresses: Throttle::new(30),
            enrollment_codes: Throttle::new(5),
        }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

impl Entry {
    /// 1 s after the last free failure, doubling with each one after, at most 15 minutes.
    fn wait(&self, free: u32) -> Duration {
        if self.failures < free {
            return Duration::ZERO;
        }
        let doublings = (self.failures - free).min(10);
        Duration::from_secs(1u64 << doublings).min(MAX_WAIT)
    }
}

impl Throttle {
    pub fn new(free_failures: u32) -> Self {
        Throttle {
            free: free_failures,
            keys: Mutex::default(),
        }
    }

    /// How long `keys` must still wait before another attempt; zero when they may try now.
    pub fn retry_after(&self, keys: &[&str]) -> Duration {
        let now = Instant::now();
        let map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|k| map.get(*k))
            .map(|e| (e.last + e.wait(self.free)).saturating_duration_since(now))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    pub fn fail(&self, keys: &[&str]) {
        let now = Instant::now();
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, e| now.duration_since(e.last) < MAX_WAIT);
        }
        for key in keys {
            let entry = map.entry((*key).to_owned()).or_insert(Entry {
                failures: 0,
                last: now,
            });
            if now.duration_since(entry.last) >= MAX_WAIT {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last = now;
        }
    }

    pub fn succeed(&self, keys: &[&str]) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            map.remove(*key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_waits_grow() {
        let t = Throttle::new(5);
        for _ in 0..4 {
            t.fail(&["user:an"]);
        }
        assert_eq!(t.retry_after(&["user:an"]), Duration::ZERO);
        t.fail(&["user:an"]);
        let first = t.retry_after(&["user:an"]);
        assert!(first > Duration::ZERO && first <= Duration::from_secs(1));
        for _ in 0..15 {
            t.fail(&["user:an"]);
        }
        let later = t.retry_after(&["user:an", "addr:1.2.3.4"]);
        assert!(
            later > Duration::from_secs(500) && later <= MAX_WAIT,
            "{later:?}"
        );
        assert_eq!(t.retry_after(&["user:binh"]), Duration::ZERO);
        t.succeed(&["user:an"]);
        assert_eq!(t.retry_after(&["user:an"]), Duration::ZERO);
    }
}
