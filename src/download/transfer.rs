//! One file, from "is it there?" to "it is in place": lock, resume from the journal, fetch the
//! missing ranges over pooled connections, hash behind the writers, verify, sync, finalize.
//!
//! Writes are positional (`pwrite`) into one preallocated partial file, from a 256 KiB buffer
//! per connection, so memory does not grow with the file size. A retry continues from the
//! bytes already written, and the retry budget refills whenever bytes arrive.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::sync::watch;

use super::journal;
use super::pool::Class;
use super::ranges::{Next, Piece, Plan, RangeSet};
use super::verify::{InlineHash, Prefix, follow_prefix, hash_file};
use super::{ChecksumMismatch, Ctx, FileJob, Interrupted, Outcome};
use crate::hub::{FileBody, HubError, Subject};
use crate::layout::{FileLock, Partial, Presence, ensure_dir};
use crate::repo::Checksum;
use crate::retry::Backoff;

const WRITE_BUF: usize = 256 * 1024;
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

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
            Ok(file) => {
                finish(&ctx, &job, file, partial, lock).await?;
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
    lock: FileLock,
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
        let lock_path = ctx.layout.lock_path(&job.file.path, &job.file.etag);
        let lock = if large {
            FileLock::acquire(&lock_path)
        } else {
            FileLock::acquire_flock_only(&lock_path)
        }
        .with_context(|| format!("failed to lock `{}`", job.file.path))?;
        if !ctx.force && in_place_blocking(&ctx, &job)? {
            return Ok(None);
        }
        let partial = if large {
            ctx.layout.partial(&job.file.path, &job.file.etag)
        } else {
            ctx.layout.private_partial(&job.file.path, &job.file.etag)
        };
        let (file, done) =
            open_partial(&partial, &job.file.etag, job.file.size, fresh || !large)
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
    job.file
        .size
        .is_some_and(|s| s > ctx.tuning.split_threshold)
}

/// Syncs the verified file, moves it into place and releases the lock. Small files are synced
/// together with others (group commit); a failed one leaves no partial of its own behind.
async fn finish(
    ctx: &Arc<Ctx>,
    job: &Arc<FileJob>,
    file: Arc<File>,
    partial: Partial,
    lock: FileLock,
) -> Result<()> {
    let (layout, commit, remote) = (ctx.layout.clone(), ctx.commit.clone(), job.file.clone());
    let large = is_split(ctx, job);
    let finalize = move || -> Result<()> {
        layout
            .finalize(&partial.data, &remote.etag, &commit, &remote.path)
            .with_context(|| format!("failed to move `{}` into place", remote.path))?;
        let _ = std::fs::remove_file(&partial.journal);
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

/// Is the file already there (adopting content that only lacks a link or a record)?
async fn in_place(ctx: &Arc<Ctx>, job: &Arc<FileJob>) -> Result<bool> {
    let (ctx, job) = (ctx.clone(), job.clone());
    tokio::task::spawn_blocking(move || in_place_blocking(&ctx, &job)).await?
}

fn in_place_blocking(ctx: &Ctx, job: &FileJob) -> Result<bool> {
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

/// The shared state of one file's transfer.
struct FileState {
    job: Arc<FileJob>,
    id: usize,
    file: Arc<File>,
    partial: Partial,
    done: Mutex<RangeSet>,
    prefix: Prefix,
    plan: Plan,
    /// Where the bytes come from: the resolve URL, then the CDN URL it redirected to.
    url: Mutex<String>,
    subject: Subject,
    /// The server ignores ranges: one stream fetches the file.
    single: AtomicBool,
    /// The digest of a sequential download, computed as it is written.
    inline: Option<Mutex<InlineHash>>,
}

impl FileState {
    fn url(&self) -> String {
        self.url.lock().expect("url").clone()
    }

    fn set_url(&self, url: String) {
        *self.url.lock().expect("url") = url;
    }

    /// Records `[start, end)` as written.
    fn mark_done(&self, start: u64, end: u64) {
        let prefix = {
            let mut done = self.done.lock().expect("done");
            done.insert(start..end);
            done.prefix_end()
        };
        self.prefix.advance(prefix);
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
) -> Result<Arc<File>> {
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
        plan: Plan::new(&done.missing(whole), piece, ctx.tuning.min_split),
        prefix: Prefix::new(size),
        done: Mutex::new(done),
        url: Mutex::new(job.url.clone()),
        subject: ctx.subject_for(&job.file.path),
        single: AtomicBool::new(false),
        inline,
    });
    state.mark_done(0, 0);
    let hasher = state.inline.is_none().then(|| {
        let (file, prefix, checksum) =
            (state.file.clone(), state.prefix.clone(), job.file.checksum);
        tokio::task::spawn_blocking(move || follow_prefix(&file, checksum, &prefix))
    });
    let result = run_workers(ctx, &state, split).await;
    if let Err(e) = result {
        state.prefix.cancel();
        if let Some(hasher) = hasher {
            let _ = hasher.await;
        }
        if size.is_some() {
            let _ = checkpoint(&state).await;
        }
        return Err(e);
    }
    let digest = match hasher {
        Some(hasher) => hasher.await?,
        None => inline_digest(&state).await,
    }
    .context("failed to read back the partial file")?;
    verify(&state, digest)?;
    Ok(state.file.clone())
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
    let len = file.metadata()?.len();
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
fn preallocate(file: &File, size: u64) -> io::Result<()> {
    match fs4::FileExt::allocate(file, size) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(28) => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("no space left on device for {size} bytes"),
        )),
        Err(_) => file.set_len(size),
    }
}

