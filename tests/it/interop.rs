//! Sharing with the official client, both ways, judged by huggingface_hub 2.4.0 itself: what
//! one tool put in a cache or a local dir, the other finds there without transferring a byte.
//!
//! Every "nothing transferred" claim is checked on the fake Hub's request log: no GET of a
//! `resolve` URL and nothing at all from the CDN. API calls and HEADs are allowed, and each test
//! also checks that the judge did reach the Hub (or, offline, that nothing did), so an empty log
//! cannot pass by accident.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::support::fake_hub::{FakeHub, Origin, Recorded, RepoBuilder};
use crate::support::python::{MirrorRepo, Olah, hf_cli, run_python_ok, scrubbed_command};
use crate::support::{TestEnv, bytes, describe, run_ok, sha256_hex, stdout_line};

const REPO: &str = "org/x";
const REPO_DIR: &str = "models--org--x";
/// Above hfdl's 16 MiB split threshold, so one file goes through parallel ranges.
const BIG: usize = 17 << 20;

// ------------------------------------------------------------------------------------------
// The repo
// ------------------------------------------------------------------------------------------

/// One file of `org/x`.
struct RepoFile {
    path: &'static str,
    data: Vec<u8>,
    lfs: bool,
}

impl RepoFile {
    /// The blob name both clients must use: sha256 for LFS, git blob sha1 otherwise.
    fn etag(&self) -> String {
        if self.lfs {
            sha256_hex(&self.data)
        } else {
            git_sha1(&self.data)
        }
    }
}

/// Regular and LFS files, a nested path, a name with spaces and brackets, an empty file,
/// non-ASCII names, a backslash in a name (accepted by the official client), and two pairs of
/// paths with identical content (one LFS, one regular).
fn x_files() -> Vec<RepoFile> {
    let f = |path, data: &[u8], lfs| RepoFile {
        path,
        data: data.to_vec(),
        lfs,
    };
    vec![
        f("config.json", br#"{"model_type": "x"}"#, false),
        f("README.md", b"# x\n", false),
        f("sub/dir/notes.txt", b"nested notes\n", false),
        f("sub/dir/weights.bin", &bytes(200_000, 2), true),
        f("with space [v1] (x).txt", b"odd name", false),
        f("empty.txt", b"", false),
        f("dïr/naïve ☃ файл.txt", "non-ASCII ✓".as_bytes(), false),
        f("back\\slash.txt", b"a backslash is part of the name", false),
        f("model.safetensors", &bytes(300_000, 1), true),
        f("copy of model.safetensors", &bytes(300_000, 1), true),
        f("a/same.txt", b"same", false),
        f("b/same.txt", b"same", false),
        f("big.bin", &bytes(BIG, 3), true),
    ]
}

fn x_repo(files: &[RepoFile], r: RepoBuilder) -> RepoBuilder {
    files.iter().fold(r, |r, f| {
        if f.lfs {
            r.lfs(f.path, &f.data)
        } else {
            r.file(f.path, &f.data)
        }
    })
}

fn x_hub(files: &[RepoFile]) -> FakeHub {
    FakeHub::builder().model(REPO, |r| x_repo(files, r)).build()
}

fn names(files: &[RepoFile]) -> Vec<&'static str> {
    files.iter().map(|f| f.path).collect()
}

fn git_sha1(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()));
    h.update(data);
    hex::encode(h.finalize())
}

/// Sum of the sizes of the distinct contents (what blobs take on disk), and their count.
fn unique_blobs(files: &[RepoFile]) -> (u64, usize) {
    let mut blobs = BTreeMap::new();
    for f in files {
        blobs.insert(f.etag(), f.data.len() as u64);
    }
    (blobs.values().sum(), blobs.len())
}

// ------------------------------------------------------------------------------------------
// What the fake Hub was asked
// ------------------------------------------------------------------------------------------

