//! `hfdl cache rm` and `hfdl cache prune`: what to delete (a [`Plan`] built from the scan, as
//! huggingface_hub's `delete_revisions` would), asking before deleting, and deleting.
//!
//! Deletion goes refs, then snapshots, then blobs and leftovers, so an interrupted run leaves
//! detached revisions or unused blobs, never a ref or a link pointing at nothing. What a
//! running download holds (its lock is taken) is left alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{human_size, refs_cell};
use crate::layout::{
    CacheScan, CachedBlob, CachedRepo, CachedRevision, Claim, Corruption, PartialDownload,
    REPO_TYPES, SharedStore, claim,
};
use crate::output::{self, Format, Mode as OutputMode};
use crate::settings::UsageError;

/// What `rm` or `prune` deletes, and how many bytes that frees.
#[derive(Default)]
struct Plan<'a> {
    /// Whole repo folders, with their `.locks` folders.
    repos: Vec<&'a CachedRepo>,
    /// Corrupted repo folders named by a target.
    broken: Vec<&'a Corruption>,
    /// Revisions deleted one by one: their repo keeps others, or a download runs in it.
    revisions: Vec<(&'a CachedRepo, &'a CachedRevision)>,
    /// Blobs only the deleted revisions use.
    blobs: BTreeSet<&'a Path>,
    unreferenced: Vec<(&'a CachedRepo, &'a CachedBlob)>,
    partials: Vec<&'a PartialDownload>,
    /// Locks held on what is deleted, so that no download starts on it meanwhile.
    claims: Vec<Claim>,
    /// What is left alone, and why (stderr).
    notes: Vec<String>,
    freed: u64,
    /// The cache's shared store, when it is marked.
    store: Option<SharedStore>,
    /// Store entries that deleted blobs link to: collected after the deletion if no live link
    /// is left, as `hf cache rm` does.
    sweep: BTreeSet<PathBuf>,
    /// Store entries nothing references (`prune`), with their sizes.
    shared: Vec<(PathBuf, u64)>,
}

impl<'a> Plan<'a> {
    /// Deletes the `selected` revisions of `repo`, as huggingface_hub's `delete_revisions`
    /// does: the whole folder when that is all of them (and no download runs in it), else
    /// their snapshots, their refs, and the blobs no other revision uses.
    fn add_revisions(
        &mut self,
        scan: &'a CacheScan,
        repo: &'a CachedRepo,
        selected: &BTreeSet<&str>,
    ) {
        if let Some(lock) = held_lock(&repo.locks) {
            self.notes.push(format!(
                "a download is running in {} (`{}` is held): its revisions are kept",
                repo.cache_id(),
                lock.display()
            ));
            return;
        }
        let chosen = |r: &&CachedRevision| selected.contains(r.commit.as_str());
        if repo.revisions.iter().all(|r| chosen(&r)) && self.add_repo(scan, repo) {
            return;
        }
        let kept: HashSet<&Path> = (repo.revisions.iter().filter(|r| !chosen(r)))
            .flat_map(|r| r.files.iter().map(|f| f.blob.as_path()))
            .collect();
        for rev in repo.revisions.iter().filter(chosen) {
            self.revisions.push((repo, rev));
            for file in &rev.files {
                if file.blob.starts_with(&rev.snapshot) {
                    // A copy inside the snapshot (no symlink): it goes with the folder.
                    self.freed += file.size;
                } else if !kept.contains(file.blob.as_path()) && self.blobs.insert(&file.blob) {
                    self.freed += file.frees;
                }
            }
        }
    }

    /// Plans deleting the folder of `repo`, unless a download is running in it.
    fn add_repo(&mut self, scan: &'a CacheScan, repo: &'a CachedRepo) -> bool {
        let partials: Vec<&PartialDownload> = scan
            .partials
            .iter()
            .filter(|p| p.repo_dir == repo.path)
            .collect();
        let Some(claims) = partials
            .iter()
            .map(|p| claim(&p.lock))
            .collect::<Option<Vec<_>>>()
        else {
            self.notes.push(format!(
                "a download is running in {}: its folder is kept",
                repo.cache_id()
            ));
            return false;
        };
        self.claims.extend(claims);
        let blobs: HashMap<&Path, u64> = (repo.revisions.iter().flat_map(|r| &r.files))
            .map(|f| (f.blob.as_path(), f.frees))
            .collect();
        self.freed += blobs.values().sum::<u64>()
            + repo.unreferenced.iter().map(|b| b.size).sum::<u64>()
            + partials.iter().map(|p| p.size).sum::<u64>();
        self.repos.push(repo);
        true
    }

