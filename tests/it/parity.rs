//! What huggingface_hub 2.4 has that hfdl matches, judged by the installed `hf` 2.4 and its
//! library: kernel repos, the `--format` modes, `cache ls --filter/--sort/--limit`,
//! `cache verify --fail-on-*`, and the shared Xet blob store.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::interop::{tree, tree_diff};
use crate::support::fake_hub::FakeHub;
use crate::support::python::{hf_cli, run_python_ok, scrubbed_command};
use crate::support::{TestEnv, bytes, describe, run_fail, run_ok, stdout_line};

/// `hf ARGS` against `env`'s `HF_HOME` and the fake Hub, no progress bars.
fn hf(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = scrubbed_command(hf_cli());
    cmd.args(args)
        .env("HF_HOME", env.hf_home())
        .env("HF_ENDPOINT", &env.endpoint)
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("NO_COLOR", "1")
        .env_remove("AI_AGENT")
        .env_remove("AGENT");
    cmd
}

/// Runs `hf ARGS` for each of `runs` in one Python process (hf 2.4's own `main`, with its
/// stdout captured), as [`hf`] would run them one by one; returns each exit code and stdout.
fn hf_batch(env: &TestEnv, runs: &[Vec<&str>]) -> Vec<(i32, String)> {
    hf_batch_colored(env, runs, false)
}

/// [`hf_batch`], with `NO_COLOR` unset when `color`.
fn hf_batch_colored(env: &TestEnv, runs: &[Vec<&str>], color: bool) -> Vec<(i32, String)> {
    const BATCH: &str = r#"
import contextlib, io, json, os, sys
from huggingface_hub.cli.hf import main
results = []
for args in json.loads(os.environ["RUNS"]):
    sys.argv = ["hf", *args]
    buf, code = io.StringIO(), 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    results.append([code, buf.getvalue()])
print(json.dumps(results))
"#;
    let runs = serde_json::to_string(runs).unwrap();
    let home = env.hf_home();
    let vars = [
        ("RUNS", runs.as_str()),
        ("HF_HOME", home.to_str().unwrap()),
        ("HF_ENDPOINT", env.endpoint.as_str()),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("NO_COLOR", if color { "" } else { "1" }),
    ];
    let out = run_python_ok(BATCH, &vars);
    serde_json::from_str(out.lines().last().unwrap()).expect("the batch prints JSON")
}

