//! `HubError`: the failures of talking to the Hub that callers branch on (retry, fall back to the
//! cache, hint, exit code), and the one function that turns HTTP statuses into them.
//!
//! Messages are lowercase and name the object (repo, revision, file, endpoint). Hints live next
//! to the variants they describe. A token never appears in any of them.

use std::fmt;
use std::time::Duration;

/// What a request was about, to name it in messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct Subject {
    /// `model `org/name``, as [`crate::repo::Repo`] displays.
    pub(crate) repo: String,
    pub(crate) revision: Option<String>,
    pub(crate) path: Option<String>,
    /// The endpoint the request went to.
    pub(crate) endpoint: String,
}

/// An error from the Hub or on the way to it.
#[derive(Debug)]
pub(crate) enum HubError {
    /// The repository does not exist, or it is private and no valid token was sent.
    RepoNotFound {
        subject: Subject,
        authenticated: bool,
    },
    /// The repository is gated and the token (if any) has no access.
    Gated { subject: Subject },
    /// The revision does not exist in the repository.
    RevisionNotFound { subject: Subject },
    /// The file does not exist at that revision.
    EntryNotFound { subject: Subject },
    /// Access denied for another reason (403).
    Forbidden { url: String, message: String },
    /// The server asks us to slow down (429).
    RateLimited {
        url: String,
        retry_after: Option<Duration>,
    },
    /// Any other unexpected status.
    Status {
        url: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The request failed before a response arrived (DNS, connect, TLS, timeout, cut body).
    Transport { url: String, source: reqwest::Error },
    /// The endpoint redirected a file to a host that cannot be connected to (hf-mirror.com
    /// sometimes sends Xet files to the official `cas-bridge.xethub.hf.co`).
    UnreachableRedirect {
        /// The resolve URL asked.
        url: String,
        /// `host:port` it was redirected to.
        host: String,
        endpoint: String,
        source: reqwest::Error,
    },
    /// The body ended before the requested range did.
    Truncated { url: String, at: u64, end: u64 },
    /// A whole-file answer of the wrong length (an error page served as the file).
    WrongLength {
        url: String,
        got: u64,
        expected: u64,
    },
    /// No byte arrived for the stall timeout.
    Stalled { url: String, after: Duration },
    /// Offline mode (`HF_HUB_OFFLINE`) forbids the request.
    Offline { url: String },
    /// The response is not what the protocol promises.
    Malformed { url: String, what: String },
}

impl HubError {
    /// Returns true if the same request may succeed when retried.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            // Retrying does not make a refused certificate acceptable.
            Self::Transport { .. } if self.is_untrusted_certificate() => false,
            Self::RateLimited { .. }
            | Self::Transport { .. }
            | Self::Stalled { .. }
            | Self::Truncated { .. }
            | Self::WrongLength { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 500..=599),
            _ => false,
        }
    }

    /// The delay the server asked for, if any.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::Status { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Returns true if the request timed out (connecting or waiting for an answer).
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport { source, .. } | Self::UnreachableRedirect { source, .. } if source.is_timeout())
    }

    /// Returns true if the endpoint could not be reached at all (no HTTP answer).
    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            Self::Transport { source, .. } => source.is_connect() || source.is_timeout(),
            _ => false,
        }
    }

    /// The server's TLS certificate was refused (unknown issuer, expired, wrong name): a
    /// corporate proxy or a mirror with a private CA that is not in the trust store.
    pub(crate) fn is_untrusted_certificate(&self) -> bool {
        let Self::Transport { source, .. } = self else {
            return false;
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
        while let Some(e) = cause {
            if matches!(
                e.downcast_ref::<rustls::Error>(),
                Some(rustls::Error::InvalidCertificate(_))
            ) {
                return true;
            }
            // rustls' error travels inside (nested) `io::Error`s, whose `source()` skips it.
            cause = match e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => e.source(),
            };
        }
        false
    }

    /// Advice for the user, if any.
    pub(crate) fn hint(&self) -> Option<String> {
        let token_hint = "if the repository is private or gated, pass `--token` or set `HF_TOKEN`";
        match self {
            Self::RepoNotFound {
                authenticated: false,
                ..
            } => Some(token_hint.into()),
            Self::RepoNotFound {
                authenticated: true,
                ..
            } => Some("check the repo id and --repo-type, and that your token can read it".into()),
            Self::Gated { .. } => Some(
                "request access on the repository page, then pass `--token` or set `HF_TOKEN`"
                    .into(),
            ),
            Self::Forbidden { .. } => Some("check that your token has read permission".into()),
            Self::Offline { .. } => {
                Some("unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) to allow downloads".into())
            }
            Self::Transport { .. } if self.is_untrusted_certificate() => Some(
                "the server's TLS certificate is not trusted; if a proxy or mirror uses its own \
                 CA, set `SSL_CERT_FILE` (or `REQUESTS_CA_BUNDLE`) to its PEM bundle"
                    .into(),
            ),
            Self::UnreachableRedirect { .. } => Some(
                "the endpoint sends this file to a host this machine cannot reach; retry later \
                 (mirrors change where they redirect), set `HTTPS_PROXY` to a proxy that reaches \
                 that host, or use another endpoint (`HF_ENDPOINT`)"
                    .into(),
            ),
            Self::Transport { .. } | Self::Stalled { .. } => Some(
                "check the endpoint (`HF_ENDPOINT`), the proxy and CA settings (`hfdl env`) and \
                 your connection; rerun to resume"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn at(subject: &Subject) -> String {
    match &subject.revision {
        Some(rev) => format!(" at revision `{rev}`"),
        None => String::new(),
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RepoNotFound { subject, .. } => {
                write!(f, "{} not found on {}", subject.repo, subject.endpoint)
            }
            Self::Gated { subject } => write!(
                f,
                "access to {} on {} requires approval (gated repository)",
                subject.repo, subject.endpoint
            ),
            Self::RevisionNotFound { subject } => write!(
                f,
                "revision `{}` not found in {} on {}",
                subject.revision.as_deref().unwrap_or("?"),
                subject.repo,
                subject.endpoint
            ),
            Self::EntryNotFound { subject } => write!(
                f,
                "file `{}` not found in {}{} on {}",
                subject.path.as_deref().unwrap_or("?"),
                subject.repo,
                at(subject),
                subject.endpoint
            ),
            Self::Forbidden { url, message } => {
                write!(f, "access denied (403) to `{url}`{}", detail(message))
            }
            Self::RateLimited { url, .. } => write!(f, "rate limited (429) by `{url}`"),
            Self::Status {
                url,
                status,
                message,
                ..
            } => {
                write!(
                    f,
                    "unexpected HTTP {status} from `{url}`{}",
                    detail(message)
                )
            }
            Self::Transport { url, .. } => write!(f, "request to `{url}` failed"),
            Self::UnreachableRedirect {
                url,
                host,
                endpoint,
                ..
            } => write!(
                f,
                "cannot connect to `{host}`, where {endpoint} redirected `{url}`"
            ),
            Self::Truncated { url, at, end } => {
                write!(
                    f,
                    "the body from `{url}` ended at byte {at}, before byte {end}"
                )
            }
            Self::WrongLength { url, got, expected } => {
                write!(
                    f,
                    "`{url}` served {got} bytes instead of the file's {expected}"
                )
            }
            Self::Stalled { url, after } => {
                write!(f, "no data from `{url}` for {} s", after.as_secs())
            }
            Self::Offline { url } => {
                write!(f, "cannot reach `{url}`: offline mode is enabled")
            }
            Self::Malformed { url, what } => write!(f, "unexpected response from `{url}`: {what}"),
        }
    }
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl std::error::Error for HubError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport { source, .. } | Self::UnreachableRedirect { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// The server's own words about an error: `X-Error-Code`, `X-Error-Message`, `Retry-After`.
#[derive(Debug, Default)]
pub(crate) struct ErrorInfo {
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

/// The single place where an HTTP status becomes a [`HubError`].
pub(crate) fn classify(
    status: u16,
    url: &str,
    info: ErrorInfo,
    subject: &Subject,
    authenticated: bool,
) -> HubError {
    let subject = subject.clone();
    match (info.code.as_deref(), status) {
        (Some("RevisionNotFound"), _) => HubError::RevisionNotFound { subject },
        (Some("EntryNotFound"), _) => HubError::EntryNotFound { subject },
        (Some("GatedRepo"), _) => HubError::Gated { subject },
        (Some("RepoNotFound"), _) | (None, 401) => HubError::RepoNotFound {
            subject,
            authenticated,
        },
        (_, 403) => HubError::Forbidden {
            url: url.to_owned(),
            message: info.message,
        },
        (_, 429) => HubError::RateLimited {
            url: url.to_owned(),
            retry_after: info.retry_after,
        },
        _ => HubError::Status {
            url: url.to_owned(),
            status,
            message: info.message,
            retry_after: info.retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(code: Option<&str>) -> ErrorInfo {
        ErrorInfo {
            code: code.map(str::to_owned),
            ..ErrorInfo::default()
        }
    }

    #[test]
    fn statuses_map_to_variants() {
        let s = Subject::default();
        let c = |status, code| classify(status, "u", info(code), &s, false);
        assert!(matches!(
            c(404, Some("RevisionNotFound")),
            HubError::RevisionNotFound { .. }
        ));
        assert!(matches!(
            c(404, Some("EntryNotFound")),
            HubError::EntryNotFound { .. }
        ));
        assert!(matches!(c(401, Some("GatedRepo")), HubError::Gated { .. }));
        assert!(matches!(c(401, None), HubError::RepoNotFound { .. }));
        assert!(matches!(c(403, None), HubError::Forbidden { .. }));
        assert!(c(503, None).is_transient());
        assert!(c(429, None).is_transient());
        assert!(!c(404, None).is_transient());
        assert!(!c(403, None).is_transient());
    }
}
