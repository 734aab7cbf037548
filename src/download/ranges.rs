//! Byte ranges of one file: which are done (an interval set, also the journal's content) and
//! which are being fetched (pieces handed to connections, split at the tail so the last
//! percent does not crawl on one slow connection).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A range in flight is split only if it would take longer than this to finish at its rate:
/// on a fast link a split wastes what the server has already sent, on a slow one it saves
/// the tail.
const SPLIT_IF_SLOWER_THAN: Duration = Duration::from_secs(2);

/// A set of disjoint, sorted, non-adjacent half-open ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct RangeSet(Vec<(u64, u64)>);

impl RangeSet {
    pub(crate) fn insert(&mut self, r: Range<u64>) {
        if r.is_empty() {
            return;
        }
        let (mut start, mut end) = (r.start, r.end);
        self.0.retain(|&(s, e)| {
            let touches = s <= end && start <= e;
            if touches {
                start = start.min(s);
                end = end.max(e);
            }
            !touches
        });
        let at = self.0.partition_point(|&(s, _)| s < start);
        self.0.insert(at, (start, end));
    }

    /// The end of the completed prefix `[0, n)`.
    pub(crate) fn prefix_end(&self) -> u64 {
        match self.0.first() {
            Some(&(0, e)) => e,
            _ => 0,
        }
    }

    /// Total bytes covered.
    pub(crate) fn len(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }

    /// The parts of `[0, size)` not covered.
    pub(crate) fn missing(&self, size: u64) -> Vec<Range<u64>> {
        let mut gaps = Vec::new();
        let mut at = 0;
        for &(s, e) in &self.0 {
            if s > at {
                gaps.push(at..s.min(size));
            }
            at = at.max(e);
        }
        if at < size {
            gaps.push(at..size);
        }
        gaps.retain(|r| !r.is_empty());
        gaps
    }

    /// Keeps only what lies inside `[0, size)` and is well-formed.
    pub(crate) fn clamp(self, size: u64) -> Self {
        let mut out = Self::default();
        for (s, e) in self.0 {
            if s < e {
                out.insert(s.min(size)..e.min(size));
            }
        }
        out
    }
}

/// `r` in consecutive pieces of at most `piece` bytes.
fn cut(r: Range<u64>, piece: u64) -> impl Iterator<Item = Range<u64>> {
    let mut start = r.start;
    std::iter::from_fn(move || {
        (start < r.end).then(|| {
            let end = start.saturating_add(piece).min(r.end);
            let out = start..end;
            start = end;
            out
        })
    })
}

/// A range being fetched by one connection. Its end may shrink when another connection
/// steals the upper half.
#[derive(Debug)]
pub(crate) struct Piece {
    /// Next byte to write.
    pub(crate) pos: AtomicU64,
    /// Exclusive end; only ever lowered.
    pub(crate) end: AtomicU64,
    begin: u64,
    started: Instant,
}

impl Piece {
    fn new(r: Range<u64>) -> Arc<Self> {
        Arc::new(Self {
            pos: AtomicU64::new(r.start),
            end: AtomicU64::new(r.end),
            begin: r.start,
            started: Instant::now(),
        })
    }

    /// How long the rest will take at the rate so far; `None` while too young to tell.
    fn time_left(&self) -> Option<Duration> {
        let elapsed = self.started.elapsed();
        let done = self.pos.load(Ordering::Acquire).saturating_sub(self.begin);
        if elapsed < Duration::from_millis(500) {
            return None;
        }
        if done == 0 {
            return Some(Duration::MAX);
        }
        let rate = done as f64 / elapsed.as_secs_f64();
        Some(Duration::from_secs_f64(
            (self.remaining() as f64 / rate).min(1e9),
        ))
    }

    fn remaining(&self) -> u64 {
        self.end
            .load(Ordering::Acquire)
            .saturating_sub(self.pos.load(Ordering::Acquire))
    }
}