fn hfdl(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = env.hfdl();
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// What huggingface_hub 2.4's `scan_cache_dir()` sees: warnings and `type/id` of each repo.
fn official_repos(cache: &Path) -> Value {
    const SCAN: &str = r#"
import json, os
from huggingface_hub import scan_cache_dir
info = scan_cache_dir(os.environ["CACHE"])
print(json.dumps({"warnings": [str(w) for w in info.warnings],
                  "repos": sorted(f"{r.repo_type}/{r.repo_id}" for r in info.repos)}))
"#;
    let out = run_python_ok(SCAN, &[("CACHE", cache.to_str().unwrap())]);
    serde_json::from_str(out.trim()).expect("the scan prints JSON")
}

// ------------------------------------------------------------------------------------------
// 1. Kernel repos
// ------------------------------------------------------------------------------------------

const KERNEL: &str = "org/relu";
const KERNEL_DIR: &str = "kernels--org--relu";

fn kernel_hub() -> FakeHub {
    FakeHub::builder()
        .kernel(KERNEL, |r| {
            r.file("build.toml", b"[general]\nname = \"relu\"\n")
                .lfs("build/torch-cpu/relu.so", bytes(40_000, 3))
        })
        // A model of the same id: a kernel reference must never reach it.
        .model(KERNEL, |r| {
            r.file("build.toml", b"the model, not the kernel")
        })
        .build()
}

/// Every way to name a kernel repo gives the same cache as `hf download --type kernel`, under
/// `kernels--org--relu`, with URLs under `kernels/`; the cache commands find it by type.
#[test]
fn kernel_repos_download_and_cache_like_hf() {
    let hub = kernel_hub();
    let commit = hub.commit(KERNEL, "main");
    let theirs = TestEnv::new(&hub.url());
    run_ok(&mut hf(
        &theirs,
        &["download", KERNEL, "--type", "kernel", "--format", "quiet"],
    ));
    let snapshot = format!("{KERNEL_DIR}/snapshots/{commit}");
    let keep = |p: &str| p.starts_with(KERNEL_DIR) && !p.contains("/trees");
    for reference in [
        vec![KERNEL, "--repo-type", "kernel"],
        vec!["kernels/org/relu"],
        vec!["hf://kernels/org/relu"],
    ] {
        let mine = TestEnv::new(&hub.url());
        hub.clear_requests();
        let path = mine.download(&reference);
        assert_eq!(path, mine.cache().join(&snapshot).to_str().unwrap());
        let diffs = tree_diff(&tree(&mine.cache()), &tree(&theirs.cache()), keep, false);
        assert!(
            diffs.is_empty(),
            "{reference:?}: hfdl differs from hf:\n{diffs:#?}"
        );
        let paths: Vec<String> = hub.requests().iter().map(|r| r.path.clone()).collect();
        assert!(
            paths
                .iter()
                .any(|p| p.starts_with("/api/kernels/org/relu/revision/"))
                && paths
                    .iter()
                    .any(|p| p.starts_with("/kernels/org/relu/resolve/")),
            "{reference:?}: not the kernel URLs: {paths:#?}"
        );
    }

    // One file, by a `hf://` URI with a path, reads the kernel's file, not the model's.
    let mine = TestEnv::new(&hub.url());
    let file = mine.download(&["hf://kernels/org/relu/build.toml"]);
    assert_eq!(fs::read(&file).unwrap(), b"[general]\nname = \"relu\"\n");

    // The cache commands: listed as `kernel/org/relu` as the official scanner lists it,
    // verified, and removed by type.
    mine.download(&["kernels/org/relu"]);
    let ls: Value =
        serde_json::from_slice(&run_ok(&mut hfdl(&mine, &["cache", "ls", "--json"])).stdout)
            .unwrap();
    assert_eq!(ls[0]["id"], "kernel/org/relu", "{ls:#}");
    assert_eq!(
        official_repos(&mine.cache()),
        json!({"warnings": [], "repos": ["kernel/org/relu"]})
    );
    run_ok(&mut hfdl(
        &mine,
        &["cache", "verify", KERNEL, "--repo-type", "kernel"],
    ));
    let out = run_fail(&mut hfdl(&mine, &["cache", "verify", KERNEL]));
    assert!(
        describe(&out).contains("not in the cache"),
        "{}",
        describe(&out)
    );
    run_ok(&mut hfdl(&mine, &["cache", "rm", "kernel/org/relu", "-y"]));
    assert!(!mine.cache().join(KERNEL_DIR).exists());
    assert_eq!(official_repos(&mine.cache())["repos"], json!([]));

    // The official CLI finds what hfdl cached, without downloading.
    let shared = TestEnv::new(&hub.url());
    shared.download(&["hf://kernels/org/relu"]);
    hub.clear_requests();
    let out = run_ok(&mut hf(
        &shared,
        &["download", "kernels/org/relu", "--format", "quiet"],
    ));
    assert_eq!(
        stdout_line(&out),
        shared.cache().join(&snapshot).to_str().unwrap()
    );
    let gets = hub
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/resolve/"));
    assert_eq!(gets.count(), 0, "hf downloaded again what hfdl had cached");
}

// ------------------------------------------------------------------------------------------
// 2. --format
// ------------------------------------------------------------------------------------------

fn tiny_hub() -> FakeHub {
    FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", b"{\"v\": 1}\n")
                .file("sub/notes.txt", b"some notes\n")
                .lfs("model.safetensors", bytes(120_000, 5))
        })
        .build()
}

/// stdout of `cmd`, which must succeed, with `root` replaced by `<ROOT>`.
fn printed(cmd: &mut Command, root: &Path) -> String {
    let out = run_ok(cmd);
    String::from_utf8(out.stdout)
        .expect("stdout is UTF-8")
        .replace(root.to_str().unwrap(), "<ROOT>")
}

