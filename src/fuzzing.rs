//! Entry points for the cargo-fuzz targets under `fuzz/`: each feeds arbitrary bytes to the
//! real parsers of server answers, files on disk and user input, and panics when a result
//! breaks an invariant the rest of hfdl relies on.
//!
//! Not an interface: it exists only because cargo-fuzz links a library, and it re-implements
//! no parser. Rejected input returns normally; a panic is a finding. Nothing here touches the
//! network; [`journal`] writes scratch files in a temp directory.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use clap::Parser;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::download::journal;
use crate::download::ranges::{Next, Plan, RangeSet};
use crate::hub::headers;
use crate::hub::types::{RepoInfoJson, TreeEntryJson};
use crate::repo::{Checksum, CommitHash, ETag, Repo, RepoId, RepoPath, RepoType, Revision};
use crate::retry::Backoff;
use crate::select::Filter;
use crate::settings::{Env, Selection, Settings, Target};
use crate::{cli, tree_cache};

/// Response headers, one `name: value` per line: every header parser, with round trips of
/// `Content-Range` and of `Link` targets.
pub fn headers(data: &[u8]) {
    let map = header_map(data);
    if let Some(commit) = headers::repo_commit(&map) {
        check_commit(&commit);
    }
    if let Some(etag) = headers::file_etag(&map) {
        check_etag(&etag);
    }
    let _ = headers::has_linked_etag(&map);
    let _ = headers::file_size(&map, true);
    let _ = headers::file_size(&map, false);
    if let Some(range) = headers::content_range(&map) {
        check_content_range(&range);
    }
    if let Some(next) = headers::next_link(&map) {
        assert!(
            !next.is_empty() && !next.contains(|c: char| "<>\"".contains(c) || c.is_whitespace()),
            "bad next link {next:?}"
        );
    }
    if let Some(delay) = headers::retry_after(&map) {
        let wait = Backoff::new(Duration::from_millis(500)).next_delay(Some(delay));
        assert!(
            wait.is_some_and(|w| w <= Duration::from_secs(301)),
            "{wait:?}"
        );
    }
    for value in map.values() {
        check_link_round_trip(value);
    }
}

fn header_map(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim_ascii()),
            HeaderValue::from_bytes(value.trim_ascii()),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    map
}

fn check_content_range(range: &headers::ContentRange) {
    assert!(range.start <= range.end_inclusive, "{range:?}");
    if let Some(total) = range.total {
        assert!(range.end_inclusive < total, "{range:?}");
    }
    let total = range.total.map_or("*".to_owned(), |t| t.to_string());
    let again = format!("bytes {}-{}/{total}", range.start, range.end_inclusive);
    let value = HeaderValue::from_str(&again).expect("digits make a header value");
    let mut map = HeaderMap::new();
    map.insert("content-range", value);
    assert_eq!(
        headers::content_range(&map).as_ref(),
        Some(range),
        "{again}"
    );
}

/// Any URI reference (no `<`, `>` or blanks) put in a `Link` as `rel="next"` comes back whole.
fn check_link_round_trip(value: &HeaderValue) {
    let Ok(url) = value.to_str() else { return };
    if url.is_empty() || url.contains(|c: char| "<>\"".contains(c) || c.is_whitespace()) {
        return;
    }
    let links = [
        format!("<{url}>; rel=\"next\""),
        format!("<https://h/a?b=1,2;c>; rel=\"prev\", <{url}>; rel=next"),
        format!("<{url}>; title=\"a, b; rel=\\\"x\\\"\"; rel=\"last next\""),
    ];
    for link in links {
        let mut map = HeaderMap::new();
        map.insert(
            "link",
            HeaderValue::from_str(&link).expect("built from a header value"),
        );
        assert_eq!(headers::next_link(&map).as_deref(), Some(url), "{link}");
    }
}

/// A page of the recursive tree listing (and the revision API's answer): every file entry
/// becomes a safe [`RemoteFile`](crate::hub::RemoteFile), and the listing cache written from
/// them names exactly their paths.
pub fn tree_json(data: &[u8]) {
    if let Ok(info) = serde_json::from_slice::<RepoInfoJson>(data)
        && let Some(commit) = info.sha.as_deref().and_then(CommitHash::parse)
    {
        check_commit(&commit);
    }
    let Ok(entries) = serde_json::from_slice::<Vec<TreeEntryJson>>(data) else {
        return;
    };
    let mut files = Vec::new();
    for entry in entries {
        let lfs = entry.lfs.as_ref().map(|l| (l.oid.clone(), l.size));
        let Ok(Some(file)) = entry.into_remote_file() else {
            continue;
        };
        check_repo_path(&file.path);
        check_etag(&file.etag);
        assert_eq!(file.checksum, file.etag.checksum());
        assert_eq!(file.lfs, lfs.is_some());
        if let Some((oid, size)) = lfs {
            assert_eq!(file.size, Some(size));
            assert_eq!(Some(&file.etag), ETag::parse(&oid).as_ref());
        }
        files.push(file);
    }
    let Some(bytes) = tree_cache::to_bytes(&files) else {
        return;
    };
    let written: BTreeSet<String> = files.iter().map(|f| f.path.to_string()).collect();
    let read = tree_cache::files(&bytes).expect("the listing cache reads back");
    let read: BTreeSet<String> = read.iter().map(|f| f.path.to_string()).collect();
    assert_eq!(read, written);
}

