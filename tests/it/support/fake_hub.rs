//! An in-process fake of the Hugging Face Hub, for the integration tests.
//!
//! [`FakeHub`] runs two HTTP/1.1 servers on `127.0.0.1:0`: the Hub itself (repo info, tree
//! listing, `resolve`, `whoami-v2`) and a second origin standing in for the LFS CDN, which serves
//! `/blob/<sha256>` with real `Range` support. Repos, revisions and files are declared up front
//! with [`FakeHub::builder`]; misbehaviour is injected with [`Fault`]s. Every request is
//! [`Recorded`], so tests assert on what was asked and not only on the outcome.
//!
//! It implements only what `hfdl` talks to (hub-protocol.md §3 and §4), including the Hub's error
//! headers, and never leaves loopback. The servers run on their own multi-thread runtime, so tests
//! may be sync or `#[tokio::test]`; dropping the hub stops everything at once, even with stalled
//! connections, and never panics.
//!
//! Files too large to hold in memory (above 4 GiB, say) are declared with
//! [`RepoBuilder::lfs_generated`]: zeros and a short tail, generated as they are sent, with `u64`
//! offsets throughout. [`FakeHubBuilder::max_in_flight`] puts a quota on requests in flight and
//! answers `429` above it, as a loaded mirror does.
#![allow(dead_code, reason = "each test uses only part of the fake Hub")]

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use FaultKind as K;

/// Body frames are at most this long, so byte counts and cuts stay exact for large files.
const CHUNK: usize = 64 * 1024;

/// The zeros of every generated file, sent from here: no response allocates them.
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// The pseudo-random tail that ends a generated file (or all of it, if shorter).
pub const GENERATED_TAIL: u64 = 4 << 20;

type Reply = Response<Payload>;

/// Which of the two servers a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Hub,
    Cdn,
}

impl Origin {
    fn index(self) -> usize {
        self as usize
    }
}

/// One request as the fake Hub saw it, with what it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub origin: Origin,
    pub method: String,
    /// Path and query, raw (still percent-encoded).
    pub path: String,
    pub range: Option<String>,
    /// Whether an `Authorization` header was sent, valid or not.
    pub has_auth: bool,
    pub accept_encoding: Option<String>,
    pub referer: Option<String>,
    pub status: u16,
    /// Body bytes hyper has taken for this response so far.
    pub body_bytes: u64,
    /// When the request arrived.
    pub at: Instant,
}

/// What a [`Fault`] does to a request.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer this status instead, with `Retry-After` if [`Fault::retry_after`] was set.
    Status(u16),
    /// Send `n` body bytes, then abort the connection with a body error.
    DropAfter(u64),
    /// Send `n` body bytes, then neither send more nor close.
    StallAfter(u64),
    /// Flip every bit of the byte at this absolute file offset.
    CorruptByte(u64),
    /// Declare the full `Content-Length` but end the body after `n` bytes; hyper then closes.
    ShortBody(u64),
    /// Answer `200` with the whole file although `Range` was sent.
    IgnoreRange,
    /// Omit `Content-Length` on file responses (chunked on GET, absent on HEAD).
    NoContentLength,
    /// Omit `X-Linked-Etag` and `X-Linked-Size` on LFS redirects.
    NoLinkedHeaders,
    /// Omit `ETag` on file responses and LFS redirects, HEAD or GET.
    NoEtag,
    /// Gzip the whole file with `Content-Encoding: gzip` whatever was asked; ignores `Range`.
    Gzip,
    /// Answer `200 text/html` with this page instead.
    Html(String),
    /// Wait this long before answering.
    Delay(Duration),
    /// Send the body at about this many bytes per second (per response).
    Throttle(u64),
    /// Point the tree listing's `Link: rel="next"` at this origin (`http://host:port`) instead
    /// of the Hub's, as hf-mirror.com does (it does not rewrite the Hub's links).
    ForeignNextLink(String),
    /// Redirect LFS files to this origin instead of the CDN (a host the client cannot reach).
    RedirectTo(String),
    /// Answer a request carrying a `Referer` with an HTML page (hf-mirror's hotlink rule).
    RefuseReferer,
    /// Send the bodies of all the responses this fault (or a clone of it) fires on at about
    /// this many bytes per second together: one budget shared by every connection, so a client
    /// that opens 16 connections gets no more than one that opens a single one. Each response
    /// may send its first frame at once; later frames wait for their share.
    ThrottleTotal(u64),
}

/// A scripted misbehaviour: a [`FaultKind`], a matcher and a budget.
///
/// It matches requests whose raw path and query contain [`Fault::path`] (default: all), on the
/// origin picked with [`Fault::hub`] or [`Fault::cdn`] (default: both) and with the method picked
/// with [`Fault::method`] (default: any). It fires on the first [`Fault::times`] matching requests
/// (default 1, `u32::MAX` for always) where it can take effect, after letting the first
/// [`Fault::after`] of those through (default 0): body faults (`DropAfter`, `StallAfter`,
/// `ShortBody`, `Throttle`, `ThrottleTotal`, `Gzip`, and `CorruptByte` when the offset is
/// served) only on GETs
/// that serve file bytes, `IgnoreRange` only when `Range` was sent, `NoLinkedHeaders` only on LFS
/// redirects, `NoEtag` and `NoContentLength` only on file responses and redirects. Clones share
/// the counter, so keep one to check [`Fault::fired`].
#[derive(Clone, Debug)]
pub struct Fault {
    kind: FaultKind,
    origin: Option<Origin>,
    path: String,
    method: Option<String>,
    times: u32,
    retry_after: Option<u32>,
    fired: Arc<AtomicU32>,
    /// Matching requests to let through before firing, and how many went by.
    after: u32,
    passed: Arc<AtomicU32>,
    /// For `ThrottleTotal`: when the shared budget is free again.
    budget: Arc<Mutex<Option<Instant>>>,
}