/// Each `--format`, with and without colour, prints byte for byte what `hf download` prints,
/// for a snapshot, one file and a dry run; `auto` turns to agent where `hf` detects an agent
/// (a harness registry as `hf` caches it). JSON holds at least `hf`'s keys, with its values.
#[test]
fn download_formats_print_what_hf_prints() {
    let hub = tiny_hub();
    let (mine, theirs) = (TestEnv::new(&hub.url()), TestEnv::new(&hub.url()));
    let both = |args: &[&str], color: bool, extra: &[(&str, &str)]| {
        let mut a = hfdl(&mine, args);
        let mut b = hf(&theirs, args);
        for cmd in [&mut a, &mut b] {
            cmd.envs(extra.iter().copied());
            if color {
                cmd.env_remove("NO_COLOR");
            }
        }
        (
            printed(&mut a, &mine.cache()),
            printed(&mut b, &theirs.cache()),
        )
    };
    // A file already cached, so the dry runs show `-` for it.
    both(&["download", "org/tiny", "config.json", "-q"], false, &[]);
    for color in [false, true] {
        let mut runs: Vec<Vec<&str>> = Vec::new();
        for mode in ["human", "agent", "quiet"] {
            for args in [
                &["download", "org/tiny", "--dry-run"][..],
                &["download", "org/tiny", "sub/notes.txt"],
                &["download", "org/tiny"],
            ] {
                if args.contains(&"--dry-run") && mode == "human" {
                    continue; // hfdl's human dry run is its own (with free space)
                }
                runs.push([args, &["--format", mode]].concat());
            }
        }
        let judged = hf_batch_colored(&theirs, &runs, color);
        for (args, (code, theirs_out)) in runs.iter().zip(judged) {
            let mut cmd = hfdl(&mine, args);
            if color {
                cmd.env_remove("NO_COLOR");
            }
            let a = printed(&mut cmd, &mine.cache());
            let b = theirs_out.replace(theirs.cache().to_str().unwrap(), "<ROOT>");
            assert_eq!((code, &a), (0, &b), "{args:?} (colour: {color})");
            assert!(!a.is_empty());
        }
    }
    let (a, b) = both(&["download", "org/tiny", "--format", "json"], false, &[]);
    let (a, b): (Value, Value) = (
        serde_json::from_str(&a).unwrap(),
        serde_json::from_str(&b).unwrap(),
    );
    for (key, value) in b.as_object().unwrap() {
        assert_eq!(&a[key], value, "json key {key}: hfdl {a:#}, hf {b:#}");
    }
    assert_eq!(a["files"].as_array().map(Vec::len), Some(3), "{a:#}");

    // `auto`: an agent per the registry hf keeps in HF_HOME (fresh, so hf does not fetch it).
    let registry = r#"{"standardEnvVars": ["AI_AGENT", "AGENT"],
        "harnesses": {"tool": {"envVars": {"TOOL_SESSION": "*"}}}}"#;
    for env in [&mine, &theirs] {
        fs::write(env.hf_home().join(".agent_harnesses.json"), registry).unwrap();
    }
    for agent in [("TOOL_SESSION", "1"), ("AI_AGENT", "someone")] {
        let (a, b) = both(&["download", "org/tiny"], false, &[agent]);
        assert_eq!(a, b, "auto with {agent:?}");
        assert!(
            a.starts_with("path=<ROOT>/models--org--tiny/snapshots/"),
            "{a}"
        );
    }
    // No agent, stdout not a terminal: hf prints its human form, hfdl the bare path.
    let (a, b) = both(&["download", "org/tiny"], false, &[]);
    assert_eq!(format!("✓ Downloaded\n  path: {a}"), b);

    // `auth whoami`, as `hf auth whoami` prints it.
    for mode in ["human", "agent", "quiet"] {
        let args = ["auth", "whoami", "--format", mode];
        let token = [("HF_TOKEN", hub.token())];
        let token: Vec<(&str, &str)> = token.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (a, b) = both(&args, mode == "human", &token);
        assert_eq!(a, b, "{args:?}");
        assert!(a.contains("test-user"), "{a}");
    }

    // At most one of --format, --json and -q, as in hf (usage errors).
    for flags in [["--json", "-q"], ["--format", "json"]] {
        let mut args = vec!["download", "org/tiny", "-q"];
        args.extend(flags);
        let out = run_fail(&mut hfdl(&mine, &args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    }
}

// ------------------------------------------------------------------------------------------
// 3. cache ls --filter/--sort/--limit, cache verify --fail-on-*
// ------------------------------------------------------------------------------------------

/// A cache with repos of three types, two revisions in one, and blob times set days apart.
fn varied_cache() -> (FakeHub, TestEnv) {
    let hub = FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", b"{\"v\": 1}\n")
                .lfs("model.safetensors", bytes(250_000, 7))
                .revision("v2", |r| r.file("config.json", b"{\"v\": 2}\n"))
        })
        .model("Org/Upper", |r| r.file("a.txt", bytes(3_000, 1)))
        .dataset("org/data", |r| r.lfs("big.bin", bytes(40_000, 3)))
        .kernel(KERNEL, |r| r.file("build.toml", b"[general]\n"))
        .build();
    let env = TestEnv::new(&hub.url());
    let c1 = hub.commit("org/tiny", "main");
    env.download(&["org/tiny"]);
    env.download(&["org/tiny", "--revision", "v2"]);
    fs::remove_file(env.cache().join("models--org--tiny/refs/main")).unwrap();
    let _ = c1;
    env.download(&["Org/Upper"]);
    env.download(&["datasets/org/data"]);
    env.download(&["kernels/org/relu"]);
    let day = std::time::Duration::from_secs(86_400);
    let now = std::time::SystemTime::now();
    for (folder, days_old) in [
        ("models--org--tiny", 10),
        ("models--Org--Upper", 3),
        ("datasets--org--data", 40),
        ("kernels--org--relu", 1),
    ] {
        let blobs = env.cache().join(folder).join("blobs");
        for (i, blob) in fs::read_dir(&blobs).unwrap().enumerate() {
            let when = now - day * (days_old + i as u32);
            let times = fs::FileTimes::new().set_accessed(when).set_modified(when);
            fs::File::options()
                .write(true)
                .open(blob.unwrap().path())
                .unwrap()
                .set_times(times)
                .unwrap();
        }
    }
    (hub, env)
}

