//! `HubClient`: everything said over HTTP to a Hub endpoint and the CDN behind it.
//!
//! It builds URLs, sends the token only to the endpoint's origin, follows only same-origin
//! redirects on metadata requests (so the Hub's own headers are read, not the CDN's), and maps
//! statuses to [`HubError`]. It never touches the filesystem, never prints, and returns no
//! `reqwest` types to callers except the bytes of a body.

mod error;
pub(crate) mod headers;
pub(crate) mod types;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT_ENCODING, HeaderValue, RANGE};
use reqwest::{Client, Method, RequestBuilder, Response, Url, redirect};

pub(crate) use error::{HubError, Subject};

pub(crate) use types::{FileMeta, RemoteFile};

use crate::repo::{Checksum, CommitHash, Repo, RepoPath, Revision};
use error::{ErrorInfo, classify};
use types::{RepoInfoJson, TreeEntryJson};

/// Characters percent-encoded in a revision (everything but unreserved, so `/` too).
const REVISION_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Characters percent-encoded in a file path (`/` kept).
const PATH_SET: &AsciiSet = &REVISION_SET.remove(b'/');

/// An access token. Its `Debug` never shows the value.
#[derive(Clone)]
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the `Authorization` header and `auth` commands only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(redacted)")
    }
}

/// Proxies from the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyConfig {
    pub(crate) http: Option<String>,
    pub(crate) https: Option<String>,
    pub(crate) all: Option<String>,
    pub(crate) no_proxy: Option<String>,
}

/// How to reach the Hub.
#[derive(Debug, Clone)]
pub(crate) struct HubConfig {
    /// Base URL without a trailing `/`, e.g. `https://hf-mirror.com`.
    pub(crate) endpoint: String,
    pub(crate) token: Option<Token>,
    pub(crate) connect_timeout: Duration,
    /// A body that delivers no byte for this long is abandoned.
    pub(crate) stall_timeout: Duration,
    /// First delay of the retry backoff.
    pub(crate) retry_base: Duration,
    pub(crate) user_agent: String,
    /// `HF_HUB_OFFLINE`: no request may be sent.
    pub(crate) offline: bool,
    pub(crate) proxy: ProxyConfig,
    /// The trusted roots, when a variable replaces the system's.
    pub(crate) ca: Option<CaSource>,
}

/// Root certificates named by a variable; they replace the system's roots, as in the official
/// clients (`SSL_CERT_FILE`/`SSL_CERT_DIR` for httpx, `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE`
/// for requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaSource {
    /// The variable that named it.
    pub(crate) var: &'static str,
    pub(crate) path: PathBuf,
    /// A folder of certificates (`SSL_CERT_DIR`) rather than a PEM bundle.
    pub(crate) dir: bool,
}

/// A client for one endpoint.
#[derive(Clone)]
pub(crate) struct HubClient {
    config: HubConfig,
    /// Follows only same-origin redirects: metadata must come from the Hub, not the CDN. Also
    /// fetches small files (their redirects to the CDN are followed by [`HubClient::follow`]):
    /// over TLS it speaks HTTP/2 where the host offers it, so many files at once share the
    /// connection the listing already opened.
    api: Client,
    /// Bulk bytes (ranges of large files), over HTTP/1.1: a mirror's per-connection cap
    /// applies per TCP stream. Follows no redirect by itself: [`HubClient::follow`] does, so
    /// that it knows which host failed and sends the token to the endpoint's origin only.
    data: Client,
    endpoint: Url,
}

/// A response body being streamed, positioned at `start` in the file.
pub(crate) struct FileBody {
    response: Response,
    stall_timeout: Duration,
    /// The URL that answered, after redirects (a CDN URL for LFS files).
    pub(crate) url: String,
    /// Offset in the file of the first byte of this body.
    pub(crate) start: u64,
    /// The file's size according to a 206's `Content-Range`.
    pub(crate) total: Option<u64>,
    /// The body's `Content-Length`.
    pub(crate) length: Option<u64>,
    /// The body is compressed (so its length says nothing about the file).
    pub(crate) encoded: bool,
    /// The server answered the range with 206.
    pub(crate) partial: bool,
}

impl FileBody {
    /// The next bytes, `None` at the end; fails with [`HubError::Stalled`] if none come in time.
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, HubError> {
        match tokio::time::timeout(self.stall_timeout, self.response.chunk()).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(source)) => Err(HubError::Transport {
                url: self.url.clone(),
                source,
            }),
            Err(_) => Err(HubError::Stalled {
                url: self.url.clone(),
                after: self.stall_timeout,
            }),
        }
    }
}

