//! The interop matrix: hfdl and three versions of the official client take turns on one cache or
//! local dir, and the bytes that come out are judged against the source.
//!
//! Clients (each from its own pinned venv, see `scripts/test.sh`):
//! - huggingface_hub 0.36 (`huggingface-cli`, the last 0.x, what transformers 4.x users run) and
//!   1.17 (`hf`, the last 1.x that resumes): partial `blobs/<etag>.incomplete` (local dir:
//!   `.cache/huggingface/download/<b64>.<etag>.incomplete`), resumed from its length with
//!   `Range: bytes=<len>-` and moved into place after a size check only, so a file under one of
//!   those names that is longer than its valid prefix comes out corrupt;
//! - huggingface_hub 2.4 (`hf`): a fresh `<etag>.<8 hex>.incomplete` per attempt, never resumed.
//!
//! For each client and each mode (cache through `HF_HOME`, `--local-dir`):
//! - a: hfdl is killed (SIGKILL) mid-download of a large file, then the client finishes;
//! - b: the client is killed mid-download, then hfdl finishes (and, for the clients that write an
//!   append-only partial under a fixed name, fetches only about what is missing);
//! - c: what one tool finished, the other reuses without transferring a byte, both ways;
//! - d: `scan_cache_dir()` of the client accepts the cache hfdl built.
//!
//! Interruptions are made deterministic by the fake CDN's shared throttle (a few MB/s for all
//! connections together, so hfdl's 16 connections are no faster than one), by waiting for bytes
//! on disk or on the wire rather than for time, and by checking that the killed process had not
//! finished the large file yet. The clients write in 10 MiB chunks (`DOWNLOAD_CHUNK_SIZE`), so
//! their partial grows in 10 MiB steps.
//!
//! Every assertion is on bytes (sha256 of each file) and on the fake Hub's request log, never on
//! exit codes; a failure shows the interrupted state and what the client said (at debug
//! verbosity: the lines naming partial files and resumes).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::support::fake_hub::{FakeHub, Fault, FaultKind, Origin, Recorded};
use crate::support::python::{
    hf_cli, hf_cli_hub117, huggingface_cli_hub036, python, python_hub036, python_hub117,
    scrubbed_command,
};
use crate::support::{TestEnv, bytes, describe, sha256_hex};