/// `hf cache ls` and `hfdl cache ls` print the same entries in the same order for every
/// filter, sort and limit, in agent and quiet modes, and refuse the same bad expressions.
#[test]
fn cache_ls_selects_like_hf() {
    let (_hub, env) = varied_cache();
    let cache = env.cache();
    let cache_arg = cache.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &[],
        &["--revisions"],
        &["--filter", "size>10KB"],
        &["-f", "size<=3k", "-f", "type=model"],
        &["--filter", "type=DATASET"],
        &["--filter", "refs=v2", "--revisions"],
        &["--filter", "refs=main"],
        &["--filter", "modified>5d"],
        &["--filter", "accessed<2w", "--revisions"],
        &["--filter", "modified!=0"],
        &["--sort", "size"],
        &["--sort", "name:desc"],
        &["--sort", "modified:asc", "--limit", "2"],
        &["--sort", "accessed"],
        &["--revisions", "--sort", "size:asc"],
        &["--revisions", "--sort", "modified"],
        &["--limit", "0"],
        &["--limit", "3", "--revisions"],
        &["--filter", "type=space"],
    ];
    let base = ["cache", "ls", "--cache-dir", cache_arg];
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for case in cases {
        for mode in ["agent", "quiet", "json"] {
            runs.push([&base[..], &["--format", mode], case].concat());
        }
    }
    let judged = hf_batch(&env, &runs);
    for (args, (code, theirs)) in runs.iter().zip(judged) {
        assert_eq!(code, 0, "hf {args:?}");
        let out = run_ok(&mut hfdl(&env, args));
        let mine = String::from_utf8(out.stdout).unwrap();
        if !args.contains(&"json") {
            assert_eq!(mine, theirs, "{args:?}");
            continue;
        }
        // JSON: the same entries in the same order.
        let ids = |text: &str| -> Vec<String> {
            let v: Value = serde_json::from_str(text).unwrap();
            let key = if args.contains(&"--revisions") {
                "revision"
            } else {
                "id"
            };
            let items = v.as_array().unwrap().iter();
            items
                .map(|e| e[key].as_str().or(e["commit"].as_str()).unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&mine), ids(&theirs), "{args:?}");
    }
    let bad: Vec<Vec<&str>> = [
        &["--filter", "size==1"][..],
        &["--filter", "color=red"],
        &["--filter", "type!=model"],
        &["--filter", "size>1XB"],
        &["--sort", "bogus"],
        &["--limit", "-1"],
    ]
    .iter()
    .map(|bad| [&base[..], bad].concat())
    .collect();
    for (args, (code, _)) in bad.iter().zip(hf_batch(&env, &bad)) {
        let a = run_fail(&mut hfdl(&env, args));
        assert_eq!(
            (a.status.code(), code),
            (Some(2), 2),
            "{args:?}\n{}",
            describe(&a)
        );
    }
}