/// Requests that moved (or could have moved) file bytes: a GET of a resolve URL, anything to
/// the CDN, or any response with a body on those routes.
fn file_transfers(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|r| {
            let resolve = r.path.contains("/resolve/");
            r.origin == Origin::Cdn
                || (resolve && r.method == "GET")
                || (resolve && r.body_bytes > 0)
        })
        .collect()
}

#[track_caller]
fn assert_no_transfer(hub: &FakeHub, who: &str) {
    let requests = hub.requests();
    let transfers = file_transfers(&requests);
    assert!(
        transfers.is_empty(),
        "{who} transferred file bytes although everything was already there: {transfers:#?}"
    );
}

/// The judge (or hfdl) did talk to the Hub: it resolved the revision or read file metadata.
#[track_caller]
fn assert_reached_hub(hub: &FakeHub, who: &str) {
    let requests = hub.requests();
    assert!(
        requests.iter().any(|r| r.origin == Origin::Hub),
        "{who} sent no request at all; was it pointed at the fake Hub? {requests:#?}"
    );
}

#[track_caller]
fn assert_no_request(hub: &FakeHub, who: &str) {
    let requests = hub.requests();
    assert!(
        requests.is_empty(),
        "{who} is offline but sent requests: {requests:#?}"
    );
}

// ------------------------------------------------------------------------------------------
// The judge: huggingface_hub 2.4.0 in the test venv
// ------------------------------------------------------------------------------------------

/// Environment for the official client: the test's `HF_HOME`, the fake Hub, no progress bars.
fn judge_env(env: &TestEnv, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HF_HOME", env.hf_home().display().to_string()),
        ("HF_ENDPOINT", endpoint.to_owned()),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1".to_owned()),
    ]
}

fn offline(mut vars: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    vars.push(("HF_HUB_OFFLINE", "1".to_owned()));
    vars
}

/// Shared by every script: arguments come as JSON in `HFDL_ARGS`, the result goes out as one
/// `@@json` line on stdout.
const PRELUDE: &str = r#"
import json, os
from pathlib import Path
A = json.loads(os.environ["HFDL_ARGS"])
def emit(value):
    print("@@json " + json.dumps(value))
def as_text(value):
    return value if isinstance(value, str) else repr(value)
"#;

/// Cache mode: `snapshot_download`, `hf_hub_download` per file, and optionally
/// `try_to_load_from_cache` per file.
const CACHE_LOOKUPS: &str = r#"
from huggingface_hub import snapshot_download, hf_hub_download, try_to_load_from_cache
repo, rev, files = A["repo"], A.get("revision"), A["files"]
out = {"snapshot": snapshot_download(repo, revision=rev)}
out["files"] = {f: hf_hub_download(repo, f, revision=rev) for f in files}
if A.get("try_cache"):
    out["cached"] = {f: as_text(try_to_load_from_cache(repo, f, revision=rev)) for f in files}
emit(out)
"#;

/// `scan_cache_dir()` of the default cache, as JSON.
const SCAN: &str = r#"
from huggingface_hub import scan_cache_dir
info = scan_cache_dir()
def revision(v):
    return {"commit": v.commit_hash, "refs": sorted(v.refs), "nb_files": v.nb_files,
            "size_on_disk": v.size_on_disk, "snapshot": str(v.snapshot_path),
            "files": sorted(f.file_path.relative_to(v.snapshot_path).as_posix() for f in v.files)}
emit({"warnings": [str(w) for w in info.warnings],
      "incomplete": sorted(str(f.file_path) for f in info.incomplete_files),
      "size_on_disk": info.size_on_disk,
      "repos": [{"repo_id": r.repo_id, "repo_type": r.repo_type, "size_on_disk": r.size_on_disk,
                 "nb_files": r.nb_files, "revisions": [revision(v) for v in r.revisions]}
                for r in info.repos]})
"#;

