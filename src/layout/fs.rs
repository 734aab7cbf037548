//! Filesystem building blocks for the layouts: atomic writes, relative symlinks, and the
//! cross-process lock.
//!
//! The lock is two-layered. `flock` on the lock file excludes other hfdl processes and the
//! official client (its `filelock` uses `flock` on the same path). Because `flock` does nothing
//! on some network filesystems, an owner file created with `O_EXCL` next to it names the holder
//! (pid, host, start time) and carries a heartbeat (its mtime, touched every 10 s). An owner
//! file is stale, and is broken, when its pid is dead on this host or its heartbeat is older
//! than a minute.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use crate::repo::{CommitHash, Revision};

/// How long an owner file may go without a heartbeat before it is considered abandoned.
const STALE_AFTER: Duration = Duration::from_secs(60);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, with the
/// umask's default mode (usually 0644) like the official client's files. Not synced: used for
/// records that are cheap to lose (a lost `.metadata` means a re-hash, a lost journal means
/// re-fetching ranges), so many small files do not cost an fsync each.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, 0o666, false)
}

/// [`write_atomic`], synced before the rename and its folder after it: for refs, which other
/// tools trust blindly, and the resume journal, which must never claim unsynced data.
pub(crate) fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, 0o666, true)
}

/// [`write_durable`] for files only the owner may read (the token, the listing cache).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, 0o600, true)
}

fn write_atomic_with(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .expect("atomic writes target a file in a directory");
    ensure_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if sync {
        tmp.as_file().sync_data()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// The commit a ref file names (`refs/<revision>`), if it is there and valid.
pub(crate) fn read_ref_file(path: &Path) -> Option<CommitHash> {
    CommitHash::parse(fs::read_to_string(path).ok()?.trim())
}

/// Records `revision -> commit` at `path`, unless the revision is that commit; rewrites only
/// changes, durably (other tools trust refs blindly).
pub(crate) fn write_ref_file(
    path: &Path,
    revision: &Revision,
    commit: &CommitHash,
) -> io::Result<()> {
    if revision.as_str() == commit.as_str() || read_ref_file(path).as_ref() == Some(commit) {
        return Ok(());
    }
    write_durable(path, commit.as_str().as_bytes())
}

/// Makes the entries of `dir` (a rename into it, say) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates (or replaces) `link` as a symlink to `target`, relative to the link's directory.
pub(crate) fn symlink_relative(target: &Path, link: &Path) -> io::Result<()> {
    let dir = link.parent().expect("a symlink lives in a directory");
    ensure_dir(dir)?;
    let relative = relative_path(dir, target);
    match std::os::unix::fs::symlink(&relative, link) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) if fs::read_link(link).is_ok_and(|existing| existing == relative) => return Ok(()),
        Err(_) => {}
    }
    let tmp = dir.join(format!(
        ".tmp-link-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::os::unix::fs::symlink(&relative, &tmp)?;
    fs::rename(&tmp, link).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The path from directory `from` to `to`; both absolute.
pub(crate) fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n(Component::ParentDir, from.len() - common);
    ups.chain(to[common..].iter().copied()).collect()
}

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
    /// Our owner file and what we wrote in it, to never delete one that is not ours.
    owner: Option<(PathBuf, String)>,
}

/// What an owner file says (pid, host, start time to the microsecond: unique per claim). Inode
/// numbers would not do: a deleted file's number is often reused at once.
fn owner_text(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

impl FileLock {
    /// Blocks until the lock at `path` is ours.
    pub(crate) fn acquire(path: &Path) -> io::Result<Self> {
        let mut lock = Self::acquire_flock_only(path)?;
        let owner = owner_path(path);
        let claim = claim_owner_file(&owner)?;
        heartbeats()
            .lock()
            .expect("heartbeat registry")
            .insert(owner.clone());
        lock.owner = Some((owner, claim));
        Ok(lock)
    }

    /// `flock` only, without the owner file: for work whose correctness does not depend on the
    /// lock (a small file written to a partial of its own), where the lock only avoids
    /// downloading the same bytes twice.
    pub(crate) fn acquire_flock_only(path: &Path) -> io::Result<Self> {
        ensure_dir(path.parent().expect("a lock file lives in a directory"))?;
        let file = open_lock_file(path)?;
        lock_flock(&file)?;
        Ok(Self { file, owner: None })
    }
}

impl FileLock {
    /// A shared `flock` held for a whole download run, so that `cache rm`/`prune` (which try
    /// every lock of a repo exclusively) see the run between two files too. Never waits: many
    /// runs share it, and where `flock` does nothing it protects nothing, as elsewhere.
    pub(crate) fn share(path: &Path) -> io::Result<Self> {
        ensure_dir(path.parent().expect("a lock file lives in a directory"))?;
        let file = open_lock_file(path)?;
        match file.try_lock_shared() {
            Ok(()) | Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) if !is_unsupported_lock(&e) => return Err(e),
            Err(std::fs::TryLockError::Error(_)) => {}
        }
        Ok(Self { file, owner: None })
    }
}

fn is_unsupported_lock(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(37 | 38 | 95))
}

