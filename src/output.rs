//! The only writer to stdout: each command's result, nothing else, in the output mode the
//! user asked for (`--format human|agent|json|quiet`, as `hf` 2.4 renders them). A closed
//! pipe (`hfdl ... | head -1`) is not an error.
//!
//! JSON documents are built by the commands themselves (each documents its own); this module
//! renders the other modes: a result ([`result`]) and a table ([`table`]).

use std::io::Write;

/// How results are printed: the modes of `hf` 2.4's `--format`, `auto` already resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// For people: `✓ message` and `  key: value` lines, aligned tables.
    Human,
    /// For AI agents: `key=value` pairs on one line, tab-separated tables.
    Agent,
    /// One JSON document.
    Json,
    /// The first value of a result, or one id per table row.
    Quiet,
}

/// The mode, and whether human output may be coloured (`NO_COLOR` unset).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) mode: Mode,
    pub(crate) color: bool,
}

impl Format {
    pub(crate) const QUIET: Self = Self {
        mode: Mode::Quiet,
        color: false,
    };

    pub(crate) fn is(self, mode: Mode) -> bool {
        self.mode == mode
    }
}

/// Writes `text` and a newline to stdout.
pub(crate) fn line(text: &str) {
    bytes(format!("{text}\n").as_bytes());
}

/// Writes raw bytes to stdout.
pub(crate) fn bytes(data: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(data).and_then(|()| out.flush());
}

/// A success summary as `hf`'s `out.result` prints it (human: a green `✓ message` then
/// `  key: value` lines; agent: `key=value` pairs, or the message if none; quiet: the first
/// value). JSON callers print their own document instead: this writes `{key: value}` only if
/// asked in JSON mode.
pub(crate) fn result(format: Format, message: &str, fields: &[(&str, String)]) {
    let text = match format.mode {
        Mode::Human => {
            let head = format!("✓ {message}");
            let head = if format.color {
                format!("\u{1b}[32m{head}\u{1b}[0m")
            } else {
                head
            };
            let lines = fields.iter().map(|(k, v)| format!("  {k}: {v}"));
            std::iter::once(head)
                .chain(lines)
                .collect::<Vec<_>>()
                .join("\n")
        }
        Mode::Agent if fields.is_empty() => message.to_owned(),
        Mode::Agent => (fields.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        Mode::Json => {
            let map: serde_json::Map<String, serde_json::Value> = (fields.iter())
                .map(|(k, v)| ((*k).to_owned(), v.as_str().into()))
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        Mode::Quiet => match fields.first() {
            Some((_, v)) => v.clone(),
            None => return,
        },
    };
    line(&text);
}

/// Free text for people and agents (`hf`'s `out.text`): nothing in JSON and quiet modes.
pub(crate) fn text(format: Format, text: &str) {
    if matches!(format.mode, Mode::Human | Mode::Agent) {
        line(text);
    }
}

/// A table in agent or quiet mode: `hf`'s tab-separated rows under lowercase `keys` (tabs and
/// line breaks inside a cell become spaces), or only the `id` column, one value per line.
/// Human tables and JSON are each command's own; this prints nothing for them.
pub(crate) fn table(format: Format, keys: &[&str], rows: &[Vec<String>], id: usize) {
    match format.mode {
        Mode::Agent if rows.is_empty() => line("No results found."),
        Mode::Agent => {
            line(&keys.join("\t"));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| single_line(c)).collect();
                line(&cells.join("\t"));
            }
        }
        Mode::Quiet => {
            for row in rows {
                line(&single_line(&row[id]));
            }
        }
        Mode::Human | Mode::Json => {}
    }
}

/// Decimal units with one decimal, as huggingface_hub prints sizes (`1.5K`, `301.2M`).
pub(crate) fn size(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["", "K", "M", "G", "T", "P", "E", "Z"] {
        if value < 1000.0 {
            return format!("{value:.1}{unit}");
        }
        value /= 1000.0;
    }
    format!("{value:.1}Y")
}

/// Collapses whitespace runs (tabs, line breaks) to single spaces, as `hf` does per cell.
fn single_line(cell: &str) -> String {
    cell.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(single_line("a\tb\nc  d"), "a b c d");
    }
}
