//! `hfdl cache ls|rm|prune|verify` on caches written by `hfdl download` (and by the official
//! client) from the fake Hub. After every change, huggingface_hub 2.4.0's `scan_cache_dir()`
//! must see no corruption and the same repos and revisions as `hfdl cache ls --json`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::support::fake_hub::FakeHub;
use crate::support::python::{hf_cli, run_python_ok, scrubbed_command};
use crate::support::{TestEnv, bytes, describe, run_fail, run_ok, sha256_hex, stderr};

const TINY: &str = "models--org--tiny";
const DATA: &str = "datasets--org--data";
const CONFIG_V1: &[u8] = b"{\"v\": 1}\n";
const CONFIG_V2: &[u8] = b"{\"v\": 2, \"extra\": true}\n";
const EXTRA: &[u8] = b"added in v2\n";
const WEIGHTS_LEN: usize = 250_000;
const TRAIN_LEN: usize = 1_234;
const BIG_LEN: usize = 5_000;

fn weights() -> Vec<u8> {
    bytes(WEIGHTS_LEN, 7)
}

/// `org/tiny`: `main` and a branch `v2` sharing the weights; `org/data`, a dataset.
fn hub() -> FakeHub {
    FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", CONFIG_V1)
                .lfs("model.safetensors", weights())
                .revision("v2", |r| {
                    r.file("config.json", CONFIG_V2)
                        .file("notes/extra.txt", EXTRA)
                })
        })
        .dataset("org/data", |r| {
            r.file("train.csv", bytes(TRAIN_LEN, 9))
                .lfs("big.bin", bytes(BIG_LEN, 3))
        })
        .build()
}

/// The git blob sha1 hfdl and the Hub name a regular file by.
fn git_sha1(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()));
    h.update(data);
    hex::encode(h.finalize())
}

/// Leftovers planted in `org/tiny`'s `blobs/`.
struct Leftovers {
    partial: PathBuf,
    journal: PathBuf,
    orphan_journal: PathBuf,
    unreferenced: PathBuf,
}

/// A cache as a user ends up with it: `org/tiny` at `c1` (detached once `main` moved to
/// `c2`) and `c2` (`main`, `v2`), `org/data` at `main`, and leftovers in `org/tiny`.
struct Populated {
    env: TestEnv,
    c1: String,
    c2: String,
    leftovers: Leftovers,
}

fn populated(hub: &FakeHub) -> Populated {
    let env = TestEnv::new(&hub.url());
    let c1 = hub.commit("org/tiny", "main");
    let c2 = hub.commit("org/tiny", "v2");
    env.download(&["org/tiny"]);
    env.download(&["org/tiny", "--revision", &c2]);
    env.download(&["org/tiny", "--revision", "v2"]);
    // Upstream moved `main`; a later download recorded it.
    fs::write(env.cache().join(TINY).join("refs/main"), &c2).unwrap();
    env.download(&["org/data", "--repo-type", "dataset"]);
    let leftovers = plant_leftovers(&env.cache().join(TINY).join("blobs"));
    Populated {
        env,
        c1,
        c2,
        leftovers,
    }
}

fn plant_leftovers(blobs: &Path) -> Leftovers {
    let partial = blobs.join(format!("{}.incomplete", "a".repeat(64)));
    let journal = blobs.join(format!("{}.incomplete.journal", "a".repeat(64)));
    let orphan_journal = blobs.join(format!("{}.incomplete.journal", "b".repeat(40)));
    let unreferenced = blobs.join(sha256_hex(b"nobody links me"));
    fs::write(&partial, bytes(1_000, 1)).unwrap();
    fs::write(&journal, b"{\"version\":1}").unwrap();
    fs::write(&orphan_journal, b"{\"version\":1}").unwrap();
    fs::write(&unreferenced, b"nobody links me").unwrap();
    Leftovers {
        partial,
        journal,
        orphan_journal,
        unreferenced,
    }
}

fn cache_cmd(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = env.hfdl();
    cmd.arg("cache").args(args).stdin(Stdio::null());
    cmd
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", describe(out)))
}

