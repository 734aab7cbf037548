//! huggingface_hub 2.4's cache-wide store of Xet files, shared by every repo of a hub cache,
//! with the same layout, locks and rules, so hfdl and `hf` deduplicate together:
//!
//! ```text
//! <cache>/blobs/.huggingface-shared-blobs    marker, "1\n" (layout version 1)
//! <cache>/blobs/<xx>/<xet hash>               the content, a read-only regular file
//! <cache>/blobs/<xx>/<xet hash>.refs          manifest: one `<repo folder>/blobs/<etag>` per line
//! <cache>/blobs/<xx>/<xet hash>.lock          flock guarding publication, linking and collection
//! <cache>/models--org--name/blobs/<etag> -> ../../blobs/<xx>/<xet hash>
//! ```
//!
//! The manifest is a hint: each line is checked against the filesystem (a symlink that really
//! points at the entry) before it counts, and when a manifest is missing or unreadable the
//! entry is kept (leaked) rather than risk deleting content still in use. A reference is
//! appended (and synced) before its symlink appears, so a reader never sees a link the
//! manifest does not list. This module knows paths and files, never HTTP.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::fs::relative_path;
use super::scan::{REPO_TYPES, normalize};
use crate::repo::XetHash;

const DIR_NAME: &str = "blobs";
const MARKER: &str = ".huggingface-shared-blobs";
const MARKER_TEXT: &str = "1\n";

/// The shared store of one hub cache.
#[derive(Clone, Debug)]
pub(crate) struct SharedStore {
    /// The cache root, absolute and normalised (paths are compared lexically, as
    /// huggingface_hub compares them).
    cache: PathBuf,
    dir: PathBuf,
}

impl SharedStore {
    pub(crate) fn new(cache: &Path) -> Self {
        let cache = normalize(&std::path::absolute(cache).unwrap_or_else(|_| cache.to_owned()));
        let dir = cache.join(DIR_NAME);
        Self { cache, dir }
    }

    /// Is `<cache>/blobs` the store, marked with the layout version hfdl knows?
    pub(crate) fn is_marked(&self) -> bool {
        is_dir(&self.dir)
            && is_regular(&self.dir.join(MARKER))
            && fs::read_to_string(self.dir.join(MARKER)).is_ok_and(|t| t == MARKER_TEXT)
    }

    fn entry(&self, xet: &XetHash) -> PathBuf {
        let hash = xet.as_str();
        self.dir.join(&hash[..2]).join(hash)
    }

    /// The store entry a repo blob links to, when it is a managed link to a regular entry.
    pub(crate) fn target_of(&self, blob: &Path) -> Option<PathBuf> {
        self.link_target(blob)
            .ok()
            .flatten()
            .filter(|t| is_regular(t))
    }