/// `cache verify` fails as `hf cache verify` does: on a corrupt file always, on missing and
/// extra files only with `--fail-on-missing-files` / `--fail-on-extra-files`; its agent
/// output on success is `hf`'s.
#[test]
fn cache_verify_fails_like_hf() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/tiny"]);
    let cache = env.cache();
    let verify = |extra: &[&str]| {
        let mut args = vec!["cache", "verify", "org/tiny"];
        args.extend(extra);
        let a = hfdl(&env, &args).output().unwrap();
        let b = hf(&env, &args).output().unwrap();
        assert_eq!(
            a.status.code(),
            b.status.code(),
            "{args:?}\nhfdl: {}\nhf: {}",
            describe(&a),
            describe(&b)
        );
        (a, b)
    };
    let (a, b) = verify(&["--format", "agent"]);
    assert_eq!(a.status.code(), Some(0));
    let text =
        |o: &Output| String::from_utf8_lossy(&o.stdout).replace(cache.to_str().unwrap(), "<C>");
    assert_eq!(text(&a), text(&b));

    let commit = hub.commit("org/tiny", "main");
    let snapshot = cache.join("models--org--tiny/snapshots").join(&commit);
    fs::remove_file(snapshot.join("sub/notes.txt")).unwrap();
    fs::write(snapshot.join("stray.txt"), b"mine").unwrap();
    let flags = ["--fail-on-missing-files", "--fail-on-extra-files"];
    for set in [&[][..], &flags[..1], &flags[1..], &flags[..]] {
        let (a, _) = verify(set);
        assert_eq!(
            a.status.code(),
            Some(if set.is_empty() { 0 } else { 1 }),
            "{set:?}"
        );
    }
    let blob = fs::canonicalize(snapshot.join("model.safetensors")).unwrap();
    let mut damaged = fs::read(&blob).unwrap();
    damaged[10] ^= 1;
    fs::write(&blob, damaged).unwrap();
    let (a, _) = verify(&[]);
    assert_eq!(a.status.code(), Some(1));
    // What fails is listed as `hf` lists it (agent mode: corrupt, missing, extra).
    let (a, b) = verify(&["--format", "agent", flags[0], flags[1]]);
    assert_eq!(text(&a), text(&b));
    assert!(text(&a).contains("❌ Missing files"), "{}", describe(&a));
}

// ------------------------------------------------------------------------------------------
// 4. The shared blob store of Xet files
// ------------------------------------------------------------------------------------------

const SHARED_LEN: usize = 300_000;
const OWN_LEN: usize = 70_000;

/// Two Xet repos sharing one file's content (`W`); `org/b` has one of its own (`U`).
fn store_hub() -> FakeHub {
    let shared = bytes(SHARED_LEN, 11);
    FakeHub::builder()
        .model("org/a", |r| {
            r.xet()
                .file("config.json", b"{\"a\": 1}\n")
                .lfs("model.safetensors", &shared)
        })
        .model("org/b", |r| {
            r.xet()
                .file("README.md", b"# b\n")
                .lfs("weights/w.bin", &shared)
                .lfs("own.bin", bytes(OWN_LEN, 12))
        })
        .build()
}

fn shared_sha() -> String {
    crate::support::sha256_hex(&bytes(SHARED_LEN, 11))
}

/// The store as huggingface_hub 2.4's own code reads it: marked or not, every entry with its
/// valid references (relative to the cache), the unreferenced ones, the scan's warnings and
/// physical size.
fn official_store(cache: &Path) -> Value {
    const STORE: &str = r#"
import json, os
from pathlib import Path
from huggingface_hub import scan_cache_dir
from huggingface_hub.utils import _shared_blobs as sb
cache = Path(os.environ["CACHE"])
rel = lambda p: Path(p).relative_to(cache).as_posix()
entries = sorted(sb.shared_store_blob_paths(cache))
info = scan_cache_dir(cache)
print(json.dumps({
    "marked": sb.is_shared_blobs_dir(sb.shared_blobs_dir(cache)),
    "entries": {rel(e): sorted(rel(r) for r in (sb._read_valid_manifest_references(e, cache) or []))
                for e in entries},
    "unreferenced": sorted(rel(p) for p in sb.unreferenced_shared_blobs(cache)),
    "warnings": [str(w) for w in info.warnings],
    "size_on_disk": info.size_on_disk,
}))
"#;
    let out = run_python_ok(STORE, &[("CACHE", cache.to_str().unwrap())]);
    serde_json::from_str(out.trim()).expect("the store judge prints JSON")
}

