//! Orchestration of `hfdl download`: resolve the revision, list and select files, hand the
//! work to the engine, print the resulting path. Offline, or when the endpoint cannot be
//! reached, the answer comes from what is already on disk.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::bucket::{Bucket, ManifestFile};
use crate::download::{self, FileJob, FileResult, Outcome, Reporter, RunOptions, Session, Tuning};
use crate::dry_run;
use crate::hub::{HubClient, HubError, RemoteFile};
use crate::layout::{CacheLayout, Layout, LocalDirLayout, Presence};
use crate::output::{self, Format, Mode};
use crate::progress;
use crate::repo::{Checksum, CommitHash, Repo, RepoPath};
use crate::retry::retrying;
use crate::select::Filter;
use crate::settings::{DownloadRequest, Selection, Settings, Target};
use crate::tree_cache;

/// Runs `hfdl download` and prints the path of the result on stdout.
pub(crate) async fn download(settings: Settings) -> Result<()> {
    let request = settings.download;
    let reporter: Arc<dyn Reporter> = Arc::from(progress::reporter(request.progress));
    for warning in &request.warnings {
        reporter.warn(warning.trim_start_matches("warning: "));
    }
    let layout = match &request.target {
        Target::Cache(root) => {
            let cache = CacheLayout::new(root, &request.repo).with_symlinks(request.symlinks);
            Layout::Cache(cache.with_shared_store(request.shared_blobs))
        }
        Target::LocalDir(dir) => Layout::LocalDir(LocalDirLayout::new(dir)),
        Target::Bucket(b) => Layout::Bucket(Bucket::open(
            b.url.clone(),
            b.s3.clone(),
            crate::hub::service_client(&settings.hub)?,
            b.spool.clone(),
        )?),
    };
    let single = match &request.selection {
        Selection::One(path) => Some(path.clone()),
        Selection::Patterns { .. } => None,
    };
    if let Some(path) = cached_single_file(&request, &layout, single.as_ref()) {
        print_result(request.format, &path, None);
        return Ok(());
    }
    if settings.hub.offline && !request.dry_run {
        let path = from_disk(&request, &layout, single.as_ref())
            .context("offline mode is enabled (HF_HUB_OFFLINE or --offline)")?;
        print_result(request.format, &path, None);
        return Ok(());
    }
    let hub = HubClient::new(settings.hub)?;
    let (commit, files) = match plan(&hub, &request, &layout).await {
        Ok(planned) => planned,
        Err(e) if is_unreachable(&e) && !request.force && !request.dry_run => {
            let Ok(path) = from_disk(&request, &layout, single.as_ref()) else {
                return Err(e);
            };
            reporter.warn(&format!("{e:#}; using the copy already on disk"));
            print_result(request.format, &path, None);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if request.dry_run {
        return dry_run::print(&layout, &commit, &files, request.format);
    }
    let path = layout.result_path(&commit, single.as_ref());
    if files.is_empty() && single.is_none() {
        reporter.warn("no files matched the given patterns");
    }
    let results = fetch(hub, &request, layout, commit.clone(), files, reporter).await?;
    let doc = json_result(&path, &commit, &results);
    print_result(request.format, &path, Some(doc));
    Ok(())
}

/// The result as `hf download` prints it (`✓ Downloaded` / `path=` / the path); in JSON mode
/// `doc`, or `{"path": …}` when nothing was fetched.
fn print_result(format: Format, path: &std::path::Path, doc: Option<serde_json::Value>) {
    if format.is(Mode::Json) {
        let doc = doc.unwrap_or_else(|| serde_json::json!({ "path": path }));
        output::line(&doc.to_string());
    } else {
        output::result(
            format,
            "Downloaded",
            &[("path", path.display().to_string())],
        );
    }
}

/// Hands the files to the engine, stopping cleanly on Ctrl-C.
async fn fetch(
    hub: HubClient,
    request: &DownloadRequest,
    layout: Layout,
    commit: CommitHash,
    files: Vec<RemoteFile>,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<FileResult>> {
    let jobs = files
        .into_iter()
        .map(|file| FileJob {
            url: hub.resolve_url(&request.repo, commit.as_str(), &file.path),
            file,
        })
        .collect();
    let cancel = Arc::new(watch::channel(false).0);
    let interrupt = tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
    let session = Session {
        hub,
        layout: layout.clone(),
        repo: request.repo.clone(),
        commit: commit.clone(),
    };
    let options = RunOptions {
        max_workers: request.max_workers,
        connections: request.connections,
        force: request.force,
        tuning: Tuning::default(),
    };
    let result = download::run(session, jobs, options, reporter, cancel).await;
    interrupt.abort();
    let results = result?;
    let files = results
        .iter()
        .map(|r| ManifestFile {
            path: r.file.path.to_string(),
            size: r.file.size.unwrap_or(0),
            etag: r.file.etag.to_string(),
        })
        .collect();
    layout.mark_complete(&commit, files).with_context(|| {
        format!(
            "failed to record the download in `{}`",
            target_name(request)
        )
    })?;
    Ok(results)
}

/// The `--format json` document of a download.
fn json_result(
    path: &std::path::Path,
    commit: &CommitHash,
    results: &[FileResult],
) -> serde_json::Value {
    let files: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "path": r.file.path.as_str(),
                "size": r.file.size,
                "transferred": r.outcome == Outcome::Downloaded,
            })
        })
        .collect();
    serde_json::json!({ "path": path, "commit": commit.as_str(), "files": files })
}