/// `hfdl cache ls --json`, by `model/org/name`.
fn ls_json(env: &TestEnv) -> Value {
    json_of(&run_ok(&mut cache_cmd(env, &["ls", "--json"])))
}

fn repo<'a>(ls: &'a Value, id: &str) -> &'a Value {
    let repos = ls.as_array().expect("ls --json prints an array");
    repos
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {ls:#}"))
}

/// One decimal, decimal units, as huggingface_hub prints sizes.
fn human(n: usize) -> String {
    match n {
        0..1_000 => format!("{n}.0"),
        1_000..1_000_000 => format!("{:.1}K", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// What huggingface_hub 2.4.0's `scan_cache_dir()` sees in `cache`.
const SCAN: &str = r#"
import json, os
from huggingface_hub import scan_cache_dir
info = scan_cache_dir(os.environ["CACHE"])
print(json.dumps({
    "warnings": [str(w) for w in info.warnings],
    "incomplete": sorted(str(f.file_path) for f in info.incomplete_files),
    "repos": sorted(({"id": f"{r.repo_type}/{r.repo_id}", "size_on_disk": r.size_on_disk,
                      "nb_files": r.nb_files,
                      "revisions": sorted(({"commit": v.commit_hash, "refs": sorted(v.refs),
                                            "nb_files": v.nb_files, "size_on_disk": v.size_on_disk}
                                           for v in r.revisions), key=lambda v: v["commit"])}
                     for r in info.repos), key=lambda r: r["id"]),
}))
"#;

fn official_scan(cache: &Path) -> Value {
    let out = run_python_ok(SCAN, &[("CACHE", cache.to_str().unwrap())]);
    serde_json::from_str(out.trim()).expect("the scan prints JSON")
}

/// hfdl's view of the cache, in the shape of [`SCAN`].
fn hfdl_view(env: &TestEnv) -> Value {
    let mut repos: Vec<Value> = (ls_json(env).as_array().unwrap().iter())
        .map(|r| {
            let revisions: Vec<Value> = (r["revisions"].as_array().unwrap().iter())
                .map(|v| {
                    json!({"commit": v["commit"], "refs": v["refs"],
                                 "nb_files": v["nb_files"], "size_on_disk": v["size_on_disk"]})
                })
                .collect();
            json!({"id": r["id"], "size_on_disk": r["size_on_disk"], "nb_files": r["nb_files"],
                   "revisions": revisions})
        })
        .collect();
    repos.sort_by_key(|r| r["id"].as_str().unwrap().to_owned());
    Value::Array(repos)
}

/// The official scanner sees a healthy cache with exactly hfdl's repos and revisions.
#[track_caller]
fn assert_official_agrees(env: &TestEnv) -> Value {
    let official = official_scan(&env.cache());
    assert_eq!(
        official["warnings"],
        json!([]),
        "the official scanner found corruption"
    );
    assert_eq!(
        official["repos"],
        hfdl_view(env),
        "hfdl and huggingface_hub disagree"
    );
    official
}

// ------------------------------------------------------------------------------------------
// ls
// ------------------------------------------------------------------------------------------

#[test]
fn ls_reports_sizes_revisions_and_leftovers() {
    let hub = hub();
    let Populated { env, c1, c2, .. } = populated(&hub);
    let ls = ls_json(&env);
    assert_eq!(ls.as_array().unwrap().len(), 2, "{ls:#}");

    let tiny = repo(&ls, "model/org/tiny");
    let tiny_size = CONFIG_V1.len() + CONFIG_V2.len() + EXTRA.len() + WEIGHTS_LEN;
    assert_eq!(tiny["repo_id"], "org/tiny");
    assert_eq!(tiny["repo_type"], "model");
    assert_eq!(tiny["size_on_disk"], tiny_size);
    assert_eq!(tiny["nb_files"], 4, "the shared weights count once");
    assert_eq!(tiny["refs"], json!(["main", "v2"]));
    let revisions = tiny["revisions"].as_array().unwrap();
    let by_commit = |c: &str| revisions.iter().find(|r| r["commit"] == c).unwrap().clone();
    let (r1, r2) = (by_commit(&c1), by_commit(&c2));
    assert_eq!(
        (&r1["refs"], &r1["detached"], &r1["nb_files"]),
        (&json!([]), &json!(true), &json!(2))
    );
    assert_eq!(r1["size_on_disk"], CONFIG_V1.len() + WEIGHTS_LEN);
    assert_eq!(
        (&r2["refs"], &r2["detached"], &r2["nb_files"]),
        (&json!(["main", "v2"]), &json!(false), &json!(3))
    );
    assert_eq!(
        r2["size_on_disk"],
        CONFIG_V2.len() + EXTRA.len() + WEIGHTS_LEN
    );

    let data = repo(&ls, "dataset/org/data");
    assert_eq!(data["size_on_disk"], TRAIN_LEN + BIG_LEN);
    assert_eq!(
        (&data["nb_files"], &data["nb_revisions"]),
        (&json!(2), &json!(1))
    );
    assert_official_agrees(&env);

    let out = run_ok(&mut cache_cmd(&env, &["ls"]));
    let text = stdout(&out);
    let row = |id: &str| {
        let line = text.lines().find(|l| l.starts_with(id));
        line.unwrap_or_else(|| panic!("no row for {id}:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert!(text.starts_with("REPO ID"), "{text}");
    let tiny_row = row("org/tiny");
    assert_eq!(
        tiny_row[..7],
        [
            "org/tiny",
            "model",
            &human(tiny_size),
            "4",
            "2",
            "main,",
            "v2"
        ]
    );
    let data_row = row("org/data");
    assert_eq!(
        data_row[..6],
        [
            "org/data",
            "dataset",
            &human(TRAIN_LEN + BIG_LEN),
            "2",
            "1",
            "main"
        ]
    );
    let total = human(tiny_size + TRAIN_LEN + BIG_LEN);
    assert!(
        text.contains(&format!("2 repo(s), 3 revision(s), {total} on disk")),
        "{text}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("2 partial download(s)") && err.contains("hfdl cache prune"),
        "{err}"
    );
    assert!(err.contains("1 blob(s)"), "{err}");

    let out = run_ok(&mut cache_cmd(&env, &["ls", "--revisions"]));
    let text = stdout(&out);
    let line = |c: &str| text.lines().find(|l| l.contains(c)).unwrap().to_owned();
    assert!(
        line(&c1).ends_with("ago") && line(&c1).contains("(detached)"),
        "{text}"
    );
    assert!(line(&c2).contains("main, v2"), "{text}");
    let flat = json_of(&run_ok(&mut cache_cmd(
        &env,
        &["ls", "--revisions", "--json"],
    )));
    assert_eq!(flat.as_array().unwrap().len(), 3, "{flat:#}");
}

#[test]
fn ls_skips_corrupted_repos_with_a_warning() {
    let hub = hub();
    let Populated { env, .. } = populated(&hub);
    let data_commit = hub.commit("org/data", "main");
    fs::write(
        env.cache().join(DATA).join("refs/main"),
        format!("{data_commit}\n"),
    )
    .unwrap();
    fs::create_dir(env.cache().join("not-a-repo")).unwrap();
    let out = run_ok(&mut cache_cmd(&env, &["ls", "--json"]));
    let ls = json_of(&out);
    let ids: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["model/org/tiny"]);
    let err = stderr(&out);
    assert!(err.contains(DATA) && err.contains("not-a-repo"), "{err}");
    let official = official_scan(&env.cache());
    assert_eq!(
        official["warnings"].as_array().unwrap().len(),
        2,
        "{official:#}"
    );
}

// ------------------------------------------------------------------------------------------
// rm
// ------------------------------------------------------------------------------------------

#[test]
fn rm_deletes_revisions_with_their_refs_and_own_blobs() {
    let hub = hub();
    let Populated { env, c1, c2, .. } = populated(&hub);
    let tiny = env.cache().join(TINY);
    let prefix = &c1[..10];
    let config_v1 = tiny.join("blobs").join(git_sha1(CONFIG_V1));
    let weights = tiny.join("blobs").join(sha256_hex(&weights()));
    assert!(config_v1.is_file() && weights.is_file());

    let out = run_ok(&mut cache_cmd(&env, &["rm", prefix, "--dry-run"]));
    let text = stdout(&out);
    assert!(
        text.contains(&c1) && text.contains("dry run: nothing was deleted"),
        "{text}"
    );
    assert!(
        text.contains(&format!("freeing {}", human(CONFIG_V1.len()))),
        "{text}"
    );
    assert!(tiny.join("snapshots").join(&c1).is_dir());

    let out = run_fail(&mut cache_cmd(&env, &["rm", prefix]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("pass -y"), "{}", describe(&out));
    assert!(
        tiny.join("snapshots").join(&c1).is_dir(),
        "refused, yet deleted"
    );

    // `c2` has refs and shares the weights with `c1`.
    let out = run_ok(&mut cache_cmd(&env, &["rm", &c2, "-y"]));
    let freed = human(CONFIG_V2.len() + EXTRA.len());
    assert!(
        stdout(&out).contains(&format!("deleted 1 revision(s); freed {freed}")),
        "{}",
        describe(&out)
    );
    assert!(!tiny.join("snapshots").join(&c2).exists());
    assert!(!tiny.join("refs/main").exists() && !tiny.join("refs/v2").exists());
    for only_c2 in [git_sha1(CONFIG_V2), git_sha1(EXTRA)] {
        assert!(
            !tiny.join("blobs").join(only_c2).exists(),
            "a blob only c2 used is kept"
        );
    }
    assert!(
        weights.is_file() && config_v1.is_file(),
        "c1's blobs are gone"
    );
    let official = assert_official_agrees(&env);
    let revisions = &official["repos"][1]["revisions"];
    assert_eq!(
        revisions,
        &json!([{"commit": c1, "refs": [], "nb_files": 2,
                                   "size_on_disk": CONFIG_V1.len() + WEIGHTS_LEN}])
    );

    // The last revision takes the repo folder and its locks along.
    let out = run_ok(&mut cache_cmd(&env, &["rm", prefix, "--yes", "--json"]));
    let done = json_of(&out);
    assert_eq!(
        (&done["deleted"], &done["repos"]),
        (&json!(true), &json!(["model/org/tiny"]))
    );
    assert!(!tiny.exists() && !env.cache().join(".locks").join(TINY).exists());
    assert_official_agrees(&env);
}

#[test]
fn rm_deletes_whole_repos_with_their_locks() {
    let hub = hub();
    let Populated { env, .. } = populated(&hub);
    let data = env.cache().join(DATA);
    let locks = env.cache().join(".locks").join(DATA);
    assert!(locks.is_dir(), "downloads leave lock files");

    let out = run_ok(&mut cache_cmd(
        &env,
        &["rm", "hf://datasets/org/data", "--dry-run"],
    ));
    assert!(
        stdout(&out).contains("dataset/org/data (entire repo"),
        "{}",
        describe(&out)
    );
    let out = run_ok(&mut cache_cmd(&env, &["rm", "org/data", "--dry-run"]));
    assert!(
        stdout(&out).contains("dataset/org/data (entire repo"),
        "{}",
        describe(&out)
    );
    let out = run_ok(&mut cache_cmd(
        &env,
        &["rm", "dataset/org/nope", "--dry-run"],
    ));
    assert!(
        stderr(&out).contains("`dataset/org/nope` is not in the cache"),
        "{}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("nothing to delete"),
        "{}",
        describe(&out)
    );
    assert!(data.is_dir());

    let out = run_ok(&mut cache_cmd(&env, &["rm", "dataset/org/data", "-y"]));
    let freed = human(TRAIN_LEN + BIG_LEN);
    assert!(
        stdout(&out).contains(&format!("deleted 1 repo(s); freed {freed}")),
        "{}",
        describe(&out)
    );
    assert!(!data.exists() && !locks.exists());
    assert!(env.cache().join(TINY).is_dir());
    let official = assert_official_agrees(&env);
    assert_eq!(official["repos"].as_array().unwrap().len(), 1);
}

// ------------------------------------------------------------------------------------------
// prune
// ------------------------------------------------------------------------------------------

#[test]
fn prune_deletes_leftovers_but_not_a_running_download() {
    let hub = hub();
    let Populated {
        env,
        c1,
        c2,
        leftovers,
    } = populated(&hub);
    let tiny = env.cache().join(TINY);
    let busy = tiny
        .join("blobs")
        .join(format!("{}.incomplete", "c".repeat(64)));
    fs::write(&busy, b"being written").unwrap();
    let lock_path = env
        .cache()
        .join(".locks")
        .join(TINY)
        .join(format!("{}.lock", "c".repeat(64)));
    let lock = File::create(&lock_path).unwrap();
    lock.lock().unwrap();

    let out = run_ok(&mut cache_cmd(&env, &["prune", "--dry-run"]));
    let text = stdout(&out);
    // The detached revision waits: a download by commit writes no ref until it is done.
    let plan = "1 unreferenced blob(s) and 2 partial download(s)";
    assert!(
        text.contains(plan) && !text.contains(&c1),
        "{}",
        describe(&out)
    );
    for note in [
        "a download is writing it",
        "a download is running in model/org/tiny",
    ] {
        assert!(stderr(&out).contains(note), "{}", describe(&out));
    }
    assert!(leftovers.partial.exists() && tiny.join("snapshots").join(&c1).exists());

    run_fail(&mut cache_cmd(&env, &["prune"]));
    assert!(leftovers.partial.exists());

    run_ok(&mut cache_cmd(&env, &["prune", "-y"]));
    assert!(tiny.join("snapshots").join(&c1).exists());
    for gone in [
        &leftovers.partial,
        &leftovers.journal,
        &leftovers.orphan_journal,
        &leftovers.unreferenced,
    ] {
        assert!(!gone.exists(), "{} survived the prune", gone.display());
    }
    assert!(busy.exists(), "a partial download in use was deleted");
    let official = assert_official_agrees(&env);
    assert_eq!(official["incomplete"], json!([busy.to_str().unwrap()]));

    drop(lock);
    let out = run_ok(&mut cache_cmd(&env, &["prune", "-y", "--json"]));
    let done = json_of(&out);
    assert_eq!(done["deleted"], true);
    assert_eq!(done["partials"], json!([busy.to_str().unwrap()]));
    assert!(!busy.exists());
    assert!(!tiny.join("snapshots").join(&c1).exists());
    assert!(tiny.join("snapshots").join(&c2).is_dir());
    assert!(!tiny.join("blobs").join(git_sha1(CONFIG_V1)).exists());
    let out = run_ok(&mut cache_cmd(&env, &["prune", "-y"]));
    assert_eq!(stdout(&out).trim(), "nothing to delete");
    assert_official_agrees(&env);
}

// ------------------------------------------------------------------------------------------
// verify
// ------------------------------------------------------------------------------------------

#[test]
fn verify_finds_corrupt_and_missing_files_in_the_cache() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/tiny"]);
    let out = run_ok(&mut cache_cmd(&env, &["verify", "org/tiny"]));
    assert!(
        stdout(&out).contains("checked 2 file(s)") && stdout(&out).contains("0 corrupt, 0 missing"),
        "{}",
        describe(&out)
    );

    let blob = env
        .cache()
        .join(TINY)
        .join("blobs")
        .join(sha256_hex(&weights()));
    let mut damaged = weights();
    damaged[1234] ^= 0xff;
    fs::write(&blob, &damaged).unwrap();
    let out = run_fail(&mut cache_cmd(&env, &["verify", "org/tiny"]));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = format!(
        "corrupt  model.safetensors\n  expected: {} (sha256)\n  actual:   {}\n",
        sha256_hex(&weights()),
        sha256_hex(&damaged)
    );
    assert!(text.contains(&expected), "{}", describe(&out));
    assert!(
        stderr(&out).contains("verification failed"),
        "{}",
        describe(&out)
    );

    let commit = hub.commit("org/tiny", "main");
    fs::remove_file(
        env.cache()
            .join(TINY)
            .join("snapshots")
            .join(&commit)
            .join("config.json"),
    )
    .unwrap();
    let out = run_fail(&mut cache_cmd(&env, &["verify", "org/tiny", "--json"]));
    let report = json_of(&out);
    assert_eq!(report["missing"], json!(["config.json"]));
    assert_eq!(report["corrupt"][0]["path"], "model.safetensors");
    assert_eq!(report["corrupt"][0]["actual"], sha256_hex(&damaged));
    assert_eq!(
        (&report["revision"], &report["ok"]),
        (&json!(commit), &json!(false))
    );
}

#[test]
fn verify_asks_the_hub_for_a_revision_the_cache_has_no_ref_for() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let c2 = hub.commit("org/tiny", "v2");
    env.download(&["org/tiny", "--revision", &c2]);
    hub.clear_requests();
    let out = run_ok(&mut cache_cmd(
        &env,
        &["verify", "org/tiny", "--revision", "v2"],
    ));
    assert!(
        stdout(&out).contains(&c2) && stdout(&out).contains("checked 3 file(s)"),
        "{}",
        describe(&out)
    );
    let asked = hub
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/api/models/org/tiny/revision/v2"));
    assert!(asked, "{:#?}", hub.requests());

    let out = run_fail(&mut cache_cmd(&env, &["verify", "org/tiny"]));
    assert!(
        stderr(&out).contains("is not in the cache"),
        "{}",
        describe(&out)
    );
}

#[test]
fn verify_a_local_dir_reports_extra_and_missing_files() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("local");
    let dir_arg = dir.to_str().unwrap();
    env.download(&["org/tiny", "--local-dir", dir_arg]);
    fs::write(dir.join("stray.txt"), b"mine").unwrap();
    let out = run_ok(&mut cache_cmd(
        &env,
        &["verify", "org/tiny", "--local-dir", dir_arg, "--json"],
    ));
    let report = json_of(&out);
    assert_eq!(
        report["extra"],
        json!(["stray.txt"]),
        "metadata under .cache/huggingface is not extra"
    );
    assert_eq!(
        (&report["checked"], &report["ok"]),
        (&json!(2), &json!(true))
    );

    fs::remove_file(dir.join("config.json")).unwrap();
    let out = run_ok(&mut cache_cmd(
        &env,
        &["verify", "org/tiny", "--local-dir", dir_arg],
    ));
    assert!(
        stderr(&out).contains("1 remote file(s) are missing locally"),
        "a missing file only warns, as in hf 2.4\n{}",
        describe(&out)
    );
    let out = run_fail(&mut cache_cmd(
        &env,
        &[
            "verify",
            "org/tiny",
            "--local-dir",
            dir_arg,
            "--fail-on-missing-files",
        ],
    ));
    assert!(
        stdout(&out).contains("missing  config.json\nextra    stray.txt\n"),
        "{}",
        describe(&out)
    );
}

// ------------------------------------------------------------------------------------------
// Caches written by the official client
// ------------------------------------------------------------------------------------------

#[test]
fn works_on_a_cache_the_official_client_wrote() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let c2 = hub.commit("org/tiny", "v2");
    for revision in ["main", &c2] {
        let mut hf = scrubbed_command(hf_cli());
        hf.args([
            "download",
            "org/tiny",
            "--revision",
            revision,
            "--format",
            "quiet",
        ])
        .env("HF_HOME", env.hf_home())
        .env("HF_ENDPOINT", hub.url())
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1");
        run_ok(&mut hf);
    }
    let ls = ls_json(&env);
    assert_eq!(repo(&ls, "model/org/tiny")["nb_revisions"], 2);
    assert_official_agrees(&env);
    run_ok(&mut cache_cmd(&env, &["verify", "org/tiny"]));
    run_ok(&mut cache_cmd(
        &env,
        &["verify", "org/tiny", "--revision", &c2],
    ));

    let out = run_ok(&mut cache_cmd(&env, &["prune", "-y"]));
    assert!(
        stdout(&out).contains("deleted 1 revision(s)"),
        "{}",
        describe(&out)
    );
    let official = assert_official_agrees(&env);
    assert_eq!(
        official["repos"][0]["revisions"][0]["refs"],
        json!(["main"])
    );
}
