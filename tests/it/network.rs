//! `hfdl` on real-world networks: HTTP proxies from the environment (`HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, lower case too), TLS endpoints signed by a private CA
//! (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`), the timeouts of
//! `HF_HUB_DOWNLOAD_TIMEOUT` / `HF_HUB_ETAG_TIMEOUT`, what `hfdl env` reports, and that a token
//! is never printed.
//!
//! The proxy and the TLS front are in `support::net`; both record what reached them, so the
//! tests check the route the requests took and not only that the files arrived.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fake_hub::{FakeHub, FakeHubBuilder, Fault, FaultKind, Origin};
use crate::support::net::{ForwardProxy, H2Front, TestCa, TlsFront};
use crate::support::{TestEnv, bytes, closed_port, describe, sha256_hex, stdout_line};

/// A hang guard for whole runs, not a benchmark.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Variables naming CA bundles, which `TestEnv` does not scrub.
const CA_VARS: &[&str] = &[
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_DIR",
];

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("config.json", br#"{"model_type": "net"}"#.to_vec()),
        ("sub/notes.txt", b"through the middlebox\n".to_vec()),
        ("weights.bin", bytes(300_000, 7)),
    ]
}

/// `org/net`: two regular files (one in a folder) and one LFS file.
fn net_hub() -> FakeHubBuilder {
    FakeHub::builder().model("org/net", |mut r| {
        for (name, data) in files() {
            r = if name.ends_with(".bin") {
                r.lfs(name, data)
            } else {
                r.file(name, data)
            };
        }
        r
    })
}

