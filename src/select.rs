//! `--include`/`--exclude` and filename patterns, with the official client's `fnmatch`
//! semantics: `*` and `?` also match `/`, `[seq]`/`[!seq]` are classes, `**` is just `*`, there
//! is no escape character and no `{a,b}` alternation, a pattern ending in `/` means everything
//! under that folder, and backslashes count as `/`. Matching is case-sensitive, on the whole path.

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::hub::RemoteFile;

/// Compiled allow and deny patterns.
#[derive(Debug)]
pub(crate) struct Filter {
    allow: Option<GlobSet>,
    deny: GlobSet,
}

impl Filter {
    pub(crate) fn new(allow: &[String], deny: &[String]) -> Result<Self> {
        Ok(Self {
            allow: if allow.is_empty() {
                None
            } else {
                Some(compile(allow)?)
            },
            deny: compile(deny)?,
        })
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        self.allow.as_ref().is_none_or(|a| a.is_match(path)) && !self.deny.is_match(path)
    }

    /// Keeps the files the patterns select, in listing order.
    pub(crate) fn apply(&self, files: Vec<RemoteFile>) -> Vec<RemoteFile> {
        files
            .into_iter()
            .filter(|f| self.matches(f.path.as_str()))
            .collect()
    }
}

fn compile(patterns: &[String]) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = GlobBuilder::new(&to_glob(pattern))
            .literal_separator(false)
            .backslash_escape(false)
            .build()
            .with_context(|| format!("invalid pattern `{pattern}`"))?;
        set.add(glob);
    }
    set.build().context("invalid patterns")
}

/// Rewrites an fnmatch pattern into the equivalent globset syntax.
fn to_glob(pattern: &str) -> String {
    let mut pattern = pattern.replace('\\', "/");
    if pattern.ends_with('/') {
        pattern.push('*');
    }
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // `[!` and a leading `]` belong to the class.
                if chars.peek() == Some(&'!') {
                    out.push(chars.next().expect("peeked"));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().expect("peeked"));
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '{' | '}' if !in_class => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            '*' if !in_class => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push('*');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(allow: &[&str], deny: &[&str], path: &str) -> bool {
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Filter::new(&own(allow), &own(deny)).unwrap().matches(path)
    }

    #[test]
    fn star_crosses_slashes() {
        assert!(m(&["*.json"], &[], "a/b/c.json"));
        assert!(m(&["*.json"], &[], "c.json"));
        assert!(!m(&["config.json"], &[], "sub/config.json"));
        assert!(m(&["*config.json"], &[], "sub/config.json"));
        assert!(m(&["a?b"], &[], "a/b"));
    }

    #[test]
    fn folders_and_classes() {
        assert!(m(&["sub/"], &[], "sub/x/y.bin"));
        assert!(!m(&["sub/"], &[], "subway.bin"));
        assert!(m(&["[ab].txt"], &[], "a.txt"));
        assert!(m(&["[!ab].txt"], &[], "c.txt"));
        assert!(!m(&["[!ab].txt"], &[], "a.txt"));
        assert!(m(&["{a,b}.txt"], &[], "{a,b}.txt"));
        assert!(!m(&["{a,b}.txt"], &[], "a.txt"));
        assert!(m(&["a/**/b"], &[], "a/x/y/b"));
        assert!(m(&["sub\\*.bin"], &[], "sub/w.bin"));
    }

    #[test]
    fn exclude_wins_and_case_matters() {
        assert!(!m(&["*.bin"], &["*big*"], "big.bin"));
        assert!(m(&[], &["*.md"], "x.bin"));
        assert!(!m(&["*.JSON"], &[], "a.json"));
    }
}
