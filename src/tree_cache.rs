//! The listing cache `trees/<commit>.json` of huggingface_hub >= 1.22, in its format:
//! `{"format_version": 1, "files": {path: {size, blob_id, lfs_sha256?, lfs_size?, xet_hash?}}}`.
//!
//! huggingface_hub trusts this file instead of listing the tree again, and uses it offline to
//! tell a complete snapshot from an incomplete one, so it is written only from a complete
//! listing. hfdl reads it for the same offline check. Bytes are stored by `layout`; this module
//! only converts between them and the file list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hub::RemoteFile;
use crate::repo::{ETag, RepoPath, XetHash};

#[derive(Debug, Serialize, Deserialize)]
struct TreeCache {
    format_version: u32,
    files: BTreeMap<String, Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    size: u64,
    blob_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lfs_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lfs_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xet_hash: Option<String>,
}

/// Serialises a complete listing; `None` if some entry lacks what the format needs.
pub(crate) fn to_bytes(files: &[RemoteFile]) -> Option<Vec<u8>> {
    let mut map = BTreeMap::new();
    for file in files {
        let size = file.size?;
        let entry = Entry {
            size,
            blob_id: file.blob_id.clone()?,
            lfs_sha256: file.lfs.then(|| file.etag.to_string()),
            lfs_size: file.lfs.then_some(size),
            xet_hash: file.xet_hash.as_ref().map(|x| x.as_str().to_owned()),
        };
        map.insert(file.path.to_string(), entry);
    }
    let cache = TreeCache {
        format_version: 1,
        files: map,
    };
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    cache.serialize(&mut serializer).ok()?;
    Some(ascii_escaped(&String::from_utf8(out).ok()?).into_bytes())
}

/// JSON as Python's `json.dump` writes it by default (`ensure_ascii`): every non-ASCII
/// character as `\uXXXX` (lowercase hex, surrogate pairs beyond the BMP). Outside strings JSON
/// is ASCII, so escaping the whole text is escaping the strings.
fn ascii_escaped(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The files a cached listing names, if it is valid (every entry, or `None`).
pub(crate) fn files(bytes: &[u8]) -> Option<Vec<RemoteFile>> {
    let cache: TreeCache = serde_json::from_slice(bytes).ok()?;
    if cache.format_version != 1 {
        return None;
    }
    let entry = |(path, e): (String, Entry)| {
        let lfs = e.lfs_sha256.is_some();
        // As huggingface_hub: a listing with an invalid Xet hash is no listing.
        let xet_hash = match &e.xet_hash {
            Some(raw) => Some(XetHash::parse(raw)?),
            None => None,
        };
        let etag = ETag::parse(e.lfs_sha256.as_deref().unwrap_or(&e.blob_id))?;
        Some(RemoteFile {
            path: RepoPath::parse(&path).ok()?,
            size: Some(e.lfs_size.unwrap_or(e.size)),
            checksum: etag.checksum(),
            etag,
            blob_id: Some(e.blob_id),
            lfs,
            xet_hash,
        })
    };
    cache.files.into_iter().map(entry).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::Checksum;

    #[test]
    fn round_trips_in_the_official_format() {
        let files = vec![
            RemoteFile {
                path: RepoPath::parse("m.bin").unwrap(),
                size: Some(9),
                etag: ETag::parse(&"a".repeat(64)).unwrap(),
                blob_id: Some("b".repeat(40)),
                lfs: true,
                checksum: Checksum::Sha256,
                xet_hash: XetHash::parse(&"d".repeat(64)),
            },
            RemoteFile {
                path: RepoPath::parse("c.json").unwrap(),
                size: Some(2),
                etag: ETag::parse(&"c".repeat(40)).unwrap(),
                blob_id: Some("c".repeat(40)),
                lfs: false,
                checksum: Checksum::GitSha1,
                xet_hash: None,
            },
        ];
        assert_eq!(
            ascii_escaped("{\"dïr/☃ 😀\": 1}"),
            r#"{"d\u00efr/\u2603 \ud83d\ude00": 1}"#
        );
        let bytes = to_bytes(&files).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("{\n \"format_version\": 1,\n \"files\": {\n  \"c.json\""),
            "{text}"
        );
        assert!(text.contains("\"lfs_sha256\""));
        let mut back = super::files(&bytes).unwrap();
        back.sort_by(|a, b| b.path.as_str().cmp(a.path.as_str()));
        assert_eq!(back, files);
        assert_eq!(
            super::files(b"{\"format_version\": 2, \"files\": {}}"),
            None
        );
    }
}
