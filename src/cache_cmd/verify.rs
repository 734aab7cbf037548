//! `hfdl cache verify`: re-hashes a cached snapshot, a local directory or a bucket prefix (its
//! objects read back) against the Hub's
//! listing of the commit, and reports corrupt, missing and extra files.
//!
//! As `hf cache verify` 2.4: a corrupt file fails; a missing file (listed, not on disk) fails
//! only with `--fail-on-missing-files`, an extra one (on disk, not listed) only with
//! `--fail-on-extra-files`; otherwise each kind is counted in a warning on stderr.

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
use crate::output::{self, Format, Mode};
use crate::repo::{Checksum, CommitHash, Repo, Revision};
use crate::settings::{FailOn, Target};

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
    format: Format,
    fail_on: FailOn,
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
    let failed = result.fails(fail_on);
    match format.mode {
        Mode::Json => output::line(&verification_json(&result, repo, &commit, &root, failed)),
        Mode::Human => {
            let place = format!("{repo} at `{commit}` in `{}`", root.display());
            print_verification(&result, &place);
        }
        Mode::Agent | Mode::Quiet if !failed => output::result(
            format,
            &format!(
                "Verified {} file(s) for {} '{}'. All checksums match.",
                result.checked,
                repo.kind.as_str(),
                repo.id
            ),
            &[
                ("repo_id", repo.id.to_string()),
                ("repo_type", repo.kind.as_str().to_owned()),
                ("checked", result.checked.to_string()),
                ("path", root.display().to_string()),
            ],
        ),
        Mode::Agent | Mode::Quiet => print_failures(&result, fail_on, format),
    }
    warn_uncounted(&result, fail_on);
    if failed {
        bail!(
            "verification failed for {repo} at `{commit}` in `{}`: {}",
            root.display(),
            result.failure_summary(fail_on)
        );
    }
    Ok(())
}

impl Verification {
    /// Does this outcome fail the command?
    fn fails(&self, fail_on: FailOn) -> bool {
        !self.corrupt.is_empty()
            || (fail_on.missing && !self.missing.is_empty())
            || (fail_on.extra && !self.extra.is_empty())
    }

    /// `1 corrupt and 2 missing file(s)`: the kinds that fail.
    fn failure_summary(&self, fail_on: FailOn) -> String {
        let mut parts = vec![format!("{} corrupt", self.corrupt.len())];
        if fail_on.missing {
            parts.push(format!("{} missing", self.missing.len()));
        }
        if fail_on.extra {
            parts.push(format!("{} extra", self.extra.len()));
        }
        format!("{} file(s)", parts.join(" and "))
    }
}

/// The failing kinds, as `hf cache verify` lists them in agent mode.
fn print_failures(result: &Verification, fail_on: FailOn, format: Format) {
    let list = |paths: &mut dyn Iterator<Item = String>| -> String {
        paths
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if !result.corrupt.is_empty() {
        let details = (result.corrupt.iter()).map(|m| {
            format!(
                "{}: expected {} ({}), got {}",
                m.path, m.expected, m.algorithm, m.actual
            )
        });
        output::text(
            format,
            &format!(
                "❌ Checksum verification failed for the following file(s):\n{}",
                list(&mut details.into_iter())
            ),
        );
    }
    if fail_on.missing && !result.missing.is_empty() {
        output::text(
            format,
            &format!(
                "❌ Missing files (present remotely, absent locally):\n{}",
                list(&mut result.missing.iter().cloned())
            ),
        );
    }
    if fail_on.extra && !result.extra.is_empty() {
        output::text(
            format,
            &format!(
                "❌ Extra files (present locally, absent remotely):\n{}",
                list(&mut result.extra.iter().cloned())
            ),
        );
    }
}

/// `hf`'s warnings for the kinds that do not fail.
#[expect(clippy::print_stderr, reason = "warnings go to stderr")]
fn warn_uncounted(result: &Verification, fail_on: FailOn) {
    if !fail_on.missing && !result.missing.is_empty() {
        eprintln!(
            "warning: {} remote file(s) are missing locally. Use --fail-on-missing-files to fail on them.",
            result.missing.len()
        );
    }
    if !fail_on.extra && !result.extra.is_empty() {
        eprintln!(
            "warning: {} local file(s) do not exist on the remote repo. Use --fail-on-extra-files to fail on them.",
            result.extra.len()
        );
    }
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
    Ok(mismatch(file, digest, len))
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
    Ok(mismatch(file, digest, open.metadata()?.len()))
}

/// How a file of `len` bytes with this digest (`None`: its etag is no digest) differs from
/// what the Hub lists, if it does: by digest, else by size.
fn mismatch(file: &RemoteFile, digest: Option<String>, len: u64) -> Option<Mismatch> {
    let (expected, actual, algorithm) = match (digest, file.etag.checksum()) {
        (Some(digest), Checksum::Sha256) => (file.etag.to_string(), digest, "sha256"),
        (Some(digest), _) => (file.etag.to_string(), digest, "git-sha1"),
        (None, _) => {
            let expected = file.size.unwrap_or(len);
            (format!("{expected} bytes"), format!("{len} bytes"), "size")
        }
    };
    (expected != actual).then(|| Mismatch {
        path: file.path.to_string(),
        expected,
        actual,
        algorithm,
    })
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
    failed: bool,
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
        "ok": !failed,
        "corrupt": corrupt,
        "missing": result.missing,
        "extra": result.extra,
    })
    .to_string()
}
