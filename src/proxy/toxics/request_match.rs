//! The request match of the HTTP toxics (`http_error`, `http_latency`): which requests a
//! toxic acts on. A request the match does not select passes untouched.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which HTTP requests a toxic acts on. Every condition given must hold; a match with no
/// condition is refused by `check`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestMatch {
    /// The request method, compared case-sensitively as HTTP says (`GET`, not `get`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A prefix of the path, compared as text: `/pay` selects `/pay`, `/pay/1` and
    /// `/payments`; write `/pay/` for the folder only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// A regular expression (Rust `regex` syntax) searched for in the path; anchor it with
    /// `^` and `$` to match the whole path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<PathRegex>,
    /// A header the request must carry with exactly this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
}

/// A header condition: the name compared case-insensitively, the value exactly (after the
/// whitespace around it, which HTTP ignores). Any one of several fields of that name may match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// The header name, such as `x-tenant`.
    pub name: String,
    /// The exact value, such as `blue`.
    pub value: String,
}

/// A path regular expression, compiled once when it is built. One that does not compile
/// is kept with its error so that `check` can name it; it matches nothing.
#[derive(Clone)]
pub struct PathRegex {
    source: String,
    compiled: Result<regex::Regex, String>,
}

impl PathRegex {
    /// Compiles `source`.
    pub fn new(source: impl Into<String>) -> Self {
        let source = source.into();
        let compiled = regex::Regex::new(&source).map_err(|e| e.to_string());
        Self { source, compiled }
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Why the expression does not compile, if it does not.
    pub fn error(&self) -> Option<&str> {
        self.compiled.as_ref().err().map(String::as_str)
    }

    /// Whether the expression occurs in `path`.
    pub fn is_match(&self, path: &str) -> bool {
        self.compiled.as_ref().is_ok_and(|r| r.is_match(path))
    }
}

impl fmt::Debug for PathRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

impl PartialEq for PathRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for PathRegex {}

impl Serialize for PathRegex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for PathRegex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// What a match looks at in a request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method as sent.
    pub method: String,
    /// The path of the request target, without the query: `/pay/1` for `/pay/1?x=2` and for
    /// `http://host/pay/1?x=2`; `*` for `OPTIONS *`. Not percent-decoded.
    pub path: String,
    /// The header fields, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl RequestHead {
    /// Reads a complete request head; `None` if it is not one.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        Some(Self {
            method: req.method?.to_owned(),
            path: path_of(req.path?).to_owned(),
            headers: req
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
        })
    }
}

/// The path of a request target (origin form or absolute form), without the query.
fn path_of(target: &str) -> &str {
    let target = match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let rest = &target[i + 3..];
            match rest.find(['/', '?']) {
                Some(j) if rest[j..].starts_with('/') => &rest[j..],
                _ => "/",
            }
        }
        _ => target,
    };
    match target.find(['?', '#']) {
        Some(i) => &target[..i],
        None => target,
    }
}

