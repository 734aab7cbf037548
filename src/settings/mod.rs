//! Command line plus environment in, resolved settings out. The only reader of the environment.
//!
//! Precedence follows huggingface_hub 2.4.0:
//! 1. endpoint: `--endpoint`, `HF_ENDPOINT`, `https://huggingface.co` (a trailing `/` is dropped);
//! 2. `HF_HOME`: `HF_HOME`, `$XDG_CACHE_HOME/huggingface`, `~/.cache/huggingface`;
//! 3. hub cache: `--cache-dir`, `HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`;
//! 4. token: `--token`; nothing if `HF_HUB_DISABLE_IMPLICIT_TOKEN`; `HF_TOKEN`,
//!    `HUGGING_FACE_HUB_TOKEN`; the file `HF_TOKEN_PATH` or `$HF_HOME/token`;
//! 5. output: `--format`/`--json`/`-q`, `auto` by agent detection (`format.rs`); progress:
//!    `HF_HUB_DISABLE_PROGRESS_BARS` when set, else on in human mode only.
//!
//! A leading `~` in a path variable is expanded; other `$VARS` are left to the shell. No other
//! module calls `std::env::var` or `dirs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::bucket::{BucketUrl, S3Config};
use crate::cli::DownloadArgs;
use crate::hub::{CaSource, HubConfig, ProxyConfig, Token};
use crate::output::Format;
use crate::repo::{Repo, RepoPath, Revision};

mod format;
mod other;
mod reference;

pub(crate) use other::{CacheSettings, EnvReport, FailOn, Other};
use reference::RepoRef;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A source of environment variables, so tests can pass a map instead of the process env.
pub(crate) trait Env {
    fn var(&self, key: &str) -> Option<String>;
    fn home_dir(&self) -> Option<PathBuf>;
    /// Is stdout a terminal? (Not an environment variable, but the same kind of fact.)
    fn stdout_is_terminal(&self) -> bool {
        false
    }
}

/// The real process environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
    fn home_dir(&self) -> Option<PathBuf> {
        dirs::home_dir()
    }
    fn stdout_is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    }
}

/// A command line that is well-formed for clap but asks for something impossible (exit code 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// Which files of the repository to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// Exactly one file, by path (`hfdl download repo file`).
    One(RepoPath),
    /// Every file matching the allow patterns (all if empty) and none of the deny patterns.
    Patterns {
        allow: Vec<String>,
        deny: Vec<String>,
    },
}

/// Where downloaded files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The hub cache root (`models--org--name/` go directly inside it).
    Cache(PathBuf),
    /// Plain files in a directory.
    LocalDir(PathBuf),
    /// Objects under an `s3://bucket/prefix` (`--local-dir s3://…`).
    Bucket(BucketTarget),
}

/// A bucket prefix as the target: where, how to reach it, and the node-local spool folder
/// where files in flight are downloaded and verified before their upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketTarget {
    pub(crate) url: BucketUrl,
    pub(crate) s3: S3Config,
    pub(crate) spool: PathBuf,
}

/// Everything `hfdl download` needs, resolved.
#[derive(Debug)]
pub(crate) struct DownloadRequest {
    pub(crate) repo: Repo,
    pub(crate) revision: Revision,
    pub(crate) selection: Selection,
    pub(crate) target: Target,
    /// The hub cache (the target itself in cache mode); a local-dir download reads the ref an
    /// official client recorded there.
    pub(crate) hub_cache: PathBuf,
    pub(crate) force: bool,
    pub(crate) dry_run: bool,
    /// Snapshots link to blobs (`HF_HUB_DISABLE_SYMLINKS` turns this off).
    pub(crate) symlinks: bool,
    /// Xet files go through the cache's shared blob store (off with
    /// `HF_HUB_DISABLE_SHARED_BLOBS` or `HF_HUB_DISABLE_XET`, as in huggingface_hub 2.4).
    pub(crate) shared_blobs: bool,
    /// `--max-workers`: a fixed number of files at once; `None` adapts.
    pub(crate) max_workers: Option<usize>,
    pub(crate) connections: usize,
    pub(crate) progress: bool,
    /// How to print the result.
    pub(crate) format: Format,
    /// Lines to print on stderr before starting (deprecated flags, ignored patterns).
    pub(crate) warnings: Vec<String>,
}

