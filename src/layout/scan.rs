//! A read-only scan of a hub cache: its repos, their revisions, refs and blobs, and what is
//! left over (blobs no snapshot uses, partial downloads and their journals).
//!
//! A repo is judged as huggingface_hub 2.4.0's `scan_cache_dir` judges it: one the official
//! client would skip as corrupted is reported as a [`Corruption`] and skipped here too, never
//! an error. Sizes count each blob once and follow blob symlinks (into the shared blob store).
//! This module never deletes and never speaks HTTP; [`claim`] takes a lock only to probe it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use super::PARTIAL_SUFFIX;
use super::fs::{is_stale, owner_path};
use super::shared::SharedStore;

/// OS helper files the official scanner ignores wherever it meets them.
const IGNORED: [&str; 3] = [".DS_Store", "Thumbs.db", "desktop.ini"];

/// Cache folder prefixes and the repo types they stand for (`REPO_TYPES_MAPPING`).
pub(crate) const REPO_TYPES: [(&str, &str); 4] = [
    ("models", "model"),
    ("datasets", "dataset"),
    ("spaces", "space"),
    ("kernels", "kernel"),
];

/// The marker of the cache-wide shared blob store (`<cache>/blobs/`) and its content.
const SHARED_MARKER: &str = ".huggingface-shared-blobs";
const SHARED_MARKER_TEXT: &str = "1\n";

/// Everything a hub cache holds.
#[derive(Debug)]
pub(crate) struct CacheScan {
    /// The cache root, canonical.
    pub(crate) root: PathBuf,
    /// Healthy repos, by type then id.
    pub(crate) repos: Vec<CachedRepo>,
    /// Partial downloads in any repo folder, healthy or not.
    pub(crate) partials: Vec<PartialDownload>,
    /// Folders the official client would skip as corrupted.
    pub(crate) corrupted: Vec<Corruption>,
    /// The cache-wide store of Xet files (see [`SharedStore`]).
    pub(crate) store: SharedStore,
    /// Store entries no live link references (their manifest is readable), with sizes.
    pub(crate) unreferenced_shared: Vec<(PathBuf, u64)>,
    /// Bytes of every blob once: repo blobs that are no store links, plus the store's entries.
    pub(crate) physical_size: u64,
}

/// A repo folder the official scanner rejects, and why.
#[derive(Debug)]
pub(crate) struct Corruption {
    pub(crate) path: PathBuf,
    /// Its type and id, when the folder name says.
    pub(crate) repo: Option<(&'static str, String)>,
    pub(crate) reason: String,
}

/// One cached repository (`models--org--name`).
#[derive(Debug)]
pub(crate) struct CachedRepo {
    /// `model`, `dataset`, `space` or `kernel`.
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    pub(crate) path: PathBuf,
    /// Its folder under `.locks/`.
    pub(crate) locks: PathBuf,
    /// Bytes of the distinct blobs its snapshots use.
    pub(crate) size: u64,
    /// Number of distinct blobs its snapshots use.
    pub(crate) nb_files: usize,
    pub(crate) last_accessed: SystemTime,
    pub(crate) last_modified: SystemTime,
    /// By commit.
    pub(crate) revisions: Vec<CachedRevision>,
    /// Files in `blobs/` that no snapshot links to.
    pub(crate) unreferenced: Vec<CachedBlob>,
}

/// One snapshot folder.
#[derive(Debug)]
pub(crate) struct CachedRevision {
    /// The snapshot folder's name: a commit hash.
    pub(crate) commit: String,
    pub(crate) snapshot: PathBuf,
    /// Refs naming this commit (`main`, `refs/pr/1`); empty for a detached revision.
    pub(crate) refs: BTreeSet<String>,
    pub(crate) files: Vec<CachedFile>,
    /// Bytes of the distinct blobs it uses.
    pub(crate) size: u64,
    pub(crate) last_modified: SystemTime,
}

/// One file of a snapshot.
#[derive(Debug)]
pub(crate) struct CachedFile {
    /// Where its content is: the first hop of its symlink, or the file itself.
    pub(crate) blob: PathBuf,
    pub(crate) size: u64,
    /// Bytes freed by unlinking `blob`: 0 when the blob is itself a link into the shared store.
    pub(crate) frees: u64,
}

/// A file in `blobs/` that no snapshot uses.
#[derive(Debug)]
pub(crate) struct CachedBlob {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    /// The lock a download holds while it moves this blob into place.
    pub(crate) lock: PathBuf,
}

/// A partial download: `blobs/<etag>.incomplete` and/or its `.journal`.
#[derive(Debug)]
pub(crate) struct PartialDownload {
    /// The repo folder holding it.
    pub(crate) repo_dir: PathBuf,
    /// That repo as `model/org/name`, or the folder's name if it is no repo folder.
    pub(crate) repo_name: String,
    pub(crate) etag: String,
    pub(crate) data: Option<PathBuf>,
    pub(crate) journal: Option<PathBuf>,
    pub(crate) size: u64,
    /// Held by the download writing it, if one is running.
    pub(crate) lock: PathBuf,
}

impl CacheScan {
    /// The physical size of the cache's blobs, each counted once, as huggingface_hub's
    /// `HFCacheInfo.size_on_disk` (per-repo sizes count a shared entry in every repo).
    pub(crate) fn size_on_disk(&self) -> u64 {
        self.physical_size
    }
}

impl CachedRepo {
    /// `model/org/name`, as `hf cache` names repos.
    pub(crate) fn cache_id(&self) -> String {
        format!("{}/{}", self.kind, self.id)
    }

