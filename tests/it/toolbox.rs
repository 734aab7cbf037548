//! The `hf` toolbox around downloads: offline answers, `--dry-run`, JSON output, repo
//! references, `auth`, `env`, `completions`.

use std::fs;
use std::path::Path;

use crate::support::fake_hub::FakeHub;
use crate::support::{TestEnv, bytes, run_fail, run_ok, stderr, stdout_line};

fn hub() -> FakeHub {
    FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", b"{}")
                .file("sub/a.txt", b"a")
                .lfs("model.bin", bytes(50_000, 3))
        })
        .dataset("org/data", |r| r.file("d.csv", b"1,2"))
        .build()
}

fn offline(env: &TestEnv, args: &[&str]) -> std::process::Output {
    env.hfdl()
        .arg("download")
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

#[test]
fn offline_answers_from_the_cache_without_any_request() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let online = env.download(&["org/tiny"]);
    let one = env.download(&["org/tiny", "sub/a.txt"]);
    hub.clear_requests();
    let out = offline(&env, &["org/tiny"]);
    assert_eq!(stdout_line(&run_ok_output(out)), online);
    let out = offline(&env, &["org/tiny", "sub/a.txt"]);
    assert_eq!(stdout_line(&run_ok_output(out)), one);
    let out = run_ok(env.hfdl().args(["download", "--offline", "org/tiny"]));
    assert_eq!(stdout_line(&out), online);
    assert!(
        hub.requests().is_empty(),
        "offline sent requests: {:?}",
        hub.requests()
    );
    let out = offline(&env, &["org/other"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("offline") && err.contains("org/other"),
        "{err}"
    );
    let out = offline(&env, &["org/tiny", "nope.txt"]);
    assert!(stderr(&out).contains("nope.txt"), "{}", stderr(&out));
    assert!(hub.requests().is_empty());
}

fn run_ok_output(out: std::process::Output) -> std::process::Output {
    assert!(out.status.success(), "{}", crate::support::describe(&out));
    out
}

#[test]
fn offline_detects_an_incomplete_snapshot() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let snapshot = env.download(&["org/tiny", "--include", "*.json"]);
    let out = offline(&env, &["org/tiny"]);
    assert!(!out.status.success(), "only config.json is cached");
    assert!(stderr(&out).contains("incomplete"), "{}", stderr(&out));
    let out = offline(&env, &["org/tiny", "--include", "*.json"]);
    assert_eq!(stdout_line(&run_ok_output(out)), snapshot);
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A repo whose `main` moved: `v1` has one more file, and other bytes for `config.json`.
fn moved_hub() -> FakeHub {
    FakeHub::builder()
        .model("org/moved", |r| {
            r.file("config.json", b"{\"v\": 1}")
                .file("extra.txt", b"only in v1")
                .tag("v1")
                .revision("main", |r| {
                    r.file("config.json", b"{\"v\": 2}").remove("extra.txt")
                })
        })
        .build()
}

#[test]
fn offline_local_dir_answers_only_from_a_complete_copy_of_that_revision() {
    let hub = moved_hub();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let local = |rev: &str| {
        let mut args = vec!["org/moved", "--local-dir", dir.to_str().unwrap()];
        if !rev.is_empty() {
            args.extend(["--revision", rev]);
        }
        args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>()
    };

    // Unrelated files only.
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let out = offline(&env, &strs(&local("")));
    assert_eq!(out.status.code(), Some(1), "junk: {}", stderr(&out));
    assert!(
        stderr(&out).contains("never downloaded"),
        "{}",
        stderr(&out)
    );

    // A complete copy of v1 answers for v1, not for main.
    env.download(&strs(&local("v1")));
    hub.clear_requests();
    let out = run_ok_output(offline(&env, &strs(&local("v1"))));
    assert_eq!(stdout_line(&out), dir.to_str().unwrap());
    let c_main = hub.commit("org/moved", "main");
    let out = offline(&env, &strs(&local(&c_main)));
    assert_eq!(
        out.status.code(),
        Some(1),
        "another revision: {}",
        stderr(&out)
    );

    // Main downloaded, then one of its files removed: named as missing.
    env.download(&strs(&local("")));
    hub.clear_requests();
    fs::remove_file(dir.join("config.json")).unwrap();
    let out = offline(&env, &strs(&local("")));
    assert_eq!(out.status.code(), Some(1), "partial copy: {}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("incomplete") && err.contains("config.json"),
        "{err}"
    );
    let out = offline(&env, &strs(&local("v1")));
    assert_eq!(
        out.status.code(),
        Some(1),
        "v1 was overwritten: {}",
        stderr(&out)
    );
    assert!(hub.requests().is_empty(), "{:?}", hub.requests());
}

#[test]
fn offline_cache_refuses_a_copy_of_another_revision_or_without_listing() {
    let hub = moved_hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/moved", "--revision", "v1"]);
    let out = offline(&env, &["org/moved"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "main never downloaded: {}",
        stderr(&out)
    );
    let snapshot = env.download(&["org/moved"]);
    let out = run_ok_output(offline(&env, &["org/moved"]));
    assert_eq!(stdout_line(&out), snapshot);
    // Without the stored listing nothing proves the snapshot complete.
    let trees = env.cache().join("models--org--moved/trees");
    fs::remove_dir_all(&trees).unwrap();
    let out = offline(&env, &["org/moved"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no listing"), "{}", stderr(&out));
    let out = run_ok_output(offline(&env, &["org/moved", "config.json"]));
    assert_eq!(fs::read(stdout_line(&out)).unwrap(), b"{\"v\": 2}");
}

#[test]
fn unreachable_endpoint_falls_back_to_a_complete_cached_snapshot() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let snapshot = env.download(&["org/tiny"]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = run_ok(
        env.hfdl()
            .args(["download", "org/tiny", "--endpoint", &dead]),
    );
    assert_eq!(stdout_line(&out), snapshot);
    assert!(
        stderr(&out).contains("using the copy already on disk"),
        "{}",
        stderr(&out)
    );
    let out = run_fail(env.hfdl().args([
        "download",
        "org/data",
        "--repo-type",
        "dataset",
        "--endpoint",
        &dead,
    ]));
    assert!(stderr(&out).contains(&dead), "{}", stderr(&out));
}

#[test]
fn dry_run_plans_without_writing() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/tiny", "config.json"]);
    hub.clear_requests();
    let out = run_ok(
        env.hfdl()
            .args(["download", "org/tiny", "--dry-run", "--json"]),
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["download_files"], 2, "{plan}");
    assert_eq!(plan["download_bytes"], 50_001, "{plan}");
    assert_eq!(plan["fits"], true);
    let present: Vec<bool> = plan["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["present"].as_bool().unwrap())
        .collect();
    assert_eq!(present.iter().filter(|p| **p).count(), 1);
    assert!(
        hub.requests().iter().all(|r| r.path.starts_with("/api/")),
        "no file bytes"
    );
    let human = run_ok(env.hfdl().args(["download", "org/tiny", "--dry-run"]));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("model.bin") && text.contains("would download 2 of 3 files"),
        "{text}"
    );
    let snapshots = env.cache().join("models--org--tiny/snapshots");
    let files: usize = fs::read_dir(&snapshots)
        .unwrap()
        .map(|d| crate::support::files_under(&d.unwrap().path()).len())
        .sum();
    assert_eq!(files, 1, "dry-run wrote nothing");
}

#[test]
fn json_output_lists_what_was_transferred() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    env.download(&["org/tiny", "config.json"]);
    let out = run_ok(
        env.hfdl()
            .args(["download", "org/tiny", "--format", "json"]),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["commit"], hub.commit("org/tiny", "main"));
    assert!(Path::new(doc["path"].as_str().unwrap()).is_dir());
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    let config = files.iter().find(|f| f["path"] == "config.json").unwrap();
    assert_eq!(config["transferred"], false);
    let model = files.iter().find(|f| f["path"] == "model.bin").unwrap();
    assert_eq!(
        (model["transferred"].as_bool(), model["size"].as_u64()),
        (Some(true), Some(50_000))
    );
    let quiet = run_ok(env.hfdl().args(["download", "org/tiny", "-q"]));
    assert_eq!(stdout_line(&quiet), doc["path"].as_str().unwrap());
    assert!(quiet.stderr.is_empty(), "{}", stderr(&quiet));
}

#[test]
fn repo_references_like_the_official_cli() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let a = env.download(&["datasets/org/data"]);
    let b = env.download(&["hf://datasets/org/data"]);
    let c = env.download(&["org/data", "--repo-type", "dataset"]);
    assert_eq!((&a, &b), (&c, &c));
    assert!(a.contains("datasets--org--data"));
    let one = env.download(&["hf://datasets/org/data/d.csv"]);
    assert_eq!(fs::read(one).unwrap(), b"1,2");
}

#[test]
fn auth_login_whoami_logout() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let token_file = env.hf_home().join("token");
    run_ok(env.hfdl().args(["auth", "login", "--token", &hub.token()]));
    assert_eq!(fs::read_to_string(&token_file).unwrap(), hub.token());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let who = run_ok(env.hfdl().args(["auth", "whoami"]));
    assert_eq!(stdout_line(&who), "test-user");
    assert!(
        !stderr(&who).contains(&hub.token())
            && !String::from_utf8_lossy(&who.stdout).contains(&hub.token())
    );
    run_ok(env.hfdl().args(["auth", "logout"]));
    assert!(!token_file.exists());
    let out = run_fail(env.hfdl().args(["auth", "whoami"]));
    assert!(stderr(&out).contains("not logged in"), "{}", stderr(&out));
    let mut child = env
        .hfdl()
        .args(["auth", "login"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", hub.token()).as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(fs::read_to_string(&token_file).unwrap(), hub.token());
}

#[test]
fn env_shows_the_token_source_never_the_token() {
    let env = TestEnv::new("https://mirror.example/");
    let out = run_ok(env.hfdl().arg("env").env("HF_TOKEN", "hf_secret_value"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("https://mirror.example"), "{text}");
    assert!(
        text.contains("HF_TOKEN") && !text.contains("hf_secret_value"),
        "{text}"
    );
    assert!(text.contains(&env.cache().display().to_string()), "{text}");
    let out = run_ok(env.hfdl().args(["env", "--json"]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["version"], env!("CARGO_PKG_VERSION"));
    let out = run_ok(env.hfdl().arg("--version"));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions_for_every_shell() {
    let env = TestEnv::new("http://127.0.0.1:9");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run_ok(env.hfdl().args(["completions", shell]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("hfdl") && text.contains("download"),
            "{shell}"
        );
    }
}

#[test]
fn progress_lines_count_the_bytes_when_stderr_is_not_a_terminal() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let out = run_ok(
        env.hfdl()
            .args(["download", "org/tiny"])
            .env_remove("HF_HUB_DISABLE_PROGRESS_BARS"),
    );
    let err = stderr(&out);
    let last = err
        .lines()
        .rev()
        .find(|l| l.starts_with("hfdl: "))
        .unwrap_or_default();
    assert!(
        last.starts_with("hfdl: 3/3 files, 48.83 KiB/48.83 KiB"),
        "{err}"
    );
    assert_eq!(
        out.stdout.iter().filter(|b| **b == b'\n').count(),
        1,
        "stdout is only the path"
    );
}
