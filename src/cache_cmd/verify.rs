//! `hfdl cache verify`: re-hashes a cached snapshot, a local directory or a bucket prefix (its
//! objects read back) against the Hub's
//! listing of the commit, and reports corrupt, missing and extra files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bucket::Bucket;
use crate::download::{Hasher, hash_file};
use crate::hub::{HubClient, HubConfig, RemoteFile};
use crate::layout::{CacheLayout, local_files};
use crate::output;
use crate::repo::{Checksum, CommitHash, Repo, Revision};
use crate::settings::Target;

/// The outcome of re-hashing a folder against the Hub's listing.
#[derive(Default)]
struct Verification {
    checked: usize,
    corrupt: Vec<Mismatch>,
    missing: Vec<String>,
    extra: Vec<String>,
}

struct Mismatch {
    path: String,
    expected: String,
    actual: String,
    algorithm: &'static str,
}

/// Re-hashes the files of `repo` at `revision` in the cache or a local dir.
pub(super) async fn verify(
    repo: &Repo,
    revision: &Revision,
    target: Target,
    hub_config: HubConfig,
    json: bool,
) -> Result<()> {
    let hub = hub_config.clone();
    let client = HubClient::new(hub.clone())?;
    let hub = &client;
    let (result, commit, root) = match target {
        Target::Bucket(b) => {
            let bucket = Bucket::open(
                b.url,
                b.s3,
                crate::hub::service_client(&hub_config)?,
                b.spool,
            )?;
            let commit = match revision.as_commit().or_else(|| bucket.read_ref(revision)) {
                Some(commit) => commit,
                None => remote_commit(hub, repo, revision).await?,
            };
            let remote = listing(hub, repo, &commit).await?;
            let root = PathBuf::from(bucket.url().to_string());
            (compare_bucket(&bucket, remote).await?, commit, root)
        }
        target => {
            let (root, commit) = verify_root(hub, repo, revision, target).await?;
            let remote = listing(hub, repo, &commit).await?;
            let walk_root = root.clone();
            let local = tokio::task::spawn_blocking(move || local_files(&walk_root))
                .await?
                .with_context(|| format!("failed to list the files in `{}`", root.display()))?;
            (compare(remote, local).await?, commit, root)
        }
    };
    if json {
        output::line(&verification_json(&result, repo, &commit, &root));
    } else {
        let place = format!("{repo} at `{commit}` in `{}`", root.display());
        print_verification(&result, &place);
    }
    if !result.corrupt.is_empty() || !result.missing.is_empty() {
        bail!(
            "verification failed for {repo} at `{commit}`: {} corrupt and {} missing file(s)",
            result.corrupt.len(),
            result.missing.len()
        );
    }
    Ok(())
}

/// The folder to check and the commit to check it against.
async fn verify_root(
    hub: &HubClient,
    repo: &Repo,
    revision: &Revision,
    target: Target,
) -> Result<(PathBuf, CommitHash)> {
    let remote_commit = async || remote_commit(hub, repo, revision).await;
    match target {
        Target::Bucket(b) => unreachable!("buckets are verified by `compare_bucket`: {}", b.url),
        Target::LocalDir(dir) => {
            if !dir.is_dir() {
                bail!("local directory `{}` does not exist", dir.display());
            }
            let commit = match revision.as_commit() {
                Some(commit) => commit,
                None => remote_commit().await?,
            };
            Ok((dir, commit))
        }
        Target::Cache(root) => {
            let cache = CacheLayout::new(&root, repo);
            let commit = match revision.as_commit().or_else(|| cache.read_ref(revision)) {
                Some(commit) => commit,
                None => remote_commit().await?,
            };
            let snapshot = cache.snapshot_dir(&commit);
            if !snapshot.is_dir() {
                bail!(
                    "revision `{revision}` (`{commit}`) of {repo} is not in the cache `{}`",
                    root.display()
                );
            }
            Ok((snapshot, commit))
        }
    }
}

async fn remote_commit(hub: &HubClient, repo: &Repo, revision: &Revision) -> Result<CommitHash> {
    (hub.commit_for(repo, revision).await)
        .with_context(|| format!("failed to resolve revision `{revision}` of {repo}"))
}

async fn listing(hub: &HubClient, repo: &Repo, commit: &CommitHash) -> Result<Vec<RemoteFile>> {
    (hub.list_files(repo, commit).await)
        .with_context(|| format!("failed to list the files of {repo} at `{commit}`"))
}

/// Reads back every object the Hub lists and hashes it (one at a time: the bucket's runtime
/// streams it), and lists the objects the Hub does not know.
async fn compare_bucket(bucket: &Bucket, remote: Vec<RemoteFile>) -> Result<Verification> {
    let bucket = bucket.clone();
    tokio::task::spawn_blocking(move || {
        let mut result = Verification::default();
        let mut objects = bucket.object_sizes()?;
        for file in remote {
            if objects.remove(file.path.as_str()).is_none() {
                result.missing.push(file.path.to_string());
                continue;
            }
            result.checked += 1;
            result.corrupt.extend(check_object(&bucket, &file)?);
        }
        result.extra = objects
            .into_keys()
            .filter(|k| !k.starts_with(".hfdl/"))
            .collect();
        result.extra.sort();
        result.missing.sort();
        Ok(result)
    })
    .await?
}

