//! The Python API (`python/hfdl`, shipped in the wheel with the binary), judged by
//! huggingface_hub 2.4: the pytest suite in `python/tests/` runs against the built wheel
//! installed in `target/py-venv-api` (both made by `scripts/test.sh`), with `HF_ENDPOINT` at a
//! fake Hub started here. One more venv holds the wheel alone, without huggingface_hub: the
//! `hfdl` command is on its PATH and the API raises its own exception classes there.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::json;

use crate::support::fake_hub::{FakeHub, Fault, FaultKind};
use crate::support::python::{minilm_model_dir, scrubbed_command};
use crate::support::{bytes, closed_port, describe, sha256_hex};

const MINILM: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// org/slow's one file: above 8 MiB, so an interrupted transfer is resumed from its journal.
const SLOW_LEN: usize = 12 << 20;

/// The Python of a venv made by `scripts/test.sh`: `$var`, else `target/<venv>/bin/python`;
/// panics saying what to run when it is missing, or when its wheel is not this build's.
fn venv_python(var: &str, venv: &str) -> PathBuf {
    let python = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/{venv}/bin/python")),
    };
    let installed = python.with_file_name("hfdl");
    assert!(
        python.exists() && installed.exists(),
        "no venv with the hfdl wheel at {} ({var}).\nRun `scripts/test.sh` once: it builds the \
         wheel (scripts/wheel.sh --dev) and the venv target/{venv} with it; \
         `HFDL_TEST_VENVS_ONLY=1 scripts/test.sh` does only that.",
        python.display()
    );
    // `cargo test` and `maturin build` link different binaries from the same sources (dev
    // dependencies widen features), so the check is: installed after the last change to the
    // Rust sources, and the same Python files.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let installed_at = fs::metadata(&installed).unwrap().modified().unwrap();
    let newest = newest_mtime(&[
        root.join("src"),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
    ]);
    let stale_python = stale_python_files(&python, &root.join("python/hfdl"));
    assert!(
        installed_at >= newest && stale_python.is_empty(),
        "the wheel in {} is older than the sources (stale: {stale_python:?}). Run \
         `scripts/test.sh` (it rebuilds and reinstalls the wheel), or `scripts/wheel.sh --dev` and \
         `{} -m pip install --no-deps --force-reinstall target/wheels/hfdl_rs-*.whl`.",
        installed.display(),
        python.display()
    );
    python
}

fn newest_mtime(paths: &[PathBuf]) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = paths.to_vec();
    while let Some(path) = stack.pop() {
        let meta = fs::metadata(&path).unwrap();
        if meta.is_dir() {
            stack.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            newest = newest.max(meta.modified().unwrap());
        }
    }
    newest
}

/// The files of `source` (python/hfdl) that the venv of `python` does not hold byte for byte.
fn stale_python_files(python: &Path, source: &Path) -> Vec<String> {
    let lib = python.parent().unwrap().parent().unwrap().join("lib");
    let site = fs::read_dir(&lib)
        .unwrap()
        .map(|e| e.unwrap().path().join("site-packages/hfdl"))
        .find(|p| p.is_dir());
    let Some(site) = site else {
        return vec!["(the package hfdl is not installed)".into()];
    };
    fs::read_dir(source)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "py"))
        .filter(|p| fs::read(p).ok() != fs::read(site.join(p.file_name().unwrap())).ok())
        .map(|p| p.display().to_string())
        .collect()
}

/// The scenario of `python/tests/conftest.py`.
fn fake_hub(corrupt: &Fault, slow: &Fault) -> FakeHub {
    let minilm = minilm_model_dir();
    FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", br#"{"model_type": "tiny"}"#)
                .file("README.md", b"# tiny\n")
                .file("sub/a.txt", b"a\n")
                .file("sub/b.json", b"{}")
                .lfs("model.bin", bytes(3 << 20, 1))
                .revision("v1", |r| {
                    r.remove("sub/b.json").lfs("model.bin", bytes(1 << 20, 2))
                })
        })
        .model("org/gated", |r| {
            r.file("config.json", b"{}")
                .lfs("weights.bin", bytes(100_000, 3))
                .gated()
        })
        .model("org/corrupt", |r| {
            r.file("config.json", b"{}")
                .lfs("model.bin", bytes(200_000, 4))
        })
        .dataset("org/data", |r| {
            r.file("data/train.csv", b"a,b\n1,2\n")
                .lfs("data/big.parquet", bytes(500_000, 5))
        })
        .model(MINILM, |mut r| {
            for name in crate::support::files_under(&minilm) {
                let data = fs::read(minilm.join(&name)).unwrap();
                r = if name == "model.safetensors" {
                    r.lfs(&name, data)
                } else {
                    r.file(&name, data)
                };
            }
            r
        })
        .model("org/slow", |r| r.lfs("big.bin", bytes(SLOW_LEN, 7)))
        .fault(corrupt.clone())
        .fault(slow.clone())
        .build()
}

