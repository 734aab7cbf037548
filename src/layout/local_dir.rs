//! A local directory of plain files, byte-compatible with huggingface_hub 2.4.0:
//!
//! ```text
//! <dir>/
//! ├── config.json, sub/dir/weights.bin                 the files themselves
//! └── .cache/huggingface/
//!     ├── .gitignore                                   "*"
//!     ├── CACHEDIR.TAG
//!     ├── trees/<commit>.json                          the listing (huggingface_hub >= 1.22)
//!     ├── refs/main                                    the commit last downloaded (hfdl only)
//!     └── download/
//!         ├── sub/dir/weights.bin.metadata             commit \n etag \n timestamp \n
//!         ├── sub/dir/weights.bin.lock
//!         └── sub/dir/<b64>.<etag>.incomplete          the official clients' partial download
//! ```
//!
//! The partial file's name is the one huggingface_hub up to 1.17 resumed from: the URL-safe
//! base64 of the sha1 of the metadata file's name, then the etag; hfdl's own partials add
//! `.hfdl-partial` in place of `.incomplete` (see `Layout::partial`). This module never speaks
//! HTTP.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha1::{Digest, Sha1};

use super::cache::CACHEDIR_TAG;
use super::fs::{
    ensure_dir, python_timestamp, read_ref_file, write_atomic, write_private, write_ref_file,
};
use crate::repo::{CommitHash, ETag, RepoPath, Revision};

/// What `.metadata` says about a file.
#[derive(Debug, PartialEq)]
pub(crate) struct Metadata {
    pub(crate) commit: String,
    pub(crate) etag: String,
    pub(crate) timestamp: f64,
}

/// A `--local-dir` target.
#[derive(Debug, Clone)]
pub(crate) struct LocalDirLayout {
    root: PathBuf,
}

impl LocalDirLayout {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn meta_dir(&self) -> PathBuf {
        self.root.join(".cache").join("huggingface")
    }

    /// Creates the directory, `.gitignore` and `CACHEDIR.TAG`.
    pub(crate) fn prepare(&self) -> io::Result<()> {
        let meta = self.meta_dir();
        fs::create_dir_all(meta.join("download"))?;
        for (name, content) in [(".gitignore", "*"), ("CACHEDIR.TAG", CACHEDIR_TAG)] {
            if !meta.join(name).exists() {
                write_atomic(&meta.join(name), content.as_bytes())?;
            }
        }
        Ok(())
    }

