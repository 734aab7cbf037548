//! The transfer engine: many files at once (`--max-workers`), each over one or more pooled
//! connections (`--connections`), resumable, verified, and moved into place atomically.
//!
//! The only module that knows both HTTP (through `hub`) and disk (through `layout`). It builds
//! no URLs, hard-codes no paths and never prints: progress goes through [`Reporter`].

mod adaptive;
mod commit;
mod connection;
mod governor;
pub(crate) mod journal;
mod pool;
pub(crate) mod ranges;
mod transfer;
mod verify;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::watch;
pub(crate) use verify::{Hasher, hash_file};

use crate::hub::{HubClient, RemoteFile, Subject};
use crate::layout::Layout;
use crate::repo::{CommitHash, Repo, RepoPath};

/// Receives progress. Implementations must not block or panic.
pub(crate) trait Reporter: Send + Sync {
    /// The work ahead: files and bytes to check or fetch.
    fn plan(&self, files: usize, bytes: u64);
    /// A file starts; returns an id for the calls below.
    fn file_started(&self, path: &str, size: Option<u64>) -> usize;
    /// Bytes already on disk from an earlier run.
    fn resumed(&self, id: usize, bytes: u64);
    /// Bytes arrived.
    fn bytes(&self, id: usize, bytes: u64);
    /// A request failed and will be retried after `delay`.
    fn retrying(&self, id: usize, error: &str, delay: Duration);
    /// The file is in place; `skipped` counts the bytes that already were (0 if downloaded).
    fn file_done(&self, id: usize, skipped: u64);
    /// Something the user should know.
    fn warn(&self, message: &str);
}

/// One file to bring into place, and the URL of its content.
#[derive(Debug, Clone)]
pub(crate) struct FileJob {
    pub(crate) file: RemoteFile,
    pub(crate) url: String,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It was already in place.
    Present,
    /// It was downloaded (or its download completed).
    Downloaded,
}

/// The downloaded content does not match its etag.
#[derive(Debug)]
pub(crate) struct ChecksumMismatch {
    pub(crate) path: String,
    pub(crate) expected: String,
    pub(crate) actual: String,
}

impl fmt::Display for ChecksumMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checksum mismatch for `{}`\n  expected: {}\n  actual:   {}",
            self.path, self.expected, self.actual
        )
    }
}

impl std::error::Error for ChecksumMismatch {}

/// The run was interrupted (Ctrl-C); partial data was kept.
#[derive(Debug)]
pub(crate) struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted; rerun the same command to resume")
    }
}

impl std::error::Error for Interrupted {}

/// Sizes that shape how files are cut into ranges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Files larger than this are fetched as several ranges.
    pub(crate) split_threshold: u64,
    /// Initial range size.
    pub(crate) piece_size: u64,
    /// A range in flight is split only if at least twice this remains.
    pub(crate) min_split: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            split_threshold: 8 << 20,
            piece_size: 8 << 20,
            min_split: 1 << 20,
        }
    }
}

impl Tuning {
    /// Range size for a file: enough ranges for every connection, none above `piece_size`.
    pub(crate) fn piece_for(&self, size: u64, connections: usize) -> u64 {
        let even = size.div_ceil(connections.max(1) as u64);
        even.clamp(2 * self.min_split, self.piece_size.max(2 * self.min_split))
    }
}

/// What every file's transfer shares.
pub(crate) struct Ctx {
    pub(crate) hub: HubClient,
    pub(crate) layout: Layout,
    pub(crate) repo: Repo,
    pub(crate) commit: CommitHash,
    pub(crate) reporter: Arc<dyn Reporter>,
    pub(crate) pool: Arc<pool::Pool>,
    /// How many files are in flight (fixed by `--max-workers`, else adaptive).
    pub(crate) files: Arc<adaptive::FileLimit>,
    pub(crate) connections: usize,
    pub(crate) force: bool,
    pub(crate) tuning: Tuning,
    pub(crate) retry_base: Duration,
    /// Bytes a connection gathers before writing; large chunks are written as they come.
    pub(crate) write_buf: usize,
    /// What the hashers of all files may hold of the writers' buffers.
    pub(crate) handoff: Arc<verify::HandoffBudget>,
    /// Makes finished small files durable in batches.
    pub(crate) committer: commit::Committer,
    /// Becomes true when the run must stop (Ctrl-C or another file failed).
    pub(crate) cancel: watch::Receiver<bool>,
}

