//! Filesystem building blocks for the layouts: atomic writes, relative symlinks, and the
//! cross-process lock.
//!
//! The lock is two-layered. `flock` on the lock file excludes other hfdl processes and the
//! official client (its `filelock` uses `flock` on the same path). Because `flock` does nothing
//! across nodes on some network filesystems (Lustre with `localflock`, GPFS, NFS without a lock
//! manager, FUSE mounts), an owner file created with `O_EXCL` next to it names the holder and
//! carries a heartbeat (its mtime, set from the holder's clock every 10 s).
//!
//! The owner record names the process (pid, start time) and where its pid means something:
//! the host name, the kernel's boot id and the pid namespace. A record is stale, and is broken,
//! when its heartbeat is older than a minute by the reader's clock, or when it was written in
//! this very boot and pid namespace and its pid is gone. A record from another host, another
//! container (same host name, other pid namespace) or an older hfdl is judged by heartbeat only.
//!
//! Where `O_EXCL` may not be exclusive between nodes (any filesystem not known to be local: two
//! FUSE mounts of one SeaweedFS folder both "create" a name created within the same few
//! milliseconds, the last writer winning), a claim is confirmed as in Fischer's timed mutual
//! exclusion: written, then read back after [`CONFIRM_AFTER`]; it holds only if it is still ours.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use crate::repo::{CommitHash, Revision};
use crate::whereabouts::Whereabouts;

