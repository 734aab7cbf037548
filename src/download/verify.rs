//! Content verification: the digest an etag promises, computed while the download runs.
//!
//! Ranges finish out of order, so a [`PrefixHasher`] follows the contiguous completed prefix of
//! the partial file and reads it back right behind the writers (a page-cache hit), on a
//! blocking thread. No second pass over the file is made after the download. The only user
//! of `sha1`/`sha2`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::repo::Checksum;

const READ_BLOCK: usize = 1 << 20;

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
    let mut buf = vec![0; READ_BLOCK];
    let mut offset = 0;
    while offset < len {
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
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

/// How far the contiguous completed prefix reaches, shared by writers and the hasher.
#[derive(Debug, Default)]
struct PrefixState {
    /// Bytes `[0, ready)` are written.
    ready: u64,
    /// The file's final length, once known.
    len: Option<u64>,
    cancelled: bool,
}

/// The writers' side: announces progress of the completed prefix.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefix(Arc<(Mutex<PrefixState>, Condvar)>);

impl Prefix {
    pub(crate) fn new(len: Option<u64>) -> Self {
        let prefix = Self::default();
        prefix.0.0.lock().expect("prefix state").len = len;
        prefix
    }

    fn update(&self, f: impl FnOnce(&mut PrefixState)) {
        let (lock, cvar) = &*self.0;
        f(&mut lock.lock().expect("prefix state"));
        cvar.notify_all();
    }

    /// Bytes `[0, ready)` are now on disk.
    pub(crate) fn advance(&self, ready: u64) {
        self.update(|s| s.ready = s.ready.max(ready));
    }

    /// The file turned out to be `len` bytes long (for downloads of unknown size).
    pub(crate) fn set_len(&self, len: u64) {
        self.update(|s| s.len = Some(len));
    }

    /// Stops the hasher (the transfer failed).
    pub(crate) fn cancel(&self) {
        self.update(|s| s.cancelled = true);
    }

    /// Blocks until more than `hashed` bytes are ready; `None` when done or cancelled.
    fn wait_beyond(&self, hashed: u64) -> Option<(u64, Option<u64>)> {
        let (lock, cvar) = &*self.0;
        let mut s = lock.lock().expect("prefix state");
        loop {
            if s.cancelled || s.len == Some(hashed) {
                return None;
            }
            if s.ready > hashed && s.len.is_some() {
                return Some((s.ready, s.len));
            }
            s = cvar.wait(s).expect("prefix state");
        }
    }
}

/// Follows `prefix` and digests the file as it completes. Run on a blocking thread.
///
/// Returns `Ok(None)` when cancelled or when the checksum kind has no digest.
pub(crate) fn follow_prefix(
    file: &File,
    checksum: Checksum,
    prefix: &Prefix,
) -> std::io::Result<Option<String>> {
    let mut hasher: Option<Hasher> = None;
    let mut hashed = 0u64;
    let mut buf = vec![0; READ_BLOCK];
    while let Some((ready, len)) = prefix.wait_beyond(hashed) {
        let len = len.expect("wait_beyond returns only once the length is known");
        let h = hasher.get_or_insert_with(|| Hasher::new(checksum, len));
        while hashed < ready.min(len) {
            let want =
                usize::try_from((ready - hashed).min(READ_BLOCK as u64)).expect("block fits");
            let n = file.read_at(&mut buf[..want], hashed)?;
            if n == 0 {
                return Err(std::io::Error::other(
                    "partial file shorter than its completed prefix",
                ));
            }
            h.update(&buf[..n]);
            hashed += n as u64;
        }
    }
    let complete = prefix.0.0.lock().expect("prefix state").len == Some(hashed);
    match hasher {
        Some(h) if complete => Ok(h.finish()),
        None if complete => Ok(Hasher::new(checksum, 0).finish()),
        _ => Ok(None),
    }
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
    fn follows_a_growing_prefix() {
        let mut tmp = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        tmp.write_all(&data).unwrap();
        let prefix = Prefix::new(Some(data.len() as u64));
        let p2 = prefix.clone();
        let handle = std::thread::spawn(move || follow_prefix(&tmp, Checksum::Sha256, &p2));
        prefix.advance(1000);
        prefix.advance(data.len() as u64);
        let digest = handle.join().unwrap().unwrap().unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(&data)));
    }

    #[test]
    fn empty_files_hash() {
        let tmp = tempfile::tempfile().unwrap();
        let prefix = Prefix::new(Some(0));
        let digest = follow_prefix(&tmp, Checksum::GitSha1, &prefix).unwrap();
        assert_eq!(digest.unwrap(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}
