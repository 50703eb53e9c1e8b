//! The pool that checks and makes password hashes: argon2id takes 19 MiB and tens of
//! milliseconds a hash, so a burst of sign-ins hashed all at once exhausts memory. A few run at
//! a time, a bounded number wait their turn, and beyond that the caller is told to come back
//! (`429` with `Retry-After`), whatever the number of attempts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::password;

/// The pool is full: come back after a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks at once; retry in a second")]
pub struct Busy;

pub struct HashPool {
    running: Arc<Semaphore>,
    /// Checks holding or waiting for a place.
    admitted: AtomicUsize,
    /// At most this many hold or wait at once.
    capacity: usize,
}

/// Counts one admitted check for as long as it lives.
struct Admission<'a>(&'a AtomicUsize);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    /// `workers` hashes at once (each holds 19 MiB), `queue` more waiting; at least one of each.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        HashPool {
            running: Arc::new(Semaphore::new(workers)),
            admitted: AtomicUsize::new(0),
            capacity: workers + queue.max(1),
        }
    }

    /// Checks and hashes in progress or waiting now.
    pub fn in_use(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Runs `work` on a blocking thread once a place is free; `Busy` at once when the queue is
    /// full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let _admission = Admission(&self.admitted);
        if admitted >= self.capacity {
            return Err(HashError::Busy(Busy));
        }
        let _permit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    /// Whether `given` matches the PHC string `hash`; with no hash (an unknown name) the same
    /// work is done and the answer is no, so a name's existence does not show in the time.
    pub async fn verify(&self, given: String, hash: Option<String>) -> Result<bool, HashError> {
        self.run(move || match hash {
            Some(hash) => password::verify(&given, &hash),
            None => {
                let _ = password::hash(&given);
                false
            }
        })
        .await
    }

    /// A new argon2id hash of `new`, when `current` matches `hash` (`None` when it does not).
    pub async fn verify_and_rehash(
        &self,
        current: String,
        hash: String,
        new: String,
    ) -> Result<Option<String>, HashError> {
        self.run(move || {
            if !password::verify(&current, &hash) {
                return Ok(None);
            }
            password::hash(&new).map(Some)
        })
        .await?
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Busy(Busy),
    #[error("password check failed: {0}")]
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn beyond_the_queue_callers_are_told_to_come_back() {
        let pool = Arc::new(HashPool::new(1, 2));
        let hash = password::hash("đúng rồi").unwrap();
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                let pool = pool.clone();
                let hash = hash.clone();
                tokio::spawn(async move { pool.verify("đúng rồi".into(), Some(hash)).await })
            })
            .collect();
        let mut checked = 0;
        let mut busy = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(matched) => {
                    assert!(matched);
                    checked += 1;
                }
                Err(HashError::Busy(_)) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(checked + busy, 12);
        assert!(checked >= 1 && busy >= 1, "{checked} checked, {busy} busy");
        assert_eq!(pool.in_use(), 0, "every place is given back");
        assert!(
            pool.verify("sai".into(), Some(hash))
                .await
                .is_ok_and(|m| !m)
        );
    }
}
