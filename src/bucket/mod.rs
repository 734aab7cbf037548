//! An S3-compatible bucket as a download target.
//!
//! Layout under `s3://BUCKET/PREFIX`: the repo's files as objects at `PREFIX/<repo path>` (the
//! plain local-dir layout vLLM, SGLang and KServe read), each carrying its digest as user
//! metadata (`hfdl-etag`, `hfdl-commit`); hfdl's records under `PREFIX/.hfdl/`: `refs/<rev>`,
//! `trees/<commit>.json` (the official listing format), `leases/` (who is fetching which file)
//! and, written last, `complete/<commit>.json` (every file of the download with size and digest).
//!
//! Bytes reach the bucket only from a verified spool file (see [`Bucket::upload`]): a
//! multipart upload is completed after its content matched the etag, so no key ever holds
//! unverified content. Speaks S3 through `object_store` on a runtime of its own (so the sync
//! calls of the layout interface work from any thread); knows nothing of the Hub.

mod lease;
mod signed;
mod uploads;

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, ClientOptions, GetOptions, ObjectStore, PutMode, PutMultipartOptions,
    PutOptions, PutPayload,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

pub(crate) use lease::Lease;

use crate::repo::{CommitHash, ETag, RepoPath, Revision};

/// How to reach an S3-compatible service, from the standard `AWS_*` variables (read in
/// `settings`). Never printed with its secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct S3Config {
    /// `AWS_ENDPOINT_URL`; `None` is AWS itself.
    pub(crate) endpoint: Option<String>,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub(crate) region: String,
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<String>,
    pub(crate) session_token: Option<String>,
    /// `AWS_ALLOW_HTTP`: plain `http://` endpoints.
    pub(crate) allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.is_some())
            .field("secret_access_key", &self.secret_access_key.is_some())
            .field("session_token", &self.session_token.is_some())
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

impl S3Config {
    /// The endpoint as shown in messages.
    pub(crate) fn endpoint_label(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("AWS S3 ({})", self.region),
        }
    }
}

/// `s3://bucket/prefix`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketUrl {
    pub(crate) bucket: String,
    /// Without leading or trailing `/`; may be empty (the bucket's root).
    pub(crate) prefix: String,
}

impl BucketUrl {
    /// Parses `s3://bucket[/prefix]`; `None` if it is not an `s3://` URL.
    pub(crate) fn parse(text: &str) -> Option<Result<Self, String>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
        if !valid_bucket {
            return Some(Err(format!(
                "`{text}`: `{bucket}` is not a valid bucket name (3 to 63 lower-case letters, \
                 digits, `-` or `.`)"
            )));
        }
        if prefix
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
            && !prefix.is_empty()
        {
            return Some(Err(format!(
                "`{text}`: the prefix has an empty, `.` or `..` segment"
            )));
        }
        Some(Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        }))
    }
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            p => write!(f, "s3://{}/{p}", self.bucket),
        }
    }
}

/// Object metadata naming the content's digest (the Hub's etag: sha256 or git blob sha1).
const META_ETAG: &str = "hfdl-etag";
/// Object metadata naming the commit the object was downloaded for.
const META_COMMIT: &str = "hfdl-commit";
/// Size of a multipart upload's parts (the last may be smaller); larger for files over
/// 10,000 parts.
const PART: u64 = 8 << 20;
/// Parts being uploaded at once, for the whole run: their buffers are the memory it takes.
const PARTS_IN_FLIGHT: usize = 6;

/// A bucket prefix as the download target. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Bucket {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<AmazonS3>,
    url: BucketUrl,
    config: S3Config,
    http: reqwest::Client,
    /// Where files are downloaded and verified before their upload (node-local).
    spool: PathBuf,
    runtime: Runtime,
    parts: Arc<Semaphore>,
    /// `complete/<commit>.json` and the prefix's object sizes, read once per commit.
    known: Mutex<HashMap<String, Arc<Known>>>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bucket({})", self.inner.url)
    }
}

