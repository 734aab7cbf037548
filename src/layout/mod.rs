//! Where bytes live: the hub cache or a local directory on disk, or a bucket prefix, behind
//! one interface: the download target the engine writes to.
//!
//! The layout answers "is this file already there?", names the partial file and its journal,
//! takes the file's claim (a lock on disk, a lease in a bucket), and moves a verified file into
//! place. It decides nothing about downloading. The disk layouts never speak HTTP; a bucket
//! target delegates to `bucket`, which speaks S3 and nothing of the Hub.

mod cache;
mod fs;
mod local_dir;
mod scan;
mod shared;

use std::io;
use std::path::{Path, PathBuf};

pub(crate) use cache::{CacheLayout, StoreFile};
pub(crate) use fs::{FileLock, ensure_dir, write_durable, write_private};
pub(crate) use local_dir::LocalDirLayout;
pub(crate) use scan::{
    CacheScan, CachedBlob, CachedRepo, CachedRevision, Claim, Corruption, PartialDownload,
    REPO_TYPES, claim, local_files, scan_cache,
};
pub(crate) use shared::SharedStore;

use crate::bucket::{Bucket, Lease, ManifestFile, PartUpload};
use crate::repo::{CommitHash, ETag, RepoPath, Revision};

/// Whether a file is already where it belongs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// In place and recorded for this commit: nothing to do.
    Complete,
    /// The content is there; only a link or a metadata record is missing ([`Layout::adopt`]).
    Adopt,
    /// A file is at the path but nothing says what it is: check its digest before adopting.
    Unverified(PathBuf),
    /// Not there.
    Missing,
}

/// The partial download of one file: its data and its journal of completed ranges.
#[derive(Debug, Clone)]
pub(crate) struct Partial {
    pub(crate) data: PathBuf,
    pub(crate) journal: PathBuf,
}

impl Partial {
    /// The partial file at `data`, with its journal beside it.
    fn at(data: PathBuf) -> Self {
        let mut journal = data.clone().into_os_string();
        journal.push(".journal");
        Self {
            data,
            journal: journal.into(),
        }
    }
}

/// The suffix of hfdl's partial files (see [`Layout::partial`]).
pub(crate) const PARTIAL_SUFFIX: &str = ".hfdl-partial";

/// `<stem>.incomplete` → `<stem><unique>.hfdl-partial`, in the same folder.
fn hfdl_name(legacy: &Path, unique: &str) -> PathBuf {
    let name = legacy
        .file_name()
        .expect("partials have a name")
        .to_string_lossy();
    let stem = name.strip_suffix(".incomplete").unwrap_or(&name);
    legacy.with_file_name(format!("{stem}{unique}{PARTIAL_SUFFIX}"))
}

/// A download target.
#[derive(Debug, Clone)]
pub(crate) enum Layout {
    Cache(CacheLayout),
    LocalDir(LocalDirLayout),
    /// Objects under an `s3://` prefix; files are downloaded and verified in a local spool
    /// folder first.
    Bucket(Bucket),
}

/// A file's claim, held while working on it: a lock on disk, a lease in a bucket.
/// What a target takes of a file's bytes while they are verified, in order from byte 0: a
/// bucket's multipart upload, which then runs alongside the download. Handed back to
/// [`Layout::finalize`]; dropped unfinished, it leaves nothing behind.
pub(crate) struct Tee(PartUpload);

impl Tee {
    pub(crate) fn take(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.take(bytes)
    }
}

/// Held only for what dropping it does (unlock, release).
#[expect(dead_code, reason = "the claims are held for their `Drop`, never read")]
pub(crate) enum FileClaim {
    Lock(FileLock),
    Lease(Lease),
}

/// The spool file of a bucket's file: `<spool>/<etag>.<path digest>.incomplete` (never
/// written; the partials are named from it as on disk).
fn spool_name(bucket: &Bucket, path: &RepoPath, etag: &ETag) -> PathBuf {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(path.as_str().as_bytes()));
    bucket
        .spool()
        .join(format!("{etag}.{}.incomplete", &digest[..16]))
}