/// `trees/<commit>.json`, read as the offline check and the rerun read it.
pub fn tree_cache(data: &[u8]) {
    for file in tree_cache::files(data).unwrap_or_default() {
        check_repo_path(&file.path);
        check_etag(&file.etag);
    }
}

/// A resume journal: what `load` claims lies within the file, and with the missing ranges
/// partitions it; the plan built from them covers every missing byte once; and a checkpoint of
/// what was loaded loads back the same.
pub fn journal(data: &[u8]) {
    let dir = scratch_dir();
    let path = dir.join("journal");
    std::fs::write(&path, data).expect("scratch journal is writable");
    let (etag, size) = journal_identity(data);
    let Some(done) = journal::load(&path, &etag, size) else {
        return;
    };
    let missing = check_range_set(&done, size);
    check_plan(&missing, size);
    let file = std::fs::File::create(dir.join("data")).expect("scratch data is writable");
    journal::checkpoint(&file, &path, &etag, size, &done).expect("checkpoint is writable");
    assert_eq!(journal::load(&path, &etag, size), Some(done));
}

/// The etag and size the journal names, so that `load` gets past its identity check.
fn journal_identity(data: &[u8]) -> (ETag, u64) {
    let value: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    let etag = value
        .get("etag")
        .and_then(serde_json::Value::as_str)
        .and_then(ETag::parse)
        .unwrap_or_else(|| ETag::parse(&"a".repeat(64)).expect("valid etag"));
    let size = value.get("size").and_then(serde_json::Value::as_u64);
    (etag, size.unwrap_or(1 << 20))
}

/// A temp dir, in memory where there is one: a checkpoint syncs, and disks make that slow.
fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .expect("a temp dir")
    })
    .path()
}

/// Checks that `done` and its gaps partition `[0, size)`; returns the gaps.
fn check_range_set(done: &RangeSet, size: u64) -> Vec<Range<u64>> {
    let missing = done.missing(size);
    let mut at = 0;
    for gap in &missing {
        assert!(
            gap.start >= at && gap.start < gap.end && gap.end <= size,
            "{missing:?}"
        );
        at = gap.end;
    }
    let gaps: u64 = missing.iter().map(|r| r.end - r.start).sum();
    assert_eq!(done.len() + gaps, size, "{done:?} {missing:?}");
    assert!(done.prefix_end() <= size);
    assert_eq!(done.prefix_end(), missing.first().map_or(size, |r| r.start));
    assert_eq!(done.clone().clamp(size), *done);
    missing
}

/// Drains a plan over `missing`, finishing each piece at once: the pieces tile the gaps.
fn check_plan(missing: &[Range<u64>], size: u64) {
    let piece = (size / 16).max(1);
    let plan = Plan::new(missing, piece, 1);
    let mut got = Vec::new();
    loop {
        match plan.next() {
            Next::Piece(p) => {
                let (start, end) = (p.pos.load(Relaxed), p.end.load(Relaxed));
                assert!(start < end && end - start <= piece, "{start}..{end}");
                p.pos.store(end, Relaxed);
                got.push(start..end);
            }
            Next::Wait => panic!("finished pieces leave nothing to wait for"),
            Next::Done => break,
        }
    }
    assert!(plan.is_finished());
    let mut tiled = RangeSet::default();
    for r in &got {
        tiled.insert(r.clone());
    }
    let covered: u64 = got.iter().map(|r| r.end - r.start).sum();
    let wanted: u64 = missing.iter().map(|r| r.end - r.start).sum();
    assert_eq!(covered, wanted, "pieces overlap or miss bytes");
    assert_eq!(tiled.len(), wanted, "pieces overlap");
}

/// One name per line, tried as every kind of name: what parses is safe to use as a path or a
/// cache folder name, and parsing is idempotent.
pub fn repo_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n').chain([text.as_ref()]) {
        check_names(line);
    }
}

fn check_names(s: &str) {
    if let Ok(id) = RepoId::parse(s) {
        assert_eq!(RepoId::parse(id.as_str()).as_ref(), Ok(&id));
        for kind in [
            RepoType::Model,
            RepoType::Dataset,
            RepoType::Space,
            RepoType::Kernel,
        ] {
            let folder = Repo {
                kind,
                id: id.clone(),
            }
            .folder_name();
            assert_eq!(single_component(&folder), Some(folder.as_str()), "{folder}");
            let (plural, rest) = folder.split_once("--").expect("type prefix");
            assert_eq!(RepoType::from_plural(plural), Some(kind));
            assert_eq!(
                rest.replace("--", "/"),
                id.as_str(),
                "folder name must be reversible"
            );
        }
    }
    if let Ok(revision) = Revision::new(s) {
        assert!(
            is_relative_normal(Path::new(revision.as_str())),
            "{revision}"
        );
        assert!(!revision.as_str().contains(['\0', '\n']), "{revision:?}");
        if let Some(commit) = revision.as_commit() {
            check_commit(&commit);
        }
    }
    if let Ok(path) = RepoPath::parse(s) {
        check_repo_path(&path);
    }
    if let Some(etag) = ETag::parse(s) {
        check_etag(&etag);
    }
    if let Some(commit) = CommitHash::parse(s) {
        check_commit(&commit);
    }
}