/// Runs the connections of one file until every byte is in, or one fails for good.
async fn run_workers(ctx: &Arc<Ctx>, state: &Arc<FileState>, split: bool) -> Result<()> {
    let mut workers = 1;
    let mut whole = None;
    if split {
        match locate(ctx, state).await? {
            None => workers = ctx.connections.min(state.plan.piece_count()).max(1),
            Some(body) => {
                // Ranges are ignored: this full response becomes the one stream.
                state.single.store(true, Ordering::Release);
                restart_single(state);
                whole = Some(body);
            }
        }
    }
    let checkpointer = split.then(|| {
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECKPOINT_EVERY).await;
                let _ = checkpoint(&state).await;
            }
        })
    });
    let class = if split { Class::Bulk } else { Class::Small };
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (ctx, state, first) = (ctx.clone(), state.clone(), whole.take());
        set.spawn(async move { worker(&ctx, &state, class, first).await });
    }
    let mut result = Ok(());
    while let Some(joined) = set.join_next().await {
        let outcome = match joined {
            Ok(outcome) => outcome,
            // Workers aborted after the first failure: that failure is the one to report.
            Err(e) if e.is_cancelled() => continue,
            Err(e) => Err(e.into()),
        };
        if let (Err(e), true) = (outcome, result.is_ok()) {
            result = Err(e);
            set.abort_all();
        }
    }
    if let Some(c) = checkpointer {
        c.abort();
    }
    result?;
    let done = state.done.lock().expect("done").clone();
    let expected = state.job.file.size.unwrap_or_else(|| done.len());
    if done.missing(expected).is_empty() {
        Ok(())
    } else {
        Err(anyhow!(
            "internal error: `{}` has missing ranges after download",
            state.job.file.path
        ))
    }
}

/// Learns the final (CDN) URL and whether the server honours ranges, with a 1-byte request.
/// Returns the response itself when it is the whole file (the server ignores ranges).
async fn locate(ctx: &Ctx, state: &FileState) -> Result<Option<FileBody>> {
    let _permit = ctx.pool.acquire(Class::Small).await;
    let mut backoff = Backoff::new(ctx.retry_base);
    loop {
        let url = state.url();
        match ctx.hub.open(&url, 0, Some(1), &state.subject).await {
            Ok(body) => {
                state.set_url(body.url.clone());
                let ranged = body.partial && !body.encoded;
                return Ok((!ranged).then_some(body));
            }
            Err(e) => retry_or_fail(ctx, state, &mut backoff, e).await?,
        }
    }
}

/// Waits before a retry, or returns the error when it is final or the budget is spent.
async fn retry_or_fail(
    ctx: &Ctx,
    state: &FileState,
    backoff: &mut Backoff,
    e: HubError,
) -> Result<()> {
    let expired = is_expired_link(ctx, &state.url(), &e);
    if !(e.is_transient() || expired) {
        return Err(
            anyhow::Error::new(e).context(format!("failed to download `{}`", state.job.file.path))
        );
    }
    if expired {
        // A signed CDN URL ran out: resolve again through the Hub.
        state.set_url(state.job.url.clone());
    }
    let Some(delay) = backoff.next_delay(e.retry_after()) else {
        return Err(anyhow::Error::new(e).context(format!(
            "failed to download `{}` after {} attempts",
            state.job.file.path,
            backoff.failures()
        )));
    };
    ctx.reporter.retrying(state.id, &format!("{e}"), delay);
    cancellable_sleep(ctx, delay).await
}

