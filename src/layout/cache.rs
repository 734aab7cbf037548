//! The Hugging Face hub cache, byte-compatible with huggingface_hub 2.4.0:
//!
//! ```text
//! <cache>/
//! ├── CACHEDIR.TAG
//! ├── .locks/models--org--name/<etag>.lock           (+ <etag>.lock.owner while held by hfdl)
//! └── models--org--name/
//!     ├── blobs/<etag>                                content, named by sha256 or git sha1
//!     ├── blobs/<etag>.incomplete                     the official clients' partial download
//!     ├── blobs/<etag>.hfdl-partial                   hfdl's (+ .journal; see `Layout::partial`)
//!     ├── refs/main                                   40-hex commit, no newline
//!     ├── refs/refs/pr/1
//!     ├── trees/<commit>.json                         the listing (huggingface_hub >= 1.22)
//!     └── snapshots/<commit>/sub/file -> ../../../blobs/<etag>   relative symlinks
//! ```
//!
//! A Xet file's `blobs/<etag>` may itself be a link into the cache-wide store (`shared.rs`).
//!
//! This module knows paths and files, never HTTP.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::fs::{
    ensure_dir, read_ref_file, relative_path, symlink_relative, write_atomic, write_private,
    write_ref_file,
};
use super::shared::SharedStore;
use crate::repo::{Checksum, CommitHash, ETag, Repo, RepoPath, Revision, XetHash};

/// The tag marking a cache directory (<https://bford.info/cachedir/>), as the official client
/// writes it.
pub(crate) const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by huggingface_hub.\n\
# For information about cache directory tags, see:\n\
#\thttps://bford.info/cachedir/\n";

/// What the shared store needs to know of a file.
pub(crate) struct StoreFile<'a> {
    pub(crate) path: &'a RepoPath,
    pub(crate) etag: &'a ETag,
    pub(crate) xet: Option<&'a XetHash>,
    pub(crate) size: Option<u64>,
}

/// One repository's folder inside a hub cache.
#[derive(Debug, Clone)]
pub(crate) struct CacheLayout {
    root: PathBuf,
    repo_dir: PathBuf,
    locks_dir: PathBuf,
    /// Link snapshots to blobs (else, or where the filesystem refuses, place real files).
    symlinks: bool,
    /// The cache-wide store of Xet files, unless disabled.
    store: Option<SharedStore>,
}

impl CacheLayout {
    pub(crate) fn new(root: &Path, repo: &Repo) -> Self {
        Self {
            root: root.to_owned(),
            repo_dir: root.join(repo.folder_name()),
            locks_dir: root.join(".locks").join(repo.folder_name()),
            symlinks: true,
            store: None,
        }
    }

    /// Use huggingface_hub's shared store for Xet files (needs symlinks), as `hf` 2.4 does
    /// unless `HF_HUB_DISABLE_SHARED_BLOBS` or `HF_HUB_DISABLE_XET` is set.
    pub(crate) fn with_shared_store(mut self, enabled: bool) -> Self {
        self.store = (enabled && self.symlinks).then(|| SharedStore::new(&self.root));
        self
    }

