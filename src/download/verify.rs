//! Content verification: the digest an etag promises, computed while the download runs.
//!
//! Ranges finish out of order, so a [`PrefixHasher`] follows the contiguous completed prefix of
//! the partial file and reads it back right behind the writers (a page-cache hit), on a
//! blocking thread. No second pass over the file is made after the download. The only user
//! of `sha1`/`sha2`.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::layout::Tee;
use crate::repo::Checksum;

const READ_BLOCK: usize = 256 << 10;
/// The hasher claims at most this much of the file to read back at once, so how far it has
/// got stays accurate while it reads.
const READ_CLAIM: u64 = 8 << 20;

/// A running digest of a file's content.
pub(crate) enum Hasher {
    Sha256(Box<Sha256>),
    GitSha1(Box<Sha1>),
    None,
}

impl Hasher {
    /// Starts the digest that `checksum` needs; git's needs the length up front.
    pub(crate) fn new(checksum: Checksum, len: u64) -> Self {
        match checksum {
            Checksum::Sha256 => Self::Sha256(Box::default()),
            Checksum::GitSha1 => {
                let mut h = Sha1::default();
                h.update(format!("blob {len}\0").as_bytes());
                Self::GitSha1(Box::new(h))
            }
            Checksum::None => Self::None,
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::GitSha1(h) => h.update(bytes),
            Self::None => {}
        }
    }

    /// The lower-case hex digest; `None` when there is nothing to check.
    pub(crate) fn finish(self) -> Option<String> {
        match self {
            Self::Sha256(h) => Some(hex::encode(h.finalize())),
            Self::GitSha1(h) => Some(hex::encode(h.finalize())),
            Self::None => None,
        }
    }
}

/// Hashes a whole file on disk (for a file found in place without a record).
pub(crate) fn hash_file(file: &File, checksum: Checksum) -> std::io::Result<Option<String>> {
    let len = file.metadata()?.len();
    let mut hasher = Hasher::new(checksum, len);
    let mut digest = |bytes: &[u8]| {
        hasher.update(bytes);
        Ok(())
    };
    read_into(file, &mut digest, 0, len, &mut vec![0; READ_BLOCK])?;
    Ok(hasher.finish())
}

/// A digest fed by the writer of a sequential download, in order from byte 0.
pub(crate) struct InlineHash {
    hasher: Option<Hasher>,
    /// Bytes hashed so far; a write anywhere else spoils the digest.
    at: u64,
}

impl InlineHash {
    pub(crate) fn new(checksum: Checksum, len: u64) -> Self {
        Self {
            hasher: Some(Hasher::new(checksum, len)),
            at: 0,
        }
    }

    /// One that has been finished already.
    pub(crate) fn spent() -> Self {
        Self {
            hasher: None,
            at: 0,
        }
    }

    /// Feeds bytes written at `offset`.
    pub(crate) fn update(&mut self, offset: u64, bytes: &[u8]) {
        match &mut self.hasher {
            Some(h) if offset == self.at => {
                h.update(bytes);
                self.at += bytes.len() as u64;
            }
            _ => self.hasher = None,
        }
    }

    /// The digest if exactly `len` bytes were fed in order; `None` if it must be read back.
    pub(crate) fn finish(self, len: u64) -> Option<Option<String>> {
        let hasher = self.hasher.filter(|_| self.at == len)?;
        Some(hasher.finish())
    }
}

/// The bytes writers may hand over to hashers, shared by all the files of a run: past it, a
/// hasher reads the bytes back instead. Only copies the writers own are held, so this is the
/// memory they take.
#[derive(Debug)]
pub(crate) struct HandoffBudget {
    free: AtomicUsize,
}

impl HandoffBudget {
    pub(crate) fn new(bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            free: AtomicUsize::new(bytes),
        })
    }

    fn take(&self, n: usize) -> bool {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| f.checked_sub(n))
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }
}

/// Bytes the hasher waits for once it has caught up, so it is woken once per batch.
const WAKE_BATCH: u64 = 2 << 20;

/// How far the contiguous completed prefix reaches, shared by writers and the hasher.
#[derive(Debug)]
struct PrefixState {
    /// Bytes `[0, ready)` are written.
    ready: u64,
    /// The file's final length, once known.
    len: Option<u64>,
    cancelled: bool,
    /// Bytes `[0, claimed)` are digested or being digested.
    claimed: u64,
    /// Buffers just written right at the hash cursor, contiguous from it, handed over so the
    /// hasher need not read them back.
    handed: VecDeque<(u64, Bytes)>,
    /// The hasher sleeps until bytes up to here can be digested; `None` while it works.
    wake_at: Option<u64>,
    budget: Arc<HandoffBudget>,
}

impl Drop for PrefixState {
    fn drop(&mut self) {
        while self.pop_handed().is_some() {}
    }
}

impl PrefixState {
    /// Where a handed-over buffer must start to be taken.
    fn handoff_at(&self) -> u64 {
        self.handed
            .back()
            .map_or(self.claimed, |(at, b)| at + b.len() as u64)
    }

