//! `hfdl download` against the fake Hub: cache and local-dir layouts, selection, revisions,
//! ranged transfers, and what is (not) requested on a rerun.

use std::fs;
use std::path::Path;

use crate::support::fake_hub::{FakeHub, Origin};
use crate::support::{TestEnv, bytes, files_under, sha256_hex};

const BIG: usize = 40 << 20;

fn tiny_hub() -> FakeHub {
    FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", br#"{"a": 1}"#)
                .file("README.md", b"# tiny\n")
                .file("sub/dir/notes.txt", b"notes")
                .lfs("model.safetensors", bytes(300_000, 1))
                .lfs("dup.bin", bytes(300_000, 1))
                .file("weird name+[x].txt", b"weird")
                .pr(1)
        })
        .build()
}

fn assert_same_tree(dir: &Path, expected: &[(&str, Vec<u8>)]) {
    let mut names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    assert_eq!(files_under(dir), names);
    for (name, data) in expected {
        assert_eq!(&fs::read(dir.join(name)).unwrap(), data, "{name}");
    }
}

fn tiny_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("config.json", br#"{"a": 1}"#.to_vec()),
        ("README.md", b"# tiny\n".to_vec()),
        ("sub/dir/notes.txt", b"notes".to_vec()),
        ("model.safetensors", bytes(300_000, 1)),
        ("dup.bin", bytes(300_000, 1)),
        ("weird name+[x].txt", b"weird".to_vec()),
    ]
}

#[test]
fn snapshot_into_the_cache() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    let commit = hub.commit("org/tiny", "main");
    let out = env.download(&["org/tiny"]);
    let repo_dir = env.cache().join("models--org--tiny");
    assert_eq!(
        out,
        repo_dir
            .join("snapshots")
            .join(&commit)
            .display()
            .to_string()
    );
    assert_same_tree(Path::new(&out), &tiny_files());
    assert_eq!(
        fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        commit
    );
    let link = fs::read_link(Path::new(&out).join("sub/dir/notes.txt")).unwrap();
    assert!(link.starts_with("../../../../blobs/"), "{link:?}");
    let sha = sha256_hex(&bytes(300_000, 1));
    assert!(repo_dir.join("blobs").join(&sha).is_file());
    assert!(env.cache().join("CACHEDIR.TAG").is_file());
    let requests = hub.requests();
    assert!(
        requests.iter().all(|r| r.method != "HEAD"),
        "no HEAD for snapshots"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.path.contains("/tree/"))
            .count()
            >= 2,
        "paginated"
    );
    let cdn: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == Origin::Cdn)
        .collect();
    assert_eq!(
        cdn.len(),
        1,
        "identical LFS content is fetched once: {cdn:?}"
    );
    assert!(cdn.iter().all(|r| !r.has_auth));
}

#[test]
fn rerun_transfers_nothing() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("local");
    let local = ["org/tiny", "--local-dir", dir.to_str().unwrap()];
    env.download(&["org/tiny"]);
    env.download(&local);
    let commit = hub.commit("org/tiny", "main");
    // Cache and local dir: the revision only; at a commit hash: nothing at all.
    for (args, expected) in [
        (vec!["org/tiny"], 1),
        (local.to_vec(), 1),
        (vec!["org/tiny", "--revision", &commit], 0),
        (
            vec![
                "org/tiny",
                "--revision",
                &commit,
                "--local-dir",
                dir.to_str().unwrap(),
            ],
            0,
        ),
    ] {
        hub.clear_requests();
        env.download(&args);
        let requests = hub.requests();
        assert_eq!(requests.len(), expected, "{args:?}: {requests:#?}");
        assert!(
            requests.iter().all(|r| r.path.contains("/revision/")),
            "{requests:#?}"
        );
    }
}

#[test]
fn local_dir_holds_plain_files_and_metadata() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let out = env.download(&["org/tiny", "--local-dir", dir.to_str().unwrap()]);
    assert_eq!(out, dir.display().to_string());
    assert_same_tree(&dir, &tiny_files());
    assert!(
        !fs::symlink_metadata(dir.join("config.json"))
            .unwrap()
            .is_symlink()
    );
    let meta =
        fs::read_to_string(dir.join(".cache/huggingface/download/sub/dir/notes.txt.metadata"))
            .unwrap();
    let lines: Vec<&str> = meta.lines().collect();
    assert_eq!(lines[0], hub.commit("org/tiny", "main"));
    assert_eq!(lines[1].len(), 40);
    assert_eq!(
        fs::read_to_string(dir.join(".cache/huggingface/.gitignore")).unwrap(),
        "*"
    );
    hub.clear_requests();
    env.download(&["org/tiny", "--local-dir", dir.to_str().unwrap()]);
    assert!(hub.requests().iter().all(|r| r.path.starts_with("/api/")));
}