fn check_object(bucket: &Bucket, file: &RemoteFile) -> Result<Option<Mismatch>> {
    let checksum = file.etag.checksum();
    let hasher = Arc::new(std::sync::Mutex::new(Some(Hasher::new(
        checksum,
        file.size.unwrap_or(0),
    ))));
    let feed = hasher.clone();
    let len = bucket
        .read_object(&file.path, move |bytes| {
            if let Some(h) = feed.lock().expect("hasher").as_mut() {
                h.update(bytes);
            }
        })?
        .unwrap_or(0);
    let digest = hasher
        .lock()
        .expect("hasher")
        .take()
        .and_then(Hasher::finish);
    let (expected, actual, algorithm) = match (digest, checksum) {
        (Some(digest), Checksum::Sha256) => (file.etag.to_string(), digest, "sha256"),
        (Some(digest), _) => (file.etag.to_string(), digest, "git-sha1"),
        (None, _) => {
            let expected = file.size.unwrap_or(len);
            (format!("{expected} bytes"), format!("{len} bytes"), "size")
        }
    };
    Ok((expected != actual).then(|| Mismatch {
        path: file.path.to_string(),
        expected,
        actual,
        algorithm,
    }))
}

/// Hashes every local file the Hub lists, a few at a time on blocking threads.
async fn compare(
    remote: Vec<RemoteFile>,
    mut local: BTreeMap<String, PathBuf>,
) -> Result<Verification> {
    let mut result = Verification::default();
    let permits = Arc::new(tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(4, |n| n.get().min(8)),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for file in remote {
        let Some(path) = local.remove(file.path.as_str()) else {
            result.missing.push(file.path.to_string());
            continue;
        };
        let permit = Arc::clone(&permits).acquire_owned().await?;
        tasks.spawn_blocking(move || {
            let _permit = permit;
            check_file(&path, &file)
        });
    }
    result.extra = local.into_keys().collect();
    while let Some(checked) = tasks.join_next().await {
        result.checked += 1;
        result.corrupt.extend(checked??);
    }
    result.corrupt.sort_by(|a, b| a.path.cmp(&b.path));
    result.missing.sort();
    Ok(result)
}

/// Compares one file with its etag (its size, when the etag is no digest).
fn check_file(path: &Path, file: &RemoteFile) -> Result<Option<Mismatch>> {
    let open =
        fs::File::open(path).with_context(|| format!("failed to open `{}`", path.display()))?;
    let checksum = file.etag.checksum();
    let digest = hash_file(&open, checksum)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let (expected, actual, algorithm) = match (digest, checksum) {
        (Some(digest), Checksum::Sha256) => (file.etag.to_string(), digest, "sha256"),
        (Some(digest), _) => (file.etag.to_string(), digest, "git-sha1"),
        (None, _) => {
            let len = open.metadata()?.len();
            let expected = file.size.unwrap_or(len);
            (format!("{expected} bytes"), format!("{len} bytes"), "size")
        }
    };
    Ok((expected != actual).then(|| Mismatch {
        path: file.path.to_string(),
        expected,
        actual,
        algorithm,
    }))
}

fn print_verification(result: &Verification, place: &str) {
    for m in &result.corrupt {
        output::line(&format!("corrupt  {}", m.path));
        output::line(&format!("  expected: {} ({})", m.expected, m.algorithm));
        output::line(&format!("  actual:   {}", m.actual));
    }
    for path in &result.missing {
        output::line(&format!("missing  {path}"));
    }
    for path in &result.extra {
        output::line(&format!("extra    {path}"));
    }
    output::line(&format!(
        "checked {} file(s) of {place}: {} corrupt, {} missing, {} extra",
        result.checked,
        result.corrupt.len(),
        result.missing.len(),
        result.extra.len()
    ));
}

fn verification_json(
    result: &Verification,
    repo: &Repo,
    commit: &CommitHash,
    root: &Path,
) -> String {
    let corrupt: Vec<Value> = (result.corrupt.iter())
        .map(|m| json!({"path": m.path, "expected": m.expected, "actual": m.actual, "algorithm": m.algorithm}))
        .collect();
    json!({
        "repo_id": repo.id.as_str(),
        "repo_type": repo.kind.as_str(),
        "revision": commit.as_str(),
        "path": root.display().to_string(),
        "checked": result.checked,
        "ok": result.corrupt.is_empty() && result.missing.is_empty(),
        "corrupt": corrupt,
        "missing": result.missing,
        "extra": result.extra,
    })
    .to_string()
}
