//! The global connection budget (`--connections`), shared by every file.
//!
//! Small files (one connection each) take priority over the ranges of large files, and while
//! small files are being fetched, large files leave one connection free for them, so a small
//! file never waits behind a large one. Only small files that hold a worker slot count: one
//! still queued behind busy slots cannot use a reserved connection (and with one connection
//! and one slot, reserving it would deadlock).
//!
//! Decision: `--max-workers N` means N files at once, so when it is larger than
//! `--connections`, small files may use up to N connections; ranges of large files never use
//! more than `--connections`. A user who asks for 64 files at once gets them, and a mirror's
//! per-connection cap still sees at most `--connections` bulk streams.

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
    /// The budget now: it shrinks when the server pushes back ([`Pool::congested`]).
    total: usize,
    free: usize,
    /// Permits to retire when they come back (the budget shrank while they were held).
    debt: usize,
    /// Connections held by ranges of large files.
    bulk: usize,
    small_waiting: usize,
}

/// A counting semaphore with two priority classes.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<State>,
    notify: Notify,
    /// Small files started and not finished; while non-zero, bulk leaves one connection free.
    small_active: AtomicUsize,
    /// The budget of bulk connections (`--connections`).
    connections: usize,
}

/// A held connection slot; returned on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    pool: Arc<Pool>,
    class: Class,
    /// Requests in flight (this one included) when it was granted.
    pub(crate) load: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut s = self.pool.state.lock().expect("pool");
        if s.debt > 0 {
            s.debt -= 1;
        } else {
            s.free += 1;
        }
        if self.class == Class::Bulk {
            s.bulk -= 1;
        }
        drop(s);
        self.pool.notify.notify_waiters();
    }
}

impl Pool {
    /// A budget of `connections` for ranges, and `max(connections, files_at_once)` in all.
    pub(crate) fn new(connections: usize, files_at_once: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                total: connections.max(files_at_once).max(1),
                free: connections.max(files_at_once).max(1),
                debt: 0,
                bulk: 0,
                small_waiting: 0,
            }),
            notify: Notify::new(),
            small_active: AtomicUsize::new(0),
            connections: connections.max(1),
        })
    }

    /// A small file has a worker slot and is starting.
    pub(crate) fn small_started(&self) {
        self.small_active.fetch_add(1, Ordering::AcqRel);
    }

    /// A small file finished (or needed no connection).
    pub(crate) fn small_done(&self) {
        let _ = self
            .small_active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.notify.notify_waiters();
    }

    /// The server refused a request for load (429, 503) that was granted at `load` requests
    /// in flight: the server's limit of requests at once is below `load`, so the budget becomes
    /// at most `load - 1`, for the rest of the run. The refusals of a burst each tighten it,
    /// down to the limit the first refused request found.
    pub(crate) fn congested(&self, load: usize) {
        let mut s = self.state.lock().expect("pool");
        let target = load.saturating_sub(1).max(1);
        if target >= s.total {
            return;
        }
        let cut = s.total - target;
        let from_free = cut.min(s.free);
        s.free -= from_free;
        s.debt += cut - from_free;
        s.total = target;
    }

    /// The budget now.
    #[cfg(test)]
    pub(crate) fn total(&self) -> usize {
        self.state.lock().expect("pool").total
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
            if let Some(load) = self.try_take(class) {
                return Permit {
                    pool: self.clone(),
                    class,
                    load,
                };
            }
            notified.await;
        }
    }

    /// Takes a slot if the class may; returns the requests in flight, this one included.
    fn try_take(&self, class: Class) -> Option<usize> {
        let mut s = self.state.lock().expect("pool");
        let reserve =
            usize::from(self.connections > 1 && self.small_active.load(Ordering::Acquire) > 0);
        let ok = match class {
            Class::Small => s.free > 0,
            Class::Bulk => s.small_waiting == 0 && s.free > reserve && s.bulk < self.connections,
        };
        if !ok {
            return None;
        }
        s.free -= 1;
        match class {
            Class::Small => s.small_waiting -= 1,
            Class::Bulk => s.bulk += 1,
        }
        Some(s.total - s.free + s.debt)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn pushback_shrinks_the_budget_below_what_was_in_use() {
        let pool = Pool::new(4, 4);
        let held: Vec<Permit> = futures_all(&pool, 3).await;
        assert_eq!(held.iter().map(|p| p.load).collect::<Vec<_>>(), [1, 2, 3]);
        pool.congested(held[2].load);
        assert_eq!(pool.total(), 2, "below the load the refused request saw");
        pool.congested(4);
        assert_eq!(
            pool.total(),
            2,
            "a refusal at a higher load says nothing new"
        );
        drop(held);
        let _a = pool.acquire(Class::Small).await;
        let _b = pool.acquire(Class::Small).await;
        let third = tokio::time::timeout(Duration::from_millis(50), pool.acquire(Class::Small));
        assert!(third.await.is_err(), "the budget stays learnt");
    }

    async fn futures_all(pool: &Arc<Pool>, n: usize) -> Vec<Permit> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(pool.acquire(Class::Small).await);
        }
        out
    }

    #[tokio::test]
    async fn bulk_leaves_one_for_pending_small_files() {
        let pool = Pool::new(2, 2);
        pool.small_started();
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

    #[tokio::test]
    async fn a_single_connection_is_never_reserved() {
        let pool = Pool::new(1, 8);
        pool.small_started();
        tokio::time::timeout(Duration::from_millis(50), pool.acquire(Class::Bulk))
            .await
            .expect("with one connection, bulk must not wait for small files");
    }

    #[tokio::test]
    async fn more_workers_than_connections_widen_only_small_files() {
        let pool = Pool::new(2, 4);
        let _b1 = pool.acquire(Class::Bulk).await;
        let _b2 = pool.acquire(Class::Bulk).await;
        let third = tokio::time::timeout(Duration::from_millis(50), pool.acquire(Class::Bulk));
        assert!(third.await.is_err(), "ranges stay within --connections");
        let _s1 = pool.acquire(Class::Small).await;
        let _s2 = pool.acquire(Class::Small).await;
        let fifth = tokio::time::timeout(Duration::from_millis(50), pool.acquire(Class::Small));
        assert!(
            fifth.await.is_err(),
            "the whole budget is max(connections, workers)"
        );
    }
}