/// The cache fast path of the official client: a file at a full commit that is already in the
/// snapshot needs no request at all.
fn cached_single_file(
    request: &DownloadRequest,
    layout: &Layout,
    single: Option<&RepoPath>,
) -> Option<PathBuf> {
    let (Layout::Cache(cache), Some(path), false) = (layout, single, request.force) else {
        return None;
    };
    let commit = request.revision.as_commit()?;
    cache
        .has_pointer(&commit, path)
        .then(|| cache.pointer(&commit, path))
}

/// The endpoint could not be reached at all (as opposed to answering with an error).
fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<HubError>())
        .any(HubError::is_unreachable)
}

/// What is already on disk for the request, without asking the Hub. Only a complete copy of
/// the revision answers: every selected file of the commit's stored listing is in place for that
/// commit (in a local dir: with metadata naming it). A single file needs no listing.
fn from_disk(
    request: &DownloadRequest,
    layout: &Layout,
    single: Option<&RepoPath>,
) -> Result<PathBuf> {
    let (repo, revision) = (&request.repo, &request.revision);
    let target = target_name(request);
    let Some(commit) = known_commit(request, layout) else {
        return Err(not_on_disk(format!(
            "revision `{revision}` of {repo} was never downloaded to `{target}`"
        )));
    };
    let listing = layout
        .read_tree(&commit)
        .and_then(|b| tree_cache::files(&b));
    let wanted = match (single, listing) {
        (Some(path), _) if layout.has_file_at(&commit, path) => {
            return Ok(layout.result_path(&commit, single));
        }
        (Some(path), _) => {
            return Err(not_on_disk(format!(
                "file `{path}` of {repo} at `{revision}` is not in `{target}`"
            )));
        }
        (None, Some(files)) => match &request.selection {
            Selection::Patterns { allow, deny } => Filter::new(allow, deny)?.apply(files),
            Selection::One(_) => unreachable!("single files returned above"),
        },
        (None, None) => {
            return Err(not_on_disk(format!(
                "no listing of {repo} at commit {commit} is stored in `{target}`, so the copy \
                 there cannot be known to be complete; run the download once with network access"
            )));
        }
    };
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|f| layout.presence(&commit, &f.path, &f.etag) != Presence::Complete)
        .map(|f| f.path.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(not_on_disk(format!(
            "the copy of {repo} at `{revision}` (commit {commit}) in `{target}` is incomplete: \
             {} of {} file(s) missing or not of that commit ({}{})",
            missing.len(),
            wanted.len(),
            missing[..missing.len().min(5)].join(", "),
            if missing.len() > 5 { ", ..." } else { "" }
        )));
    }
    Ok(layout.result_path(&commit, single))
}

/// What is needed is not on disk, and the Hub may not be asked (offline) or cannot be reached.
#[derive(Debug)]
pub(crate) struct NotOnDisk(pub(crate) String);

impl std::fmt::Display for NotOnDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotOnDisk {}

fn not_on_disk(message: String) -> anyhow::Error {
    NotOnDisk(message).into()
}

/// The commit of the requested revision as last downloaded: the revision itself if it is a
/// commit, else the target's ref; for a local dir, also the cache's ref (huggingface_hub 2.4
/// records a local-dir download's ref in the cache).
fn known_commit(request: &DownloadRequest, layout: &Layout) -> Option<CommitHash> {
    let revision = &request.revision;
    revision
        .as_commit()
        .or_else(|| layout.read_ref(revision))
        .or_else(|| match layout {
            Layout::LocalDir(_) => {
                CacheLayout::new(&request.hub_cache, &request.repo).read_ref(revision)
            }
            Layout::Cache(_) | Layout::Bucket(_) => None,
        })
}