#[test]
fn python_api_matches_huggingface_hub() {
    let python = venv_python("HFDL_TEST_PYTHON_API", "py-venv-api");
    // Every transfer of org/corrupt's model.bin has a flipped byte.
    let corrupt = Fault::new(FaultKind::CorruptByte(1000))
        .cdn()
        .path(&sha256_hex(&bytes(200_000, 4)))
        .times(u32::MAX);
    // org/slow is served at 3 MB/s in all, so a test can interrupt its download.
    let slow = Fault::new(FaultKind::ThrottleTotal(3_000_000))
        .cdn()
        .path(&sha256_hex(&bytes(SLOW_LEN, 7)))
        .times(u32::MAX);
    let hub = fake_hub(&corrupt, &slow);
    let mut commits = serde_json::Map::new();
    for (repo, revisions) in [
        ("org/tiny", &["main", "v1"][..]),
        ("org/gated", &["main"]),
        ("org/corrupt", &["main"]),
        ("org/data", &["main"]),
        ("org/slow", &["main"]),
        (MINILM, &["main"]),
    ] {
        let shas: serde_json::Map<_, _> = revisions
            .iter()
            .map(|rev| ((*rev).to_owned(), json!(hub.commit(repo, rev))))
            .collect();
        commits.insert(repo.to_owned(), shas.into());
    }
    let work = tempfile::tempdir().unwrap();
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/tests");
    let out = scrubbed_command(&python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rfE",
            "--durations=5",
        ])
        .arg(&tests)
        // Not the repo: `import hfdl` must find the installed wheel, not python/hfdl.
        .current_dir(work.path())
        .env("HF_ENDPOINT", hub.url())
        .env("HF_HOME", work.path().join("default-home"))
        .env("HFDL_TEST_RETRY_BASE_MS", "10")
        .env("HFDL_TEST_TOKEN", hub.token())
        .env(
            "HFDL_TEST_COMMITS",
            serde_json::Value::from(commits).to_string(),
        )
        .env("HFDL_TEST_MINILM_DIR", minilm_model_dir())
        .env(
            "HFDL_TEST_CLOSED_ENDPOINT",
            format!("http://127.0.0.1:{}", closed_port()),
        )
        .output()
        .expect("run pytest");
    assert!(out.status.success(), "pytest failed\n{}", describe(&out));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" passed") && !summary.contains("skipped"),
        "{summary}"
    );
    assert!(corrupt.fired() >= 2, "the corrupt file was fetched twice");
}

/// What a user gets from `pip install` of the wheel into a fresh venv: the command on PATH and
/// the API with its own exception classes (huggingface_hub is not installed there).
#[test]
fn wheel_alone_gives_the_command_and_the_api() {
    let python = venv_python("HFDL_TEST_PYTHON_WHEEL", "py-venv-wheel");
    let hub = FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", b"{}")
                .lfs("model.bin", bytes(300_000, 6))
        })
        .build();
    let home = tempfile::tempdir().unwrap();
    let script = r#"
import importlib.util, json, os, shutil, hfdl
assert importlib.util.find_spec("huggingface_hub") is None, "this venv must not have it"
folder = hfdl.snapshot_download("org/tiny")
try:
    hfdl.snapshot_download("org/nope")
except hfdl.RepositoryNotFoundError as e:
    error = [type(e).__name__, isinstance(e, OSError), str(e).splitlines()[0]]
try:
    hfdl.hf_hub_download("org/tiny", "nope.txt", local_files_only=True)
except FileNotFoundError as e:
    offline = type(e).__name__
print(json.dumps({"folder": folder, "files": sorted(os.listdir(folder)), "error": error,
                  "offline": offline, "which": shutil.which("hfdl")}))
"#;
    let bin = python.parent().unwrap().to_path_buf();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = scrubbed_command(&python)
        .args(["-c", script])
        .current_dir(home.path())
        .env("PATH", &path)
        .env("HF_ENDPOINT", hub.url())
        .env("HF_HOME", home.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let got: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let commit = hub.commit("org/tiny", "main");
    let folder = home
        .path()
        .join("hub/models--org--tiny/snapshots")
        .join(&commit);
    assert_eq!(got["folder"], folder.to_str().unwrap(), "{got}");
    assert_eq!(got["files"], json!(["config.json", "model.bin"]), "{got}");
    assert_eq!(got["error"][0], "RepositoryNotFoundError", "{got}");
    assert_eq!(got["error"][1], true, "{got}");
    assert!(
        got["error"][2].as_str().unwrap().contains("org/nope"),
        "{got}"
    );
    assert_eq!(got["offline"], "LocalEntryNotFoundError", "{got}");
    assert_eq!(got["which"], bin.join("hfdl").to_str().unwrap(), "{got}");
    assert_eq!(
        fs::read(folder.join("model.bin")).unwrap(),
        bytes(300_000, 6)
    );
}
