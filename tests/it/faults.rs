//! `hfdl download` when things go wrong: failing, cut, stalled and corrupting servers, crashes
//! and Ctrl-C mid-download, content changing under a partial file, concurrent runs, mirror
//! quirks and hostile input.
//!
//! Every test checks the final bytes (sha256) and what was asked of the servers: how many bytes
//! each response served and where the `Range` of a retry started. `note` prints a line per
//! scenario (bytes served vs file size); run with `--nocapture` to see them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use sha1::{Digest as _, Sha1};

use crate::support::fake_hub::{FakeHub, FakeHubBuilder, Fault, FaultKind, Origin, Recorded};
use crate::support::{TestEnv, bytes, describe, files_under, run_fail, run_ok, sha256_hex, stderr};

const MIB: usize = 1 << 20;
/// A hang guard for whole runs, not a benchmark.
const HANG_GUARD: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One line of the bytes-served table.
#[expect(clippy::print_stderr, reason = "the scenario table for the report")]
pub(crate) fn note(scenario: &str, served: u64, size: usize) {
    let ratio = served as f64 / size as f64;
    eprintln!("| {scenario} | {size} | {served} | {ratio:.3} |");
}

/// `org/m` with one LFS file `w.bin`.
fn lfs_hub(data: &[u8]) -> FakeHubBuilder {
    FakeHub::builder().model("org/m", |r| r.lfs("w.bin", data))
}

/// The GETs that reached `origin`, in order, whatever they were answered.
pub(crate) fn gets(hub: &FakeHub, origin: Origin) -> Vec<Recorded> {
    let requests = hub.requests().into_iter();
    requests
        .filter(|r| r.origin == origin && r.method == "GET" && !r.path.starts_with("/api/"))
        .collect()
}

/// The GETs of `origin` that were answered with file bytes (200 or 206).
pub(crate) fn file_gets(hub: &FakeHub, origin: Origin) -> Vec<Recorded> {
    let gets = gets(hub, origin).into_iter();
    gets.filter(|r| matches!(r.status, 200 | 206)).collect()
}

/// File bytes served by these responses.
pub(crate) fn served(requests: &[Recorded]) -> u64 {
    let ok = requests.iter().filter(|r| matches!(r.status, 200 | 206));
    ok.map(|r| r.body_bytes).sum()
}

pub(crate) fn statuses(requests: &[Recorded]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

/// The first byte a request asked for: `Range: bytes=<n>-...`; 0 without a `Range`.
pub(crate) fn range_start(r: &Recorded) -> u64 {
    let Some(range) = &r.range else { return 0 };
    let spec = range.strip_prefix("bytes=").expect("a byte range");
    let (start, _) = spec.split_once('-').expect("a byte range");
    start.parse().expect("a range with a start")
}

fn git_blob_sha1(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finalize())
}

fn flipped(data: &[u8], at: usize) -> Vec<u8> {
    let mut copy = data.to_vec();
    copy[at] ^= 0xff;
    copy
}