const REPO: &str = "org/x";
const REPO_DIR: &str = "models--org--x";
const MIB: usize = 1 << 20;
/// The large file: above hfdl's 8 MiB split threshold (so it is fetched as parallel ranges into
/// a preallocated partial) and over two of the clients' 10 MiB write chunks.
const BIG_LEN: usize = 24 * MIB;
const BIG: &str = "big.bin";
/// The CDN's shared budget while something is to be interrupted: the large file then takes 6 s,
/// and the kill comes within the first 2.5 s.
const RATE: u64 = 4 << 20;
/// hfdl is killed once the CDN has sent this much of the large file (more than the first frames
/// of its 16 connections, which go out at once) and hfdl has checkpointed (a journal exists, after
/// about 2 s), or at the latest once the CDN has sent [`HFDL_KILL_BY`]: by then each of its
/// connections has written its first 256 KiB buffer.
const HFDL_KILL_AFTER: u64 = 2 << 20;
const HFDL_KILL_BY: u64 = 12 << 20;
/// A client is killed once its partial holds this much (its first 10 MiB chunk, in practice).
const CLIENT_KILL_AFTER: u64 = 1 << 20;
/// What hfdl may fetch beyond the missing part: the 1-byte probe, and ranges split in flight.
const RESUME_SLACK: u64 = 2 << 20;
/// A hang guard, not a benchmark.
const DEADLINE: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------------------------------
// The clients and the modes
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Hub036,
    Hub117,
    Hub24,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Self::Hub036 => "huggingface_hub 0.36 (huggingface-cli)",
            Self::Hub117 => "huggingface_hub 1.17 (hf)",
            Self::Hub24 => "huggingface_hub 2.4 (hf)",
        }
    }

    /// What `huggingface_hub.__version__` must start with.
    fn version_prefix(self) -> &'static str {
        match self {
            Self::Hub036 => "0.36.",
            Self::Hub117 => "1.17.",
            Self::Hub24 => "2.4.",
        }
    }

    /// The venv's interpreter, checked once per run to hold the right huggingface_hub.
    fn python(self) -> PathBuf {
        static CHECKED: [OnceLock<String>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let py = match self {
            Self::Hub036 => python_hub036(),
            Self::Hub117 => python_hub117(),
            Self::Hub24 => python(),
        };
        let version = CHECKED[self as usize].get_or_init(|| {
            let out = scrubbed_command(&py)
                .args([
                    "-c",
                    "import huggingface_hub; print(huggingface_hub.__version__)",
                ])
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        });
        assert!(
            version.starts_with(self.version_prefix()),
            "{} holds huggingface_hub {version:?}, not {}x; run `scripts/test.sh` to rebuild the \
             venvs, or fix the HFDL_TEST_PYTHON* variables",
            py.display(),
            self.version_prefix()
        );
        py
    }

    /// The CLI the seed users run: `huggingface-cli` for 0.x, `hf` after.
    fn cli(self) -> PathBuf {
        self.python();
        match self {
            Self::Hub036 => huggingface_cli_hub036(),
            Self::Hub117 => hf_cli_hub117(),
            Self::Hub24 => hf_cli(),
        }
    }

    /// Does it resume from a partial under a fixed name (and so from one hfdl leaves)?
    fn resumes(self) -> bool {
        self != Self::Hub24
    }

    /// Is `name` (in [`Case::partial_dir`]) this client's partial of the file whose partial
    /// names start with `stem` (`<etag>` in the cache, `<b64>.<etag>` in a local dir)?
    fn is_partial(self, name: &str, stem: &str) -> bool {
        let Some(rest) = name.strip_prefix(stem) else {
            return false;
        };
        match self {
            Self::Hub036 | Self::Hub117 => rest == ".incomplete",
            Self::Hub24 => rest
                .strip_prefix('.')
                .and_then(|r| r.strip_suffix(".incomplete"))
                .is_some_and(|hex| hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit())),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The hub cache under the test's `HF_HOME`.
    Cache,
    /// `--local-dir <tmp>/local`.
    LocalDir,
}

// ------------------------------------------------------------------------------------------
// One cell: a repo, a fake Hub, a private HF_HOME
// ------------------------------------------------------------------------------------------

struct RepoFile {
    path: &'static str,
    data: Vec<u8>,
    lfs: bool,
    etag: String,
}

impl RepoFile {
    fn new(path: &'static str, data: Vec<u8>, lfs: bool) -> Self {
        // The name both tools give its blob: sha256 for LFS, git blob sha1 otherwise.
        let etag = if lfs {
            sha256_hex(&data)
        } else {
            let mut h = Sha1::new();
            h.update(format!("blob {}\0", data.len()));
            h.update(&data);
            hex::encode(h.finalize())
        };
        Self {
            path,
            data,
            lfs,
            etag,
        }
    }

    fn etag(&self) -> String {
        self.etag.clone()
    }
}

/// Small regular and LFS files, one nested, and the large file; made once per test binary (the
/// large file takes a second to generate in a debug build).
fn repo_files() -> &'static [RepoFile] {
    static FILES: OnceLock<Vec<RepoFile>> = OnceLock::new();
    FILES.get_or_init(|| {
        vec![
            RepoFile::new("config.json", br#"{"model_type": "x"}"#.to_vec(), false),
            RepoFile::new("sub/dir/notes.txt", b"nested notes\n".to_vec(), false),
            RepoFile::new("small.safetensors", bytes(200_000, 7), true),
            RepoFile::new(BIG, bytes(BIG_LEN, 8), true),
        ]
    })
}

struct Case {
    client: Client,
    mode: Mode,
    files: &'static [RepoFile],
    hub: FakeHub,
    env: TestEnv,
}

impl Case {
    fn new(client: Client, mode: Mode) -> Self {
        let files = repo_files();
        let hub = FakeHub::builder()
            .model(REPO, |r| {
                files.iter().fold(r, |r, f| {
                    if f.lfs {
                        r.lfs(f.path, &f.data)
                    } else {
                        r.file(f.path, &f.data)
                    }
                })
            })
            .build();
        let env = TestEnv::new(&hub.url());
        Self {
            client,
            mode,
            files,
            hub,
            env,
        }
    }

    fn big(&self) -> &RepoFile {
        self.files
            .iter()
            .find(|f| f.path == BIG)
            .expect("the large file")
    }

    fn local_dir(&self) -> PathBuf {
        self.env.path("local")
    }

    fn repo_dir(&self) -> PathBuf {
        self.env.cache().join(REPO_DIR)
    }

    /// Where a finished file is read from.
    fn file_path(&self, f: &RepoFile) -> PathBuf {
        match self.mode {
            Mode::Cache => {
                let commit = self.hub.commit(REPO, "main");
                self.repo_dir().join("snapshots").join(commit).join(f.path)
            }
            Mode::LocalDir => self.local_dir().join(f.path),
        }
    }

    /// Where the large file sits once finished (the blob in the cache).
    fn big_final(&self) -> PathBuf {
        match self.mode {
            Mode::Cache => self.repo_dir().join("blobs").join(self.big().etag()),
            Mode::LocalDir => self.local_dir().join(BIG),
        }
    }

    /// The folder partials of the large file go to.
    fn partial_dir(&self) -> PathBuf {
        match self.mode {
            Mode::Cache => self.repo_dir().join("blobs"),
            Mode::LocalDir => self.local_dir().join(".cache/huggingface/download"),
        }
    }

    /// How the official names of the large file's partials start: `<etag>` in the cache,
    /// `<urlsafe b64 of sha1("big.bin.metadata")>.<etag>` in a local dir.
    fn partial_stem(&self) -> String {
        let etag = self.big().etag();
        match self.mode {
            Mode::Cache => etag,
            Mode::LocalDir => {
                let digest = Sha1::digest(format!("{BIG}.metadata").as_bytes());
                let b64 = base64::engine::general_purpose::URL_SAFE.encode(digest);
                format!("{b64}.{etag}")
            }
        }
    }

    /// Files in [`Case::partial_dir`] (not recursive) with their lengths.
    fn partials(&self) -> Vec<(String, u64)> {
        let Ok(entries) = fs::read_dir(self.partial_dir()) else {
            return vec![];
        };
        let mut out: Vec<(String, u64)> = entries
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok().filter(fs::Metadata::is_file)?;
                Some((e.file_name().to_string_lossy().into_owned(), meta.len()))
            })
            .collect();
        out.sort();
        out
    }

    /// A partial of the large file by any name but the final one and journals: hfdl's, whatever
    /// it calls it.
    fn any_big_partial(&self) -> Option<(String, u64)> {
        let etag = self.big().etag();
        self.partials()
            .into_iter()
            .find(|(name, _)| name.contains(&etag) && *name != etag && !name.ends_with(".journal"))
    }

    /// Has hfdl checkpointed the large file (a journal beside its partial, whatever the names)?
    fn has_journal(&self) -> bool {
        let etag = self.big().etag();
        let mut partials = self.partials().into_iter();
        partials.any(|(name, len)| name.contains(&etag) && name.contains("journal") && len > 0)
    }

    /// The client's own partial of the large file.
    fn client_partial(&self) -> Option<(String, u64)> {
        let stem = self.partial_stem();
        let mut found = self.partials().into_iter();
        found.find(|(name, _)| self.client.is_partial(name, &stem))
    }

    /// Throttle every CDN response through one shared budget.
    fn throttle(&self) {
        let fault = Fault::new(FaultKind::ThrottleTotal(RATE));
        self.hub.set_fault(fault.cdn().times(u32::MAX));
    }

    /// Bytes of the large file the CDN has sent since the last clear.
    fn big_served(&self) -> u64 {
        let sha = self.big().etag();
        let requests = self.hub.requests();
        let gets = requests
            .iter()
            .filter(|r| r.origin == Origin::Cdn && r.method == "GET" && r.path.contains(&sha));
        gets.map(|r| r.body_bytes).sum()
    }

    fn mode_args(&self) -> Vec<String> {
        match self.mode {
            Mode::Cache => vec![],
            Mode::LocalDir => vec!["--local-dir".into(), s(&self.local_dir()).into()],
        }
    }

    /// `hfdl download org/x [--local-dir D]`.
    fn hfdl(&self) -> Command {
        let mut cmd = self.env.hfdl();
        cmd.arg("download").arg(REPO).args(self.mode_args());
        cmd
    }

    /// The client's `download org/x [--local-dir D]`, with this test's `HF_HOME` and fake Hub,
    /// at debug verbosity (it then names its partials and resumes, which failures show).
    fn client(&self) -> Command {
        let mut cmd = scrubbed_command(self.client.cli());
        cmd.arg("download").arg(REPO).args(self.mode_args());
        cmd.env("HF_HOME", self.env.hf_home())
            .env("HF_ENDPOINT", self.hub.url())
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            .env("HF_HUB_VERBOSITY", "debug")
            // The `hf` of 1.x and 2.x resets the verbosity to info unless HF_DEBUG is set.
            .env("HF_DEBUG", "1");
        cmd
    }

    /// Panics unless every file is at its place with the source's bytes (sha256).
    #[track_caller]
    fn assert_bytes(&self, who: &str, context: &str, out: &Output) {
        let mut wrong = Vec::new();
        for f in self.files {
            let path = self.file_path(f);
            match fs::read(&path) {
                Ok(got) if got == f.data => {}
                Ok(got) => wrong.push(format!(
                    "{}: sha256 {} ({} bytes, {} of them zero), expected {} ({} bytes)",
                    f.path,
                    sha256_hex(&got),
                    got.len(),
                    got.iter().filter(|&&b| b == 0).count(),
                    sha256_hex(&f.data),
                    f.data.len()
                )),
                Err(e) => wrong.push(format!("{}: cannot read {}: {e}", f.path, path.display())),
            }
        }
        assert!(
            wrong.is_empty(),
            "[{} / {:?}] after {who}, files are wrong:\n  {}\n{context}\n--- what {who} said\n{}",
            self.client.name(),
            self.mode,
            wrong.join("\n  "),
            brief(out)
        );
    }

    fn listing(&self) -> String {
        let files = self.partials();
        let lines: Vec<String> = files
            .iter()
            .map(|(n, l)| format!("  {n} ({l} bytes)"))
            .collect();
        format!("{}:\n{}", self.partial_dir().display(), lines.join("\n"))
    }
}