/// A download command line, one argument per line after `hfdl download` (the first is the
/// repo reference: `org/name`, `datasets/org/name` or `hf://...`): what resolves names a valid
/// repo, revision and file.
pub fn reference(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let args = ["hfdl", "download"].into_iter().chain(text.split('\n'));
    let Ok(cli) = cli::Cli::try_parse_from(args) else {
        return;
    };
    let cli::Command::Download(args) = cli.command else {
        return;
    };
    let Ok(settings) = Settings::for_download(*args, &FuzzEnv) else {
        return;
    };
    let request = settings.download;
    assert_eq!(
        RepoId::parse(request.repo.id.as_str()).as_ref(),
        Ok(&request.repo.id)
    );
    assert_eq!(
        Revision::new(request.revision.as_str()).as_ref(),
        Ok(&request.revision)
    );
    check_names(request.revision.as_str());
    if let Selection::One(path) = &request.selection {
        check_repo_path(path);
    }
    let (Target::Cache(dir) | Target::LocalDir(dir)) = &request.target else {
        return;
    };
    assert!(dir.is_absolute(), "{}", dir.display());
}

/// An environment with a token (so no token file is read) and a home that does not exist.
struct FuzzEnv;

impl Env for FuzzEnv {
    fn var(&self, key: &str) -> Option<String> {
        match key {
            "HF_HOME" => Some("/nonexistent/hfdl-fuzz".to_owned()),
            "HF_TOKEN" => Some("hf_fuzz".to_owned()),
            _ => None,
        }
    }

    fn home_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/nonexistent/home"))
    }
}

/// `--include`/`--exclude` patterns and paths, one per line: `+PATTERN` allows, `-PATTERN`
/// denies, anything else is a path to match. Every pattern compiles (Python's `fnmatch`, which
/// `hf download` uses, refuses none), and one without wildcards matches only itself.
pub fn patterns(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (mut allow, mut deny, mut paths) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.split('\n') {
        match line.as_bytes().first() {
            Some(b'+') => allow.push(line[1..].to_owned()),
            Some(b'-') => deny.push(line[1..].to_owned()),
            _ => paths.push(line),
        }
    }
    let filter = Filter::new(&allow, &deny).expect("fnmatch accepts every pattern");
    for path in &paths {
        let _ = filter.matches(path);
    }
    for path in paths {
        let literal =
            !path.is_empty() && !path.ends_with('/') && !path.contains(['*', '?', '[', ']', '\\']);
        if literal {
            let filter = Filter::new(&[path.to_owned()], &[]).expect("a literal pattern compiles");
            assert!(filter.matches(path), "{path:?} must match itself");
            assert!(
                !filter.matches(&format!("{path}x")),
                "{path:?} matched more"
            );
            let filter = Filter::new(&[], &[path.to_owned()]).expect("a literal pattern compiles");
            assert!(!filter.matches(path), "{path:?} must be excluded");
        }
    }
}

fn check_repo_path(path: &RepoPath) {
    let s = path.as_str();
    assert!(!s.contains(['\\', '\0']), "{s:?}");
    for segment in path.segments() {
        assert_eq!(single_component(segment), Some(segment), "{s:?}");
        assert_ne!(
            segment.as_bytes().get(1),
            Some(&b':'),
            "drive letter in {s:?}"
        );
    }
    let joined: PathBuf = path.segments().collect();
    assert!(is_relative_normal(&joined), "{s:?}");
    assert_eq!(RepoPath::parse(s).as_ref(), Ok(path));
}

/// `Some(s)` if `s` is exactly one normal path component (not empty, `.`, `..` or rooted).
fn single_component(s: &str) -> Option<&str> {
    let mut components = Path::new(s).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(c)), None) if c == s => Some(s),
        _ => None,
    }
}

fn is_relative_normal(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
        && path.components().next().is_some()
}

fn check_etag(etag: &ETag) {
    let s = etag.as_str();
    assert!(!s.is_empty() && s.len() <= 128, "{s:?}");
    assert!(
        s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{s:?}"
    );
    assert_eq!(ETag::parse(s).as_ref(), Some(etag));
    let expected = match s.len() {
        64 => Checksum::Sha256,
        40 => Checksum::GitSha1,
        _ => Checksum::None,
    };
    assert_eq!(etag.checksum(), expected);
}

fn check_commit(commit: &CommitHash) {
    let s = commit.as_str();
    assert!(s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
}
