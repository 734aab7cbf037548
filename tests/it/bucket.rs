//! `hfdl download --local-dir s3://…` into a real S3 server (SeaweedFS): the objects are
//! judged through boto3, not through hfdl; reruns, kill -9, corruption, many writers, errors.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::faults::{Running, claimed_bytes, file_gets, journal_claim, poll, served};
use crate::support::fake_hub::{FakeHub, Fault, FaultKind, Origin};
use crate::support::seaweed::Seaweed;
use crate::support::{TestEnv, bytes, run_fail, run_ok, sha256_hex, stderr, stdout_line};

const BIG: usize = 24 << 20;

fn repo_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("config.json", br#"{"a": 1}"#.to_vec()),
        ("tokenizer.json", bytes(40_000, 2)),
        ("sub/notes.txt", b"notes".to_vec()),
        ("model-00001-of-00002.safetensors", bytes(BIG, 3)),
        ("model-00002-of-00002.safetensors", bytes(3 << 20, 4)),
    ]
}

fn hub_with(faults: Vec<Fault>) -> FakeHub {
    let mut builder = FakeHub::builder().model("org/m1", |mut r| {
        for (name, data) in repo_files() {
            r = if name.ends_with(".safetensors") {
                r.lfs(name, data)
            } else {
                r.file(name, data)
            };
        }
        r
    });
    for fault in faults {
        builder = builder.fault(fault);
    }
    builder.build()
}

fn repo_size() -> u64 {
    repo_files().iter().map(|(_, d)| d.len() as u64).sum()
}

/// `hfdl` for this test, pointed at the S3 server.
fn hfdl(env: &TestEnv, s3: &Seaweed) -> Command {
    let mut cmd = env.hfdl();
    for (k, v) in s3.s3_env() {
        cmd.env(k, v);
    }
    cmd
}

/// The repo's objects under `prefix` (hfdl's records left out): key → (sha256, metadata).
fn repo_objects(
    s3: &Seaweed,
    prefix: &str,
) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    s3.objects(prefix)
        .into_iter()
        .filter_map(|o| {
            let rel = o.key.strip_prefix(&format!("{prefix}/"))?.to_owned();
            (!rel.starts_with(".hfdl/")).then_some((rel, (o.sha256, o.metadata)))
        })
        .collect()
}

fn assert_sound(s3: &Seaweed, prefix: &str) {
    let objects = repo_objects(s3, prefix);
    let expected: BTreeMap<String, String> = repo_files()
        .into_iter()
        .map(|(n, d)| (n.to_owned(), sha256_hex(&d)))
        .collect();
    let actual: BTreeMap<String, String> = objects
        .iter()
        .map(|(k, (sha, _))| (k.clone(), sha.clone()))
        .collect();
    assert_eq!(actual, expected, "objects under {prefix}");
    for (key, (sha, meta)) in &objects {
        if key.ends_with(".safetensors") {
            assert_eq!(meta.get("hfdl-etag"), Some(sha), "{key}: {meta:?}");
        }
        assert!(meta.contains_key("hfdl-commit"), "{key}: {meta:?}");
    }
}