impl Layout {
    /// Creates the folders and marker files the target needs.
    pub(crate) fn prepare(&self) -> io::Result<()> {
        match self {
            Self::Cache(c) => c.prepare(),
            Self::LocalDir(d) => d.prepare(),
            Self::Bucket(b) => b.prepare(),
        }
    }

    /// Is the file with this path and etag already in place for this commit?
    pub(crate) fn presence(&self, commit: &CommitHash, path: &RepoPath, etag: &ETag) -> Presence {
        match self {
            // The usual case in two system calls: the link reads as the one hfdl and the
            // official client write, and the blob is there.
            Self::Cache(c) if c.links_to_blob(commit, path, etag) => Presence::Complete,
            // No-symlink mode: the snapshot holds the file itself.
            Self::Cache(c) if c.has_real_file(commit, path) => Presence::Complete,
            Self::Cache(c) if c.has_pointer(commit, path) && c.has_blob(etag) => {
                if std::fs::canonicalize(c.pointer(commit, path)).ok()
                    == std::fs::canonicalize(c.blob(etag)).ok()
                {
                    Presence::Complete
                } else {
                    Presence::Adopt
                }
            }
            Self::Cache(c) if c.has_blob(etag) => Presence::Adopt,
            Self::Cache(_) => Presence::Missing,
            Self::Bucket(b) if b.has(commit, path, etag) => Presence::Complete,
            Self::Bucket(_) => Presence::Missing,
            Self::LocalDir(d) => {
                let file = d.file(path);
                if !std::fs::metadata(&file).is_ok_and(|m| m.is_file()) {
                    return Presence::Missing;
                }
                match d.read_metadata(path) {
                    Some(m) if m.etag == etag.as_str() && m.commit == commit.as_str() => {
                        Presence::Complete
                    }
                    Some(m) if m.etag == etag.as_str() => Presence::Adopt,
                    _ => Presence::Unverified(file),
                }
            }
        }
    }

    /// Is a file at this path in place for this commit, whatever its content? (A snapshot
    /// entry; in a local dir, a file whose metadata names the commit.)
    pub(crate) fn has_file_at(&self, commit: &CommitHash, path: &RepoPath) -> bool {
        match self {
            Self::Cache(c) => c.has_pointer(commit, path),
            Self::LocalDir(d) => d
                .read_metadata(path)
                .is_some_and(|m| m.commit == commit.as_str()),
            Self::Bucket(b) => b.has_file_at(commit, path),
        }
    }

    /// Where hfdl's resumable partial download of a file goes: a name of hfdl's own
    /// (`….hfdl-partial`), which no other client resumes from. huggingface_hub up to 1.17
    /// "resumes" any file under its own `….incomplete` name from that file's length, so a
    /// preallocated or out-of-order partial there would be handed over as complete.
    pub(crate) fn partial(&self, path: &RepoPath, etag: &ETag) -> Partial {
        Partial::at(hfdl_name(&self.legacy_partial(path, etag).data, ""))
    }

    /// The partial name of the official clients up to 1.17 (`<etag>.incomplete` in the cache,
    /// `<b64>.<etag>.incomplete` in a local dir): written sequentially by them, so valid up to
    /// its length and adopted by [`Layout::partial`]'s owner under the file's lock. Older hfdl
    /// versions wrote here too, with a journal beside it.
    pub(crate) fn legacy_partial(&self, path: &RepoPath, etag: &ETag) -> Partial {
        let data = match self {
            Self::Cache(c) => c.incomplete(etag),
            Self::LocalDir(d) => d.incomplete(path, etag),
            Self::Bucket(b) => spool_name(b, path, etag),
        };
        Partial::at(data)
    }

    /// A partial download only this process uses: `<etag>.<8 hex>.hfdl-partial` in the same
    /// folder. Never resumed.
    pub(crate) fn private_partial(&self, path: &RepoPath, etag: &ETag) -> Partial {
        let unique = format!(".{:08x}", fastrand::u32(..));
        Partial::at(hfdl_name(&self.legacy_partial(path, etag).data, &unique))
    }