    /// The file of the ref `name` (`main`, `refs/pr/1`).
    pub(crate) fn ref_file(&self, name: &str) -> PathBuf {
        let mut path = self.path.join("refs");
        path.extend(name.split('/'));
        path
    }
}

/// Scans the cache at `root`; a missing root is an empty cache.
pub(crate) fn scan_cache(root: &Path) -> io::Result<CacheScan> {
    let mut scan = CacheScan {
        root: root.to_owned(),
        repos: Vec::new(),
        partials: Vec::new(),
        corrupted: Vec::new(),
        store: SharedStore::new(root),
        unreferenced_shared: Vec::new(),
        physical_size: 0,
    };
    if !root.exists() {
        return Ok(scan);
    }
    scan.root = fs::canonicalize(root)?;
    scan.store = SharedStore::new(&scan.root);
    for path in sorted_entries(&scan.root)? {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let shared = name == "blobs" && is_shared_store(&path);
        if shared || name == ".locks" || name == "CACHEDIR.TAG" || IGNORED.contains(&&*name) {
            continue;
        }
        let locks = scan.root.join(".locks").join(&name);
        scan.partials.extend(scan_partials(&path, &locks));
        match scan_repo(&path, locks) {
            Ok(repo) => scan.repos.push(repo),
            Err(reason) => {
                let repo = parse_folder_name(&name).ok();
                scan.corrupted.push(Corruption { path, repo, reason });
            }
        }
    }
    scan.repos
        .sort_by_key(|r| (r.kind, r.id.to_lowercase(), r.id.clone()));
    scan.unreferenced_shared = scan.store.unreferenced();
    scan.physical_size = physical_size(&scan);
    Ok(scan)
}

/// Repo blobs that are no links into the store, each once, plus every store entry.
fn physical_size(scan: &CacheScan) -> u64 {
    let marked = scan.store.is_marked();
    let blobs: BTreeSet<&Path> = (scan.repos.iter())
        .flat_map(|r| r.revisions.iter().flat_map(|v| &v.files))
        .map(|f| f.blob.as_path())
        .filter(|b| !marked || scan.store.target_of(b).is_none())
        .collect();
    let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    blobs.into_iter().map(size).sum::<u64>()
        + scan.store.entries().iter().map(|e| size(e)).sum::<u64>()
}

/// The entries of a directory, sorted by name.
fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}

/// Is `dir` the marked cache-wide blob store of huggingface_hub (not a repo folder)?
fn is_shared_store(dir: &Path) -> bool {
    let marker = dir.join(SHARED_MARKER);
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file())
        && fs::read_to_string(&marker).is_ok_and(|text| text == SHARED_MARKER_TEXT)
}

/// Splits `models--org--name` into its type and id.
fn parse_folder_name(name: &str) -> Result<(&'static str, String), String> {
    let (prefix, id) = name
        .split_once("--")
        .ok_or_else(|| "not a cache folder name like `models--org--name`".to_owned())?;
    let kind = REPO_TYPES
        .iter()
        .find(|(plural, _)| *plural == prefix)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| format!("unknown repo type `{prefix}`"))?;
    Ok((kind, id.replace("--", "/")))
}

/// What a blob's metadata tells the scan.
#[derive(Clone, Copy)]
struct BlobStat {
    len: u64,
    frees: u64,
    accessed: SystemTime,
    modified: SystemTime,
}