    /// The store and entry of a file, when it may go through the store: a Xet file of known
    /// size whose content hfdl verifies by sha256 (its etag).
    fn store_key<'f>(&self, file: &StoreFile<'f>) -> Option<(&SharedStore, &'f XetHash, u64)> {
        let store = self.store.as_ref()?;
        (file.etag.checksum() == Checksum::Sha256).then_some(())?;
        Some((store, file.xet?, file.size?))
    }

    /// Would [`Self::link_from_store`] find the file in the store (its size checked only)?
    pub(crate) fn in_store(&self, file: &StoreFile<'_>) -> bool {
        self.store_key(file)
            .is_some_and(|(store, xet, size)| store.has(xet, size))
    }

    /// Links a file into the snapshot from the shared store instead of downloading it, if the
    /// store holds its content (`check` must accept the entry); under the file's lock.
    pub(crate) fn link_from_store(
        &self,
        file: &StoreFile<'_>,
        commit: &CommitHash,
        check: impl FnOnce(&Path) -> bool,
    ) -> io::Result<bool> {
        let Some((store, xet, size)) = self.store_key(file) else {
            return Ok(false);
        };
        let blob = self.blob(file.etag);
        if fs::symlink_metadata(&blob).is_ok() {
            return Ok(false);
        }
        self.prepare()?;
        if !store.link(&blob, xet, size, check)? {
            return Ok(false);
        }
        self.link(file.etag, commit, file.path)?;
        Ok(true)
    }

    /// Moves a freshly downloaded, verified blob into the shared store, leaving a link, as
    /// `hf` 2.4 publishes its Xet downloads; `check` judges an entry already there.
    pub(crate) fn publish_to_store(
        &self,
        file: &StoreFile<'_>,
        check: impl FnOnce(&Path) -> bool,
    ) -> io::Result<bool> {
        let Some((store, xet, size)) = self.store_key(file) else {
            return Ok(false);
        };
        let blob = self.blob(file.etag);
        if !fs::symlink_metadata(&blob).is_ok_and(|m| m.is_file()) {
            return Ok(false);
        }
        store.publish(&blob, xet, size, check)
    }

    /// `HF_HUB_DISABLE_SYMLINKS`: snapshots hold real files, as the official client then does.
    pub(crate) fn with_symlinks(mut self, symlinks: bool) -> Self {
        self.symlinks = symlinks;
        self
    }

    /// Creates the folders and `CACHEDIR.TAG`.
    pub(crate) fn prepare(&self) -> io::Result<()> {
        fs::create_dir_all(self.repo_dir.join("blobs"))?;
        fs::create_dir_all(self.repo_dir.join("snapshots"))?;
        let tag = self.root.join("CACHEDIR.TAG");
        if !tag.exists() {
            write_atomic(&tag, CACHEDIR_TAG.as_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn blob(&self, etag: &ETag) -> PathBuf {
        self.repo_dir.join("blobs").join(etag.as_str())
    }

    pub(crate) fn snapshot_dir(&self, commit: &CommitHash) -> PathBuf {
        self.repo_dir.join("snapshots").join(commit.as_str())
    }

    /// The path a file has in a snapshot (a symlink to its blob).
    pub(crate) fn pointer(&self, commit: &CommitHash, path: &RepoPath) -> PathBuf {
        let mut p = self.snapshot_dir(commit);
        p.extend(path.segments());
        p
    }

    pub(crate) fn incomplete(&self, etag: &ETag) -> PathBuf {
        self.repo_dir
            .join("blobs")
            .join(format!("{etag}.incomplete"))
    }

    /// Held (shared) by every hfdl download running into this repo.
    pub(crate) fn run_lock_path(&self) -> PathBuf {
        self.locks_dir.join("hfdl-download.lock")
    }

    pub(crate) fn lock_path(&self, etag: &ETag) -> PathBuf {
        self.locks_dir.join(format!("{etag}.lock"))
    }

    fn ref_path(&self, revision: &Revision) -> PathBuf {
        let mut p = self.repo_dir.join("refs");
        p.extend(revision.as_str().split('/'));
        p
    }

    /// The commit a ref points to, if the ref is cached.
    pub(crate) fn read_ref(&self, revision: &Revision) -> Option<CommitHash> {
        read_ref_file(&self.ref_path(revision))
    }

    /// Records `revision -> commit`, unless the revision is that commit; rewrites only changes.
    pub(crate) fn write_ref(&self, revision: &Revision, commit: &CommitHash) -> io::Result<()> {
        write_ref_file(&self.ref_path(revision), revision, commit)
    }

    fn tree_path(&self, commit: &CommitHash) -> PathBuf {
        self.repo_dir.join("trees").join(format!("{commit}.json"))
    }

    /// The cached listing of a commit (`trees/<commit>.json`), as stored.
    pub(crate) fn read_tree(&self, commit: &CommitHash) -> Option<Vec<u8>> {
        fs::read(self.tree_path(commit)).ok()
    }

    /// Stores the listing of a commit (mode 0600, like the official client).
    pub(crate) fn write_tree(&self, commit: &CommitHash, bytes: &[u8]) -> io::Result<()> {
        write_private(&self.tree_path(commit), bytes)
    }

    /// Returns true if the snapshot entry resolves to an existing file.
    pub(crate) fn has_pointer(&self, commit: &CommitHash, path: &RepoPath) -> bool {
        fs::metadata(self.pointer(commit, path)).is_ok_and(|m| m.is_file())
    }

    /// Is the snapshot entry the relative symlink to `blobs/<etag>` that [`Self::link`]
    /// writes (and the official client too), with the blob in place?
    pub(crate) fn links_to_blob(&self, commit: &CommitHash, path: &RepoPath, etag: &ETag) -> bool {
        let pointer = self.pointer(commit, path);
        let dir = pointer.parent().expect("pointers live in a snapshot");
        fs::read_link(&pointer).is_ok_and(|t| t == relative_path(dir, &self.blob(etag)))
            && self.has_blob(etag)
    }

    pub(crate) fn has_blob(&self, etag: &ETag) -> bool {
        fs::metadata(self.blob(etag)).is_ok_and(|m| m.is_file())
    }

    /// Moves a verified download into `blobs/` and links it into the snapshot.
    pub(crate) fn finalize(
        &self,
        incomplete: &Path,
        etag: &ETag,
        commit: &CommitHash,
        path: &RepoPath,
    ) -> io::Result<()> {
        fs::rename(incomplete, self.blob(etag))?;
        self.place(etag, commit, path, true)
    }

    /// Links an existing blob into the snapshot.
    pub(crate) fn link(&self, etag: &ETag, commit: &CommitHash, path: &RepoPath) -> io::Result<()> {
        self.place(etag, commit, path, false)
    }

    /// Puts a blob at its snapshot path: a relative symlink; where symlinks are disabled or
    /// refused (FAT, some network shares), the blob itself when it is new (moved, as the
    /// official client does), else a copy.
    fn place(
        &self,
        etag: &ETag,
        commit: &CommitHash,
        path: &RepoPath,
        new: bool,
    ) -> io::Result<()> {
        let (blob, pointer) = (self.blob(etag), self.pointer(commit, path));
        if self.symlinks {
            match symlink_relative(&blob, &pointer) {
                Err(e) if is_unsupported(&e) => {}
                other => return other,
            }
        }
        ensure_dir(pointer.parent().expect("pointers live in a snapshot"))?;
        if new {
            fs::rename(&blob, &pointer)
        } else {
            let tmp = pointer.with_file_name(format!(".tmp-copy-{}", fastrand::u64(..)));
            fs::copy(&blob, &tmp)?;
            fs::rename(&tmp, &pointer).inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })
        }
    }

    /// Returns true if the snapshot holds a real file there (no-symlink mode).
    pub(crate) fn has_real_file(&self, commit: &CommitHash, path: &RepoPath) -> bool {
        fs::symlink_metadata(self.pointer(commit, path)).is_ok_and(|m| m.is_file())
    }
}

