//! Test support: the in-process fake Hub, the Python judge, and helpers to run the real binary
//! the way a user would, with a scrubbed environment and a private `HF_HOME`.

#![allow(dead_code)]

pub mod fake_hub;
pub mod net;
pub mod python;
pub mod seaweed;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// Environment variables that must not leak from the developer's shell into a test.
const SCRUBBED: &[&str] = &[
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    "HF_HUB_ETAG_TIMEOUT",
    "HF_HUB_DOWNLOAD_TIMEOUT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AWS_PROFILE",
    "HFDL_SPOOL_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    // Agent detection picks the output format of `--format auto`.
    "AI_AGENT",
    "AGENT",
];

/// A private `HF_HOME` and an endpoint to run `hfdl` against.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
}

impl TestEnv {
    pub fn new(endpoint: &str) -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            endpoint: endpoint.to_owned(),
        }
    }

    pub fn hf_home(&self) -> PathBuf {
        self.dir.path().join("hf-home")
    }

    /// The default hub cache of this environment.
    pub fn cache(&self) -> PathBuf {
        self.hf_home().join("hub")
    }

    /// A fresh path inside the test's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `hfdl` with a scrubbed environment pointing at this env's endpoint and `HF_HOME`.
    pub fn hfdl(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hfdl"));
        for key in SCRUBBED {
            cmd.env_remove(key);
        }
        cmd.env("HF_HOME", self.hf_home())
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            .env("NO_COLOR", "1")
            .env("HFDL_TEST_RETRY_BASE_MS", "10");
        cmd
    }

    /// `hfdl download ARGS...`, expected to succeed; returns the one stdout line.
    pub fn download(&self, args: &[&str]) -> String {
        let out = run_ok(self.hfdl().arg("download").args(args));
        stdout_line(&out)
    }
}

/// Runs a command; panics with everything it printed if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "command failed: {cmd:?}\n{}",
        describe(&out)
    );
    out
}

/// Runs a command that must fail; returns its output.
pub fn run_fail(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {cmd:?}\n{}",
        describe(&out)
    );
    out
}

pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The single line a successful command printed on stdout.
pub fn stdout_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stdout line\n{}",
        describe(out)
    );
    lines[0].to_owned()
}

/// A loopback port where nothing listens.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Every file under `dir` (relative paths, sorted), following symlinks, skipping `.cache`.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == ".cache") {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}
