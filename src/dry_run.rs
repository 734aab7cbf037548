//! `hfdl download --dry-run`: the plan without downloading. Each file with its size and
//! whether it is already present, the total to transfer, and whether the disk has room.

use std::path::Path;

use anyhow::Result;
use indicatif::HumanBytes;

use crate::hub::RemoteFile;
use crate::layout::{Layout, Presence};
use crate::output;
use crate::repo::CommitHash;

/// Prints the plan for `files` at `commit` into `layout`.
pub(crate) fn print(
    layout: &Layout,
    commit: &CommitHash,
    files: &[RemoteFile],
    json: bool,
) -> Result<()> {
    let rows: Vec<(&RemoteFile, bool)> = files
        .iter()
        .map(|f| {
            let present = matches!(
                layout.presence(commit, &f.path, &f.etag),
                Presence::Complete | Presence::Adopt
            );
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
    if json {
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

/// Free bytes on the filesystem that would hold `path` (its nearest existing ancestor).
fn free_space(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    fs4::available_space(existing).ok()
}