fn sha256_of_file(path: &Path) -> String {
    sha256_hex(&fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `hfdl download` as a child process, its output going to files, killed if the test panics.
pub(crate) struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

impl Running {
    pub(crate) fn spawn(env: &TestEnv, name: &str, mut cmd: Command) -> Self {
        let (out, err) = (
            env.path(&format!("{name}.out")),
            env.path(&format!("{name}.err")),
        );
        let child = cmd
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawn hfdl");
        let started = Instant::now();
        Self {
            child,
            out,
            err,
            started,
        }
    }

    pub(crate) fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Waits for the exit, at most until the hang guard; returns the output.
    pub(crate) fn wait(self) -> Output {
        self.wait_for(HANG_GUARD)
    }

    /// Waits for the exit, at most `guard` since the start (a hang guard); returns the output.
    pub(crate) fn wait_for(mut self, guard: Duration) -> Output {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if self.started.elapsed() > guard {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("hfdl still runs after {guard:?}\n{}", self.stderr_so_far());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.output(status)
    }

    /// SIGKILL: the process dies at once, as in a crash.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    fn output(&self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: fs::read(&self.out).unwrap_or_default(),
            stderr: fs::read(&self.err).unwrap_or_default(),
        }
    }

    /// What it printed on stderr so far, for failure messages.
    pub(crate) fn stderr_so_far(&self) -> String {
        let err = fs::read_to_string(&self.err).unwrap_or_default();
        format!("--- stderr so far\n{err}")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `ready` every 20 ms until it holds; false if `limit` passed first.
pub(crate) fn poll(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The byte ranges a resume journal claims, if it exists and parses.
pub(crate) fn journal_claim(path: &Path) -> Option<Vec<(u64, u64)>> {
    let text = fs::read(path).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let done = json.get("done")?.as_array()?;
    let pair = |v: &serde_json::Value| Some((v.get(0)?.as_u64()?, v.get(1)?.as_u64()?));
    done.iter().map(pair).collect()
}

pub(crate) fn claimed_bytes(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(s, e)| e - s).sum()
}

/// Where the cache of `env` keeps the blob of this LFS content (in `org/m`).
fn cache_blob(env: &TestEnv, data: &[u8]) -> PathBuf {
    env.cache()
        .join("models--org--m/blobs")
        .join(sha256_hex(data))
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The one `*.hfdl-partial` file of a local dir's download folder.
fn local_partial(dir: &Path) -> Option<PathBuf> {
    let download = dir.join(".cache/huggingface/download");
    let entries = fs::read_dir(download).ok()?;
    let mut names = entries.flatten().map(|e| e.path());
    names.find(|p| p.extension().is_some_and(|e| e == "hfdl-partial"))
}

/// Runs `cmd` (a throttled download), waits until the journal at `journal()` claims 4 MiB, and
/// kills it with SIGKILL. Returns the ranges the journal claims after the kill.
fn crash_mid_download(
    env: &TestEnv,
    cmd: Command,
    journal: impl Fn() -> PathBuf,
) -> Vec<(u64, u64)> {
    let run = Running::spawn(env, "crashed", cmd);
    let claimed = poll(Duration::from_secs(10), || {
        journal_claim(&journal()).is_some_and(|c| claimed_bytes(&c) >= 4 * MIB as u64)
    });
    if !claimed {
        let text = run.stderr_so_far();
        drop(run);
        panic!("no journal claiming 4 MiB within 10 s\n{text}");
    }
    run.kill_9();
    journal_claim(&journal()).expect("the journal survives SIGKILL")
}

// ---------------------------------------------------------------------------------------------
// 1. Retries
// ---------------------------------------------------------------------------------------------

#[test]
fn cdn_500_once_is_retried() {
    let data = bytes(3 * MIB, 11);
    let hub = lfs_hub(&data).fault(Fault::status(500).cdn()).build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    let cdn = gets(&hub, Origin::Cdn);
    assert_eq!(statuses(&cdn), [500, 206], "{cdn:#?}");
    assert_eq!(
        range_start(&cdn[1]),
        0,
        "nothing was written before the 500"
    );
    assert_eq!(served(&cdn), data.len() as u64);
    note("500 once on the CDN", served(&cdn), data.len());
}

#[test]
fn hub_503_twice_is_retried() {
    let data = bytes(3 * MIB, 12);
    let fault = Fault::status(503).hub().path("/resolve/").method("GET");
    let hub = lfs_hub(&data).fault(fault.times(2)).build();
    let env = TestEnv::new(&hub.url());
    let out = env.download(&["org/m", "w.bin"]);
    assert_eq!(sha256_of_file(Path::new(&out)), sha256_hex(&data));
    assert_eq!(statuses(&gets(&hub, Origin::Hub)), [503, 503, 302]);
    let cdn = gets(&hub, Origin::Cdn);
    assert_eq!(statuses(&cdn), [206]);
    assert_eq!(served(&cdn), data.len() as u64);
    note("503 twice on the Hub's resolve", served(&cdn), data.len());
}

#[test]
fn rate_limit_waits_for_retry_after() {
    let data = bytes(MIB, 13);
    let hub = lfs_hub(&data)
        .fault(Fault::status(429).retry_after(1).cdn())
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    let requests = hub.requests();
    let limited = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429");
    let next = requests.get(limited + 1).expect("a retry after the 429");
    let waited = next.at - requests[limited].at;
    assert!(
        waited >= Duration::from_secs(1),
        "retried {waited:?} after `Retry-After: 1`"
    );
    let cdn = gets(&hub, Origin::Cdn);
    assert_eq!(statuses(&cdn), [429, 206]);
    assert_eq!(served(&cdn), data.len() as u64);
    note("429 + Retry-After: 1 on the CDN", served(&cdn), data.len());
}

/// A body cut after `cut` bytes by `kind`: the retry asks for the rest only.
fn resumes_after_cut(kind: FaultKind, cut: u64, scenario: &str) {
    let data = bytes(3 * MIB, 14);
    let hub = lfs_hub(&data).fault(Fault::new(kind).cdn()).build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    hub.assert_faults_fired();
    let cdn = file_gets(&hub, Origin::Cdn);
    assert_eq!(cdn.len(), 2, "{cdn:#?}");
    assert_eq!(range_start(&cdn[0]), 0);
    assert_eq!(cdn[0].body_bytes, cut);
    let resumed_at = range_start(&cdn[1]);
    assert!(
        resumed_at > 0 && resumed_at <= cut,
        "the retry must continue after the bytes already received: {cdn:#?}"
    );
    assert_eq!(
        cdn[1].range.as_deref(),
        Some(format!("bytes={resumed_at}-{}", data.len() - 1).as_str())
    );
    let total = served(&cdn);
    assert!(
        total <= data.len() as u64 + cut - resumed_at,
        "served {total} for {} bytes",
        data.len()
    );
    note(scenario, total, data.len());
}

#[test]
fn dropped_connection_resumes_from_the_offset() {
    let cut = MIB as u64;
    resumes_after_cut(
        FaultKind::DropAfter(cut),
        cut,
        "connection dropped after 1 MiB",
    );
}

#[test]
fn short_body_resumes_from_the_offset() {
    let cut = MIB as u64 + 12_345;
    resumes_after_cut(FaultKind::ShortBody(cut), cut, "short body (1 MiB + 12345)");
}

#[test]
fn entry_not_found_is_not_retried() {
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("a.txt", b"a"))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = run_fail(env.hfdl().args(["download", "org/m", "missing.txt"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("`missing.txt` not found"), "{err}");
    let requests = hub.requests();
    assert_eq!(requests.len(), 1, "asked once: {requests:#?}");
    assert_eq!(requests[0].status, 404);
}

#[test]
fn unauthorized_is_not_retried() {
    let data = bytes(MIB, 15);
    let fault = Fault::status(401).hub().path("/resolve/").method("GET");
    let hub = lfs_hub(&data).fault(fault.times(u32::MAX)).build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&dir)]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let resolves = gets(&hub, Origin::Hub);
    assert_eq!(statuses(&resolves), [401], "asked once: {resolves:#?}");
    assert!(gets(&hub, Origin::Cdn).is_empty());
    assert!(!dir.join("w.bin").exists());
    assert!(stderr(&out).contains("w.bin"), "{}", stderr(&out));
}

#[test]
fn expired_cdn_link_is_resolved_again() {
    // Large enough to be split: a 1-byte probe learns the CDN URL, then ranges go straight
    // to the CDN. The first of those finds the signed URL expired (403).
    let data = bytes(20 * MIB, 16);
    let hub = lfs_hub(&data)
        .fault(Fault::status(403).cdn().after(1))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    hub.assert_faults_fired();
    let requests = hub.requests();
    let expired = requests.iter().position(|r| r.status == 403).unwrap();
    let again = &requests[expired + 1..];
    assert!(
        again
            .iter()
            .any(|r| r.origin == Origin::Hub && r.path.contains("/resolve/")),
        "a fresh link is asked of the Hub after the 403: {requests:#?}"
    );
    let resolves = gets(&hub, Origin::Hub);
    assert!(resolves.len() >= 2, "{resolves:#?}");
    let cdn = gets(&hub, Origin::Cdn);
    let total = served(&cdn);
    // Splitting a range in flight may waste what loopback already delivered (see download.rs).
    assert!(total <= data.len() as u64 * 13 / 10, "served {total}");
    note("403 once from the CDN (expired link)", total, data.len());
}

// ---------------------------------------------------------------------------------------------
// 2. Stalls
// ---------------------------------------------------------------------------------------------

#[test]
fn stalled_connection_is_dropped_and_resumed() {
    let data = bytes(4 * MIB, 21);
    let cut = MIB as u64;
    let hub = lfs_hub(&data)
        .fault(Fault::new(FaultKind::StallAfter(cut)).cdn())
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let start = Instant::now();
    let out = run_ok(env.hfdl().args([
        "download",
        "org/m",
        "--local-dir",
        s(&dir),
        "--stall-timeout",
        "1",
    ]));
    let elapsed = start.elapsed();
    assert!(elapsed < HANG_GUARD, "took {elapsed:?}\n{}", describe(&out));
    assert!(
        elapsed >= Duration::from_secs(1),
        "the stall was waited for"
    );
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    let cdn = file_gets(&hub, Origin::Cdn);
    assert_eq!(cdn.len(), 2, "{cdn:#?}");
    assert_eq!(cdn[0].body_bytes, cut);
    let resumed_at = range_start(&cdn[1]);
    assert!(resumed_at > 0 && resumed_at <= cut, "{cdn:#?}");
    let total = served(&cdn);
    assert!(total <= data.len() as u64 + cut - resumed_at);
    note("stall after 1 MiB, --stall-timeout 1", total, data.len());
}

// ---------------------------------------------------------------------------------------------
// 3. Integrity
// ---------------------------------------------------------------------------------------------

#[test]
fn corrupt_byte_once_is_downloaded_again() {
    let data = bytes(3 * MIB, 31);
    let at = 2 * MIB as u64 + 5;
    let hub = lfs_hub(&data)
        .fault(Fault::new(FaultKind::CorruptByte(at)).cdn())
        .build();
    let env = TestEnv::new(&hub.url());
    let out = run_ok(env.hfdl().args(["download", "org/m", "w.bin"]));
    let path = crate::support::stdout_line(&out);
    assert_eq!(sha256_of_file(Path::new(&path)), sha256_hex(&data));
    assert_eq!(sha256_of_file(&cache_blob(&env, &data)), sha256_hex(&data));
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    let cdn = file_gets(&hub, Origin::Cdn);
    assert_eq!(cdn.len(), 2, "downloaded twice: {cdn:#?}");
    assert!(cdn.iter().all(|r| range_start(r) == 0), "{cdn:#?}");
    let total = served(&cdn);
    assert_eq!(total, 2 * data.len() as u64);
    note("one corrupt byte (re-downloaded)", total, data.len());
}

#[test]
fn always_corrupt_fails_and_places_nothing() {
    let data = bytes(3 * MIB, 32);
    let at = 1234;
    let fault = Fault::new(FaultKind::CorruptByte(at)).cdn().times(u32::MAX);
    let hub = lfs_hub(&data).fault(fault).build();
    let env = TestEnv::new(&hub.url());
    let expected = sha256_hex(&data);
    let actual = sha256_hex(&flipped(&data, at as usize));
    let check = |out: &Output| {
        assert_eq!(out.status.code(), Some(1), "{}", describe(out));
        let err = stderr(out);
        for word in ["w.bin", "checksum mismatch", &expected, &actual] {
            assert!(err.contains(word), "stderr lacks {word}:\n{err}");
        }
    };

    let out = run_fail(env.hfdl().args(["download", "org/m", "w.bin"]));
    check(&out);
    let commit = hub.commit("org/m", "main");
    let repo = env.cache().join("models--org--m");
    let pointer = repo.join("snapshots").join(&commit).join("w.bin");
    assert!(fs::symlink_metadata(&pointer).is_err(), "no snapshot entry");
    assert!(!cache_blob(&env, &data).exists(), "no blob");
    let cdn = file_gets(&hub, Origin::Cdn);
    assert_eq!(cdn.len(), 2, "one fresh retry, then give up: {cdn:#?}");
    note("always corrupt (cache, fails)", served(&cdn), data.len());

    hub.clear_requests();
    let dir = env.path("out");
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&dir)]),
    );
    check(&out);
    assert!(fs::symlink_metadata(dir.join("w.bin")).is_err(), "no file");
    assert!(
        !dir.join(".cache/huggingface/download/w.bin.metadata")
            .exists()
    );
    assert_eq!(file_gets(&hub, Origin::Cdn).len(), 2);
}

