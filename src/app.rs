//! Orchestration of `hfdl download`: resolve the revision, list and select files, hand the
//! work to the engine, print the resulting path. Offline, or when the endpoint cannot be
//! reached, the answer comes from what is already on disk.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::sync::watch;

use crate::download::{self, FileJob, FileResult, Outcome, Reporter, RunOptions, Session, Tuning};
use crate::dry_run;
use crate::hub::{HubClient, HubError, RemoteFile};
use crate::layout::{CacheLayout, Layout, LocalDirLayout};
use crate::output;
use crate::progress;
use crate::repo::{CommitHash, RepoPath};
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
            Layout::Cache(CacheLayout::new(root, &request.repo).with_symlinks(request.symlinks))
        }
        Target::LocalDir(dir) => Layout::LocalDir(LocalDirLayout::new(dir)),
    };
    let single = match &request.selection {
        Selection::One(path) => Some(path.clone()),
        Selection::Patterns { .. } => None,
    };
    if let Some(path) = cached_single_file(&request, &layout, single.as_ref()) {
        output::line(&path.display().to_string());
        return Ok(());
    }
    if settings.hub.offline && !request.dry_run {
        let path = from_disk(&request, &layout, single.as_ref())
            .context("offline mode is enabled (HF_HUB_OFFLINE or --offline)")?;
        output::line(&path.display().to_string());
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
            output::line(&path.display().to_string());
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if request.dry_run {
        return dry_run::print(&layout, &commit, &files, request.json);
    }
    let path = layout.result_path(&commit, single.as_ref());
    if files.is_empty() && single.is_none() {
        reporter.warn("no files matched the given patterns");
    }
    let results = fetch(hub, &request, layout, commit.clone(), files, reporter).await?;
    if request.json {
        output::line(&json_result(&path, &commit, &results).to_string());
    } else {
        output::line(&path.display().to_string());
    }
    Ok(())
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
    layout
        .prepare()
        .with_context(|| format!("failed to prepare `{}`", target_dir(request).display()))?;
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
        layout,
        repo: request.repo.clone(),
        commit,
    };
    let options = RunOptions {
        max_workers: request.max_workers,
        connections: request.connections,
        force: request.force,
        tuning: Tuning::default(),
    };
    let result = download::run(session, jobs, options, reporter, cancel).await;
    interrupt.abort();
    result
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

/// What is already on disk for the request, without asking the Hub.
fn from_disk(
    request: &DownloadRequest,
    layout: &Layout,
    single: Option<&RepoPath>,
) -> Result<PathBuf> {
    let (repo, revision) = (&request.repo, &request.revision);
    match layout {
        Layout::Cache(cache) => {
            let commit = revision.as_commit().or_else(|| cache.read_ref(revision));
            let Some(commit) = commit else {
                bail!("revision `{revision}` of {repo} is not in the cache");
            };
            let path = layout.result_path(&commit, single);
            match single {
                Some(file) if cache.has_pointer(&commit, file) => Ok(path),
                Some(file) => bail!("file `{file}` of {repo} at `{revision}` is not in the cache"),
                None if cache.has_snapshot(&commit) => {
                    ensure_complete(request, cache, &commit)?;
                    Ok(path)
                }
                None => bail!("no snapshot of {repo} at `{revision}` in the cache"),
            }
        }
        Layout::LocalDir(dir) => {
            let path = match single {
                Some(file) => dir.file(file),
                None => dir.root().to_owned(),
            };
            let present =
                std::fs::read_dir(&path).map_or(path.is_file(), |mut d| d.next().is_some());
            if !present {
                bail!("`{}` holds no copy of {repo}", path.display());
            }
            Ok(path)
        }
    }
}

/// With a cached listing, every selected file must be in the snapshot.
fn ensure_complete(
    request: &DownloadRequest,
    cache: &CacheLayout,
    commit: &CommitHash,
) -> Result<()> {
    let Some(paths) = cache.read_tree(commit).and_then(|b| tree_cache::paths(&b)) else {
        return Ok(());
    };
    let Selection::Patterns { allow, deny } = &request.selection else {
        return Ok(());
    };
    let filter = Filter::new(allow, deny)?;
    let missing: Vec<String> = paths
        .into_iter()
        .filter(|p| filter.matches(p))
        .filter(|p| RepoPath::parse(p).is_ok_and(|p| !cache.has_pointer(commit, &p)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
    bail!(
        "the cached snapshot of {} at `{}` is incomplete: {} file(s) missing ({}{})",
        request.repo,
        request.revision,
        missing.len(),
        shown.join(", "),
        if missing.len() > 5 { ", ..." } else { "" }
    )
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
            (meta.commit, vec![meta.file], None)
        }
        Selection::Patterns { allow, deny } => {
            let commit = match revision.as_commit() {
                Some(commit) => commit,
                None => retrying(base, || hub.commit_for(repo, revision))
                    .await
                    .with_context(context)?,
            };
            let files = retrying(base, || hub.list_files(repo, &commit))
                .await
                .with_context(context)?;
            let selected = Filter::new(allow, deny)?.apply(files.clone());
            (commit, selected, Some(files))
        }
    };
    if let (Layout::Cache(cache), false) = (layout, request.dry_run) {
        record(cache, request, &commit, complete.as_deref())?;
    }
    Ok((commit, files))
}

/// Writes `refs/<revision>` and, for a full listing, `trees/<commit>.json`.
fn record(
    cache: &CacheLayout,
    request: &DownloadRequest,
    commit: &CommitHash,
    listing: Option<&[RemoteFile]>,
) -> Result<()> {
    cache
        .prepare()
        .and_then(|()| cache.write_ref(&request.revision, commit))
        .with_context(|| format!("failed to write the ref `{}`", request.revision))?;
    if let Some(bytes) = listing.and_then(tree_cache::to_bytes) {
        cache
            .write_tree(commit, &bytes)
            .context("failed to write the listing cache")?;
    }
    Ok(())
}

fn target_dir(request: &DownloadRequest) -> &std::path::Path {
    match &request.target {
        Target::Cache(dir) | Target::LocalDir(dir) => dir,
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
