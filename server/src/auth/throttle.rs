//! Back-off after repeated failures (sign-in, enrollment codes), per account, per account and
//! address, and (for codes, which name no account) per address.
//!
//! An attempt is counted when it starts, before the password is hashed or the code looked up,
//! so attempts sent in parallel cannot all pass the check together; a right one takes its count
//! back. Kept in memory: a restart forgetting the counts costs an attacker a restart's worth of
//! guesses at most.

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

/// The throttles of the server. Sign-in waits per account (guesses from anywhere) and per
/// account and address (one place's typos), never per address alone: a commune office, or every
/// phone behind a carrier's shared address, must not lock out the hamlet heads whose own
/// accounts are fine. Enrollment codes name no account, so their guesses wait per address.
pub struct Throttles {
    pub accounts: Throttle,
    pub account_addresses: Throttle,
    pub enrollment_codes: Throttle,
}

impl Default for Throttles {
    fn default() -> Self {
        Throttles {
            accounts: Throttle::new(10),
            account_addresses: Throttle::new(5),
            enrollment_codes: Throttle::new(10),
        }
    }
}

/// The key of an account at an address.
pub fn account_at(username: &str, address: &str) -> String {
    format!("{username}@{address}")
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
        self.wait(&map, keys, now)
    }

    /// The longest wait of `keys` at `now` (an entry quiet for `MAX_WAIT` waits no more).
    fn wait(&self, map: &HashMap<String, Entry>, keys: &[&str], now: Instant) -> Duration {
        keys.iter()
            .filter_map(|k| map.get(*k))
            .map(|e| (e.last + e.wait(self.free)).saturating_duration_since(now))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Counts an attempt on `keys` before it is checked: `Err(wait)` (nothing counted) when any
    /// of them must still wait, else the attempt counts as a failure until [`Throttle::forgive`]
    /// or [`Throttle::succeed`] takes it back.
    pub fn attempt(&self, keys: &[&str]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let wait = self.wait(&map, keys, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        Self::count(&mut map, keys, now);
        Ok(())
    }

    /// Takes back the count of one attempt that turned out right.
    pub fn forgive(&self, keys: &[&str]) {
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if let Some(entry) = map.get_mut(*key) {
                entry.failures = entry.failures.saturating_sub(1);
            }
        }
    }

    pub fn fail(&self, keys: &[&str]) {
        let now = Instant::now();
        let mut map = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        Self::count(&mut map, keys, now);
    }

    fn count(map: &mut HashMap<String, Entry>, keys: &[&str], now: Instant) {
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
            entry.failures = entry.failures.saturating_add(1);
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

    #[test]
    fn attempts_count_before_they_are_checked() {
        let t = Throttle::new(3);
        // Three attempts in flight at once pass; the fourth is held back before any is checked.
        for _ in 0..3 {
            assert_eq!(t.attempt(&["an", "an@1.2.3.4"]), Ok(()));
        }
        assert!(t.attempt(&["an", "an@1.2.3.4"]).is_err());
        // A key not involved is not held back by the others.
        assert_eq!(t.attempt(&["binh", "binh@1.2.3.4"]), Ok(()));
        // Right attempts take their count back.
        t.forgive(&["an", "an@1.2.3.4"]);
        assert_eq!(t.attempt(&["an", "an@1.2.3.4"]), Ok(()));
    }
}