/// Resolved settings for one run.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) hub: HubConfig,
    pub(crate) download: DownloadRequest,
}

/// Is this value true in the official client's sense (`1`, `ON`, `YES`, `TRUE`)?
fn is_true(value: Option<String>) -> bool {
    value.is_some_and(|v| ["1", "ON", "YES", "TRUE"].contains(&v.trim().to_uppercase().as_str()))
}

impl Settings {
    /// Resolves the `download` command's arguments against the environment.
    pub(crate) fn for_download(args: DownloadArgs, env: &dyn Env) -> Result<Self> {
        let paths = Paths::resolve(env)?;
        let mut hub = hub_config(args.endpoint.clone(), args.token.clone(), &paths, env)?;
        hub.offline |= args.offline;
        if let Some(stall) = args.stall_timeout {
            hub.stall_timeout = stall;
        }
        let download = download_request(args, &paths, env)?;
        Ok(Self { hub, download })
    }
}

/// The directories derived from `HF_HOME` and friends.
struct Paths {
    hf_home: PathBuf,
    hub_cache: PathBuf,
}

impl Paths {
    fn resolve(env: &dyn Env) -> Result<Self> {
        let var_path = |key: &str| {
            env.var(key)
                .filter(|v| !v.is_empty())
                .map(|v| expand_tilde(&v, env))
        };
        let hf_home = match var_path("HF_HOME") {
            Some(home) => home,
            None => match var_path("XDG_CACHE_HOME") {
                Some(xdg) => xdg.join("huggingface"),
                None => env
                    .home_dir()
                    .context("cannot find the home directory; set HF_HOME")?
                    .join(".cache")
                    .join("huggingface"),
            },
        };
        let hub_cache = var_path("HF_HUB_CACHE")
            .or_else(|| var_path("HUGGINGFACE_HUB_CACHE"))
            .unwrap_or_else(|| hf_home.join("hub"));
        Ok(Self { hf_home, hub_cache })
    }
}

fn expand_tilde(value: &str, env: &dyn Env) -> PathBuf {
    match (value.strip_prefix('~'), env.home_dir()) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(value),
    }
}

fn hub_config(
    endpoint: Option<String>,
    token: Option<String>,
    paths: &Paths,
    env: &dyn Env,
) -> Result<HubConfig> {
    let endpoint = endpoint
        .or_else(|| env.var("HF_ENDPOINT").filter(|e| !e.is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(usage(format!(
            "invalid endpoint `{endpoint}`: expected an http:// or https:// URL"
        )));
    }
    let seconds = |key: &str, default: u64| match env.var(key).filter(|v| !v.trim().is_empty()) {
        None => Ok(Duration::from_secs(default)),
        Some(raw) => crate::cli::seconds(&raw).map_err(|e| usage(format!("invalid {key}: {e}"))),
    };
    let retry_base = env
        .var("HFDL_TEST_RETRY_BASE_MS")
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(500), Duration::from_millis);
    Ok(HubConfig {
        endpoint,
        token: resolve_token(token, paths, env)?,
        offline: is_offline(env),
        proxy: proxy_config(env),
        ca: ca_source(env),
        connect_timeout: seconds("HF_HUB_ETAG_TIMEOUT", 10)?,
        stall_timeout: seconds("HF_HUB_DOWNLOAD_TIMEOUT", 20)?,
        retry_base,
        user_agent: format!("hfdl/{}", env!("CARGO_PKG_VERSION")),
    })
}