/// A 401/403/410 from a URL that is not the Hub's: an expired signed link.
fn is_expired_link(ctx: &Ctx, url: &str, e: &HubError) -> bool {
    let status_expired = matches!(
        e,
        HubError::Forbidden { .. } | HubError::RepoNotFound { .. }
    ) || matches!(
        e,
        HubError::Status {
            status: 400 | 410,
            ..
        }
    );
    status_expired && !ctx.hub.is_hub_url(url)
}

async fn cancellable_sleep(ctx: &Ctx, delay: Duration) -> Result<()> {
    let mut cancel = ctx.cancel.clone();
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(()),
        _ = cancel.wait_for(|c| *c) => Err(Interrupted.into()),
    }
}

/// One connection's loop: take a piece, fetch it, repeat. `first` is a response already
/// open for the first piece.
async fn worker(
    ctx: &Ctx,
    state: &FileState,
    class: Class,
    mut first: Option<FileBody>,
) -> Result<()> {
    loop {
        match state.plan.next() {
            Next::Piece(piece) => {
                let _permit = ctx.pool.acquire(class).await;
                fetch_piece(ctx, state, &piece, first.take()).await?;
            }
            Next::Wait => cancellable_sleep(ctx, Duration::from_millis(250)).await?,
            Next::Done => return Ok(()),
        }
    }
}

/// Fetches one piece, retrying from the bytes already written.
async fn fetch_piece(
    ctx: &Ctx,
    state: &FileState,
    piece: &Arc<Piece>,
    mut first: Option<FileBody>,
) -> Result<()> {
    let mut backoff = Backoff::new(ctx.retry_base);
    loop {
        let pos = piece.pos.load(Ordering::Acquire);
        let end = piece.end.load(Ordering::Acquire);
        if pos >= end {
            return Ok(());
        }
        let (written, outcome) = stream(ctx, state, piece, (pos, end), first.take()).await;
        if written > 0 {
            backoff.reset();
        }
        match outcome {
            Ok(()) => {}
            Err(StreamError::Hub(e)) => retry_or_fail(ctx, state, &mut backoff, e).await?,
            Err(StreamError::Fatal(e)) => return Err(e),
        }
    }
}

enum StreamError {
    Hub(HubError),
    Fatal(anyhow::Error),
}

impl From<anyhow::Error> for StreamError {
    fn from(e: anyhow::Error) -> Self {
        Self::Fatal(e)
    }
}

/// One request for `[pos, end)` of a piece; returns the bytes written and how it ended.
async fn stream(
    ctx: &Ctx,
    state: &FileState,
    piece: &Piece,
    (pos, end): (u64, u64),
    opened: Option<FileBody>,
) -> (u64, Result<(), StreamError>) {
    let url = state.url();
    let ranged_end = state.job.file.size.map(|_| end);
    let opened = match opened {
        Some(body) => Ok(body),
        None => ctx.hub.open(&url, pos, ranged_end, &state.subject).await,
    };
    let mut body = match opened.and_then(|b| check_length(b, state.job.file.size)) {
        Ok(body) => body,
        Err(e) => return (0, Err(StreamError::Hub(e))),
    };
    if body.url != url {
        state.set_url(body.url.clone());
    }
    if let (Some(total), Some(size)) = (body.total, state.job.file.size)
        && total != size
    {
        let what = format!("the file is {total} bytes, the listing said {size}; it changed");
        let e = anyhow::Error::new(HubError::Malformed {
            url: body.url,
            what,
        });
        return (0, Err(StreamError::Fatal(e)));
    }
    if body.start < pos && !state.single.swap(true, Ordering::AcqRel) {
        // The server ignored the range: from now on one stream fetches the rest of the file.
        restart_single(state);
        return (0, Ok(()));
    }
    let mut writer = Writer::new(state, piece, pos);
    let result = pump(ctx, &mut body, &mut writer).await;
    let result = result.and(writer.flush().map_err(StreamError::Fatal));
    let written = writer.written;
    if result.is_err() {
        return (written, result);
    }
    if state.job.file.size.is_none() {
        state.prefix.set_len(writer.cursor);
        piece.end.store(writer.cursor, Ordering::Release);
        return (written, Ok(()));
    }
    if writer.cursor < piece.end.load(Ordering::Acquire) {
        let e = HubError::Truncated {
            url: body.url.clone(),
            at: writer.cursor,
            end,
        };
        return (written, Err(StreamError::Hub(e)));
    }
    (written, Ok(()))
}