#[test]
fn corrupt_regular_file_is_caught_by_git_sha1() {
    let data = bytes(100_000, 33);
    let at = 77_777;
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("config.bin", &data))
        .fault(Fault::new(FaultKind::CorruptByte(at)).hub().times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&dir)]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    let (expected, actual) = (
        git_blob_sha1(&data),
        git_blob_sha1(&flipped(&data, at as usize)),
    );
    for word in ["config.bin", expected.as_str(), actual.as_str()] {
        assert!(err.contains(word), "stderr lacks {word}:\n{err}");
    }
    assert!(fs::symlink_metadata(dir.join("config.bin")).is_err());
    let hub_gets = file_gets(&hub, Origin::Hub);
    assert_eq!(hub_gets.len(), 2, "{hub_gets:#?}");

    // Corrupt once: the second download is right.
    hub.clear_faults();
    hub.set_fault(Fault::new(FaultKind::CorruptByte(at)).hub());
    hub.clear_requests();
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(fs::read(dir.join("config.bin")).unwrap(), data);
    note(
        "regular file, one corrupt byte",
        served(&file_gets(&hub, Origin::Hub)),
        data.len(),
    );
}

#[test]
fn html_page_instead_of_the_file_is_caught() {
    // A captive portal answering 200 text/html, longer than the file itself.
    let page = format!(
        "<!doctype html><html><body>{}</body></html>",
        "log in ".repeat(2000)
    );
    let data = bytes(4000, 34);
    let fault = Fault::new(FaultKind::Html(page.clone()))
        .hub()
        .path("/resolve/");
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("a.bin", &data))
        .fault(fault.times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&dir)]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("a.bin"), "{}", stderr(&out));
    assert!(fs::symlink_metadata(dir.join("a.bin")).is_err(), "no file");

    // Shorter than the file, once, on the CDN: the download still ends with the right bytes.
    let data = bytes(3 * MIB, 35);
    let hub = lfs_hub(&data)
        .fault(Fault::new(FaultKind::Html("<html>sign in</html>".into())).cdn())
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    let cdn = gets(&hub, Origin::Cdn);
    assert_eq!(cdn[0].status, 200, "{cdn:#?}");
    let total = served(&cdn);
    assert!(total <= 2 * data.len() as u64 + 100, "served {total}");
    note("HTML page once on the CDN", total, data.len());
}