    /// Marks a download running into this target for `cache rm`/`prune` (see
    /// [`FileLock::share`]); held until dropped. Only the cache has those commands.
    pub(crate) fn hold_for_run(&self) -> io::Result<Option<FileLock>> {
        match self {
            Self::Cache(c) => FileLock::share(&c.run_lock_path()).map(Some),
            Self::LocalDir(_) | Self::Bucket(_) => Ok(None),
        }
    }

    /// The lock serialising work on one file (per blob in the cache, per path in a local dir
    /// and, for a bucket's spool, per file).
    pub(crate) fn lock_path(&self, path: &RepoPath, etag: &ETag) -> PathBuf {
        match self {
            Self::Cache(c) => c.lock_path(etag),
            Self::LocalDir(d) => d.lock_path(path),
            Self::Bucket(b) => spool_name(b, path, etag).with_extension("lock"),
        }
    }

    /// Takes a file's claim, waiting while another process holds it: on disk the full lock
    /// (`full`: `flock` and an owner file, for files resumed across runs) or `flock` alone; in a
    /// bucket the file's lease, which other writers into the prefix respect.
    pub(crate) fn claim(&self, path: &RepoPath, etag: &ETag, full: bool) -> io::Result<FileClaim> {
        match self {
            Self::Bucket(b) => b.lease(path).map(FileClaim::Lease),
            _ if full => FileLock::acquire(&self.lock_path(path, etag)).map(FileClaim::Lock),
            _ => FileLock::acquire_flock_only(&self.lock_path(path, etag)).map(FileClaim::Lock),
        }
    }

    /// Links a file from the cache's shared store, if it holds it (the cache only).
    pub(crate) fn link_from_store(
        &self,
        file: &StoreFile<'_>,
        commit: &CommitHash,
        check: impl FnOnce(&Path) -> bool,
    ) -> io::Result<bool> {
        match self {
            Self::Cache(c) => c.link_from_store(file, commit, check),
            Self::LocalDir(_) | Self::Bucket(_) => Ok(false),
        }
    }

    /// Is the file in the cache's shared store, so that a download would only link it?
    pub(crate) fn in_store(&self, file: &StoreFile<'_>) -> bool {
        matches!(self, Self::Cache(c) if c.in_store(file))
    }

    /// Publishes a freshly placed blob to the cache's shared store (the cache only).
    pub(crate) fn publish_to_store(
        &self,
        file: &StoreFile<'_>,
        check: impl FnOnce(&Path) -> bool,
    ) -> io::Result<bool> {
        match self {
            Self::Cache(c) => c.publish_to_store(file, check),
            Self::LocalDir(_) | Self::Bucket(_) => Ok(false),
        }
    }

    /// What takes the bytes of a file of `size` while they are verified (see [`Tee`]), if
    /// this target wants them before the file is complete.
    pub(crate) fn tee(
        &self,
        path: &RepoPath,
        etag: &ETag,
        commit: &CommitHash,
        size: Option<u64>,
    ) -> Option<Tee> {
        match (self, size) {
            (Self::Bucket(b), Some(size)) => b.part_upload(path, etag, commit, size).map(Tee),
            _ => None,
        }
    }

    /// Moves a complete, verified, synced partial file into place (in a bucket: completes
    /// the upload `tee` fed, or uploads the file).
    pub(crate) fn finalize(
        &self,
        data: &Path,
        etag: &ETag,
        commit: &CommitHash,
        path: &RepoPath,
        tee: Option<Tee>,
    ) -> io::Result<()> {
        match self {
            Self::Cache(c) => c.finalize(data, etag, commit, path),
            Self::LocalDir(d) => d.finalize(data, etag, commit, path),
            Self::Bucket(b) => {
                match tee {
                    Some(Tee(upload)) => upload.finish(std::fs::metadata(data)?.len())?,
                    None => b.upload(data, path, etag, commit)?,
                }
                std::fs::remove_file(data)
            }
        }
    }