impl Ctx {
    fn subject_for(&self, path: &RepoPath) -> Subject {
        self.hub
            .subject(&self.repo, Some(self.commit.as_str()), Some(path))
    }
}

/// The writers' buffers of all connections together stay near this.
const WRITE_BUFFERS: usize = 8 << 20;
/// Bytes the hashers may hold of the writers' buffers, for the whole run.
const HANDOFF_BYTES: usize = 8 << 20;

/// The gathering buffer of one connection: 256 KiB, less when there are many connections, so
/// memory does not grow with `--connections` or `--max-workers`.
fn write_buffer(connections: usize) -> usize {
    (WRITE_BUFFERS / connections.max(1)).clamp(64 << 10, 256 << 10)
}

/// Options of a download run.
pub(crate) struct RunOptions {
    /// Files at once: `Some(n)` fixed (`--max-workers`), `None` adaptive (8 up to 64).
    pub(crate) max_workers: Option<usize>,
    pub(crate) connections: usize,
    pub(crate) force: bool,
    pub(crate) tuning: Tuning,
}

/// The result for one file.
#[derive(Debug, Clone)]
pub(crate) struct FileResult {
    pub(crate) file: RemoteFile,
    pub(crate) outcome: Outcome,
}

/// Where files come from and go to.
pub(crate) struct Session {
    pub(crate) hub: HubClient,
    pub(crate) layout: Layout,
    pub(crate) repo: Repo,
    pub(crate) commit: CommitHash,
}