    pub(crate) fn file(&self, path: &RepoPath) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(path.segments());
        p
    }

    fn download_entry(&self, path: &RepoPath, suffix: &str) -> PathBuf {
        let mut p = self.meta_dir().join("download");
        p.extend(path.segments());
        let mut name = p
            .file_name()
            .expect("repo paths are not empty")
            .to_os_string();
        name.push(suffix);
        p.set_file_name(name);
        p
    }

    pub(crate) fn metadata_path(&self, path: &RepoPath) -> PathBuf {
        self.download_entry(path, ".metadata")
    }

    pub(crate) fn lock_path(&self, path: &RepoPath) -> PathBuf {
        self.download_entry(path, ".lock")
    }

    pub(crate) fn incomplete(&self, path: &RepoPath, etag: &ETag) -> PathBuf {
        let metadata = self.metadata_path(path);
        let name = metadata.file_name().expect("metadata has a name");
        let digest = Sha1::digest(name.as_encoded_bytes());
        let b64 = base64::engine::general_purpose::URL_SAFE.encode(digest);
        metadata.with_file_name(format!("{b64}.{etag}.incomplete"))
    }

    fn ref_path(&self, revision: &Revision) -> PathBuf {
        let mut p = self.meta_dir().join("refs");
        p.extend(revision.as_str().split('/'));
        p
    }

    /// The commit a revision had when it was last downloaded here (hfdl's
    /// `.cache/huggingface/refs/<revision>`; official clients ignore it).
    pub(crate) fn read_ref(&self, revision: &Revision) -> Option<CommitHash> {
        read_ref_file(&self.ref_path(revision))
    }

    /// Records `revision -> commit` unless the revision is that commit.
    pub(crate) fn write_ref(&self, revision: &Revision, commit: &CommitHash) -> io::Result<()> {
        write_ref_file(&self.ref_path(revision), revision, commit)
    }

    fn tree_path(&self, commit: &CommitHash) -> PathBuf {
        self.meta_dir().join("trees").join(format!("{commit}.json"))
    }

    /// The listing of a commit, where huggingface_hub >= 1.22 keeps it for a local dir.
    pub(crate) fn read_tree(&self, commit: &CommitHash) -> Option<Vec<u8>> {
        fs::read(self.tree_path(commit)).ok()
    }

    pub(crate) fn write_tree(&self, commit: &CommitHash, bytes: &[u8]) -> io::Result<()> {
        write_private(&self.tree_path(commit), bytes)
    }

    /// Reads `.metadata`; `None` if missing, unparsable, or older than the file.
    pub(crate) fn read_metadata(&self, path: &RepoPath) -> Option<Metadata> {
        let text = fs::read_to_string(self.metadata_path(path)).ok()?;
        let mut lines = text.lines();
        let meta = Metadata {
            commit: lines.next()?.trim().to_owned(),
            etag: lines.next()?.trim().to_owned(),
            timestamp: lines
                .next()?
                .trim()
                .parse()
                .ok()
                .filter(|t: &f64| t.is_finite())?,
        };
        let modified = fs::metadata(self.file(path)).ok()?.modified().ok()?;
        let mtime = modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        (mtime - 1.0 <= meta.timestamp).then_some(meta)
    }

    /// Writes `.metadata` for a file that is in place.
    pub(crate) fn write_metadata(
        &self,
        path: &RepoPath,
        commit: &CommitHash,
        etag: &ETag,
    ) -> io::Result<()> {
        // Written in place under the file's lock, as huggingface_hub does: a torn record is
        // unparsable and only costs a re-hash.
        let text = format!("{commit}\n{etag}\n{}\n", python_timestamp());
        let meta = self.metadata_path(path);
        ensure_dir(meta.parent().expect("metadata lives in a directory"))?;
        fs::write(meta, text)
    }

    /// Moves a verified download to its path and records its metadata.
    pub(crate) fn finalize(
        &self,
        incomplete: &Path,
        etag: &ETag,
        commit: &CommitHash,
        path: &RepoPath,
    ) -> io::Result<()> {
        let target = self.file(path);
        ensure_dir(target.parent().expect("file paths have a parent"))?;
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::other(format!(
                "`{}` is a directory, cannot place a file there",
                target.display()
            )));
        }
        fs::rename(incomplete, &target)?;
        self.write_metadata(path, commit, etag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_official_layout() {
        let dir = LocalDirLayout::new(Path::new("/d"));
        let path = RepoPath::parse("sub/w.bin").unwrap();
        assert_eq!(
            dir.metadata_path(&path),
            PathBuf::from("/d/.cache/huggingface/download/sub/w.bin.metadata")
        );
        assert_eq!(
            dir.lock_path(&path),
            PathBuf::from("/d/.cache/huggingface/download/sub/w.bin.lock")
        );
        let etag = ETag::parse(&"c".repeat(64)).unwrap();
        let incomplete = dir.incomplete(&path, &etag);
        let name = incomplete.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 28 + 1 + 64 + ".incomplete".len());
        assert!(name.ends_with(&format!(".{etag}.incomplete")));
    }

    #[test]
    fn metadata_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = LocalDirLayout::new(tmp.path());
        dir.prepare().unwrap();
        let path = RepoPath::parse("a.txt").unwrap();
        let etag = ETag::parse(&"c".repeat(40)).unwrap();
        let commit = CommitHash::parse(&"a".repeat(40)).unwrap();
        let inc = dir.incomplete(&path, &etag);
        fs::write(&inc, b"hi").unwrap();
        dir.finalize(&inc, &etag, &commit, &path).unwrap();
        let meta = dir.read_metadata(&path).unwrap();
        assert_eq!(
            (meta.commit.as_str(), meta.etag.as_str()),
            (commit.as_str(), etag.as_str())
        );
        let text = fs::read_to_string(dir.metadata_path(&path)).unwrap();
        assert!(
            text.lines().nth(2).unwrap().contains('.'),
            "python float: {text}"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join(".cache/huggingface/.gitignore")).unwrap(),
            "*"
        );
        // A timestamp of `inf` would make any later change of the file look recorded.
        fs::write(dir.metadata_path(&path), format!("{commit}\n{etag}\ninf\n")).unwrap();
        assert_eq!(dir.read_metadata(&path), None);
    }
}