/// Local-dir mode: the `.metadata` of every file as the official reader sees it, then
/// `snapshot_download(local_dir=)` and/or `hf_hub_download(local_dir=)` per file (`A["do"]`).
const LOCAL_DIR_LOOKUPS: &str = r#"
from huggingface_hub import snapshot_download, hf_hub_download
from huggingface_hub._local_folder import read_download_metadata
repo, d, files = A["repo"], A["dir"], A["files"]
def meta(f):
    m = read_download_metadata(Path(d), f)
    return None if m is None else {"commit": m.commit_hash, "etag": m.etag}
out = {"meta": {f: meta(f) for f in files}}
if "snapshot" in A["do"]:
    out["snapshot"] = snapshot_download(repo, local_dir=d)
if "files" in A["do"]:
    out["files"] = {f: hf_hub_download(repo, f, local_dir=d) for f in files}
emit(out)
"#;

/// Runs a judge script with `args` in `HFDL_ARGS`; returns what it emitted.
fn judge(script: &str, vars: &[(&str, String)], args: &Value) -> Value {
    let args = args.to_string();
    let mut envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.push(("HFDL_ARGS", &args));
    let out = run_python_ok(&format!("{PRELUDE}\n{script}"), &envs);
    let line = out.lines().rev().find_map(|l| l.strip_prefix("@@json "));
    let line = line.unwrap_or_else(|| panic!("the judge emitted no result:\n{out}"));
    serde_json::from_str(line).expect("the judge emits JSON")
}

/// `hf download ARGS --format quiet` (Xet off, as `scrub_env` sets); returns the printed path.
fn hf_download(vars: &[(&str, String)], args: &[&str]) -> String {
    let mut cmd = scrubbed_command(hf_cli());
    cmd.arg("download").args(args).args(["--format", "quiet"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    stdout_line(&run_ok(&mut cmd))
}

/// `hfdl download ARGS` with extra environment; returns the printed path.
fn hfdl_download(mut cmd: Command, args: &[&str]) -> String {
    stdout_line(&run_ok(cmd.arg("download").args(args)))
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

#[track_caller]
fn assert_files(dir: &Path, files: &[RepoFile], who: &str) {
    for f in files {
        let got = fs::read(dir.join(f.path))
            .unwrap_or_else(|e| panic!("{who}: cannot read {}: {e}", f.path));
        assert!(got == f.data, "{who}: wrong bytes in {}", f.path);
    }
}

// ------------------------------------------------------------------------------------------
// On-disk trees, for comparing caches
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Dir,
    File { len: u64, sha256: String },
    Link(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    node: Node,
    mode: u32,
}

/// Everything under `root`, symlinks not followed, keyed by relative path.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk_tree(root, root, &mut out);
    out
}

fn walk_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("read_dir entry").path();
        let meta = fs::symlink_metadata(&path).expect("stat");
        let node = if meta.file_type().is_symlink() {
            Node::Link(fs::read_link(&path).expect("readlink"))
        } else if meta.is_dir() {
            walk_tree(root, &path, out);
            Node::Dir
        } else {
            let data = fs::read(&path).expect("read");
            Node::File {
                len: data.len() as u64,
                sha256: sha256_hex(&data),
            }
        };
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mode = meta.permissions().mode() & 0o7777;
        out.insert(rel, Entry { node, mode });
    }
}

/// Differences between `a` (hfdl's) and `b` (hf's) for the paths `keep` selects; modes are
/// compared only with `modes`.
pub(crate) fn tree_diff(
    a: &BTreeMap<String, Entry>,
    b: &BTreeMap<String, Entry>,
    keep: impl Fn(&str) -> bool,
    modes: bool,
) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).filter(|k| keep(k)).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        match (a.get(key), b.get(key)) {
            (Some(x), None) => out.push(format!("only hfdl has {key}: {x:?}")),
            (None, Some(y)) => out.push(format!("only hf has {key}: {y:?}")),
            (Some(x), Some(y)) if x.node != y.node => {
                out.push(format!("{key} differs: hfdl {x:?}, hf {y:?}"));
            }
            (Some(x), Some(y)) if modes && x.mode != y.mode => {
                out.push(format!("{key} mode: hfdl {:o}, hf {:o}", x.mode, y.mode));
            }
            _ => {}
        }
    }
    out
}

