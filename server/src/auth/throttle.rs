//! Back-off after repeated failures (sign-in, enrollment codes), per account, per account and
//! address, and (for codes, which name no account) per address.
//!
//! An attempt is counted when it starts, before the password is hashed or the code looked up,
//! so attempts sent in parallel cannot all pass the check together; a right one takes its count
//! back. The counts are kept in the database (see [`Storage::throttle_attempt`]), counted under
//! its row locks: several servers over one database hold a caller to one allowance however the
//! load balancer spreads its requests, and a restart forgets nothing.

use std::time::Duration;

use crate::storage::{Millis, Storage, StorageError};

/// The longest wait, and how long a quiet key takes to be forgotten.
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

const MAX_WAIT_MS: Millis = 15 * 60 * 1000;

pub struct Throttle {
    /// The back-off's name in the database.
    scope: &'static str,
    /// Failures allowed before waiting starts.
    free: u32,
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
            accounts: Throttle::new("accounts", 10),
            account_addresses: Throttle::new("account-addresses", 5),
            enrollment_codes: Throttle::new("enrollment-codes", 10),
        }
    }
}

/// The key of an account at an address.
pub fn account_at(username: &str, address: &str) -> String {
    format!("{username}@{address}")
}

/// After `failures`, the wait from the last one: none for the free ones, then 1 s doubling with
/// each failure after, at most 15 minutes.
fn wait_after(free: u32, failures: i64) -> Millis {
    let free = i64::from(free);
    if failures < free {
        return 0;
    }
    let doublings = (failures - free).min(10);
    (1000_i64 << doublings).min(MAX_WAIT_MS)
}

impl Throttle {
    pub fn new(scope: &'static str, free_failures: u32) -> Self {
        Throttle {
            scope,
            free: free_failures,
        }
    }

    /// Counts an attempt on `keys` before it is checked: `Err(wait)` (nothing counted) when any
    /// of them must still wait, else the attempt counts as a failure until [`Throttle::forgive`]
    /// or [`Throttle::succeed`] takes it back.
    pub async fn attempt(
        &self,
        storage: &dyn Storage,
        keys: &[&str],
    ) -> Result<Result<(), Duration>, StorageError> {
        let free = self.free;
        let wait = storage
            .throttle_attempt(
                self.scope,
                keys,
                crate::now_millis(),
                MAX_WAIT_MS,
                &move |failures| wait_after(free, failures),
            )
            .await?;
        Ok(if wait > 0 {
            // Rounded up to whole seconds, as Retry-After says them.
            let wait = u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1);
            Err(Duration::from_secs(wait).min(MAX_WAIT))
        } else {
            Ok(())
        })
    }

    /// Takes back the count of one attempt that turned out right (or was never checked).
    pub async fn forgive(&self, storage: &dyn Storage, keys: &[&str]) -> Result<(), StorageError> {
        storage.throttle_forgive(self.scope, keys).await
    }

    /// Forgets `keys` after a right attempt (and every key quiet for the longest wait).
    pub async fn succeed(&self, storage: &dyn Storage, keys: &[&str]) -> Result<(), StorageError> {
        storage
            .throttle_clear(self.scope, keys, crate::now_millis() - MAX_WAIT_MS)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_waits_grow() {
        for failures in 0..5 {
            assert_eq!(wait_after(5, failures), 0);
        }
        assert_eq!(wait_after(5, 5), 1000);
        assert_eq!(wait_after(5, 6), 2000);
        assert_eq!(wait_after(5, 14), 512_000);
        assert_eq!(wait_after(5, 15), MAX_WAIT_MS, "at most 15 minutes");
        assert_eq!(wait_after(5, 1000), MAX_WAIT_MS);
    }
}
