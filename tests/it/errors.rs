//! Error messages and exit codes: each names what failed (repo, revision, file, endpoint), says
//! what to do, never panics, and leaves nothing half-written at a final path.

use crate::support::fake_hub::FakeHub;
use crate::support::{TestEnv, run_fail, stderr};

fn hub() -> FakeHub {
    FakeHub::builder()
        .model("org/tiny", |r| r.file("config.json", b"{}"))
        .model("org/gated", |r| r.file("config.json", b"{}").gated())
        .model("org/private", |r| r.file("config.json", b"{}").private())
        .build()
}

fn fail(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let out = run_fail(env.hfdl().arg("download").args(args));
    let err = stderr(&out);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn missing_repo_names_repo_and_endpoint_with_a_token_hint() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let (code, err) = fail(&env, &["org/nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("model `org/nope` not found"), "{err}");
    assert!(err.contains(&hub.url()), "{err}");
    assert!(err.contains("--token") && err.contains("HF_TOKEN"), "{err}");
}

#[test]
fn gated_and_private_repos_need_a_token() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let (code, err) = fail(&env, &["org/gated"]);
    assert_eq!(code, 1);
    assert!(err.contains("org/gated") && err.contains("gated"), "{err}");
    assert!(err.contains("HF_TOKEN"), "{err}");
    let (_, err) = fail(&env, &["org/private", "config.json"]);
    assert!(
        err.contains("org/private") && err.contains("--token"),
        "{err}"
    );
    let ok = env.download(&["org/gated", "--token", &hub.token()]);
    assert!(ok.contains("models--org--gated"));
    let out = env
        .hfdl()
        .args(["download", "org/private"])
        .env("HF_TOKEN", hub.token())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn unknown_revision_and_missing_file_are_named() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let (code, err) = fail(&env, &["org/tiny", "--revision", "v9"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("revision `v9` not found in model `org/tiny`"),
        "{err}"
    );
    let (code, err) = fail(&env, &["org/tiny", "nope.json"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("file `nope.json` not found in model `org/tiny`"),
        "{err}"
    );
    assert!(
        !env.cache().join("models--org--tiny/snapshots").exists() || {
            let snaps = env.cache().join("models--org--tiny/snapshots");
            std::fs::read_dir(snaps).unwrap().count() == 0
        }
    );
}

#[test]
fn unreachable_endpoint_is_named() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let env = TestEnv::new(&url);
    let (code, err) = fail(&env, &["org/tiny"]);
    assert_eq!(code, 1);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("HF_ENDPOINT"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new("http://127.0.0.1:9");
    for args in [
        &["bad--id/x"][..],
        &["a/b/c"],
        &["org/x", "--cache-dir", "a", "--local-dir", "b"],
        &["datasets/org/x", "--repo-type", "model"],
        &["org/x", "--repo-type", "bucket"],
        &["org/x", "../etc/passwd"],
    ] {
        let (code, err) = fail(&env, args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let (_, err) = fail(&env, &["bad--id/x"]);
    assert!(err.contains("bad--id/x"), "{err}");
}

#[test]
fn deprecated_flags_warn_once_and_work() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let out = env
        .hfdl()
        .args(["download", "--resume-download", "org/tiny", "--local-dir"])
        .arg(&dir)
        .args(["--local-dir-use-symlinks", "False", "--token", &hub.token()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("--resume-download").count(), 1, "{err}");
    assert_eq!(err.matches("--local-dir-use-symlinks").count(), 1, "{err}");
    assert!(dir.join("config.json").is_file());
}

#[test]
fn impossible_durations_are_usage_errors_not_panics() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    for bad in ["inf", "1e20", "nan", "0", "-3", "soon"] {
        let (code, err) = fail(&env, &["org/tiny", "--stall-timeout", bad]);
        assert_eq!(code, 2, "--stall-timeout {bad}: {err}");
        for var in ["HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT"] {
            let out = run_fail(env.hfdl().args(["download", "org/tiny"]).env(var, bad));
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{var}={bad}: {err}");
            assert!(err.contains(var) && !err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn a_url_as_target_is_refused_not_created_as_a_folder() {
    let hub = hub();
    let env = TestEnv::new(&hub.url());
    // A bucket is a `--local-dir` target only; other schemes are not supported.
    let refused = [
        ("--local-dir", "gs://models/m1"),
        ("--local-dir", "az://models/m1"),
        ("--cache-dir", "s3://models/m1"),
    ];
    for (flag, url) in refused {
        let (code, err) = fail(&env, &["org/tiny", flag, url]);
        assert_eq!(code, 2, "{flag} {url}: {err}");
        assert!(err.contains(url), "{err}");
    }
    let (code, err) = fail(&env, &["org/tiny", "--local-dir", "s3://Not_A_Bucket/m1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a valid bucket name"), "{err}");
    for scheme in ["s3:", "gs:", "az:"] {
        assert!(!std::path::Path::new(scheme).exists());
    }
    assert!(hub.requests().is_empty());
}
