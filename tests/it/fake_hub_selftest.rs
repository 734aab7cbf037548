//! Self-tests for the fake Hub: it must speak the Hub protocol before it can judge `hfdl`.
//!
//! These talk to [`FakeHub`] with plain reqwest (no redirects, no proxy), never with `hfdl` code.

use std::time::Duration;

use reqwest::{Client, Response, redirect::Policy};
use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::support::fake_hub::{FakeHub, Fault, FaultKind, Origin};

/// Send `method url` with `headers`; a `("token", t)` pair becomes `Authorization: Bearer t`.
async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> Response {
    let client = Client::builder().no_proxy().redirect(Policy::none());
    let client = client.timeout(Duration::from_secs(10)).build().unwrap();
    let mut req = client.request(method.parse().unwrap(), url);
    for (name, value) in headers {
        req = match *name {
            "token" => req.bearer_auth(value),
            _ => req.header(*name, *value),
        };
    }
    req.send().await.unwrap()
}

fn header<'a>(resp: &'a Response, name: &str) -> &'a str {
    resp.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

async fn json(resp: Response) -> Value {
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251).to_le_bytes()[0]).collect()
}

fn tiny_hub() -> FakeHub {
    FakeHub::builder()
        .model("org/tiny", |r| {
            r.file("config.json", b"{\"a\":1}")
                .file("README.md", "# tiny")
                .lfs("model.safetensors", big(100_000))
                .file("sub/dir/a.txt", b"a")
                .file("sub/b.txt", b"b")
                .pr(1)
                .revision("v2", |r| {
                    r.file("config.json", b"{\"a\":2}").remove("README.md")
                })
        })
        .dataset("org/data", |r| r.file("train.csv", "x,y\n").gated())
        .model("org/secret", |r| r.file("a", b"a").private())
        .build()
}

#[tokio::test]
async fn revision_info_and_paginated_tree() {
    let hub = tiny_hub();
    let main = hub.commit("org/tiny", "main");
    assert_eq!(main.len(), 40);
    assert_eq!(hub.commit("org/tiny", "refs/pr/1"), main);
    assert_ne!(hub.commit("org/tiny", "v2"), main);
    let url = format!("{}/api/models/org/tiny/revision/refs%2Fpr%2F1", hub.url());
    let info = json(send("GET", &url, &[]).await).await;
    assert_eq!(info["id"], "org/tiny");
    assert_eq!(info["sha"], main.as_str());
    assert_eq!(info["gated"], false);
    assert_eq!(info["siblings"].as_array().unwrap().len(), 5);

    let tree = format!("tree/{main}?recursive=true&expand=false");
    let mut next = Some(format!("{}/api/models/org/tiny/{tree}", hub.url()));
    let (mut entries, mut pages) = (Vec::new(), 0);
    while let Some(url) = next.take() {
        let resp = send("GET", &url, &[]).await;
        let link = header(&resp, "link").strip_prefix('<');
        next = link.and_then(|l| Some(l.split_once(">; rel=\"next\"")?.0.to_owned()));
        entries.extend(json(resp).await.as_array().unwrap().iter().cloned());
        pages += 1;
    }
    assert_eq!(pages, 3, "7 entries, 3 per page");
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    let expected = "README.md config.json model.safetensors sub sub/b.txt sub/dir sub/dir/a.txt";
    assert_eq!(paths.join(" "), expected);
    let sha256 = hex::encode(Sha256::digest(big(100_000)));
    assert_eq!(entries[2]["lfs"]["oid"], sha256.as_str());
    assert_eq!(entries[2]["size"], 100_000);
    assert_eq!(entries[3]["type"], "directory");
    assert!(entries[1].get("lfs").is_none());
    let requests = hub.requests();
    let cursors = requests.iter().filter(|r| r.path.contains("&cursor="));
    assert_eq!(cursors.count(), 2);
}

