//! Pure parsing of the Hub's response headers: `X-Repo-Commit`, `(X-Linked-)ETag`,
//! `X-Linked-Size`, `Content-Range`, `Link` pagination and `Retry-After`.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::repo::{CommitHash, ETag};

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `X-Repo-Commit`: the commit a resolve request was answered at.
pub(crate) fn repo_commit(headers: &HeaderMap) -> Option<CommitHash> {
    text(headers, "x-repo-commit").and_then(CommitHash::parse)
}

/// The file's etag: `X-Linked-Etag` (LFS sha256) if present, else `ETag`.
pub(crate) fn file_etag(headers: &HeaderMap) -> Option<ETag> {
    text(headers, "x-linked-etag")
        .or_else(|| text(headers, "etag"))
        .and_then(ETag::parse)
}

/// Whether the response names the content's own etag (`X-Linked-Etag`).
pub(crate) fn has_linked_etag(headers: &HeaderMap) -> bool {
    headers.contains_key("x-linked-etag")
}

/// The file's size: `X-Linked-Size`, else `Content-Length` unless the response is a redirect
/// (whose length is that of the redirect body, not the file).
pub(crate) fn file_size(headers: &HeaderMap, is_redirect: bool) -> Option<u64> {
    let linked = text(headers, "x-linked-size").and_then(|v| v.parse().ok());
    let length = || text(headers, "content-length").and_then(|v| v.parse().ok());
    linked.or_else(|| if is_redirect { None } else { length() })
}

/// A parsed `Content-Range: bytes START-END/TOTAL` (END inclusive; TOTAL may be `*`), with
/// `START <= END < TOTAL`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub(crate) start: u64,
    pub(crate) end_inclusive: u64,
    pub(crate) total: Option<u64>,
}

/// `Content-Range`, if it is well-formed and consistent.
pub(crate) fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    let value = text(headers, "content-range")?;
    let rest = value.strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let (start, end_inclusive) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total = if total.trim() == "*" {
        None
    } else {
        Some(total.trim().parse().ok()?)
    };
    // RFC 9110 §14.4: invalid if last-pos < first-pos or complete-length <= last-pos.
    let is_valid = start <= end_inclusive && total.is_none_or(|total| end_inclusive < total);
    is_valid.then_some(ContentRange {
        start,
        end_inclusive,
        total,
    })
}

/// The `rel="next"` target of a `Link` header.
///
/// Parsed as RFC 8288 §3 writes it, because a cut-short listing looks complete: the target is
/// what lies between `<` and `>` (commas and semicolons included), parameters may be quoted
/// strings holding `,` or `;`, and `rel` is a list of relation types. See:
/// <https://www.rfc-editor.org/rfc/rfc8288#section-3>
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_in_link_value)
}

fn next_in_link_value(value: &str) -> Option<String> {
    let mut rest = value;
    while !rest.is_empty() {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(open) = rest.strip_prefix('<') else {
            rest = split_unquoted(rest, ',').1;
            continue;
        };
        let (target, after) = open.split_once('>')?;
        let (params, tail) = split_unquoted(after, ',');
        // A stray `<` starts the target again; blanks and quotes are never part of a URI.
        let target = target.rsplit('<').next().unwrap_or(target).trim();
        let is_uri =
            !target.is_empty() && !target.contains(|c: char| c.is_whitespace() || c == '"');
        if is_uri && has_next_rel(params) {
            return Some(target.to_owned());
        }
        rest = tail;
    }
    None
}

/// Whether the first `rel` of `; name=value` parameters lists `next` (case-insensitively).
fn has_next_rel(params: &str) -> bool {
    let Some(mut params) = params.trim_start().strip_prefix(';') else {
        return false;
    };
    while !params.is_empty() {
        let (param, tail) = split_unquoted(params, ';');
        params = tail;
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.trim().eq_ignore_ascii_case("rel") {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return value
                .split_ascii_whitespace()
                .any(|rel| rel.eq_ignore_ascii_case("next"));
        }
    }
    false
}