/// One line of the resume table (run with `--nocapture` to see it).
#[expect(clippy::print_stderr, reason = "the resume table for the report")]
fn note(client: Client, mode: Mode, partial: &str, on_disk: u64, fetched: u64) {
    let missing = BIG_LEN as u64 - on_disk;
    eprintln!(
        "| {} | {mode:?} | {partial} | {on_disk} | {missing} | hfdl fetched {fetched} |",
        client.name()
    );
}

fn s(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Status, the client's lines about partials and resumes, and the tail of its stderr.
fn brief(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let about: Vec<&str> = lines
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("incomplete") || l.contains("resum") || l.contains("partial")
        })
        .copied()
        .collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    format!(
        "status: {}\n--- stdout\n{}--- lines about partials\n{}\n--- last lines of stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        about.join("\n"),
        tail.join("\n")
    )
}

// ------------------------------------------------------------------------------------------
// Running and killing
// ------------------------------------------------------------------------------------------

/// A child process with its output going to files; killed if the test panics.
struct Spawned {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

impl Spawned {
    fn start(env: &TestEnv, name: &str, cmd: &mut Command) -> Self {
        let (out, err) = (
            env.path(&format!("{name}.out")),
            env.path(&format!("{name}.err")),
        );
        let child = cmd
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out).expect("stdout file"))
            .stderr(fs::File::create(&err).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Self {
            child,
            out,
            err,
            started: Instant::now(),
        }
    }