/// Where the token in use came from (`hfdl env` shows this, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    Flag,
    Variable(&'static str),
    File(PathBuf),
    /// `HF_HUB_DISABLE_IMPLICIT_TOKEN` is set and no `--token` was given.
    Disabled,
    None,
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag => f.write_str("--token"),
            Self::Variable(name) => f.write_str(name),
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Disabled => f.write_str("none (HF_HUB_DISABLE_IMPLICIT_TOKEN)"),
            Self::None => f.write_str("none"),
        }
    }
}

/// `HF_HUB_OFFLINE` or `TRANSFORMERS_OFFLINE`.
fn is_offline(env: &dyn Env) -> bool {
    is_true(env.var("HF_HUB_OFFLINE")) || is_true(env.var("TRANSFORMERS_OFFLINE"))
}

/// The proxy variables, upper case first, as curl and requests read them.
fn proxy_config(env: &dyn Env) -> ProxyConfig {
    let var = |name: &str| {
        env.var(name)
            .or_else(|| env.var(&name.to_lowercase()))
            .filter(|v| !v.is_empty())
    };
    ProxyConfig {
        http: var("HTTP_PROXY"),
        https: var("HTTPS_PROXY"),
        all: var("ALL_PROXY"),
        no_proxy: var("NO_PROXY"),
    }
}

/// The roots that replace the system's, from the first variable set (non-empty) of
/// `SSL_CERT_FILE`, `SSL_CERT_DIR` (huggingface_hub 2.x through httpx), `REQUESTS_CA_BUNDLE`,
/// `CURL_CA_BUNDLE` (0.x through requests). Each one replaces the roots, as in those clients.
fn ca_source(env: &dyn Env) -> Option<CaSource> {
    let vars = [
        ("SSL_CERT_FILE", false),
        ("SSL_CERT_DIR", true),
        ("REQUESTS_CA_BUNDLE", false),
        ("CURL_CA_BUNDLE", false),
    ];
    vars.into_iter().find_map(|(var, dir)| {
        let value = env.var(var).filter(|v| !v.is_empty())?;
        Some(CaSource {
            var,
            path: expand_tilde(&value, env),
            dir,
        })
    })
}

fn resolve_token(flag: Option<String>, paths: &Paths, env: &dyn Env) -> Result<Option<Token>> {
    Ok(token_with_source(flag, paths, env)?.0)
}

fn token_with_source(
    flag: Option<String>,
    paths: &Paths,
    env: &dyn Env,
) -> Result<(Option<Token>, TokenSource)> {
    let clean = |t: String| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    if let Some(token) = flag.and_then(clean) {
        return Ok((Some(Token::new(token)), TokenSource::Flag));
    }
    if is_true(env.var("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
        return Ok((None, TokenSource::Disabled));
    }
    for name in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Some(token) = env.var(name).and_then(clean) {
            return Ok((Some(Token::new(token)), TokenSource::Variable(name)));
        }
    }
    let file = token_path(paths, env);
    Ok(match read_token_file(&file)? {
        Some(token) => (Some(token), TokenSource::File(file)),
        None => (None, TokenSource::None),
    })
}

fn token_path(paths: &Paths, env: &dyn Env) -> PathBuf {
    env.var("HF_TOKEN_PATH")
        .filter(|p| !p.is_empty())
        .map_or_else(|| paths.hf_home.join("token"), |p| expand_tilde(&p, env))
}

fn read_token_file(file: &Path) -> Result<Option<Token>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(Token::new)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to read token file `{}`", file.display())),
    }
}