    fn pop_handed(&mut self) -> Option<(u64, Bytes)> {
        let (at, bytes) = self.handed.pop_front()?;
        self.budget.give(bytes.len());
        Some((at, bytes))
    }
}

/// What the hasher does next.
enum Step {
    /// Digest this buffer, written at this offset.
    Handed(u64, Bytes),
    /// Read back and digest the file up to here.
    ReadTo(u64),
}

/// The writers' side: announces progress of the completed prefix.
#[derive(Debug, Clone)]
pub(crate) struct Prefix(Arc<(Mutex<PrefixState>, Condvar)>);

impl Prefix {
    pub(crate) fn new(len: Option<u64>, budget: Arc<HandoffBudget>) -> Self {
        let state = PrefixState {
            ready: 0,
            len,
            cancelled: false,
            claimed: 0,
            handed: VecDeque::new(),
            wake_at: None,
            budget,
        };
        Self(Arc::new((Mutex::new(state), Condvar::new())))
    }

    fn update(&self, f: impl FnOnce(&mut PrefixState)) {
        let (lock, cvar) = &*self.0;
        f(&mut lock.lock().expect("prefix state"));
        cvar.notify_all();
    }

    /// Bytes of the completed prefix the hasher has not taken yet.
    pub(crate) fn lag(&self) -> u64 {
        let s = self.0.0.lock().expect("prefix state");
        s.ready.saturating_sub(s.claimed)
    }

    /// Bytes `[0, ready)` are now on disk.
    pub(crate) fn advance(&self, ready: u64) {
        let (lock, cvar) = &*self.0;
        let mut s = lock.lock().expect("prefix state");
        s.ready = s.ready.max(ready);
        if s.wake_at.is_some_and(|at| s.ready >= at) {
            drop(s);
            cvar.notify_all();
        }
    }

    /// Offers bytes just written at `offset`. The hasher keeps them if they continue exactly
    /// where it will be and the run's budget has room; otherwise it reads them back later.
    /// Bytes the caller does not own outright (`owned` false: a view of the HTTP client's
    /// read buffer, which would keep all of that buffer alive) are copied if kept.
    pub(crate) fn offer(&self, offset: u64, bytes: Bytes, owned: bool) {
        let (lock, cvar) = &*self.0;
        let mut s = lock.lock().expect("prefix state");
        if s.cancelled || bytes.is_empty() || offset != s.handoff_at() {
            return;
        }
        if !s.budget.take(bytes.len()) {
            return;
        }
        let bytes = if owned {
            bytes
        } else {
            Bytes::copy_from_slice(&bytes)
        };
        s.handed.push_back((offset, bytes));
        if s.wake_at.is_some_and(|at| s.handoff_at() >= at) {
            drop(s);
            cvar.notify_all();
        }
    }

    /// The file turned out to be `len` bytes long (for downloads of unknown size).
    pub(crate) fn set_len(&self, len: u64) {
        self.update(|s| s.len = Some(len));
    }

    /// Stops the hasher (the transfer failed).
    pub(crate) fn cancel(&self) {
        self.update(|s| {
            s.cancelled = true;
            while s.pop_handed().is_some() {}
        });
    }

    /// Blocks until there is more to digest beyond `hashed`; `None` when done or cancelled.
    /// Once it has caught up with the writers, the hasher sleeps until a batch of bytes is
    /// there, so it is not woken for every buffer.
    fn next_step(&self, hashed: u64) -> Option<(Step, u64)> {
        let (lock, cvar) = &*self.0;
        let mut s = lock.lock().expect("prefix state");
        s.wake_at = None;
        loop {
            if s.cancelled || s.len == Some(hashed) {
                return None;
            }
            while s
                .handed
                .front()
                .is_some_and(|(at, b)| at + b.len() as u64 <= hashed)
            {
                s.pop_handed();
            }
            if let Some(len) = s.len {
                let front = s.handed.front().map(|(at, _)| *at);
                if front.is_some_and(|at| at <= hashed) {
                    let (at, buf) = s.pop_handed().expect("checked");
                    s.claimed = (at + buf.len() as u64).min(len);
                    return Some((Step::Handed(at, buf), len));
                }
                if s.ready > hashed {
                    let to = front
                        .map_or(s.ready, |at| at.min(s.ready))
                        .min(len)
                        .min(hashed + READ_CLAIM);
                    s.claimed = to;
                    return Some((Step::ReadTo(to), len));
                }
            }
            let batch = hashed.saturating_add(WAKE_BATCH);
            s.wake_at = Some(s.len.map_or(batch, |len| batch.min(len)));
            s = cvar.wait(s).expect("prefix state");
            s.wake_at = None;
        }
    }
}

