//! What huggingface_hub 2.4 has that hfdl matches, judged by the installed `hf` 2.4 and its
//! library: kernel repos, the `--format` modes, `cache ls --filter/--sort/--limit`,
//! `cache verify --fail-on-*`, and the shared Xet blob store.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

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
        .env("NO_COLOR", "1");
    cmd
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