/// Publishes the cached blob `sha256` of `org/a` to the store with huggingface_hub 2.4's own
/// `publish_blob_to_shared_store`, as `hf` does after a Xet download.
fn hf_publish(cache: &Path, sha256: &str, len: usize) {
    const PUBLISH: &str = r#"
import os
from pathlib import Path
from huggingface_hub.utils import _shared_blobs as sb
cache, sha, xet, size = os.environ["CACHE"], os.environ["SHA"], os.environ["XET"], int(os.environ["SIZE"])
blob = Path(cache) / "models--org--a" / "blobs" / sha
assert sb.publish_blob_to_shared_store(blob_path=str(blob), xet_hash=xet, cache_dir=cache, expected_size=size)
"#;
    let xet = crate::support::fake_hub::xet_hash(sha256);
    let size = len.to_string();
    let vars = [
        ("CACHE", cache.to_str().unwrap()),
        ("SHA", sha256),
        ("XET", xet.as_str()),
        ("SIZE", size.as_str()),
    ];
    run_python_ok(PUBLISH, &vars);
}

/// The store path of a fake-Hub Xet file, relative to the cache.
fn entry_of(sha256: &str) -> String {
    let xet = crate::support::fake_hub::xet_hash(sha256);
    format!("blobs/{}/{xet}", &xet[..2])
}

/// GETs of a content's bytes from the CDN.
fn cdn_gets(hub: &FakeHub, sha256: &str) -> usize {
    let wanted = format!("/blob/{sha256}");
    (hub.requests().iter())
        .filter(|r| r.method == "GET" && r.path.starts_with(&wanted))
        .count()
}

/// hfdl publishes what it downloads as `hf` 2.4 publishes a Xet download; `hf` 2.4 (Xet on)
/// then links the same content into another repo from the store, downloading nothing; both
/// references are valid for huggingface_hub's own reader.
#[test]
fn hf_links_from_what_hfdl_published() {
    let hub = store_hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/a"]);
    let cache = env.cache();
    let (sha, entry) = (shared_sha(), entry_of(&shared_sha()));
    let blob = cache.join("models--org--a/blobs").join(&sha);
    assert_eq!(
        fs::read_link(&blob).unwrap(),
        Path::new("../..").join(&entry),
        "the repo blob links into the store"
    );
    assert_eq!(fs::read(cache.join(&entry)).unwrap(), bytes(SHARED_LEN, 11));
    let store = official_store(&cache);
    assert_eq!(store["marked"], true, "{store:#}");
    assert_eq!(
        store["entries"],
        json!({ &entry: [format!("models--org--a/blobs/{sha}")] }),
        "{store:#}"
    );
    assert_eq!(store["warnings"], json!([]));

    hub.clear_requests();
    // Only the shared file: `hf` would fetch `own.bin` over Xet, which the fake Hub lacks.
    let mut judge = hf(
        &env,
        &["download", "org/b", "weights/w.bin", "--format", "quiet"],
    );
    judge.env_remove("HF_HUB_DISABLE_XET");
    let linked = stdout_line(&run_ok(&mut judge));
    assert_eq!(
        cdn_gets(&hub, &sha),
        0,
        "hf downloaded what the store holds"
    );
    assert!(linked.ends_with("/weights/w.bin"), "{linked}");
    assert_eq!(fs::read(linked).unwrap(), bytes(SHARED_LEN, 11));
    let store = official_store(&cache);
    let refs = &store["entries"][&entry];
    assert_eq!(
        refs,
        &json!([
            format!("models--org--a/blobs/{sha}"),
            format!("models--org--b/blobs/{sha}")
        ]),
        "{store:#}"
    );
}