#[tokio::test]
async fn resolves_regular_files_and_redirects_lfs_to_the_cdn() {
    let hub = tiny_hub();
    let main = hub.commit("org/tiny", "main");
    let regular = format!("{}/org/tiny/resolve/main/config.json", hub.url());
    let head = send("HEAD", &regular, &[]).await;
    let git_oid = hex::encode(Sha1::digest(b"blob 7\0{\"a\":1}"));
    assert_eq!(header(&head, "etag"), format!("\"{git_oid}\""));
    assert_eq!(header(&head, "x-repo-commit"), main);
    assert_eq!(header(&head, "content-length"), "7");
    let v2 = format!("{}/org/tiny/resolve/v2/config.json", hub.url());
    let v2 = send("GET", &v2, &[]).await;
    assert_eq!(v2.text().await.unwrap(), "{\"a\":2}");
    let ranged = send("GET", &regular, &[("range", "bytes=1-3")]).await;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.text().await.unwrap(), "\"a\"");

    let lfs = format!("{}/org/tiny/resolve/{main}/model.safetensors", hub.url());
    let redirect = send("GET", &lfs, &[("token", "hf_test_token")]).await;
    assert_eq!(redirect.status(), 302);
    let sha = hex::encode(Sha256::digest(big(100_000)));
    assert_eq!(header(&redirect, "x-linked-etag"), format!("\"{sha}\""));
    assert_eq!(header(&redirect, "x-linked-size"), "100000");
    let location = header(&redirect, "location");
    let blob = format!("{}/blob/{sha}?", hub.cdn_url());
    assert!(location.starts_with(&blob), "{location}");

    let part = send("GET", location, &[("range", "bytes=99990-")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, "content-range"), "bytes 99990-99999/100000");
    assert_eq!(part.bytes().await.unwrap(), big(100_000)[99_990..]);
    let beyond = send("GET", location, &[("range", "bytes=100000-")]).await;
    assert_eq!(beyond.status(), 416);
    let mut cdn = hub.requests();
    cdn.retain(|r| r.origin == Origin::Cdn);
    assert_eq!(cdn.len(), 2);
    assert!(cdn.iter().all(|r| !r.has_auth));
    assert_eq!((cdn[0].body_bytes, cdn[1].status), (10, 416));
}

#[tokio::test]
async fn errors_carry_the_hub_error_codes() {
    let hub = tiny_hub();
    // status, X-Error-Code ("-" for none), token ("-" for none), path.
    let cases = "
        401 RepoNotFound - /org/nope/resolve/main/a
        404 RepoNotFound hf_test_token /org/nope/resolve/main/a
        404 RevisionNotFound - /api/models/org/tiny/revision/nope
        404 RevisionNotFound - /api/models/org/tiny/tree/nope
        404 EntryNotFound - /org/tiny/resolve/main/nope.txt
        401 GatedRepo - /datasets/org/data/resolve/main/train.csv
        403 GatedRepo wrong /datasets/org/data/resolve/main/train.csv
        200 - hf_test_token /datasets/org/data/resolve/main/train.csv
        401 RepoNotFound - /api/models/org/secret
        200 - hf_test_token /api/models/org/secret
        401 - - /api/whoami-v2
        200 - hf_test_token /api/whoami-v2";
    for case in cases.trim().lines() {
        let [status, code, token, path] = case.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("bad case {case}")
        };
        let auth: &[_] = if token == "-" {
            &[]
        } else {
            &[("token", token)]
        };
        let resp = send("GET", &format!("{}{path}", hub.url()), auth).await;
        assert_eq!(resp.status().as_str(), status, "{case}");
        assert_eq!(
            header(&resp, "x-error-code"),
            code.trim_matches('-'),
            "{case}"
        );
        if code == "EntryNotFound" {
            let main = hub.commit("org/tiny", "main");
            assert_eq!(header(&resp, "x-repo-commit"), main);
        }
    }
}

#[tokio::test]
async fn status_fault_fires_once_then_serves() {
    let hub = tiny_hub();
    let fault = Fault::status(503).path("/resolve/").retry_after(2);
    hub.set_fault(fault.clone());
    let url = format!("{}/org/tiny/resolve/main/README.md", hub.url());
    let first = send("GET", &url, &[]).await;
    assert_eq!(first.status(), 503);
    assert_eq!(header(&first, "retry-after"), "2");
    assert_eq!(send("GET", &url, &[]).await.text().await.unwrap(), "# tiny");
    assert_eq!(fault.fired(), 1);
    hub.assert_faults_fired();
}

#[tokio::test]
async fn header_faults_strip_what_they_name() {
    let hub = tiny_hub();
    let lfs = format!("{}/org/tiny/resolve/main/model.safetensors", hub.url());
    hub.set_fault(Fault::new(FaultKind::NoLinkedHeaders));
    let redirect = send("HEAD", &lfs, &[]).await;
    assert_eq!(header(&redirect, "x-linked-etag"), "");
    assert_eq!(header(&redirect, "x-linked-size"), "");
    let location = header(&send("HEAD", &lfs, &[]).await, "location").to_owned();
    hub.set_fault(Fault::new(FaultKind::NoContentLength).method("HEAD"));
    let head = send("HEAD", &location, &[]).await;
    assert_eq!(header(&head, "content-length"), "");
    hub.set_fault(Fault::new(FaultKind::IgnoreRange));
    let whole = send("GET", &location, &[("range", "bytes=10-")]).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(header(&whole, "content-length"), "100000");
    hub.assert_faults_fired();
}