/// The filesystem does not do symlinks (EPERM on FAT, EOPNOTSUPP elsewhere).
fn is_unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(1 | 95)) || e.kind() == io::ErrorKind::Unsupported
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{RepoId, RepoType};

    #[test]
    fn refs_nest_and_have_no_newline() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo {
            kind: RepoType::Model,
            id: RepoId::parse("o/n").unwrap(),
        };
        let cache = CacheLayout::new(dir.path(), &repo);
        let commit = CommitHash::parse(&"a".repeat(40)).unwrap();
        cache
            .write_ref(&Revision::new("refs/pr/1").unwrap(), &commit)
            .unwrap();
        let text = fs::read_to_string(dir.path().join("models--o--n/refs/refs/pr/1")).unwrap();
        assert_eq!(text, "a".repeat(40));
        cache
            .write_ref(&Revision::new(&"a".repeat(40)).unwrap(), &commit)
            .unwrap();
        assert!(
            !dir.path()
                .join("models--o--n/refs")
                .join("a".repeat(40))
                .exists()
        );
    }

    #[test]
    fn pointers_are_relative_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo {
            kind: RepoType::Model,
            id: RepoId::parse("o/n").unwrap(),
        };
        let cache = CacheLayout::new(dir.path(), &repo);
        cache.prepare().unwrap();
        let etag = ETag::parse(&"b".repeat(40)).unwrap();
        let commit = CommitHash::parse(&"a".repeat(40)).unwrap();
        let path = RepoPath::parse("sub/dir/w.bin").unwrap();
        let tmp = cache.incomplete(&etag);
        fs::write(&tmp, b"x").unwrap();
        cache.finalize(&tmp, &etag, &commit, &path).unwrap();
        let link = fs::read_link(cache.pointer(&commit, &path)).unwrap();
        assert_eq!(
            link,
            PathBuf::from(format!("../../../../blobs/{}", "b".repeat(40)))
        );
        assert!(cache.has_pointer(&commit, &path));
    }
}
