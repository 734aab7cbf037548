//! `hfdl cache ls|rm|prune|verify`: list, clean and check the hub cache shared with
//! huggingface_hub, leaving it valid for the official client.
//!
//! The cache is read through `layout::scan_cache`. This module lists it; `clean` plans and
//! performs `rm` and `prune`, and `verify` re-hashes files against the Hub's listing (the only
//! part that talks to the Hub). Results go to stdout, notes and prompts to stderr.

mod clean;
mod entries;
mod verify;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::layout::{CacheScan, CachedBlob, CachedRepo, CachedRevision, Corruption, scan_cache};
use crate::output::{self, Format, Mode, size as human_size};
use crate::settings::CacheSettings;
use entries::Entry;

/// Runs one `hfdl cache` subcommand.
pub(crate) async fn run(settings: CacheSettings) -> Result<()> {
    match settings {
        CacheSettings::Ls {
            cache_dir,
            revisions,
            filters,
            sort,
            limit,
            format,
        } => {
            let how = entries::Select {
                revisions,
                filters: &filters,
                sort: sort.as_deref(),
                limit,
            };
            ls(&scan(&cache_dir)?, &how, format)
        }
        CacheSettings::Rm {
            cache_dir,
            targets,
            dry_run,
            yes,
            format,
        } => clean::rm(
            &scan(&cache_dir)?,
            &targets,
            &clean::Mode {
                dry_run,
                yes,
                format,
            },
        ),
        CacheSettings::Prune {
            cache_dir,
            dry_run,
            yes,
            format,
        } => clean::prune(
            &scan(&cache_dir)?,
            &clean::Mode {
                dry_run,
                yes,
                format,
            },
        ),
        CacheSettings::Verify {
            repo,
            revision,
            target,
            hub,
            format,
            fail_on,
        } => verify::verify(&repo, &revision, *target, *hub, format, fail_on).await,
    }
}

/// Scans the cache and warns about the folders the official client would skip.
#[expect(clippy::print_stderr, reason = "scan warnings go to stderr")]
fn scan(cache_dir: &Path) -> Result<CacheScan> {
    let scan = scan_cache(cache_dir)
        .with_context(|| format!("failed to scan the cache `{}`", cache_dir.display()))?;
    for Corruption { path, reason, .. } in &scan.corrupted {
        eprintln!("warning: skipped `{}`: {reason}", path.display());
    }
    Ok(scan)
}

// ------------------------------------------------------------------------------------------
// ls
// ------------------------------------------------------------------------------------------

fn ls(scan: &CacheScan, how: &entries::Select<'_>, format: Format) -> Result<()> {
    let entries = entries::select(scan, how)?;
    match format.mode {
        Mode::Json => {
            let items: Vec<Value> = (entries.iter())
                .map(|e| match e.revision {
                    Some(rev) => revision_item(e.repo, rev),
                    None => repo_json(e.repo),
                })
                .collect();
            output::line(&Value::Array(items).to_string());
        }
        Mode::Human if entries.is_empty() => output::line("No results found."),
        Mode::Human => {
            let lines = if how.revisions {
                revision_table(&entries)
            } else {
                repo_table(&entries)
            };
            for line in lines {
                output::line(&line);
            }
            let (repos, revisions, size) = totals(scan, &entries, how);
            output::line(&format!(
                "\n{repos} repo(s), {revisions} revision(s), {} on disk in {}",
                human_size(size),
                scan.root.display()
            ));
        }
        Mode::Agent | Mode::Quiet => ls_like_hf(scan, &entries, how, format),
    }
    note_leftovers(scan);
    Ok(())
}