fn download_request(args: DownloadArgs, paths: &Paths, env: &dyn Env) -> Result<DownloadRequest> {
    let format = format::resolve(&args.output, env, &paths.hf_home);
    let progress = format::progress(format.mode, env);
    let format = if args.dry_run {
        format // a plan, not one value
    } else {
        format::for_result(format, &args.output, env)
    };
    let mut warnings = Vec::new();
    if args.resume_download {
        warnings.push(
            "warning: `--resume-download` is deprecated and ignored: hfdl always resumes".into(),
        );
    }
    if args.local_dir_use_symlinks.is_some() {
        warnings.push(
            "warning: `--local-dir-use-symlinks` is deprecated and ignored: \
             a local dir holds real files"
                .into(),
        );
    }
    let reference = RepoRef::parse(&args.repo_id, args.repo_type, args.revision.as_deref())?;
    let mut filenames = args.filenames;
    if let Some(path) = reference.path {
        if !filenames.is_empty() {
            return Err(usage(
                "an `hf://` URI with a path cannot be combined with FILENAMES",
            ));
        }
        filenames.push(path);
    }
    let selection = selection(filenames, args.include, args.exclude, &mut warnings)?;
    if let Some(dir) = &args.cache_dir {
        refuse_url(dir, "--cache-dir")?;
    }
    let target = match (args.local_dir, args.cache_dir) {
        (Some(dir), _) => local_dir_target(&dir, paths, env)?,
        (None, Some(dir)) => Target::Cache(absolute(&expand_tilde(&dir.to_string_lossy(), env))?),
        (None, None) => Target::Cache(absolute(&paths.hub_cache)?),
    };
    let hub_cache = match &target {
        Target::Cache(dir) => dir.clone(),
        Target::LocalDir(_) | Target::Bucket(_) => absolute(&paths.hub_cache)?,
    };
    Ok(DownloadRequest {
        hub_cache,
        repo: reference.repo,
        revision: reference.revision,
        selection,
        target,
        force: args.force_download,
        dry_run: args.dry_run,
        symlinks: !is_true(env.var("HF_HUB_DISABLE_SYMLINKS")),
        shared_blobs: !is_true(env.var("HF_HUB_DISABLE_SHARED_BLOBS"))
            && !is_true(env.var("HF_HUB_DISABLE_XET")),
        max_workers: args.max_workers.map(usize::from),
        connections: usize::from(args.connections),
        progress,
        format,
        warnings,
    })
}

/// A `scheme://` target other than a bucket `--local-dir s3://…` is a URL, not a folder:
/// refused (exit 2), never created as `./gs:/bucket/prefix`.
fn refuse_url(dir: &Path, flag: &str) -> Result<()> {
    let text = dir.to_string_lossy();
    match text.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            let supported = if flag == "--local-dir" {
                "only `s3://bucket/prefix` URLs are supported as a target"
            } else {
                "a bucket can only be a `--local-dir s3://bucket/prefix` target"
            };
            Err(usage(format!(
                "`{text}` is a URL: {flag} does not take `{scheme}://` URLs; {supported}, or \
                 pass a local folder"
            )))
        }
        _ => Ok(()),
    }
}

/// A bucket target with its S3 settings and spool folder.
fn bucket_target(url: BucketUrl, paths: &Paths, env: &dyn Env) -> Result<Target> {
    Ok(Target::Bucket(BucketTarget {
        spool: spool_dir(&url, paths, env)?,
        s3: s3_config(env)?,
        url,
    }))
}

/// `--local-dir`: a bucket URL (`s3://…`), or a folder; other URLs are refused.
fn local_dir_target(dir: &Path, paths: &Paths, env: &dyn Env) -> Result<Target> {
    match BucketUrl::parse(&dir.to_string_lossy()) {
        Some(url) => bucket_target(url.map_err(usage)?, paths, env),
        None => {
            refuse_url(dir, "--local-dir")?;
            Ok(Target::LocalDir(absolute(&expand_tilde(
                &dir.to_string_lossy(),
                env,
            ))?))
        }
    }
}

