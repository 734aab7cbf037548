//! Turns a failed run into lines on stderr and an exit code:
//!
//! ```text
//! error: failed to download `model.safetensors`
//!   caused by: request to `https://…` failed
//!   caused by: connection refused
//! hint: check the endpoint (`HF_ENDPOINT`) and your connection; rerun to resume
//! ```
//!
//! Exit codes: 1 runtime failure, 2 usage error, 130 interrupted. Codes and hints come from
//! the error types (downcasts), never from message text. Used only by `main`.

use std::process::ExitCode;

use crate::download::Interrupted;
use crate::hub::HubError;
use crate::settings::UsageError;

pub(crate) const EXIT_FAILURE: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Prints the error chain and hints; returns the exit code.
#[expect(clippy::print_stderr, reason = "errors go to stderr")]
pub(crate) fn error(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    for hint in hints(err) {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(exit_code(err))
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
}