/// How long an owner file may go without a heartbeat before it is considered abandoned.
const STALE_AFTER: Duration = Duration::from_secs(60);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
/// How long a claim on a filesystem that may be shared must stand before it is trusted: far
/// longer than a create takes to reach the other nodes, far shorter than a large file's download.
const CONFIRM_AFTER: Duration = Duration::from_millis(1000);

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
        let mut lock = Self::flock(path)?;
        let owner = owner_path(path);
        let confirm = (!is_local_filesystem(&owner)).then_some(CONFIRM_AFTER);
        let claim = claim_owner_file(&owner, confirm)?;
        lock.hold(owner, claim);
        Ok(lock)
    }

    /// For work whose correctness does not depend on the lock (a small file written to a
    /// partial of its own), where the lock only avoids downloading the same bytes twice:
    /// `flock`, plus on a filesystem that may be shared between nodes an unconfirmed owner
    /// file (so other nodes wait too, unless they raced for it within milliseconds).
    pub(crate) fn acquire_flock_only(path: &Path) -> io::Result<Self> {
        let mut lock = Self::flock(path)?;
        let owner = owner_path(path);
        if !is_local_filesystem(&owner) {
            let claim = claim_owner_file(&owner, None)?;
            lock.hold(owner, claim);
        }
        Ok(lock)
    }

    fn flock(path: &Path) -> io::Result<Self> {
        ensure_dir(path.parent().expect("a lock file lives in a directory"))?;
        let file = open_lock_file(path)?;
        lock_flock(&file)?;
        Ok(Self { file, owner: None })
    }

    fn hold(&mut self, owner: PathBuf, claim: String) {
        heartbeats()
            .lock()
            .expect("heartbeat registry")
            .insert(owner.clone());
        self.owner = Some((owner, claim));
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
/// what it wrote there. With `confirm`, a claim holds only if it still reads as ours that long
/// after it was written (else another node's create overtook it, and this one waits).
fn claim_owner_file(owner: &Path, confirm: Option<Duration>) -> io::Result<String> {
    let me = owner_record();
    loop {
        match OpenOptions::new().write(true).create_new(true).open(owner) {
            Ok(mut file) => {
                file.write_all(me.as_bytes())?;
                // Closed here: a FUSE or NFS client sends the bytes on close.
                drop(file);
                if confirm.is_none_or(|after| claim_stands(owner, &me, after)) {
                    return Ok(me);
                }
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

/// Whether the owner file still holds `mine` after `after`.
fn claim_stands(owner: &Path, mine: &str, after: Duration) -> bool {
    std::thread::sleep(after);
    owner_text(owner).as_deref() == Some(mine)
}

/// This process's owner record: pid and start time (to the microsecond: unique per claim),
/// and where the pid means something (host name, boot id, pid namespace).
fn owner_record() -> String {
    let here = Whereabouts::current();
    format!(
        "pid={}\nhost={}\nboot={}\npidns={}\nstarted={}\n",
        std::process::id(),
        here.host,
        here.boot,
        here.pidns,
        unix_now()
    )
}

/// The whereabouts an owner record states, if it states all of them.
fn whereabouts_of_record(text: &str) -> Option<Whereabouts> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    Some(Whereabouts {
        host: field("host=")?,
        boot: field("boot=")?,
        pidns: field("pidns=")?,
    })
}

/// Removes the owner file judged stale (whose text was `judged`), without ever removing another.
///
/// Two processes may judge the same file stale; if one breaks it and claims the lock before the
/// other acts, a plain `remove_file` by the second would delete the first one's fresh claim and
/// both would hold the lock. So the file is first moved aside (atomic), and deleted only if it
/// is the one judged; a fresh claim moved aside by mistake is put back (see [`put_back`]).
fn break_stale(owner: &Path, judged: &str) {
    break_stale_with(owner, judged, &PutBack::SYSTEM);
}

fn break_stale_with(owner: &Path, judged: &str, calls: &PutBack) {
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
    if owner_text(&aside).as_deref() == Some(judged) {
        let _ = fs::remove_file(&aside);
    } else {
        put_back(&aside, owner, calls);
    }
}

/// The two "create this name unless it exists" calls that put a claim back, as a seam: the
/// Linux NFS client refuses `RENAME_NOREPLACE` with `EINVAL`, some FUSE filesystems refuse
/// hard links.
struct PutBack {
    rename_noreplace: fn(&Path, &Path) -> io::Result<()>,
    hard_link: fn(&Path, &Path) -> io::Result<()>,
}

impl PutBack {
    const SYSTEM: Self = Self {
        rename_noreplace: |from, to| {
            let cwd = rustix::fs::CWD;
            let flags = rustix::fs::RenameFlags::NOREPLACE;
            rustix::fs::renameat_with(cwd, from, cwd, to, flags).map_err(io::Error::from)
        },
        hard_link: |from, to| fs::hard_link(from, to),
    };
}

/// Puts a live claim moved aside by mistake back at `owner`, never over another claim:
/// `renameat2(RENAME_NOREPLACE)`, else (refused, as on NFS) `link` then unlink. If another
/// claim took the place meanwhile, it stands and the one aside is dropped (its holder finds on
/// release that the lock is no longer its own). If neither call is supported, the claim stays
/// aside rather than be deleted or written over another.
fn put_back(aside: &Path, owner: &Path, calls: &PutBack) {
    let taken = |e: &io::Error| e.kind() == io::ErrorKind::AlreadyExists;
    match (calls.rename_noreplace)(aside, owner) {
        Ok(()) => return,
        Err(e) if taken(&e) => {
            let _ = fs::remove_file(aside);
            return;
        }
        Err(_) => {}
    }
    match (calls.hard_link)(aside, owner) {
        Ok(()) => {
            let _ = fs::remove_file(aside);
        }
        Err(e) if taken(&e) => {
            let _ = fs::remove_file(aside);
        }
        Err(_) => {}
    }
}

/// An owner file whose heartbeat stopped (by this client's clock), or whose process is gone
/// when the record proves its pid is one of this boot and pid namespace.
///
/// The file is opened before its mtime is read: an NFS client revalidates attributes on open
/// (close-to-open consistency), where a bare `stat` may answer from its attribute cache.
pub(super) fn is_stale(owner: &Path) -> bool {
    let Ok(mut file) = File::open(owner) else {
        return false;
    };
    let mut text = String::new();
    let _ = io::Read::read_to_string(&mut file, &mut text);
    let Ok(meta) = file.metadata() else {
        return false;
    };
    let silent = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_AFTER);
    silent || is_dead_here(&text)
}

/// Whether the record's process is known to be gone: its pid is a number, the record was
/// written in this boot and pid namespace, and `/proc` (mounted here) has no such pid.
fn is_dead_here(text: &str) -> bool {
    let pid = text
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .and_then(|pid| pid.trim().parse::<u32>().ok());
    let at = whereabouts_of_record(text);
    pid.zip(at).is_some_and(|(pid, at)| at.is_dead(pid))
}

/// Filesystems a lock file lives on that only this machine reaches (`statfs` type): there
/// `O_EXCL` and `flock` are exclusive and a claim needs no confirmation. Anything else (NFS,
/// Lustre, GPFS, CIFS, Ceph, FUSE, or unknown) may be shared by other nodes.
fn is_local_filesystem(path: &Path) -> bool {
    const LOCAL: &[u32] = &[
        0xEF53,      // ext2/3/4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0x858_458F6, // ramfs
        0x794C_7630, // overlayfs
        0x2FC1_2FC1, // zfs
        0xF2F5_2010, // f2fs
        0xCA45_1A4E, // bcachefs
        0x5265_4973, // reiserfs
        0x3153_464A, // jfs
        0x4D44,      // vfat
        0x2011_BAB0, // exfat
    ];
    let dir = path.parent().unwrap_or(path);
    rustix::fs::statfs(dir).is_ok_and(|st| LOCAL.contains(&(st.f_type as u32)))
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
        fs::write(&owner, record_here("../nonexistent")).unwrap();
        assert!(
            !is_stale(&owner),
            "a fresh owner file with a bogus pid stands"
        );
    }

    /// A record of `pid` written in this boot and pid namespace.
    fn record_here(pid: &str) -> String {
        let here = Whereabouts::current();
        format!(
            "pid={pid}\nhost={}\nboot={}\npidns={}\nstarted=1.0\n",
            here.host, here.boot, here.pidns
        )
    }

    #[test]
    fn stale_owner_files_are_broken() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("x.lock");
        fs::write(owner_path(&lock), record_here("999999999")).unwrap();
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
    fn our_own_record_says_where_its_pid_is_valid() {
        let me = owner_record();
        assert!(me.contains(&format!("pid={}\n", std::process::id())));
        let here = whereabouts_of_record(&me).expect("host, boot id and pid namespace");
        assert!(here.is_here());
        assert!(here.boot.len() >= 32, "a boot id: {me}");
        assert!(here.pidns.starts_with("pid:["), "a pid namespace: {me}");
        assert!(!is_dead_here(&me), "we are alive");
    }

    #[test]
    fn a_dead_pid_counts_only_in_this_boot_and_pid_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        let here = Whereabouts::current();
        let dead = "999999999";
        let cases = [
            // Another container with the same host name: its pids are not ours to look up.
            format!(
                "pid={dead}\nhost={}\nboot={}\npidns=pid:[1]\n",
                here.host, here.boot
            ),
            // Another machine with the same host name (another boot id).
            format!(
                "pid={dead}\nhost={}\nboot=00000000-0000-0000-0000-000000000000\npidns={}\n",
                here.host, here.pidns
            ),
            // A record without boot id and namespace (an older hfdl): heartbeat only.
            format!("pid={dead}\nhost={}\n", here.host),
        ];
        for record in cases {
            fs::write(&owner, &record).unwrap();
            assert!(!is_stale(&owner), "a fresh record is respected:\n{record}");
        }
        fs::write(&owner, record_here(dead)).unwrap();
        assert!(
            is_stale(&owner),
            "the same boot and namespace: judged by pid"
        );
    }

    /// Calls that refuse as the Linux NFS client does (`RENAME_NOREPLACE`: EINVAL).
    const NFS: PutBack = PutBack {
        rename_noreplace: |_, _| Err(io::Error::from_raw_os_error(22)),
        hard_link: |from, to| fs::hard_link(from, to),
    };

    #[test]
    fn where_rename_noreplace_is_refused_a_live_claim_moved_aside_is_linked_back() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        // Judged stale as "stale", but by the time it is moved aside another process broke
        // that one and claimed the lock: what is moved aside is its live claim.
        fs::write(&owner, "fresh").unwrap();
        break_stale_with(&owner, "stale", &NFS);
        assert_eq!(fs::read_to_string(&owner).unwrap(), "fresh", "put back");
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing left aside: {left:?}");
        // The stale one itself is broken there too.
        break_stale_with(&owner, "fresh", &NFS);
        assert!(!owner.exists());
    }

    #[test]
    fn where_neither_rename_noreplace_nor_link_works_a_live_claim_is_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        let refused = PutBack {
            rename_noreplace: |_, _| Err(io::Error::from_raw_os_error(22)),
            hard_link: |_, _| Err(io::Error::from_raw_os_error(1)),
        };
        fs::write(&owner, "fresh").unwrap();
        break_stale_with(&owner, "stale", &refused);
        let kept: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| fs::read_to_string(e.path()).unwrap())
            .collect();
        assert_eq!(kept, ["fresh"], "the live claim survives (aside)");
    }

    #[test]
    fn a_claim_overtaken_by_another_nodes_create_does_not_stand() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        fs::write(&owner, "mine").unwrap();
        assert!(claim_stands(&owner, "mine", Duration::ZERO));
        fs::write(&owner, "another node's").unwrap();
        assert!(!claim_stands(&owner, "mine", Duration::ZERO));
    }

    #[test]
    fn a_confirmed_claim_waits_out_an_overtaking_one() {
        let dir = tempfile::tempdir().unwrap();
        let owner = owner_path(&dir.path().join("x.lock"));
        let (path, other) = (owner.clone(), record_here("1"));
        // Another node's create lands while our claim is being confirmed, then it releases.
        let racer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            fs::write(&path, &other).unwrap();
            std::thread::sleep(Duration::from_millis(600));
            fs::remove_file(&path).unwrap();
        });
        let claim = claim_owner_file(&owner, Some(Duration::from_millis(300))).unwrap();
        racer.join().unwrap();
        assert_eq!(
            fs::read_to_string(&owner).unwrap(),
            claim,
            "claimed after the other"
        );
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