    fn output(&self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: fs::read(&self.out).unwrap_or_default(),
            stderr: fs::read(&self.err).unwrap_or_default(),
        }
    }

    /// Waits for the exit (at most [`DEADLINE`]); returns the output, whatever the status.
    fn wait(mut self) -> Output {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return self.output(status);
            }
            if self.started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let status = self.child.wait().expect("reap");
                panic!(
                    "still running after {DEADLINE:?}\n{}",
                    describe(&self.output(status))
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls `ready` every 10 ms; once it holds, SIGKILLs the process. Panics if the process
    /// exits first or nothing happens within [`DEADLINE`], showing `state()`.
    fn kill_when(mut self, who: &str, mut ready: impl FnMut() -> bool, state: impl Fn() -> String) {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "{who} exited before it could be interrupted\n{}\n{}",
                    state(),
                    describe(&self.output(status))
                );
            }
            if ready() {
                self.child.kill().expect("SIGKILL");
                self.child.wait().expect("reap");
                return;
            }
            if self.started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let status = self.child.wait().expect("reap");
                panic!(
                    "{who}: the moment to interrupt never came within {DEADLINE:?}\n{}\n{}",
                    state(),
                    describe(&self.output(status))
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run(env: &TestEnv, name: &str, cmd: &mut Command) -> Output {
    Spawned::start(env, name, cmd).wait()
}

// ------------------------------------------------------------------------------------------
// What the fake Hub was asked
// ------------------------------------------------------------------------------------------

/// Requests that moved (or could have moved) file bytes: anything to the CDN, a GET of a
/// `resolve` URL, or a body on one.
fn file_transfers(requests: &[Recorded]) -> Vec<&Recorded> {
    let moved = |r: &&Recorded| {
        let resolve = r.path.contains("/resolve/");
        r.origin == Origin::Cdn || (resolve && (r.method == "GET" || r.body_bytes > 0))
    };
    requests.iter().filter(moved).collect()
}

#[track_caller]
fn assert_no_transfer(case: &Case, who: &str, out: &Output) {
    let requests = case.hub.requests();
    let transfers = file_transfers(&requests);
    assert!(
        transfers.is_empty(),
        "[{} / {:?}] {who} transferred file bytes although everything was there: \
         {transfers:#?}\n{}",
        case.client.name(),
        case.mode,
        brief(out)
    );
    assert!(
        requests.iter().any(|r| r.origin == Origin::Hub),
        "{who} sent no request at all; was it pointed at the fake Hub?\n{}",
        brief(out)
    );
}

// ------------------------------------------------------------------------------------------
// a. hfdl interrupted, then the client finishes
// ------------------------------------------------------------------------------------------

fn hfdl_interrupted_then_client_finishes(client: Client, mode: Mode) {
    let case = Case::new(client, mode);
    case.client.cli();
    case.throttle();
    let hfdl = Spawned::start(&case.env, "hfdl", &mut case.hfdl());
    hfdl.kill_when(
        "hfdl",
        || {
            let served = case.big_served();
            let partial = case.any_big_partial().is_some_and(|p| p.1 > 0);
            partial && served >= HFDL_KILL_AFTER && (served >= HFDL_KILL_BY || case.has_journal())
        },
        || case.listing(),
    );
    assert!(
        !case.big_final().exists(),
        "hfdl finished {BIG} before the kill: the test proves nothing (throttle harder)"
    );
    let state = format!(
        "hfdl was killed after the CDN sent {} of {BIG_LEN} bytes; it left\n{}",
        case.big_served(),
        case.listing()
    );

    case.hub.clear_faults();
    let out = run(&case.env, "client", &mut case.client());
    case.assert_bytes(client.name(), &state, &out);
}

// ------------------------------------------------------------------------------------------
// b. The client interrupted, then hfdl finishes
// ------------------------------------------------------------------------------------------

fn client_interrupted_then_hfdl_finishes(client: Client, mode: Mode) {
    let case = Case::new(client, mode);
    case.throttle();
    let official = Spawned::start(&case.env, "client", &mut case.client());
    official.kill_when(
        client.name(),
        || {
            case.client_partial()
                .is_some_and(|p| p.1 >= CLIENT_KILL_AFTER)
        },
        || case.listing(),
    );
    assert!(
        !case.big_final().exists(),
        "the client finished {BIG} before the kill: the test proves nothing (throttle harder)"
    );
    let (name, on_disk) = case
        .client_partial()
        .expect("the client's partial survives SIGKILL");
    let state = format!(
        "{} was killed with {on_disk} of {BIG_LEN} bytes in {name}; it left\n{}",
        client.name(),
        case.listing()
    );

    case.hub.clear_faults();
    case.hub.clear_requests();
    let out = run(&case.env, "hfdl", &mut case.hfdl());
    case.assert_bytes("hfdl", &state, &out);
    let served = case.big_served();
    let missing = BIG_LEN as u64 - on_disk;
    note(client, mode, &name, on_disk, served);
    if client.resumes() {
        assert!(
            served <= missing + RESUME_SLACK,
            "[{} / {mode:?}] hfdl fetched {served} bytes of {BIG}, but only {missing} were \
             missing: the client's append-only partial is valid up to its length\n{state}\n{}",
            client.name(),
            brief(&out)
        );
    }
}

// ------------------------------------------------------------------------------------------
// c. Finished by one, reused by the other
// ------------------------------------------------------------------------------------------

fn client_reuses_what_hfdl_finished(client: Client, mode: Mode) {
    let case = Case::new(client, mode);
    case.client.cli();
    let out = run(&case.env, "hfdl", &mut case.hfdl());
    case.assert_bytes("hfdl", "a plain download", &out);
    case.hub.clear_requests();
    let out = run(&case.env, "client", &mut case.client());
    assert_no_transfer(&case, client.name(), &out);
    case.assert_bytes(client.name(), "reusing what hfdl finished", &out);
}

fn hfdl_reuses_what_the_client_finished(client: Client, mode: Mode) {
    let case = Case::new(client, mode);
    let out = run(&case.env, "client", &mut case.client());
    case.assert_bytes(client.name(), "a plain download", &out);
    case.hub.clear_requests();
    let out = run(&case.env, "hfdl", &mut case.hfdl());
    assert_no_transfer(&case, "hfdl", &out);
    case.assert_bytes("hfdl", "reusing what the client finished", &out);
}

// ------------------------------------------------------------------------------------------
// d. scan_cache_dir() of each client on hfdl's cache
// ------------------------------------------------------------------------------------------

const SCAN: &str = r#"
import json
from huggingface_hub import scan_cache_dir
info = scan_cache_dir()
def revision(v):
    return {"commit": v.commit_hash, "refs": sorted(v.refs), "nb_files": v.nb_files,
            "size_on_disk": v.size_on_disk, "snapshot": str(v.snapshot_path),
            "files": sorted(f.file_path.relative_to(v.snapshot_path).as_posix() for f in v.files)}
print("@@json " + json.dumps({
    "warnings": [str(w) for w in info.warnings],
    "size_on_disk": info.size_on_disk,
    "repos": [{"repo_id": r.repo_id, "repo_type": r.repo_type, "size_on_disk": r.size_on_disk,
               "nb_files": r.nb_files, "revisions": [revision(v) for v in r.revisions]}
              for r in info.repos]}))
"#;

fn scan_accepts_the_hfdl_cache(client: Client) {
    let case = Case::new(client, Mode::Cache);
    let py = client.python();
    let out = run(&case.env, "hfdl", &mut case.hfdl());
    case.assert_bytes("hfdl", "a plain download", &out);
    let out = scrubbed_command(&py)
        .args(["-c", SCAN])
        .env("HF_HOME", case.env.hf_home())
        .output()
        .expect("run scan_cache_dir");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("@@json "));
    let line =
        line.unwrap_or_else(|| panic!("scan_cache_dir printed no result\n{}", describe(&out)));
    let scan: Value = serde_json::from_str(line).expect("JSON");

    let who = client.name();
    // 0.36's scanner skips only `.locks/` at the cache root, so it warns about the
    // `CACHEDIR.TAG` that huggingface_hub >= 1.x writes there too (as hfdl does, for parity).
    let tag = case.env.cache().join("CACHEDIR.TAG");
    let tolerated = json!([format!("Repo path is not a directory: {}", s(&tag))]);
    let expected_warnings = if who.contains("0.36") {
        tolerated
    } else {
        json!([])
    };
    assert_eq!(
        scan["warnings"], expected_warnings,
        "{who}: scan_cache_dir warnings"
    );
    let size: u64 = case.files.iter().map(|f| f.data.len() as u64).sum();
    assert_eq!(scan["size_on_disk"], size, "{who}: size_on_disk\n{scan:#}");
    let commit = case.hub.commit(REPO, "main");
    let snapshot = case.repo_dir().join("snapshots").join(&commit);
    let mut files: Vec<&str> = case.files.iter().map(|f| f.path).collect();
    files.sort_unstable();
    let expected = json!([{
        "repo_id": REPO,
        "repo_type": "model",
        "size_on_disk": size,
        "nb_files": case.files.len(),
        "revisions": [{
            "commit": commit,
            "refs": ["main"],
            "nb_files": case.files.len(),
            "size_on_disk": size,
            "snapshot": s(&snapshot),
            "files": files,
        }],
    }]);
    assert_eq!(
        scan["repos"], expected,
        "{who}: scan_cache_dir of hfdl's cache"
    );
}

