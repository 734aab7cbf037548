//! The connections of one file: each takes a piece of the plan, requests that range, writes
//! the bytes at their offset, and retries from where it stopped. Also the periodic checkpoint
//! of the resume journal.
//!
//! Writes are positional (`pwrite`) into one preallocated partial file from a 256 KiB buffer
//! per connection, so memory does not grow with the file size. The retry budget refills
//! whenever bytes arrive.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use super::governor::{MIN_STREAMS, Streams, govern};
use super::journal;
use super::pool::Class;
use super::ranges::{Next, Piece, Plan, RangeSet};
use super::verify::{InlineHash, Prefix};
use super::{Ctx, FileJob, Interrupted, Reporter};
use crate::hub::{FileBody, HubError, Subject};
use crate::layout::Partial;
use crate::retry::Backoff;

const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

/// The shared state of one file's transfer.
pub(super) struct FileState {
    pub(super) job: Arc<FileJob>,
    pub(super) id: usize,
    pub(super) file: Arc<File>,
    pub(super) partial: Partial,
    pub(super) done: Mutex<RangeSet>,
    pub(super) prefix: Prefix,
    pub(super) plan: Plan,
    /// Where the bytes come from: the resolve URL, then the CDN URL it redirected to.
    pub(super) url: Mutex<String>,
    pub(super) subject: Subject,
    /// The digest of a sequential download, computed as it is written.
    pub(super) inline: Option<Mutex<InlineHash>>,
    pub(super) reporter: Arc<dyn Reporter>,
    pub(super) streams: Streams,
    /// A redirect to an unreachable host was already resolved again once.
    pub(super) redirect_retried: AtomicBool,
}

impl FileState {
    fn url(&self) -> String {
        self.url.lock().expect("url").clone()
    }

    fn set_url(&self, url: String) {
        *self.url.lock().expect("url") = url;
    }

    /// Records `[start, end)` as written.
    pub(super) fn mark_done(&self, start: u64, end: u64) {
        let prefix = {
            let mut done = self.done.lock().expect("done");
            done.insert(start..end);
            done.prefix_end()
        };
        self.prefix.advance(prefix);
    }
}