// ---------------------------------------------------------------------------------------------
// 4. Crash-safe resume
// ---------------------------------------------------------------------------------------------

#[test]
fn sigkill_resumes_from_the_journal() {
    let data = bytes(48 * MIB, 41);
    let throttle = Fault::new(FaultKind::Throttle(MIB as u64)).cdn();
    let hub = lfs_hub(&data).fault(throttle.times(u32::MAX)).build();
    let env = TestEnv::new(&hub.url());
    let partial = with_suffix(&cache_blob(&env, &data), ".hfdl-partial");
    let journal = with_suffix(&partial, ".journal");
    let mut cmd = env.hfdl();
    cmd.args(["download", "org/m", "--connections", "2"]);
    let claimed = crash_mid_download(&env, cmd, || journal.clone());
    let claimed_len = claimed_bytes(&claimed);
    assert!(partial.exists(), "the partial file survives SIGKILL");

    hub.clear_faults();
    hub.clear_requests();
    let out = env.download(&["org/m"]);
    assert_eq!(
        sha256_of_file(&Path::new(&out).join("w.bin")),
        sha256_hex(&data)
    );
    assert!(!partial.exists() && !journal.exists(), "cleaned up");
    let cdn = file_gets(&hub, Origin::Cdn);
    let total = served(&cdn);
    let missing = data.len() as u64 - claimed_len;
    assert!(
        total <= missing + 2 * MIB as u64,
        "the rerun fetched {total} bytes; the journal claimed {claimed_len} of {}",
        data.len()
    );
    for r in cdn
        .iter()
        .filter(|r| r.range.as_deref() != Some("bytes=0-0"))
    {
        let at = range_start(r);
        assert!(
            !claimed.iter().any(|&(s, e)| (s..e).contains(&at)),
            "{r:?} asks for bytes the journal claims: {claimed:?}"
        );
    }
    note(
        &format!("rerun after SIGKILL (journal claimed {claimed_len})"),
        total,
        data.len(),
    );
}

// ---------------------------------------------------------------------------------------------
// 5. The etag changed under a partial file
// ---------------------------------------------------------------------------------------------

#[test]
fn changed_etag_does_not_reuse_the_partial_in_the_cache() {
    let old = bytes(24 * MIB, 51);
    let new = bytes(24 * MIB, 52);
    let throttle = Fault::new(FaultKind::Throttle(MIB as u64)).cdn();
    let hub_old = lfs_hub(&old).fault(throttle.times(u32::MAX)).build();
    let env = TestEnv::new(&hub_old.url());
    let old_partial = with_suffix(&cache_blob(&env, &old), ".hfdl-partial");
    let old_journal = with_suffix(&old_partial, ".journal");
    let mut cmd = env.hfdl();
    cmd.args(["download", "org/m", "--connections", "2"]);
    crash_mid_download(&env, cmd, || old_journal.clone());
    let old_bytes = fs::read(&old_partial).unwrap();

    // The repo now serves other content at that path.
    // One connection: no range is split in flight, so the byte count is exact.
    let hub_new = lfs_hub(&new).build();
    let out = run_ok(env.hfdl().env("HF_ENDPOINT", hub_new.url()).args([
        "download",
        "org/m",
        "--connections",
        "1",
    ]));
    let snapshot = crate::support::stdout_line(&out);
    assert_eq!(
        sha256_of_file(&Path::new(&snapshot).join("w.bin")),
        sha256_hex(&new)
    );
    assert!(
        !stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    let total = served(&file_gets(&hub_new, Origin::Cdn));
    assert!(
        total >= new.len() as u64 && total <= new.len() as u64 + 1,
        "served {total}: the old partial must be neither reused nor retried over"
    );
    assert_eq!(
        fs::read(&old_partial).unwrap(),
        old_bytes,
        "the old partial is left alone"
    );
    note("etag changed (cache): new content", total, new.len());
}

#[test]
fn changed_etag_discards_the_journal_in_a_local_dir() {
    // Different sizes, so a partial shorter than the new file cannot pass as a plain prefix.
    let old = bytes(20 * MIB, 53);
    let new = bytes(24 * MIB, 54);
    let throttle = Fault::new(FaultKind::Throttle(MIB as u64)).cdn();
    let hub_old = lfs_hub(&old).fault(throttle.times(u32::MAX)).build();
    let env = TestEnv::new(&hub_old.url());
    let dir = env.path("out");
    let mut cmd = env.hfdl();
    cmd.args([
        "download",
        "org/m",
        "--local-dir",
        s(&dir),
        "--connections",
        "2",
    ]);
    crash_mid_download(&env, cmd, || {
        local_partial(&dir).map_or_else(PathBuf::new, |p| with_suffix(&p, ".journal"))
    });
    let old_partial = local_partial(&dir).expect("a partial file");
    let old_name = old_partial
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(old_name.contains(&sha256_hex(&old)), "{old_name}");

    // Put the old partial and its journal where the new content's partial goes, as if the
    // names had collided: the journal names the old etag, so nothing of it may be trusted.
    let new_name = old_name.replace(&sha256_hex(&old), &sha256_hex(&new));
    let new_partial = old_partial.with_file_name(&new_name);
    fs::rename(&old_partial, &new_partial).unwrap();
    fs::rename(
        with_suffix(&old_partial, ".journal"),
        with_suffix(&new_partial, ".journal"),
    )
    .unwrap();

    // One connection: no range is split in flight, so the byte count is exact.
    let hub_new = lfs_hub(&new).build();
    let out = run_ok(env.hfdl().env("HF_ENDPOINT", hub_new.url()).args([
        "download",
        "org/m",
        "--local-dir",
        s(&dir),
        "--connections",
        "1",
    ]));
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&new));
    assert!(
        !stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    let cdn = file_gets(&hub_new, Origin::Cdn);
    let total = served(&cdn);
    assert!(
        total >= new.len() as u64 && total <= new.len() as u64 + 1,
        "served {total} for {}: a journal of other content must be discarded\n{}",
        new.len(),
        stderr(&out)
    );
    note("etag changed (local dir, stale journal)", total, new.len());
}