#[test]
fn a_repo_into_a_bucket_is_sound_and_a_rerun_fetches_nothing() {
    let s3 = Seaweed::start();
    let hub = hub_with(Vec::new());
    let env = TestEnv::new(&hub.url());
    let target = format!("s3://{}/org/m1", s3.bucket());
    let out = run_ok(hfdl(&env, &s3).args(["download", "org/m1", "--local-dir", &target]));
    assert_eq!(stdout_line(&out), target);
    assert_sound(&s3, "org/m1");
    let commit = hub.commit("org/m1", "main");
    let records: Vec<String> = s3
        .objects("org/m1/.hfdl")
        .into_iter()
        .map(|o| o.key)
        .collect();
    for record in [
        format!("org/m1/.hfdl/complete/{commit}.json"),
        format!("org/m1/.hfdl/trees/{commit}.json"),
        "org/m1/.hfdl/refs/main".to_owned(),
    ] {
        assert!(records.contains(&record), "{record} in {records:?}");
    }
    assert!(
        records.iter().all(|r| !r.contains("/leases/")),
        "leases are released: {records:?}"
    );
    assert!(s3.multipart_uploads("org/m1").is_empty());
    let spool = env.hf_home().join("hfdl").join("spool");
    assert!(
        crate::support::files_under(&spool).is_empty(),
        "the spool is emptied: {:?}",
        crate::support::files_under(&spool)
    );

    // A rerun asks the revision only; nothing is fetched or written again.
    hub.clear_requests();
    let before = s3.objects("org/m1");
    let out = run_ok(hfdl(&env, &s3).args(["download", "org/m1", "--local-dir", &target]));
    assert_eq!(stdout_line(&out), target);
    assert!(file_gets(&hub, Origin::Hub).is_empty() && file_gets(&hub, Origin::Cdn).is_empty());
    assert_eq!(hub.requests().len(), 1, "{:?}", hub.requests());
    assert_eq!(s3.objects("org/m1"), before);

    // Dry run, JSON and offline answer from the prefix as from a local dir.
    let out =
        run_ok(hfdl(&env, &s3).args(["download", "org/m1", "--local-dir", &target, "--dry-run"]));
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        plan.contains("0 of 5") || plan.to_lowercase().contains("nothing"),
        "{plan}"
    );
    let out = run_ok(hfdl(&env, &s3).args([
        "download",
        "org/m1",
        "--local-dir",
        &target,
        "--format",
        "json",
    ]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["path"], target.as_str());
    assert_eq!(json["commit"], commit.as_str());
    hub.clear_requests();
    let out = run_ok(
        hfdl(&env, &s3)
            .args(["download", "org/m1", "--local-dir", &target])
            .env("HF_HUB_OFFLINE", "1"),
    );
    assert_eq!(stdout_line(&out), target);
    assert!(hub.requests().is_empty());
    // An object deleted behind hfdl's back is noticed offline, and fetched again online.
    s3.boto3(
        "s3.delete_object(Bucket=BUCKET, Key=sys.argv[1])",
        &["org/m1/config.json"],
    );
    let out = run_fail(
        hfdl(&env, &s3)
            .args(["download", "org/m1", "--local-dir", &target])
            .env("HF_HUB_OFFLINE", "1"),
    );
    assert!(stderr(&out).contains("config.json"), "{}", stderr(&out));
    run_ok(hfdl(&env, &s3).args(["download", "org/m1", "--local-dir", &target]));
    assert_sound(&s3, "org/m1");

    // `cache verify` reads the objects back and hashes them.
    let verify = |env: &TestEnv| {
        let mut cmd = hfdl(env, &s3);
        cmd.args(["cache", "verify", "org/m1", "--local-dir", &target]);
        cmd
    };
    let out = run_ok(&mut verify(&env));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains("checked 5 file(s)") && report.contains("0 corrupt"),
        "{report}"
    );
    s3.put_object("org/m1/tokenizer.json", b"not the tokenizer");
    s3.put_object("org/m1/stray.bin", b"stray");
    let out = run_fail(&mut verify(&env));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{report}{}", stderr(&out));
    assert!(
        report.contains("corrupt  tokenizer.json") && report.contains("extra    stray.bin"),
        "{report}"
    );
}

#[test]
fn kill_9_then_rerun_completes_and_aborts_what_a_dead_writer_left() {
    let s3 = Seaweed::start();
    // Slow enough (12 pieces of 2 MiB at 256 KiB/s each) that a checkpoint claims 4 MiB long
    // before the file is complete.
    let throttle = Fault::new(FaultKind::Throttle(256 << 10))
        .cdn()
        .path(&sha256_hex(&repo_files()[3].1))
        .times(u32::MAX);
    let hub = hub_with(vec![throttle]);
    let env = TestEnv::new(&hub.url());
    let target = format!("s3://{}/killed", s3.bucket());
    let mut cmd = hfdl(&env, &s3);
    cmd.args(["download", "org/m1", "--local-dir", &target]);
    let run = Running::spawn(&env, "first", cmd);
    // Killed once the spool's journal claims part of the big file.
    let spool = env.hf_home().join("hfdl").join("spool");
    let claimed = || {
        crate::support::files_under(&spool)
            .iter()
            .filter(|f| f.ends_with(".journal"))
            .filter_map(|f| journal_claim(&spool.join(f)))
            .map(|c| claimed_bytes(&c))
            .max()
            .unwrap_or(0)
    };
    let started = poll(Duration::from_secs(20), || claimed() >= 4 << 20);
    assert!(started, "{}", run.stderr_so_far());
    run.kill_9();
    assert!(
        repo_objects(&s3, "killed")
            .keys()
            .all(|k| k != "model-00001-of-00002.safetensors"),
        "no object for a file that was not complete"
    );
    // A multipart upload a dead writer left for the big file (as if killed while uploading).
    s3.boto3(
        "s3.create_multipart_upload(Bucket=BUCKET, Key=sys.argv[1])",
        &["killed/model-00001-of-00002.safetensors"],
    );
    let pending = s3.multipart_uploads("killed");
    assert!(
        pending.contains(&"killed/model-00001-of-00002.safetensors".to_owned()),
        "{pending:?}"
    );
    hub.clear_faults();
    hub.clear_requests();
    let out = run_ok(hfdl(&env, &s3).args(["download", "org/m1", "--local-dir", &target]));
    assert_eq!(stdout_line(&out), target);
    assert_sound(&s3, "killed");
    assert!(
        s3.multipart_uploads("killed").is_empty(),
        "{:?}",
        s3.multipart_uploads("killed")
    );
    // The big file resumed from the spool (same node): not all of it again.
    let again = served(&file_gets(&hub, Origin::Cdn));
    assert!(
        again < repo_size() - (4 << 20),
        "fetched {again} bytes again"
    );
}