    /// Plans deleting a blob no snapshot uses, unless a download is moving it into place.
    fn add_unreferenced(&mut self, repo: &'a CachedRepo, blob: &'a CachedBlob) {
        match claim(&blob.lock) {
            Some(held) => {
                self.claims.push(held);
                self.unreferenced.push((repo, blob));
                self.freed += blob.size;
            }
            None => self.notes.push(format!(
                "kept `{}`: a download is using it",
                blob.path.display()
            )),
        }
    }

    /// Plans deleting a partial download and its journal, unless a download is writing it.
    fn add_partial(&mut self, partial: &'a PartialDownload) {
        match claim(&partial.lock) {
            Some(held) => {
                self.claims.push(held);
                self.partials.push(partial);
                self.freed += partial.size;
            }
            None => self.notes.push(format!(
                "kept the partial download `{}` of {}: a download is writing it",
                partial.etag, partial.repo_name
            )),
        }
    }

    /// Does the plan delete this repo folder as a whole?
    fn deletes_folder(&self, dir: &Path) -> bool {
        self.repos.iter().any(|r| r.path == dir) || self.broken.iter().any(|c| c.path == dir)
    }

    /// Unreferenced store entries deleted by `prune`.
    fn shared_blobs(&self) -> usize {
        self.shared.len()
    }

    /// Counts what the store frees, as huggingface_hub does: an entry's bytes once every live
    /// link to it is among the blobs deleted; and remembers those entries for the sweep.
    fn account_shared(&mut self, scan: &'a CacheScan, unreferenced_entries: bool) {
        if !scan.store.is_marked() {
            return;
        }
        let store = scan.store.clone();
        let mut deleting: BTreeSet<PathBuf> = self.blobs.iter().map(|b| b.to_path_buf()).collect();
        deleting.extend(self.unreferenced.iter().map(|(_, b)| b.path.clone()));
        for repo in &self.repos {
            let files = repo.revisions.iter().flat_map(|r| &r.files);
            deleting.extend(files.map(|f| f.blob.clone()));
            let dir = fs::read_dir(repo.path.join("blobs"))
                .into_iter()
                .flatten()
                .flatten();
            deleting.extend(dir.map(|e| e.path()));
        }
        self.sweep = (deleting.iter())
            .filter_map(|b| store.target_of(b))
            .collect();
        for entry in &self.sweep {
            self.freed += store.freed_if_deleted(entry, &deleting);
        }
        if unreferenced_entries {
            self.shared.clone_from(&scan.unreferenced_shared);
            self.freed += self.shared.iter().map(|(_, size)| size).sum::<u64>();
        }
        self.store = Some(store);
    }

    fn is_empty(&self) -> bool {
        let Self {
            repos,
            broken,
            revisions,
            unreferenced,
            partials,
            ..
        } = self;
        repos.is_empty()
            && broken.is_empty()
            && revisions.is_empty()
            && unreferenced.is_empty()
            && partials.is_empty()
            && self.shared.is_empty()
    }
}

/// A lock in a repo's `.locks/` folder that a running download (hfdl's or the official
/// client's) holds, if any.
///
/// Checked before touching a repo's revisions: a download by commit writes no ref, so its
/// snapshot looks detached until it is done; and before deleting a folder the scanner calls
/// corrupted: a first download has written its ref but no snapshot yet. Blobs and partials
/// are claimed one by one.
fn held_lock(locks: &Path) -> Option<PathBuf> {
    let entries = fs::read_dir(locks).ok()?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lock"))
        .find(|lock| claim(lock).is_none())
}