// ---------------------------------------------------------------------------------------------
// 6. Ctrl-C
// ---------------------------------------------------------------------------------------------

#[test]
fn ctrl_c_exits_130_keeps_the_partial_and_resumes() {
    let data = bytes(32 * MIB, 61);
    let throttle = Fault::new(FaultKind::Throttle(MIB as u64)).cdn();
    let hub = lfs_hub(&data).fault(throttle.times(u32::MAX)).build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let mut cmd = env.hfdl();
    cmd.args([
        "download",
        "org/m",
        "--local-dir",
        s(&dir),
        "--connections",
        "2",
    ]);
    let run = Running::spawn(&env, "interrupted", cmd);
    let flowing = poll(Duration::from_secs(10), || {
        served(&gets(&hub, Origin::Cdn)) >= 4 * MIB as u64
    });
    assert!(flowing, "no data flowed\n{}", run.stderr_so_far());
    let sent = Command::new("kill")
        .args(["-INT", &run.pid()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let out = run.wait();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(!dir.join("w.bin").exists());
    let partial = local_partial(&dir).expect("the partial file is kept");
    let claimed = journal_claim(&with_suffix(&partial, ".journal")).expect("a journal");
    let claimed_len = claimed_bytes(&claimed);
    assert!(
        claimed_len >= 2 * MIB as u64,
        "the journal claims {claimed_len}"
    );

    hub.clear_faults();
    hub.clear_requests();
    env.download(&["org/m", "--local-dir", s(&dir)]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    assert!(local_partial(&dir).is_none(), "cleaned up");
    let total = served(&file_gets(&hub, Origin::Cdn));
    let missing = data.len() as u64 - claimed_len;
    assert!(
        total <= missing + 2 * MIB as u64,
        "the rerun fetched {total}; {claimed_len} of {} were kept",
        data.len()
    );
    note(
        &format!("rerun after Ctrl-C (journal claimed {claimed_len})"),
        total,
        data.len(),
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Concurrency
// ---------------------------------------------------------------------------------------------

fn shared_repo(big: &[u8]) -> FakeHubBuilder {
    FakeHub::builder().model("org/m", |r| {
        r.lfs("big.bin", big)
            .lfs("small.bin", bytes(300_000, 72))
            .file("config.json", br#"{"x": 1}"#)
    })
}

fn big_served(hub: &FakeHub, big: &[u8]) -> u64 {
    let sha = sha256_hex(big);
    let cdn = file_gets(hub, Origin::Cdn);
    let of_big: Vec<Recorded> = cdn.into_iter().filter(|r| r.path.contains(&sha)).collect();
    served(&of_big)
}

#[test]
fn two_processes_share_one_cache() {
    let big = bytes(20 * MIB, 71);
    let throttle = Fault::new(FaultKind::Throttle(4 * MIB as u64)).cdn();
    let hub = shared_repo(&big).fault(throttle.times(u32::MAX)).build();
    let env = TestEnv::new(&hub.url());
    let mut a = env.hfdl();
    a.args(["download", "org/m"]);
    let mut b = env.hfdl();
    b.args(["download", "org/m"]);
    let (a, b) = (Running::spawn(&env, "a", a), Running::spawn(&env, "b", b));
    let (a, b) = (a.wait(), b.wait());
    assert!(a.status.success(), "{}", describe(&a));
    assert!(b.status.success(), "{}", describe(&b));
    assert_eq!(a.stdout, b.stdout);
    let snapshot = PathBuf::from(String::from_utf8(a.stdout).unwrap().trim());
    assert_eq!(sha256_of_file(&snapshot.join("big.bin")), sha256_hex(&big));
    assert_eq!(
        fs::read(snapshot.join("small.bin")).unwrap(),
        bytes(300_000, 72)
    );
    assert_eq!(
        fs::read(snapshot.join("config.json")).unwrap(),
        br#"{"x": 1}"#
    );
    let blobs = env.cache().join("models--org--m/blobs");
    let names: Vec<String> = fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "only finished blobs: {names:?}");
    let total = big_served(&hub, &big);
    assert!(
        total <= big.len() as u64 * 13 / 10,
        "the big file was served {total} bytes for {}",
        big.len()
    );
    note("two hfdl at once, same cache", total, big.len());
}

#[test]
fn hfdl_and_the_official_client_share_one_cache() {
    let big = bytes(20 * MIB, 73);
    let throttle = Fault::new(FaultKind::Throttle(4 * MIB as u64)).cdn();
    let hub = shared_repo(&big).fault(throttle.times(u32::MAX)).build();
    let env = TestEnv::new(&hub.url());
    let mut official = crate::support::python::scrubbed_command(crate::support::python::hf_cli());
    official
        .env("HF_HOME", env.hf_home())
        .env("HF_ENDPOINT", hub.url())
        .args(["download", "org/m"]);
    let mut ours = env.hfdl();
    ours.args(["download", "org/m"]);
    let official = Running::spawn(&env, "hf", official);
    let ours = Running::spawn(&env, "hfdl", ours);
    let (official, ours) = (official.wait(), ours.wait());
    assert!(official.status.success(), "hf: {}", describe(&official));
    assert!(ours.status.success(), "hfdl: {}", describe(&ours));
    let snapshot = PathBuf::from(String::from_utf8(ours.stdout).unwrap().trim());
    let theirs = String::from_utf8(official.stdout).unwrap();
    assert!(theirs.contains(s(&snapshot)), "hf printed {theirs}");
    assert_eq!(sha256_of_file(&snapshot.join("big.bin")), sha256_hex(&big));
    assert_eq!(sha256_of_file(&cache_blob(&env, &big)), sha256_hex(&big));
    let total = big_served(&hub, &big);
    assert!(
        total <= big.len() as u64 * 13 / 10,
        "the big file was served {total} bytes for {}",
        big.len()
    );
    note("hfdl + hf at once, same cache", total, big.len());
}

/// A repo of one large throttled file and slow small ones, for pruning under a running download.
fn busy_repo(big: &[u8]) -> FakeHub {
    let throttle = Fault::new(FaultKind::Throttle(3 * MIB as u64)).cdn();
    let slow = Fault::new(FaultKind::Delay(Duration::from_millis(150))).path("/resolve/");
    FakeHub::builder()
        .model("org/m", |mut r| {
            r = r.lfs("big.bin", big);
            for i in 0..40 {
                r = r.file(&format!("s/{i}.json"), format!("{{\"n\": {i}}}"));
            }
            r
        })
        .fault(throttle.times(u32::MAX))
        .fault(slow.times(u32::MAX))
        .build()
}

/// Prunes the cache with `prune` while `download` runs; both downloads must end with every byte.
fn prune_during(env: &TestEnv, big: &[u8], name: &str, download: Command, prune: &dyn Fn()) {
    let blobs = env.cache().join("models--org--m/blobs");
    let run = Running::spawn(env, name, download);
    let started = poll(Duration::from_secs(20), || {
        fs::read_dir(&blobs).is_ok_and(|d| {
            d.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .contains(&sha256_hex(big)[..16])
            })
        })
    });
    assert!(
        started,
        "{name}: no partial of the big file\n{}",
        run.stderr_so_far()
    );
    for _ in 0..3 {
        prune();
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = run.wait();
    assert!(out.status.success(), "{name}: {}", describe(&out));
    assert_eq!(
        sha256_of_file(&cache_blob(env, big)),
        sha256_hex(big),
        "{name}"
    );
    let snapshot = env.cache().join("models--org--m/snapshots");
    let commit = fs::read_dir(&snapshot)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    for i in 0..40 {
        let got = fs::read(commit.join(format!("s/{i}.json"))).unwrap();
        assert_eq!(
            got,
            format!("{{\"n\": {i}}}").into_bytes(),
            "{name}: s/{i}.json"
        );
    }
}

#[test]
fn prune_never_touches_a_running_download() {
    let big = bytes(12 * MIB, 74);
    let python = crate::support::python::hf_cli();
    // hfdl downloading; hfdl's prune, then the official one.
    for official_prune in [false, true] {
        let hub = busy_repo(&big);
        let env = TestEnv::new(&hub.url());
        let mut download = env.hfdl();
        download.args(["download", "org/m", "--max-workers", "2"]);
        let prune = || {
            let out = if official_prune {
                let mut cmd = crate::support::python::scrubbed_command(&python);
                cmd.env("HF_HOME", env.hf_home())
                    .args(["cache", "prune", "-y"]);
                cmd.output().unwrap()
            } else {
                env.hfdl().args(["cache", "prune", "-y"]).output().unwrap()
            };
            assert!(out.status.success(), "prune: {}", describe(&out));
            if !official_prune {
                let err = stderr(&out);
                assert!(
                    err.contains("a download is"),
                    "prune says what it kept: {err}"
                );
                // `rm` of the very repo being downloaded keeps it too, and says so.
                let out = env
                    .hfdl()
                    .args(["cache", "rm", "model/org/m", "-y"])
                    .output();
                let err = stderr(&out.unwrap());
                assert!(
                    err.contains("a download is running in model/org/m"),
                    "rm: {err}"
                );
            }
        };
        prune_during(&env, &big, "hfdl", download, &prune);
    }
    // The official client downloading; hfdl's prune.
    let hub = busy_repo(&big);
    let env = TestEnv::new(&hub.url());
    let mut download = crate::support::python::scrubbed_command(&python);
    download
        .env("HF_HOME", env.hf_home())
        .env("HF_ENDPOINT", hub.url())
        .args(["download", "org/m", "--max-workers", "2"]);
    let prune = || {
        let out = env.hfdl().args(["cache", "prune", "-y"]).output().unwrap();
        assert!(out.status.success(), "prune: {}", describe(&out));
    };
    prune_during(&env, &big, "hf", download, &prune);
}

/// A prerequisite of a test is missing: fail, saying what to do.
fn missing(what: &str) -> ! {
    panic!("prerequisite missing: {what}")
}

// ---------------------------------------------------------------------------------------------
// 8. Mirror quirks
// ---------------------------------------------------------------------------------------------

#[test]
fn mirror_ignoring_range_on_a_large_file() {
    let data = bytes(20 * MIB, 81);
    let fault = Fault::new(FaultKind::IgnoreRange).cdn().times(u32::MAX);
    let hub = lfs_hub(&data).fault(fault).build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir), "--connections", "4"]);
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    hub.assert_faults_fired();
    let cdn = file_gets(&hub, Origin::Cdn);
    assert!(cdn.iter().all(|r| r.status == 200), "{cdn:#?}");
    let total = served(&cdn);
    // One whole-file stream, plus whatever the 1-byte probe's 200 pushed before it was dropped.
    assert!(
        total <= data.len() as u64 * 3 / 2,
        "served {total}: {cdn:#?}"
    );
    note(
        "mirror ignores Range (20 MiB, 4 connections)",
        total,
        data.len(),
    );
}

#[test]
fn mirror_without_content_length_on_head() {
    let data = bytes(200_000, 82);
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("a.bin", &data))
        .fault(Fault::new(FaultKind::NoContentLength).method("HEAD"))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = env.download(&["org/m", "a.bin"]);
    assert_eq!(fs::read(&out).unwrap(), data);
    hub.assert_faults_fired();
    let got = file_gets(&hub, Origin::Hub);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(range_start(&got[0]), 0);
    assert_eq!(served(&got), data.len() as u64);
    let blob = env
        .cache()
        .join("models--org--m/blobs")
        .join(git_blob_sha1(&data));
    assert_eq!(fs::read(blob).unwrap(), data, "stored under its git oid");
    note(
        "no Content-Length on HEAD (regular file)",
        served(&got),
        data.len(),
    );
}