#[tokio::test]
async fn body_faults_cut_stall_and_corrupt() {
    let hub = tiny_hub();
    let lfs = format!("{}/org/tiny/resolve/main/model.safetensors", hub.url());
    let location = header(&send("HEAD", &lfs, &[]).await, "location").to_owned();
    hub.set_fault(Fault::new(FaultKind::DropAfter(70_000)).cdn());
    let cut = send("GET", &location, &[]).await;
    assert_eq!(header(&cut, "content-length"), "100000");
    assert!(cut.bytes().await.is_err(), "the body must fail");
    assert_eq!(hub.requests().last().unwrap().body_bytes, 70_000);

    hub.set_fault(Fault::new(FaultKind::ShortBody(100)).cdn());
    let short = send("GET", &location, &[]).await;
    assert!(short.bytes().await.is_err(), "short bodies fail too");
    hub.set_fault(Fault::new(FaultKind::CorruptByte(5)).cdn());
    let body = send("GET", &location, &[]).await.bytes().await.unwrap();
    assert_eq!((body.len(), body[5]), (100_000, big(6)[5] ^ 0xff));
    hub.set_fault(Fault::new(FaultKind::Gzip).cdn());
    let gzipped = send("GET", &location, &[]).await.bytes().await.unwrap();
    assert_eq!(gzipped, big(100_000), "reqwest decodes gzip");

    hub.set_fault(Fault::new(FaultKind::StallAfter(10)).cdn());
    let stalled = send("GET", &location, &[]).await;
    let read = tokio::time::timeout(Duration::from_millis(300), stalled.bytes()).await;
    assert!(read.is_err(), "the stalled body never ends");
    drop(hub); // must not hang on the stalled connection
}

#[tokio::test]
async fn throttle_total_shares_one_budget_across_connections() {
    const LEN: usize = 1 << 20;
    const RATE: u64 = 4 << 20;
    let hub = FakeHub::builder()
        .model("org/big", |r| r.lfs("w.bin", big(LEN)))
        .build();
    let lfs = format!("{}/org/big/resolve/main/w.bin", hub.url());
    let location = header(&send("HEAD", &lfs, &[]).await, "location").to_owned();
    let fault = Fault::new(FaultKind::ThrottleTotal(RATE))
        .cdn()
        .times(u32::MAX);
    hub.set_fault(fault.clone());
    let started = std::time::Instant::now();
    let gets: Vec<_> = (0..4)
        .map(|_| {
            let url = location.clone();
            tokio::spawn(async move { send("GET", &url, &[]).await.bytes().await })
        })
        .collect();
    for get in gets {
        assert_eq!(get.await.unwrap().unwrap().len(), LEN);
    }
    let took = started.elapsed();
    // 4 MiB at 4 MiB/s together (each response's first 64 KiB frame goes at once): about 0.94 s,
    // where a per-response throttle at that rate would take 0.25 s.
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(5),
        "4 parallel GETs of 1 MiB under a shared 4 MiB/s took {took:?}"
    );
    assert_eq!(fault.fired(), 4);
}

/// Waits until `hub` has `n` requests to `origin` in flight; panics after 2 s.
async fn until_in_flight(hub: &FakeHub, origin: Origin, n: usize) {
    let started = std::time::Instant::now();
    while hub.in_flight(origin) != n {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{} in flight, never {n}",
            hub.in_flight(origin)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn in_flight_quota_refuses_above_n_and_frees_slots() {
    let hub = FakeHub::builder()
        .model("org/q", |r| r.lfs("w.bin", big(100_000)))
        .max_in_flight(Origin::Cdn, 2, Some(3))
        .build();
    let lfs = format!("{}/org/q/resolve/main/w.bin", hub.url());
    let location = header(&send("HEAD", &lfs, &[]).await, "location").to_owned();
    // A stalled body is in flight until its connection closes...
    hub.set_fault(Fault::new(FaultKind::StallAfter(10)).cdn());
    let stalled = send("GET", &location, &[]).await;
    assert_eq!(stalled.status(), 200);
    // ...and a request waiting for its answer is in flight meanwhile.
    hub.set_fault(Fault::new(FaultKind::Delay(Duration::from_millis(500))).cdn());
    let url = location.clone();
    let delayed = tokio::spawn(async move { send("GET", &url, &[]).await.bytes().await });
    until_in_flight(&hub, Origin::Cdn, 2).await;
    let refused = send("GET", &location, &[("range", "bytes=0-9")]).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), "3");
    assert_eq!(
        hub.in_flight(Origin::Cdn),
        2,
        "a refused request takes no slot"
    );

    // Finishing one frees its slot: the next request is served.
    assert_eq!(delayed.await.unwrap().unwrap(), big(100_000));
    assert_eq!(hub.in_flight(Origin::Cdn), 1);
    let admitted = send("GET", &location, &[("range", "bytes=0-9")]).await;
    assert_eq!(admitted.status(), 206);
    assert_eq!(admitted.bytes().await.unwrap(), big(10));
    assert_eq!(hub.in_flight(Origin::Cdn), 1);
    // Dropping the stalled response closes its connection, which frees the last slot.
    drop(stalled);
    until_in_flight(&hub, Origin::Cdn, 0).await;

    assert_eq!(hub.refused(Origin::Cdn), 1);
    assert_eq!(hub.peak_in_flight(Origin::Cdn), 2);
    let mut cdn = hub.requests();
    cdn.retain(|r| r.origin == Origin::Cdn);
    let statuses: Vec<u16> = cdn.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 429, 206], "in arrival order");
    // The Hub has no quota, but its requests in flight are counted too.
    assert_eq!(
        (hub.refused(Origin::Hub), hub.peak_in_flight(Origin::Hub)),
        (0, 1)
    );
}

