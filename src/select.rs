//! `--include`/`--exclude` and filename patterns, with the official client's `fnmatch`
//! semantics: `*` and `?` also match `/`, `[seq]`/`[!seq]` are classes, `**` is just `*`, there
//! is no escape character and no `{a,b}` alternation, a pattern ending in `/` means everything
//! under that folder, and backslashes count as `/`. Matching is case-sensitive, on the whole path.
//!
//! Patterns are translated to regular expressions the way Python's `fnmatch.translate` does it,
//! so, like `fnmatch`, no pattern is refused: a `[` without its `]` is a literal, `^` does not
//! negate a class, a class of reversed ranges (`[z-a]`) matches nothing, and `?` or a class
//! matches one character, not one byte (globset matched bytes, see
//! <https://github.com/BurntSushi/ripgrep/issues/2873>).

use anyhow::{Context, Result};
use regex::RegexSet;

use crate::hub::RemoteFile;

/// Compiled allow and deny patterns.
#[derive(Debug)]
pub(crate) struct Filter {
    allow: Option<RegexSet>,
    deny: RegexSet,
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

fn compile(patterns: &[String]) -> Result<RegexSet> {
    // A pattern that matches nothing (`[z-a]`) is left out of the set.
    let regexes = patterns.iter().filter_map(|p| to_regex(p));
    RegexSet::new(regexes)
        .with_context(|| format!("invalid patterns (too large?): `{}`", patterns.join("`, `")))
}

/// Translates an fnmatch pattern into an anchored regex, as Python's `fnmatch.translate` does;
/// `None` if it matches nothing (a class holding only reversed ranges, such as `[z-a]`).
fn to_regex(pattern: &str) -> Option<String> {
    let mut chars: Vec<char> = pattern.replace('\\', "/").chars().collect();
    if chars.last() == Some(&'/') {
        chars.push('*');
    }
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        match c {
            '*' => {
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => match class_end(&chars, i) {
                Some(end) => {
                    out.push_str(&class(&chars[i..end])?);
                    i = end + 1;
                }
                None => push_literal(&mut out, '['),
            },
            _ => push_literal(&mut out, c),
        }
    }
    out.push('$');
    Some(out)
}

/// Where the class opened just before `start` closes; `None` if it never does (the `[` is then
/// a literal). A leading `!`, then a leading `]`, belong to the class.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start;
    if chars.get(j) == Some(&'!') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    (j..chars.len()).find(|&k| chars[k] == ']')
}

/// Appends `c` escaped, which makes it a literal inside a class as well as outside.
fn push_literal(out: &mut String, c: char) {
    out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
}

/// The regex form of a class body (what lies between `[` and `]`); `None` if it matches no
/// character. A leading `!` negates; `^` is a plain character, as in fnmatch.
fn class(body: &[char]) -> Option<String> {
    let (negated, body) = match body.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, body),
    };
    let members = class_members(body);
    if members.is_empty() {
        // fnmatch: an empty class never matches, an empty negated class matches any character.
        return negated.then(|| ".".to_owned());
    }
    let mut out = String::from(if negated { "[^" } else { "[" });
    for (lo, hi) in members {
        push_literal(&mut out, lo);
        if lo < hi {
            out.push('-');
            push_literal(&mut out, hi);
        }
    }
    out.push(']');
    Some(out)
}

/// The characters of a class body, as inclusive ranges, by fnmatch's rules: a `-` after the
/// first character of a chunk ends the chunk, the last character of a chunk and the first of
/// the next form a range, reversed ranges are dropped, and a trailing `-` is literal. See:
/// <https://github.com/python/cpython/blob/3.12/Lib/fnmatch.py> (`_translate`)
fn class_members(body: &[char]) -> Vec<(char, char)> {
    let mut chunks: Vec<Vec<char>> = Vec::new();
    let (mut start, mut from) = (0, 1);
    while let Some(hyphen) = (from..body.len()).find(|&k| body[k] == '-') {
        chunks.push(body[start..hyphen].to_vec());
        start = hyphen + 1;
        from = hyphen + 3;
    }
    match chunks.last_mut() {
        Some(last) if start == body.len() => last.push('-'),
        _ => chunks.push(body[start..].to_vec()),
    }
    for k in (1..chunks.len()).rev() {
        if chunks[k - 1].last() > chunks[k].first() {
            let next = chunks.remove(k);
            let prev = &mut chunks[k - 1];
            prev.pop();
            prev.extend_from_slice(next.get(1..).unwrap_or_default());
        }
    }
    let mut members = Vec::new();
    for (k, chunk) in chunks.iter().enumerate() {
        let first = usize::from(k > 0);
        let last = if k + 1 < chunks.len() {
            chunk.len().saturating_sub(1)
        } else {
            chunk.len()
        };
        members.extend(
            chunk
                .get(first..last)
                .unwrap_or_default()
                .iter()
                .map(|&c| (c, c)),
        );
        if k > 0
            && let (Some(&lo), Some(&hi)) = (chunks[k - 1].last(), chunk.first())
            && lo <= hi
        {
            members.push((lo, hi));
        }
    }
    members
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
    fn classes_read_as_python_fnmatch_reads_them() {
        // Each row was checked with Python 3's `fnmatch.fnmatchcase(path, pattern)`.
        let cases = [
            // Found by fuzzing (`patterns`): these were refused as invalid globs.
            ("[abc", "[abc", true),
            ("a[]b", "a[]b", true),
            ("[!]", "[!]", true),
            ("x[", "x[", true),
            ("[z-a]x", "bx", false),
            ("[z-a]x", "zx", false),
            ("[!z-a]x", "/x", true),
            // globset negates on `^`; fnmatch does not.
            ("[^a]", "^", true),
            ("[^a]", "a", true),
            ("[^a]", "b", false),
            ("[^!]", "!", true),
            ("[^!]", "^", true),
            ("[^!]", "a", false),
            ("[!^]", "^", false),
            ("[!^]", "a", true),
            ("[a-]", "-", true),
            ("[-a]", "-", true),
            ("[]-]", "]", true),
            ("[]-]", "-", true),
            ("[]-]", "a", false),
            ("[!]]", "a", true),
            ("[!]]", "]", false),
            ("[a-b-c]", "-", true),
            ("[a-b-c]", "c", true),
            ("[a-b-c]", "d", false),
            ("[c-b-a]", "-", true),
            ("[c-b-a]", "a", true),
            ("[c-b-a]", "b", false),
            ("[a-c-e]", "d", false),
            ("[a-c-e]", "-", true),
            ("[*]", "*", true),
            ("[*]", "a", false),
            ("a]b", "a]b", true),
            ("[[]", "[", true),
            // globset matched a byte where fnmatch matches a character.
            ("?", "é", true),
            ("数据?.json", "数据集.json", true),
            ("[é]", "é", true),
            ("[!a]", "é", true),
            ("[一-龥].txt", "中.txt", true),
            ("a?b", "a\nb", true),
            ("[&&a]", "&", true),
            ("[~-~]", "~", true),
            ("(a|b).*", "(a|b)x*", false),
            ("(a|b).*", "(a|b).json", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(m(&[pattern], &[], path), want, "{pattern:?} on {path:?}");
        }
    }

    #[test]
    fn exclude_wins_and_case_matters() {
        assert!(!m(&["*.bin"], &["*big*"], "big.bin"));
        assert!(m(&[], &["*.md"], "x.bin"));
        assert!(!m(&["*.JSON"], &[], "a.json"));
    }
}