#[test]
fn mirror_without_linked_headers() {
    let data = bytes(2 * MIB, 83);
    let hub = lfs_hub(&data)
        .fault(Fault::new(FaultKind::NoLinkedHeaders).times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = run_ok(env.hfdl().args(["download", "org/m", "w.bin"]));
    let path = crate::support::stdout_line(&out);
    assert_eq!(
        sha256_of_file(Path::new(&path)),
        sha256_hex(&data),
        "{}",
        stderr(&out)
    );
    hub.assert_faults_fired();
    assert!(
        !stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    let cdn = file_gets(&hub, Origin::Cdn);
    assert_eq!(served(&cdn), data.len() as u64, "{cdn:#?}");
    note(
        "no X-Linked-* on the LFS redirect",
        served(&cdn),
        data.len(),
    );
}

#[test]
fn mirror_without_etag_on_get() {
    let data = bytes(MIB, 84);
    let hub = FakeHub::builder()
        .model("org/m", |r| {
            r.lfs("w.bin", &data).file("config.json", b"{}")
        })
        .fault(Fault::new(FaultKind::NoEtag).method("GET").times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    hub.assert_faults_fired();
    assert_eq!(sha256_of_file(&dir.join("w.bin")), sha256_hex(&data));
    assert_eq!(fs::read(dir.join("config.json")).unwrap(), b"{}");
    let cdn = file_gets(&hub, Origin::Cdn);
    assert_eq!(served(&cdn), data.len() as u64);
    note("no ETag on GET", served(&cdn), data.len());
}

#[test]
fn mirror_without_etag_on_head_takes_the_digest_from_the_listing() {
    let data = bytes(MIB, 85);
    let hub = FakeHub::builder()
        .model("org/m", |r| r.lfs("w.bin", &data).file("a.txt", b"a"))
        .fault(Fault::new(FaultKind::NoEtag).times(u32::MAX))
        .fault(Fault::new(FaultKind::NoLinkedHeaders).times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    for file in ["w.bin", "a.txt"] {
        let out = run_ok(env.hfdl().args(["download", "org/m", file]));
        let path = crate::support::stdout_line(&out);
        let want = if file == "w.bin" {
            data.clone()
        } else {
            b"a".to_vec()
        };
        assert_eq!(fs::read(&path).unwrap(), want, "{}", stderr(&out));
        let tree = hub.requests().iter().any(|r| r.path.contains("/tree/"));
        assert!(tree, "the digest came from the listing");
    }
    assert!(cache_blob(&env, &data).is_file(), "named by its sha256");

    // Without the listing either, nothing is placed.
    let hub = FakeHub::builder()
        .model("org/m", |r| r.lfs("w.bin", &data))
        .fault(Fault::new(FaultKind::NoEtag).times(u32::MAX))
        .fault(Fault::new(FaultKind::NoLinkedHeaders).times(u32::MAX))
        .fault(Fault::status(404).path("/tree/").times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = run_fail(env.hfdl().args(["download", "org/m", "w.bin"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("never places a file it cannot verify"),
        "{}",
        describe(&out)
    );
    assert!(!cache_blob(&env, &data).exists());
}

#[test]
fn mirror_gzipping_a_regular_file() {
    let text: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let fault = Fault::new(FaultKind::Gzip).hub().path("/resolve/");
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("notes.txt", &text))
        .fault(fault.times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    env.download(&["org/m", "--local-dir", s(&dir)]);
    hub.assert_faults_fired();
    assert_eq!(fs::read(dir.join("notes.txt")).unwrap(), text);
    let got = file_gets(&hub, Origin::Hub);
    assert!(
        got.iter()
            .all(|r| r.accept_encoding.as_deref() == Some("identity")),
        "{got:#?}"
    );
    assert_eq!(got.len(), 1, "{got:#?}");
    note("gzip although identity was asked", served(&got), text.len());
}

// ---------------------------------------------------------------------------------------------
// 9. Hostile input
// ---------------------------------------------------------------------------------------------

#[test]
fn hostile_tree_paths_are_refused() {
    let env_dir = tempfile::tempdir().unwrap();
    let outside = env_dir.path().join("abs.txt");
    let hostile = [
        ("org/dots", "../evil.txt".to_owned()),
        ("org/deep", "sub/../../evil.txt".to_owned()),
        ("org/abs", s(&outside).to_owned()),
        ("org/unc", "\\\\host\\share\\evil.txt".to_owned()),
        ("org/drive", "C:evil.txt".to_owned()),
        ("org/backdots", "sub\\..\\..\\evil.txt".to_owned()),
    ];
    let mut builder = FakeHub::builder();
    for (repo, path) in &hostile {
        let path = path.clone();
        builder = builder.model(repo, move |r| r.file("ok.txt", b"ok").file(&path, b"evil"));
    }
    let hub = builder.build();
    let env = TestEnv::new(&hub.url());
    for (repo, path) in &hostile {
        let work = env.path(&repo.replace('/', "_"));
        let dir = work.join("out");
        fs::create_dir_all(&dir).unwrap();
        let out = run_fail(env.hfdl().args(["download", repo, "--local-dir", s(&dir)]));
        assert_eq!(out.status.code(), Some(1), "{repo}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains(path.as_str()),
            "{repo}: the message names `{path}`:\n{err}"
        );
        assert!(err.contains("Invalid filename"), "{repo}:\n{err}");
        assert_eq!(
            files_under(&work),
            Vec::<String>::new(),
            "{repo}: nothing written"
        );
        assert!(!outside.exists() && !env.path("evil.txt").exists());
        // The cache, too, keeps everything inside the repo's folder.
        let out = run_fail(env.hfdl().args(["download", repo]));
        assert_eq!(out.status.code(), Some(1), "{repo}: {}", describe(&out));
        let repo_dir = env
            .cache()
            .join(format!("models--{}", repo.replace('/', "--")));
        assert_eq!(
            files_under(&repo_dir.join("snapshots")),
            Vec::<String>::new()
        );
        assert!(!repo_dir.join("snapshots/evil.txt").exists());
        assert!(!outside.exists());
    }
    let resolved = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/resolve/"));
    assert_eq!(
        resolved.count(),
        0,
        "no file of a hostile listing is fetched"
    );
}

#[test]
fn unwritable_target_is_a_clear_error() {
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("a.txt", b"a"))
        .build();
    let env = TestEnv::new(&hub.url());

    // A path below a regular file: no one can create it, root included.
    let file = env.path("plain-file");
    fs::write(&file, b"x").unwrap();
    let target = file.join("out");
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&target)]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains(s(&target)),
        "names the target:\n{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&file).unwrap(), b"x");

    // A read-only directory.
    use std::os::unix::fs::PermissionsExt;
    let dir = env.path("read-only");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permissions: run hfdl as `nobody` then.
    let mut cmd = env.hfdl();
    if fs::write(dir.join("probe"), b"").is_ok() {
        fs::remove_file(dir.join("probe")).unwrap();
        fs::set_permissions(env.path(""), fs::Permissions::from_mode(0o755)).unwrap();
        cmd = as_nobody(&cmd);
    }
    let out = cmd
        .args(["download", "org/m", "--local-dir", s(&dir)])
        .output()
        .unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(s(&dir)), "names the directory:\n{err}");
    assert!(err.contains("ermission denied"), "{err}");
}

/// `cmd` run as the user `nobody` through `setpriv` (util-linux), with the same environment.
fn as_nobody(cmd: &Command) -> Command {
    let mut wrapped = Command::new("setpriv");
    wrapped
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(cmd.get_program());
    wrapped.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

#[test]
fn invalid_repo_id_is_a_usage_error() {
    let hub = FakeHub::builder().build();
    let env = TestEnv::new(&hub.url());
    for bad in ["a/b/c", "org--x/y", "org/name.git", "org/-x"] {
        let out = run_fail(env.hfdl().args(["download", bad]));
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", describe(&out));
        assert!(stderr(&out).contains(bad), "{bad}: {}", stderr(&out));
    }
    assert!(hub.requests().is_empty(), "nothing is asked of the Hub");
}

#[test]
fn invalid_revision_is_named() {
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("a.txt", b"a"))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--revision", "no-such-branch"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("`no-such-branch`"),
        "{}",
        stderr(&out)
    );
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "a.txt", "--revision", "v9"]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("`v9`"), "{}", stderr(&out));
    let requests = hub.requests().len();
    let out = run_fail(env.hfdl().args(["download", "org/m", "--revision", "../x"]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("`../x`"), "{}", stderr(&out));
    assert_eq!(
        hub.requests().len(),
        requests,
        "a malformed revision is not sent"
    );
    assert!(
        !env.cache()
            .join("models--org--m/refs/no-such-branch")
            .exists()
    );
}

/// A small tmpfs mounted for one test (root only); unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, options: &str) -> Option<Self> {
        fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Self(at))
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn full_disk_is_a_clear_error_and_keeps_what_was_downloaded() {
    // Both below the split threshold, so they start in listing order.
    let small = bytes(3 * MIB, 41);
    let big = bytes(7 * MIB, 42);
    let hub = FakeHub::builder()
        .model("org/m", |r| {
            r.lfs("a-small.bin", &small).lfs("b-big.bin", &big)
        })
        .build();
    let env = TestEnv::new(&hub.url());
    let Some(disk) = Tmpfs::mount(env.path("disk"), "size=8m") else {
        missing("mounting a tmpfs needs root (or CAP_SYS_ADMIN): run the tests as root");
    };
    let dir = disk.0.join("out");
    let args = [
        "download",
        "org/m",
        "--local-dir",
        s(&dir),
        "--max-workers",
        "1",
    ];
    let out = run_fail(env.hfdl().args(args));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("no space left"), "{err}");
    assert!(err.contains("hint: free some space"), "{err}");
    assert!(
        !dir.join("b-big.bin").exists(),
        "nothing incomplete at the final path"
    );
    assert_eq!(sha256_of_file(&dir.join("a-small.bin")), sha256_hex(&small));
    disk.remount("size=32m");
    hub.clear_requests();
    run_ok(env.hfdl().args(args));
    assert_eq!(sha256_of_file(&dir.join("b-big.bin")), sha256_hex(&big));
    let cdn = served(&file_gets(&hub, Origin::Cdn));
    note(
        "full disk, then rerun with room (the small file is kept)",
        cdn,
        big.len(),
    );
    assert!(
        cdn < (big.len() + small.len()) as u64,
        "the finished file is not fetched again"
    );
}

