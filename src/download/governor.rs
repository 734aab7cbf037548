//! How many connections one large file uses: all it started with while the link is the limit,
//! fewer while its hasher is. Workers over the limit park between ranges.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::connection::FileState;

/// Unhashed bytes that show the hasher cannot keep up with the connections.
const HASH_BACKLOG: u64 = 32 << 20;
/// Checks (100 ms apart) in a row the backlog must grow before connections are cut.
const BACKLOG_CHECKS: u32 = 3;
/// Checks (100 ms apart) in a row with the hasher keeping up before connections come back.
const CALM_CHECKS: u32 = 10;
/// Connections a fast file keeps at least.
pub(super) const MIN_STREAMS: usize = 2;

/// How many connections work on one file, and how many may.
///
/// On a fast link the hasher is the ceiling (one core digests about 1.4 GB/s here). Once more
/// than [`HASH_BACKLOG`] bytes of the completed prefix wait for it and the backlog keeps
/// growing, connections beyond what it can take only cost CPU, and the bytes they fetch far
/// ahead of the hash cursor must be read back, so the file's connections are halved, never
/// below two: the others park between ranges. Once the hasher has kept up for a second, the
/// limit doubles again (up to where it started), so a slow spell (a busy CPU, a cold disk
/// under a resumed file) does not leave a throttled download on two connections.
#[derive(Debug, Default)]
pub(super) struct Streams {
    /// Workers fetching or looking for a range (not parked, not gone).
    running: AtomicUsize,
    limit: AtomicUsize,
    /// The number of workers started; the limit never exceeds it.
    started: AtomicUsize,
}

/// One worker, counted in [`Streams::running`] while it runs, uncounted when it parks or
/// leaves.
pub(super) struct Counted<'a> {
    streams: &'a Streams,
    parked: bool,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if !self.parked {
            self.streams.running.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Counted<'_> {
    pub(super) fn is_parked(&self) -> bool {
        self.parked
    }

    /// Steps aside if more than the limit are running.
    pub(super) fn try_park(&mut self) -> bool {
        self.parked = self.streams.try_park();
        self.parked
    }

    /// Comes back if the limit allows.
    pub(super) fn try_unpark(&mut self) -> bool {
        self.parked = !self.streams.try_unpark();
        !self.parked
    }
}

impl Streams {
    pub(super) fn start(&self, workers: usize) {
        self.running.store(workers, Ordering::Release);
        self.limit.store(workers, Ordering::Release);
        self.started.store(workers, Ordering::Release);
    }

    /// One of the workers counted by [`Streams::start`].
    pub(super) fn enter(&self) -> Counted<'_> {
        Counted {
            streams: self,
            parked: false,
        }
    }

    /// A worker steps aside if more than the limit are running.
    fn try_park(&self) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r > limit).then(|| r - 1)
            })
            .is_ok()
    }

    /// A parked worker comes back if the limit allows.
    fn try_unpark(&self) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| {
                (r < limit).then(|| r + 1)
            })
            .is_ok()
    }

    fn halve(&self) {
        let limit = self.limit.load(Ordering::Acquire);
        self.limit
            .store((limit / 2).max(MIN_STREAMS).min(limit), Ordering::Release);
    }

    fn double(&self) {
        let (limit, started) = (
            self.limit.load(Ordering::Acquire),
            self.started.load(Ordering::Acquire),
        );
        self.limit
            .store((limit * 2).min(started).max(limit), Ordering::Release);
    }
}

/// Halves the file's connections while the hasher falls behind, and doubles them again once
/// it keeps up (see [`Streams`]).
///
/// The backlog must be over [`HASH_BACKLOG`] and grow for [`BACKLOG_CHECKS`] checks in a
/// row: a throttled mirror that lets each new request burst (nginx's `limit_rate` allows a
/// second's worth at once) makes spikes that the hasher clears within a check or two, and a
/// resumed file starts with its whole done prefix to hash, a backlog that shrinks.
pub(super) async fn govern(state: &FileState, mut stopped: watch::Receiver<bool>) {
    let (mut rising, mut calm, mut before) = (0, 0, 0);
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stopped.changed() => return,
        }
        // Only the completed prefix can be hashed: bytes further on, fetched by connections
        // still filling lower ranges, are no sign of a slow hasher.
        let lag = state.prefix.lag();
        rising = if lag > HASH_BACKLOG && lag > before {
            rising + 1
        } else {
            0
        };
        calm = if lag <= HASH_BACKLOG / 2 { calm + 1 } else { 0 };
        before = lag;
        if rising >= BACKLOG_CHECKS {
            state.streams.halve();
            rising = 0;
        } else if calm >= CALM_CHECKS {
            state.streams.double();
            calm = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_park_above_the_limit_and_come_back_when_it_rises() {
        let streams = Streams::default();
        streams.start(4);
        assert!(!streams.try_park(), "at the limit, nobody parks");
        streams.halve();
        assert!(streams.try_park());
        assert!(streams.try_park());
        assert!(!streams.try_park(), "two keep running");
        streams.halve();
        assert_eq!(streams.limit.load(Ordering::Relaxed), MIN_STREAMS);
        assert!(!streams.try_unpark(), "no room yet");
        streams.double();
        assert!(streams.try_unpark());
        assert!(streams.try_unpark());
        assert!(!streams.try_unpark(), "never above the number started");
        streams.double();
        assert_eq!(streams.limit.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn workers_that_finished_no_longer_count() {
        let streams = Streams::default();
        streams.start(16);
        for _ in 0..13 {
            drop(streams.enter());
        }
        streams.limit.store(8, Ordering::Relaxed);
        // The three still running must not park because the finished ones were counted.
        assert!(!streams.try_park());
        assert_eq!(streams.running.load(Ordering::Relaxed), 3);
    }
}