/// Scans one repo folder; `Err` names the corruption.
fn scan_repo(path: &Path, locks: PathBuf) -> Result<CachedRepo, String> {
    if !path.is_dir() {
        return Err("not a directory".into());
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let (kind, id) = parse_folder_name(&name)?;
    let snapshots = path.join("snapshots");
    if !snapshots.is_dir() {
        return Err("no `snapshots` directory".into());
    }
    let mut refs = read_refs(&path.join("refs"))?;
    let mut stats = HashMap::new();
    let mut revisions = Vec::new();
    for dir in sorted_entries(&snapshots).map_err(|e| unreadable(&snapshots, &e))? {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if IGNORED.contains(&name.as_str()) {
            continue;
        }
        if dir.is_file() {
            return Err(format!("`snapshots/{name}` is a file"));
        }
        let refs = refs.remove(&name).unwrap_or_default();
        revisions.push(scan_revision(&dir, name, refs, &mut stats)?);
    }
    if !refs.is_empty() {
        return Err(format!(
            "refs name commits with no snapshot: {}",
            describe_refs(&refs)
        ));
    }
    let unreferenced = unreferenced_blobs(&path.join("blobs"), &stats, &locks);
    let (accessed, modified) = repo_times(path, &stats)?;
    Ok(CachedRepo {
        kind,
        id,
        path: path.to_owned(),
        locks,
        size: stats.values().map(|s| s.len).sum(),
        nb_files: stats.len(),
        last_accessed: accessed,
        last_modified: modified,
        revisions,
        unreferenced,
    })
}

fn unreadable(path: &Path, err: &io::Error) -> String {
    format!("cannot read `{}`: {err}", path.display())
}

fn describe_refs(refs: &BTreeMap<String, BTreeSet<String>>) -> String {
    let pairs: Vec<String> = refs
        .iter()
        .flat_map(|(commit, names)| names.iter().map(move |n| format!("{n} -> {commit:?}")))
        .collect();
    pairs.join(", ")
}

/// The newest access and modification among the blobs, else the folder's own.
fn repo_times(
    path: &Path,
    stats: &HashMap<PathBuf, BlobStat>,
) -> Result<(SystemTime, SystemTime), String> {
    if stats.is_empty() {
        let meta = fs::metadata(path).map_err(|e| unreadable(path, &e))?;
        let time = |t: io::Result<SystemTime>| t.unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok((time(meta.accessed()), time(meta.modified())));
    }
    let newest = |f: fn(&BlobStat) -> SystemTime| stats.values().map(f).max();
    let accessed = newest(|s| s.accessed).unwrap_or(SystemTime::UNIX_EPOCH);
    let modified = newest(|s| s.modified).unwrap_or(SystemTime::UNIX_EPOCH);
    Ok((accessed, modified))
}

/// Every ref under `refs/`, grouped by its raw content (a commit hash, unless corrupted).
fn read_refs(dir: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut refs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if !dir.exists() {
        return Ok(refs);
    }
    if dir.is_file() {
        return Err("`refs` is a file".into());
    }
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| unreadable(dir, &e))?;
    for file in files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if file.is_dir() || IGNORED.contains(&&*name) {
            continue;
        }
        // Compared verbatim, as the official scanner does: a ref with a trailing newline names
        // no snapshot and makes the repo corrupted for it.
        let commit = fs::read(&file).map_err(|e| unreadable(&file, &e))?;
        refs.entry(String::from_utf8_lossy(&commit).into_owned())
            .or_default()
            .insert(repo_relative(dir, &file));
    }
    Ok(refs)
}

/// `root`-relative path with `/` separators.
fn repo_relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
    parts.join("/")
}

/// Collects every entry under `dir` that is not a real directory (symlinks to directories
/// included, not followed), like pathlib's `glob("**/*")`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    walk_pruned(dir, out, &|_| false)
}

/// [`walk`], not entering the directories `skip` names.
fn walk_pruned(dir: &Path, out: &mut Vec<PathBuf>, skip: &dyn Fn(&Path) -> bool) -> io::Result<()> {
    for path in sorted_entries(dir)? {
        if !fs::symlink_metadata(&path)?.is_dir() {
            out.push(path);
        } else if !skip(&path) {
            walk_pruned(&path, out, skip)?;
        }
    }
    Ok(())
}