/// Splits at the first `delim` outside a quoted string (`"..."`, with `\` escapes).
fn split_unquoted(s: &str, delim: char) -> (&str, &str) {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if c == delim && !quoted => return (&s[..i], &s[i + c.len_utf8()..]),
            _ => {}
        }
    }
    (s, "")
}

/// `Retry-After` in seconds (HTTP dates are ignored, as the official client does).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    text(headers, "retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn content_ranges() {
        let cases = [
            ("bytes 0-9/100", Some((0, 9, Some(100)))),
            ("bytes 5-5/*", Some((5, 5, None))),
            ("bytes 9-5/100", None),
            ("bytes 0-99/100", Some((0, 99, Some(100)))),
            ("bytes 0-100/100", None),
            // Found by fuzzing (`headers`, minimised): the range ended past the total.
            ("bytes5-9/8", None),
            ("items 0-9/100", None),
            ("bytes 0-x/100", None),
        ];
        for (value, want) in cases {
            let got = content_range(&headers(&[("content-range", value)]))
                .map(|r| (r.start, r.end_inclusive, r.total));
            assert_eq!(got, want, "{value}");
        }
    }

    #[test]
    fn size_ignores_redirect_length() {
        let h = headers(&[("content-length", "10")]);
        assert_eq!(file_size(&h, true), None);
        assert_eq!(file_size(&h, false), Some(10));
        let h = headers(&[("content-length", "10"), ("x-linked-size", "99")]);
        assert_eq!(file_size(&h, true), Some(99));
    }

    #[test]
    fn linked_etag_wins() {
        let h = headers(&[("etag", "\"aa\""), ("x-linked-etag", "\"bb\"")]);
        assert_eq!(file_etag(&h).unwrap().as_str(), "bb");
    }

    #[test]
    fn link_pagination() {
        let h = headers(&[(
            "link",
            "<https://h/api/x?cursor=2>; rel=\"next\", <https://h/api/x?cursor=0>; rel=\"first\"",
        )]);
        assert_eq!(next_link(&h).as_deref(), Some("https://h/api/x?cursor=2"));
        assert_eq!(next_link(&headers(&[])), None);
    }

    #[test]
    fn link_targets_and_params_follow_rfc_8288() {
        let cases = [
            (
                "<https://h/a?c=1,2;x>; rel=\"next\"",
                Some("https://h/a?c=1,2;x"),
            ),
            (
                "<https://h/p>; rel=prev, <https://h/n>; REL=NEXT",
                Some("https://h/n"),
            ),
            ("<https://h/n>; rel=\"last next\"", Some("https://h/n")),
            (
                "<https://h/l>; rel=\"last\", <https://h/n>; rel = \"next\"",
                Some("https://h/n"),
            ),
            // Found by fuzzing (`headers`, round trip of a seed): a quoted parameter holding `,`
            // and `;` cut the link short, so the next page was never fetched.
            (
                "<8388608>; title=\"a, b; rel=\\\"x\\\"\"; rel=\"last next\"",
                Some("8388608"),
            ),
            ("junk, <https://h/n>; rel=next", Some("https://h/n")),
            // Found by fuzzing a first draft of this parser: a stray `<` made the target
            // `", <https://h/p?a=3`.
            (
                "<\", <https://h/p?a=3>; rel=\"next\"",
                Some("https://h/p?a=3"),
            ),
            ("<https://h/a b>; rel=next", None),
            ("<https://h/n>; title=\"rel=next\"", None),
            ("<https://h/n>; rel=\"nextpage\"", None),
            ("<>; rel=next", None),
            ("<https://h/n; rel=next", None),
            ("<https://h/n>; rel=prev; rel=next", None),
        ];
        for (value, want) in cases {
            let got = next_link(&headers(&[("link", value)]));
            assert_eq!(got.as_deref(), want, "{value}");
        }
    }
}