/// `hfdl cache rm`: deletes the repos and revisions the targets name.
pub(super) fn rm(scan: &CacheScan, targets: &[String], mode: &Mode) -> Result<()> {
    apply(rm_plan(scan, targets)?, mode, Command::Rm)
}

/// `hfdl cache prune`: deletes detached revisions and leftovers.
pub(super) fn prune(scan: &CacheScan, mode: &Mode) -> Result<()> {
    apply(prune_plan(scan), mode, Command::Prune)
}

/// The repos and revisions the targets name.
#[expect(
    clippy::print_stderr,
    reason = "targets not in the cache are reported on stderr"
)]
fn rm_plan<'a>(scan: &'a CacheScan, targets: &[String]) -> Result<Plan<'a>> {
    let mut plan = Plan::default();
    let mut selected: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for target in targets {
        match find(scan, target)? {
            Found::Repo(i) => {
                let all = scan.repos[i].revisions.iter().map(|r| r.commit.as_str());
                selected.entry(i).or_default().extend(all);
            }
            Found::Revisions(found) => {
                for (i, commit) in found {
                    selected.entry(i).or_default().insert(commit);
                }
            }
            Found::Broken(folder) if !plan.deletes_folder(&folder.path) => {
                let name = folder.path.file_name().unwrap_or_default();
                match held_lock(&scan.root.join(".locks").join(name)) {
                    Some(lock) => plan.notes.push(format!(
                        "a download is running in {} (`{}` is held): its folder is kept",
                        folder
                            .repo
                            .as_ref()
                            .map_or_else(|| target.clone(), |(k, i)| format!("{k}/{i}")),
                        lock.display()
                    )),
                    None => plan.broken.push(folder),
                }
            }
            Found::Broken(_) => {}
            Found::Nothing => eprintln!("warning: `{target}` is not in the cache"),
        }
    }
    for (i, commits) in &selected {
        plan.add_revisions(scan, &scan.repos[*i], commits);
    }
    plan.account_shared(scan, false);
    Ok(plan)
}

/// `prune`: detached revisions, blobs no snapshot uses, and partial downloads no download uses.
fn prune_plan(scan: &CacheScan) -> Plan<'_> {
    let mut plan = Plan::default();
    for repo in &scan.repos {
        let detached: BTreeSet<&str> = (repo.revisions.iter().filter(|r| r.refs.is_empty()))
            .map(|r| r.commit.as_str())
            .collect();
        if !detached.is_empty() {
            plan.add_revisions(scan, repo, &detached);
        }
        if !plan.deletes_folder(&repo.path) {
            for blob in &repo.unreferenced {
                plan.add_unreferenced(repo, blob);
            }
        }
    }
    for partial in &scan.partials {
        if !plan.deletes_folder(&partial.repo_dir) {
            plan.add_partial(partial);
        }
    }
    plan.account_shared(scan, true);
    plan
}

/// What an `rm` target names in the cache.
enum Found<'a> {
    Repo(usize),
    /// Repo index and full commit; several only for one commit cached in several repos.
    Revisions(Vec<(usize, &'a str)>),
    Broken(&'a Corruption),
    Nothing,
}

/// Resolves `model/org/name`, `org/name`, `hf://datasets/org/name`, or a commit (prefix).
fn find<'a>(scan: &'a CacheScan, target: &str) -> Result<Found<'a>> {
    let target = target.trim();
    if let Some(uri) = target.strip_prefix("hf://") {
        if uri.contains('@') {
            return Err(UsageError(format!(
                "`{target}`: `hf://` targets cannot name a revision; pass the commit hash \
                 (see `hfdl cache ls --revisions`)"
            ))
            .into());
        }
        let (kind, id) = split_kind(uri);
        if id.split('/').count() > 2 {
            return Err(UsageError(format!(
                "`{target}`: deleting single files is not supported"
            ))
            .into());
        }
        return find_repo(scan, Some(kind.unwrap_or("model")), id, target);
    }
    if (7..=40).contains(&target.len()) && target.bytes().all(|b| b.is_ascii_hexdigit()) {
        return find_commit(scan, &target.to_ascii_lowercase(), target);
    }
    let (kind, id) = split_kind(target);
    find_repo(scan, kind, id, target)
}