/// What a bucket already holds of one commit: its manifest and the sizes of the objects.
#[derive(Default)]
struct Known {
    manifest: HashMap<String, ManifestFile>,
    sizes: HashMap<String, u64>,
}

/// `complete/<commit>.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    commit: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManifestFile {
    pub(crate) path: String,
    pub(crate) size: u64,
    pub(crate) etag: String,
}

impl Bucket {
    /// Connects to the bucket (nothing is sent yet). `http` is the client to use (built with
    /// the run's proxy and CA settings); `spool` a node-local folder for files in flight.
    pub(crate) fn open(
        url: BucketUrl,
        config: S3Config,
        http: reqwest::Client,
        spool: PathBuf,
    ) -> anyhow::Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&url.bucket)
            .with_region(&config.region)
            .with_allow_http(config.allow_http)
            .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
            .with_http_connector(Connector(http.clone()))
            .with_client_options(ClientOptions::new().with_allow_http(config.allow_http))
            .with_retry(object_store::RetryConfig {
                max_retries: 4,
                retry_timeout: std::time::Duration::from_secs(60),
                ..object_store::RetryConfig::default()
            });
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
            if let Some(token) = &config.session_token {
                builder = builder.with_token(token);
            }
        } else {
            builder = builder.with_skip_signature(true);
        }
        let store = builder.build().map_err(|e| {
            anyhow::anyhow!("cannot use `{url}` at {}: {e}", config.endpoint_label())
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                store: Arc::new(store),
                url,
                config,
                http,
                spool,
                runtime: Runtime::new()?,
                parts: Arc::new(Semaphore::new(PARTS_IN_FLIGHT)),
                known: Mutex::default(),
            }),
        })
    }

    pub(crate) fn url(&self) -> &BucketUrl {
        &self.inner.url
    }

    /// The spool folder, where files in flight are downloaded and verified.
    pub(crate) fn spool(&self) -> &Path {
        &self.inner.spool
    }

    /// Runs an S3 call to completion from any thread, async context included.
    fn block<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        self.inner.runtime.block(future)
    }

    fn key(&self, relative: &str) -> io::Result<Key> {
        let full = match self.inner.url.prefix.as_str() {
            "" => relative.to_owned(),
            p => format!("{p}/{relative}"),
        };
        Key::parse(&full).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{full}` cannot be an object key: {e}"),
            )
        })
    }

    fn record_key(&self, relative: &str) -> io::Result<Key> {
        self.key(&format!(".hfdl/{relative}"))
    }

    /// Names endpoint, bucket and key in an S3 error; never a secret.
    fn error(&self, what: &str, key: &Key, e: object_store::Error) -> io::Error {
        let kind = match &e {
            object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        let hint = hint_for(&e.to_string());
        io::Error::new(
            kind,
            format!(
                "failed to {what} `{key}` in bucket `{}` at {}: {e}{hint}",
                self.inner.url.bucket,
                self.inner.config.endpoint_label()
            ),
        )
    }

    /// Checks that the bucket exists and answers these credentials (a one-key listing of the
    /// bucket: some servers create a missing bucket on the first write), and creates the spool.
    pub(crate) fn prepare(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.inner.spool)?;
        let url = format!("{}?list-type=2&max-keys=1", self.bucket_url());
        self.signed(http::Method::GET, url)
            .map(|_| ())
            .map_err(|e| {
                let hint = hint_for(&e);
                io::Error::other(format!(
                    "bucket `{}` at {} cannot be used: {e}{hint}",
                    self.inner.url.bucket,
                    self.inner.config.endpoint_label()
                ))
            })
    }

    /// Reads a small object; `None` if there is none.
    fn get_small(&self, key: &Key) -> io::Result<Option<Vec<u8>>> {
        let store = self.inner.store.clone();
        let k = key.clone();
        let got = self.block(async move {
            let result = store.get(&k).await?;
            result.bytes().await
        });
        match got {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read", key, e)),
        }
    }

    fn put_small(&self, key: &Key, bytes: Vec<u8>) -> io::Result<()> {
        let store = self.inner.store.clone();
        let k = key.clone();
        self.block(async move { store.put(&k, bytes.into()).await })
            .map(|_| ())
            .map_err(|e| self.error("write", key, e))
    }

    pub(crate) fn read_ref(&self, revision: &Revision) -> Option<CommitHash> {
        let key = self.record_key(&format!("refs/{revision}")).ok()?;
        let bytes = self.get_small(&key).ok()??;
        CommitHash::parse(String::from_utf8_lossy(&bytes).trim())
    }

    pub(crate) fn write_ref(&self, revision: &Revision, commit: &CommitHash) -> io::Result<()> {
        if revision.as_str() == commit.as_str() || self.read_ref(revision).as_ref() == Some(commit)
        {
            return Ok(());
        }
        let key = self.record_key(&format!("refs/{revision}"))?;
        self.put_small(&key, commit.as_str().as_bytes().to_vec())
    }

    pub(crate) fn read_tree(&self, commit: &CommitHash) -> Option<Vec<u8>> {
        let key = self.record_key(&format!("trees/{commit}.json")).ok()?;
        self.get_small(&key).ok()?
    }

    pub(crate) fn write_tree(&self, commit: &CommitHash, bytes: &[u8]) -> io::Result<()> {
        let key = self.record_key(&format!("trees/{commit}.json"))?;
        self.put_small(&key, bytes.to_vec())
    }

    /// What the bucket holds of a commit: the manifest and one listing of the prefix, read
    /// once per run (so a rerun over a complete prefix costs two requests per 1,000 files).
    fn known(&self, commit: &CommitHash) -> Arc<Known> {
        let mut known = self.inner.known.lock().expect("known");
        if let Some(k) = known.get(commit.as_str()) {
            return k.clone();
        }
        let loaded = Arc::new(self.load_known(commit).unwrap_or_default());
        known.insert(commit.as_str().to_owned(), loaded.clone());
        loaded
    }

    fn load_known(&self, commit: &CommitHash) -> io::Result<Known> {
        let key = self.record_key(&format!("complete/{commit}.json"))?;
        let Some(bytes) = self.get_small(&key)? else {
            return Ok(Known::default());
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        Ok(Known {
            manifest: manifest
                .files
                .into_iter()
                .map(|f| (f.path.clone(), f))
                .collect(),
            sizes: self.object_sizes()?,
        })
    }

    /// Every object under the prefix (hfdl's records included), relative key → size.
    pub(crate) fn object_sizes(&self) -> io::Result<HashMap<String, u64>> {
        let store = self.inner.store.clone();
        let prefix = self.key_prefix();
        let listed = self.block(async move {
            use futures_util::TryStreamExt;
            let stream = store.list(prefix.as_ref());
            stream
                .map_ok(|m| (m.location.to_string(), m.size))
                .try_collect::<Vec<_>>()
                .await
        });
        let listed = listed.map_err(|e| self.error("list", &self.key_prefix_or_root(), e))?;
        let strip = self.prefix_with_slash();
        Ok(listed
            .into_iter()
            .filter_map(|(k, size)| Some((k.strip_prefix(&strip)?.to_owned(), size)))
            .collect())
    }

    fn key_prefix(&self) -> Option<Key> {
        (!self.inner.url.prefix.is_empty()).then(|| Key::from(self.inner.url.prefix.as_str()))
    }

    fn key_prefix_or_root(&self) -> Key {
        self.key_prefix().unwrap_or_default()
    }

    fn prefix_with_slash(&self) -> String {
        match self.inner.url.prefix.as_str() {
            "" => String::new(),
            p => format!("{p}/"),
        }
    }

    /// Is the object for this file in place with this content? From the manifest and the
    /// listing when they say so; otherwise from the object's own metadata (one HEAD), so a
    /// file another writer just finished is seen.
    pub(crate) fn has(&self, commit: &CommitHash, path: &RepoPath, etag: &ETag) -> bool {
        let known = self.known(commit);
        if let Some(f) = known.manifest.get(path.as_str())
            && f.etag == etag.as_str()
            && known.sizes.get(path.as_str()) == Some(&f.size)
        {
            return true;
        }
        self.object_etag(path).ok().flatten().as_deref() == Some(etag.as_str())
    }

    /// Is a file at this path recorded as complete for this commit?
    pub(crate) fn has_file_at(&self, commit: &CommitHash, path: &RepoPath) -> bool {
        let known = self.known(commit);
        known.manifest.contains_key(path.as_str()) && known.sizes.contains_key(path.as_str())
    }

    /// The `hfdl-etag` metadata of a file's object; `None` if there is no object.
    pub(crate) fn object_etag(&self, path: &RepoPath) -> io::Result<Option<String>> {
        let key = self.key(path.as_str())?;
        let store = self.inner.store.clone();
        let k = key.clone();
        let head = self.block(async move {
            let options = GetOptions {
                head: true,
                ..GetOptions::default()
            };
            store.get_opts(&k, options).await
        });
        match head {
            Ok(result) => Ok(result
                .attributes
                .get(&Attribute::Metadata(META_ETAG.into()))
                .map(|v| v.to_string())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read the metadata of", &key, e)),
        }
    }

    /// Reads a file's object back, for `cache verify`: its bytes in order, through `sink`.
    pub(crate) fn read_object(
        &self,
        path: &RepoPath,
        mut sink: impl FnMut(&[u8]) + Send + 'static,
    ) -> io::Result<Option<u64>> {
        let key = self.key(path.as_str())?;
        let store = self.inner.store.clone();
        let k = key.clone();
        let read = self.block(async move {
            use futures_util::StreamExt;
            let result = match store.get(&k).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut stream = result.into_stream();
            let mut len = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                len += chunk.len() as u64;
                sink(&chunk);
            }
            Ok(Some(len))
        });
        read.map_err(|e| self.error("read", &key, e))
    }

    /// The object metadata of a file: its digest and commit.
    fn attributes(etag: &ETag, commit: &CommitHash) -> Attributes {
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(META_ETAG.into()),
            etag.as_str().to_owned().into(),
        );
        attributes.insert(
            Attribute::Metadata(META_COMMIT.into()),
            commit.as_str().to_owned().into(),
        );
        attributes
    }

    /// A multipart upload of a file over one part, fed its bytes in order while they are
    /// verified (see [`PartUpload`]); `None` for a file of one part, uploaded from its spool
    /// file once verified.
    pub(crate) fn part_upload(
        &self,
        path: &RepoPath,
        etag: &ETag,
        commit: &CommitHash,
        size: u64,
    ) -> Option<PartUpload> {
        let key = self.key(path.as_str()).ok()?;
        (size > PART).then(|| PartUpload {
            bucket: self.clone(),
            key,
            attributes: Some(Self::attributes(etag, commit)),
            upload: None,
            part: part_size(size),
            buf: Vec::new(),
            sent: Vec::new(),
            fed: 0,
        })
    }

    /// Uploads a verified spool file as the object of `path`, with its digest as metadata:
    /// one PUT for a file of one part, else a [`PartUpload`] fed from the file (for a file
    /// whose size was not known while it downloaded); on any failure the key shows nothing.
    pub(crate) fn upload(
        &self,
        data: &Path,
        path: &RepoPath,
        etag: &ETag,
        commit: &CommitHash,
    ) -> io::Result<()> {
        let key = self.key(path.as_str())?;
        let file = File::open(data)?;
        let size = file.metadata()?.len();
        if let Some(mut upload) = self.part_upload(path, etag, commit, size) {
            let mut block = vec![0; 1 << 20];
            let mut at = 0;
            while at < size {
                let n = file.read_at(&mut block, at)?;
                if n == 0 {
                    return Err(io::Error::other(format!("`{}` shrank", data.display())));
                }
                upload.take(&block[..n])?;
                at += n as u64;
            }
            return upload.finish(size);
        }
        let mut bytes = vec![0; usize::try_from(size).expect("one part fits in memory")];
        file.read_exact_at(&mut bytes, 0)?;
        let options = PutOptions {
            mode: PutMode::Overwrite,
            attributes: Self::attributes(etag, commit),
            ..PutOptions::default()
        };
        let (store, k) = (self.inner.store.clone(), key.clone());
        self.block(async move { store.put_opts(&k, bytes.into(), options).await })
            .map(|_| ())
            .map_err(|e| self.error("upload", &key, e))
    }

    /// Writes `complete/<commit>.json`, merged with what an earlier run recorded: the record
    /// that says the prefix holds these files, written after all of them.
    pub(crate) fn mark_complete(
        &self,
        commit: &CommitHash,
        files: Vec<ManifestFile>,
    ) -> io::Result<()> {
        let key = self.record_key(&format!("complete/{commit}.json"))?;
        let mut all: HashMap<String, ManifestFile> = match self.get_small(&key)? {
            Some(bytes) => serde_json::from_slice::<Manifest>(&bytes)
                .map(|m| m.files.into_iter().map(|f| (f.path.clone(), f)).collect())
                .unwrap_or_default(),
            None => HashMap::new(),
        };
        let before = all.len();
        let mut changed = false;
        for f in files {
            changed |= all
                .get(&f.path)
                .is_none_or(|old| old.etag != f.etag || old.size != f.size);
            all.insert(f.path.clone(), f);
        }
        if !changed && before > 0 {
            return Ok(());
        }
        let mut files: Vec<ManifestFile> = all.into_values().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest {
            commit: commit.as_str().to_owned(),
            files,
        };
        self.put_small(&key, serde_json::to_vec_pretty(&manifest)?)
    }

    /// Takes the lease of one file (see [`Lease`]); waits while a live writer holds it.
    pub(crate) fn lease(&self, path: &RepoPath) -> io::Result<Lease> {
        Lease::acquire(self.clone(), path)
    }
}

/// `PART`, or more for a file of over 10,000 parts (S3's limit).
fn part_size(size: u64) -> u64 {
    PART.max(size.div_ceil(10_000).next_multiple_of(1 << 20))
}

/// A multipart upload fed with a file's bytes in order, by the hasher that verifies them: each
/// full part is sent at once (at most `PARTS_IN_FLIGHT` at a time for the run, which holds
/// the hasher back, and through it the download, when the bucket is slower than the Hub), so
/// the upload runs alongside the download. [`PartUpload::finish`] completes it only after the
/// file was verified; dropped unfinished, it is aborted, and the key never shows any of it.
pub(crate) struct PartUpload {
    bucket: Bucket,
    key: Key,
    /// Until the upload is created, on the first full part.
    attributes: Option<Attributes>,
    upload: Option<Box<dyn object_store::MultipartUpload>>,
    part: u64,
    buf: Vec<u8>,
    sent: Vec<tokio::task::JoinHandle<object_store::Result<()>>>,
    fed: u64,
}

impl PartUpload {
    /// The next bytes of the file.
    pub(crate) fn take(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        self.fed += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = usize::try_from(self.part).expect("parts fit in memory") - self.buf.len();
            let n = room.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() as u64 == self.part {
                self.send()?;
            }
        }
        Ok(())
    }

    /// Sends the buffered part, creating the upload first if needed.
    fn send(&mut self) -> io::Result<()> {
        let key = self.key.clone();
        if self.upload.is_none() {
            let store = self.bucket.inner.store.clone();
            let options = PutMultipartOptions {
                attributes: self.attributes.take().unwrap_or_default(),
                ..PutMultipartOptions::default()
            };
            let k = key.clone();
            let upload = self
                .bucket
                .block(async move { store.put_multipart_opts(&k, options).await })
                .map_err(|e| self.bucket.error("start the upload of", &key, e))?;
            self.upload = Some(upload);
        }
        let parts = self.bucket.inner.parts.clone();
        let permit = self
            .bucket
            .block(async move { parts.acquire_owned().await.expect("never closed") });
        let payload = PutPayload::from(std::mem::take(&mut self.buf));
        let put = self
            .upload
            .as_mut()
            .expect("created above")
            .put_part(payload);
        self.sent
            .push(self.bucket.inner.runtime.spawn_result(async move {
                let result = put.await;
                drop(permit);
                result
            }));
        Ok(())
    }

    /// Sends the last part and completes the upload, once the file of `size` bytes was
    /// verified.
    pub(crate) fn finish(mut self, size: u64) -> io::Result<()> {
        let key = self.key.clone();
        if self.fed != size {
            return Err(io::Error::other(format!(
                "the upload of `{key}` was fed {} of {size} bytes",
                self.fed
            )));
        }
        if !self.buf.is_empty() || self.upload.is_none() {
            self.send()?;
        }
        let sent = std::mem::take(&mut self.sent);
        let mut upload = self.upload.take().expect("sent at least one part");
        let result = self.bucket.block(async move {
            for part in sent {
                if let Err(e) = flatten(part.await) {
                    let _ = upload.abort().await;
                    return Err(e);
                }
            }
            match upload.complete().await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = upload.abort().await;
                    Err(e)
                }
            }
        });
        result.map_err(|e| self.bucket.error("upload", &key, e))
    }
}

impl Drop for PartUpload {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            let sent = std::mem::take(&mut self.sent);
            let _ = self.bucket.block(async move {
                for part in sent {
                    let _ = part.await;
                }
                upload.abort().await
            });
        }
    }
}

fn flatten(
    joined: Result<object_store::Result<()>, tokio::task::JoinError>,
) -> object_store::Result<()> {
    joined.map_err(|e| object_store::Error::Generic {
        store: "S3",
        source: Box::new(e),
    })?
}

/// A hint for the usual S3 failures, matched on the service's words.
fn hint_for(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("nosuchbucket") || m.contains("bucket does not exist") {
        "\nhint: create the bucket first, or check the bucket name"
    } else if m.contains("signaturedoesnotmatch")
        || m.contains("invalidaccesskeyid")
        || m.contains("access denied")
        || m.contains("accessdenied")
        || m.contains("forbidden")
        || m.contains("unauthenticated")
    {
        "\nhint: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and the \
         bucket's permissions"
    } else if m.contains("connect") || m.contains("dns") || m.contains("timed out") {
        "\nhint: check AWS_ENDPOINT_URL and that the service is reachable (plain http:// needs \
         AWS_ALLOW_HTTP=true)"
    } else {
        ""
    }
}

/// Hands object_store the run's HTTP client (proxies and CA roots as `settings` resolved them),
/// so it reads no environment of its own.
#[derive(Debug)]
struct Connector(reqwest::Client);

impl object_store::client::HttpConnector for Connector {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<object_store::client::HttpClient> {
        Ok(object_store::client::HttpClient::new(self.0.clone()))
    }
}

/// A runtime of the bucket's own, on one thread: S3 calls run there, so the layout's sync
/// interface can wait for them from the engine's blocking pool or from async code alike.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn new() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hfdl-s3")
            .enable_all()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    fn block<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        let runtime = self.0.as_ref().expect("dropped only at the end");
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .expect("the S3 runtime runs until the bucket is dropped")
    }

    fn spawn(
        &self,
        future: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        self.spawn_result(future)
    }

    fn spawn_result<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.0
            .as_ref()
            .expect("dropped only at the end")
            .spawn(future)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_urls() {
        let u = BucketUrl::parse("s3://models/org/m1/").unwrap().unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("models", "org/m1"));
        assert_eq!(u.to_string(), "s3://models/org/m1");
        let root = BucketUrl::parse("s3://models").unwrap().unwrap();
        assert_eq!(root.prefix, "");
        assert!(BucketUrl::parse("s3://Bad_Name/x").unwrap().is_err());
        assert!(BucketUrl::parse("s3://models/a/../b").unwrap().is_err());
        assert!(BucketUrl::parse("./local").is_none());
    }

    #[test]
    fn config_debug_hides_secrets() {
        let c = S3Config {
            secret_access_key: Some("SECRET".into()),
            ..S3Config::default()
        };
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
