//! The global connection budget (`--connections`), shared by every file.
//!
//! Small files (one connection each) take priority over the ranges of large files, and while
//! small files are still waiting to start, large files leave one connection free for them, so
//! a small file never waits behind a large one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Who asks for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// A whole small file.
    Small,
    /// One range of a large file.
    Bulk,
}

#[derive(Debug)]
struct State {
    free: usize,
    small_waiting: usize,
}

/// A counting semaphore with two priority classes.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<State>,
    notify: Notify,
    /// Small files not yet finished; while non-zero, bulk leaves one connection free.
    small_pending: AtomicUsize,
}

/// A held connection slot; returned on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    pool: Arc<Pool>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.pool.state.lock().expect("pool").free += 1;
        self.pool.notify.notify_waiters();
    }
}

impl Pool {
    pub(crate) fn new(connections: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: connections.max(1),
                small_waiting: 0,
            }),
            notify: Notify::new(),
            small_pending: AtomicUsize::new(0),
        })
    }

    /// Announces `n` more small files to come.
    pub(crate) fn add_small_pending(&self, n: usize) {
        self.small_pending.fetch_add(n, Ordering::AcqRel);
    }

    /// A small file finished (or needed no connection).
    pub(crate) fn small_done(&self) {
        let _ = self
            .small_pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.notify.notify_waiters();
    }

    /// Waits for a connection slot.
    pub(crate) async fn acquire(self: &Arc<Self>, class: Class) -> Permit {
        if class == Class::Small {
            self.state.lock().expect("pool").small_waiting += 1;
        }
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.try_take(class) {
                return Permit { pool: self.clone() };
            }
            notified.await;
        }
    }

    fn try_take(&self, class: Class) -> bool {
        let mut s = self.state.lock().expect("pool");
        let reserve = usize::from(self.small_pending.load(Ordering::Acquire) > 0);
        let ok = match class {
            Class::Small => s.free > 0,
            Class::Bulk => s.small_waiting == 0 && s.free > reserve,
        };
        if ok {
            s.free -= 1;
            if class == Class::Small {
                s.small_waiting -= 1;
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn bulk_leaves_one_for_pending_small_files() {
        let pool = Pool::new(2);
        pool.add_small_pending(1);
        let _a = pool.acquire(Class::Bulk).await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), pool.acquire(Class::Bulk)).await;
        assert!(
            blocked.is_err(),
            "bulk must leave the last slot to small files"
        );
        let _s = pool.acquire(Class::Small).await;
        pool.small_done();
        drop(_s);
        let _b = tokio::time::timeout(Duration::from_millis(50), pool.acquire(Class::Bulk))
            .await
            .expect("no small file pending: bulk may take the last slot");
    }
}