#[tokio::test]
async fn hub_quota_without_retry_after_counts_requests_still_waiting() {
    let hub = FakeHub::builder()
        .model("org/q", |r| r.file("a.txt", "a"))
        .latency(Duration::from_millis(300))
        .max_in_flight(Origin::Hub, 1, None)
        .build();
    let url = format!("{}/org/q/resolve/main/a.txt", hub.url());
    let first = tokio::spawn({
        let url = url.clone();
        async move { send("GET", &url, &[]).await.text().await }
    });
    until_in_flight(&hub, Origin::Hub, 1).await;
    let second = send("GET", &url, &[]).await;
    assert_eq!(second.status(), 429);
    assert_eq!(
        header(&second, "retry-after"),
        "",
        "no Retry-After unless asked"
    );
    assert_eq!(first.await.unwrap().unwrap(), "a");
    assert_eq!(hub.in_flight(Origin::Hub), 0);
    assert_eq!(send("GET", &url, &[]).await.status(), 200);
    assert_eq!(
        (hub.refused(Origin::Hub), hub.peak_in_flight(Origin::Hub)),
        (1, 1)
    );
}

#[tokio::test]
async fn generated_files_serve_any_range_above_4_gib() {
    use crate::support::fake_hub::{GENERATED_TAIL, generated_sha256, generated_tail};
    // The file of `large_files`, so a whole run hashes it once (a few seconds).
    const LEN: u64 = (4 << 30) + (64 << 20);
    const SEED: u64 = 4242;
    let hub = FakeHub::builder()
        .model("org/gen", |r| r.lfs_generated("g.bin", LEN, SEED))
        .build();
    let sha = generated_sha256(LEN, SEED);
    let lfs = format!("{}/org/gen/resolve/main/g.bin", hub.url());
    let redirect = send("HEAD", &lfs, &[]).await;
    assert_eq!(header(&redirect, "x-linked-size"), LEN.to_string());
    assert_eq!(header(&redirect, "x-linked-etag"), format!("\"{sha}\""));
    let location = header(&redirect, "location").to_owned();
    let head = send("HEAD", &location, &[]).await;
    assert_eq!(header(&head, "content-length"), LEN.to_string());

    let tree = format!("{}/api/models/org/gen/tree/main", hub.url());
    let entries = json(send("GET", &tree, &[]).await).await;
    assert_eq!(entries[0]["size"].as_u64(), Some(LEN));
    assert_eq!(entries[0]["lfs"]["size"].as_u64(), Some(LEN));
    assert_eq!(entries[0]["lfs"]["oid"], sha.as_str());

    let tail = generated_tail(LEN, SEED);
    assert_eq!(tail.len() as u64, GENERATED_TAIL);
    let tail_from = LEN - GENERATED_TAIL;
    // Zeros across 2^32, then into the tail, then the tail's end, then beyond.
    let (a, b) = ((1u64 << 32) - 5, tail_from + 3);
    let range = format!("bytes={a}-{b}");
    let across = send("GET", &location, &[("range", range.as_str())]).await;
    assert_eq!(across.status(), 206);
    assert_eq!(
        header(&across, "content-range"),
        format!("bytes {a}-{b}/{LEN}")
    );
    let body = across.bytes().await.unwrap();
    assert_eq!(body.len() as u64, b - a + 1);
    assert!(body[..body.len() - 4].iter().all(|&x| x == 0));
    assert_eq!(body[body.len() - 4..], tail[..4]);
    let end = send("GET", &location, &[("range", "bytes=-10")]).await;
    assert_eq!(end.bytes().await.unwrap(), tail[tail.len() - 10..]);
    let beyond = format!("bytes={LEN}-");
    let beyond = send("GET", &location, &[("range", beyond.as_str())]).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(header(&beyond, "content-range"), format!("bytes */{LEN}"));
    let mut cdn = hub.requests();
    cdn.retain(|r| r.origin == Origin::Cdn && r.method == "GET");
    assert_eq!(cdn[0].body_bytes, b - a + 1);
}