    /// The entry a repo blob's symlink names (existing or not); `Ok(None)` when `blob` is no
    /// managed link (not under `<repo>/blobs/`, not a symlink, or aiming elsewhere).
    fn link_target(&self, blob: &Path) -> io::Result<Option<PathBuf>> {
        let blob = normalize(blob);
        if self.relative_blob(&blob).is_none() {
            return Ok(None);
        }
        let target = match fs::symlink_metadata(&blob) {
            Ok(meta) if meta.file_type().is_symlink() => fs::read_link(&blob)?,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let parent = blob.parent().expect("a repo blob lives in a folder");
        let target = normalize(&parent.join(target));
        let Ok(rest) = target.strip_prefix(&self.dir) else {
            return Ok(None);
        };
        let parts: Vec<&str> = rest.iter().filter_map(|p| p.to_str()).collect();
        match parts[..] {
            [prefix, hash] if XetHash::parse(hash).is_some() && hash.starts_with(prefix) => {
                Ok(Some(target))
            }
            _ => Ok(None),
        }
    }

    /// `<repo folder>/blobs/<etag>` for a blob path of this cache, as the manifest lists it.
    fn relative_blob(&self, blob: &Path) -> Option<String> {
        let rest = normalize(blob);
        let rest = rest.strip_prefix(&self.cache).ok()?;
        let parts: Vec<&str> = rest.iter().map(|p| p.to_str()).collect::<Option<_>>()?;
        let [repo, "blobs", name] = parts[..] else {
            return None;
        };
        let typed = REPO_TYPES.iter().any(|(plural, _)| {
            repo.strip_prefix(*plural)
                .is_some_and(|r| r.len() > 2 && r.starts_with("--"))
        });
        (typed && !name.is_empty() && !name.contains(['\n', '\r']))
            .then(|| format!("{repo}/blobs/{name}"))
    }

    /// Does the store hold a usable entry for `xet` (as `hf --dry-run` asks: size only)?
    pub(crate) fn has(&self, xet: &XetHash, size: u64) -> bool {
        self.is_marked() && is_usable(&self.entry(xet), size)
    }

    /// Links `blob` (a repo's `blobs/<etag>`, absent) to the store's entry for `xet`, if the
    /// store has a usable one: a regular file of `size` bytes that `check` accepts (hfdl
    /// re-hashes it; huggingface_hub checks the size only). `Ok(false)` when it has none.
    pub(crate) fn link(
        &self,
        blob: &Path,
        xet: &XetHash,
        size: u64,
        check: impl FnOnce(&Path) -> bool,
    ) -> io::Result<bool> {
        let Some(relative) = self.relative_blob(blob).filter(|_| self.is_marked()) else {
            return Ok(false);
        };
        let entry = self.entry(xet);
        if !is_regular(&entry) {
            return Ok(false);
        }
        let _lock = lock(&entry)?;
        if !is_usable(&entry, size) || !check(&entry) {
            return Ok(false);
        }
        let tmp = temporary_link(blob, &entry)?;
        let linked =
            append_reference(&manifest(&entry), &relative).and_then(|()| fs::rename(&tmp, blob));
        let _ = fs::remove_file(&tmp);
        linked.map(|()| true)
    }

    /// Moves a verified download at `blob` into the store and leaves a link in its place, as
    /// huggingface_hub publishes a fresh Xet download; an entry already there (of the right
    /// size, accepted by `check`) is kept and `blob` just becomes a link to it. `Ok(false)`
    /// (the blob stays a regular file) when the store cannot be used: an unmarked `blobs/`
    /// holding foreign files, a path outside the cache.
    pub(crate) fn publish(
        &self,
        blob: &Path,
        xet: &XetHash,
        size: u64,
        check: impl FnOnce(&Path) -> bool,
    ) -> io::Result<bool> {
        let Some(relative) = self.relative_blob(blob) else {
            return Ok(false);
        };
        let entry = self.entry(xet);
        let Some(prefix) = self.ensure_prefix_dir(&entry)? else {
            return Ok(false);
        };
        let _lock = lock(&entry)?;
        let tmp = temporary_link(blob, &entry)?;
        let published = self.publish_locked(blob, &entry, &prefix, &relative, size, check, &tmp);
        let _ = fs::remove_file(&tmp);
        published.map(|()| true)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one step of `publish`, under its lock"
    )]
    fn publish_locked(
        &self,
        blob: &Path,
        entry: &Path,
        prefix: &Path,
        relative: &str,
        size: u64,
        check: impl FnOnce(&Path) -> bool,
        tmp: &Path,
    ) -> io::Result<()> {
        let usable = is_usable(entry, size) && check(entry);
        append_reference(&manifest(entry), relative)?;
        if !usable {
            self.prepare_entry(blob, prefix)?;
            fs::rename(blob, entry)?;
        }
        if let Err(e) = fs::rename(tmp, blob) {
            if !usable {
                // Put the content back under the repo's name before anyone collects the entry.
                fs::copy(entry, blob)?;
            }
            return Err(e);
        }
        File::open(prefix).and_then(|d| d.sync_all())
    }

    /// Read-only, readable by whoever can traverse the cache root; the group of the folder.
    fn prepare_entry(&self, blob: &Path, prefix: &Path) -> io::Result<()> {
        let mode = self.entry_mode();
        fs::set_permissions(blob, fs::Permissions::from_mode(mode))?;
        let gid = fs::metadata(prefix)?.gid();
        if fs::metadata(blob)?.gid() != gid
            && std::os::unix::fs::chown(blob, None, Some(gid)).is_err()
            && mode & 0o040 != 0
            && mode & 0o004 == 0
        {
            return Err(io::Error::other(
                "the store entry would not be readable by the cache's group",
            ));
        }
        Ok(())
    }