/// The repo folder, minus `trees/` (the official client's listing cache, which hfdl may skip).
fn is_compared(path: &str) -> bool {
    let Some(rest) = path.strip_prefix(REPO_DIR) else {
        return false;
    };
    rest.starts_with('/') && !rest.starts_with("/trees")
}

#[expect(
    clippy::print_stderr,
    reason = "tolerated cache differences are shown with --nocapture, never asserted"
)]
fn report_tolerated(step: &str, diffs: &[String]) {
    if !diffs.is_empty() {
        eprintln!(
            "[interop] {step}: tolerated differences (hfdl vs hf):\n  {}",
            diffs.join("\n  ")
        );
    }
}

// ------------------------------------------------------------------------------------------
// 1. Cache, hfdl first
// ------------------------------------------------------------------------------------------

/// Online, the official client finds hfdl's snapshot and every file in it: same paths, only
/// API calls and HEADs.
#[test]
fn official_client_online_reuses_the_hfdl_cache() {
    let files = x_files();
    let hub = x_hub(&files);
    let env = TestEnv::new(&hub.url());
    let snapshot = env.download(&[REPO]);
    assert!(
        !file_transfers(&hub.requests()).is_empty(),
        "hfdl downloaded"
    );
    hub.clear_requests();

    let args = json!({ "repo": REPO, "files": names(&files) });
    let got = judge(CACHE_LOOKUPS, &judge_env(&env, &hub.url()), &args);
    assert_eq!(got["snapshot"], snapshot, "snapshot_download path");
    for f in &files {
        let expected = format!("{snapshot}/{}", f.path);
        assert_eq!(got["files"][f.path], expected, "hf_hub_download path");
    }
    assert_no_transfer(&hub, "the official client (online, cache)");
    let requests = hub.requests();
    let revision = format!("/api/models/{REPO}/revision/main");
    assert!(
        requests.iter().any(|r| r.path.starts_with(&revision)),
        "snapshot_download resolved main online: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.method == "HEAD" && r.path.contains("/resolve/")),
        "hf_hub_download checked the files online: {requests:#?}"
    );
    assert_files(Path::new(&snapshot), &files, "the shared snapshot");
}

/// Offline, the official client finds every file of hfdl's snapshot, through
/// `snapshot_download`, `hf_hub_download`, `try_to_load_from_cache` and `hf download`.
#[test]
fn official_client_offline_finds_the_hfdl_cache() {
    let files = x_files();
    let hub = x_hub(&files);
    let env = TestEnv::new(&hub.url());
    let snapshot = env.download(&[REPO]);
    hub.clear_requests();

    let vars = offline(judge_env(&env, &hub.url()));
    let args = json!({ "repo": REPO, "files": names(&files), "try_cache": true });
    let got = judge(CACHE_LOOKUPS, &vars, &args);
    assert_eq!(
        got["snapshot"], snapshot,
        "snapshot_download path (offline)"
    );
    for f in &files {
        let expected = format!("{snapshot}/{}", f.path);
        assert_eq!(got["files"][f.path], expected, "hf_hub_download (offline)");
        assert_eq!(got["cached"][f.path], expected, "try_to_load_from_cache");
    }
    assert_eq!(
        hf_download(&vars, &[REPO]),
        snapshot,
        "hf download (offline)"
    );
    let one = hf_download(&vars, &[REPO, "sub/dir/weights.bin"]);
    assert_eq!(one, format!("{snapshot}/sub/dir/weights.bin"));
    assert_no_request(&hub, "the official client");
}