/// The trusted root certificates: those the settings name, else the system's.
///
/// `rustls_native_certs::load_native_certs` reads `SSL_CERT_FILE`/`SSL_CERT_DIR` itself; it is
/// called only when the settings found both unset, so the environment keeps one reader.
fn trusted_roots(config: &HubConfig) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let from_der = |found: rustls_native_certs::CertificateResult| -> Vec<reqwest::Certificate> {
        let certs = found.certs.iter();
        certs
            .filter_map(|der| reqwest::Certificate::from_der(der).ok())
            .collect()
    };
    let Some(ca) = &config.ca else {
        return Ok(from_der(rustls_native_certs::load_native_certs()));
    };
    let named = || {
        format!(
            "{} `{}` (from {})",
            if ca.dir {
                "the CA folder"
            } else {
                "the CA bundle"
            },
            ca.path.display(),
            ca.var
        )
    };
    let certs = if ca.dir {
        let found = rustls_native_certs::load_certs_from_paths(None, Some(&ca.path));
        if let Some(e) = found.errors.first() {
            anyhow::bail!("cannot read {}: {e}", named());
        }
        from_der(found)
    } else {
        let pem =
            std::fs::read(&ca.path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", named()))?;
        reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| anyhow::anyhow!("invalid {}: {e}", named()))?
    };
    if certs.is_empty() {
        anyhow::bail!("{} holds no certificate", named());
    }
    Ok(certs)
}

/// Explicit proxies from the settings (the environment is read only in `settings`).
fn proxies(config: &ProxyConfig) -> anyhow::Result<Vec<reqwest::Proxy>> {
    // `NO_PROXY=*` turns proxies off for every host, as in curl and requests.
    let no_proxy_all = config
        .no_proxy
        .as_deref()
        .is_some_and(|v| v.split(',').any(|e| e.trim() == "*"));
    if no_proxy_all {
        return Ok(Vec::new());
    }
    let no_proxy = config
        .no_proxy
        .as_deref()
        .and_then(reqwest::NoProxy::from_string);
    let mut out = Vec::new();
    let entries = [
        (&config.http, "http"),
        (&config.https, "https"),
        (&config.all, "all"),
    ];
    for (url, scheme) in entries {
        let Some(url) = url else { continue };
        let proxy = match scheme {
            "http" => reqwest::Proxy::http(url.as_str()),
            "https" => reqwest::Proxy::https(url.as_str()),
            _ => reqwest::Proxy::all(url.as_str()),
        }
        .map_err(|e| anyhow::anyhow!("invalid proxy `{url}`: {e}"))?;
        out.push(proxy.no_proxy(no_proxy.clone()));
    }
    Ok(out)
}

/// The settings every client of a run shares: explicit proxies, the CA roots `settings`
/// resolved (and no built-in ones: a CA variable replaces the system roots), the user agent and
/// timeouts, and no `Referer` on redirects (hf-mirror.com answers a foreign one with an HTML
/// page).
struct BaseBuilder {
    proxies: Vec<reqwest::Proxy>,
    roots: Vec<reqwest::Certificate>,
    user_agent: String,
    connect_timeout: Duration,
    stall_timeout: Duration,
}

fn base_builder(config: &HubConfig) -> anyhow::Result<BaseBuilder> {
    Ok(BaseBuilder {
        proxies: proxies(&config.proxy)?,
        roots: trusted_roots(config)?,
        user_agent: config.user_agent.clone(),
        connect_timeout: config.connect_timeout,
        stall_timeout: config.stall_timeout,
    })
}

impl BaseBuilder {
    fn clone_builder(&self) -> reqwest::ClientBuilder {
        let mut b = Client::builder().no_proxy().tls_built_in_root_certs(false);
        for proxy in &self.proxies {
            b = b.proxy(proxy.clone());
        }
        for cert in &self.roots {
            b = b.add_root_certificate(cert.clone());
        }
        b.user_agent(self.user_agent.clone())
            .referer(false)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.stall_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
    }
}