/// Runs the connections of one file until every byte is in, or one fails for good.
pub(super) async fn run_workers(ctx: &Arc<Ctx>, state: &Arc<FileState>, split: bool) -> Result<()> {
    let mut workers = 1;
    let mut whole = None;
    if split {
        match locate(ctx, state).await? {
            None => workers = ctx.connections.min(state.plan.piece_count()).max(1),
            Some(body) => {
                // Ranges are ignored: this full response becomes the one stream.
                restart_single(state);
                whole = Some(body);
            }
        }
    }
    // Stopped by a signal and awaited, never aborted: an aborted task would leave its sync and
    // journal write running, and a late journal could undo a newer one.
    let (stop, stopped) = watch::channel(false);
    let checkpointer = split.then(|| {
        let (state, mut stopped) = (state.clone(), stopped.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(CHECKPOINT_EVERY) => {
                        let _ = checkpoint(&state).await;
                    }
                    _ = stopped.changed() => return,
                }
            }
        })
    });
    let class = if split { Class::Bulk } else { Class::Small };
    state.streams.start(workers);
    let governor = (split && workers > MIN_STREAMS).then(|| {
        let state = state.clone();
        tokio::spawn(async move { govern(&state, stopped).await })
    });
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
    let _ = stop.send(true);
    for task in [checkpointer, governor].into_iter().flatten() {
        let _ = task.await;
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
    let mut backoff = Backoff::new(ctx.retry_base);
    loop {
        let url = state.url();
        let permit = ctx.pool.acquire(Class::Small).await;
        let (opened, load) = (
            ctx.hub.open(&url, (0, Some(1)), true, &state.subject).await,
            permit.load,
        );
        drop(permit);
        if let Err(e) = &opened {
            note_pushback(ctx, e, load);
        }
        match opened {
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
    if let HubError::UnreachableRedirect { .. } = e {
        // Resolve once more (the mirror may pick another host), then give up at once.
        if state.redirect_retried.swap(true, Ordering::AcqRel) {
            return Err(anyhow::Error::new(e)
                .context(format!("failed to download `{}`", state.job.file.path)));
        }
        ctx.reporter
            .retrying(state.id, &format!("{e}; resolving again"), Duration::ZERO);
        state.set_url(state.job.url.clone());
        return Ok(());
    }
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

/// Tells the run to slow down: fewer requests at once on a 429 or 503 (the server's limit is
/// learnt), fewer files at once on those and on timeouts.
fn note_pushback(ctx: &Ctx, e: &HubError, load: usize) {
    let refused = matches!(
        e,
        HubError::RateLimited { .. } | HubError::Status { status: 503, .. }
    );
    if refused {
        ctx.pool.congested(load);
    }
    if refused || matches!(e, HubError::Stalled { .. }) || e.is_timeout() {
        ctx.files.congested();
    }
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
    let mut me = state.streams.enter();
    loop {
        if me.is_parked() {
            if state.plan.is_finished() {
                return Ok(());
            }
            if !me.try_unpark() {
                cancellable_sleep(ctx, Duration::from_millis(100)).await?;
                continue;
            }
        } else if first.is_none() && me.try_park() {
            continue;
        }
        match state.plan.next() {
            Next::Piece(piece) => fetch_piece(ctx, state, class, &piece, first.take()).await?,
            Next::Wait => cancellable_sleep(ctx, Duration::from_millis(250)).await?,
            Next::Done => return Ok(()),
        }
    }
}

/// Fetches one piece, retrying from the bytes already written. A connection permit is held
/// per attempt, not across the wait before a retry, so a server that pushes back gets fewer
/// requests at once.
async fn fetch_piece(
    ctx: &Ctx,
    state: &FileState,
    class: Class,
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
        let permit = ctx.pool.acquire(class).await;
        let (written, outcome) = stream(ctx, state, piece, (pos, end), first.take()).await;
        let load = permit.load;
        drop(permit);
        if let Err(StreamError::Hub(e)) = &outcome {
            note_pushback(ctx, e, load);
        }
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
        None => {
            let bulk = super::is_large(&state.job, ctx.tuning);
            ctx.hub
                .open(&url, (pos, ranged_end), bulk, &state.subject)
                .await
        }
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
    if body.start < pos && restart_single(state) {
        // The server ignored the range: from now on one stream fetches the rest of the file.
        return (0, Ok(()));
    }
    let mut writer = Writer::new(state, piece, pos, ctx.write_buf);
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

/// Replaces the plan by one piece from the end of the completed prefix, once; returns whether
/// this call did it.
fn restart_single(state: &FileState) -> bool {
    let from = state.done.lock().expect("done").prefix_end();
    let size = state.job.file.size.unwrap_or(u64::MAX);
    state.plan.restart(from..size)
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
        let Some(chunk) = chunk else {
            return Ok(());
        };
        let behind = writer.cursor.saturating_sub(at);
        let skip = usize::try_from(behind)
            .unwrap_or(usize::MAX)
            .min(chunk.len());
        let chunk = chunk.slice(skip..);
        at += (skip + chunk.len()) as u64;
        if !writer.push(chunk).map_err(StreamError::Fatal)? {
            return Ok(());
        }
    }
}

/// Writes a piece's bytes at their offset: chunks of at least `gather` bytes as they come,
/// smaller ones gathered into a buffer of that size first, so a slow link does not cost a
/// system call per few kilobytes.
struct Writer<'a> {
    state: &'a FileState,
    piece: &'a Piece,
    gather: usize,
    buf: BytesMut,
    /// File offset of `buf[0]`.
    cursor: u64,
    written: u64,
    clipped: bool,
}

impl<'a> Writer<'a> {
    fn new(state: &'a FileState, piece: &'a Piece, pos: u64, gather: usize) -> Self {
        Self {
            state,
            piece,
            gather,
            buf: BytesMut::new(),
            cursor: pos,
            written: 0,
            clipped: false,
        }
    }

    /// Adds bytes; returns false once the piece's end is reached.
    fn push(&mut self, chunk: Bytes) -> Result<bool> {
        if self.buf.is_empty() && chunk.len() >= self.gather {
            self.write_out(chunk, false)?;
        } else {
            if self.buf.capacity() == 0 {
                self.buf.reserve(self.gather);
            }
            self.buf.extend_from_slice(&chunk);
            let end = self.piece.end.load(Ordering::Acquire);
            if self.buf.len() >= self.gather || self.cursor + self.buf.len() as u64 >= end {
                self.flush()?;
            }
        }
        Ok(!self.clipped && self.cursor < self.piece.end.load(Ordering::Acquire))
    }

    /// Writes what is buffered.
    fn flush(&mut self) -> Result<()> {
        let data = self.buf.split().freeze();
        self.write_out(data, true)
    }

    /// Writes bytes at the cursor, clipped to the piece's current end. `owned`: the bytes are
    /// this writer's own buffer, not a view of the HTTP client's.
    fn write_out(&mut self, mut data: Bytes, owned: bool) -> Result<()> {
        let end = self.piece.end.load(Ordering::Acquire);
        let room = usize::try_from(end.saturating_sub(self.cursor)).unwrap_or(usize::MAX);
        if data.len() > room {
            data.truncate(room);
            self.clipped = true;
        }
        if data.is_empty() {
            return Ok(());
        }
        let start = self.cursor;
        if let Some(inline) = &self.state.inline {
            inline.lock().expect("inline hash").update(start, &data);
        }
        self.state
            .file
            .write_all_at(&data, start)
            .with_context(|| format!("failed to write `{}`", self.state.partial.data.display()))?;
        let len = data.len() as u64;
        self.cursor += len;
        self.written += len;
        self.piece.pos.store(self.cursor, Ordering::Release);
        self.state.reporter.bytes(self.state.id, len);
        if self.state.inline.is_none() {
            // The prefix hasher may digest these bytes from memory instead of reading them back.
            self.state.prefix.offer(start, data, owned);
        }
        self.state.mark_done(start, self.cursor);
        Ok(())
    }
}

/// Syncs the partial file, then records what is on disk in the journal.
pub(super) async fn checkpoint(state: &Arc<FileState>) -> Result<()> {
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
