//! `hfdl download --dry-run`: the plan without downloading. Each file with its size and
//! whether it is already present, the total to transfer, and whether the disk has room.

use std::path::Path;

use anyhow::Result;
use indicatif::HumanBytes;

use crate::hub::RemoteFile;
use crate::layout::{Layout, Presence, StoreFile};
use crate::output::{self, Format, Mode};
use crate::repo::CommitHash;

/// Prints the plan for `files` at `commit` into `layout`.
pub(crate) fn print(
    layout: &Layout,
    commit: &CommitHash,
    files: &[RemoteFile],
    format: Format,
) -> Result<()> {
    let rows: Vec<(&RemoteFile, bool)> = files
        .iter()
        .map(|f| {
            let store = StoreFile {
                path: &f.path,
                etag: &f.etag,
                xet: f.xet_hash.as_ref(),
                size: f.size,
            };
            // A file the shared store holds counts as present, as in `hf --dry-run`.
            let present = matches!(
                layout.presence(commit, &f.path, &f.etag),
                Presence::Complete | Presence::Adopt
            ) || layout.in_store(&store);
            (f, present)
        })
        .collect();
    let needed: u64 = rows
        .iter()
        .filter(|(_, p)| !p)
        .filter_map(|(f, _)| f.size)
        .sum();
    let count = rows.iter().filter(|(_, p)| !p).count();
    let target = layout.result_path(commit, None);
    let free = free_space(&target);
    let fits = free.is_none_or(|free| free >= needed);
    if matches!(format.mode, Mode::Agent | Mode::Quiet) {
        print_like_hf(format, &rows);
        return Ok(());
    }
    if format.is(Mode::Json) {
        let files: Vec<serde_json::Value> = rows
            .iter()
            .map(|(f, present)| serde_json::json!({"path": f.path.as_str(), "size": f.size, "present": present}))
            .collect();
        let doc = serde_json::json!({
            "commit": commit.as_str(),
            "files": files,
            "download_files": count,
            "download_bytes": needed,
            "free_bytes": free,
            "fits": fits,
        });
        output::line(&doc.to_string());
        return Ok(());
    }
    let width = rows
        .iter()
        .map(|(f, _)| f.path.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    output::line(&format!("{:<width$}  {:>10}  PRESENT", "FILE", "SIZE"));
    for (f, present) in &rows {
        let size = f
            .size
            .map_or_else(|| "?".into(), |s| HumanBytes(s).to_string());
        let present = if *present { "yes" } else { "no" };
        output::line(&format!(
            "{:<width$}  {size:>10}  {present}",
            f.path.as_str()
        ));
    }
    let room = match free {
        Some(free) if fits => format!("{} free: enough room", HumanBytes(free)),
        Some(free) => format!("{} free: NOT enough room", HumanBytes(free)),
        None => "free space unknown".into(),
    };
    output::line(&format!(
        "[dry-run] would download {count} of {} files, {}; {room} at {}",
        rows.len(),
        HumanBytes(needed),
        target.display()
    ));
    Ok(())
}

/// Agent and quiet modes, as `hf download --dry-run` prints them: `[dry-run] Will download N
/// files (out of M) totalling X.` and a `file`/`size` table sorted by name (`-` for a file
/// already present), or only the names.
fn print_like_hf(format: Format, rows: &[(&RemoteFile, bool)]) {
    let wanted = rows.iter().filter(|(_, present)| !present);
    let sizes: Option<Vec<u64>> = wanted.clone().map(|(f, _)| f.size).collect();
    let total = sizes.map_or_else(
        || "an unknown size".to_owned(),
        |s| output::size(s.iter().sum()),
    );
    output::text(
        format,
        &format!(
            "[dry-run] Will download {} files (out of {}) totalling {total}.",
            wanted.count(),
            rows.len()
        ),
    );
    let mut table: Vec<Vec<String>> = (rows.iter())
        .map(|(f, present)| {
            let size = match (present, f.size) {
                (false, Some(size)) => output::size(size),
                _ => "-".to_owned(),
            };
            vec![f.path.as_str().to_owned(), size]
        })
        .collect();
    table.sort();
    output::table(format, &["file", "size"], &table, 0);
}

/// Free bytes on the filesystem that would hold `path` (its nearest existing ancestor).
fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    fs4::available_space(existing).ok()
}
