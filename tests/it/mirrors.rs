//! Mirrors as they are (hf-mirror.com's public quirks): pagination links to another origin, a
//! hotlink rule against `Referer`, redirects to hosts the user cannot reach. Each quirk is a
//! fake-Hub knob, and each test fails without the matching fix.

use std::fs;
use std::time::{Duration, Instant};

use crate::support::fake_hub::{FakeHub, Fault, FaultKind, Origin};
use crate::support::{TestEnv, bytes, closed_port, describe, run_fail, run_ok, sha256_hex, stderr};

const MIB: usize = 1024 * 1024;

fn dead_origin() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

#[test]
fn pagination_links_to_another_origin_are_followed_on_the_endpoint() {
    let hub = FakeHub::builder()
        .model("org/many", |mut r| {
            for i in 0..9 {
                r = r.file(&format!("f{i}.txt"), format!("{i}"));
            }
            r.gated()
        })
        .tree_page_size(2)
        .fault(Fault::new(FaultKind::ForeignNextLink(dead_origin())).times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let dir = env.path("out");
    let token = hub.token();
    let args = [
        "download",
        "org/many",
        "--local-dir",
        dir.to_str().unwrap(),
        "--token",
        &token,
    ];
    run_ok(env.hfdl().args(args));
    for i in 0..9 {
        assert_eq!(
            fs::read(dir.join(format!("f{i}.txt"))).unwrap(),
            format!("{i}").as_bytes()
        );
    }
    let pages: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/tree/"))
        .collect();
    assert_eq!(pages.len(), 5, "{pages:#?}");
    assert!(
        pages.iter().all(|r| r.has_auth),
        "the endpoint still gets the token"
    );
}

#[test]
fn no_referer_is_ever_sent() {
    let data = bytes(3 * MIB, 5);
    let big = bytes(12 * MIB, 6);
    let hub = FakeHub::builder()
        .model("org/m", |r| {
            r.lfs("w.bin", &data)
                .lfs("big.bin", &big)
                .file("a.txt", b"a")
        })
        .fault(Fault::new(FaultKind::RefuseReferer).times(u32::MAX))
        .build();
    let env = TestEnv::new(&hub.url());
    let out = run_ok(env.hfdl().args(["download", "org/m"]));
    let snapshot = crate::support::stdout_line(&out);
    let read = |name: &str| fs::read(std::path::Path::new(&snapshot).join(name)).unwrap();
    assert_eq!(sha256_hex(&read("w.bin")), sha256_hex(&data));
    assert_eq!(sha256_hex(&read("big.bin")), sha256_hex(&big));
    let requests = hub.requests();
    assert!(
        requests.iter().any(|r| r.origin == Origin::Cdn),
        "LFS came through the CDN"
    );
    let with_referer: Vec<_> = requests.iter().filter(|r| r.referer.is_some()).collect();
    assert!(with_referer.is_empty(), "{with_referer:#?}");
}

#[test]
fn a_redirect_to_an_unreachable_host_is_resolved_again_then_fails_naming_the_host() {
    let big = bytes(12 * MIB, 7);
    let small = bytes(MIB, 8);
    let hub = FakeHub::builder()
        .model("org/m", |r| r.lfs("big.bin", &big).lfs("small.bin", &small))
        .build();
    let env = TestEnv::new(&hub.url());

    // Once: the second resolve names the real CDN, and the download completes.
    hub.set_fault(Fault::new(FaultKind::RedirectTo(dead_origin())).path("big.bin"));
    hub.set_fault(Fault::new(FaultKind::RedirectTo(dead_origin())).path("small.bin"));
    let out = run_ok(env.hfdl().args(["download", "org/m"]));
    let snapshot = crate::support::stdout_line(&out);
    let read = |name: &str| fs::read(std::path::Path::new(&snapshot).join(name)).unwrap();
    assert_eq!(sha256_hex(&read("big.bin")), sha256_hex(&big));
    assert_eq!(sha256_hex(&read("small.bin")), sha256_hex(&small));
    hub.assert_faults_fired();

    // Always: two resolves per file, then a clear failure within seconds.
    hub.clear_faults();
    let dead = dead_origin();
    hub.set_fault(Fault::new(FaultKind::RedirectTo(dead.clone())).times(u32::MAX));
    hub.clear_requests();
    let started = Instant::now();
    let dir = env.path("local");
    let out =
        run_fail(
            env.hfdl()
                .args(["download", "org/m", "--local-dir", dir.to_str().unwrap()]),
        );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    let host = dead.trim_start_matches("http://");
    assert!(
        err.contains(&format!("cannot connect to `{host}`")),
        "{err}"
    );
    assert!(
        err.contains("redirected") && err.contains(&hub.url()),
        "{err}"
    );
    assert!(err.contains("HTTPS_PROXY"), "a suggestion: {err}");
    let resolves = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/resolve/"));
    let per_file = |name: &str| resolves.clone().filter(|r| r.path.ends_with(name)).count();
    assert!(
        per_file("big.bin") <= 2 && per_file("small.bin") <= 2,
        "{:#?}",
        hub.requests()
    );
    assert!(!dir.join("big.bin").exists() && !dir.join("small.bin").exists());
}
