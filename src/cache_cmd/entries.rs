//! Which entries `hfdl cache ls` shows, with `hf cache ls`'s semantics: one entry per repo (or
//! per revision with `--revisions`) ordered by `type/id` (then commit), kept by every
//! `--filter`, ordered by `--sort` (a stable sort, so ties keep that order), cut by `--limit`.
//!
//! A filter is `KEY OP VALUE` with OP one of `=`, `!=`, `>`, `<`, `>=`, `<=`:
//! - `size`: the revision's size (the repo's without `--revisions`) against a size (`500`,
//!   `10MB`, `1g`: k/kb, m/mb, g/gb, t/tb, p/pb, powers of 1000);
//! - `accessed` / `modified`: the age in seconds of the repo's last access (also per revision)
//!   / the revision's (or repo's) last modification, against a duration (`30`, `7d`: s, m, h,
//!   d, w, mo = 30 d, y = 365 d);
//! - `type` (`=` only, case-insensitive): the repo type;
//! - `refs` (`=` only, case-insensitive): one of the revision's refs (all the repo's refs).

use std::cmp::Ordering;
use std::time::SystemTime;

use regex::Regex;

use crate::layout::{CacheScan, CachedRepo, CachedRevision};
use crate::settings::UsageError;

/// One row of `cache ls`: a repo, or one of its revisions.
#[derive(Clone, Copy)]
pub(super) struct Entry<'a> {
    pub(super) repo: &'a CachedRepo,
    pub(super) revision: Option<&'a CachedRevision>,
}

impl Entry<'_> {
    fn size(&self) -> u64 {
        self.revision.map_or(self.repo.size, |r| r.size)
    }
    fn modified(&self) -> SystemTime {
        self.revision
            .map_or(self.repo.last_modified, |r| r.last_modified)
    }
    fn refs(&self) -> Vec<&str> {
        match self.revision {
            Some(rev) => rev.refs.iter().map(String::as_str).collect(),
            None => (self.repo.revisions.iter())
                .flat_map(|r| r.refs.iter().map(String::as_str))
                .collect(),
        }
    }
}

/// `cache ls`'s selection.
pub(super) struct Select<'a> {
    pub(super) revisions: bool,
    pub(super) filters: &'a [String],
    pub(super) sort: Option<&'a str>,
    pub(super) limit: Option<usize>,
}

/// The entries to show, in order.
pub(super) fn select<'a>(
    scan: &'a CacheScan,
    how: &Select<'_>,
) -> Result<Vec<Entry<'a>>, UsageError> {
    let filters = (how.filters.iter())
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut entries: Vec<Entry<'a>> = if how.revisions {
        (scan.repos.iter())
            .flat_map(|repo| {
                (repo.revisions.iter()).map(move |rev| Entry {
                    repo,
                    revision: Some(rev),
                })
            })
            .collect()
    } else {
        (scan.repos.iter())
            .map(|repo| Entry {
                repo,
                revision: None,
            })
            .collect()
    };
    entries.sort_by_cached_key(|e| (e.repo.cache_id(), e.revision.map(|r| r.commit.clone())));
    let now = SystemTime::now();
    entries.retain(|e| filters.iter().all(|f| f.keeps(e, now)));
    if let Some(sort) = how.sort {
        sort_entries(&mut entries, sort);
    }
    if let Some(limit) = how.limit {
        entries.truncate(limit);
    }
    Ok(entries)
}

/// `name`, `size`, `accessed`, `modified`, each optionally `:asc` / `:desc`.
fn sort_entries(entries: &mut [Entry<'_>], sort: &str) {
    let (key, order) = sort.split_once(':').unwrap_or((sort, ""));
    let descending = match order {
        "asc" => false,
        "desc" => true,
        _ => key != "name",
    };
    let seconds = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let value = |e: &Entry<'_>| -> (f64, String) {
        match key {
            "size" => (e.size() as f64, String::new()),
            "accessed" => (seconds(e.repo.last_accessed), String::new()),
            "modified" => (seconds(e.modified()), String::new()),
            _ => (0.0, e.repo.cache_id().to_lowercase()),
        }
    };
    entries.sort_by(|a, b| {
        let (a, b) = (value(a), value(b));
        let ord = a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1));
        if descending { ord.reverse() } else { ord }
    });
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

