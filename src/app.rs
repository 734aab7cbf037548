//! Orchestration of `hfdl download`: resolve the revision, list and select files, plan, hand
//! the work to the engine, print the resulting path. The only writer to stdout.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::download::{self, FileJob, FileResult, Outcome, RunOptions, Session, Tuning};
use crate::hub::{HubClient, RemoteFile};
use crate::layout::{CacheLayout, Layout, LocalDirLayout};
use crate::output;
use crate::progress;
use crate::repo::{CommitHash, RepoPath};
use crate::retry::retrying;
use crate::select::Filter;
use crate::settings::{DownloadRequest, Selection, Settings, Target};

/// Runs `hfdl download` and prints the path of the result on stdout.
#[expect(
    clippy::print_stdout,
    reason = "the result path is the command's output"
)]
pub(crate) async fn download(settings: Settings) -> Result<()> {
    let request = settings.download;
    let reporter: Arc<dyn download::Reporter> = Arc::from(progress::reporter(request.progress));
    for warning in &request.warnings {
        reporter.warn(warning.trim_start_matches("warning: "));
    }
    let hub = HubClient::new(settings.hub)?;
    let layout = match &request.target {
        Target::Cache(root) => Layout::Cache(CacheLayout::new(root, &request.repo)),
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
    let (commit, files) = plan(&hub, &request, &layout).await?;
    if files.is_empty() && single.is_none() {
        reporter.warn("no files matched the given patterns");
    }
    layout
        .prepare()
        .with_context(|| format!("failed to prepare `{}`", target_dir(&request).display()))?;
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
    let path = layout.result_path(&commit, single.as_ref());
    if request.json {
        output::line(&json_result(&path, &commit, &results).to_string());
    } else {
        output::line(&path.display().to_string());
    }
    Ok(())
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

/// Resolves the commit and the files to fetch; records the ref in cache mode.
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
    let (commit, files) = match &request.selection {
        Selection::One(path) => {
            let meta = retrying(base, || hub.file_meta(repo, revision, path))
                .await
                .with_context(context)?;
            (meta.commit, vec![meta.file])
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
            (commit, Filter::new(allow, deny)?.apply(files))
        }
    };
    if let Layout::Cache(cache) = layout {
        cache
            .prepare()
            .and_then(|()| cache.write_ref(&request.revision, &commit))
            .with_context(|| format!("failed to write the ref `{}`", request.revision))?;
    }
    Ok((commit, files))
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