#[derive(Debug, Default)]
struct Queue {
    pending: VecDeque<Range<u64>>,
    active: Vec<Arc<Piece>>,
}

/// What a connection should do next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Fetch this piece.
    Piece(Arc<Piece>),
    /// Nothing to take now, but a piece in flight may become worth splitting.
    Wait,
    /// Nothing left for another connection.
    Done,
}

/// The work list of one file.
#[derive(Debug)]
pub(crate) struct Plan {
    queue: Mutex<Queue>,
    /// Pieces smaller than twice this are not split further.
    min_split: u64,
    /// One stream fetches the file (the server ignores ranges): never split.
    single: AtomicBool,
}

impl Plan {
    /// Cuts the missing ranges into pieces of at most `piece` bytes.
    pub(crate) fn new(missing: &[Range<u64>], piece: u64, min_split: u64) -> Self {
        Self::tapered(missing, piece, min_split, 0)
    }

    /// [`Plan::new`], with the last `taper` pieces cut in quarters (not below `2 * min_split`).
    ///
    /// Connections that start together finish their pieces together, and the hasher, which
    /// follows the completed prefix, then has all but one of those pieces to read back at once.
    /// Mid-file that overlaps the next round; after the last round it is all that is left to
    /// do. Quartering the last round (one piece per connection) makes it a quarter as large.
    pub(crate) fn tapered(
        missing: &[Range<u64>],
        piece: u64,
        min_split: u64,
        taper: usize,
    ) -> Self {
        let mut pending: VecDeque<Range<u64>> =
            missing.iter().flat_map(|r| cut(r.clone(), piece)).collect();
        let small = (piece / 4).max(2 * min_split);
        if taper > 0 && small < piece && pending.len() > 2 * taper {
            let tail: Vec<Range<u64>> = pending.drain(pending.len() - taper..).collect();
            pending.extend(tail.into_iter().flat_map(|r| cut(r, small)));
        }
        Self {
            queue: Mutex::new(Queue {
                pending,
                active: Vec::new(),
            }),
            min_split,
            single: AtomicBool::new(false),
        }
    }

    pub(crate) fn piece_count(&self) -> usize {
        self.queue.lock().expect("plan").pending.len()
    }

    /// The next piece to fetch: a queued one, else the upper half of the slowest in flight.
    pub(crate) fn next(&self) -> Next {
        let mut q = self.queue.lock().expect("plan");
        q.active.retain(|p| p.remaining() > 0);
        if let Some(r) = q.pending.pop_front() {
            let piece = Piece::new(r);
            q.active.push(piece.clone());
            return Next::Piece(piece);
        }
        if self.single.load(Ordering::Acquire) {
            return Next::Done;
        }
        let splittable = q
            .active
            .iter()
            .filter(|p| p.remaining() >= 2 * self.min_split);
        let Some(victim) = splittable
            .max_by_key(|p| (p.time_left().unwrap_or_default(), p.remaining()))
            .cloned()
        else {
            return Next::Done;
        };
        if victim.time_left().is_none_or(|t| t < SPLIT_IF_SLOWER_THAN) {
            return Next::Wait;
        }
        let pos = victim.pos.load(Ordering::Acquire);
        let old_end = victim.end.load(Ordering::Acquire);
        let mid = pos + (old_end - pos) / 2;
        victim.end.store(mid, Ordering::Release);
        let piece = Piece::new(mid..old_end);
        q.active.push(piece.clone());
        Next::Piece(piece)
    }

    /// Nothing is queued and nothing in flight has bytes left: the file is complete.
    pub(crate) fn is_finished(&self) -> bool {
        let q = self.queue.lock().expect("plan");
        q.pending.is_empty() && q.active.iter().all(|p| p.remaining() == 0)
    }

