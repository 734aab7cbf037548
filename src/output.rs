//! The only writer to stdout: each command's result, nothing else. A closed pipe
//! (`hfdl ... | head -1`) is not an error.

use std::io::Write;

/// Writes `text` and a newline to stdout.
pub(crate) fn line(text: &str) {
    bytes(format!("{text}\n").as_bytes());
}

/// Writes raw bytes to stdout.
pub(crate) fn bytes(data: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(data).and_then(|()| out.flush());
}