/// Whether `s` is an HTTP token (RFC 9110 section 5.6.2), as methods and header names are.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl RequestMatch {
    /// Problems with the match, as `(field, message)`; the field starts with `match.`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.method.is_none()
            && self.path_prefix.is_none()
            && self.path_regex.is_none()
            && self.header.is_none()
        {
            return Err((
                "match",
                "names no condition: give method, path_prefix, path_regex or header".to_owned(),
            ));
        }
        if let Some(method) = &self.method
            && !is_token(method)
        {
            return Err((
                "match.method",
                if method.is_empty() {
                    "is empty: write a method such as GET".to_owned()
                } else {
                    format!("{method:?} is not an HTTP method: write one such as GET")
                },
            ));
        }
        if let Some(prefix) = &self.path_prefix
            && !(prefix.starts_with('/') || prefix == "*")
        {
            return Err((
                "match.path_prefix",
                format!("{prefix:?} does not start with /"),
            ));
        }
        if let Some(regex) = &self.path_regex {
            if regex.as_str().is_empty() {
                return Err((
                    "match.path_regex",
                    "is empty: leave it out to match every path".to_owned(),
                ));
            }
            if let Some(error) = regex.error() {
                return Err((
                    "match.path_regex",
                    format!("is not a regular expression: {error}"),
                ));
            }
        }
        if let Some(header) = &self.header {
            if !is_token(&header.name) {
                return Err((
                    "match.header.name",
                    format!("{:?} is not a header name", header.name),
                ));
            }
            if header.value.contains(['\r', '\n', '\0']) {
                return Err((
                    "match.header.value",
                    "holds a line break or NUL, which no header value can".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// Whether the request meets every condition.
    pub fn matches(&self, head: &RequestHead) -> bool {
        self.method.as_ref().is_none_or(|m| *m == head.method)
            && self
                .path_prefix
                .as_ref()
                .is_none_or(|p| head.path.starts_with(p.as_str()))
            && self
                .path_regex
                .as_ref()
                .is_none_or(|r| r.is_match(&head.path))
            && self.header.as_ref().is_none_or(|h| {
                head.headers.iter().any(|(name, value)| {
                    name.eq_ignore_ascii_case(&h.name) && value.trim_ascii() == h.value.as_bytes()
                })
            })
    }

    /// Whether the request whose head is `bytes` is selected; a head that does not parse is
    /// not.
    pub fn matches_bytes(&self, bytes: &[u8]) -> bool {
        RequestHead::parse(bytes).is_some_and(|h| self.matches(&h))
    }
}

/// Whether an optional match selects a request, parsing its head at most once for all the
/// toxics that judge it (no match selects every request).
pub(crate) struct Selector<'a> {
    bytes: &'a [u8],
    head: Option<Option<RequestHead>>,
}

impl<'a> Selector<'a> {
    /// A selector for the request head `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, head: None }
    }

    /// Whether `m` (none: every request) selects the request.
    pub(crate) fn selects(&mut self, m: Option<&RequestMatch>) -> bool {
        let Some(m) = m else { return true };
        let bytes = self.bytes;
        self.head
            .get_or_insert_with(|| RequestHead::parse(bytes))
            .as_ref()
            .is_some_and(|h| m.matches(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> RequestHead {
        RequestHead::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn every_condition_must_hold() {
        let m = RequestMatch {
            method: Some("POST".into()),
            path_prefix: Some("/pay".into()),
            path_regex: Some(PathRegex::new("^/pay/[0-9]+$")),
            header: Some(HeaderMatch {
                name: "X-Tenant".into(),
                value: "blue".into(),
            }),
        };
        assert_eq!(m.check(), Ok(()));
        assert!(m.matches(&head(
            "POST /pay/12?card=1 HTTP/1.1\r\nx-tenant:  blue \r\n\r\n"
        )));
        for miss in [
            "GET /pay/12 HTTP/1.1\r\nx-tenant: blue\r\n\r\n",
            "post /pay/12 HTTP/1.1\r\nx-tenant: blue\r\n\r\n",
            "POST /cart/12 HTTP/1.1\r\nx-tenant: blue\r\n\r\n",
            "POST /pay/x HTTP/1.1\r\nx-tenant: blue\r\n\r\n",
            "POST /pay/12 HTTP/1.1\r\nx-tenant: Blue\r\n\r\n",
            "POST /pay/12 HTTP/1.1\r\n\r\n",
        ] {
            assert!(!m.matches(&head(miss)), "{miss}");
        }
    }

    #[test]
    fn the_path_leaves_out_the_query_and_the_authority() {
        assert_eq!(head("GET /a/b?c=/d HTTP/1.1\r\n\r\n").path, "/a/b");
        assert_eq!(head("GET http://h:8/a?q HTTP/1.1\r\n\r\n").path, "/a");
        assert_eq!(head("GET http://h:8?q HTTP/1.1\r\n\r\n").path, "/");
        assert_eq!(head("OPTIONS * HTTP/1.1\r\n\r\n").path, "*");
        let m = RequestMatch {
            path_regex: Some(PathRegex::new("d$")),
            ..RequestMatch::default()
        };
        assert!(!m.matches(&head("GET /a/b?c=/d HTTP/1.1\r\n\r\n")));
        assert!(!m.matches_bytes(b"GET /d HTTP/1.1\r\n"), "a partial head");
    }

    #[test]
    fn check_names_the_field() {
        let bad = |m: RequestMatch| m.check().unwrap_err().0;
        assert_eq!(bad(RequestMatch::default()), "match");
        assert_eq!(
            bad(RequestMatch {
                method: Some(String::new()),
                ..RequestMatch::default()
            }),
            "match.method"
        );
        assert_eq!(
            bad(RequestMatch {
                path_prefix: Some("pay".into()),
                ..RequestMatch::default()
            }),
            "match.path_prefix"
        );
        let (field, message) = RequestMatch {
            path_regex: Some(PathRegex::new("/pay/(")),
            ..RequestMatch::default()
        }
        .check()
        .unwrap_err();
        assert_eq!(field, "match.path_regex");
        assert!(
            message.starts_with("is not a regular expression"),
            "{message}"
        );
        assert_eq!(
            bad(RequestMatch {
                header: Some(HeaderMatch {
                    name: "x tenant".into(),
                    value: "a".into()
                }),
                ..RequestMatch::default()
            }),
            "match.header.name"
        );
    }

    #[test]
    fn reads_and_writes_snake_case_json() {
        let m: RequestMatch = serde_json::from_value(serde_json::json!({
            "path_prefix": "/pay", "header": {"name": "x-a", "value": "1"}
        }))
        .unwrap();
        assert_eq!(m.path_prefix.as_deref(), Some("/pay"));
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"path_prefix": "/pay", "header": {"name": "x-a", "value": "1"}})
        );
        assert!(serde_json::from_value::<RequestMatch>(serde_json::json!({"path": "/"})).is_err());
    }
}