/// The standard `AWS_*` variables, as the AWS CLI and SDKs read them.
pub(crate) fn s3_config(env: &dyn Env) -> Result<S3Config> {
    let var = |k: &str| {
        env.var(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let endpoint = var("AWS_ENDPOINT_URL_S3")
        .or_else(|| var("AWS_ENDPOINT_URL"))
        .map(|e| e.trim_end_matches('/').to_owned());
    let allow_http = var("AWS_ALLOW_HTTP").is_some_and(|v| is_true(Some(v)));
    if let Some(e) = &endpoint {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(usage(format!(
                "invalid AWS_ENDPOINT_URL `{e}`: expected an http:// or https:// URL"
            )));
        }
        if e.starts_with("http://") && !allow_http {
            return Err(usage(format!(
                "AWS_ENDPOINT_URL `{e}` is plain http://; set AWS_ALLOW_HTTP=true to allow it"
            )));
        }
    }
    Ok(S3Config {
        endpoint,
        region: var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned()),
        access_key_id: var("AWS_ACCESS_KEY_ID"),
        secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
        session_token: var("AWS_SESSION_TOKEN"),
        allow_http,
    })
}

/// `HFDL_SPOOL_DIR`, else `HF_HOME/hfdl/spool/<digest of the URL>`: node-local room for the
/// files in flight to a bucket.
fn spool_dir(url: &BucketUrl, paths: &Paths, env: &dyn Env) -> Result<PathBuf> {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(url.to_string().as_bytes()));
    let base = match env.var("HFDL_SPOOL_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => expand_tilde(&dir, env),
        None => paths.hf_home.join("hfdl").join("spool"),
    };
    absolute(&base.join(&digest[..16]))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("invalid path `{}`", path.display()))
}

