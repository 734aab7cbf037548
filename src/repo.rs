//! The Hub's vocabulary as validated types: repo ids and types, revisions, commits, etags and
//! repo-relative paths.
//!
//! Everything from the user or the network is parsed into these types before any other module
//! sees it ("parse, don't validate"). This module does no I/O and knows nothing about HTTP or
//! directories.

use std::fmt;

/// The kinds of repositories the Hub hosts (kernels since huggingface_hub 1.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum RepoType {
    #[default]
    Model,
    Dataset,
    Space,
    Kernel,
}

impl RepoType {
    /// The singular name, as `--repo-type` spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::Dataset => "dataset",
            Self::Space => "space",
            Self::Kernel => "kernel",
        }
    }

    /// The plural used in API URLs, cache folder names and `hf://` URIs.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Self::Model => "models",
            Self::Dataset => "datasets",
            Self::Space => "spaces",
            Self::Kernel => "kernels",
        }
    }

    /// Parses the plural form used as a prefix (`datasets/org/name`, `hf://spaces/...`).
    pub(crate) fn from_plural(s: &str) -> Option<Self> {
        match s {
            "models" => Some(Self::Model),
            "datasets" => Some(Self::Dataset),
            "spaces" => Some(Self::Space),
            "kernels" => Some(Self::Kernel),
            _ => None,
        }
    }

    /// The prefix of resolve URLs: empty for models.
    pub(crate) fn url_prefix(self) -> &'static str {
        match self {
            Self::Model => "",
            Self::Dataset => "datasets/",
            Self::Space => "spaces/",
            Self::Kernel => "kernels/",
        }
    }
}

/// A validated repository id: `name` or `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RepoId(String);

