//! What the Hub tells us about files: serde models of its JSON at the boundary, and the
//! domain types handed to the rest of the program.

use serde::Deserialize;

use crate::repo::{Checksum, CommitHash, ETag, RepoPath, XetHash};

/// A file of the repository at a commit, as the tree listing (or a HEAD) describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RemoteFile {
    pub(crate) path: RepoPath,
    /// The size of the content; unknown only when a HEAD did not say.
    pub(crate) size: Option<u64>,
    /// The cache's name for the content: the LFS sha256, or the git blob sha1.
    pub(crate) etag: ETag,
    /// The git blob id (of the LFS pointer for LFS files), when the listing gave it.
    pub(crate) blob_id: Option<String>,
    /// The content is stored in LFS (its etag is then the sha256).
    pub(crate) lfs: bool,
    /// How the content can be checked: what the etag is a digest of, if anything.
    pub(crate) checksum: Checksum,
    /// The Xet hash of the content, when the listing gave a valid one.
    pub(crate) xet_hash: Option<XetHash>,
}

/// `GET /api/{type}s/{repo}/revision/{rev}`.
#[derive(Debug, Deserialize)]
pub(crate) struct RepoInfoJson {
    pub(crate) sha: Option<String>,
}

/// One entry of `GET /api/{type}s/{repo}/tree/{commit}?recursive=true`.
#[derive(Debug, Deserialize)]
pub(crate) struct TreeEntryJson {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) oid: Option<String>,
    #[serde(default)]
    pub(crate) size: Option<u64>,
    #[serde(default)]
    pub(crate) lfs: Option<LfsJson>,
    #[serde(default, rename = "xetHash")]
    pub(crate) xet_hash: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LfsJson {
    pub(crate) oid: String,
    pub(crate) size: u64,
}

impl TreeEntryJson {
    /// Turns a file entry into a [`RemoteFile`]; `Ok(None)` for folders.
    pub(crate) fn into_remote_file(self) -> Result<Option<RemoteFile>, String> {
        if self.kind != "file" {
            return Ok(None);
        }
        let path = RepoPath::parse(&self.path)?;
        let (etag, size) = match &self.lfs {
            Some(lfs) => (lfs.oid.as_str(), Some(lfs.size)),
            None => (self.oid.as_deref().unwrap_or(""), self.size),
        };
        let etag = ETag::parse(etag).ok_or_else(|| format!("file `{path}` has no valid oid"))?;
        Ok(Some(RemoteFile {
            path,
            size,
            checksum: etag.checksum(),
            etag,
            blob_id: self.oid.clone(),
            lfs: self.lfs.is_some(),
            xet_hash: self.xet_hash.as_deref().and_then(XetHash::parse),
        }))
    }
}

/// What a HEAD on a resolve URL tells about one file.
#[derive(Clone, Debug)]
pub(crate) struct FileMeta {
    pub(crate) commit: CommitHash,
    /// `None` when the answer named no digest of the content (no `ETag`, or an LFS redirect
    /// without `X-Linked-Etag`): the listing must then say what the file is.
    pub(crate) file: Option<RemoteFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfs_entries_use_the_sha256() {
        let json = format!(
            r#"[{{"type":"file","oid":"{}","size":134,"path":"m.bin","lfs":{{"oid":"{}","size":9,"pointerSize":134}}}},
               {{"type":"directory","oid":"{}","path":"sub"}},
               {{"type":"file","oid":"{}","size":3,"path":"sub/a.txt"}}]"#,
            "1".repeat(40),
            "2".repeat(64),
            "3".repeat(40),
            "4".repeat(40)
        );
        let entries: Vec<TreeEntryJson> = serde_json::from_str(&json).unwrap();
        let files: Vec<RemoteFile> = entries
            .into_iter()
            .filter_map(|e| e.into_remote_file().unwrap())
            .collect();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].etag.as_str(), "2".repeat(64));
        assert_eq!(files[0].size, Some(9));
        assert_eq!(files[1].etag.as_str(), "4".repeat(40));
    }

    #[test]
    fn traversal_paths_are_refused() {
        let entry: TreeEntryJson = serde_json::from_str(&format!(
            r#"{{"type":"file","oid":"{}","size":1,"path":"../evil"}}"#,
            "1".repeat(40)
        ))
        .unwrap();
        assert!(entry.into_remote_file().is_err());
    }
}