/// Refuses a whole-file answer whose length is not the file's (an error page served as a file).
fn check_length(body: FileBody, size: Option<u64>) -> Result<FileBody, HubError> {
    match (body.length, size) {
        (Some(got), Some(expected)) if !body.partial && !body.encoded && got != expected => {
            Err(HubError::WrongLength {
                url: body.url,
                got,
                expected,
            })
        }
        _ => Ok(body),
    }
}

/// Replaces the plan by one piece from the end of the completed prefix.
fn restart_single(state: &FileState) {
    let from = state.done.lock().expect("done").prefix_end();
    let size = state.job.file.size.unwrap_or(u64::MAX);
    state.plan.restart(from..size);
}

/// Reads a body into the writer until it ends, the piece is complete, or the run is cancelled.
async fn pump(ctx: &Ctx, body: &mut FileBody, writer: &mut Writer<'_>) -> Result<(), StreamError> {
    let mut at = body.start;
    let mut cancel: watch::Receiver<bool> = ctx.cancel.clone();
    loop {
        let chunk = tokio::select! {
            chunk = body.chunk() => chunk.map_err(StreamError::Hub)?,
            _ = cancel.wait_for(|c| *c) => return Err(StreamError::Fatal(Interrupted.into())),
        };
        let Some(chunk) = chunk else { return Ok(()) };
        let mut data = &chunk[..];
        let behind = writer.cursor.saturating_sub(at);
        let skip = usize::try_from(behind)
            .unwrap_or(usize::MAX)
            .min(data.len());
        data = &data[skip..];
        at += skip as u64;
        at += data.len() as u64;
        if !writer.push(data).map_err(StreamError::Fatal)? {
            return Ok(());
        }
    }
}

/// Buffers a piece's bytes and writes them at their offset.
struct Writer<'a> {
    state: &'a FileState,
    piece: &'a Piece,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    cursor: u64,
    written: u64,
    clipped: bool,
}

impl<'a> Writer<'a> {
    fn new(state: &'a FileState, piece: &'a Piece, pos: u64) -> Self {
        Self {
            state,
            piece,
            buf: Vec::with_capacity(WRITE_BUF),
            cursor: pos,
            written: 0,
            clipped: false,
        }
    }

    /// Adds bytes; returns false once the piece's end is reached.
    fn push(&mut self, data: &[u8]) -> Result<bool> {
        self.buf.extend_from_slice(data);
        let end = self.piece.end.load(Ordering::Acquire);
        if self.buf.len() >= WRITE_BUF || self.cursor + self.buf.len() as u64 >= end {
            self.flush()?;
        }
        Ok(!self.clipped && self.cursor < self.piece.end.load(Ordering::Acquire))
    }

    /// Writes the buffer, clipped to the piece's current end.
    fn flush(&mut self) -> Result<()> {
        let end = self.piece.end.load(Ordering::Acquire);
        let room = usize::try_from(end.saturating_sub(self.cursor)).unwrap_or(usize::MAX);
        let len = self.buf.len().min(room);
        if len < self.buf.len() {
            self.clipped = true;
        }
        if len > 0 {
            if let Some(inline) = &self.state.inline {
                inline
                    .lock()
                    .expect("inline hash")
                    .update(self.cursor, &self.buf[..len]);
            }
            self.state
                .file
                .write_all_at(&self.buf[..len], self.cursor)
                .with_context(|| {
                    format!("failed to write `{}`", self.state.partial.data.display())
                })?;
            let start = self.cursor;
            self.cursor += len as u64;
            self.written += len as u64;
            self.piece.pos.store(self.cursor, Ordering::Release);
            self.state.mark_done(start, self.cursor);
        }
        self.buf.clear();
        Ok(())
    }
}

/// Syncs the partial file, then records what is on disk in the journal.
async fn checkpoint(state: &Arc<FileState>) -> Result<()> {
    let Some(size) = state.job.file.size else {
        return Ok(());
    };
    let done = state.done.lock().expect("done").clone();
    let (file, path, etag) = (
        state.file.clone(),
        state.partial.journal.clone(),
        state.job.file.etag.clone(),
    );
    tokio::task::spawn_blocking(move || journal::checkpoint(&file, &path, &etag, size, &done))
        .await?
        .context("failed to write the resume journal")
}