impl Fault {
    pub fn new(kind: FaultKind) -> Self {
        let (origin, path, method, retry_after) = (None, String::new(), None, None);
        let fired = Arc::default();
        Self {
            kind,
            origin,
            path,
            method,
            times: 1,
            retry_after,
            fired,
            after: 0,
            passed: Arc::default(),
            budget: Arc::default(),
        }
    }
    pub fn status(code: u16) -> Self {
        Self::new(K::Status(code))
    }
    /// Match only requests to the Hub.
    pub fn hub(mut self) -> Self {
        self.origin = Some(Origin::Hub);
        self
    }
    /// Match only requests to the CDN.
    pub fn cdn(mut self) -> Self {
        self.origin = Some(Origin::Cdn);
        self
    }
    /// Match only requests whose raw path and query contain `substring`.
    pub fn path(mut self, substring: &str) -> Self {
        substring.clone_into(&mut self.path);
        self
    }
    /// Match only this method (`"GET"`, `"HEAD"`).
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }
    /// Fire on the first `n` requests where the fault applies.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }
    /// Let the first `n` requests where the fault applies through untouched.
    pub fn after(mut self, n: u32) -> Self {
        self.after = n;
        self
    }
    /// Add `Retry-After: <secs>` to a `Status` answer.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// How many requests this fault (or any clone of it) has affected.
    pub fn fired(&self) -> u32 {
        self.fired.load(Ordering::SeqCst)
    }

    fn matches(&self, req: &Req) -> bool {
        let rec = &req.rec;
        let matched = self.origin.is_none_or(|o| o == rec.origin)
            && rec.path.contains(&self.path)
            && self.method.as_ref().is_none_or(|m| *m == rec.method)
            && self.fired() < self.times;
        let pass = |n: u32| (n < self.after).then_some(n + 1);
        matched
            && self
                .passed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, pass)
                .is_err()
    }
}

/// Files and refs of one commit of a repo; see [`FakeHubBuilder::model`].
#[derive(Clone, Default)]
pub struct RepoBuilder {
    files: BTreeMap<String, (Content, bool)>,
    names: Vec<String>,
    gated: bool,
    private: bool,
    xet: bool,
    revisions: Vec<(String, RepoBuilder)>,
}

impl RepoBuilder {
    /// A regular git file, served by the Hub itself.
    pub fn file(mut self, path: &str, data: impl AsRef<[u8]>) -> Self {
        let data = Bytes::copy_from_slice(data.as_ref());
        self.files
            .insert(path.to_owned(), (Content::Held(data), false));
        self
    }
    /// An LFS file: `resolve` redirects to the CDN.
    pub fn lfs(mut self, path: &str, data: impl AsRef<[u8]>) -> Self {
        let data = Bytes::copy_from_slice(data.as_ref());
        self.files
            .insert(path.to_owned(), (Content::Held(data), true));
        self
    }
    /// An LFS file of `len` bytes that are never held in memory: zeros, then the last
    /// [`GENERATED_TAIL`] bytes are [`generated_tail`]`(len, seed)`. Every offset is a `u64`, so
    /// it may be far above 4 GiB; its sha256 ([`generated_sha256`]) is computed once per process.
    pub fn lfs_generated(mut self, path: &str, len: u64, seed: u64) -> Self {
        let content = Content::Generated { len, seed };
        self.files.insert(path.to_owned(), (content, true));
        self
    }
    /// Drop a file declared earlier (useful in a [`RepoBuilder::revision`]).
    pub fn remove(mut self, path: &str) -> Self {
        self.files.remove(path);
        self
    }
    /// Another ref name (branch or tag) for this commit.
    pub fn tag(mut self, name: &str) -> Self {
        self.names.push(name.to_owned());
        self
    }
    /// Make `refs/pr/<n>` point at this commit.
    pub fn pr(self, n: u32) -> Self {
        self.tag(&format!("refs/pr/{n}"))
    }
    /// The repo needs the valid token: 401 `GatedRepo` without one, 403 with a wrong one.
    pub fn gated(mut self) -> Self {
        self.gated = true;
        self
    }
    /// Its LFS files are Xet-backed, as on the Hub today: the listing gives each a `xetHash`
    /// ([`xet_hash`] of its sha256) and the resolve answer `X-Xet-Hash` and
    /// `X-Xet-Refresh-Route` (no Xet server exists here: clients must fetch over HTTP, or find
    /// the content in huggingface_hub's shared blob store).
    pub fn xet(mut self) -> Self {
        self.xet = true;
        self
    }
    /// The repo needs the valid token: 401 `RepoNotFound` otherwise.
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }
    /// Another commit, reachable as `name`, starting from the files declared so far.
    pub fn revision(mut self, name: &str, f: impl FnOnce(Self) -> Self) -> Self {
        let start = Self {
            files: self.files.clone(),
            ..Self::default()
        };
        self.revisions.push((name.to_owned(), f(start)));
        self
    }
}

/// Scenario for a [`FakeHub`].
pub struct FakeHubBuilder {
    repos: Vec<(&'static str, String, RepoBuilder)>,
    cfg: Settings,
    faults: Vec<Fault>,
}

/// The knobs of [`FakeHubBuilder`] that the servers read.
struct Settings {
    token: String,
    page_size: usize,
    latency: Duration,
    cdn_refuses_auth: bool,
    /// Per [`Origin::index`]: the most requests in flight, and the `Retry-After` of the 429s.
    quotas: [Option<(usize, Option<u32>)>; 2],
}

impl FakeHubBuilder {
    /// A model repo, e.g. `.model("org/tiny", |r| r.file("config.json", b"{}"))`.
    pub fn model(self, repo_id: &str, f: impl FnOnce(RepoBuilder) -> RepoBuilder) -> Self {
        self.repo("model", repo_id, f(RepoBuilder::default()))
    }
    pub fn dataset(self, repo_id: &str, f: impl FnOnce(RepoBuilder) -> RepoBuilder) -> Self {
        self.repo("dataset", repo_id, f(RepoBuilder::default()))
    }
    pub fn space(self, repo_id: &str, f: impl FnOnce(RepoBuilder) -> RepoBuilder) -> Self {
        self.repo("space", repo_id, f(RepoBuilder::default()))
    }
    pub fn kernel(self, repo_id: &str, f: impl FnOnce(RepoBuilder) -> RepoBuilder) -> Self {
        self.repo("kernel", repo_id, f(RepoBuilder::default()))
    }
    fn repo(mut self, kind: &'static str, id: &str, repo: RepoBuilder) -> Self {
        self.repos.push((kind, id.to_owned(), repo));
        self
    }
    /// The one valid token (default `hf_test_token`).
    pub fn token(mut self, token: &str) -> Self {
        token.clone_into(&mut self.cfg.token);
        self
    }
    /// Entries per tree page (default 3).
    pub fn tree_page_size(mut self, n: usize) -> Self {
        self.cfg.page_size = n.max(1);
        self
    }
    /// Delay every Hub response (not the CDN's).
    pub fn latency(mut self, d: Duration) -> Self {
        self.cfg.latency = d;
        self
    }
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }
    /// The CDN answers 400 to any request carrying `Authorization`, as S3-backed CDNs do
    /// ("only one auth mechanism allowed") and as no token may ever reach a third party.
    pub fn cdn_refuses_auth(mut self) -> Self {
        self.cfg.cdn_refuses_auth = true;
        self
    }
    /// At most `n` requests to `origin` in flight at once, as a loaded mirror (hf-mirror.com)
    /// allows: a request counts from its arrival until its response body is fully sent or
    /// dropped (a stalled body counts until its connection closes), and every request above
    /// `n` is answered `429`, with `Retry-After: <secs>` if given: no fault applies to it, it
    /// takes no place in flight, and only [`FakeHubBuilder::latency`] delays it, as it does any
    /// answer. Call once per origin to limit both (each its own quota). See
    /// [`FakeHub::refused`] and [`FakeHub::peak_in_flight`].
    pub fn max_in_flight(mut self, origin: Origin, n: usize, retry_after: Option<u32>) -> Self {
        self.cfg.quotas[origin.index()] = Some((n, retry_after));
        self
    }

