//! How many files are fetched at once.
//!
//! An explicit `--max-workers N` is a fixed limit. By default the limit adapts: it starts at 8
//! (as `hf download` does), grows by one for every small file that finishes about as fast as
//! the fastest did (the run is bound by round trips, and the server keeps up), stops growing
//! when they slow down (the link or the server is the limit), and halves on a 429, a 503 or a
//! timeout, never below 2 nor above 64. After a halving it grows by one per `limit` files
//! only, and never again above the limit it was cut from.
//!
//! This module only counts; the engine reports finished files and congestion to it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The adaptive limit's first value, `hf download`'s default.
pub(crate) const START: usize = 8;
/// The adaptive limit's ceiling (also `--max-workers`' maximum).
pub(crate) const MAX: usize = 64;
const FLOOR: usize = 2;
/// A file this much slower than the fastest one means queueing: stop growing.
const SLOWDOWN: f64 = 2.0;
/// Latencies below this are noise on a local link: their ratio says nothing.
const NOISE: Duration = Duration::from_millis(5);

#[derive(Debug)]
struct State {
    limit: usize,
    running: usize,
    /// Never grow above this (64, or the limit at the last cut).
    ceiling: usize,
    /// Growing by one per finished file until the first congestion, then by one per `limit`.
    slow_start: bool,
    credit: usize,
    fastest: Option<Duration>,
    /// Moving average of recent small files' latencies.
    recent: Option<Duration>,
    last_cut: Option<Instant>,
}

/// The number of files in flight, fixed or adaptive.
#[derive(Debug)]
pub(crate) struct FileLimit {
    state: Mutex<State>,
    notify: Notify,
    adaptive: bool,
}

/// A file's place among those in flight; given back on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    limit: Arc<FileLimit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limit.state.lock().expect("file limit").running -= 1;
        self.limit.notify.notify_waiters();
    }
}

impl FileLimit {
    /// Exactly `n` files at once.
    pub(crate) fn fixed(n: usize) -> Arc<Self> {
        Self::new(n.max(1), false)
    }

    /// From [`START`] up to [`MAX`], as the run allows.
    pub(crate) fn adaptive() -> Arc<Self> {
        Self::new(START, true)
    }

    fn new(limit: usize, adaptive: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                limit,
                running: 0,
                ceiling: if adaptive { MAX } else { limit },
                slow_start: true,
                credit: 0,
                fastest: None,
                recent: None,
                last_cut: None,
            }),
            notify: Notify::new(),
            adaptive,
        })
    }

    /// The current limit.
    pub(crate) fn limit(&self) -> usize {
        self.state.lock().expect("file limit").limit
    }

    /// The most files that may ever be in flight.
    pub(crate) fn ceiling(&self) -> usize {
        self.state.lock().expect("file limit").ceiling
    }

    /// Waits until one more file may start.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().expect("file limit");
                if s.running < s.limit {
                    s.running += 1;
                    return Slot {
                        limit: self.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    /// A small file was fetched in `latency` (from its first request to its last byte).
    pub(crate) fn finished(&self, latency: Duration) {
        if !self.adaptive {
            return;
        }
        let mut s = self.state.lock().expect("file limit");
        let fastest = s.fastest.map_or(latency, |f| f.min(latency));
        s.fastest = Some(fastest);
        let recent = s
            .recent
            .map_or(latency, |r| r.mul_f64(0.8) + latency.mul_f64(0.2));
        s.recent = Some(recent);
        let queueing = recent > NOISE && recent.as_secs_f64() > fastest.as_secs_f64() * SLOWDOWN;
        if queueing || s.limit >= s.ceiling {
            return;
        }
        s.credit += 1;
        if s.slow_start || s.credit >= s.limit {
            s.credit = 0;
            s.limit += 1;
            drop(s);
            self.notify.notify_waiters();
        }
    }

    /// The server pushed back (429, 503) or a request timed out: halve the limit, once per
    /// burst of such answers (those in flight when it was cut do not cut it again).
    pub(crate) fn congested(&self) {
        if !self.adaptive {
            return;
        }
        let mut s = self.state.lock().expect("file limit");
        let settle = s
            .recent
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(500));
        if s.last_cut.is_some_and(|at| at.elapsed() < settle) {
            return;
        }
        s.ceiling = s.limit.max(FLOOR);
        s.limit = (s.limit / 2).max(FLOOR);
        s.slow_start = false;
        s.credit = 0;
        s.last_cut = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(20);

    #[test]
    fn grows_while_files_stay_fast_up_to_the_ceiling() {
        let limit = FileLimit::adaptive();
        for _ in 0..8 {
            limit.finished(MS);
        }
        assert_eq!(limit.limit(), 16, "one more per finished file at first");
        for _ in 0..200 {
            limit.finished(MS);
        }
        assert_eq!(limit.limit(), MAX);
    }

    #[test]
    fn stops_growing_when_files_slow_down() {
        let limit = FileLimit::adaptive();
        limit.finished(MS);
        for _ in 0..50 {
            limit.finished(MS * 10);
        }
        assert!(limit.limit() < 16, "queueing: {}", limit.limit());
    }

    #[test]
    fn halves_once_per_burst_and_stays_below_the_cut() {
        let limit = FileLimit::adaptive();
        for _ in 0..24 {
            limit.finished(MS);
        }
        assert_eq!(limit.limit(), 32);
        limit.congested();
        limit.congested();
        assert_eq!(limit.limit(), 16, "one cut per burst");
        assert_eq!(limit.ceiling(), 32);
        for _ in 0..16 {
            limit.finished(MS);
        }
        assert_eq!(limit.limit(), 17, "additive increase after a cut");
        for _ in 0..10_000 {
            limit.finished(MS);
        }
        assert_eq!(limit.limit(), 32, "never above the limit that was cut");
    }

    #[test]
    fn a_fixed_limit_never_moves() {
        let limit = FileLimit::fixed(8);
        for _ in 0..100 {
            limit.finished(MS);
        }
        limit.congested();
        assert_eq!((limit.limit(), limit.ceiling()), (8, 8));
    }

    #[tokio::test]
    async fn slots_wait_for_the_limit() {
        let limit = FileLimit::fixed(1);
        let first = limit.acquire().await;
        let second = tokio::time::timeout(Duration::from_millis(50), limit.acquire()).await;
        assert!(second.is_err());
        drop(first);
        let _second = tokio::time::timeout(Duration::from_millis(50), limit.acquire())
            .await
            .expect("freed");
    }
}