// ------------------------------------------------------------------------------------------
// The matrix
// ------------------------------------------------------------------------------------------

/// One module per client, one test per direction and mode, so a failure names its cell:
/// `interop_matrix::<client>::<direction>_<mode>`.
macro_rules! matrix {
    ($($module:ident => $client:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn a_hfdl_killed_then_client_finishes_cache() {
                hfdl_interrupted_then_client_finishes($client, Mode::Cache);
            }
            #[test]
            fn a_hfdl_killed_then_client_finishes_local_dir() {
                hfdl_interrupted_then_client_finishes($client, Mode::LocalDir);
            }
            #[test]
            fn b_client_killed_then_hfdl_finishes_cache() {
                client_interrupted_then_hfdl_finishes($client, Mode::Cache);
            }
            #[test]
            fn b_client_killed_then_hfdl_finishes_local_dir() {
                client_interrupted_then_hfdl_finishes($client, Mode::LocalDir);
            }
            #[test]
            fn c_client_reuses_hfdl_cache() {
                client_reuses_what_hfdl_finished($client, Mode::Cache);
            }
            #[test]
            fn c_client_reuses_hfdl_local_dir() {
                client_reuses_what_hfdl_finished($client, Mode::LocalDir);
            }
            #[test]
            fn c_hfdl_reuses_client_cache() {
                hfdl_reuses_what_the_client_finished($client, Mode::Cache);
            }
            #[test]
            fn c_hfdl_reuses_client_local_dir() {
                hfdl_reuses_what_the_client_finished($client, Mode::LocalDir);
            }
            #[test]
            fn d_scan_cache_dir_accepts_hfdl_cache() {
                scan_accepts_the_hfdl_cache($client);
            }
        }
    )*};
}

matrix! {
    hub036 => Client::Hub036;
    hub117 => Client::Hub117;
    hub24 => Client::Hub24;
}
