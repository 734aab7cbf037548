//! The resume journal of a partial file: which byte ranges are on disk.
//!
//! A journal only ever claims data that was synced first (see `transfer::checkpoint`), so after
//! a crash or power cut the next run re-fetches only what is missing. It is written atomically
//! and names the etag and size, so a partial file of other content is never resumed.

use std::fs::File;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ranges::RangeSet;
use crate::layout::write_durable;
use crate::repo::ETag;

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    version: u32,
    etag: String,
    size: u64,
    done: RangeSet,
}

/// The ranges a journal claims for this etag and size; empty if it is missing or for other content.
pub(crate) fn load(path: &Path, etag: &ETag, size: u64) -> Option<RangeSet> {
    let bytes = std::fs::read(path).ok()?;
    let journal: Journal = serde_json::from_slice(&bytes).ok()?;
    (journal.version == 1 && journal.etag == etag.as_str() && journal.size == size)
        .then(|| journal.done.clamp(size))
}

/// Syncs the data file, then records `done` (which must have been written before the call)
/// durably: the journal's bytes, then its name in the folder. After a crash or power cut the
/// journal on disk is this one or the previous one, and claims only synced bytes.
pub(crate) fn checkpoint(
    data: &File,
    path: &Path,
    etag: &ETag,
    size: u64,
    done: &RangeSet,
) -> io::Result<()> {
    data.sync_data()?;
    let journal = Journal {
        version: 1,
        etag: etag.to_string(),
        size,
        done: done.clone(),
    };
    let bytes = serde_json::to_vec(&journal).map_err(io::Error::other)?;
    write_durable(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journals_name_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempfile().unwrap();
        let path = dir.path().join("j");
        let etag = ETag::parse(&"a".repeat(64)).unwrap();
        let mut done = RangeSet::default();
        done.insert(0..10);
        checkpoint(&data, &path, &etag, 100, &done).unwrap();
        assert_eq!(load(&path, &etag, 100), Some(done));
        assert_eq!(load(&path, &etag, 99), None);
        assert_eq!(
            load(&path, &ETag::parse(&"b".repeat(64)).unwrap(), 100),
            None
        );
    }
}