    /// Replaces every piece by `r` (the server ignores ranges; one stream fetches the rest).
    /// Only the first call does anything; returns whether this one did.
    pub(crate) fn restart(&self, r: Range<u64>) -> bool {
        if self.single.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut q = self.queue.lock().expect("plan");
        q.pending.clear();
        for p in q.active.drain(..) {
            p.end.store(0, Ordering::Release);
        }
        if !r.is_empty() {
            q.pending.push_back(r);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_sets_merge() {
        let mut s = RangeSet::default();
        s.insert(10..20);
        s.insert(0..5);
        s.insert(5..10);
        s.insert(30..40);
        assert_eq!(s.0, vec![(0, 20), (30, 40)]);
        assert_eq!(s.prefix_end(), 20);
        assert_eq!(s.missing(50), vec![20..30, 40..50]);
        assert_eq!(s.len(), 30);
        s.insert(15..35);
        assert_eq!(s.0, vec![(0, 40)]);
        assert_eq!(s.clone().clamp(25).0, vec![(0, 25)]);
    }

    #[test]
    fn plans_split_then_steal_only_slow_pieces() {
        let plan = Plan::new(std::slice::from_ref(&(0..100)), 40, 10);
        assert_eq!(plan.piece_count(), 3);
        let take = |plan: &Plan| match plan.next() {
            Next::Piece(p) => p,
            other => panic!("expected a piece, got {other:?}"),
        };
        let a = take(&plan);
        let _b = take(&plan);
        let c = take(&plan);
        assert_eq!(c.end.load(Ordering::Relaxed), 100);
        // Nothing queued, and nothing in flight is known to be slow yet.
        assert!(matches!(plan.next(), Next::Wait));
        std::thread::sleep(Duration::from_millis(600));
        // No byte arrived for 600 ms: the largest is split in half.
        let d = take(&plan);
        assert_eq!(
            d.end.load(Ordering::Relaxed) - d.pos.load(Ordering::Relaxed),
            20
        );
        a.pos.store(40, Ordering::Relaxed);
        assert_eq!(a.remaining(), 0);
    }

    #[test]
    fn a_plan_is_finished_only_when_every_piece_is_done() {
        let plan = Plan::new(std::slice::from_ref(&(0..80)), 40, 10);
        assert!(!plan.is_finished(), "pieces are queued");
        let (Next::Piece(a), Next::Piece(b)) = (plan.next(), plan.next()) else {
            panic!("two pieces expected");
        };
        assert!(!plan.is_finished(), "pieces are in flight");
        a.pos.store(40, Ordering::Relaxed);
        assert!(!plan.is_finished(), "one piece still has bytes left");
        b.pos.store(80, Ordering::Relaxed);
        assert!(plan.is_finished());
    }

    #[test]
    fn the_last_round_is_cut_in_quarters() {
        let plan = Plan::tapered(std::slice::from_ref(&(0..1000)), 40, 1, 4);
        let pieces: Vec<(u64, u64)> = std::iter::from_fn(|| match plan.next() {
            Next::Piece(p) => {
                let r = (p.begin, p.end.load(Ordering::Acquire));
                p.pos.store(r.1, Ordering::Release);
                Some(r)
            }
            _ => None,
        })
        .collect();
        assert_eq!(pieces.len(), 21 + 16, "{pieces:?}");
        assert!(pieces[..21].iter().all(|(s, e)| e - s == 40));
        assert!(pieces[21..].iter().all(|(s, e)| e - s == 10));
        assert_eq!(pieces.last(), Some(&(990, 1000)));
        // Too few pieces to taper, or pieces too small to cut.
        assert_eq!(
            Plan::tapered(std::slice::from_ref(&(0..200)), 40, 1, 4).piece_count(),
            5
        );
        assert_eq!(
            Plan::tapered(std::slice::from_ref(&(0..1000)), 40, 20, 4).piece_count(),
            25
        );
    }

    #[test]
    fn small_remainders_are_not_split() {
        let plan = Plan::new(std::slice::from_ref(&(0..15)), 40, 10);
        let _a = plan.next();
        assert!(matches!(plan.next(), Next::Done));
    }
}
