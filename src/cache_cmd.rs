//! `hfdl cache ls|rm|prune|verify`: list, clean and check the hub cache shared with
//! huggingface_hub, leaving it valid for the official client.
//!
//! The cache is read through `layout::scan_cache`. This module lists it; `clean` plans and
//! performs `rm` and `prune`, and `verify` re-hashes files against the Hub's listing (the only
//! part that talks to the Hub). Results go to stdout, notes and prompts to stderr.

mod clean;
mod verify;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::layout::{CacheScan, CachedBlob, CachedRepo, CachedRevision, Corruption, scan_cache};
use crate::output;
use crate::settings::CacheSettings;

/// Runs one `hfdl cache` subcommand.
pub(crate) async fn run(settings: CacheSettings) -> Result<()> {
    match settings {
        CacheSettings::Ls {
            cache_dir,
            revisions,
            json,
        } => ls(&scan(&cache_dir)?, revisions, json),
        CacheSettings::Rm {
            cache_dir,
            targets,
            dry_run,
            yes,
            json,
        } => clean::rm(
            &scan(&cache_dir)?,
            &targets,
            &clean::Mode { dry_run, yes, json },
        ),
        CacheSettings::Prune {
            cache_dir,
            dry_run,
            yes,
            json,
        } => clean::prune(&scan(&cache_dir)?, &clean::Mode { dry_run, yes, json }),
        CacheSettings::Verify {
            repo,
            revision,
            target,
            hub,
            json,
        } => verify::verify(&repo, &revision, *target, *hub, json).await,
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

fn ls(scan: &CacheScan, revisions: bool, json: bool) -> Result<()> {
    if json {
        let items: Vec<Value> = if revisions {
            scan.repos.iter().flat_map(revision_items).collect()
        } else {
            scan.repos.iter().map(repo_json).collect()
        };
        output::line(&Value::Array(items).to_string());
    } else {
        let lines = if revisions {
            revision_table(scan)
        } else {
            repo_table(scan)
        };
        for line in lines {
            output::line(&line);
        }
        let size: u64 = scan.repos.iter().map(|r| r.size).sum();
        let count: usize = scan.repos.iter().map(|r| r.revisions.len()).sum();
        output::line(&format!(
            "\n{} repo(s), {count} revision(s), {} on disk in {}",
            scan.repos.len(),
            human_size(size),
            scan.root.display()
        ));
    }
    note_leftovers(scan);
    Ok(())
}

fn repo_table(scan: &CacheScan) -> Vec<String> {
    let headers = [
        "REPO ID",
        "TYPE",
        "SIZE",
        "FILES",
        "REVISIONS",
        "REFS",
        "LAST MODIFIED",
    ];
    let rows = scan.repos.iter().map(|repo| {
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

fn revision_table(scan: &CacheScan) -> Vec<String> {
    let headers = [
        "REPO ID",
        "TYPE",
        "REVISION",
        "SIZE",
        "FILES",
        "REFS",
        "LAST MODIFIED",
    ];
    let rows = scan.repos.iter().flat_map(|repo| {
        repo.revisions.iter().map(|rev| {
            vec![
                repo.id.clone(),
                repo.kind.to_owned(),
                rev.commit.clone(),
                human_size(rev.size),
                rev.files.len().to_string(),
                refs_cell(&rev.refs),
                ago(rev.last_modified),
            ]
        })
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
fn revision_items(repo: &CachedRepo) -> impl Iterator<Item = Value> + '_ {
    repo.revisions.iter().map(|rev| {
        let mut item = revision_json(rev);
        item["id"] = repo.cache_id().into();
        item["repo_id"] = repo.id.clone().into();
        item["repo_type"] = repo.kind.into();
        item
    })
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

/// Decimal units with one decimal, as huggingface_hub prints sizes (`1.5K`, `301.2M`).
fn human_size(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["", "K", "M", "G", "T", "P", "E"] {
        if value < 1000.0 {
            return format!("{value:.1}{unit}");
        }
        value /= 1000.0;
    }
    format!("{value:.1}Z")
}

/// `3 minutes ago`, rounding to the nearest unit.
fn ago(time: SystemTime) -> String {
    const UNITS: [(&str, u64, u64); 7] = [
        ("second", 1, 59),
        ("minute", 60, 59),
        ("hour", 3600, 23),
        ("day", 86_400, 6),
        ("week", 604_800, 4),
        ("month", 2_592_000, 11),
        ("year", 31_536_000, u64::MAX),
    ];
    let secs = SystemTime::now()
        .duration_since(time)
        .map_or(0, |d| d.as_secs());
    if secs < 20 {
        return "a few seconds ago".into();
    }
    let (unit, n) = UNITS
        .iter()
        .map(|&(unit, size, max)| (unit, (secs + size / 2) / size, max))
        .find(|&(_, n, max)| n <= max)
        .map_or(("year", 0), |(unit, n, _)| (unit, n));
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
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