/// A store written by huggingface_hub 2.4's own publishing code: hfdl links from it instead
/// of downloading, and publishes its other Xet file beside it.
#[test]
fn hfdl_links_from_what_hf_published() {
    let hub = store_hub();
    let env = TestEnv::new(&hub.url());
    run_ok(&mut hf(&env, &["download", "org/a", "--format", "quiet"]));
    let (cache, sha) = (env.cache(), shared_sha());
    hf_publish(&cache, &sha, SHARED_LEN);

    // The dry run counts what the store holds as present, as `hf` does.
    let args = ["download", "org/b", "--dry-run", "--format", "agent"];
    let mut judge = hf(&env, &args);
    judge.env_remove("HF_HUB_DISABLE_XET");
    let theirs = printed(&mut judge, &cache);
    assert_eq!(printed(&mut hfdl(&env, &args), &cache), theirs);
    assert!(theirs.contains("weights/w.bin\t-\n"), "{theirs}");

    hub.clear_requests();
    let snapshot = env.download(&["org/b"]);
    assert_eq!(
        cdn_gets(&hub, &sha),
        0,
        "hfdl downloaded what the store holds"
    );
    assert_eq!(
        fs::read(Path::new(&snapshot).join("weights/w.bin")).unwrap(),
        bytes(SHARED_LEN, 11)
    );
    let own = crate::support::sha256_hex(&bytes(OWN_LEN, 12));
    let store = official_store(&cache);
    assert_eq!(
        store["entries"],
        json!({
            entry_of(&sha): [format!("models--org--a/blobs/{sha}"), format!("models--org--b/blobs/{sha}")],
            entry_of(&own): [format!("models--org--b/blobs/{own}")],
        }),
        "{store:#}"
    );
    assert_eq!(store["warnings"], json!([]));

    // A store entry whose bytes are wrong (right size) is not trusted: hfdl downloads.
    let entry = cache.join(entry_of(&sha));
    let mut bad = fs::read(&entry).unwrap();
    bad[7] ^= 1;
    fs::set_permissions(&entry, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    fs::write(&entry, bad).unwrap();
    let other = TestEnv::new(&hub.url());
    let cache_arg = cache.to_str().unwrap();
    hub.clear_requests();
    let mut cmd = other.hfdl();
    cmd.args([
        "download",
        "org/a",
        "--cache-dir",
        cache_arg,
        "--force-download",
    ]);
    let path = stdout_line(&run_ok(&mut cmd));
    assert_eq!(cdn_gets(&hub, &sha), 1);
    assert_eq!(
        fs::read(Path::new(&path).join("model.safetensors")).unwrap(),
        bytes(SHARED_LEN, 11)
    );
}

/// What hfdl publishes is, byte for byte and mode for mode, what huggingface_hub 2.4's own
/// publishing leaves: marker, prefix folder, entry, manifest, lock and the repo's link.
#[test]
fn hfdl_publishes_the_layout_hf_publishes() {
    let hub = store_hub();
    let (mine, theirs) = (TestEnv::new(&hub.url()), TestEnv::new(&hub.url()));
    mine.download(&["org/a"]);
    run_ok(&mut hf(
        &theirs,
        &["download", "org/a", "--format", "quiet"],
    ));
    let (cache, sha) = (theirs.cache(), shared_sha());
    hf_publish(&cache, &sha, SHARED_LEN);
    let keep = |p: &str| !p.starts_with(".locks") && !p.contains("/trees");
    let diffs = tree_diff(&tree(&mine.cache()), &tree(&cache), keep, true);
    assert!(
        diffs.is_empty(),
        "hfdl's store differs from hf's:\n{diffs:#?}"
    );
}

/// The last line `hf`/`hfdl` print for a command (agent mode: the `key=value` result).
fn last_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().last().unwrap_or_default().to_owned()
}

/// Runs `hfdl cache ARGS -y --format agent` on `env`'s cache and `hf cache ARGS` on an exact
/// copy of it: both print the same result, and leave the same cache behind (`.locks` aside,
/// which `hf` keeps and hfdl deletes with a repo); file modes included.
fn deletes_like_hf(env: &TestEnv, args: &[&str]) -> String {
    let cache = env.cache();
    let twin = env.path("twin");
    let _ = fs::remove_dir_all(&twin);
    let copy = Command::new("cp")
        .arg("-a")
        .arg(&cache)
        .arg(&twin)
        .status()
        .unwrap();
    assert!(copy.success(), "cp -a");
    let tail = ["-y", "--format", "agent"];
    let mine = last_line(&run_ok(&mut hfdl(env, &[args, &tail].concat())));
    let twin_arg = twin.to_str().unwrap();
    let theirs = last_line(&run_ok(&mut hf(
        env,
        &[args, &tail, &["--cache-dir", twin_arg]].concat(),
    )));
    assert_eq!(mine, theirs, "{args:?}");
    let keep = |p: &str| !p.starts_with(".locks");
    let diffs = tree_diff(&tree(&cache), &tree(&twin), keep, true);
    assert!(
        diffs.is_empty(),
        "{args:?}: hfdl's cache differs from hf's:\n{diffs:#?}"
    );
    mine
}