impl RepoId {
    /// Validates an id with the official client's rules (`validate_repo_id`).
    pub(crate) fn parse(id: &str) -> Result<Self, String> {
        let parts: Vec<&str> = id.split('/').collect();
        if parts.len() > 2 {
            return Err(format!(
                "invalid repo id `{id}`: expected `name` or `namespace/name`"
            ));
        }
        if id.contains("--") || id.contains("..") {
            return Err(format!(
                "invalid repo id `{id}`: cannot contain `--` or `..`"
            ));
        }
        if id.ends_with(".git") {
            return Err(format!("invalid repo id `{id}`: cannot end with `.git`"));
        }
        for part in parts {
            if !is_valid_id_part(part) {
                return Err(format!(
                    "invalid repo id `{id}`: each part must be 1-96 characters of \
                     [A-Za-z0-9_.-], starting and ending with a letter, digit or `_`"
                ));
            }
        }
        Ok(Self(id.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_id_part(part: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    (1..=96).contains(&part.len())
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && part.starts_with(word)
        && part.ends_with(word)
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A repository: its type and id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Repo {
    pub(crate) kind: RepoType,
    pub(crate) id: RepoId,
}

impl Repo {
    /// The cache folder name: `models--org--name`.
    pub(crate) fn folder_name(&self) -> String {
        format!(
            "{}--{}",
            self.kind.plural(),
            self.id.as_str().replace('/', "--")
        )
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind.as_str(), self.id)
    }
}

/// A revision as the user named it: a branch, tag, commit or ref such as `refs/pr/1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Revision(String);

impl Revision {
    pub(crate) fn new(rev: &str) -> Result<Self, String> {
        let bad = rev.is_empty()
            || rev.starts_with('/')
            || rev
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            || rev.contains(['\\', '\0', '\n']);
        if bad {
            return Err(format!("invalid revision `{rev}`"));
        }
        Ok(Self(rev.to_owned()))
    }

    pub(crate) fn main() -> Self {
        Self("main".to_owned())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The commit this revision already is, when it is a full lower-case hash.
    pub(crate) fn as_commit(&self) -> Option<CommitHash> {
        CommitHash::parse(&self.0)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A full 40-hex lower-case commit hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CommitHash(String);

impl CommitHash {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        is_lower_hex(s, 40).then(|| Self(s.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A normalised etag: the sha256 of an LFS file or the git blob sha1 of a regular file.
///
/// It names the blob in the cache, so it is restricted to hex digits and safe in paths.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ETag(String);

impl ETag {
    /// Normalises a header value: strips a weak `W/` prefix and quotes.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
        let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| Self(s.to_ascii_lowercase()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// What the etag is a digest of, which decides how a download is verified.
    pub(crate) fn checksum(&self) -> Checksum {
        match self.0.len() {
            64 => Checksum::Sha256,
            40 => Checksum::GitSha1,
            _ => Checksum::None,
        }
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Xet hash of a file's content (64 lowercase hex digits), as the listing's `xetHash`
/// gives it: the name of its entry in huggingface_hub's shared blob store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct XetHash(String);

impl XetHash {
    /// Accepts exactly what huggingface_hub accepts (`[0-9a-f]{64}`), nothing else.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Self(raw.to_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a file's content can be checked against its etag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Checksum {
    /// LFS files: the etag is the sha256 of the content.
    Sha256,
    /// Regular files: the etag is `sha1("blob <len>\0" + content)`.
    GitSha1,
    /// An etag that is neither (some mirrors): only the size is checked.
    None,
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A path inside a repository, safe to join onto a directory.
///
/// The rules are huggingface_hub 2.4's (`_validate_relative_filename`), with its words: no `..`
/// segment (split on `/` or `\`), nothing anchored under POSIX or Windows rules (a leading `/`;
/// a segment starting with `\`, which covers UNC paths, or with a drive such as `C:`). A
/// backslash elsewhere is part of a file name, as there. Refused beyond those: the empty path,
/// empty and `.` segments and NUL, which no git tree can hold (only a hostile server sends them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RepoPath(String);

impl RepoPath {
    pub(crate) fn parse(path: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            Err(format!(
                "Invalid filename '{path}': {why}. Please ask the repository owner to rename \
                 this file."
            ))
        };
        let anchored = |s: &str| {
            let b = s.as_bytes();
            s.starts_with('\\') || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
        };
        if path.replace('\\', "/").split('/').any(|s| s == "..") {
            invalid("cannot contain a '..' path segment")
        } else if path.starts_with('/') || path.split('/').any(anchored) {
            invalid("cannot be an absolute, drive-relative or UNC path")
        } else if path.is_empty() || path.split('/').any(|s| s.is_empty() || s == ".") {
            invalid("cannot be empty or contain an empty or '.' path segment")
        } else if path.contains('\0') {
            invalid("cannot contain a NUL byte")
        } else {
            Ok(Self(path.to_owned()))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments, for joining onto a directory.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_follow_the_official_rules() {
        for ok in ["gpt2", "org/model", "a_b/c.d-e", "x/y_"] {
            assert!(RepoId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a/b/c", "a--b/c", "a/..b", "a/b.git", "-a/b", "a/b-", "a b/c", "/a",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folder_names_match_the_cache() {
        let repo = Repo {
            kind: RepoType::Dataset,
            id: RepoId::parse("google/fleurs").unwrap(),
        };
        assert_eq!(repo.folder_name(), "datasets--google--fleurs");
        let repo = Repo {
            kind: RepoType::Model,
            id: RepoId::parse("gpt2").unwrap(),
        };
        assert_eq!(repo.folder_name(), "models--gpt2");
    }

    #[test]
    fn etags_are_normalised() {
        assert_eq!(ETag::parse("W/\"AbC1\"").unwrap().as_str(), "abc1");
        assert!(ETag::parse("\"../x\"").is_none());
        assert_eq!(
            ETag::parse(&"a".repeat(64)).unwrap().checksum(),
            Checksum::Sha256
        );
    }

    #[test]
    fn repo_paths_cannot_escape() {
        for good in [
            "a/b c/d.json",
            "dïr/naïve ☃.txt",
            "a\\b.txt",
            "x/1:2",
            "a..b/..c",
        ] {
            assert!(RepoPath::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a\\..\\b",
            "\\\\host\\share\\x",
            "a/\\root",
            "a//b",
            "C:/x",
            "d/C:x",
            "./a",
            "a\0b",
        ] {
            assert!(RepoPath::parse(bad).is_err(), "{bad}");
        }
        let err = RepoPath::parse("a/../b").unwrap_err();
        assert!(
            err.starts_with("Invalid filename 'a/../b': cannot contain a '..'"),
            "{err}"
        );
    }

    #[test]
    fn only_full_lowercase_hashes_are_commits() {
        assert!(
            Revision::new(&"a".repeat(40))
                .unwrap()
                .as_commit()
                .is_some()
        );
        assert!(
            Revision::new(&"A".repeat(40))
                .unwrap()
                .as_commit()
                .is_none()
        );
        assert!(Revision::new("abc123").unwrap().as_commit().is_none());
        assert!(Revision::new("refs/pr/1").is_ok());
        assert!(Revision::new("../x").is_err());
    }
}