/// `scan_cache_dir()` sees hfdl's cache as healthy: one repo, no warning, no partial file,
/// the right sizes and counts.
#[test]
fn scan_cache_dir_accepts_the_hfdl_cache() {
    let files = x_files();
    let hub = x_hub(&files);
    let env = TestEnv::new(&hub.url());
    let snapshot = env.download(&[REPO]);
    let commit = hub.commit(REPO, "main");

    let scan = judge(SCAN, &judge_env(&env, &hub.url()), &json!({}));
    assert_eq!(scan["warnings"], json!([]), "scan_cache_dir warnings");
    assert_eq!(scan["incomplete"], json!([]), "orphaned partial files");
    let (size, blobs) = unique_blobs(&files);
    assert_eq!(scan["size_on_disk"], size, "cache size_on_disk");
    let repos = scan["repos"].as_array().expect("repos");
    assert_eq!(repos.len(), 1, "{scan:#}");
    let repo = &repos[0];
    assert_eq!(
        (&repo["repo_id"], &repo["repo_type"]),
        (&json!(REPO), &json!("model"))
    );
    assert_eq!(repo["size_on_disk"], size, "repo size_on_disk");
    assert_eq!(
        repo["nb_files"], blobs,
        "repo nb_files counts distinct blobs"
    );
    let revisions = repo["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 1, "{scan:#}");
    let rev = &revisions[0];
    assert_eq!(rev["commit"], commit);
    assert_eq!(rev["refs"], json!(["main"]));
    assert_eq!(rev["snapshot"], snapshot);
    assert_eq!(rev["nb_files"], files.len());
    assert_eq!(rev["size_on_disk"], size);
    let mut expected = names(&files);
    expected.sort_unstable();
    assert_eq!(rev["files"], json!(expected));
}

// ------------------------------------------------------------------------------------------
// 2. Cache, official client first
// ------------------------------------------------------------------------------------------

/// After `hf download` (into `HF_HUB_CACHE`), hfdl transfers nothing, prints the same paths,
/// and leaves the cache exactly as it was.
#[test]
fn hfdl_reuses_the_official_cache() {
    let files = x_files();
    let hub = x_hub(&files);
    let env = TestEnv::new(&hub.url());
    let cache = env.path("shared-cache");
    let mut vars = judge_env(&env, &hub.url());
    vars.push(("HF_HUB_CACHE", s(&cache).to_owned()));
    let official = hf_download(&vars, &[REPO]);
    let commit = hub.commit(REPO, "main");
    let expected = cache.join(REPO_DIR).join("snapshots").join(&commit);
    assert_eq!(official, s(&expected), "hf download path");
    assert!(!file_transfers(&hub.requests()).is_empty(), "hf downloaded");
    let before = tree(&cache);
    hub.clear_requests();

    let hfdl = || {
        let mut cmd = env.hfdl();
        cmd.env("HF_HUB_CACHE", &cache);
        cmd
    };
    assert_eq!(
        hfdl_download(hfdl(), &[REPO]),
        official,
        "hfdl snapshot path"
    );
    assert_no_transfer(&hub, "hfdl (snapshot over the official cache)");
    assert_reached_hub(&hub, "hfdl");
    for f in &files {
        hub.clear_requests();
        let out = hfdl_download(hfdl(), &[REPO, f.path]);
        assert_eq!(
            out,
            format!("{official}/{}", f.path),
            "hfdl single-file path"
        );
        assert_no_transfer(&hub, &format!("hfdl (single file {})", f.path));
    }
    let changes = tree_diff(&tree(&cache), &before, |_| true, true);
    assert!(
        changes.is_empty(),
        "hfdl changed the official cache while reusing it:\n{changes:#?}"
    );
    assert!(
        !env.cache().exists(),
        "HF_HUB_CACHE wins over HF_HOME: nothing goes to {}",
        env.cache().display()
    );
}

// ------------------------------------------------------------------------------------------
// 3. Snapshot equality
// ------------------------------------------------------------------------------------------

/// The same repo at `main`, a tag, `refs/pr/1` and a commit hash, downloaded by hfdl into one
/// cache and by `hf download` into another: same blobs, refs and snapshot symlinks.
#[test]
fn hfdl_and_hf_build_identical_snapshots() {
    let files = x_files();
    let hub = FakeHub::builder()
        .model(REPO, |r| {
            x_repo(&files, r)
                .revision("v1.0", |r| {
                    r.file("config.json", br#"{"model_type": "x", "v": 1}"#)
                        .lfs("model.safetensors", bytes(300_000, 9))
                        .remove("big.bin")
                })
                .revision("refs/pr/1", |r| {
                    r.file("pr.txt", b"from a pull request")
                        .lfs("sub/dir/pr.bin", bytes(100_000, 5))
                        .remove("README.md")
                })
        })
        .build();
    let mine = TestEnv::new(&hub.url());
    let theirs = TestEnv::new(&hub.url());
    let vars = judge_env(&theirs, &hub.url());
    let main_commit = hub.commit(REPO, "main");
    for revision in ["main", "v1.0", "refs/pr/1", main_commit.as_str()] {
        let args = [REPO, "--revision", revision];
        let a = mine.download(&args);
        let b = hf_download(&vars, &args);
        let commit = hub.commit(REPO, revision);
        let tail = format!("{REPO_DIR}/snapshots/{commit}");
        assert_eq!(a, s(&mine.cache().join(&tail)), "hfdl path at {revision}");
        assert_eq!(b, s(&theirs.cache().join(&tail)), "hf path at {revision}");

        let (ta, tb) = (tree(&mine.cache()), tree(&theirs.cache()));
        let diffs = tree_diff(&ta, &tb, is_compared, false);
        assert!(
            diffs.is_empty(),
            "after --revision {revision}, hfdl's {REPO_DIR} differs from hf's:\n{diffs:#?}"
        );
        let tolerated = tree_diff(&ta, &tb, |_| true, true);
        report_tolerated(&format!("--revision {revision}"), &tolerated);
    }
    let refs = mine.cache().join(REPO_DIR).join("refs");
    for (name, revision) in [
        ("main", "main"),
        ("v1.0", "v1.0"),
        ("refs/pr/1", "refs/pr/1"),
    ] {
        let text = fs::read(refs.join(name)).expect("ref written");
        assert_eq!(text, hub.commit(REPO, revision).as_bytes(), "refs/{name}");
    }
    let refs_count = tree(&refs).values().filter(|e| e.node != Node::Dir).count();
    assert_eq!(refs_count, 3, "no ref for a commit hash");
    let snapshot = mine
        .cache()
        .join(REPO_DIR)
        .join("snapshots")
        .join(&main_commit);
    assert_files(&snapshot, &files, "hfdl's main snapshot");
}

// ------------------------------------------------------------------------------------------
// 4. Local dir, both ways
// ------------------------------------------------------------------------------------------

/// The `.metadata` records as the official reader parses them match the files.
#[track_caller]
fn assert_metadata(got: &Value, files: &[RepoFile], commit: &str, who: &str) {
    for f in files {
        let expected = json!({ "commit": commit, "etag": f.etag() });
        assert_eq!(
            got["meta"][f.path], expected,
            "{who}: metadata of {} as read by huggingface_hub",
            f.path
        );
    }
}

/// After `hfdl --local-dir D`, the official client accepts its metadata and finds every file:
/// offline first (on hfdl's state alone), then online, where `snapshot_download` needs no file
/// request at all and `hf_hub_download` and `hf download` transfer nothing.
#[test]
fn official_client_reuses_an_hfdl_local_dir() {
    let files = x_files();
    let hub = x_hub(&files);
    let env = TestEnv::new(&hub.url());
    let dir = env.path("local");
    let d = s(&dir);
    assert_eq!(env.download(&[REPO, "--local-dir", d]), d);
    let commit = hub.commit(REPO, "main");
    let vars = judge_env(&env, &hub.url());
    let args =
        |what: &[&str]| json!({ "repo": REPO, "dir": d, "files": names(&files), "do": what });

    hub.clear_requests();
    let got = judge(
        LOCAL_DIR_LOOKUPS,
        &offline(vars.clone()),
        &args(&["snapshot", "files"]),
    );
    assert_metadata(&got, &files, &commit, "hfdl's local dir");
    assert_eq!(got["snapshot"], d, "snapshot_download(local_dir=) offline");
    for f in &files {
        assert_eq!(got["files"][f.path], s(&dir.join(f.path)), "offline");
    }
    assert_no_request(&hub, "the official client");

    let got = judge(LOCAL_DIR_LOOKUPS, &vars, &args(&["snapshot"]));
    assert_metadata(&got, &files, &commit, "hfdl's local dir");
    assert_eq!(got["snapshot"], d, "snapshot_download(local_dir=)");
    let requests = hub.requests();
    let file_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == Origin::Cdn || r.path.contains("/resolve/"))
        .collect();
    assert!(
        file_requests.is_empty(),
        "metadata at the commit lets snapshot_download skip every file: {file_requests:#?}"
    );
    assert_reached_hub(&hub, "snapshot_download(local_dir=)");

    hub.clear_requests();
    let got = judge(LOCAL_DIR_LOOKUPS, &vars, &args(&["files"]));
    for f in &files {
        let expected = s(&dir.join(f.path)).to_owned();
        assert_eq!(
            got["files"][f.path], expected,
            "hf_hub_download(local_dir=)"
        );
    }
    assert_no_transfer(&hub, "hf_hub_download(local_dir=) (online)");
    assert_reached_hub(&hub, "hf_hub_download(local_dir=)");

    hub.clear_requests();
    assert_eq!(hf_download(&vars, &[REPO, "--local-dir", d]), d);
    assert_no_transfer(&hub, "hf download --local-dir (online)");
    assert_files(&dir, &files, "the shared local dir");
}

/// After `hf download --local-dir D`, hfdl transfers nothing (snapshot and single files), and
/// the official client, online or offline, still accepts the dir afterwards.
#[test]
fn hfdl_reuses_an_official_local_dir() {
    let files = x_files();
    let hub = x_hub(&files);
    let env = TestEnv::new(&hub.url());
    let dir = env.path("local");
    let d = s(&dir);
    let vars = judge_env(&env, &hub.url());
    assert_eq!(hf_download(&vars, &[REPO, "--local-dir", d]), d);
    assert!(!file_transfers(&hub.requests()).is_empty(), "hf downloaded");
    let commit = hub.commit(REPO, "main");

    hub.clear_requests();
    assert_eq!(env.download(&[REPO, "--local-dir", d]), d);
    assert_no_transfer(&hub, "hfdl --local-dir over hf's local dir");
    assert_reached_hub(&hub, "hfdl");
    for f in &files {
        hub.clear_requests();
        let out = env.download(&[REPO, f.path, "--local-dir", d]);
        assert_eq!(out, s(&dir.join(f.path)));
        assert_no_transfer(&hub, &format!("hfdl --local-dir (single file {})", f.path));
    }
    assert_files(&dir, &files, "the shared local dir");

    let args =
        |what: &[&str]| json!({ "repo": REPO, "dir": d, "files": names(&files), "do": what });
    hub.clear_requests();
    let got = judge(LOCAL_DIR_LOOKUPS, &vars, &args(&["snapshot"]));
    assert_metadata(&got, &files, &commit, "the local dir after hfdl");
    assert_eq!(got["snapshot"], d);
    assert_no_transfer(&hub, "snapshot_download(local_dir=) after hfdl");

    hub.clear_requests();
    let got = judge(
        LOCAL_DIR_LOOKUPS,
        &offline(vars),
        &args(&["snapshot", "files"]),
    );
    assert_eq!(got["snapshot"], d, "snapshot_download(local_dir=) offline");
    for f in &files {
        assert_eq!(got["files"][f.path], s(&dir.join(f.path)), "offline");
    }
    assert_no_request(&hub, "the official client");
}

// ------------------------------------------------------------------------------------------
// 5. olah, a real third-party Hub-compatible server
// ------------------------------------------------------------------------------------------

/// hfdl through olah (offline, serving a local git repo with a regular and an LFS file) into a
/// cache and a local dir: the bytes are the source's, the blobs and metadata carry the right
/// etags, and the official client finds everything offline.
#[test]
fn hfdl_through_olah_is_read_by_the_official_client() {
    let mirrors = tempfile::tempdir().expect("temp dir");
    let repo = MirrorRepo::create(mirrors.path(), "model", "org/olah-x");
    let files = vec![
        RepoFile {
            path: "config.json",
            data: br#"{"model_type": "olah"}"#.to_vec(),
            lfs: false,
        },
        RepoFile {
            path: "sub/dir/notes.txt",
            data: b"nested, through olah\n".to_vec(),
            lfs: false,
        },
        RepoFile {
            path: "model.safetensors",
            data: bytes(1_500_000, 11),
            lfs: true,
        },
    ];
    let sources: Vec<(&str, &[u8])> = files.iter().map(|f| (f.path, &f.data[..])).collect();
    let commit = repo.commit(&sources, &["model.safetensors"], "initial commit");
    let olah = Olah::start(mirrors.path());
    let env = TestEnv::new(&olah.url());
    let repo_id = "org/olah-x";

    let run = |args: &[&str]| {
        let out = env
            .hfdl()
            .arg("download")
            .args(args)
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "hfdl failed against olah, a real Hub-compatible server (see the quirks in \
             support/python.rs); `hf download` works there:\n{}\n--- olah log ---\n{}",
            describe(&out),
            olah.output()
        );
        stdout_line(&out)
    };
    let snapshot = run(&[repo_id]);
    let repo_dir = env.cache().join("models--org--olah-x");
    assert_eq!(snapshot, s(&repo_dir.join("snapshots").join(&commit)));
    assert_files(Path::new(&snapshot), &files, "hfdl's snapshot through olah");
    for f in &files {
        let blob = repo_dir.join("blobs").join(f.etag());
        assert!(blob.is_file(), "blob {} for {}", f.etag(), f.path);
    }
    assert_eq!(
        fs::read(repo_dir.join("refs/main")).unwrap(),
        commit.as_bytes()
    );

    let dir = env.path("local");
    let d = s(&dir);
    assert_eq!(run(&[repo_id, "--local-dir", d]), d);
    assert_files(&dir, &files, "hfdl's local dir through olah");

    let vars = offline(judge_env(&env, &olah.url()));
    let names: Vec<&str> = files.iter().map(|f| f.path).collect();
    let args = json!({ "repo": repo_id, "files": names, "try_cache": true });
    let got = judge(CACHE_LOOKUPS, &vars, &args);
    assert_eq!(got["snapshot"], snapshot, "snapshot_download (offline)");
    for f in &files {
        let expected = format!("{snapshot}/{}", f.path);
        assert_eq!(got["files"][f.path], expected, "hf_hub_download (offline)");
        assert_eq!(got["cached"][f.path], expected, "try_to_load_from_cache");
    }
    let args = json!({ "repo": repo_id, "dir": d, "files": names, "do": ["snapshot", "files"] });
    let got = judge(LOCAL_DIR_LOOKUPS, &vars, &args);
    assert_metadata(&got, &files, &commit, "hfdl's local dir through olah");
    assert_eq!(got["snapshot"], d);
    for f in &files {
        assert_eq!(got["files"][f.path], s(&dir.join(f.path)), "offline");
    }
}