/// Turns filenames and patterns into a [`Selection`], as `hf download` does.
fn selection(
    filenames: Vec<String>,
    include: Vec<String>,
    exclude: Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Selection> {
    let (folders, files): (Vec<String>, Vec<String>) =
        filenames.into_iter().partition(|f| f.ends_with('/'));
    if let Some(folder) = folders.first()
        && (!include.is_empty() || !exclude.is_empty())
    {
        return Err(usage(format!(
            "cannot combine the folder argument `{folder}` with --include/--exclude; \
             use --include \"{folder}*\" instead"
        )));
    }
    if !files.is_empty() && (!include.is_empty() || !exclude.is_empty()) {
        warnings.push("warning: ignoring --include/--exclude since filenames were given".into());
    }
    if files.len() == 1 && folders.is_empty() {
        let path = RepoPath::parse(&files[0]).map_err(usage)?;
        return Ok(Selection::One(path));
    }
    if files.is_empty() && folders.is_empty() {
        return Ok(Selection::Patterns {
            allow: include,
            deny: exclude,
        });
    }
    let folder_patterns = folders
        .iter()
        .map(|f| format!("{}/*", f.trim_end_matches('/')));
    Ok(Selection::Patterns {
        allow: files.into_iter().chain(folder_patterns).collect(),
        deny: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::cli::RepoTypeArg;
    use crate::repo::RepoType;

    struct MapEnv(HashMap<&'static str, &'static str>);

    impl Env for MapEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|v| (*v).to_owned())
        }
        fn home_dir(&self) -> Option<PathBuf> {
            Some(PathBuf::from("/home/u"))
        }
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> MapEnv {
        MapEnv(pairs.iter().copied().collect())
    }

    #[test]
    fn hub_cache_precedence() {
        let cache = |pairs| Paths::resolve(&env(pairs)).unwrap().hub_cache;
        assert_eq!(cache(&[]), PathBuf::from("/home/u/.cache/huggingface/hub"));
        assert_eq!(
            cache(&[("XDG_CACHE_HOME", "/x")]),
            PathBuf::from("/x/huggingface/hub")
        );
        assert_eq!(
            cache(&[("HF_HOME", "~/hf"), ("XDG_CACHE_HOME", "/x")]),
            PathBuf::from("/home/u/hf/hub")
        );
        assert_eq!(
            cache(&[("HF_HOME", "/h"), ("HUGGINGFACE_HUB_CACHE", "/old")]),
            PathBuf::from("/old")
        );
        assert_eq!(
            cache(&[("HF_HUB_CACHE", "/new"), ("HUGGINGFACE_HUB_CACHE", "/old")]),
            PathBuf::from("/new")
        );
    }

    #[test]
    fn token_precedence() {
        let paths = Paths::resolve(&env(&[("HF_HOME", "/nonexistent")])).unwrap();
        let token = |flag: Option<&str>, pairs| {
            resolve_token(flag.map(str::to_owned), &paths, &env(pairs))
                .unwrap()
                .map(|t| t.expose().to_owned())
        };
        assert_eq!(token(None, &[]), None);
        assert_eq!(token(None, &[("HF_TOKEN", " a\n")]), Some("a".into()));
        assert_eq!(
            token(None, &[("HF_TOKEN", ""), ("HUGGING_FACE_HUB_TOKEN", "b")]),
            Some("b".into())
        );
        assert_eq!(token(Some("c"), &[("HF_TOKEN", "a")]), Some("c".into()));
        assert_eq!(
            token(
                None,
                &[("HF_TOKEN", "a"), ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")]
            ),
            None
        );
    }

    #[test]
    fn endpoint_trailing_slash_is_dropped() {
        let paths = Paths::resolve(&env(&[])).unwrap();
        let config = hub_config(
            None,
            None,
            &paths,
            &env(&[("HF_ENDPOINT", "https://m.example/")]),
        )
        .unwrap();
        assert_eq!(config.endpoint, "https://m.example");
    }

    #[test]
    fn repo_references() {
        let r = RepoRef::parse("datasets/org/name", None, None).unwrap();
        assert_eq!(
            (r.repo.kind, r.repo.id.as_str()),
            (RepoType::Dataset, "org/name")
        );
        assert!(RepoRef::parse("datasets/org/name", Some(RepoTypeArg::Model), None).is_err());
        let r =
            RepoRef::parse("hf://datasets/x/y@refs%2Fpr%2F1/data/a.parquet", None, None).unwrap();
        assert_eq!(r.revision.as_str(), "refs/pr/1");
        assert_eq!(r.path.as_deref(), Some("data/a.parquet"));
        let r = RepoRef::parse("hf://x/y@refs/pr/1/data/a.parquet", None, None).unwrap();
        assert_eq!(r.revision.as_str(), "refs/pr/1");
        let r = RepoRef::parse("hf://spaces/x/y", None, None).unwrap();
        assert_eq!((r.repo.kind, r.path), (RepoType::Space, None));
        for kernel in [
            RepoRef::parse("hf://kernels/org/relu/build.toml", None, None).unwrap(),
            RepoRef::parse("kernels/org/relu", None, None).unwrap(),
            RepoRef::parse("org/relu", Some(RepoTypeArg::Kernel), None).unwrap(),
        ] {
            assert_eq!(kernel.repo.folder_name(), "kernels--org--relu");
        }
        let r = RepoRef::parse("hf://org/model/sub/", None, None).unwrap();
        assert_eq!(r.path.as_deref(), Some("sub/"));
        assert!(RepoRef::parse("bad--id/x", None, None).is_err());
    }

    #[test]
    fn filenames_become_a_selection() {
        let sel = |files: &[&str], inc: &[&str]| {
            let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
            selection(own(files), own(inc), vec![], &mut vec![])
        };
        assert!(matches!(sel(&["a.json"], &[]).unwrap(), Selection::One(_)));
        assert_eq!(
            sel(&["a.json", "sub/"], &[]).unwrap(),
            Selection::Patterns {
                allow: vec!["a.json".into(), "sub/*".into()],
                deny: vec![]
            }
        );
        assert!(sel(&["sub/"], &["*.json"]).is_err());
    }
}