/// `hfdl` for this env, without any CA bundle variable from the developer's shell.
fn hfdl(env: &TestEnv) -> Command {
    let mut cmd = env.hfdl();
    for key in CA_VARS {
        cmd.env_remove(key);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, killing it and failing the test if it is still running after `limit`.
fn run_guarded(cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hfdl");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for hfdl") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let output = Output {
                status,
                stdout: out.join().unwrap(),
                stderr: err.join().unwrap(),
            };
            panic!(
                "hfdl still running after {limit:?}: {cmd:?}\n{}",
                describe(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let output = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, elapsed)
}

fn ok(cmd: &mut Command) -> (Output, Duration) {
    let (out, elapsed) = run_guarded(cmd, HANG_GUARD);
    assert!(out.status.success(), "{cmd:?} failed\n{}", describe(&out));
    (out, elapsed)
}

/// Runs a command that must fail with exit code 1, cleanly; returns its stderr.
fn fails(cmd: &mut Command) -> String {
    let (out, _) = run_guarded(cmd, HANG_GUARD);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{cmd:?}\n{}", describe(&out));
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    err
}

/// The snapshot (or local dir) holds exactly the repo's files, byte for byte.
fn assert_files(dir: &Path) {
    let mut expected: Vec<&str> = files().iter().map(|(n, _)| *n).collect();
    expected.sort_unstable();
    assert_eq!(
        crate::support::files_under(dir),
        expected,
        "{}",
        dir.display()
    );
    for (name, data) in files() {
        let got = fs::read(dir.join(name)).unwrap();
        assert_eq!(sha256_hex(&got), sha256_hex(&data), "{name}");
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------------------------------------
// 1. Proxies
// ---------------------------------------------------------------------------------------------

/// Every request the fake Hub and its CDN saw came through `proxy`, and the proxy saw the
/// metadata, a `resolve` and the CDN transfer.
fn assert_all_through(proxy: &ForwardProxy, hub: &FakeHub) {
    let seen = proxy.requests();
    let targets: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
    let api = format!("{}/api/models/org/net", hub.url());
    assert!(targets.iter().any(|t| t.starts_with(&api)), "{targets:#?}");
    let resolve = format!("{}/org/net/resolve/", hub.url());
    assert!(
        targets.iter().any(|t| t.starts_with(&resolve)),
        "{targets:#?}"
    );
    let blob = format!("{}/blob/", hub.cdn_url());
    assert!(targets.iter().any(|t| t.starts_with(&blob)), "{targets:#?}");
    assert!(seen.iter().all(|r| r.method != "CONNECT"), "{seen:#?}");
    // The proxy forwards each request exactly once, so equal counts mean nothing went direct.
    let reached = hub.requests();
    assert_eq!(
        seen.len(),
        reached.len(),
        "requests that bypassed the proxy?\nproxy: {seen:#?}\nhub: {reached:#?}"
    );
}

#[test]
fn http_proxy_carries_api_and_file_requests() {
    let hub = net_hub().build();
    let proxy = ForwardProxy::start();
    let env = TestEnv::new(&hub.url());
    let (out, _) = ok(hfdl(&env)
        .args(["download", "org/net"])
        .env("HTTP_PROXY", proxy.url()));
    assert_files(Path::new(&stdout_line(&out)));
    assert_all_through(&proxy, &hub);

    // The same through a local dir, with the proxy given in lower case.
    let (proxy, dir) = (ForwardProxy::start(), env.path("local"));
    hub.clear_requests();
    ok(hfdl(&env)
        .args([
            "download",
            "org/net",
            "--local-dir",
            s(&dir),
            "--force-download",
        ])
        .env("http_proxy", proxy.url()));
    assert_files(&dir);
    assert_all_through(&proxy, &hub);
}

#[test]
fn all_proxy_carries_every_request() {
    let hub = net_hub().build();
    let proxy = ForwardProxy::start();
    let env = TestEnv::new(&hub.url());
    let (out, _) = ok(hfdl(&env)
        .args(["download", "org/net"])
        .env("ALL_PROXY", proxy.url()));
    assert_files(Path::new(&stdout_line(&out)));
    assert_all_through(&proxy, &hub);
}

#[test]
fn no_proxy_and_scheme_mismatch_go_direct() {
    let hub = net_hub().build();
    let proxy = ForwardProxy::start();
    let cases: [&[(&str, &str)]; 4] = [
        &[("NO_PROXY", "127.0.0.1")],
        &[("no_proxy", "example.invalid, 127.0.0.1")],
        &[("NO_PROXY", "127.0.0.0/8")],
        // An https proxy is not used for an http endpoint.
        &[],
    ];
    for (i, vars) in cases.into_iter().enumerate() {
        let env = TestEnv::new(&hub.url());
        let mut cmd = hfdl(&env);
        cmd.args(["download", "org/net"]);
        if vars.is_empty() {
            cmd.env("HTTPS_PROXY", proxy.url());
        } else {
            cmd.env("HTTP_PROXY", proxy.url())
                .env("ALL_PROXY", proxy.url());
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let (out, _) = ok(&mut cmd);
        assert_files(Path::new(&stdout_line(&out)));
        assert!(
            proxy.requests().is_empty(),
            "case {i} {vars:?}: the proxy was used: {:#?}",
            proxy.requests()
        );
    }
    assert!(!hub.requests().is_empty());
}

/// `NO_PROXY=*` turns proxies off for every host, as in curl, requests and httpx, including an
/// endpoint given by IP address (a mirror on the local network).
#[test]
fn no_proxy_star_bypasses_the_proxy_for_an_ip_endpoint() {
    let hub = net_hub().build();
    let proxy = ForwardProxy::start();
    let env = TestEnv::new(&hub.url());
    let (out, _) = ok(hfdl(&env)
        .args(["download", "org/net"])
        .env("HTTP_PROXY", proxy.url())
        .env("NO_PROXY", "*"));
    assert_files(Path::new(&stdout_line(&out)));
    assert!(
        proxy.requests().is_empty(),
        "NO_PROXY=* still used the proxy: {:#?}",
        proxy.requests()
    );
}

#[test]
fn proxy_credentials_from_the_url_are_sent() {
    let hub = net_hub().build();
    let proxy = ForwardProxy::start();
    let env = TestEnv::new(&hub.url());
    let url = format!("http://alice:s3cret@127.0.0.1:{}", proxy.port());
    let (out, _) = ok(hfdl(&env)
        .args(["download", "org/net", "config.json"])
        .env("HTTP_PROXY", &url));
    assert!(stdout_line(&out).ends_with("config.json"));
    let seen = proxy.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(
            r.proxy_auth.as_deref(),
            Some("Basic YWxpY2U6czNjcmV0"),
            "{r:?}"
        );
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn unreachable_proxy_fails_cleanly_without_touching_the_hub() {
    let hub = net_hub().build();
    let env = TestEnv::new(&hub.url());
    let dead = format!("http://127.0.0.1:{}", closed_port());
    for var in ["HTTP_PROXY", "ALL_PROXY"] {
        let err = fails(hfdl(&env).args(["download", "org/net"]).env(var, &dead));
        let lower = err.to_lowercase();
        assert!(
            lower.contains("connect") || lower.contains("proxy"),
            "{var}: the cause is named: {err}"
        );
        assert!(err.contains("hint: "), "{var}: {err}");
    }
    assert!(hub.requests().is_empty(), "{:#?}", hub.requests());
    assert!(!env.cache().join("models--org--net/snapshots").exists());
}

#[test]
fn https_proxy_tunnels_a_tls_endpoint_with_connect() {
    let hub = net_hub().tree_page_size(100).build();
    let ca = TestCa::generate();
    let front = TlsFront::start(&ca, &hub.url());
    let proxy = ForwardProxy::start();
    let env = TestEnv::new(&front.url());
    let ca_file = env.path("ca.pem");
    fs::write(&ca_file, &ca.ca_pem).unwrap();
    let (out, _) = ok(hfdl(&env)
        .args(["download", "org/net"])
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", &ca_file));
    assert_files(Path::new(&stdout_line(&out)));
    let seen = proxy.requests();
    let tunnel = format!("localhost:{}", front.port());
    assert!(
        seen.iter()
            .any(|r| r.method == "CONNECT" && r.target == tunnel),
        "{seen:#?}"
    );
    // The plain-http CDN is not an https URL: HTTPS_PROXY does not apply to it.
    assert!(seen.iter().all(|r| r.method == "CONNECT"), "{seen:#?}");
    assert!(front.handshakes() >= 1);
    let cdn = hub
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Cdn);
    assert!(cdn.count() >= 1);
}

// ---------------------------------------------------------------------------------------------
// 2. TLS with a private CA
// ---------------------------------------------------------------------------------------------

#[test]
fn tls_endpoint_is_refused_without_its_ca() {
    let hub = net_hub().tree_page_size(100).build();
    let ca = TestCa::generate();
    let front = TlsFront::start(&ca, &hub.url());
    let env = TestEnv::new(&front.url());
    let err = fails(hfdl(&env).args(["download", "org/net"]));
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(err.contains(&front.url()), "the endpoint is named: {err}");
    assert!(err.contains("SSL_CERT_FILE"), "the fix is named: {err}");
    assert_eq!(
        front.failed_handshakes(),
        1,
        "a refused certificate is not retried"
    );
    assert_eq!(front.handshakes(), 0);
    assert!(hub.requests().is_empty(), "{:#?}", hub.requests());
    assert!(!env.cache().join("models--org--net/snapshots").exists());
}

#[test]
fn tls_endpoint_is_trusted_with_each_ca_bundle_variable() {
    let hub = net_hub().tree_page_size(100).build();
    let ca = TestCa::generate();
    let front = TlsFront::start(&ca, &hub.url());
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    fs::write(&ca_file, &ca.ca_pem).unwrap();
    // A bundle as distributions ship them: several CAs, ours not first.
    let bundle = dir.path().join("bundle.pem");
    let other = TestCa::generate();
    fs::write(&bundle, format!("{}\n{}", other.ca_pem, ca.ca_pem)).unwrap();
    let endpoints = [front.url(), format!("https://127.0.0.1:{}", front.port())];
    let ca_dir = dir.path().join("certs");
    fs::create_dir(&ca_dir).unwrap();
    fs::write(ca_dir.join("ca.pem"), &ca.ca_pem).unwrap();
    let cases = [
        ("SSL_CERT_FILE", &ca_file, &endpoints[0]),
        ("SSL_CERT_DIR", &ca_dir, &endpoints[0]),
        ("REQUESTS_CA_BUNDLE", &bundle, &endpoints[0]),
        ("CURL_CA_BUNDLE", &ca_file, &endpoints[0]),
        ("REQUESTS_CA_BUNDLE", &ca_file, &endpoints[1]),
    ];
    for (var, file, endpoint) in cases {
        let env = TestEnv::new(endpoint);
        let (out, _) = ok(hfdl(&env).args(["download", "org/net"]).env(var, file));
        assert_files(Path::new(&stdout_line(&out)));
        let local = env.path("local");
        ok(hfdl(&env)
            .args(["download", "org/net", "--local-dir", s(&local)])
            .env(var, file));
        assert_files(&local);
    }
    assert!(front.handshakes() >= 4);
    assert_eq!(front.failed_handshakes(), 0);
}

#[test]
fn unreadable_ca_bundle_is_named() {
    let hub = net_hub().build();
    let env = TestEnv::new(&hub.url());
    let missing = env.path("no-such-ca.pem");
    let err = fails(
        hfdl(&env)
            .args(["download", "org/net"])
            .env("REQUESTS_CA_BUNDLE", &missing),
    );
    assert!(err.contains(s(&missing)), "{err}");
    assert!(err.to_lowercase().contains("ca bundle"), "{err}");
}

/// A bundle file with no certificate in it is a mistake to report (the official client's `ssl`
/// refuses it too), not something to ignore until the TLS handshake fails for another reason.
#[test]
fn ca_bundle_without_certificates_is_an_error() {
    let hub = net_hub().build();
    let env = TestEnv::new(&hub.url());
    let junk = env.path("not-a-bundle.pem");
    fs::write(&junk, "this is not a certificate\n").unwrap();
    let (out, _) = run_guarded(
        hfdl(&env)
            .args(["download", "org/net"])
            .env("SSL_CERT_FILE", &junk),
        HANG_GUARD,
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(s(&junk)), "the bundle is named: {err}");
    assert!(hub.requests().is_empty(), "{:#?}", hub.requests());
}

// ---------------------------------------------------------------------------------------------
// 3. Timeouts
// ---------------------------------------------------------------------------------------------

/// A stalled transfer with `HF_HUB_DOWNLOAD_TIMEOUT=1`: abandoned after about a second and
/// resumed, well before the 20 s default would have.
fn recovers_from_stall(regular: bool) {
    let data = bytes(2 << 20, 11);
    let cut = 512 * 1024;
    // Twice, in case a short probe of the file takes the first one.
    let fault = Fault::new(FaultKind::StallAfter(cut)).times(2);
    let (builder, fault) = if regular {
        let builder = FakeHub::builder().model("org/m", |r| r.file("w.bin", &data));
        (builder, fault.hub().path("/resolve/"))
    } else {
        let builder = FakeHub::builder().model("org/m", |r| r.lfs("w.bin", &data));
        (builder, fault.cdn())
    };
    let hub = builder.fault(fault.clone()).build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let (out, elapsed) = ok(hfdl(&env)
        .args(["download", "org/m", "--local-dir", s(&dir)])
        .env("HF_HUB_DOWNLOAD_TIMEOUT", "1"));
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}\n{}",
        describe(&out)
    );
    assert!(
        elapsed >= Duration::from_secs(1),
        "the stall was waited for"
    );
    assert!(fault.fired() >= 1);
    assert_eq!(
        sha256_hex(&fs::read(dir.join("w.bin")).unwrap()),
        sha256_hex(&data)
    );
    let origin = if regular { Origin::Hub } else { Origin::Cdn };
    let transfers: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.origin == origin && r.method == "GET" && matches!(r.status, 200 | 206))
        .filter(|r| !r.path.starts_with("/api/"))
        .collect();
    assert!(transfers.len() >= 2, "{transfers:#?}");
    let stalled = transfers.iter().position(|r| r.body_bytes == cut);
    let stalled = stalled.unwrap_or_else(|| panic!("no transfer stalled: {transfers:#?}"));
    assert!(stalled + 1 < transfers.len(), "resumed: {transfers:#?}");
}

#[test]
fn download_timeout_variable_recovers_from_a_stalled_lfs_transfer() {
    recovers_from_stall(false);
}

#[test]
fn download_timeout_variable_recovers_from_a_stalled_regular_file() {
    recovers_from_stall(true);
}

#[test]
fn silent_metadata_request_is_abandoned_and_retried() {
    let silent = Fault::new(FaultKind::Delay(Duration::from_secs(120)))
        .hub()
        .path("/api/");
    let hub = net_hub().fault(silent.clone()).build();
    let env = TestEnv::new(&hub.url());
    let (out, elapsed) = ok(hfdl(&env)
        .args(["download", "org/net"])
        .env("HF_HUB_DOWNLOAD_TIMEOUT", "1")
        .env("HF_HUB_ETAG_TIMEOUT", "1"));
    assert_files(Path::new(&stdout_line(&out)));
    assert_eq!(silent.fired(), 1);
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}\n{}",
        describe(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 4. `hfdl env` and secrets
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "secret-xyz";

#[test]
fn env_reports_proxies_ca_bundle_and_token_source_but_not_the_token() {
    let env = TestEnv::new("https://mirror.example");
    let ca = env.path("corp-ca.pem");
    let vars = [
        ("HTTP_PROXY", "http://proxy.example:3128"),
        ("https_proxy", "http://secure-proxy.example:3129"),
        ("ALL_PROXY", "socks5://socks.example:1080"),
        ("NO_PROXY", "localhost,.internal.example"),
        ("REQUESTS_CA_BUNDLE", s(&ca)),
        ("HF_TOKEN", SECRET),
    ];
    let run = |json: bool| {
        let mut cmd = hfdl(&env);
        cmd.arg("env").envs(vars);
        if json {
            cmd.arg("--json");
        }
        let (out, _) = ok(&mut cmd);
        let (text, err) = (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            !text.contains(SECRET) && !err.contains(SECRET),
            "{text}{err}"
        );
        text
    };
    let text = run(false);
    for (_, value) in &vars[..5] {
        assert!(text.contains(value), "{value} missing from:\n{text}");
    }
    assert!(text.contains("https://mirror.example"), "{text}");
    let token_line = text.lines().find(|l| l.starts_with("token")).unwrap();
    assert!(token_line.contains("HF_TOKEN"), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");

    let json: Value = serde_json::from_str(&run(true)).expect("`hfdl env --json` is JSON");
    assert_eq!(json["endpoint"], "https://mirror.example", "{json}");
    assert_eq!(json["http_proxy"], "http://proxy.example:3128", "{json}");
    assert_eq!(json["https_proxy"], "http://secure-proxy.example:3129");
    assert_eq!(json["all_proxy"], "socks5://socks.example:1080");
    assert_eq!(json["no_proxy"], "localhost,.internal.example");
    assert_eq!(
        json["ca_bundle"],
        format!("{} (from REQUESTS_CA_BUNDLE)", s(&ca))
    );
    assert_eq!(json["token"], "HF_TOKEN");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn env_names_a_token_file_but_not_its_content() {
    let env = TestEnv::new("https://mirror.example");
    let file = env.path("my-token");
    fs::write(&file, format!("{SECRET}\n")).unwrap();
    let (out, _) = ok(hfdl(&env)
        .args(["env", "--json"])
        .env("HF_TOKEN_PATH", &file)
        .env("SSL_CERT_FILE", "/etc/corp.pem"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains(SECRET), "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["token"], s(&file), "{json}");
    assert_eq!(
        json["ca_bundle"], "/etc/corp.pem (from SSL_CERT_FILE)",
        "{json}"
    );
    assert_eq!(json["http_proxy"], "-", "{json}");
}

/// `hfdl env` output gets pasted into bug reports: a password in a proxy URL is masked, the
/// rest of the URL is shown.
#[test]
fn env_masks_a_proxy_password() {
    let env = TestEnv::new("https://mirror.example");
    let proxy = "http://alice:proxy-pass-123@proxy.example:3128";
    for json in [false, true] {
        let mut cmd = hfdl(&env);
        cmd.arg("env")
            .env("HTTPS_PROXY", proxy)
            .env("ALL_PROXY", proxy);
        if json {
            cmd.arg("--json");
        }
        let (out, _) = ok(&mut cmd);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains("proxy-pass-123"), "{text}");
        assert!(text.contains("proxy.example:3128"), "{text}");
    }
}

#[test]
fn token_is_never_printed_on_failure() {
    let hub = FakeHub::builder()
        .model("org/private", |r| r.file("config.json", b"{}").private())
        .model("org/gated", |r| r.file("config.json", b"{}").gated())
        .build();
    let env = TestEnv::new(&hub.url());
    let dead = TestEnv::new(&format!("http://127.0.0.1:{}", closed_port()));
    let runs: Vec<(&TestEnv, Vec<&str>)> = vec![
        (&env, vec!["org/missing"]),
        (&env, vec!["org/missing", "config.json"]),
        (&env, vec!["org/private", "config.json"]),
        (&env, vec!["org/gated", "--json"]),
        (&env, vec!["org/private", "--local-dir", "out"]),
        (&dead, vec!["org/missing", "config.json"]),
    ];
    for (env, args) in runs {
        for via_flag in [true, false] {
            let mut cmd = hfdl(env);
            cmd.current_dir(env.dir.path())
                .arg("download")
                .args(&args)
                .env("RUST_LOG", "trace")
                .env("RUST_BACKTRACE", "1");
            if via_flag {
                cmd.args(["--token", SECRET]);
            } else {
                cmd.env("HF_TOKEN", SECRET);
            }
            let (out, _) = run_guarded(&mut cmd, HANG_GUARD);
            assert_eq!(out.status.code(), Some(1), "{args:?}\n{}", describe(&out));
            let all = describe(&out);
            assert!(!all.contains(SECRET), "{args:?} printed the token:\n{all}");
            assert!(
                !all.contains("secret-"),
                "{args:?} printed part of it:\n{all}"
            );
        }
    }
    // The token did reach the Hub: the runs above were not failing for lack of it.
    assert!(hub.requests().iter().any(|r| r.has_auth));
}

/// A gated repo's LFS file with a token: the token goes to the Hub, never to the CDN the
/// resolve answer redirects to (which refuses any request carrying one).
#[test]
fn the_token_never_reaches_the_cdn() {
    let big = crate::support::bytes(12 * 1024 * 1024, 91);
    let hub = FakeHub::builder()
        .model("org/gated", |r| {
            r.lfs("big.bin", &big)
                .lfs("small.bin", b"small lfs file")
                .file("config.json", b"{}")
                .gated()
        })
        .cdn_refuses_auth()
        .build();
    let env = TestEnv::new(&hub.url());
    let local = env.path("local");
    let token = hub.token();
    for args in [
        vec!["download", "org/gated", "--token", &token],
        vec![
            "download",
            "org/gated",
            "big.bin",
            "--force-download",
            "--token",
            &token,
        ],
        vec![
            "download",
            "org/gated",
            "--local-dir",
            s(&local),
            "--token",
            &token,
        ],
    ] {
        let (out, _) = ok(hfdl(&env).args(&args));
        assert!(!stdout_line(&out).is_empty());
    }
    assert_eq!(fs::read(local.join("big.bin")).unwrap(), big);
    let requests = hub.requests();
    let cdn: Vec<_> = requests
        .iter()
        .filter(|r| r.origin == Origin::Cdn)
        .collect();
    assert!(!cdn.is_empty(), "LFS bytes come from the CDN");
    assert!(
        cdn.iter().all(|r| !r.has_auth && r.status < 400),
        "{cdn:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.origin == Origin::Hub && r.has_auth),
        "the Hub gets the token"
    );
}

/// Over TLS with HTTP/2 offered (as huggingface.co and hf-mirror.com do), many small files at
/// once share connections instead of opening one each.
#[test]
fn small_files_share_http2_connections_over_tls() {
    let hub = FakeHub::builder()
        .latency(Duration::from_millis(100))
        .tree_page_size(1000)
        .model("org/many", |mut r| {
            for i in 0..60 {
                r = r.file(&format!("f{i:02}.txt"), format!("file {i}"));
            }
            r
        })
        .build();
    let ca = TestCa::generate();
    let front = H2Front::start(&ca, &hub.url());
    let env = TestEnv::new(&front.url());
    let ca_file = env.path("ca.pem");
    fs::write(&ca_file, &ca.ca_pem).unwrap();
    let dir = env.path("out");
    ok(hfdl(&env)
        .args([
            "download",
            "org/many",
            "--max-workers",
            "32",
            "--local-dir",
            s(&dir),
        ])
        .env("SSL_CERT_FILE", &ca_file));
    for i in 0..60 {
        assert_eq!(
            fs::read(dir.join(format!("f{i:02}.txt"))).unwrap(),
            format!("file {i}").as_bytes()
        );
    }
    let (h2, h1) = front.connections();
    assert!(
        h2 >= 1 && h2 + h1 <= 4,
        "32 files at once over {h2} HTTP/2 + {h1} HTTP/1.1 connections"
    );
}
