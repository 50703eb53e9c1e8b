//! One async lock per document id, so a document is never loaded and written twice at once,
//! without keeping a lock around for every document ever touched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for the lock of `key`; it is released when the guard drops.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            // A poisoned map only means another task panicked while inserting; the map itself
            // is still consistent, so keep using it.
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(existing) = locks.get(key).and_then(Weak::upgrade) {
                existing
            } else {
                if locks.len() >= 1024 {
                    locks.retain(|_, weak| weak.strong_count() > 0);
                }
                let fresh = Arc::new(AsyncMutex::new(()));
                locks.insert(key.to_owned(), Arc::downgrade(&fresh));
                fresh
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_key_waits_other_keys_do_not() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("a").await;
        let other = tokio::time::timeout(Duration::from_secs(1), locks.lock("b")).await;
        assert!(other.is_ok());
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(same.is_err());
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(1), locks.lock("a")).await;
        assert!(again.is_ok());
    }
}