#[test]
fn one_filename_downloads_that_file() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    let commit = hub.commit("org/tiny", "main");
    let out = env.download(&["org/tiny", "sub/dir/notes.txt"]);
    let expected = env
        .cache()
        .join("models--org--tiny/snapshots")
        .join(&commit)
        .join("sub/dir/notes.txt");
    assert_eq!(out, expected.display().to_string());
    assert_eq!(fs::read(&out).unwrap(), b"notes");
    let dir = env.path("ld");
    let out = env.download(&[
        "org/tiny",
        "model.safetensors",
        "--local-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out, dir.join("model.safetensors").display().to_string());
    assert_eq!(fs::read(&out).unwrap(), bytes(300_000, 1));
}

#[test]
fn patterns_select_files() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let d = dir.to_str().unwrap();
    env.download(&[
        "org/tiny",
        "--local-dir",
        d,
        "--include",
        "*.json",
        "--include",
        "sub/*",
    ]);
    assert_eq!(files_under(&dir), ["config.json", "sub/dir/notes.txt"]);
    let dir2 = env.path("out2");
    let d2 = dir2.to_str().unwrap();
    env.download(&[
        "org/tiny",
        "--local-dir",
        d2,
        "--exclude",
        "*.bin",
        "--exclude",
        "*.safetensors",
    ]);
    assert_eq!(files_under(&dir2).len(), 4);
    let dir3 = env.path("out3");
    env.download(&[
        "org/tiny",
        "sub/",
        "README.md",
        "--local-dir",
        dir3.to_str().unwrap(),
    ]);
    assert_eq!(files_under(&dir3), ["README.md", "sub/dir/notes.txt"]);
}

#[test]
fn pr_refs_and_other_revisions() {
    let hub = FakeHub::builder()
        .dataset("org/data", |r| {
            r.file("a.txt", b"v1")
                .revision("v2", |r| r.file("a.txt", b"v2").file("b.txt", b"new"))
        })
        .model("org/tiny", |r| r.file("a.txt", b"x").pr(1))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = env.download(&["datasets/org/data", "--revision", "v2"]);
    assert_eq!(fs::read(Path::new(&out).join("a.txt")).unwrap(), b"v2");
    let repo_dir = env.cache().join("datasets--org--data");
    assert_eq!(
        fs::read_to_string(repo_dir.join("refs/v2")).unwrap(),
        hub.commit("org/data", "v2")
    );
    env.download(&["org/tiny", "--revision", "refs/pr/1"]);
    let pr_ref = env.cache().join("models--org--tiny/refs/refs/pr/1");
    assert_eq!(
        fs::read_to_string(pr_ref).unwrap(),
        hub.commit("org/tiny", "refs/pr/1")
    );
    let commit = hub.commit("org/data", "main");
    env.download(&["org/data", "--repo-type", "dataset", "--revision", &commit]);
    assert!(
        !repo_dir.join("refs").join(&commit).exists(),
        "no ref for a commit hash"
    );
}

#[test]
fn large_files_use_parallel_ranges() {
    let data = bytes(BIG, 7);
    let hub = FakeHub::builder()
        .model("org/big", |r| r.lfs("big.bin", &data))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&[
        "org/big",
        "--local-dir",
        dir.to_str().unwrap(),
        "--connections",
        "4",
    ]);
    assert_eq!(
        sha256_hex(&fs::read(dir.join("big.bin")).unwrap()),
        sha256_hex(&data)
    );
    let ranged: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Cdn && r.range.is_some())
        .collect();
    assert!(ranged.len() >= 3, "several ranges: {ranged:?}");
    let served: u64 = ranged.iter().map(|r| r.body_bytes).sum();
    // Splitting a range in flight wastes what the server had already sent; keep it small.
    assert!(
        served <= BIG as u64 * 5 / 4,
        "too many bytes fetched twice: {served}"
    );
}