/// Splits a leading type (`model/`, `datasets/`, ...) off a repo id.
fn split_kind(target: &str) -> (Option<&'static str>, &str) {
    if let Some((head, id)) = target.split_once('/') {
        let kind = REPO_TYPES
            .iter()
            .find(|(plural, singular)| head == *plural || head == *singular);
        if let Some((_, singular)) = kind {
            return (Some(singular), id);
        }
    }
    (None, target)
}

fn find_repo<'a>(
    scan: &'a CacheScan,
    kind: Option<&str>,
    id: &str,
    target: &str,
) -> Result<Found<'a>> {
    let matches =
        |k: &str, i: &str| kind.is_none_or(|kind| kind == k) && i.eq_ignore_ascii_case(id);
    let found: Vec<usize> = (0..scan.repos.len())
        .filter(|&i| matches(scan.repos[i].kind, &scan.repos[i].id))
        .collect();
    match found[..] {
        [i] => Ok(Found::Repo(i)),
        [] => Ok(scan
            .corrupted
            .iter()
            .find(|c| c.repo.as_ref().is_some_and(|(k, i)| matches(k, i)))
            .map_or(Found::Nothing, Found::Broken)),
        _ => {
            let names: Vec<String> = found.iter().map(|&i| scan.repos[i].cache_id()).collect();
            Err(UsageError(format!(
                "`{target}` names several cached repos ({}); prefix it with the type",
                names.join(", ")
            ))
            .into())
        }
    }
}

fn find_commit<'a>(scan: &'a CacheScan, prefix: &str, target: &str) -> Result<Found<'a>> {
    let found: Vec<(usize, &str)> = (scan.repos.iter().enumerate())
        .flat_map(|(i, repo)| {
            repo.revisions
                .iter()
                .map(move |rev| (i, rev.commit.as_str()))
        })
        .filter(|(_, commit)| commit.to_ascii_lowercase().starts_with(prefix))
        .collect();
    let commits: BTreeSet<&str> = found.iter().map(|(_, c)| *c).collect();
    match commits.len() {
        0 => Ok(Found::Nothing),
        1 => Ok(Found::Revisions(found)),
        n => Err(UsageError(format!(
            "commit prefix `{target}` matches {n} cached revisions; give more characters"
        ))
        .into()),
    }
}

// ------------------------------------------------------------------------------------------
// Showing, confirming, deleting
// ------------------------------------------------------------------------------------------

/// How to go about a deletion.
pub(super) struct Mode {
    /// Show the plan only.
    pub(super) dry_run: bool,
    /// Do not ask.
    pub(super) yes: bool,
    pub(super) format: Format,
}

/// Which command a plan is for: `hf` names their results' fields differently.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Rm,
    Prune,
}

#[expect(clippy::print_stderr, reason = "what is kept, and why, goes to stderr")]
fn apply(plan: Plan<'_>, mode: &Mode, command: Command) -> Result<()> {
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    let format = mode.format;
    let json = format.is(OutputMode::Json);
    if plan.is_empty() {
        if json {
            output::line(&plan_json(&plan, false));
        } else {
            output::text(format, "nothing to delete");
        }
        return Ok(());
    }
    output::text(
        format,
        &format!(
            "about to delete {}, freeing {}:",
            summary(&plan),
            human_size(plan.freed)
        ),
    );
    for line in plan_lines(&plan) {
        output::text(format, &line);
    }
    if mode.dry_run {
        match format.mode {
            OutputMode::Json => output::line(&plan_json(&plan, false)),
            OutputMode::Human => output::line("dry run: nothing was deleted"),
            _ => output::result(
                format,
                "Dry run: no files were deleted.",
                &dry_run_fields(&plan, command),
            ),
        }
        return Ok(());
    }
    if !mode.yes && !format.is(OutputMode::Human) {
        bail!("refusing to delete without confirmation outside human mode: pass -y (or --yes)");
    }
    confirm(mode.yes)?;
    let result = delete(&plan);
    match format.mode {
        OutputMode::Json => output::line(&plan_json(&plan, result.is_ok())),
        _ if result.is_err() => {}
        OutputMode::Human => output::line(&format!(
            "deleted {}; freed {}",
            summary(&plan),
            human_size(plan.freed)
        )),
        _ => output::result(format, "Deleted.", &done_fields(&plan, command)),
    }
    result
}