#[test]
fn read_only_filesystem_is_a_clear_error() {
    let hub = FakeHub::builder()
        .model("org/m", |r| r.file("a.txt", b"a"))
        .build();
    let env = TestEnv::new(&hub.url());
    let Some(disk) = Tmpfs::mount(env.path("ro"), "size=1m,ro") else {
        missing("mounting a tmpfs needs root (or CAP_SYS_ADMIN): run the tests as root");
    };
    let out = run_fail(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&disk.0)]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(s(&disk.0)), "names the directory:\n{err}");
    assert!(err.contains("Read-only file system"), "{err}");
}

#[test]
fn an_unlimited_tmpfs_is_not_mistaken_for_a_full_one() {
    // `size=0` means no limit; statvfs then reports 0 blocks, 0 free.
    let big = bytes(12 * MIB, 43);
    let hub = FakeHub::builder()
        .model("org/m", |r| r.lfs("big.bin", &big).file("a.txt", b"a"))
        .build();
    let env = TestEnv::new(&hub.url());
    let Some(disk) = Tmpfs::mount(env.path("unlimited"), "size=0") else {
        missing("mounting a tmpfs needs root (or CAP_SYS_ADMIN): run the tests as root");
    };
    let dir = disk.0.join("out");
    run_ok(
        env.hfdl()
            .args(["download", "org/m", "--local-dir", s(&dir)]),
    );
    assert_eq!(sha256_of_file(&dir.join("big.bin")), sha256_hex(&big));
}