    fn cache_mode(&self) -> Option<u32> {
        fs::metadata(&self.cache).ok().map(|m| m.mode() & 0o7777)
    }

    fn entry_mode(&self) -> u32 {
        match self.cache_mode() {
            Some(m) => {
                0o400
                    | if m & 0o010 != 0 { 0o040 } else { 0 }
                    | if m & 0o001 != 0 { 0o004 } else { 0 }
            }
            None => 0o400,
        }
    }

    /// Store folders get the cache root's access bits (and setgid, sticky).
    fn repair_dir_mode(&self, dir: &Path) -> io::Result<()> {
        let want = self.cache_mode().map_or(0o700, |m| m & 0o3777);
        if fs::symlink_metadata(dir)?.mode() & 0o7777 != want {
            fs::set_permissions(dir, fs::Permissions::from_mode(want))?;
        }
        Ok(())
    }

    /// Creates and marks the store (never adopting an unmarked folder with other content),
    /// then the entry's prefix folder; `None` when the store cannot be used.
    fn ensure_prefix_dir(&self, entry: &Path) -> io::Result<Option<PathBuf>> {
        match fs::create_dir(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        if !self.is_marked() {
            if !is_dir(&self.dir) || !self.only_marker_temporaries()? {
                return Ok(None);
            }
            self.repair_dir_mode(&self.dir)?;
            let marker = self.dir.join(MARKER);
            let tmp = self
                .dir
                .join(format!("{MARKER}.{:08x}.tmp", fastrand::u32(..)));
            let written = fs::write(&tmp, MARKER_TEXT)
                .and_then(|()| {
                    fs::set_permissions(&tmp, fs::Permissions::from_mode(self.entry_mode()))
                })
                .and_then(|()| fs::rename(&tmp, &marker));
            let _ = fs::remove_file(&tmp);
            written?;
            if !self.is_marked() {
                return Ok(None);
            }
        }
        let prefix = entry.parent().expect("an entry lives in a prefix folder");
        match fs::create_dir(prefix) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        if !is_dir(prefix) {
            return Ok(None);
        }
        self.repair_dir_mode(prefix)?;
        Ok(Some(prefix.to_owned()))
    }

    /// Does the unmarked store folder hold only abandoned marker temporaries (removed here)?
    fn only_marker_temporaries(&self) -> io::Result<bool> {
        let entries: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        for path in &entries {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let temp = name
                .strip_prefix(&format!("{MARKER}."))
                .and_then(|r| r.strip_suffix(".tmp"))
                .is_some_and(|hex| hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
            let content_ok = fs::read_to_string(path).is_ok_and(|t| MARKER_TEXT.starts_with(&t));
            if !temp || !is_regular(path) || !content_ok {
                return Ok(false);
            }
        }
        for path in &entries {
            let _ = fs::remove_file(path);
        }
        Ok(fs::read_dir(&self.dir)?.next().is_none())
    }

    /// The repo blobs that really link to `entry`, per its manifest; `None` when the manifest
    /// is missing or unreadable (the entry must then be kept).
    pub(crate) fn references(&self, entry: &Path) -> Option<BTreeSet<PathBuf>> {
        let manifest = manifest(entry);
        if !is_regular(&manifest) {
            return None;
        }
        let text = fs::read_to_string(&manifest).ok()?;
        let mut found = BTreeSet::new();
        for line in text.lines() {
            let relative = Path::new(line);
            if relative.is_absolute() || relative.components().any(|c| c == Component::ParentDir) {
                continue;
            }
            let candidate = self.cache.join(relative);
            if self.relative_blob(&candidate).is_none() {
                continue;
            }
            match self.link_target(&candidate) {
                Ok(Some(target)) if target == entry => {
                    found.insert(normalize(&candidate));
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        Some(found)
    }

    /// Every valid entry of a marked store.
    pub(crate) fn entries(&self) -> Vec<PathBuf> {
        if !self.is_marked() {
            return Vec::new();
        }
        let mut found = Vec::new();
        for prefix in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = prefix.file_name().to_string_lossy().into_owned();
            let hex2 =
                name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !hex2 || !is_dir(&prefix.path()) {
                continue;
            }
            for item in fs::read_dir(prefix.path()).into_iter().flatten().flatten() {
                let file = item.file_name().to_string_lossy().into_owned();
                if XetHash::parse(&file).is_some()
                    && file.starts_with(&name)
                    && is_regular(&item.path())
                {
                    found.push(item.path());
                }
            }
        }
        found.sort();
        found
    }

    /// Entries whose manifest is readable and lists no live link, with their sizes.
    pub(crate) fn unreferenced(&self) -> Vec<(PathBuf, u64)> {
        (self.entries().into_iter())
            .filter(|e| self.references(e).is_some_and(|r| r.is_empty()))
            .filter_map(|e| Some((fs::symlink_metadata(&e).ok()?.len(), e)))
            .map(|(size, e)| (e, size))
            .collect()
    }

    /// Bytes freed if every blob in `deleting` goes: the entry's size when all its live
    /// references are among them, else 0.
    pub(crate) fn freed_if_deleted(&self, entry: &Path, deleting: &BTreeSet<PathBuf>) -> u64 {
        match self.references(entry) {
            Some(refs) if !refs.is_empty() && refs.is_subset(deleting) => {
                fs::symlink_metadata(entry).map_or(0, |m| if m.is_file() { m.len() } else { 0 })
            }
            _ => 0,
        }
    }

    /// Deletes `entry` and its manifest if no live link references it (else rewrites the
    /// manifest with the live ones); returns the bytes freed. Under the entry's lock.
    pub(crate) fn sweep(&self, entry: &Path) -> io::Result<u64> {
        let entry = normalize(entry);
        let valid = entry.strip_prefix(&self.dir).is_ok_and(|rest| {
            let parts: Vec<&str> = rest.iter().filter_map(|p| p.to_str()).collect();
            matches!(parts[..], [prefix, hash] if XetHash::parse(hash).is_some() && hash.starts_with(prefix))
        });
        if !valid || !self.is_marked() {
            return Ok(0);
        }
        let _lock = lock(&entry)?;
        let Some(refs) = self.references(&entry) else {
            return Ok(0);
        };
        if !refs.is_empty() {
            self.rewrite_manifest(&manifest(&entry), &refs)?;
            return Ok(0);
        }
        if !is_regular(&entry) {
            return Ok(0);
        }
        let size = fs::symlink_metadata(&entry)?.len();
        fs::remove_file(&entry)?;
        match fs::remove_file(manifest(&entry)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(size)
    }

    fn rewrite_manifest(&self, manifest: &Path, refs: &BTreeSet<PathBuf>) -> io::Result<()> {
        let lines: String = (refs.iter())
            .filter_map(|r| self.relative_blob(r))
            .map(|r| format!("{r}\n"))
            .collect();
        let name = manifest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = manifest.with_file_name(format!("{name}.{:08x}.tmp", fastrand::u32(..)));
        let written = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(lines.as_bytes())?;
            file.set_permissions(fs::Permissions::from_mode(0o666))?;
            file.sync_all()?;
            fs::rename(&tmp, manifest)
        })();
        let _ = fs::remove_file(&tmp);
        written
    }
}

fn manifest(entry: &Path) -> PathBuf {
    suffixed(entry, ".refs")
}

fn suffixed(entry: &Path, suffix: &str) -> PathBuf {
    let name = entry.file_name().unwrap_or_default().to_string_lossy();
    entry.with_file_name(format!("{name}{suffix}"))
}

/// Opens a regular file of the store for appending or locking: created 0666 for every user of
/// a shared cache, never through a planted symlink.
fn open_shared(path: &Path, append: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .append(append)
        .create(true)
        .mode(0o666)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "`{}` is not a regular file",
            path.display()
        )));
    }
    let _ = file.set_permissions(fs::Permissions::from_mode(0o666));
    Ok(file)
}