/// Downloads `jobs` of the session's repo at its commit into its layout.
///
/// Large files start first (up to half the worker slots) so they use the connections from
/// the beginning, and small files stream through the other slots with priority on
/// connections. The first error cancels the run; partial data stays for the next run.
pub(crate) async fn run(
    session: Session,
    jobs: Vec<FileJob>,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    cancel: Arc<watch::Sender<bool>>,
) -> Result<Vec<FileResult>> {
    let Session {
        hub,
        layout,
        repo,
        commit,
    } = session;
    let tuning = options.tuning;
    let files = match options.max_workers {
        Some(n) => adaptive::FileLimit::fixed(n),
        None => adaptive::FileLimit::adaptive(),
    };
    let ordered = schedule(jobs, tuning, files.limit());
    let pool = pool::Pool::new(options.connections, files.ceiling());
    reporter.plan(
        ordered.len(),
        ordered.iter().filter_map(|j| j.file.size).sum(),
    );
    let ctx = Arc::new(Ctx {
        retry_base: hub.config().retry_base,
        hub,
        layout,
        repo,
        commit,
        reporter,
        pool,
        files: files.clone(),
        connections: options.connections,
        force: options.force,
        tuning,
        write_buf: write_buffer(options.connections.max(files.ceiling())),
        handoff: verify::HandoffBudget::new(HANDOFF_BYTES),
        cancel: cancel.subscribe(),
        committer: commit::Committer::start(),
    });
    let (present, ordered) = sort_out_present(&ctx, ordered).await?;
    // Seen by `cache rm`/`prune` between two files; not taken when nothing is to be fetched,
    // so a rerun over a complete cache writes nothing at all.
    let _running = match ordered.is_empty() {
        true => None,
        false => ctx
            .layout
            .hold_for_run()
            .context("failed to lock the download target")?,
    };
    let mut stop = cancel.subscribe();
    let mut set = tokio::task::JoinSet::new();
    let mut harvest = Harvest::default();
    let first = present.len();
    harvest.results.extend(present.into_iter().enumerate());
    for (index, job) in (first..).zip(ordered) {
        // Finished tasks are joined as the run goes, so memory does not grow with the files.
        while let Some(joined) = set.try_join_next() {
            harvest.take(joined?, &cancel);
        }
        // Slots are taken in plan order, so files start in the order `schedule` chose.
        let slot = tokio::select! {
            slot = files.acquire() => slot,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        set.spawn(async move {
            let outcome = fetch_one(&ctx, job).await;
            if outcome.is_err() {
                let _ = cancel.send(true);
            }
            drop(slot);
            (index, outcome)
        });
    }
    while let Some(joined) = set.join_next().await {
        harvest.take(joined?, &cancel);
    }
    harvest.finish()
}

/// Checks in one pass on the blocking pool which files are already in place (adopting those
/// that only lack a link or a record), so that a rerun over many files costs a few system
/// calls per file instead of a task each; returns their results and the files left to fetch.
async fn sort_out_present(
    ctx: &Arc<Ctx>,
    jobs: Vec<FileJob>,
) -> Result<(Vec<FileResult>, Vec<FileJob>)> {
    if ctx.force {
        return Ok((Vec::new(), jobs));
    }
    let ctx = ctx.clone();
    let sorted = tokio::task::spawn_blocking(move || {
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for job in jobs {
            // An error here (say, a link that cannot be written) surfaces again, with its
            // context, when the file goes through the engine.
            if transfer::in_place_blocking(&ctx, &job).unwrap_or(false) {
                let id = ctx
                    .reporter
                    .file_started(job.file.path.as_str(), job.file.size);
                ctx.reporter.file_done(id, job.file.size.unwrap_or(0));
                present.push(FileResult {
                    file: job.file,
                    outcome: Outcome::Present,
                });
            } else {
                missing.push(job);
            }
        }
        (present, missing)
    });
    Ok(sorted.await?)
}

/// Fetches one file and reports it.
async fn fetch_one(ctx: &Arc<Ctx>, job: FileJob) -> Result<FileResult> {
    let large = is_large(&job, ctx.tuning);
    let id = ctx
        .reporter
        .file_started(job.file.path.as_str(), job.file.size);
    let file = job.file.clone();
    if !large {
        ctx.pool.small_started();
    }
    let started = std::time::Instant::now();
    let outcome = transfer::fetch(ctx.clone(), Arc::new(job), id).await;
    if !large {
        ctx.pool.small_done();
        if let Ok(Outcome::Downloaded) = outcome {
            ctx.files.finished(started.elapsed());
        }
    }
    let outcome = outcome?;
    let skipped = if outcome == Outcome::Present {
        file.size.unwrap_or(0)
    } else {
        0
    };
    ctx.reporter.file_done(id, skipped);
    Ok(FileResult { file, outcome })
}

/// The results gathered so far; on the first failure, the rest is cancelled and lets its
/// files save their progress before the error is returned.
#[derive(Default)]
struct Harvest {
    results: Vec<(usize, FileResult)>,
    first_error: Option<anyhow::Error>,
}

impl Harvest {
    fn take(
        &mut self,
        (index, outcome): (usize, Result<FileResult>),
        cancel: &watch::Sender<bool>,
    ) {
        match outcome {
            Ok(result) => self.results.push((index, result)),
            Err(e) => {
                let _ = cancel.send(true);
                // An interruption is reported only if nothing else failed.
                let replace = self
                    .first_error
                    .as_ref()
                    .is_none_or(|f| f.is::<Interrupted>() && !e.is::<Interrupted>());
                if replace {
                    self.first_error = Some(e);
                }
            }
        }
    }

    /// The results in plan order, or the first error.
    fn finish(mut self) -> Result<Vec<FileResult>> {
        if let Some(e) = self.first_error {
            return Err(e);
        }
        self.results.sort_by_key(|(i, _)| *i);
        Ok(self.results.into_iter().map(|(_, r)| r).collect())
    }
}

fn is_large(job: &FileJob, tuning: Tuning) -> bool {
    job.file.size.is_some_and(|s| s > tuning.split_threshold)
}

/// Orders jobs: up to half the worker slots of large files first, then the small files,
/// then the remaining large files.
fn schedule(jobs: Vec<FileJob>, tuning: Tuning, max_workers: usize) -> Vec<FileJob> {
    let (mut large, small): (Vec<FileJob>, Vec<FileJob>) =
        jobs.into_iter().partition(|j| is_large(j, tuning));
    large.sort_by_key(|j| std::cmp::Reverse(j.file.size));
    let head = large.len().min((max_workers / 2).max(1));
    let rest = large.split_off(head);
    large.into_iter().chain(small).chain(rest).collect()
}
