//! Repository references as the official CLI accepts them: `org/name`, `datasets/org/name`,
//! `hf://[TYPE/]org/name[@REVISION][/PATH]`, with `--repo-type` and `--revision`.

use anyhow::Result;

use super::usage;
use crate::cli::RepoTypeArg;
use crate::repo::{Repo, RepoId, RepoType, Revision};

/// A repository reference as the official CLI accepts it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RepoRef {
    pub(super) repo: Repo,
    pub(super) revision: Revision,
    pub(super) path: Option<String>,
}

impl RepoRef {
    /// Parses `org/name`, `datasets/org/name` or `hf://[TYPE/]org/name[@REV][/PATH]`.
    pub(super) fn parse(
        raw: &str,
        type_flag: Option<RepoTypeArg>,
        revision: Option<&str>,
    ) -> Result<Self> {
        let flag_type = type_flag.map(|t| match t {
            RepoTypeArg::Model => RepoType::Model,
            RepoTypeArg::Dataset => RepoType::Dataset,
            RepoTypeArg::Space => RepoType::Space,
            RepoTypeArg::Kernel => RepoType::Kernel,
        });
        if let Some(uri) = raw.strip_prefix("hf://") {
            if type_flag.is_some() || revision.is_some() {
                return Err(usage(
                    "--repo-type and --revision cannot be used with an `hf://` URI",
                ));
            }
            return Self::parse_uri(uri);
        }
        let (prefix_type, id) = match raw.split('/').collect::<Vec<_>>()[..] {
            [prefix, ns, name] if RepoType::from_plural(prefix).is_some() => {
                (RepoType::from_plural(prefix), format!("{ns}/{name}"))
            }
            _ => (None, raw.to_owned()),
        };
        if prefix_type.is_some() && flag_type.is_some() {
            return Err(usage(format!(
                "ambiguous repo type: `{raw}` has a type prefix and --repo-type was given"
            )));
        }
        let revision = match revision {
            Some(rev) => Revision::new(rev).map_err(usage)?,
            None => Revision::main(),
        };
        Ok(Self {
            repo: Repo {
                kind: prefix_type.or(flag_type).unwrap_or_default(),
                id: RepoId::parse(&id).map_err(usage)?,
            },
            revision,
            path: None,
        })
    }

    fn parse_uri(uri: &str) -> Result<Self> {
        let invalid = |why: &str| usage(format!("invalid HF URI `hf://{uri}`: {why}"));
        let mut segments: Vec<&str> = uri.split('/').collect();
        let kind = match RepoType::from_plural(segments[0]) {
            Some(kind) => {
                segments.remove(0);
                kind
            }
            None => RepoType::Model,
        };
        if segments.len() < 2 {
            return Err(invalid(
                "expected `hf://[TYPE/]namespace/name[@REVISION][/PATH]`",
            ));
        }
        let rest = segments[1..].join("/");
        let (name, revision, path) = match rest.split_once('@') {
            Some((name, after)) if !name.contains('/') => {
                let (rev, path) = split_uri_revision(after);
                let rev = percent_encoding::percent_decode_str(&rev)
                    .decode_utf8_lossy()
                    .into_owned();
                (name.to_owned(), Revision::new(&rev).map_err(usage)?, path)
            }
            _ => match rest.split_once('/') {
                Some((name, path)) => (name.to_owned(), Revision::main(), Some(path.to_owned())),
                None => (rest.clone(), Revision::main(), None),
            },
        };
        let id = RepoId::parse(&format!("{}/{name}", segments[0])).map_err(usage)?;
        Ok(Self {
            repo: Repo { kind, id },
            revision,
            path: path.filter(|p| !p.is_empty()),
        })
    }
}

/// Splits `REV/PATH`; `refs/pr/N` and `refs/convert/NAME` keep their slashes.
fn split_uri_revision(after: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = after.split('/').collect();
    let take = if parts.len() >= 3 && parts[0] == "refs" && ["pr", "convert"].contains(&parts[1]) {
        3
    } else {
        1
    };
    let take = take.min(parts.len());
    let rev = parts[..take].join("/");
    let path = (parts.len() > take).then(|| parts[take..].join("/"));
    (rev, path)
}