fn scan_revision(
    dir: &Path,
    commit: String,
    refs: BTreeSet<String>,
    stats: &mut HashMap<PathBuf, BlobStat>,
) -> Result<CachedRevision, String> {
    let mut entries = Vec::new();
    walk(dir, &mut entries).map_err(|e| unreadable(dir, &e))?;
    let mut files = Vec::new();
    let mut blobs = HashSet::new();
    for path in entries {
        if path.is_dir() {
            continue;
        }
        let blob = blob_of(&path).map_err(|e| unreadable(&path, &e))?;
        let stat = match stats.get(&blob) {
            Some(stat) => *stat,
            None => blob_stat(&blob).map_err(|_| {
                format!(
                    "broken symlink `{}`: blob `{}` is missing",
                    path.display(),
                    blob.display()
                )
            })?,
        };
        stats.insert(blob.clone(), stat);
        blobs.insert(blob.clone());
        files.push(CachedFile {
            blob,
            size: stat.len,
            frees: stat.frees,
        });
    }
    let size = blobs.iter().map(|b| stats[b].len).sum();
    let last_modified = match blobs.iter().map(|b| stats[b].modified).max() {
        Some(time) => time,
        None => fs::metadata(dir)
            .and_then(|m| m.modified())
            .map_err(|e| unreadable(dir, &e))?,
    };
    Ok(CachedRevision {
        commit,
        snapshot: dir.to_owned(),
        refs,
        files,
        size,
        last_modified,
    })
}

/// The first hop of a snapshot entry: its symlink target made absolute, or the entry itself.
fn blob_of(path: &Path) -> io::Result<PathBuf> {
    if !fs::symlink_metadata(path)?.is_symlink() {
        return Ok(path.to_owned());
    }
    let target = fs::read_link(path)?;
    let parent = path
        .parent()
        .expect("a snapshot entry lives in a directory");
    Ok(normalize(&parent.join(target)))
}

/// Resolves `.` and `..` lexically, as `os.path.abspath` does.
pub(super) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn blob_stat(blob: &Path) -> io::Result<BlobStat> {
    let meta = fs::metadata(blob)?;
    let own = fs::symlink_metadata(blob)?;
    Ok(BlobStat {
        len: meta.len(),
        frees: if own.is_file() { meta.len() } else { 0 },
        accessed: meta.accessed()?,
        modified: meta.modified()?,
    })
}

/// Blobs no snapshot uses; hidden files (a download's temporaries) and partials are not blobs.
fn unreferenced_blobs(
    dir: &Path,
    used: &HashMap<PathBuf, BlobStat>,
    locks: &Path,
) -> Vec<CachedBlob> {
    let Ok(paths) = sorted_entries(dir) else {
        return Vec::new();
    };
    let mut blobs = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let leftover = name.starts_with('.') || partial_name(&name).is_some();
        let Ok(own) = fs::symlink_metadata(&path) else {
            continue;
        };
        if leftover || own.is_dir() || used.contains_key(&path) {
            continue;
        }
        let size = fs::metadata(&path).map_or(own.len(), |m| m.len());
        let lock = locks.join(format!("{name}.lock"));
        blobs.push(CachedBlob { path, size, lock });
    }
    blobs
}

/// The partial downloads in a repo folder's `blobs/`, each with its journal.
fn scan_partials(repo_dir: &Path, locks: &Path) -> Vec<PartialDownload> {
    let Ok(paths) = sorted_entries(&repo_dir.join("blobs")) else {
        return Vec::new();
    };
    let folder = repo_dir.file_name().unwrap_or_default().to_string_lossy();
    let repo_name = match parse_folder_name(&folder) {
        Ok((kind, id)) => format!("{kind}/{id}"),
        Err(_) => folder.into_owned(),
    };
    let mut by_name: BTreeMap<String, PartialDownload> = BTreeMap::new();
    for path in paths {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some((data_name, etag, is_journal)) = partial_name(&name) else {
            continue;
        };
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        let partial = by_name
            .entry(data_name.to_owned())
            .or_insert_with(|| PartialDownload {
                repo_dir: repo_dir.to_owned(),
                repo_name: repo_name.clone(),
                etag: etag.to_owned(),
                data: None,
                journal: None,
                size: 0,
                lock: locks.join(format!("{etag}.lock")),
            });
        partial.size += meta.len();
        if is_journal {
            partial.journal = Some(path);
        } else {
            partial.data = Some(path);
        }
    }
    by_name.into_values().collect()
}