/// `cache rm` drops the store's references and collects entries nothing uses any more;
/// `cache prune` collects unreferenced entries; the bytes freed are those `hf` 2.4 predicts,
/// and huggingface_hub then finds the store consistent.
#[test]
fn cache_rm_and_prune_collect_the_store_like_hf() {
    let hub = store_hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/a"]);
    env.download(&["org/b"]);
    let (cache, sha) = (env.cache(), shared_sha());
    let own = crate::support::sha256_hex(&bytes(OWN_LEN, 12));
    let ls = |env: &TestEnv| {
        let args = ["cache", "ls", "--format", "agent"];
        let a = printed(&mut hfdl(env, &args), &cache);
        let b = printed(&mut hf(env, &args), &cache);
        assert_eq!(a, b, "cache ls: hfdl and hf disagree");
    };
    ls(&env);
    let dry = |target: &str| {
        let args = ["cache", "rm", target, "--dry-run", "--format", "agent"];
        let a = last_line(&run_ok(&mut hfdl(&env, &args)));
        let b = last_line(&run_ok(&mut hf(&env, &args)));
        assert_eq!(a, b, "rm {target} --dry-run");
        a
    };
    // org/a's link goes; the entry stays for org/b: nothing of it is freed.
    assert_eq!(
        dry("model/org/a"),
        "dry_run=True repos=1 revisions=1 size=9.0"
    );
    deletes_like_hf(&env, &["cache", "rm", "model/org/a"]);
    let store = official_store(&cache);
    assert_eq!(
        store["entries"],
        json!({
            entry_of(&sha): [format!("models--org--b/blobs/{sha}")],
            entry_of(&own): [format!("models--org--b/blobs/{own}")],
        }),
        "{store:#}"
    );
    assert_eq!(
        (&store["unreferenced"], &store["warnings"]),
        (&json!([]), &json!([]))
    );
    let manifest = cache.join(format!("{}.refs", entry_of(&sha)));
    assert_eq!(
        fs::read_to_string(&manifest).unwrap(),
        format!("models--org--b/blobs/{sha}\n"),
        "the manifest is rewritten with the live references"
    );
    ls(&env);

    // The last repo using them goes: both entries are freed and collected.
    let freed = dry("model/org/b");
    let done = deletes_like_hf(&env, &["cache", "rm", "model/org/b"]);
    assert_eq!(
        freed.rsplit_once("size=").unwrap().1,
        done.rsplit_once("freed=").unwrap().1
    );
    let store = official_store(&cache);
    assert_eq!(
        (&store["entries"], &store["size_on_disk"]),
        (&json!({}), &json!(0)),
        "{store:#}"
    );
    assert!(!manifest.exists());

    // A repo folder deleted by hand leaves an unreferenced entry: prune collects it.
    env.download(&["org/a"]);
    fs::remove_dir_all(cache.join("models--org--a")).unwrap();
    let store = official_store(&cache);
    assert_eq!(store["unreferenced"], json!([entry_of(&sha)]), "{store:#}");
    let out = run_ok(&mut hfdl(&env, &["cache", "ls"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 unreferenced shared blob(s)"),
        "{}",
        describe(&out)
    );
    let args = ["cache", "prune", "--dry-run", "--format", "agent"];
    let a = last_line(&run_ok(&mut hfdl(&env, &args)));
    let b = last_line(&run_ok(&mut hf(&env, &args)));
    assert_eq!(a, b);
    assert_eq!(
        a,
        "dry_run=True revisions=0 incomplete=0 shared_blobs=1 size=300.0K"
    );
    deletes_like_hf(&env, &["cache", "prune"]);
    let store = official_store(&cache);
    assert_eq!(
        (&store["entries"], &store["unreferenced"]),
        (&json!({}), &json!([])),
        "{store:#}"
    );
}
