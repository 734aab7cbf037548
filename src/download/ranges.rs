//! Byte ranges of one file: which are done (an interval set, also the journal's content) and
//! which are being fetched (pieces handed to connections, split at the tail so the last
//! percent does not crawl on one slow connection).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// A range being fetched by one connection. Its end may shrink when another connection
/// steals the upper half.
#[derive(Debug)]
pub(crate) struct Piece {
    /// Next byte to write.
    pub(crate) pos: AtomicU64,
    /// Exclusive end; only ever lowered.
    pub(crate) end: AtomicU64,
}

impl Piece {
    fn new(r: Range<u64>) -> Arc<Self> {
        Arc::new(Self {
            pos: AtomicU64::new(r.start),
            end: AtomicU64::new(r.end),
        })
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

/// The work list of one file.
#[derive(Debug)]
pub(crate) struct Plan {
    queue: Mutex<Queue>,
    /// Pieces smaller than twice this are not split further.
    min_split: u64,
}

impl Plan {
    /// Cuts the missing ranges into pieces of at most `piece` bytes.
    pub(crate) fn new(missing: &[Range<u64>], piece: u64, min_split: u64) -> Self {
        let mut pending = VecDeque::new();
        for r in missing {
            let mut start = r.start;
            while start < r.end {
                let end = start.saturating_add(piece).min(r.end);
                pending.push_back(start..end);
                start = end;
            }
        }
        Self {
            queue: Mutex::new(Queue {
                pending,
                active: Vec::new(),
            }),
            min_split,
        }
    }

    pub(crate) fn piece_count(&self) -> usize {
        self.queue.lock().expect("plan").pending.len()
    }

    /// The next piece to fetch: a queued one, else the upper half of the largest in flight.
    pub(crate) fn next(&self) -> Option<Arc<Piece>> {
        let mut q = self.queue.lock().expect("plan");
        q.active.retain(|p| p.remaining() > 0);
        if let Some(r) = q.pending.pop_front() {
            let piece = Piece::new(r);
            q.active.push(piece.clone());
            return Some(piece);
        }
        let victim = q.active.iter().max_by_key(|p| p.remaining())?.clone();
        let remaining = victim.remaining();
        if remaining < 2 * self.min_split {
            return None;
        }
        let pos = victim.pos.load(Ordering::Acquire);
        let old_end = victim.end.load(Ordering::Acquire);
        let mid = pos + remaining / 2;
        victim.end.store(mid, Ordering::Release);
        let piece = Piece::new(mid..old_end);
        q.active.push(piece.clone());
        Some(piece)
    }

    /// Replaces every piece by `r` (the server ignores ranges; one stream fetches the rest).
    pub(crate) fn restart(&self, r: Range<u64>) {
        let mut q = self.queue.lock().expect("plan");
        q.pending.clear();
        for p in q.active.drain(..) {
            p.end.store(0, Ordering::Release);
        }
        if !r.is_empty() {
            q.pending.push_back(r);
        }
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
    fn plans_split_then_steal() {
        let plan = Plan::new(std::slice::from_ref(&(0..100)), 40, 10);
        assert_eq!(plan.piece_count(), 3);
        let a = plan.next().unwrap();
        let _b = plan.next().unwrap();
        let c = plan.next().unwrap();
        assert_eq!(c.end.load(Ordering::Relaxed), 100);
        // Nothing queued: the largest in flight (a or b, 40 bytes) is split in half.
        let d = plan.next().unwrap();
        assert_eq!(
            d.end.load(Ordering::Relaxed) - d.pos.load(Ordering::Relaxed),
            20
        );
        a.pos.store(40, Ordering::Relaxed);
        assert_eq!(a.remaining(), 0);
    }

    #[test]
    fn small_remainders_are_not_split() {
        let plan = Plan::new(std::slice::from_ref(&(0..15)), 40, 10);
        let _a = plan.next().unwrap();
        assert!(plan.next().is_none());
    }
}