/// Splits the name of a partial download's file in `blobs/` into the data file's name, the
/// etag whose lock guards it, and whether it is the journal. Recognised: hfdl's
/// `<etag>.hfdl-partial` and the official `<etag>.incomplete` (each maybe with a `.journal`),
/// and the private `<etag>.<8 hex>.hfdl-partial` / `<etag>.<8 hex>.incomplete` (hfdl's small
/// files, huggingface_hub 2.4's temp files), all guarded by `<etag>.lock`.
pub(crate) fn partial_name(name: &str) -> Option<(&str, &str, bool)> {
    let (data, is_journal) = match name.strip_suffix(".journal") {
        Some(data) => (data, true),
        None => (name, false),
    };
    let stem = data
        .strip_suffix(PARTIAL_SUFFIX)
        .or_else(|| data.strip_suffix(".incomplete"))?;
    let etag = match stem.rsplit_once('.') {
        Some((etag, unique))
            if unique.len() == 8 && unique.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            etag
        }
        _ => stem,
    };
    (!etag.is_empty()).then_some((data, etag, is_journal))
}

/// Every file under `root` by its `/`-separated relative path, following file symlinks but not
/// linked directories, and skipping `.git/` and `.cache/huggingface/` at any depth (as
/// huggingface_hub's `collect_local_files` does).
pub(crate) fn local_files(root: &Path) -> io::Result<BTreeMap<String, PathBuf>> {
    let is_metadata = |path: &Path| {
        let name = path.file_name().unwrap_or_default();
        let parent = path.parent().and_then(Path::file_name).unwrap_or_default();
        name == ".git" || (name == "huggingface" && parent == ".cache")
    };
    let mut entries = Vec::new();
    walk_pruned(root, &mut entries, &is_metadata)?;
    let files = entries
        .into_iter()
        .filter(|path| !is_metadata(path) && path.is_file())
        .map(|path| (repo_relative(root, &path), path));
    Ok(files.collect())
}

/// A lock taken so that what it guards can be deleted; released on drop.
#[derive(Debug)]
pub(crate) struct Claim {
    _file: Option<File>,
}