/// `create_dir_all`, but a `stat` first: `mkdir` on an existing directory takes the parent's
/// lock, which many parallel small files contend for.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        fs::create_dir_all(dir)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        if let Some((owner, claim)) = &self.owner {
            heartbeats()
                .lock()
                .expect("heartbeat registry")
                .remove(owner);
            // If our lock was broken as stale meanwhile, the file there now is someone else's.
            if owner_text(owner).as_ref() == Some(claim) {
                let _ = fs::remove_file(owner);
            }
        }
        let _ = self.file.unlock();
    }
}

/// Opens (creating with mode 0664, as huggingface_hub's `filelock` does) a lock file.
fn open_lock_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => {
            let _ = file.set_permissions(fs::Permissions::from_mode(0o664));
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            OpenOptions::new().write(true).open(path)
        }
        Err(e) => Err(e),
    }
}

pub(super) fn owner_path(lock: &Path) -> PathBuf {
    let mut name = lock
        .file_name()
        .expect("lock path has a name")
        .to_os_string();
    name.push(".owner");
    lock.with_file_name(name)
}

/// `flock`, waiting; filesystems without it are tolerated (the owner file still protects).
fn lock_flock(file: &File) -> io::Result<()> {
    match file.lock() {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(code) if code == 38 || code == 95 || code == 37) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Creates the owner file, waiting while a live one exists and breaking a stale one; returns
/// what it wrote there.
fn claim_owner_file(owner: &Path) -> io::Result<String> {
    let me = format!(
        "pid={}\nhost={}\nstarted={}\n",
        std::process::id(),
        hostname(),
        unix_now()
    );
    loop {
        match OpenOptions::new().write(true).create_new(true).open(owner) {
            Ok(mut file) => {
                file.write_all(me.as_bytes())?;
                return Ok(me);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Read before judging: if the file changes in between, the new one is judged
                // (and a fresh one is not stale), or this text no longer matches what is there.
                let text = owner_text(owner).unwrap_or_default();
                if is_stale(owner) {
                    break_stale(owner, &text);
                } else {
                    std::thread::sleep(POLL);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes the owner file judged stale (whose text was `judged`), without ever removing another.
///
/// Two processes may judge the same file stale; if one breaks it and claims the lock before the
/// other acts, a plain `remove_file` by the second would delete the first one's fresh claim and
/// both would hold the lock. So the file is first moved aside (atomic), and deleted only if it
/// is the one judged; a fresh claim moved aside by mistake is put back, unless yet another
/// claim took its place, which then stands.
fn break_stale(owner: &Path, judged: &str) {
    let mut name = owner.as_os_str().to_os_string();
    name.push(format!(
        ".stale-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let aside = PathBuf::from(name);
    if fs::rename(owner, &aside).is_err() {
        return;
    }
    if owner_text(&aside).as_deref() != Some(judged) {
        let cwd = rustix::fs::CWD;
        let flags = rustix::fs::RenameFlags::NOREPLACE;
        if rustix::fs::renameat_with(cwd, &aside, cwd, owner, flags).is_ok() {
            return;
        }
    }
    let _ = fs::remove_file(&aside);
}

/// An owner file whose process is gone (same host) or whose heartbeat stopped.
pub(super) fn is_stale(owner: &Path) -> bool {
    let Ok(meta) = fs::metadata(owner) else {
        return false;
    };
    let silent = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_AFTER);
    let text = fs::read_to_string(owner).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(str::to_owned))
    };
    let dead_here = field("host=").is_some_and(|h| h == hostname())
        && field("pid=")
            .and_then(|pid| pid.trim().parse::<u32>().ok())
            .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists())
        && Path::new("/proc/self").exists();
    silent || dead_here
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the epoch as Python's `time.time()` prints it (e.g. `1795888174.0249805`).
pub(crate) fn python_timestamp() -> String {
    format!("{:?}", unix_now())
}

/// The owner files of held locks, touched by one background thread.
fn heartbeats() -> &'static Mutex<HashSet<PathBuf>> {
    static REGISTRY: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(HEARTBEAT_EVERY);
                let owners: Vec<PathBuf> = heartbeats()
                    .lock()
                    .expect("heartbeat registry")
                    .iter()
                    .cloned()
                    .collect();
                for owner in owners {
                    if let Ok(file) = File::options().write(true).open(&owner) {
                        let _ = file.set_modified(SystemTime::now());
                    }
                }
            }
        });
        Mutex::new(HashSet::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let rel = relative_path(
            Path::new("/c/m/snapshots/abc/sub/dir"),
            Path::new("/c/m/blobs/e"),
        );
        assert_eq!(rel, PathBuf::from("../../../../blobs/e"));
        let rel = relative_path(Path::new("/c/m/snapshots/abc"), Path::new("/c/m/blobs/e"));
        assert_eq!(rel, PathBuf::from("../../blobs/e"));
    }

    #[test]
    fn an_owner_file_whose_pid_is_no_number_is_not_judged_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        // `/proc/../proc` exists: read as a path, this would pass for a live process, and
        // `/proc/../nonexistent` for a dead one; neither is a pid.
        fs::write(&owner, format!("pid=../nonexistent\nhost={}\n", hostname())).unwrap();
        assert!(
            !is_stale(&owner),
            "a fresh owner file with a bogus pid stands"
        );
    }

    #[test]
    fn stale_owner_files_are_broken() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        fs::write(
            owner_path(&lock),
            format!("pid=999999999\nhost={}\n", hostname()),
        )
        .unwrap();
        let held = FileLock::acquire(&lock).unwrap();
        let text = fs::read_to_string(owner_path(&lock)).unwrap();
        assert!(text.contains(&format!("pid={}", std::process::id())));
        drop(held);
        assert!(!owner_path(&lock).exists());
    }

    #[test]
    fn breaking_a_stale_owner_never_removes_a_fresh_claim() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        fs::write(&owner, "stale").unwrap();
        // Another process breaks the stale file and claims the lock before we act.
        fs::remove_file(&owner).unwrap();
        let keep = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
        fs::write(&owner, "fresh").unwrap();
        break_stale(&owner, "stale");
        assert_eq!(fs::read_to_string(&owner).unwrap(), "fresh");
        // The stale one itself is broken, and nothing is left aside.
        break_stale(&owner, "fresh");
        assert!(!owner.exists());
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the unrelated temp file: {left:?}");
        drop(keep);
    }

    #[test]
    fn a_broken_lock_does_not_delete_its_successor_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        let held = FileLock::acquire(&lock).unwrap();
        // Judged stale by someone else, who now holds it.
        fs::remove_file(owner_path(&lock)).unwrap();
        fs::write(owner_path(&lock), "pid=1\nhost=elsewhere\n").unwrap();
        drop(held);
        assert!(owner_path(&lock).exists());
    }

    #[test]
    fn owner_files_without_heartbeat_are_broken() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        // A holder on another host (its pid means nothing here) that stopped beating.
        fs::write(owner_path(&lock), "pid=1\nhost=elsewhere\n").unwrap();
        let file = File::options().write(true).open(owner_path(&lock)).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        assert!(is_stale(&owner_path(&lock)));
        drop(FileLock::acquire(&lock).unwrap());
        // A fresh one from another host is respected.
        fs::write(owner_path(&lock), "pid=1\nhost=elsewhere\n").unwrap();
        assert!(!is_stale(&owner_path(&lock)));
    }

    #[test]
    fn a_live_owner_blocks_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        let first = FileLock::acquire(&lock).unwrap();
        let lock2 = lock.clone();
        let waiter = std::thread::spawn(move || FileLock::acquire(&lock2).map(|_| ()));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiter.is_finished());
        drop(first);
        waiter.join().unwrap().unwrap();
    }
}