/// The fields of `hf cache rm|prune --dry-run` in agent and quiet modes.
fn dry_run_fields(plan: &Plan<'_>, command: Command) -> Vec<(&'static str, String)> {
    let revisions =
        plan.revisions.len() + plan.repos.iter().map(|r| r.revisions.len()).sum::<usize>();
    let mut fields = vec![("dry_run", "True".to_owned())];
    match command {
        Command::Rm => fields.push(("repos", plan.repos.len().to_string())),
        Command::Prune => {}
    }
    fields.push(("revisions", revisions.to_string()));
    if command == Command::Prune {
        fields.push(("incomplete", plan.partials.len().to_string()));
        fields.push(("shared_blobs", plan.shared_blobs().to_string()));
    }
    fields.push(("size", human_size(plan.freed)));
    fields
}

/// The fields of `hf cache rm|prune` once done, in agent and quiet modes.
fn done_fields(plan: &Plan<'_>, command: Command) -> Vec<(&'static str, String)> {
    let revisions =
        plan.revisions.len() + plan.repos.iter().map(|r| r.revisions.len()).sum::<usize>();
    let mut fields = Vec::new();
    if command == Command::Rm {
        fields.push(("repos_deleted", plan.repos.len().to_string()));
    }
    fields.push(("revisions_deleted", revisions.to_string()));
    if command == Command::Prune {
        fields.push(("incomplete_deleted", plan.partials.len().to_string()));
        fields.push(("shared_blobs_deleted", plan.shared_blobs().to_string()));
    }
    fields.push(("freed", human_size(plan.freed)));
    fields
}

/// `2 repo(s), 1 revision(s) and 3 partial download(s)`.
fn summary(plan: &Plan<'_>) -> String {
    let counts = [
        (plan.repos.len() + plan.broken.len(), "repo(s)"),
        (plan.revisions.len(), "revision(s)"),
        (plan.unreferenced.len(), "unreferenced blob(s)"),
        (plan.partials.len(), "partial download(s)"),
        (plan.shared.len(), "unreferenced shared blob(s)"),
    ];
    let parts: Vec<String> = (counts.iter().filter(|(n, _)| *n > 0))
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => parts.concat(),
    }
}

fn plan_lines(plan: &Plan<'_>) -> Vec<String> {
    let repos = plan.repos.iter().map(|repo| {
        let n = repo.revisions.len();
        format!(
            "  {} (entire repo, {n} revision(s), {})",
            repo.cache_id(),
            human_size(repo.size)
        )
    });
    let broken =
        (plan.broken.iter()).map(|c| format!("  {} (corrupted: {})", c.path.display(), c.reason));
    let revisions = plan.revisions.iter().map(|(repo, rev)| {
        let refs = if rev.refs.is_empty() {
            "(detached)".to_owned()
        } else {
            format!("[{}]", refs_cell(&rev.refs))
        };
        format!(
            "  {}: {} {refs} {}",
            repo.cache_id(),
            rev.commit,
            human_size(rev.size)
        )
    });
    let blobs = plan.unreferenced.iter().map(|(repo, blob)| {
        let name = blob.path.file_name().unwrap_or_default().to_string_lossy();
        format!(
            "  {}: unreferenced blob {name} ({})",
            repo.cache_id(),
            human_size(blob.size)
        )
    });
    let partials = plan.partials.iter().map(|p| {
        let what = if p.data.is_some() {
            "partial download"
        } else {
            "orphan journal"
        };
        format!(
            "  {}: {what} {} ({})",
            p.repo_name,
            p.etag,
            human_size(p.size)
        )
    });
    let shared = plan.shared.iter().map(|(entry, size)| {
        let name = entry.file_name().unwrap_or_default().to_string_lossy();
        format!("  shared blob {name} ({})", human_size(*size))
    });
    repos
        .chain(broken)
        .chain(revisions)
        .chain(blobs)
        .chain(partials)
        .chain(shared)
        .collect()
}