/// A client for other services of the run (an S3 bucket), with the run's proxies, CA roots,
/// user agent and timeouts; it never carries the Hub token.
pub(crate) fn service_client(config: &HubConfig) -> anyhow::Result<Client> {
    Ok(base_builder(config)?.clone_builder().build()?)
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl HubClient {
    pub(crate) fn new(config: HubConfig) -> anyhow::Result<Self> {
        let endpoint = Url::parse(&config.endpoint)
            .map_err(|e| anyhow::anyhow!("invalid endpoint `{}`: {e}", config.endpoint))?;
        let hub_origin = endpoint.clone();
        let api_policy = redirect::Policy::custom(move |attempt| {
            let from = attempt.previous().last().cloned();
            let ok = attempt.previous().len() < 10
                && (same_origin(attempt.url(), &hub_origin)
                    || from.is_some_and(|f| same_origin(attempt.url(), &f)));
            if ok { attempt.follow() } else { attempt.stop() }
        });
        let base = base_builder(&config)?;
        let builder = || base.clone_builder();
        Ok(Self {
            api: builder().redirect(api_policy).build()?,
            // Bulk bytes stay on HTTP/1.1: a mirror's per-connection cap applies per TCP
            // stream, and HTTP/2 would multiplex every range onto one. Metadata may use
            // HTTP/2 where the host offers it over TLS.
            data: builder()
                .redirect(redirect::Policy::none())
                .http1_only()
                .build()?,
            endpoint,
            config,
        })
    }

    pub(crate) fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Returns true if `url` is on the endpoint's origin (where the token may go).
    pub(crate) fn is_hub_url(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| same_origin(&u, &self.endpoint))
    }

    /// `url` moved onto the endpoint's origin (same path and query). Mirrors pass the Hub's
    /// pagination links through unchanged, pointing at a host their users may not reach; the
    /// token goes wherever the rewritten URL goes, which is the endpoint.
    fn on_endpoint(&self, url: &str) -> String {
        match Url::parse(url) {
            Ok(mut u) if !same_origin(&u, &self.endpoint) => {
                let ok = u.set_scheme(self.endpoint.scheme()).is_ok()
                    && u.set_host(self.endpoint.host_str()).is_ok()
                    && u.set_port(self.endpoint.port()).is_ok();
                if ok { u.to_string() } else { url.to_owned() }
            }
            _ => url.to_owned(),
        }
    }

    /// Names a request's object for error messages.
    pub(crate) fn subject(
        &self,
        repo: &Repo,
        revision: Option<&str>,
        path: Option<&RepoPath>,
    ) -> Subject {
        Subject {
            repo: repo.to_string(),
            revision: revision.map(str::to_owned),
            path: path.map(ToString::to_string),
            endpoint: self.config.endpoint.clone(),
        }
    }

    /// The URL of a file's content at a revision.
    pub(crate) fn resolve_url(&self, repo: &Repo, revision: &str, path: &RepoPath) -> String {
        format!(
            "{}/{}{}/resolve/{}/{}",
            self.config.endpoint,
            repo.kind.url_prefix(),
            repo.id,
            utf8_percent_encode(revision, REVISION_SET),
            utf8_percent_encode(path.as_str(), PATH_SET)
        )
    }

    fn api_url(&self, repo: &Repo, what: &str, revision: &str) -> String {
        format!(
            "{}/api/{}/{}/{what}/{}",
            self.config.endpoint,
            repo.kind.plural(),
            repo.id,
            utf8_percent_encode(revision, REVISION_SET)
        )
    }

    fn request(&self, client: &Client, method: Method, url: &str) -> RequestBuilder {
        let mut request = client
            .request(method, url)
            .header(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        if let Some(token) = self.config.token.as_ref().filter(|_| self.is_hub_url(url)) {
            request = request.bearer_auth(token.expose());
        }
        request
    }

    async fn send(
        &self,
        request: RequestBuilder,
        url: &str,
        subject: &Subject,
    ) -> Result<Response, HubError> {
        if self.config.offline {
            return Err(HubError::Offline {
                url: url.to_owned(),
            });
        }
        let response = request.send().await.map_err(|source| HubError::Transport {
            url: url.to_owned(),
            source,
        })?;
        let status = response.status();
        if status.is_success() || status.is_redirection() {
            return Ok(response);
        }
        let retry_after = headers::retry_after(response.headers());
        let code = response
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let header_message = response
            .headers()
            .get("x-error-message")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        let message = header_message.unwrap_or_else(|| error_message_from_body(&body));
        let info = ErrorInfo {
            code,
            message,
            retry_after,
        };
        let authenticated = self.config.token.is_some();
        Err(classify(status.as_u16(), url, info, subject, authenticated))
    }

    /// Resolves a revision to its commit with the revision API.
    pub(crate) async fn commit_for(
        &self,
        repo: &Repo,
        revision: &Revision,
    ) -> Result<CommitHash, HubError> {
        let url = self.api_url(repo, "revision", revision.as_str());
        let subject = self.subject(repo, Some(revision.as_str()), None);
        let response = self
            .send(self.request(&self.api, Method::GET, &url), &url, &subject)
            .await?;
        let info: RepoInfoJson = read_json(response, &url).await?;
        info.sha
            .as_deref()
            .and_then(CommitHash::parse)
            .ok_or_else(|| HubError::Malformed {
                url,
                what: "no commit hash (`sha`) in the repo info".into(),
            })
    }

    /// Lists every file at a commit (recursive tree, following `Link: rel="next"` pages).
    pub(crate) async fn list_files(
        &self,
        repo: &Repo,
        commit: &CommitHash,
    ) -> Result<Vec<RemoteFile>, HubError> {
        let subject = self.subject(repo, Some(commit.as_str()), None);
        let mut url = format!(
            "{}?recursive=true&expand=false",
            self.api_url(repo, "tree", commit.as_str())
        );
        let mut files = Vec::new();
        for _page in 0..100_000 {
            let response = self
                .send(self.request(&self.api, Method::GET, &url), &url, &subject)
                .await?;
            let next = headers::next_link(response.headers());
            let entries: Vec<TreeEntryJson> = read_json(response, &url).await?;
            for entry in entries {
                let file = entry
                    .into_remote_file()
                    .map_err(|what| HubError::Malformed {
                        url: url.clone(),
                        what,
                    })?;
                files.extend(file);
            }
            match next {
                Some(next) => url = self.on_endpoint(&next),
                None => return Ok(files),
            }
        }
        Err(HubError::Malformed {
            url,
            what: "endless pagination".into(),
        })
    }

    /// Reads one file's metadata with a HEAD on its resolve URL, as the official client does.
    pub(crate) async fn file_meta(
        &self,
        repo: &Repo,
        revision: &Revision,
        path: &RepoPath,
    ) -> Result<FileMeta, HubError> {
        let url = self.resolve_url(repo, revision.as_str(), path);
        let subject = self.subject(repo, Some(revision.as_str()), Some(path));
        let response = self
            .send(self.request(&self.api, Method::HEAD, &url), &url, &subject)
            .await?;
        let h = response.headers();
        let malformed = |what: &str| HubError::Malformed {
            url: url.clone(),
            what: what.into(),
        };
        let commit = headers::repo_commit(h).ok_or_else(|| {
            malformed("no `X-Repo-Commit` header; is the endpoint a Hugging Face Hub (or mirror)?")
        })?;
        let redirect = response.status().is_redirection();
        let size = headers::file_size(h, redirect);
        // A redirect without `X-Linked-Etag` carries the LFS pointer's etag, which says
        // nothing about the content; some mirrors strip `ETag` altogether.
        let digest = headers::file_etag(h)
            .filter(|etag| etag.checksum() != Checksum::None)
            .filter(|_| !redirect || headers::has_linked_etag(h));
        let file = digest.map(|etag| RemoteFile {
            path: path.clone(),
            size,
            lfs: etag.checksum() == Checksum::Sha256,
            checksum: etag.checksum(),
            etag,
            blob_id: None,
            xet_hash: None,
        });
        Ok(FileMeta { commit, file })
    }

    /// Asks the Hub who the token belongs to.
    pub(crate) async fn whoami(&self) -> Result<serde_json::Value, HubError> {
        let url = format!("{}/api/whoami-v2", self.config.endpoint);
        let subject = Subject {
            repo: "the token".into(),
            endpoint: self.config.endpoint.clone(),
            ..Subject::default()
        };
        let response = self
            .send(self.request(&self.api, Method::GET, &url), &url, &subject)
            .await?;
        read_json(response, &url).await
    }

    /// Starts a GET of a file's bytes from `start` (to `end`, exclusive, if given); `bulk`
    /// for the ranges of a large file, else a small file's whole body.
    ///
    /// The caller checks [`FileBody::start`]: a server that ignores `Range` answers from 0.
    pub(crate) async fn open(
        &self,
        url: &str,
        (start, end): (u64, Option<u64>),
        bulk: bool,
        subject: &Subject,
    ) -> Result<FileBody, HubError> {
        let range = match end {
            Some(end) => Some(format!("bytes={start}-{}", end - 1)),
            None if start > 0 => Some(format!("bytes={start}-")),
            None => None,
        };
        let client = if bulk { &self.data } else { &self.api };
        let response = self.follow(client, url, range.as_deref(), subject).await?;
        let final_url = response.url().to_string();
        let h = response.headers();
        let encoded = h
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
        let partial = response.status().as_u16() == 206;
        let (body_start, total) = if partial {
            let range = headers::content_range(h).ok_or_else(|| HubError::Malformed {
                url: final_url.clone(),
                what: "206 without a valid `Content-Range`".into(),
            })?;
            if range.start != start {
                return Err(HubError::Malformed {
                    url: final_url,
                    what: format!("asked for bytes from {start}, got from {}", range.start),
                });
            }
            (range.start, range.total)
        } else if response.status().is_success() {
            (0, None)
        } else {
            return Err(HubError::Malformed {
                url: final_url,
                what: format!("unexpected status {} for file content", response.status()),
            });
        };
        let length = response.content_length();
        Ok(FileBody {
            response,
            stall_timeout: self.config.stall_timeout,
            url: final_url,
            start: body_start,
            total,
            length,
            encoded,
            partial,
        })
    }
}

impl HubClient {
    /// GETs `first`, following up to 10 redirects. A host a redirect names that cannot be
    /// connected to is an [`HubError::UnreachableRedirect`].
    async fn follow(
        &self,
        client: &Client,
        first: &str,
        range: Option<&str>,
        subject: &Subject,
    ) -> Result<Response, HubError> {
        let mut url = first.to_owned();
        for hop in 0..=10 {
            let mut request = self.request(client, Method::GET, &url);
            if let Some(range) = range {
                request = request.header(RANGE, range);
            }
            let response = match self.send(request, &url, subject).await {
                Err(HubError::Transport { source, .. })
                    if hop > 0 && (source.is_connect() || source.is_timeout()) =>
                {
                    return Err(self.unreachable(first, &url, source));
                }
                other => other?,
            };
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let next = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| Url::parse(&url).ok()?.join(l).ok());
            let Some(next) = next else {
                return Err(HubError::Malformed {
                    url,
                    what: format!("redirect {} without a valid `Location`", response.status()),
                });
            };
            url = next.to_string();
        }
        Err(HubError::Malformed {
            url: first.to_owned(),
            what: "more than 10 redirects".into(),
        })
    }

    fn unreachable(&self, first: &str, target: &str, source: reqwest::Error) -> HubError {
        let target = Url::parse(target).ok();
        let host = target.as_ref().and_then(Url::host_str).unwrap_or("?");
        let port = target.as_ref().and_then(Url::port_or_known_default);
        HubError::UnreachableRedirect {
            url: first.to_owned(),
            host: format!("{host}:{}", port.unwrap_or(0)),
            endpoint: self.config.endpoint.clone(),
            source,
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: Response,
    url: &str,
) -> Result<T, HubError> {
    let body = response
        .bytes()
        .await
        .map_err(|source| HubError::Transport {
            url: url.to_owned(),
            source,
        })?;
    serde_json::from_slice(&body).map_err(|e| HubError::Malformed {
        url: url.to_owned(),
        what: format!("invalid JSON ({e})"),
    })
}

/// The Hub's JSON error body `{"error": "..."}`, or a short plain-text body.
fn error_message_from_body(body: &str) -> String {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    if let Some(msg) = json.as_ref().and_then(|j| j.get("error")?.as_str()) {
        return msg.to_owned();
    }
    let trimmed = body.trim();
    if trimmed.starts_with('<') || trimmed.len() > 300 {
        String::new()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{RepoId, RepoType};

    fn client(endpoint: &str) -> HubClient {
        HubClient::new(HubConfig {
            endpoint: endpoint.into(),
            token: Some(Token::new("secret".into())),
            connect_timeout: Duration::from_secs(1),
            stall_timeout: Duration::from_secs(1),
            retry_base: Duration::from_millis(1),
            user_agent: "t".into(),
            offline: false,
            proxy: ProxyConfig::default(),
            ca: None,
        })
        .unwrap()
    }

    #[test]
    fn resolve_urls_encode_like_the_official_client() {
        let hub = client("https://m.example");
        let repo = Repo {
            kind: RepoType::Dataset,
            id: RepoId::parse("ns/r").unwrap(),
        };
        let path = RepoPath::parse("dïr/weird name+[x].txt").unwrap();
        assert_eq!(
            hub.resolve_url(&repo, "refs/pr/1", &path),
            "https://m.example/datasets/ns/r/resolve/refs%2Fpr%2F1/d%C3%AFr/weird%20name%2B%5Bx%5D.txt"
        );
    }

    #[test]
    fn token_only_goes_to_the_endpoint_origin() {
        let hub = client("https://m.example");
        assert!(hub.is_hub_url("https://m.example/x"));
        assert!(hub.is_hub_url("https://m.example:443/x"));
        assert!(!hub.is_hub_url("https://cdn.example/x"));
        assert!(!hub.is_hub_url("http://m.example/x"));
    }

    #[test]
    fn token_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Token::new("hf_abc".into())),
            "Token(redacted)"
        );
    }
}