impl Op {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Self::Eq => ord.is_eq(),
            Self::Ne => ord.is_ne(),
            Self::Gt => ord.is_gt(),
            Self::Lt => ord.is_lt(),
            Self::Ge => ord.is_ge(),
            Self::Le => ord.is_le(),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Filter {
    Size(Op, i128),
    Accessed(Op, i128),
    Modified(Op, i128),
    Type(String),
    Refs(String),
}

const KEYS: &str = "['accessed', 'modified', 'refs', 'size', 'type']";

impl Filter {
    fn parse(expr: &str) -> Result<Self, UsageError> {
        let pattern = Regex::new(
            r"^(?<key>[a-zA-Z_]+)[ \t\r\n]*(?<op>==|!=|>=|<=|>|<|=)[ \t\r\n]*(?<value>.+)$",
        )
        .expect("a valid regex");
        let bad = |why: String| UsageError(format!("invalid --filter `{expr}`: {why}"));
        let trimmed = expr.trim();
        let caps = (pattern.captures(trimmed))
            .ok_or_else(|| bad("expected KEY OP VALUE, e.g. `size>1GB`".into()))?;
        let key = caps["key"].to_lowercase();
        let value = caps["value"].trim();
        let op = match &caps["op"] {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            other => {
                return Err(bad(format!(
                    "unsupported operator `{other}`: use one of =, !=, >, <, >=, <="
                )));
            }
        };
        let equality = |make: fn(String) -> Self| {
            if op == Op::Eq {
                Ok(make(value.to_lowercase()))
            } else {
                Err(bad(format!("only `=` is supported for `{key}`")))
            }
        };
        match key.as_str() {
            "size" => Ok(Self::Size(op, with_unit(value, SIZE_UNITS).map_err(bad)?)),
            "accessed" => Ok(Self::Accessed(
                op,
                with_unit(value, TIME_UNITS).map_err(bad)?,
            )),
            "modified" => Ok(Self::Modified(
                op,
                with_unit(value, TIME_UNITS).map_err(bad)?,
            )),
            "type" => equality(Self::Type),
            "refs" => equality(Self::Refs),
            _ => Err(bad(format!("unknown key `{key}`: use one of {KEYS}"))),
        }
    }

    fn keeps(&self, entry: &Entry<'_>, now: SystemTime) -> bool {
        let age = |t: SystemTime| match now.duration_since(t) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let compare = |left: f64, op: Op, right: i128| op.holds(left.total_cmp(&(right as f64)));
        match self {
            Self::Size(op, n) => compare(entry.size() as f64, *op, *n),
            Self::Accessed(op, n) => compare(age(entry.repo.last_accessed), *op, *n),
            Self::Modified(op, n) => compare(age(entry.modified()), *op, *n),
            Self::Type(kind) => entry.repo.kind.eq_ignore_ascii_case(kind),
            Self::Refs(name) => entry.refs().iter().any(|r| r.to_lowercase() == *name),
        }
    }
}

const SIZE_UNITS: &[(&str, i128)] = &[
    ("k", 1_000),
    ("kb", 1_000),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
    ("p", 1_000_000_000_000_000),
    ("pb", 1_000_000_000_000_000),
];

const TIME_UNITS: &[(&str, i128)] = &[
    ("s", 1),
    ("m", 60),
    ("h", 3_600),
    ("d", 86_400),
    ("w", 604_800),
    ("mo", 2_592_000),
    ("y", 31_536_000),
];

/// A plain integer, or digits and a unit (`10MB`, `7d`), as huggingface_hub parses them.
fn with_unit(value: &str, units: &[(&str, i128)]) -> Result<i128, String> {
    if let Ok(n) = value.parse::<i128>() {
        return Ok(n);
    }
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || unit.is_empty() || !unit.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "invalid value `{value}`: expected a number, or digits and a unit"
        ));
    }
    let n: i128 = digits
        .parse()
        .map_err(|_| format!("`{value}` is too large"))?;
    let unit = unit.to_ascii_lowercase();
    let names: Vec<&str> = units.iter().map(|(u, _)| *u).collect();
    let (_, factor) = (units.iter().find(|(u, _)| *u == unit))
        .ok_or_else(|| format!("unknown unit `{unit}`: use one of {}", names.join(", ")))?;
    n.checked_mul(*factor)
        .ok_or_else(|| format!("`{value}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_hf_parses_them() {
        assert_eq!(
            Filter::parse(" size >= 1GB ").unwrap(),
            Filter::Size(Op::Ge, 1_000_000_000)
        );
        assert_eq!(
            Filter::parse("accessed>7d").unwrap(),
            Filter::Accessed(Op::Gt, 7 * 86_400)
        );
        assert_eq!(
            Filter::parse("Modified<2mo").unwrap(),
            Filter::Modified(Op::Lt, 2 * 2_592_000)
        );
        assert_eq!(
            Filter::parse("type=Model").unwrap(),
            Filter::Type("model".into())
        );
        assert_eq!(Filter::parse("size=-5").unwrap(), Filter::Size(Op::Eq, -5));
        for bad in [
            "size==1",
            "type!=model",
            "refs>main",
            "color=red",
            "size>1XB",
            "size>",
            "size>1.5G",
            "nothing",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