fn plan_json(plan: &Plan<'_>, deleted: bool) -> String {
    let revisions: Vec<Value> = (plan.revisions.iter())
        .map(|(repo, rev)| json!({"id": repo.cache_id(), "commit": rev.commit, "refs": rev.refs}))
        .collect();
    let paths = |paths: Vec<&Path>| -> Vec<String> {
        paths.iter().map(|p| p.display().to_string()).collect()
    };
    let partials = plan
        .partials
        .iter()
        .flat_map(|p| p.data.iter().chain(&p.journal));
    json!({
        "deleted": deleted,
        "repos": plan.repos.iter().map(|r| r.cache_id()).collect::<Vec<_>>(),
        "corrupted": paths(plan.broken.iter().map(|c| c.path.as_path()).collect()),
        "revisions": revisions,
        "blobs": paths(plan.blobs.iter().copied().collect()),
        "unreferenced_blobs": paths(plan.unreferenced.iter().map(|(_, b)| b.path.as_path()).collect()),
        "partials": paths(partials.map(PathBuf::as_path).collect()),
        "shared_blobs": paths(plan.shared.iter().map(|(p, _)| p.as_path()).collect()),
        "freed": plan.freed,
        "freed_str": human_size(plan.freed),
    })
    .to_string()
}

/// Asks on the terminal, unless `-y`; refuses when nobody can answer.
#[expect(
    clippy::print_stderr,
    reason = "the confirmation prompt goes to stderr"
)]
fn confirm(yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        bail!(
            "refusing to delete without confirmation: stdin is not a terminal \
             (pass -y to delete, or --dry-run to preview)"
        );
    }
    eprint!("proceed? [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("failed to read the answer from stdin")?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => bail!("cancelled: nothing was deleted"),
    }
}

/// Deletes refs, then snapshots, then blobs and leftovers; reports every failure.
#[expect(
    clippy::print_stderr,
    reason = "each failed deletion is reported on stderr"
)]
fn delete(plan: &Plan<'_>) -> Result<()> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for repo in &plan.repos {
        let inner = [repo.path.join("refs"), repo.path.join("snapshots")];
        paths.extend(
            inner
                .into_iter()
                .chain([repo.path.clone(), repo.locks.clone()]),
        );
    }
    paths.extend(plan.broken.iter().map(|c| c.path.clone()));
    for (repo, rev) in &plan.revisions {
        paths.extend(rev.refs.iter().map(|name| repo.ref_file(name)));
    }
    paths.extend(plan.revisions.iter().map(|(_, rev)| rev.snapshot.clone()));
    paths.extend(plan.blobs.iter().map(|b| b.to_path_buf()));
    paths.extend(plan.unreferenced.iter().map(|(_, b)| b.path.clone()));
    paths.extend(
        plan.partials
            .iter()
            .flat_map(|p| p.data.iter().chain(&p.journal))
            .cloned(),
    );
    let failed: Vec<(PathBuf, io::Error)> = (paths.into_iter())
        .filter_map(|path| remove(&path).err().map(|e| (path, e)))
        .collect();
    for (path, err) in &failed {
        eprintln!("warning: failed to delete `{}`: {err}", path.display());
    }
    if let Some(store) = &plan.store {
        let entries = plan.sweep.iter().chain(plan.shared.iter().map(|(p, _)| p));
        for entry in entries {
            if let Err(err) = store.sweep(entry) {
                eprintln!(
                    "warning: failed to collect the shared blob `{}`: {err}",
                    entry.display()
                );
            }
        }
    }
    if !failed.is_empty() {
        bail!("failed to delete {} path(s) in the cache", failed.len());
    }
    Ok(())
}

/// Removes a file, a symlink or a whole folder; what is already gone is fine.
fn remove(path: &Path) -> io::Result<()> {
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_types_and_ids() {
        assert_eq!(split_kind("model/org/x"), (Some("model"), "org/x"));
        assert_eq!(split_kind("datasets/org/x"), (Some("dataset"), "org/x"));
        assert_eq!(split_kind("org/x"), (None, "org/x"));
        assert_eq!(split_kind("gpt2"), (None, "gpt2"));
    }
}
