//! One file, from "is it there?" to "it is in place": lock, open the partial file and its
//! journal, hand the missing ranges to the connections (`connection`), hash behind the writers,
//! verify, sync, finalize. Nothing reaches the final path before it is verified and synced.

use std::fs::{File, OpenOptions};
use std::io;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use super::connection::{FileState, checkpoint, run_workers};
use super::governor::Streams;
use super::journal;
use super::ranges::{Plan, RangeSet};
use super::verify::{InlineHash, Prefix, follow_prefix, hash_file};
use super::{ChecksumMismatch, Ctx, FileJob, Outcome};
use crate::hub::RemoteFile;
use crate::layout::{FileClaim, Partial, Presence, StoreFile, Tee, ensure_dir};
use crate::repo::Checksum;

/// Brings one file into place. Holds the file's lock while working on it.
pub(crate) async fn fetch(ctx: Arc<Ctx>, job: Arc<FileJob>, id: usize) -> Result<Outcome> {
    if !ctx.force && in_place(&ctx, &job).await? {
        return Ok(Outcome::Present);
    }
    let mut fresh = ctx.force;
    for attempt in 0.. {
        let Some(started) = start(&ctx, &job, fresh).await? else {
            return Ok(Outcome::Present);
        };
        let (lock, partial) = (started.lock, started.partial);
        let outcome = transfer(&ctx, &job, id, started.file, started.done, &partial).await;
        if outcome.is_err() && !is_split(&ctx, &job) {
            // A small file's partial is its own and is never resumed.
            let _ = std::fs::remove_file(&partial.data);
        }
        match outcome {
            Ok((file, tee)) => {
                finish(&ctx, &job, file, tee, partial, lock).await?;
                return Ok(Outcome::Downloaded);
            }
            Err(e) if attempt == 0 && e.is::<ChecksumMismatch>() => {
                ctx.reporter.warn(&format!("{e:#}; downloading it again"));
                fresh = true;
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns")
}

/// A file locked and opened for download, with what of it is already done.
struct Started {
    lock: FileClaim,
    file: File,
    done: RangeSet,
    partial: Partial,
}

/// Takes the file's lock, checks again whether someone finished it meanwhile, and opens the
/// partial file; one trip to the blocking pool. `None` if the file is now in place.
///
/// A large file gets the full lock (`flock` plus an owner file) and a shared partial that any
/// later run resumes. A small file gets a partial of its own, so its correctness never depends
/// on the lock; `flock` only spares downloading the same bytes twice.
async fn start(ctx: &Arc<Ctx>, job: &Arc<FileJob>, fresh: bool) -> Result<Option<Started>> {
    let (ctx, job) = (ctx.clone(), job.clone());
    tokio::task::spawn_blocking(move || {
        let large = is_split(&ctx, &job);
        let lock = ctx
            .layout
            .claim(&job.file.path, &job.file.etag, large)
            .with_context(|| format!("failed to claim `{}`", job.file.path))?;
        if !ctx.force && in_place_blocking(&ctx, &job)? {
            return Ok(None);
        }
        // A Xet file the shared store already holds (put there by `hf` 2.4 or hfdl for any
        // repo of this cache) is linked, not downloaded; a failure only means downloading.
        let file = &job.file;
        let from_store = || {
            let check = |entry: &std::path::Path| has_digest(entry, file);
            let linked = ctx
                .layout
                .link_from_store(&store_file(file), &ctx.commit, check);
            linked.unwrap_or(false)
        };
        if !ctx.force && from_store() {
            return Ok(None);
        }
        let (path, etag) = (&job.file.path, &job.file.etag);
        let partial = if large {
            let own = ctx.layout.partial(path, etag);
            adopt_legacy(&own, &ctx.layout.legacy_partial(path, etag), fresh)
                .with_context(|| format!("failed to take over `{}`", own.data.display()))?;
            own
        } else {
            ctx.layout.private_partial(path, etag)
        };
        let (file, done) = open_partial(&partial, etag, job.file.size, fresh || !large)
            .with_context(|| format!("failed to prepare `{}`", partial.data.display()))?;
        Ok(Some(Started {
            lock,
            file,
            done,
            partial,
        }))
    })
    .await?
}

/// Is this file fetched as several ranges (and resumable across runs)?
fn is_split(ctx: &Ctx, job: &FileJob) -> bool {
    super::is_large(job, ctx.tuning)
}

/// Syncs the verified file, moves it into place and releases the lock. Small files are synced
/// together with others (group commit); a failed one leaves no partial of its own behind.
async fn finish(
    ctx: &Arc<Ctx>,
    job: &Arc<FileJob>,
    file: Arc<File>,
    tee: Option<Tee>,
    partial: Partial,
    lock: FileClaim,
) -> Result<()> {
    let (layout, commit, remote) = (ctx.layout.clone(), ctx.commit.clone(), job.file.clone());
    let reporter = ctx.reporter.clone();
    let large = is_split(ctx, job);
    let finalize = move || -> Result<()> {
        layout
            .finalize(&partial.data, &remote.etag, &commit, &remote.path, tee)
            .with_context(|| format!("failed to move `{}` into place", remote.path))?;
        let _ = std::fs::remove_file(&partial.journal);
        // As `hf` 2.4 publishes its Xet downloads: the blob moves into the shared store.
        let published =
            layout.publish_to_store(&store_file(&remote), |entry| has_digest(entry, &remote));
        if let Err(e) = published {
            reporter.warn(&format!(
                "could not share `{}` through the cache's blob store: {e}",
                remote.path
            ));
        }
        if large {
            layout
                .sync_placed(&commit, &remote.path, &remote.etag)
                .context("failed to sync the folders of the downloaded file")?;
        }
        drop(lock);
        Ok(())
    };
    if large {
        tokio::task::spawn_blocking(move || {
            file.sync_data()
                .context("failed to sync the downloaded file")?;
            finalize()
        })
        .await?
    } else {
        ctx.committer.commit(file, Box::new(finalize)).await
    }
}

fn store_file(file: &RemoteFile) -> StoreFile<'_> {
    StoreFile {
        path: &file.path,
        etag: &file.etag,
        xet: file.xet_hash.as_ref(),
        size: file.size,
    }
}

/// Does the file at `path` have the file's digest? (A store entry is re-hashed before use:
/// huggingface_hub checks its size only.)
fn has_digest(path: &std::path::Path, file: &RemoteFile) -> bool {
    let digest = File::open(path).and_then(|f| hash_file(&f, file.checksum));
    digest.ok().flatten().as_deref() == Some(file.etag.as_str())
}

/// Is the file already there (adopting content that only lacks a link or a record)?
async fn in_place(ctx: &Arc<Ctx>, job: &Arc<FileJob>) -> Result<bool> {
    let (ctx, job) = (ctx.clone(), job.clone());
    tokio::task::spawn_blocking(move || in_place_blocking(&ctx, &job)).await?
}

pub(super) fn in_place_blocking(ctx: &Ctx, job: &FileJob) -> Result<bool> {
    let file = &job.file;
    let adopt = || {
        ctx.layout
            .adopt(&file.etag, &ctx.commit, &file.path)
            .with_context(|| format!("failed to record `{}`", file.path))
    };
    match ctx.layout.presence(&ctx.commit, &file.path, &file.etag) {
        Presence::Complete => Ok(true),
        Presence::Adopt => adopt().map(|()| true),
        Presence::Unverified(path) if file.checksum != Checksum::None => {
            let digest = File::open(&path).and_then(|f| hash_file(&f, file.checksum));
            if digest.ok().flatten().as_deref() == Some(file.etag.as_str()) {
                adopt().map(|()| true)
            } else {
                Ok(false)
            }
        }
        Presence::Unverified(_) | Presence::Missing => Ok(false),
    }
}

/// Downloads the missing parts of one file into its partial file and verifies it.
async fn transfer(
    ctx: &Arc<Ctx>,
    job: &Arc<FileJob>,
    id: usize,
    file: File,
    done: RangeSet,
    partial: &Partial,
) -> Result<(Arc<File>, Option<Tee>)> {
    ctx.reporter.resumed(id, done.len());
    let size = job.file.size;
    let whole = size.unwrap_or(u64::MAX);
    let split = size.is_some_and(|s| s > ctx.tuning.split_threshold);
    let piece = if split {
        ctx.tuning.piece_for(whole, ctx.connections)
    } else {
        whole
    };
    // One sequential stream from byte 0 is hashed as it is written; anything else is hashed
    // by a reader following the completed prefix.
    let inline = (!split && done.len() == 0 && size.is_some())
        .then(|| Mutex::new(InlineHash::new(job.file.checksum, whole)));
    let state = Arc::new(FileState {
        job: job.clone(),
        id,
        file: Arc::new(file),
        partial: partial.clone(),
        plan: Plan::tapered(
            &done.missing(whole),
            piece,
            ctx.tuning.min_split,
            ctx.connections,
        ),
        prefix: Prefix::new(size, ctx.handoff.clone()),
        done: Mutex::new(done),
        url: Mutex::new(job.url.clone()),
        subject: ctx.subject_for(&job.file.path),
        inline,
        reporter: ctx.reporter.clone(),
        streams: Streams::default(),
        redirect_retried: Default::default(),
    });
    state.mark_done(0, 0);
    let hasher = state.inline.is_none().then(|| {
        let (file, prefix, checksum) =
            (state.file.clone(), state.prefix.clone(), job.file.checksum);
        let remote = &job.file;
        let tee = ctx
            .layout
            .tee(&remote.path, &remote.etag, &ctx.commit, remote.size);
        tokio::task::spawn_blocking(move || follow_prefix(&file, checksum, &prefix, tee))
    });
    let result = run_workers(ctx, &state, split).await;
    if let Err(e) = result {
        state.prefix.cancel();
        if let Some(hasher) = hasher {
            let _ = hasher.await;
        }
        if split {
            let _ = checkpoint(&state).await;
        }
        return Err(e);
    }
    let (digest, tee) = match hasher {
        Some(hasher) => hasher.await?,
        None => inline_digest(&state).await.map(|d| (d, None)),
    }
    .context("failed to read back the partial file")?;
    verify(&state, digest)?;
    Ok((state.file.clone(), tee))
}

/// The digest of a file hashed while it was written, or read back if that went out of order.
async fn inline_digest(state: &Arc<FileState>) -> io::Result<Option<String>> {
    let inline = state.inline.as_ref().expect("inline hashing was chosen");
    let hash = std::mem::replace(
        &mut *inline.lock().expect("inline hash"),
        InlineHash::spent(),
    );
    let len = state.done.lock().expect("done").len();
    if let Some(digest) = hash.finish(len) {
        return Ok(digest);
    }
    let (file, checksum) = (state.file.clone(), state.job.file.checksum);
    tokio::task::spawn_blocking(move || hash_file(&file, checksum)).await?
}

/// Checks the digest against the etag.
fn verify(state: &FileState, digest: Option<String>) -> Result<()> {
    let expected = state.job.file.etag.as_str();
    match digest {
        Some(actual) if actual != expected => Err(ChecksumMismatch {
            path: state.job.file.path.to_string(),
            expected: expected.to_owned(),
            actual,
        }
        .into()),
        Some(_) => Ok(()),
        None => Err(anyhow::anyhow!(
            "no digest of `{}` is known; hfdl never places a file it cannot verify",
            state.job.file.path
        )),
    }
}

/// Moves the partial an official client (up to 1.17) or an older hfdl left under the official
/// name to hfdl's own name, so that only its valid prefix (or its journal) is trusted and no
/// other client ever sees a preallocated file; when starting afresh, or when hfdl's own
/// partial exists, removes it instead. Runs under the file's full lock: nobody writes it.
fn adopt_legacy(own: &Partial, legacy: &Partial, fresh: bool) -> io::Result<()> {
    let exists = |p: &std::path::Path| std::fs::symlink_metadata(p).is_ok();
    if !exists(&legacy.data) && !exists(&legacy.journal) {
        return Ok(());
    }
    if fresh || exists(&own.data) || !exists(&legacy.data) {
        remove_if_exists(&legacy.data)?;
        return remove_if_exists(&legacy.journal);
    }
    // A journal without its data file is stale: it must not describe the adopted file.
    remove_if_exists(&own.journal)?;
    if exists(&legacy.journal) {
        std::fs::rename(&legacy.journal, &own.journal)?;
    }
    std::fs::rename(&legacy.data, &own.data)
}

fn remove_if_exists(path: &std::path::Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Opens (or creates) the partial file and returns what of it is already done.
fn open_partial(
    p: &Partial,
    etag: &crate::repo::ETag,
    size: Option<u64>,
    fresh: bool,
) -> io::Result<(File, RangeSet)> {
    if let Some(dir) = p.data.parent() {
        ensure_dir(dir)?;
    }
    if fresh || size.is_none() {
        if p.journal.exists() {
            std::fs::remove_file(&p.journal)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p.data)?;
        if let Some(size) = size.filter(|s| *s > 0) {
            preallocate(&file, size)?;
        }
        return Ok((file, RangeSet::default()));
    }
    let size = size.expect("checked above");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p.data)?;
    let mut len = file.metadata()?.len();
    if len > size {
        // Longer than the file: the tail would survive into the final file unverified.
        file.set_len(size)?;
        len = size;
    }
    let done = match journal::load(&p.journal, etag, size) {
        Some(done) => done.clamp(len),
        // A partial without a journal is trusted as a prefix only if it was never
        // preallocated (an interrupted append-style download, e.g. huggingface_hub <= 1.17);
        // one whose journal describes other content is not trusted at all.
        None if len < size && !p.journal.exists() => {
            let mut done = RangeSet::default();
            done.insert(0..len);
            done
        }
        None => RangeSet::default(),
    };
    if len < size {
        preallocate(&file, size)?;
    }
    Ok((file, done))
}

/// Reserves the whole file up front, so a full disk fails now rather than mid-download.
///
/// On tmpfs, `fallocate` zeroes every page at once, and writing over those cold pages later
/// cost four times as much as writing fresh ones (measured on a 2 GiB file), so there the free
/// space is only checked.
fn preallocate(file: &File, size: u64) -> io::Result<()> {
    let no_space = || {
        io::Error::new(
            io::ErrorKind::StorageFull,
            format!("no space left on device for {size} bytes"),
        )
    };
    if is_tmpfs(file) {
        use std::os::unix::fs::MetadataExt;
        let stat = rustix::fs::fstatvfs(file)?;
        // What the file does not hold yet; a tmpfs without a size limit reports 0 blocks.
        let need = size.saturating_sub(file.metadata()?.blocks().saturating_mul(512));
        if stat.f_blocks > 0 && stat.f_bavail.saturating_mul(stat.f_frsize) < need {
            return Err(no_space());
        }
        return file.set_len(size);
    }
    match fs4::FileExt::allocate(file, size) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(28) => Err(no_space()),
        Err(_) => file.set_len(size),
    }
}

// `f_type` is `i64` on x86_64 Linux but narrower on other targets.
#[allow(clippy::useless_conversion)]
fn is_tmpfs(file: &File) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    rustix::fs::fstatfs(file).is_ok_and(|s| i64::from(s.f_type) == TMPFS_MAGIC)
}