/// The entry's `<hash>.lock`, held (flock, as huggingface_hub's `filelock`) until dropped.
fn lock(entry: &Path) -> io::Result<File> {
    let file = open_shared(&suffixed(entry, ".lock"), false)?;
    file.lock()?;
    Ok(file)
}

/// Appends one reference line and syncs it, before the link it names appears.
fn append_reference(manifest: &Path, relative: &str) -> io::Result<()> {
    let mut file = open_shared(manifest, true)?;
    file.write_all(format!("{relative}\n").as_bytes())?;
    file.sync_all()
}

/// A relative symlink to `entry` beside `blob`, under a hidden name, to be renamed over it.
fn temporary_link(blob: &Path, entry: &Path) -> io::Result<PathBuf> {
    let name = blob.file_name().unwrap_or_default().to_string_lossy();
    let tmp = blob.with_file_name(format!(".{name}.{:08x}.shared", fastrand::u32(..)));
    let dir = blob.parent().expect("a repo blob lives in a folder");
    std::os::unix::fs::symlink(relative_path(&normalize(dir), entry), &tmp)?;
    Ok(tmp)
}

/// A regular, readable entry of the expected size.
fn is_usable(entry: &Path, size: u64) -> bool {
    fs::symlink_metadata(entry).is_ok_and(|m| m.is_file() && m.len() == size)
        && File::open(entry).is_ok_and(|mut f| f.read(&mut [0; 1]).is_ok())
}

