//! `hfdl download` against a quota on requests in flight, as hf-mirror.com has under load:
//! at most N requests at once on the Hub or the CDN, every one above answered `429` (with or
//! without `Retry-After`). hfdl must finish with every byte right, and learn the limit: in all,
//! no more 429s than the first burst (what it had in flight above the quota) and one round. How many it drew and how many requests it had in flight are printed (`--nocapture`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::fake_hub::{FakeHub, FakeHubBuilder, Origin};
use crate::support::{TestEnv, bytes, sha256_hex};

const MIB: usize = 1 << 20;

/// The line of the report: 429s drawn, peak in flight, wall time.
#[expect(clippy::print_stderr, reason = "the numbers for the report")]
fn report(scenario: &str, hub: &FakeHub, origin: Origin, took: Duration) {
    let (refused, peak) = (hub.refused(origin), hub.peak_in_flight(origin));
    let total = hub.requests().iter().filter(|r| r.origin == origin).count();
    eprintln!(
        "| {scenario} | {origin:?} | {refused} of {total} requests got 429 | peak {peak} in flight | {took:.1?} |"
    );
}

/// How long the Hub takes to answer, as a mirror far away does: without it each small request
/// is over in a millisecond and 64 workers hardly ever have 16 in flight.
const HUB_LATENCY: Duration = Duration::from_millis(50);

/// `org/many`: 200 regular files of 1 to 4 KiB, listed in one page, from a Hub [`HUB_LATENCY`]
/// away.
fn many_small() -> (FakeHubBuilder, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| {
            let len = 1024 + (i * 397) % 3073;
            (format!("f/{i:03}.txt"), bytes(len, 1000 + i as u64))
        })
        .collect();
    let listed = files.clone();
    let hub = FakeHub::builder()
        .tree_page_size(1000)
        .latency(HUB_LATENCY)
        .model("org/many", move |mut r| {
            for (path, data) in &listed {
                r = r.file(path, data);
            }
            r
        });
    (hub, files)
}

/// `org/three`: three LFS files of 20 MiB.
fn three_large() -> (FakeHubBuilder, Vec<(String, Vec<u8>)>) {
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("w{i}.bin"), bytes(20 * MIB, 2000 + i)))
        .collect();
    let listed = files.clone();
    let hub = FakeHub::builder().model("org/three", move |mut r| {
        for (path, data) in &listed {
            r = r.lfs(path, data);
        }
        r
    });
    (hub, files)
}

/// Downloads `repo` with `flags` into the cache, checks every file, returns the wall time.
fn download_all(
    hub: &FakeHub,
    repo: &str,
    flags: &[&str],
    files: &[(String, Vec<u8>)],
) -> Duration {
    let env = TestEnv::new(&hub.url());
    let started = Instant::now();
    let mut args = vec![repo];
    args.extend_from_slice(flags);
    let snapshot = env.download(&args);
    let took = started.elapsed();
    for (path, data) in files {
        let got = std::fs::read(Path::new(&snapshot).join(path)).unwrap();
        assert!(
            got.len() == data.len() && sha256_hex(&got) == sha256_hex(data),
            "{path} differs"
        );
    }
    took
}

/// 200 small files with 64 workers against a Hub quota of 16.
fn small_files_under_hub_quota(retry_after: Option<u32>, scenario: &str) {
    let (hub, files) = many_small();
    let hub = hub.max_in_flight(Origin::Hub, 16, retry_after).build();
    let took = download_all(&hub, "org/many", &["--max-workers", "64"], &files);
    assert!(hub.peak_in_flight(Origin::Hub) <= 16);
    let statuses = hub.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(
        statuses as u32,
        hub.refused(Origin::Hub),
        "429s are recorded"
    );
    report(scenario, &hub, Origin::Hub, took);
    // The first burst, plus one per allowed slot: the server counts a request until its body
    // is sent, a moment after the client is done with it.
    let burst = 64 - 16 + 16;
    assert!(
        hub.refused(Origin::Hub) <= burst,
        "the limit is learnt: {} 429s, more than the first burst could draw ({burst})",
        hub.refused(Origin::Hub)
    );
}

#[test]
fn small_files_under_a_hub_quota_with_retry_after() {
    small_files_under_hub_quota(
        Some(1),
        "200 small files, 64 workers, Hub quota 16, Retry-After: 1",
    );
}

#[test]
fn small_files_under_a_hub_quota_without_retry_after() {
    small_files_under_hub_quota(
        None,
        "200 small files, 64 workers, Hub quota 16, no Retry-After",
    );
}

/// Three 20 MiB LFS files at default flags against a CDN quota of 4.
fn large_files_under_cdn_quota(retry_after: Option<u32>, scenario: &str) {
    let (hub, files) = three_large();
    let hub = hub.max_in_flight(Origin::Cdn, 4, retry_after).build();
    let took = download_all(&hub, "org/three", &[], &files);
    assert!(hub.peak_in_flight(Origin::Cdn) <= 4);
    report(scenario, &hub, Origin::Cdn, took);
    // 16 connections and the probes of 3 files at first, 4 allowed (plus one per slot).
    let burst = 16 + 3 - 4 + 4;
    assert!(
        hub.refused(Origin::Cdn) <= burst,
        "the limit is learnt: {} 429s, more than the first burst could draw ({burst})",
        hub.refused(Origin::Cdn)
    );
}

#[test]
fn large_files_under_a_cdn_quota_without_retry_after() {
    large_files_under_cdn_quota(
        None,
        "3 x 20 MiB LFS, default flags, CDN quota 4, no Retry-After",
    );
}

#[test]
fn large_files_under_a_cdn_quota_with_retry_after() {
    large_files_under_cdn_quota(
        Some(1),
        "3 x 20 MiB LFS, default flags, CDN quota 4, Retry-After: 1",
    );
}