    /// Makes a [`Layout::finalize`] of this file durable: syncs the folders its renames and
    /// links went into (small files are covered by the engine's `syncfs` instead).
    pub(crate) fn sync_placed(
        &self,
        commit: &CommitHash,
        path: &RepoPath,
        etag: &ETag,
    ) -> io::Result<()> {
        let folders = match self {
            Self::Cache(c) => [c.blob(etag), c.pointer(commit, path)],
            Self::LocalDir(d) => [d.file(path), d.metadata_path(path)],
            // An object is durable once its upload completed.
            Self::Bucket(_) => return Ok(()),
        };
        for file in folders {
            fs::sync_dir(file.parent().expect("placed files live in a folder"))?;
        }
        Ok(())
    }

    /// Records content that is already present (see [`Presence::Adopt`]).
    pub(crate) fn adopt(
        &self,
        etag: &ETag,
        commit: &CommitHash,
        path: &RepoPath,
    ) -> io::Result<()> {
        match self {
            Self::Cache(c) => c.link(etag, commit, path),
            Self::LocalDir(d) => d.write_metadata(path, commit, etag),
            // A bucket's presence is never `Adopt`.
            Self::Bucket(_) => Ok(()),
        }
    }

    /// The commit a revision pointed to at the last download into this target.
    pub(crate) fn read_ref(&self, revision: &Revision) -> Option<CommitHash> {
        match self {
            Self::Cache(c) => c.read_ref(revision),
            Self::LocalDir(d) => d.read_ref(revision),
            Self::Bucket(b) => b.read_ref(revision),
        }
    }

    pub(crate) fn write_ref(&self, revision: &Revision, commit: &CommitHash) -> io::Result<()> {
        match self {
            Self::Cache(c) => c.prepare().and_then(|()| c.write_ref(revision, commit)),
            Self::LocalDir(d) => d.write_ref(revision, commit),
            Self::Bucket(b) => b.write_ref(revision, commit),
        }
    }

    /// The stored listing of a commit (`trees/<commit>.json`), as stored.
    pub(crate) fn read_tree(&self, commit: &CommitHash) -> Option<Vec<u8>> {
        match self {
            Self::Cache(c) => c.read_tree(commit),
            Self::LocalDir(d) => d.read_tree(commit),
            Self::Bucket(b) => b.read_tree(commit),
        }
    }

    pub(crate) fn write_tree(&self, commit: &CommitHash, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Cache(c) => c.write_tree(commit, bytes),
            Self::LocalDir(d) => d.write_tree(commit, bytes),
            Self::Bucket(b) => b.write_tree(commit, bytes),
        }
    }

    /// Records that the download of these files at this commit is complete, after all of them
    /// are in place: a bucket's `complete/<commit>.json` (on disk each file's own record says
    /// so). Then aborts the multipart uploads dead writers left in the bucket.
    pub(crate) fn mark_complete(
        &self,
        commit: &CommitHash,
        files: Vec<ManifestFile>,
    ) -> io::Result<()> {
        match self {
            Self::Bucket(b) => {
                b.mark_complete(commit, files)?;
                b.sweep_uploads().map(|_| ())
            }
            Self::Cache(_) | Self::LocalDir(_) => Ok(()),
        }
    }

    /// The path printed for the user: a snapshot folder, the local dir, or one file in them.
    pub(crate) fn result_path(&self, commit: &CommitHash, single: Option<&RepoPath>) -> PathBuf {
        match (self, single) {
            (Self::Cache(c), None) => c.snapshot_dir(commit),
            (Self::Cache(c), Some(path)) => c.pointer(commit, path),
            (Self::LocalDir(d), None) => d.root().to_owned(),
            (Self::LocalDir(d), Some(path)) => d.file(path),
            (Self::Bucket(b), None) => PathBuf::from(b.url().to_string()),
            (Self::Bucket(b), Some(path)) => PathBuf::from(format!("{}/{path}", b.url())),
        }
    }
}