fn is_regular(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_link_and_sweep_follow_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path();
        let store = SharedStore::new(cache);
        let xet = XetHash::parse(&"ab".repeat(32)).unwrap();
        let blob = |repo: &str| cache.join(repo).join("blobs").join("e".repeat(64));
        for repo in ["models--o--a", "datasets--o--b"] {
            fs::create_dir_all(blob(repo).parent().unwrap()).unwrap();
        }
        fs::write(blob("models--o--a"), b"data").unwrap();
        assert!(
            store
                .publish(&blob("models--o--a"), &xet, 4, |_| true)
                .unwrap()
        );
        assert!(store.is_marked());
        assert!(
            !store
                .link(&blob("datasets--o--b"), &xet, 5, |_| true)
                .unwrap(),
            "size"
        );
        assert!(
            !store
                .link(&blob("datasets--o--b"), &xet, 4, |_| false)
                .unwrap(),
            "check"
        );
        assert!(
            store
                .link(&blob("datasets--o--b"), &xet, 4, |_| true)
                .unwrap()
        );
        assert_eq!(fs::read(blob("datasets--o--b")).unwrap(), b"data");
        let entry = store.entry(&xet);
        assert_eq!(store.references(&entry).unwrap().len(), 2);
        // Not a repo folder, or a link elsewhere: never a reference.
        assert_eq!(store.relative_blob(&cache.join("other/blobs/x")), None);
        assert_eq!(
            store.target_of(&cache.join("models--o--a/blobs/none")),
            None
        );

        fs::remove_file(blob("models--o--a")).unwrap();
        assert_eq!(store.sweep(&entry).unwrap(), 0, "still referenced");
        let lines = fs::read_to_string(manifest(&entry)).unwrap();
        assert_eq!(lines, format!("datasets--o--b/blobs/{}\n", "e".repeat(64)));
        fs::remove_file(blob("datasets--o--b")).unwrap();
        fs::remove_file(manifest(&entry)).unwrap();
        assert_eq!(store.sweep(&entry).unwrap(), 0, "no manifest: kept");
        fs::write(manifest(&entry), "").unwrap();
        assert_eq!(store.unreferenced(), vec![(entry.clone(), 4)]);
        assert_eq!(store.sweep(&entry).unwrap(), 4);
        assert!(store.entries().is_empty());
    }

    #[test]
    fn an_unmarked_folder_with_other_files_is_never_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SharedStore::new(dir.path());
        fs::create_dir_all(dir.path().join("blobs")).unwrap();
        fs::write(dir.path().join("blobs/foreign"), b"x").unwrap();
        let blob = dir.path().join("models--o--a/blobs").join("e".repeat(64));
        fs::create_dir_all(blob.parent().unwrap()).unwrap();
        fs::write(&blob, b"data").unwrap();
        let xet = XetHash::parse(&"cd".repeat(32)).unwrap();
        assert!(!store.publish(&blob, &xet, 4, |_| true).unwrap());
        assert!(fs::symlink_metadata(&blob).unwrap().is_file());
    }
}
