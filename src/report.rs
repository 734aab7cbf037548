//! Turns a failed run into lines on stderr and an exit code:
//!
//! ```text
//! error: failed to download `model.safetensors`
//!   caused by: request to `https://…` failed
//!   caused by: connection refused
//! hint: check the endpoint (`HF_ENDPOINT`) and your connection; rerun to resume
//! ```
//!
//! Exit codes: 1 runtime failure, 2 usage error, 130 interrupted. Codes, hints and kinds come
//! from the error types (downcasts), never from message text. Used only by `run`.
//!
//! With the hidden `--error-json` ([`Style::Json`]), the same report is one JSON object on
//! stdout instead, for the Python API, which turns its `kind` into an exception class:
//!
//! ```text
//! {"kind":"gated","message":"failed to list …","causes":["access to model `org/x` …"],
//!  "hints":["request access …"],"exit_code":1}
//! ```
//!
//! Kinds are stable names (see [`kind`]); a new failure gets a new kind, an old kind keeps its
//! meaning.

use std::process::ExitCode;

use crate::app::{NotOnDisk, Unverifiable};
use crate::download::{ChecksumMismatch, Interrupted};
use crate::hub::HubError;
use crate::output;
use crate::settings::UsageError;

/// How a failure is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// Lines on stderr, for people.
    Human,
    /// One JSON object on stdout, for the Python API.
    Json,
}

pub(crate) const EXIT_FAILURE: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Reports the error chain and hints in `style`; returns the exit code.
pub(crate) fn error(err: &anyhow::Error, style: Style) -> ExitCode {
    match style {
        Style::Human => human(err),
        Style::Json => output::line(&json(err).to_string()),
    }
    ExitCode::from(exit_code(err))
}

/// The report as one JSON object.
fn json(err: &anyhow::Error) -> serde_json::Value {
    let causes: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
    serde_json::json!({
        "kind": kind(err),
        "message": err.to_string(),
        "causes": causes,
        "hints": hints(err),
        "exit_code": exit_code(err),
    })
}

/// The stable name of what went wrong: the first cause in the chain with a type that says.
fn kind(err: &anyhow::Error) -> &'static str {
    err.chain().find_map(kind_of).unwrap_or("other")
}

fn kind_of(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    if cause.is::<Interrupted>() {
        return Some("interrupted");
    }
    if cause.is::<UsageError>() {
        return Some("usage");
    }
    if cause.is::<NotOnDisk>() {
        return Some("offline_missing");
    }
    if cause.is::<ChecksumMismatch>() {
        return Some("checksum_mismatch");
    }
    if cause.is::<Unverifiable>() {
        return Some("unverifiable");
    }
    let hub = cause.downcast_ref::<HubError>()?;
    Some(match hub {
        HubError::RepoNotFound { .. } => "repository_not_found",
        HubError::Gated { .. } => "gated",
        HubError::RevisionNotFound { .. } => "revision_not_found",
        HubError::EntryNotFound { .. } => "entry_not_found",
        HubError::Offline { .. } => "offline_missing",
        HubError::Forbidden { .. } | HubError::RateLimited { .. } | HubError::Status { .. } => {
            "http"
        }
        HubError::UnreachableRedirect { .. } => "unreachable",
        HubError::Transport { .. } if hub.is_unreachable() => "unreachable",
        _ => "transfer",
    })
}

#[expect(clippy::print_stderr, reason = "errors go to stderr")]
fn human(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    for hint in hints(err) {
        eprintln!("hint: {hint}");
    }
}

fn hints(err: &anyhow::Error) -> Vec<String> {
    let mut hints: Vec<String> = err
        .chain()
        .filter_map(|c| c.downcast_ref::<HubError>())
        .filter_map(HubError::hint)
        .collect();
    let disk_full = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| {
            e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
        })
    });
    if disk_full {
        hints.push("free some space, then rerun the same command: downloaded data is kept".into());
    }
    hints.dedup();
    hints
}

fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|c| c.is::<Interrupted>()) {
        EXIT_INTERRUPTED
    } else if err.chain().any(|c| c.is::<UsageError>()) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_come_from_types() {
        let usage = anyhow::Error::new(UsageError("x".into()));
        assert_eq!(exit_code(&usage), EXIT_USAGE);
        let stopped = anyhow::Error::new(Interrupted).context("while downloading");
        assert_eq!(exit_code(&stopped), EXIT_INTERRUPTED);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), EXIT_FAILURE);
    }

    #[test]
    fn kinds_come_from_the_first_typed_cause() {
        let gated = anyhow::Error::new(HubError::Gated {
            subject: crate::hub::Subject::default(),
        })
        .context("failed to list");
        assert_eq!(kind(&gated), "gated");
        let missing = anyhow::Error::new(NotOnDisk("x".into())).context("offline mode");
        assert_eq!(kind(&missing), "offline_missing");
        let bad = anyhow::Error::new(ChecksumMismatch {
            path: "a".into(),
            expected: "1".into(),
            actual: "2".into(),
        });
        assert_eq!(kind(&bad), "checksum_mismatch");
        assert_eq!(kind(&anyhow::anyhow!("boom")), "other");
        let doc = json(&gated);
        assert_eq!(doc["kind"], "gated");
        assert_eq!(doc["message"], "failed to list");
        assert_eq!(doc["exit_code"], 1);
        assert!(doc["hints"][0].as_str().unwrap().contains("request access"));
    }
}