/// Resolves the commit and the files to fetch; records the ref and listing in cache mode.
async fn plan(
    hub: &HubClient,
    request: &DownloadRequest,
    layout: &Layout,
) -> Result<(CommitHash, Vec<RemoteFile>)> {
    let (repo, revision) = (&request.repo, &request.revision);
    let base = hub.config().retry_base;
    let context = || {
        format!(
            "failed to list {repo} at revision `{revision}` on {}",
            hub.config().endpoint
        )
    };
    let (commit, files, complete) = match &request.selection {
        Selection::One(path) => {
            let meta = retrying(base, || hub.file_meta(repo, revision, path))
                .await
                .with_context(context)?;
            let file = match meta.file {
                Some(file) => file,
                None => listed_file(hub, repo, &meta.commit, path)
                    .await
                    .with_context(context)?,
            };
            (meta.commit, vec![file], None)
        }
        Selection::Patterns { allow, deny } => {
            let commit = match revision.as_commit() {
                Some(commit) => commit,
                None => retrying(base, || hub.commit_for(repo, revision))
                    .await
                    .with_context(context)?,
            };
            // A commit's listing never changes: the stored one (hfdl's or the official
            // client's) spares listing it again.
            let stored = layout
                .read_tree(&commit)
                .and_then(|b| tree_cache::files(&b));
            let (files, listed) = match stored {
                Some(files) => (files, None),
                None => {
                    let files = retrying(base, || hub.list_files(repo, &commit))
                        .await
                        .with_context(context)?;
                    (files.clone(), Some(files))
                }
            };
            let selected = Filter::new(allow, deny)?.apply(files);
            (commit, selected, listed)
        }
    };
    if !request.dry_run {
        layout
            .prepare()
            .with_context(|| format!("failed to prepare `{}`", target_name(request)))?;
        record(layout, request, &commit, complete.as_deref())?;
    }
    Ok((commit, files))
}

/// The listing's entry for one file, when the resolve answer named no digest of it.
async fn listed_file(
    hub: &HubClient,
    repo: &Repo,
    commit: &CommitHash,
    path: &RepoPath,
) -> Result<RemoteFile> {
    let base = hub.config().retry_base;
    let files = retrying(base, || hub.list_files(repo, commit))
        .await
        .with_context(|| {
            format!(
                "the resolve answer named no digest of `{path}` and the listing that would \
                 have could not be read; hfdl never places a file it cannot verify"
            )
        })?;
    match files.into_iter().find(|f| &f.path == path) {
        Some(file) if file.checksum != Checksum::None => Ok(file),
        _ => Err(Unverifiable(path.to_string()).into()),
    }
}

/// Neither the resolve answer nor the listing gave a digest of a file.
#[derive(Debug)]
pub(crate) struct Unverifiable(pub(crate) String);

impl std::fmt::Display for Unverifiable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no digest of `{}` is known: the resolve answer has no `ETag`/`X-Linked-Etag` and the \
             listing has no sha256 or git oid for it; hfdl never places a file it cannot verify",
            self.0
        )
    }
}

impl std::error::Error for Unverifiable {}

/// Writes `refs/<revision>` and, for a full listing, `trees/<commit>.json`: what an offline
/// answer needs to tell a complete copy from a partial one.
fn record(
    layout: &Layout,
    request: &DownloadRequest,
    commit: &CommitHash,
    listing: Option<&[RemoteFile]>,
) -> Result<()> {
    let target = target_name(request);
    layout
        .write_ref(&request.revision, commit)
        .with_context(|| {
            format!(
                "failed to write the ref `{}` in `{target}`",
                request.revision
            )
        })?;
    if let Some(bytes) = listing.and_then(tree_cache::to_bytes) {
        layout
            .write_tree(commit, &bytes)
            .with_context(|| format!("failed to write the listing cache in `{target}`"))?;
    }
    Ok(())
}

/// The target as shown in messages: a folder, or a bucket URL.
fn target_name(request: &DownloadRequest) -> String {
    match &request.target {
        Target::Cache(dir) | Target::LocalDir(dir) => dir.display().to_string(),
        Target::Bucket(b) => b.url.to_string(),
    }
}

/// The first Ctrl-C asks the run to stop and save its progress; a second one exits at once.
async fn cancel_on_ctrl_c(cancel: Arc<watch::Sender<bool>>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        let _ = cancel.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(i32::from(crate::report::EXIT_INTERRUPTED));
        }
    }
}