/// Follows `prefix` and digests the file as it completes. Run on a blocking thread.
///
/// Bytes come from the buffers the writers hand over when they write at the hash cursor (the
/// usual case with one fast connection, or the lowest range of several), and are otherwise
/// read back from the file right behind the writers.
///
/// The bytes also go, in order, to `tee` (a bucket's multipart upload), which is handed back.
///
/// Returns `Ok(None)` as the digest when cancelled or when the checksum kind has no digest.
pub(crate) fn follow_prefix(
    file: &File,
    checksum: Checksum,
    prefix: &Prefix,
    mut tee: Option<Tee>,
) -> std::io::Result<(Option<String>, Option<Tee>)> {
    let mut hasher: Option<Hasher> = None;
    let mut hashed = 0u64;
    let mut block = Vec::new();
    while let Some((step, len)) = prefix.next_step(hashed) {
        let h = hasher.get_or_insert_with(|| Hasher::new(checksum, len));
        match step {
            Step::Handed(at, buf) => {
                let skip = usize::try_from(hashed - at).expect("inside the buffer");
                let end = buf
                    .len()
                    .min(usize::try_from(len - at).unwrap_or(usize::MAX));
                h.update(&buf[skip..end]);
                if let Some(tee) = tee.as_mut() {
                    tee.take(&buf[skip..end])?;
                }
                hashed = at + end as u64;
            }
            Step::ReadTo(to) => {
                block.resize(READ_BLOCK, 0);
                let mut digest = |bytes: &[u8]| {
                    h.update(bytes);
                    tee.as_mut().map_or(Ok(()), |t| t.take(bytes))
                };
                hashed = read_into(file, &mut digest, hashed, to, &mut block)?;
                if hashed < to {
                    return Err(std::io::Error::other(
                        "partial file shorter than its completed prefix",
                    ));
                }
            }
        }
    }
    let complete = prefix.0.0.lock().expect("prefix state").len == Some(hashed);
    let digest = match hasher {
        Some(h) if complete => h.finish(),
        None if complete => Hasher::new(checksum, 0).finish(),
        _ => None,
    };
    Ok((digest, tee))
}

/// Digests `[from, to)` of `file`, or up to its end if it is shorter; returns where it stopped.
fn read_into(
    file: &File,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    mut from: u64,
    to: u64,
    block: &mut [u8],
) -> std::io::Result<u64> {
    while from < to {
        let want = usize::try_from((to - from).min(block.len() as u64)).expect("block fits");
        let n = file.read_at(&mut block[..want], from)?;
        if n == 0 {
            break;
        }
        sink(&block[..n])?;
        from += n as u64;
    }
    Ok(from)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn git_blob_sha1_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let mut h = Hasher::new(Checksum::GitSha1, 6);
        h.update(b"hello\n");
        assert_eq!(
            h.finish().unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }

    #[test]
    fn mixes_handed_buffers_and_read_back_in_any_order() {
        // Two "connections" write 64 KiB blocks of two halves; each offers what it wrote.
        // Only blocks that continue the hash cursor are kept; the rest must be read back.
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
        let file = tempfile::tempfile().unwrap();
        file.set_len(data.len() as u64).unwrap();
        let prefix = Prefix::new(Some(data.len() as u64), HandoffBudget::new(8 << 20));
        let (p2, f2) = (prefix.clone(), file.try_clone().unwrap());
        let hasher = std::thread::spawn(move || {
            follow_prefix(&f2, Checksum::Sha256, &p2, None).map(|(d, _)| d)
        });
        let half = data.len() / 2;
        let block = 64 * 1024;
        let mut done = crate::download::ranges::RangeSet::default();
        let mut order: Vec<usize> = (0..half).step_by(block).collect();
        order.extend((half..data.len()).step_by(block));
        // Interleave the two halves: lower, upper, lower, upper, ...
        let (lower, upper) = order.split_at(order.len() / 2);
        let interleaved = lower.iter().zip(upper).flat_map(|(a, b)| [*a, *b]);
        for start in interleaved.chain(lower.iter().skip(upper.len()).copied()) {
            let end = (start + block).min(if start < half { half } else { data.len() });
            file.write_all_at(&data[start..end], start as u64).unwrap();
            prefix.offer(
                start as u64,
                Bytes::copy_from_slice(&data[start..end]),
                true,
            );
            done.insert(start as u64..end as u64);
            prefix.advance(done.prefix_end());
        }
        let digest = hasher.join().unwrap().unwrap().unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(&data)));
    }

    #[test]
    fn follows_a_growing_prefix() {
        let mut tmp = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        tmp.write_all(&data).unwrap();
        let prefix = Prefix::new(Some(data.len() as u64), HandoffBudget::new(8 << 20));
        let p2 = prefix.clone();
        let handle = std::thread::spawn(move || {
            follow_prefix(&tmp, Checksum::Sha256, &p2, None).map(|(d, _)| d)
        });
        prefix.advance(1000);
        prefix.advance(data.len() as u64);
        let digest = handle.join().unwrap().unwrap().unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(&data)));
    }

    #[test]
    fn empty_files_hash() {
        let tmp = tempfile::tempfile().unwrap();
        let prefix = Prefix::new(Some(0), HandoffBudget::new(8 << 20));
        let digest = follow_prefix(&tmp, Checksum::GitSha1, &prefix, None)
            .unwrap()
            .0;
        assert_eq!(digest.unwrap(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}