#[test]
fn a_persistently_corrupt_file_never_appears_under_its_key() {
    let s3 = Seaweed::start();
    // One file uploaded in one PUT, one streamed as a multipart upload while it downloads.
    let corrupt = |at: u64, file: usize| {
        Fault::new(FaultKind::CorruptByte(at))
            .cdn()
            .path(&sha256_hex(&repo_files()[file].1))
            .times(u32::MAX)
    };
    let (small, big) = (corrupt(12_345, 4), corrupt(20 << 20, 3));
    let hub = hub_with(vec![small.clone(), big.clone()]);
    let env = TestEnv::new(&hub.url());
    let target = format!("s3://{}/corrupt", s3.bucket());
    let out = run_fail(hfdl(&env, &s3).args(["download", "org/m1", "--local-dir", &target]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(err.contains("model-0000"), "{err}");
    assert!(
        small.fired() >= 2 || big.fired() >= 2,
        "fetched again once: {} {}",
        small.fired(),
        big.fired()
    );
    let keys: Vec<String> = repo_objects(&s3, "corrupt").into_keys().collect();
    assert!(
        !keys.iter().any(|k| k.ends_with(".safetensors")),
        "{keys:?}"
    );
    assert!(s3.multipart_uploads("corrupt").is_empty(), "aborted");
    let records: Vec<String> = s3
        .objects("corrupt/.hfdl/complete")
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(records.is_empty(), "no completion record: {records:?}");
}

#[test]
fn three_writers_into_one_prefix_fetch_the_repo_about_once() {
    let s3 = Seaweed::start();
    let throttle = Fault::new(FaultKind::Throttle(8 << 20))
        .cdn()
        .times(u32::MAX);
    let hub = hub_with(vec![throttle]);
    let target = format!("s3://{}/shared/m1", s3.bucket());
    // Three "nodes": each its own HF_HOME (so its own spool).
    let envs: Vec<TestEnv> = (0..3).map(|_| TestEnv::new(&hub.url())).collect();
    let runs: Vec<Running> = envs
        .iter()
        .enumerate()
        .map(|(i, env)| {
            let mut cmd = hfdl(env, &s3);
            cmd.args(["download", "org/m1", "--local-dir", &target]);
            Running::spawn(env, &format!("writer{i}"), cmd)
        })
        .collect();
    for run in runs {
        let out = run.wait();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout_line(&out), target);
    }
    assert_sound(&s3, "shared/m1");
    let fetched = served(&file_gets(&hub, Origin::Cdn)) + served(&file_gets(&hub, Origin::Hub));
    let ratio = fetched as f64 / repo_size() as f64;
    assert!(ratio < 1.2, "three writers fetched {ratio:.3}x the repo");
    assert!(s3.multipart_uploads("shared").is_empty());
}

#[test]
fn bad_credentials_and_a_missing_bucket_fail_clearly() {
    let s3 = Seaweed::start();
    let hub = hub_with(Vec::new());
    let env = TestEnv::new(&hub.url());
    let target = format!("s3://{}/m1", s3.bucket());
    let out = run_fail(
        hfdl(&env, &s3)
            .args(["download", "org/m1", "--local-dir", &target])
            .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-value"),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&s3.s3_endpoint()) && err.contains(s3.bucket()),
        "{err}"
    );
    assert!(
        err.contains("AWS_SECRET_ACCESS_KEY"),
        "a hint names the variables: {err}"
    );
    assert!(
        !err.contains("wrong-secret-value") && !err.contains(s3.secret_key()),
        "{err}"
    );

    let out = run_fail(hfdl(&env, &s3).args([
        "download",
        "org/m1",
        "--local-dir",
        "s3://no-such-bucket/m1",
    ]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no-such-bucket") && err.contains(&s3.s3_endpoint()),
        "{err}"
    );

    let out = run_fail(
        hfdl(&env, &s3)
            .args(["download", "org/m1", "--local-dir", &target])
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", crate::support::closed_port()),
            ),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    assert!(
        file_gets(&hub, Origin::Cdn).is_empty(),
        "nothing fetched before the bucket answers"
    );
}