    /// Bind both ports and start serving.
    pub fn build(self) -> FakeHub {
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake hub");
        let (hub, cdn) = (bind(), bind());
        let url = |l: &std::net::TcpListener| format!("http://{}", l.local_addr().unwrap());
        let mut memo = HashMap::new();
        let mut repos = Vec::new();
        for (kind, id, builder) in self.repos {
            let mut repo = Repo {
                kind,
                id,
                ..Repo::default()
            };
            repo.add(builder, "main", &mut memo);
            repos.push(repo);
        }
        let flight = |quota| Arc::new(Flight::new(quota));
        let flights = self.cfg.quotas.map(flight);
        let state = Arc::new(State {
            urls: (url(&hub), url(&cdn)),
            flights,
            cfg: self.cfg,
            repos,
            faults: Mutex::new(self.faults),
            log: Arc::default(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-hub")
            .enable_all()
            .build()
            .expect("fake hub runtime");
        runtime.spawn(accept(hub, Arc::clone(&state), Origin::Hub));
        runtime.spawn(accept(cdn, Arc::clone(&state), Origin::Cdn));
        FakeHub {
            state,
            runtime: Some(runtime),
        }
    }
}

/// The running fake Hub and CDN; dropping it shuts both down.
pub struct FakeHub {
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeHub {
    pub fn builder() -> FakeHubBuilder {
        let token = "hf_test_token".to_owned();
        let cfg = Settings {
            token,
            page_size: 3,
            latency: Duration::ZERO,
            cdn_refuses_auth: false,
            quotas: [None; 2],
        };
        FakeHubBuilder {
            repos: vec![],
            cfg,
            faults: vec![],
        }
    }
    /// The Hub endpoint, without a trailing slash.
    pub fn url(&self) -> String {
        self.state.urls.0.clone()
    }
    /// The CDN origin that LFS redirects point to.
    pub fn cdn_url(&self) -> String {
        self.state.urls.1.clone()
    }
    /// The valid token.
    pub fn token(&self) -> String {
        self.state.cfg.token.clone()
    }
    /// Every request since the start (or the last clear), in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log().entries.clone()
    }
    pub fn clear_requests(&self) {
        let mut log = self.state.log();
        log.base += log.entries.len();
        log.entries.clear();
    }
    /// The commit `revision` (a ref name or a commit) of `repo` resolves to, in any repo type.
    pub fn commit(&self, repo: &str, revision: &str) -> String {
        let mut found = self.state.repos.iter().filter(|r| r.id == repo);
        let commit = found.find_map(|r| r.lookup(revision));
        let commit = commit.unwrap_or_else(|| panic!("the fake hub has no {repo}@{revision}"));
        commit.sha.clone()
    }
    pub fn set_fault(&self, fault: Fault) {
        self.state.faults.lock().unwrap().push(fault);
    }
    /// Remove every fault: later requests are served normally.
    pub fn clear_faults(&self) {
        self.state.faults.lock().unwrap().clear();
    }
    /// Requests to `origin` in flight now (see [`FakeHubBuilder::max_in_flight`]; counted with
    /// or without a quota).
    pub fn in_flight(&self, origin: Origin) -> usize {
        self.state.flights[origin.index()]
            .now
            .load(Ordering::SeqCst)
    }
    /// The most requests to `origin` that were in flight at once (never above its quota).
    pub fn peak_in_flight(&self, origin: Origin) -> usize {
        self.state.flights[origin.index()]
            .peak
            .load(Ordering::SeqCst)
    }
    /// How many requests to `origin` its quota answered `429`.
    pub fn refused(&self, origin: Origin) -> u32 {
        self.state.flights[origin.index()]
            .refused
            .load(Ordering::SeqCst)
    }
    /// Panic, listing them, if some faults never fired.
    pub fn assert_faults_fired(&self) {
        let faults = self.state.faults.lock().unwrap();
        let idle: Vec<_> = faults.iter().filter(|f| f.fired() == 0).collect();
        assert!(idle.is_empty(), "faults that never fired: {idle:#?}");
    }
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        // Waits for nothing, so stalled connections cannot hang a test; allowed in async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a declared file holds.
#[derive(Clone)]
enum Content {
    Held(Bytes),
    /// See [`RepoBuilder::lfs_generated`].
    Generated {
        len: u64,
        seed: u64,
    },
}

/// The tail of a generated file of `len` bytes: its last `min(len, GENERATED_TAIL)` bytes.
pub fn generated_tail(len: u64, seed: u64) -> Vec<u8> {
    let n = usize::try_from(len.min(GENERATED_TAIL)).unwrap();
    super::bytes(n, seed)
}

/// The sha256 of a generated file, hashed once per `(len, seed)` in this process (a few seconds
/// for 4 GiB), however many tests or hubs declare it.
pub fn generated_sha256(len: u64, seed: u64) -> String {
    type Memo = Mutex<HashMap<(u64, u64), Arc<OnceLock<String>>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Memo::default);
    let once = Arc::clone(memo.lock().unwrap().entry((len, seed)).or_default());
    let hash = || {
        let mut h = Sha256::new();
        let mut parts = generated(len, seed);
        while !parts.is_empty() {
            h.update(parts.split_to(CHUNK));
        }
        hex::encode(h.finalize())
    };
    once.get_or_init(hash).clone()
}

/// The bytes of a generated file, as [`Parts`].
fn generated(len: u64, seed: u64) -> Parts {
    let tail = generated_tail(len, seed);
    let mut parts = Parts::default();
    parts.push(Part::Zeros(len - tail.len() as u64));
    parts.push(Part::Held(tail.into()));
    parts
}

#[derive(Clone)]
struct RepoFile {
    data: Parts,
    lfs: bool,
    /// Git blob sha1 of the content, or of the LFS pointer.
    oid: String,
    sha256: String,
    pointer_size: usize,
}

struct Commit {
    sha: String,
    files: BTreeMap<String, RepoFile>,
}

#[derive(Default)]
struct Repo {
    kind: &'static str,
    id: String,
    gated: bool,
    private: bool,
    xet: bool,
    commits: Vec<Commit>,
    refs: HashMap<String, usize>,
}

impl Repo {
    /// Add the builder's commit under `name`, then its revisions. `memo` hashes shared bytes once.
    fn add(
        &mut self,
        b: RepoBuilder,
        name: &str,
        memo: &mut HashMap<(usize, usize, bool), RepoFile>,
    ) {
        self.gated |= b.gated;
        self.xet |= b.xet;
        self.private |= b.private;
        let mut seed = Sha1::new();
        seed.update(format!("{}\0{}\0{name}\0", self.kind, self.id));
        let mut files = BTreeMap::new();
        for (path, (data, lfs)) in b.files {
            let file = match data {
                Content::Held(data) => memo
                    .entry((data.as_ptr() as usize, data.len(), lfs))
                    .or_insert_with(|| repo_file(data, lfs))
                    .clone(),
                // Hashed once per process already.
                Content::Generated { len, seed } => generated_file(len, seed),
            };
            seed.update(format!("{path}\0{}\0", file.oid));
            files.insert(path, file);
        }
        let sha = hex::encode(seed.finalize());
        self.commits.push(Commit { sha, files });
        for n in std::iter::once(name.to_owned()).chain(b.names) {
            self.refs.insert(n, self.commits.len() - 1);
        }
        for (name, sub) in b.revisions {
            self.add(sub, &name, memo);
        }
    }

    fn lookup(&self, revision: &str) -> Option<&Commit> {
        match self.refs.get(revision) {
            Some(&i) => Some(&self.commits[i]),
            None => self.commits.iter().find(|c| c.sha == revision),
        }
    }

    /// Split `<rev>[/<path>]` into revision, commit and decoded path; the revision may come
    /// encoded (`refs%2Fpr%2F1`) or not (`refs/pr/1`).
    fn split_rev(&self, raw: &str) -> Result<(String, &Commit, String), Box<Reply>> {
        let (first, rest) = raw.split_once('/').unwrap_or((raw, ""));
        let first = decode(first);
        if let Some(commit) = self.lookup(&first) {
            return Ok((first, commit, decode(rest)));
        }
        let whole = decode(raw);
        for (name, &i) in &self.refs {
            let Some(rest) = whole.strip_prefix(name.as_str()) else {
                continue;
            };
            if rest.is_empty() || rest.starts_with('/') {
                let rest = rest.trim_start_matches('/').to_owned();
                return Ok((name.clone(), &self.commits[i], rest));
            }
        }
        let msg = format!("Invalid rev id: {first}");
        Err(error(404, "RevisionNotFound", &msg))
    }
}

fn repo_file(data: Bytes, lfs: bool) -> RepoFile {
    let sha256 = hex::encode(Sha256::digest(if lfs { &data[..] } else { &[] }));
    let pointer = lfs_pointer(&sha256, data.len() as u64);
    let oid = git_blob_sha1(if lfs { pointer.as_bytes() } else { &data });
    RepoFile {
        data: data.into(),
        lfs,
        oid,
        sha256,
        pointer_size: pointer.len(),
    }
}

fn generated_file(len: u64, seed: u64) -> RepoFile {
    let sha256 = generated_sha256(len, seed);
    let pointer = lfs_pointer(&sha256, len);
    RepoFile {
        data: generated(len, seed),
        lfs: true,
        oid: git_blob_sha1(pointer.as_bytes()),
        sha256,
        pointer_size: pointer.len(),
    }
}

fn lfs_pointer(sha256: &str, len: u64) -> String {
    let spec = "https://git-lfs.github.com/spec/v1";
    format!("version {spec}\noid sha256:{sha256}\nsize {len}\n")
}

fn git_blob_sha1(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()));
    h.update(data);
    hex::encode(h.finalize())
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[derive(Default)]
struct Log {
    /// Id of `entries[0]`, so ids stay valid across [`FakeHub::clear_requests`].
    base: usize,
    entries: Vec<Recorded>,
}

impl Log {
    fn get(&mut self, id: usize) -> Option<&mut Recorded> {
        let i = id.checked_sub(self.base)?;
        self.entries.get_mut(i)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Missing,
    Invalid,
    Valid,
}

/// A request as routes and faults see it.
struct Req {
    rec: Recorded,
    auth: Auth,
}

impl Req {
    fn path(&self) -> &str {
        self.rec.path.split('?').next().unwrap_or_default()
    }
    fn query(&self) -> &str {
        self.rec.path.split_once('?').map_or("", |(_, q)| q)
    }
}

struct State {
    /// The Hub's and the CDN's.
    urls: (String, String),
    /// Per [`Origin::index`].
    flights: [Arc<Flight>; 2],
    cfg: Settings,
    repos: Vec<Repo>,
    faults: Mutex<Vec<Fault>>,
    log: Arc<Mutex<Log>>,
}

async fn accept(listener: std::net::TcpListener, state: Arc<State>, origin: Origin) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(state.handle(origin, &req).await) }
            });
            let mut conn = hyper::server::conn::http1::Builder::new();
            let conn = conn.keep_alive(true);
            let _ = conn.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl State {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    async fn handle<B>(&self, origin: Origin, req: &Request<B>) -> Reply {
        let header = |name| Some(req.headers().get(name)?.to_str().ok()?.to_owned());
        let auth = match header(hyper::header::AUTHORIZATION) {
            None => Auth::Missing,
            Some(v) if v.strip_prefix("Bearer ") == Some(&self.cfg.token) => Auth::Valid,
            Some(_) => Auth::Invalid,
        };
        let rec = Recorded {
            origin,
            method: req.method().to_string(),
            path: req.uri().to_string(),
            range: header(hyper::header::RANGE),
            has_auth: auth != Auth::Missing,
            accept_encoding: header(hyper::header::ACCEPT_ENCODING),
            referer: header(hyper::header::REFERER),
            status: 0,
            body_bytes: 0,
            at: Instant::now(),
        };
        let req = Req { rec, auth };
        let id = {
            let mut log = self.log();
            log.entries.push(req.rec.clone());
            log.base + log.entries.len() - 1
        };
        let flight = &self.flights[origin.index()];
        let slot = flight.admit();
        let mut reply = match slot {
            Some(_) => self.respond(&req).await,
            None => {
                // A far Hub's 429 takes as long to come back as any answer.
                tokio::time::sleep(self.latency(origin)).await;
                flight.refusal()
            }
        };
        if let Some(r) = self.log().get(id) {
            r.status = reply.status().as_u16();
        }
        let body = reply.body_mut();
        body.meter = Some((Arc::clone(&self.log), id));
        body.slot = slot;
        reply
    }

    /// Fire every matching fault whose kind passes `applies`.
    fn fire(&self, req: &Req, applies: impl Fn(&FaultKind) -> bool) -> Vec<Fault> {
        let faults = self.faults.lock().unwrap();
        let hits = faults.iter().filter(|f| applies(&f.kind) && f.matches(req));
        let hits: Vec<Fault> = hits.cloned().collect();
        for f in &hits {
            f.fired.fetch_add(1, Ordering::SeqCst);
        }
        hits
    }

    /// Whether some fault of the kind `want` fires.
    fn hit(&self, req: &Req, want: fn(&FaultKind) -> bool) -> bool {
        !self.fire(req, want).is_empty()
    }

    /// The [`FakeHubBuilder::latency`] of `origin`'s answers.
    fn latency(&self, origin: Origin) -> Duration {
        match origin {
            Origin::Hub => self.cfg.latency,
            Origin::Cdn => Duration::ZERO,
        }
    }

    async fn respond(&self, req: &Req) -> Reply {
        let mut wait = self.latency(req.rec.origin);
        for fault in self.fire(req, |k| matches!(k, K::Delay(_))) {
            if let K::Delay(d) = fault.kind {
                wait += d;
            }
        }
        tokio::time::sleep(wait).await;
        let early = self.fire(req, |k| matches!(k, K::Status(_) | K::Html(_)));
        if let Some(fault) = early.first() {
            return fault_reply(fault);
        }
        if req.rec.referer.is_some() && self.hit(req, |k| matches!(k, K::RefuseReferer)) {
            let page = "<html><body>Hotlinking is not allowed.</body></html>".to_owned();
            return fault_reply(&Fault::new(K::Html(page)));
        }
        let routed = match (req.rec.origin, req.path().strip_prefix("/api/")) {
            (Origin::Cdn, _) if self.cfg.cdn_refuses_auth && req.auth != Auth::Missing => Ok(
                json_reply(400, &json!({"error": "a token reached the CDN"})),
            ),
            (Origin::Cdn, _) => self.blob(req),
            (Origin::Hub, Some("whoami-v2")) => Ok(whoami(req.auth)),
            (Origin::Hub, Some(rest)) => self.api(req, rest),
            (Origin::Hub, None) => self.resolve(req),
        };
        routed.unwrap_or_else(|e| *e)
    }

    /// The repo if it exists and the request may see it, else the Hub's error.
    fn repo(&self, kind: &str, id: &str, auth: Auth) -> Result<&Repo, Box<Reply>> {
        let missing = |status| error(status, "RepoNotFound", "Repository not found");
        let Some(repo) = self.repos.iter().find(|r| r.kind == kind && r.id == id) else {
            return Err(missing(if auth == Auth::Valid { 404 } else { 401 }));
        };
        match auth {
            Auth::Valid => Ok(repo),
            _ if repo.private => Err(missing(401)),
            _ if repo.gated => {
                let status = if auth == Auth::Missing { 401 } else { 403 };
                let msg =
                    format!("Access to {kind} {id} is restricted; you must be authenticated.");
                Err(error(status, "GatedRepo", &msg))
            }
            _ => Ok(repo),
        }
    }

    /// `/api/{type}s/{repo}[/revision/{rev} | /tree/{rev}[/{path}]]`.
    fn api(&self, req: &Req, rest: &str) -> Result<Reply, Box<Reply>> {
        let (plural, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let kind = plural.strip_suffix('s').ok_or_else(not_found)?;
        let (repo_id, tree, rev) = if let Some((id, rev)) = rest.split_once("/revision/") {
            (id, false, rev)
        } else if let Some((id, rev)) = rest.split_once("/tree/") {
            (id, true, rev)
        } else {
            (rest, false, "main")
        };
        let repo = self.repo(kind, repo_id, req.auth)?;
        let (rev, commit, sub) = repo.split_rev(rev)?;
        if !tree {
            let siblings = commit.files.keys().map(|p| json!({ "rfilename": p }));
            let siblings: Vec<Value> = siblings.collect();
            let (id, sha, private) = (&repo.id, &commit.sha, repo.private);
            let info = json!({ "id": id, "sha": sha, "siblings": siblings, "private": private,
                               "gated": if repo.gated { json!("auto") } else { json!(false) } });
            return Ok(json_reply(200, &info));
        }
        let recursive = query_param(req.query(), "recursive") == Some("true");
        let entries = tree_entries(commit, sub.trim_matches('/'), recursive, repo.xet);
        if entries.is_empty() && !sub.is_empty() {
            return Err(entry_not_found(&sub, &rev, &commit.sha));
        }
        let cursor = query_param(req.query(), "cursor").and_then(|c| c.parse().ok());
        let start = entries.len().min(cursor.unwrap_or(0));
        let end = entries.len().min(start + self.cfg.page_size);
        let mut reply = json_reply(200, &Value::Array(entries[start..end].to_vec()));
        if end < entries.len() {
            let query = req.query().split('&').filter(|p| !p.starts_with("cursor="));
            let mut query: Vec<&str> = query.filter(|p| !p.is_empty()).collect();
            let cursor = format!("cursor={end}");
            query.push(&cursor);
            let foreign = self.fire(req, |k| matches!(k, K::ForeignNextLink(_)));
            let url = match foreign.first().map(|f| &f.kind) {
                Some(K::ForeignNextLink(origin)) => origin,
                _ => &self.urls.0,
            };
            let (path, query) = (req.path(), query.join("&"));
            let link = format!("<{url}{path}?{query}>; rel=\"next\"");
            reply.headers_mut().insert("link", link.parse().unwrap());
        }
        Ok(reply)
    }

    /// `/{datasets/|spaces/|kernels/}{repo}/resolve/{rev}/{path}`.
    fn resolve(&self, req: &Req) -> Result<Reply, Box<Reply>> {
        let path = req.path().trim_start_matches('/');
        let (kind, rest) = match path.split_once('/') {
            Some(("datasets", rest)) => ("dataset", rest),
            Some(("spaces", rest)) => ("space", rest),
            Some(("kernels", rest)) => ("kernel", rest),
            _ => ("model", path),
        };
        let (repo_id, rest) = rest.split_once("/resolve/").ok_or_else(not_found)?;
        let repo = self.repo(kind, repo_id, req.auth)?;
        let (rev, commit, file_path) = repo.split_rev(rest)?;
        let Some(file) = commit.files.get(&file_path) else {
            return Err(entry_not_found(&file_path, &rev, &commit.sha));
        };
        if !file.lfs {
            return Ok(self.content(req, &file.data, &file.oid, Some(&commit.sha)));
        }
        let etag = !self.hit(req, |k| matches!(k, K::NoEtag));
        let linked = !self.hit(req, |k| matches!(k, K::NoLinkedHeaders));
        let elsewhere = self.fire(req, |k| matches!(k, K::RedirectTo(_)));
        let cdn = match elsewhere.first().map(|f| &f.kind) {
            Some(K::RedirectTo(origin)) => origin,
            _ => &self.urls.1,
        };
        let (sha256, oid) = (&file.sha256, &file.oid);
        let location = format!("{cdn}/blob/{sha256}?sig=fake-signature");
        let headers = [
            ("location", Some(location)),
            ("x-repo-commit", Some(commit.sha.clone())),
            ("etag", etag.then(|| format!("\"{oid}\""))),
            ("x-linked-etag", linked.then(|| format!("\"{sha256}\""))),
            ("x-linked-size", linked.then(|| file.data.len().to_string())),
            ("x-xet-hash", repo.xet.then(|| xet_hash(sha256))),
            (
                "x-xet-refresh-route",
                repo.xet.then(|| {
                    let api = format!("{}/api/{kind}s/{repo_id}/xet-read-token", self.urls.0);
                    format!("{api}/{}", commit.sha)
                }),
            ),
        ];
        Ok(reply(302, &headers, Payload::empty()))
    }

    /// The CDN: `/blob/{sha256}`.
    fn blob(&self, req: &Req) -> Result<Reply, Box<Reply>> {
        let sha = req.path().strip_prefix("/blob/").unwrap_or_default();
        let commits = self.repos.iter().flat_map(|r| &r.commits);
        let mut files = commits.flat_map(|c| c.files.values());
        let file = files.find(|f| f.lfs && f.sha256 == sha);
        Ok(self.content(req, &file.ok_or_else(not_found)?.data, sha, None))
    }

    /// Serve file bytes, with `Range`, HEAD, and every header and body fault.
    fn content(&self, req: &Req, data: &Parts, etag: &str, commit: Option<&str>) -> Reply {
        let get = req.rec.method == "GET";
        let no_etag = self.hit(req, |k| matches!(k, K::NoEtag));
        let no_length = self.hit(req, |k| matches!(k, K::NoContentLength));
        let range = req.rec.range.as_deref().filter(|_| get);
        let range = range.filter(|_| !self.hit(req, |k| matches!(k, K::IgnoreRange)));
        let gzip = get && self.hit(req, |k| matches!(k, K::Gzip));
        let len = data.len();
        let window = match range.filter(|_| !gzip).and_then(|r| parse_range(r, len)) {
            Some(Err(())) => {
                let headers = [("content-range", Some(format!("bytes */{len}")))];
                return reply(416, &headers, Payload::empty());
            }
            Some(Ok(w)) => Some(w),
            None => None,
        };
        let (start, end) = window.unwrap_or((0, len));
        let cuts = self.fire(req, |k| match *k {
            K::DropAfter(_)
            | K::StallAfter(_)
            | K::ShortBody(_)
            | K::Throttle(_)
            | K::ThrottleTotal(_) => get,
            K::CorruptByte(at) => get && (start..end).contains(&at),
            _ => false,
        });
        let mut body = data.slice(start, end);
        let mut tail = Tail::End;
        for fault in &cuts {
            if let K::CorruptByte(at) = fault.kind {
                body.flip(at - start);
            }
        }
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            while !body.is_empty() {
                enc.write_all(&body.split_to(CHUNK)).unwrap();
            }
            body = Bytes::from(enc.finish().unwrap()).into();
        }
        let declared = body.len();
        for fault in &cuts {
            let (n, t) = match fault.kind {
                K::DropAfter(n) => (n, Tail::Fail),
                K::StallAfter(n) => (n, Tail::Stall),
                K::ShortBody(n) => (n, Tail::Short),
                _ => continue,
            };
            body.truncate(n);
            tail = t;
        }
        let last = end.saturating_sub(1);
        let range = window.map(|_| format!("bytes {start}-{last}/{len}"));
        let headers = [
            ("accept-ranges", Some("bytes".to_owned())),
            ("content-type", Some("application/octet-stream".to_owned())),
            ("x-repo-commit", commit.map(str::to_owned)),
            ("content-range", range),
            ("content-encoding", gzip.then(|| "gzip".to_owned())),
            ("etag", (!no_etag).then(|| format!("\"{etag}\""))),
            ("content-length", (!no_length).then(|| declared.to_string())),
        ];
        let body = if get { body } else { Parts::default() };
        let status = if window.is_some() { 206 } else { 200 };
        let mut payload = Payload::new(body, tail, false);
        for fault in &cuts {
            match fault.kind {
                K::Throttle(rate) => payload.rate = Some(rate.max(1)),
                K::ThrottleTotal(rate) => {
                    payload.shared = Some((rate.max(1), Arc::clone(&fault.budget)));
                }
                _ => {}
            }
        }
        reply(status, &headers, payload)
    }
}