/// Takes the download lock at `lock` unless a running download holds it (`None`): through
/// `flock`, or, where `flock` does nothing, through a live owner file (see `fs.rs`).
pub(crate) fn claim(lock: &Path) -> Option<Claim> {
    let file = match File::open(lock) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        // A lock we cannot open may well be held: leave what it guards alone.
        Err(_) => return None,
    };
    if let Some(file) = &file
        && let Err(TryLockError::WouldBlock) = file.try_lock()
    {
        return None;
    }
    let owner = owner_path(lock);
    if owner.exists() && !is_stale(&owner) {
        return None;
    }
    Some(Claim { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(c: char) -> String {
        c.to_string().repeat(40)
    }

    /// A repo folder with one blob linked from the snapshot of `commit('a')`.
    fn repo(root: &Path) -> PathBuf {
        let repo = root.join("models--org--x");
        fs::create_dir_all(repo.join("blobs")).unwrap();
        fs::create_dir_all(repo.join("snapshots").join(commit('a')).join("sub")).unwrap();
        fs::create_dir_all(repo.join("refs")).unwrap();
        fs::write(repo.join("blobs/e1"), b"hello").unwrap();
        let link = repo.join("snapshots").join(commit('a')).join("sub/f.txt");
        std::os::unix::fs::symlink("../../../blobs/e1", link).unwrap();
        fs::write(repo.join("refs/main"), commit('a')).unwrap();
        repo
    }

    #[test]
    fn counts_blobs_once_and_finds_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let repo = repo(dir.path());
        let second = repo.join("snapshots").join(commit('b'));
        fs::create_dir_all(&second).unwrap();
        std::os::unix::fs::symlink("../../blobs/e1", second.join("g.txt")).unwrap();
        fs::write(repo.join("blobs/e2"), b"unused").unwrap();
        fs::write(repo.join("blobs/e3.incomplete"), b"12").unwrap();
        fs::write(repo.join("blobs/e3.incomplete.journal"), b"{}").unwrap();
        fs::write(repo.join("blobs/e4.incomplete.journal"), b"{}").unwrap();
        fs::write(repo.join("blobs/e5.hfdl-partial"), b"123").unwrap();
        fs::write(repo.join("blobs/e5.hfdl-partial.journal"), b"{}").unwrap();
        fs::write(repo.join("blobs/e6.0badf00d.hfdl-partial"), b"1").unwrap();
        fs::write(repo.join("blobs/e6.0123abcd.incomplete"), b"1").unwrap();
        fs::write(dir.path().join("CACHEDIR.TAG"), b"x").unwrap();
        fs::create_dir_all(dir.path().join(".locks/models--org--x")).unwrap();

        let scan = scan_cache(dir.path()).unwrap();
        assert!(scan.corrupted.is_empty(), "{:?}", scan.corrupted);
        let [repo] = &scan.repos[..] else {
            panic!("{:?}", scan.repos)
        };
        assert_eq!(
            (repo.kind, repo.id.as_str(), repo.size, repo.nb_files),
            ("model", "org/x", 5, 1)
        );
        assert_eq!(repo.revisions.len(), 2);
        assert_eq!(repo.revisions[0].refs, BTreeSet::from(["main".to_owned()]));
        assert!(repo.revisions[1].refs.is_empty());
        assert_eq!(repo.unreferenced.len(), 1);
        assert!(repo.unreferenced[0].path.ends_with("blobs/e2"));
        let partials: Vec<_> = scan
            .partials
            .iter()
            .map(|p| (p.etag.as_str(), p.data.is_some(), p.size))
            .collect();
        assert_eq!(
            partials,
            [
                ("e3", true, 4),
                ("e4", false, 2),
                ("e5", true, 5),
                ("e6", true, 1),
                ("e6", true, 1)
            ]
        );
        assert!(
            scan.partials
                .iter()
                .all(|p| p.lock.ends_with(format!("{}.lock", p.etag)))
        );
    }

    #[test]
    fn corruption_matches_the_official_scanner() {
        type Break = fn(&Path);
        let cases: [(&str, Break); 4] = [
            ("missing", |r| fs::remove_file(r.join("blobs/e1")).unwrap()),
            ("no snapshot", |r| {
                fs::write(r.join("refs/pr"), commit('c')).unwrap()
            }),
            ("trailing newline", |r| {
                fs::write(r.join("refs/main"), commit('a') + "\n").unwrap()
            }),
            ("no `snapshots`", |r| {
                fs::remove_dir_all(r.join("snapshots")).unwrap()
            }),
        ];
        for (expected, break_it) in cases {
            let dir = tempfile::tempdir().unwrap();
            break_it(&repo(dir.path()));
            fs::create_dir(dir.path().join("junk")).unwrap();
            let scan = scan_cache(dir.path()).unwrap();
            assert!(scan.repos.is_empty(), "{expected}");
            let reasons: Vec<_> = scan.corrupted.iter().map(|c| c.reason.as_str()).collect();
            assert_eq!(reasons.len(), 2, "{reasons:?}");
            assert!(
                reasons.iter().any(|r| r.contains("cache folder name")),
                "{reasons:?}"
            );
            let hint = if expected == "trailing newline" {
                "no snapshot"
            } else {
                expected
            };
            assert!(
                reasons.iter().any(|r| r.contains(hint)),
                "{expected}: {reasons:?}"
            );
        }
    }

    #[test]
    fn a_marked_shared_store_is_not_a_repo() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("blobs")).unwrap();
        fs::write(
            dir.path().join("blobs").join(SHARED_MARKER),
            SHARED_MARKER_TEXT,
        )
        .unwrap();
        let scan = scan_cache(dir.path()).unwrap();
        assert!(scan.corrupted.is_empty() && scan.repos.is_empty());
    }

    #[test]
    fn local_files_skip_metadata() {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "a.txt",
            "sub/b.txt",
            ".git/HEAD",
            ".cache/huggingface/x",
            "sub/.git/y",
            ".cache/z",
        ] {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"x").unwrap();
        }
        let files: Vec<_> = local_files(dir.path()).unwrap().into_keys().collect();
        assert_eq!(files, [".cache/z", "a.txt", "sub/b.txt"]);
    }

    #[test]
    fn a_held_lock_cannot_be_claimed() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("e.lock");
        assert!(claim(&lock).is_some(), "no lock file: free");
        let held = File::create(&lock).unwrap();
        held.lock().unwrap();
        // flock locks belong to the open file description, so a second open conflicts.
        assert!(claim(&lock).is_none());
        held.unlock().unwrap();
        assert!(claim(&lock).is_some());
        // Where flock does nothing, a fresh owner file from another host still guards.
        fs::write(owner_path(&lock), "pid=1\nhost=elsewhere\n").unwrap();
        assert!(claim(&lock).is_none());
    }
}