/// Repos, revisions and bytes of what is shown, as `hf cache ls` sums them: the cache's
/// physical size when every repo is shown, else the sizes of the shown entries.
fn totals(
    scan: &CacheScan,
    entries: &[Entry<'_>],
    how: &entries::Select<'_>,
) -> (usize, usize, u64) {
    let repos: BTreeSet<&Path> = entries.iter().map(|e| e.repo.path.as_path()).collect();
    let shown = || (scan.repos.iter()).filter(|r| repos.contains(r.path.as_path()));
    if how.revisions {
        let size = (entries.iter())
            .filter_map(|e| e.revision)
            .map(|r| r.size)
            .sum();
        (repos.len(), entries.len(), size)
    } else {
        let revisions = shown().map(|r| r.revisions.len()).sum();
        let size = if how.filters.is_empty() && how.limit.is_none() {
            scan.size_on_disk()
        } else {
            shown().map(|r| r.size).sum()
        };
        (repos.len(), revisions, size)
    }
}

/// Agent and quiet modes, as `hf cache ls` prints them: tab-separated `id`, (`revision`),
/// `size`, (`last_accessed`), `last_modified`, `refs` (a Python list, as `hf` prints it) and
/// the `Found …` summary; or one id (commit) per line.
fn ls_like_hf(scan: &CacheScan, entries: &[Entry<'_>], how: &entries::Select<'_>, format: Format) {
    let python_list = |refs: BTreeSet<&str>| {
        let quoted: Vec<String> = refs.iter().map(|r| format!("'{r}'")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let rows: Vec<Vec<String>> = (entries.iter())
        .map(|e| match e.revision {
            Some(rev) => vec![
                e.repo.cache_id(),
                rev.commit.clone(),
                human_size(rev.size),
                ago(rev.last_modified),
                python_list(rev.refs.iter().map(String::as_str).collect()),
            ],
            None => vec![
                e.repo.cache_id(),
                human_size(e.repo.size),
                ago(e.repo.last_accessed),
                ago(e.repo.last_modified),
                python_list(repo_refs(e.repo)),
            ],
        })
        .collect();
    if how.revisions {
        let keys = ["id", "revision", "size", "last_modified", "refs"];
        output::table(format, &keys, &rows, 1);
    } else {
        let keys = ["id", "size", "last_accessed", "last_modified", "refs"];
        output::table(format, &keys, &rows, 0);
    }
    if !entries.is_empty() {
        let (repos, revisions, size) = totals(scan, entries, how);
        output::text(
            format,
            &format!(
                "\nFound {repos} repo(s) for a total of {revisions} revision(s) and {} on disk.",
                human_size(size)
            ),
        );
    }
}

fn repo_refs(repo: &CachedRepo) -> BTreeSet<&str> {
    (repo.revisions.iter())
        .flat_map(|r| r.refs.iter().map(String::as_str))
        .collect()
}

fn repo_table(entries: &[Entry<'_>]) -> Vec<String> {
    let headers = [
        "REPO ID",
        "TYPE",
        "SIZE",
        "FILES",
        "REVISIONS",
        "REFS",
        "LAST MODIFIED",
    ];
    let rows = entries.iter().map(|Entry { repo, .. }| {
        vec![
            repo.id.clone(),
            repo.kind.to_owned(),
            human_size(repo.size),
            repo.nb_files.to_string(),
            repo.revisions.len().to_string(),
            refs_cell(repo.revisions.iter().flat_map(|r| &r.refs)),
            ago(repo.last_modified),
        ]
    });
    table(&headers, rows.collect(), &[2, 3, 4])
}

fn revision_table(entries: &[Entry<'_>]) -> Vec<String> {
    let headers = [
        "REPO ID",
        "TYPE",
        "REVISION",
        "SIZE",
        "FILES",
        "REFS",
        "LAST MODIFIED",
    ];
    let rows = entries.iter().filter_map(|e| {
        let (repo, rev) = (e.repo, e.revision?);
        Some(vec![
            repo.id.clone(),
            repo.kind.to_owned(),
            rev.commit.clone(),
            human_size(rev.size),
            rev.files.len().to_string(),
            refs_cell(&rev.refs),
            ago(rev.last_modified),
        ])
    });
    table(&headers, rows.collect(), &[3, 4])
}

/// Refs, sorted and comma-separated; `(detached)` when there are none.
fn refs_cell<'a>(refs: impl IntoIterator<Item = &'a String>) -> String {
    let refs: BTreeSet<&str> = refs.into_iter().map(String::as_str).collect();
    if refs.is_empty() {
        "(detached)".to_owned()
    } else {
        refs.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// Aligned columns separated by two spaces; `right` lists the right-aligned ones.
fn table(headers: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> Vec<String> {
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let all: Vec<Vec<String>> = std::iter::once(header).chain(rows).collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            all.iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let render = |row: &Vec<String>| {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if right.contains(&c) {
                    format!("{cell:>w$}", w = widths[c])
                } else {
                    format!("{cell:<w$}", w = widths[c])
                }
            })
            .collect();
        cells.join("  ").trim_end().to_owned()
    };
    all.iter().map(render).collect()
}

fn repo_json(repo: &CachedRepo) -> Value {
    let refs: BTreeSet<&String> = repo.revisions.iter().flat_map(|r| &r.refs).collect();
    json!({
        "id": repo.cache_id(),
        "repo_id": repo.id,
        "repo_type": repo.kind,
        "path": repo.path.display().to_string(),
        "size_on_disk": repo.size,
        "size": human_size(repo.size),
        "nb_files": repo.nb_files,
        "nb_revisions": repo.revisions.len(),
        "refs": refs,
        "last_accessed": unix_seconds(repo.last_accessed),
        "last_modified": unix_seconds(repo.last_modified),
        "revisions": repo.revisions.iter().map(revision_json).collect::<Vec<_>>(),
    })
}

fn revision_json(rev: &CachedRevision) -> Value {
    json!({
        "commit": rev.commit,
        "refs": rev.refs,
        "detached": rev.refs.is_empty(),
        "nb_files": rev.files.len(),
        "size_on_disk": rev.size,
        "size": human_size(rev.size),
        "last_modified": unix_seconds(rev.last_modified),
        "snapshot_path": rev.snapshot.display().to_string(),
    })
}

/// `--revisions --json`: one object per revision, naming its repo.
fn revision_item(repo: &CachedRepo, rev: &CachedRevision) -> Value {
    let mut item = revision_json(rev);
    item["id"] = repo.cache_id().into();
    item["repo_id"] = repo.id.clone().into();
    item["repo_type"] = repo.kind.into();
    item
}

#[expect(clippy::print_stderr, reason = "hints about leftovers go to stderr")]
fn note_leftovers(scan: &CacheScan) {
    if !scan.partials.is_empty() {
        let size = scan.partials.iter().map(|p| p.size).sum();
        eprintln!(
            "note: {} partial download(s) ({}) in the cache; `hfdl cache prune` deletes those \
             no running download is using",
            scan.partials.len(),
            human_size(size)
        );
    }
    if !scan.unreferenced_shared.is_empty() {
        let size = scan.unreferenced_shared.iter().map(|(_, s)| s).sum();
        eprintln!(
            "note: {} unreferenced shared blob(s) ({}) in the store; `hfdl cache prune` deletes them",
            scan.unreferenced_shared.len(),
            human_size(size)
        );
    }
    let unused: Vec<&CachedBlob> = scan.repos.iter().flat_map(|r| &r.unreferenced).collect();
    if !unused.is_empty() {
        let size = unused.iter().map(|b| b.size).sum();
        eprintln!(
            "note: {} blob(s) ({}) no snapshot uses; `hfdl cache prune` deletes them",
            unused.len(),
            human_size(size)
        );
    }
}

// ------------------------------------------------------------------------------------------
// Formatting
// ------------------------------------------------------------------------------------------

/// `3 minutes ago`, as huggingface_hub's `format_timesince` rounds (half to even).
fn ago(time: SystemTime) -> String {
    const UNITS: [(&str, f64, f64); 7] = [
        ("second", 1.0, 59.0),
        ("minute", 60.0, 59.0),
        ("hour", 3600.0, 23.0),
        ("day", 86_400.0, 6.0),
        ("week", 604_800.0, 6.0),
        ("month", 2_592_000.0, 11.0),
        ("year", 31_536_000.0, f64::INFINITY),
    ];
    let secs = match SystemTime::now().duration_since(time) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    };
    if secs < 20.0 {
        return "a few seconds ago".into();
    }
    let (unit, n) = (UNITS.iter())
        .map(|&(unit, size, max)| (unit, (secs / size).round_ties_even(), max))
        .find(|&(_, n, max)| n <= max)
        .map_or(("year", 0.0), |(unit, n, _)| (unit, n));
    format!("{n} {unit}{} ago", if n > 1.0 { "s" } else { "" })
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_the_official_client() {
        assert_eq!(human_size(0), "0.0");
        assert_eq!(human_size(999), "999.0");
        assert_eq!(human_size(1_500), "1.5K");
        assert_eq!(human_size(301_234_567), "301.2M");
    }

    #[test]
    fn ages_round_to_one_unit() {
        let ago_secs = |s| ago(SystemTime::now() - std::time::Duration::from_secs(s));
        assert_eq!(ago_secs(5), "a few seconds ago");
        assert_eq!(ago_secs(90), "2 minutes ago");
        assert_eq!(ago_secs(3600), "1 hour ago");
        assert_eq!(ago_secs(3 * 86_400), "3 days ago");
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["a".into(), "1.0K".into()],
            vec!["long-name".into(), "12.0M".into()],
        ];
        let lines = table(&["ID", "SIZE"], rows, &[1]);
        assert_eq!(
            lines,
            ["ID          SIZE", "a           1.0K", "long-name  12.0M"]
        );
    }
}