fn whoami(auth: Auth) -> Reply {
    if auth == Auth::Valid {
        json_reply(
            200,
            &json!({ "name": "test-user", "type": "user", "orgs": [{ "name": "org" }] }),
        )
    } else {
        *error(401, "", "Invalid credentials in Authorization header")
    }
}

/// The fake Hub's Xet hash of the LFS file with this sha256 (a stand-in: any 64 hex digits
/// unique per content will do, as no client can check it without a Xet server).
pub fn xet_hash(sha256: &str) -> String {
    hex::encode(Sha256::digest(format!("xet:{sha256}")))
}

/// All tree entries under `prefix`, directories included, sorted by path.
fn tree_entries(commit: &Commit, prefix: &str, recursive: bool, xet: bool) -> Vec<Value> {
    let mut dirs = BTreeSet::new();
    for path in commit.files.keys() {
        let ends = path.match_indices('/').map(|(i, _)| i);
        dirs.extend(ends.map(|i| &path[..i]));
    }
    let mut entries = Vec::new();
    for dir in dirs {
        let oid = git_blob_sha1(dir.as_bytes());
        entries.push((dir, json!({ "type": "directory", "oid": oid, "path": dir })));
    }
    for (path, f) in &commit.files {
        let (oid, size) = (&f.oid, f.data.len());
        let mut entry = json!({ "type": "file", "oid": oid, "size": size, "path": path });
        if f.lfs {
            let (oid, pointer_size) = (&f.sha256, f.pointer_size);
            entry["lfs"] = json!({ "oid": oid, "size": size, "pointerSize": pointer_size });
            if xet {
                entry["xetHash"] = xet_hash(&f.sha256).into();
            }
        }
        entries.push((path, entry));
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let keep = |p: &str| {
        p.strip_prefix(&prefix)
            .is_some_and(|r| recursive || !r.contains('/'))
    };
    entries.retain(|(p, _)| keep(p));
    entries.into_iter().map(|(_, v)| v).collect()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    let mut params = query.split('&');
    params.find_map(|p| p.strip_prefix(key)?.strip_prefix('='))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` as a half-open window: `None` when unparsable (served
/// whole, as most servers do), `Err` when unsatisfiable (416).
fn parse_range(spec: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let (a, b) = spec.trim().strip_prefix("bytes=")?.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => (len.saturating_sub(n.parse().ok()?), len),
        (a, "") => (a.parse().ok()?, len),
        (a, b) => {
            let (start, last): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
            (start, len.min(last.checked_add(1).filter(|&e| e > start)?))
        }
    };
    Some(if start < end {
        Ok((start, end))
    } else {
        Err(())
    })
}

/// A response with the headers whose value is `Some`.
fn reply(status: u16, headers: &[(&str, Option<String>)], body: Payload) -> Reply {
    let mut b = Response::builder().status(status);
    for (name, value) in headers {
        if let Some(value) = value {
            b = b.header(*name, value);
        }
    }
    b.body(body).unwrap()
}

fn json_reply(status: u16, value: &Value) -> Reply {
    let body = Payload::new(Bytes::from(value.to_string()), Tail::End, true);
    let json = Some("application/json".to_owned());
    reply(status, &[("content-type", json)], body)
}

/// An error the Hub's way: `X-Error-Code` (unless `code` is empty), `X-Error-Message` and
/// `{"error": msg}`. Boxed, as it mostly travels in `Err`.
fn error(status: u16, code: &str, msg: &str) -> Box<Reply> {
    let mut reply = json_reply(status, &json!({ "error": msg }));
    let headers = reply.headers_mut();
    // Paths in messages may be UTF-8, which `from_str` would reject.
    let value = hyper::header::HeaderValue::from_bytes(msg.as_bytes()).unwrap();
    headers.insert("x-error-message", value);
    if !code.is_empty() {
        headers.insert("x-error-code", code.parse().unwrap());
    }
    Box::new(reply)
}

/// 404 `EntryNotFound`, which still names the commit.
fn entry_not_found(path: &str, rev: &str, commit: &str) -> Box<Reply> {
    let mut reply = error(
        404,
        "EntryNotFound",
        &format!("{path} does not exist on \"{rev}\""),
    );
    reply
        .headers_mut()
        .insert("x-repo-commit", commit.parse().unwrap());
    reply
}

/// A plain 404, for routes the Hub does not have.
fn not_found() -> Box<Reply> {
    error(404, "", "Not Found")
}

fn fault_reply(fault: &Fault) -> Reply {
    match (&fault.kind, fault.retry_after) {
        (K::Html(page), _) => {
            let body = Payload::new(Bytes::from(page.clone()), Tail::End, true);
            let html = Some("text/html; charset=utf-8".to_owned());
            reply(200, &[("content-type", html)], body)
        }
        (K::Status(code), retry_after) => {
            let mut reply = *error(*code, "", &format!("injected status {code}"));
            if let Some(secs) = retry_after {
                reply.headers_mut().insert("retry-after", secs.into());
            }
            reply
        }
        _ => unreachable!("only Status and Html answer early"),
    }
}

/// The requests of one origin in flight, with its quota (see [`FakeHubBuilder::max_in_flight`]).
struct Flight {
    quota: Option<(usize, Option<u32>)>,
    now: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicU32,
}

/// An admitted request's place in its [`Flight`], given back when dropped: with the response
/// body once it is fully sent, or with the request if the client leaves first.
struct Slot(Arc<Flight>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Flight {
    fn new(quota: Option<(usize, Option<u32>)>) -> Self {
        Self {
            quota,
            now: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            refused: AtomicU32::new(0),
        }
    }

    /// A place for one more request, or `None` (and one more refusal) when the quota is full.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let limit = self.quota.map_or(usize::MAX, |(n, _)| n);
        let more = |n: usize| (n < limit).then_some(n + 1);
        match self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, more)
        {
            Ok(n) => {
                self.peak.fetch_max(n + 1, Ordering::SeqCst);
                Some(Slot(Arc::clone(self)))
            }
            Err(_) => {
                self.refused.fetch_add(1, Ordering::SeqCst);
                None
            }
        }
    }

    /// The `429` for a request above the quota.
    fn refusal(&self) -> Reply {
        let mut reply = *error(429, "", "Too many requests in flight; slow down");
        if let Some((_, Some(secs))) = self.quota {
            reply.headers_mut().insert("retry-after", secs.into());
        }
        reply
    }
}

/// How a [`Payload`] ends once its bytes are out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    End,
    /// A body error: hyper aborts the connection.
    Fail,
    /// A clean end before the declared length: hyper closes the connection.
    Short,
    /// Never ready again.
    Stall,
}

/// Bytes to send: held [`Bytes`] and runs of zeros (of generated files) that are never
/// allocated, so a window of a file of many GiB costs nothing until it is sent. Lengths and
/// offsets are `u64`.
#[derive(Clone, Default)]
struct Parts(VecDeque<Part>);

#[derive(Clone)]
enum Part {
    Held(Bytes),
    Zeros(u64),
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Self::Held(b) => b.len() as u64,
            Self::Zeros(n) => *n,
        }
    }
}

impl From<Bytes> for Parts {
    fn from(b: Bytes) -> Self {
        let mut parts = Self::default();
        parts.push(Part::Held(b));
        parts
    }
}

impl Parts {
    fn len(&self) -> u64 {
        self.0.iter().map(Part::len).sum()
    }
    /// Empty parts are never kept, so this is cheap.
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn push(&mut self, part: Part) {
        if part.len() > 0 {
            self.0.push_back(part);
        }
    }
    /// The bytes in `[start, end)`, which must lie inside.
    fn slice(&self, start: u64, end: u64) -> Self {
        let (mut out, mut at) = (Self::default(), 0);
        for part in &self.0 {
            let (a, b) = (start.max(at), end.min(at + part.len()));
            if a < b {
                let (a, b) = (a - at, b - at);
                out.push(match part {
                    Part::Held(bytes) => {
                        let range = usize::try_from(a).unwrap()..usize::try_from(b).unwrap();
                        Part::Held(bytes.slice(range))
                    }
                    Part::Zeros(_) => Part::Zeros(b - a),
                });
            }
            at += part.len();
        }
        out
    }
    /// Keeps the first `n` bytes.
    fn truncate(&mut self, n: u64) {
        *self = self.slice(0, n.min(self.len()));
    }
    /// Flips every bit of the byte at `at`, which must lie inside.
    fn flip(&mut self, at: u64) {
        let len = self.len();
        let mut byte = self.slice(at, at + 1).split_to(1).to_vec();
        byte[0] ^= 0xff;
        let mut out = self.slice(0, at);
        out.push(Part::Held(byte.into()));
        out.0.extend(self.slice(at + 1, len).0);
        *self = out;
    }
    /// Takes the next chunk of at most `max` bytes (zeros from [`ZEROS`]).
    fn split_to(&mut self, max: usize) -> Bytes {
        let Some(front) = self.0.front_mut() else {
            return Bytes::new();
        };
        let chunk = match front {
            Part::Held(bytes) => bytes.split_to(bytes.len().min(max)),
            Part::Zeros(n) => {
                let k = usize::try_from(*n)
                    .unwrap_or(usize::MAX)
                    .min(max)
                    .min(CHUNK);
                *n -= k as u64;
                Bytes::from_static(&ZEROS[..k])
            }
        };
        if front.len() == 0 {
            self.0.pop_front();
        }
        chunk
    }
}

/// A response body sent in [`CHUNK`]s, counting the bytes hyper takes.
struct Payload {
    data: Parts,
    tail: Tail,
    /// Report the exact length, so hyper writes `Content-Length` itself.
    sized: bool,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    meter: Option<(Arc<Mutex<Log>>, usize)>,
    /// Bytes per second, and the wait before the next chunk may go.
    rate: Option<u64>,
    gate: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes per second shared with other payloads, and when that budget is free again.
    shared: Option<(u64, Arc<Mutex<Option<Instant>>>)>,
    /// The request's place in flight, given back once the last byte is out (or on drop).
    slot: Option<Slot>,
}

impl Payload {
    fn empty() -> Self {
        Self::new(Bytes::new(), Tail::End, true)
    }
    fn new(data: impl Into<Parts>, tail: Tail, sized: bool) -> Self {
        Self {
            data: data.into(),
            tail,
            sized,
            pause: None,
            meter: None,
            rate: None,
            gate: None,
            shared: None,
            slot: None,
        }
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(gate) = this.gate.as_mut() {
            std::task::ready!(gate.as_mut().poll(cx));
            this.gate = None;
        }
        if !this.data.is_empty() {
            let chunk = this.data.split_to(CHUNK);
            if let Some(rate) = this.rate {
                let wait = Duration::from_secs_f64(chunk.len() as f64 / rate as f64);
                this.gate = Some(Box::pin(tokio::time::sleep(wait)));
            }
            if let Some((rate, budget)) = &this.shared {
                // Book this chunk's time on the shared budget; the next chunk waits for it.
                let cost = Duration::from_secs_f64(chunk.len() as f64 / *rate as f64);
                let now = Instant::now();
                let mut free = budget.lock().unwrap();
                let until = free.map_or(now, |t| t.max(now)) + cost;
                *free = Some(until);
                let until = tokio::time::Instant::from_std(until);
                this.gate = Some(Box::pin(tokio::time::sleep_until(until)));
            }
            if let Some((log, id)) = &this.meter
                && let Some(r) = log.lock().unwrap().get(*id)
            {
                r.body_bytes += chunk.len() as u64;
            }
            if this.is_end_stream() {
                this.slot = None;
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match this.tail {
            Tail::End => {
                this.slot = None;
                Poll::Ready(None)
            }
            Tail::Stall => Poll::Pending,
            Tail::Fail | Tail::Short => {
                // Let hyper flush what it already took, so the client gets exactly those bytes.
                let pause = this
                    .pause
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
                std::task::ready!(pause.as_mut().poll(cx));
                if this.tail == Tail::Short {
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err("fake hub: connection dropped by a fault".into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && self.tail == Tail::End
    }

    fn size_hint(&self) -> SizeHint {
        if self.sized && self.tail == Tail::End {
            SizeHint::with_exact(self.data.len())
        } else {
            SizeHint::default()
        }
    }
}