#[test]
fn one_worker_and_one_connection_finish_a_mixed_repo() {
    // Regression: the connection reserved for small files deadlocked a single connection.
    let big = bytes(9 << 20, 8);
    let hub = FakeHub::builder()
        .model("org/mixed", |r| {
            r.lfs("big.bin", &big)
                .file("a.txt", b"a")
                .file("b.txt", b"b")
        })
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let mut child = env
        .hfdl()
        .args([
            "download",
            "org/mixed",
            "--max-workers",
            "1",
            "--connections",
            "1",
            "--local-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("hfdl hung with one worker and one connection");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    assert_eq!(
        sha256_hex(&fs::read(dir.join("big.bin")).unwrap()),
        sha256_hex(&big)
    );
    assert_eq!(files_under(&dir), ["a.txt", "b.txt", "big.bin"]);
}

#[test]
fn disabled_symlinks_put_real_files_in_the_snapshot() {
    let hub = tiny_hub();
    let env = TestEnv::new(&hub.url());
    let snapshot = crate::support::stdout_line(&crate::support::run_ok(
        env.hfdl()
            .args(["download", "org/tiny"])
            .env("HF_HUB_DISABLE_SYMLINKS", "1"),
    ));
    assert_same_tree(Path::new(&snapshot), &tiny_files());
    for (name, _) in tiny_files() {
        let meta = fs::symlink_metadata(Path::new(&snapshot).join(name)).unwrap();
        assert!(
            meta.is_file() && !meta.is_symlink(),
            "{name} is a real file"
        );
    }
    hub.clear_requests();
    let again = crate::support::stdout_line(&crate::support::run_ok(
        env.hfdl()
            .args(["download", "org/tiny"])
            .env("HF_HUB_DISABLE_SYMLINKS", "1"),
    ));
    assert_eq!(again, snapshot);
    assert!(
        hub.requests().iter().all(|r| r.path.starts_with("/api/")),
        "nothing fetched again"
    );
}

#[test]
fn max_workers_above_connections_fetches_that_many_small_files_at_once() {
    // Each Hub request waits 400 ms: with only `--connections 2` in play, no more than two
    // resolve requests could arrive in any 400 ms window.
    let hub = FakeHub::builder()
        .latency(std::time::Duration::from_millis(400))
        .model("org/many", |mut r| {
            for i in 0..12 {
                r = r.file(&format!("f{i:02}.txt"), format!("file {i}"));
            }
            r
        })
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    crate::support::run_ok(
        env.hfdl()
            .args(["download", "org/many", "--max-workers", "12"])
            .args(["--connections", "2", "--local-dir"])
            .arg(&dir),
    );
    assert_eq!(files_under(&dir).len(), 12);
    let arrivals = resolve_arrivals(&hub);
    let most_in_a_window = most_within(arrivals, 300);
    assert!(
        most_in_a_window >= 6,
        "small files were capped by --connections: at most {most_in_a_window} requests overlapped"
    );
}

/// The most arrivals within any window of `ms` milliseconds.
fn most_within(mut arrivals: Vec<std::time::Instant>, ms: u128) -> usize {
    arrivals.sort();
    (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|t| t.duration_since(arrivals[i]).as_millis() < ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Resolve requests of small files reaching the Hub.
fn resolve_arrivals(hub: &FakeHub) -> Vec<std::time::Instant> {
    let resolves = hub.requests().into_iter();
    let resolves = resolves.filter(|r| r.origin == Origin::Hub && r.path.contains("/resolve/"));
    resolves.map(|r| r.at).collect()
}

#[test]
fn files_at_once_grow_by_themselves_while_round_trips_bound_the_run() {
    // 200 ms per Hub answer and tiny files: the run is bound by round trips.
    let hub = FakeHub::builder()
        .latency(std::time::Duration::from_millis(200))
        .tree_page_size(1000)
        .model("org/many", |mut r| {
            for i in 0..120 {
                r = r.file(&format!("f{i:03}.txt"), format!("file {i}"));
            }
            r
        })
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    crate::support::run_ok(
        env.hfdl()
            .args(["download", "org/many", "--local-dir"])
            .arg(&dir),
    );
    assert_eq!(files_under(&dir).len(), 120);
    let adaptive = most_within(resolve_arrivals(&hub), 150);
    assert!(
        adaptive > 16,
        "the default grew past 8 files at once: {adaptive} overlapped"
    );
    assert!(adaptive <= 64, "never above 64: {adaptive}");

    // An explicit --max-workers is a fixed cap.
    hub.clear_requests();
    let fixed = env.path("fixed");
    crate::support::run_ok(
        env.hfdl()
            .args(["download", "org/many", "--max-workers", "8", "--local-dir"])
            .arg(&fixed),
    );
    let capped = most_within(resolve_arrivals(&hub), 150);
    assert!(capped <= 8, "--max-workers 8 stays 8: {capped} overlapped");
}
