//! An index from field paths (`spec.faults[2].duration`) to where they are written.
//!
//! serde only tells us the path of a problem, and not even that inside internally tagged
//! enums, whose content serde buffers before it picks the variant. Walking the parser's
//! events once gives the line and column of every key and value, so any problem with a
//! path can be pointed at, including those found by validation after parsing.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, Span};

use super::Location;

/// Nesting beyond this is not indexed; the loader's budget refuses such files anyway.
const MAX_DEPTH: usize = 64;
/// Events beyond this are not indexed, so a hostile file cannot make the index expensive.
const MAX_EVENTS: usize = 200_000;
/// Bytes of paths beyond this are not indexed: each path repeats its ancestors' keys, so a
/// long key over many children would otherwise make the index far larger than the file.
const MAX_PATH_BYTES: usize = 4 * 1024 * 1024;

/// Where one node of the document is written.
#[derive(Clone, Debug, Default)]
struct Node {
    /// The node itself (a scalar's first character, a flow collection's bracket, or the
    /// first entry of a block collection).
    value: Option<Location>,
    /// For a mapping: its keys in document order, with their locations.
    keys: Vec<(String, Location)>,
    /// For a scalar: its text.
    scalar: Option<String>,
}

/// Field paths of one YAML document mapped to their locations.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    nodes: HashMap<String, Node>,
}

enum Frame {
    Mapping {
        path: String,
        /// The key read and waiting for its value.
        pending_key: Option<String>,
    },
    Sequence {
        path: String,
        next: usize,
    },
}

fn location(span: &Span) -> Location {
    Location {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// Joins a mapping key to its parent's path.
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl PathIndex {
    /// Indexes the first document of `text`; stops quietly at a syntax error or a limit.
    pub(crate) fn build(text: &str) -> Self {
        let mut index = PathIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        let mut events = 0usize;
        let mut path_bytes = 0usize;
        while let Some(Ok((event, span))) = parser.next_event() {
            events += 1;
            if events > MAX_EVENTS {
                break;
            }
            let loc = location(&span);
            match event {
                Event::DocumentEnd => break,
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                    if stack.is_empty() {
                        break;
                    }
                }
                Event::Scalar(..)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
                | Event::Alias(_) => {
                    let scalar = match &event {
                        Event::Scalar(text, ..) => Some(text.to_string()),
                        _ => None,
                    };
                    // A scalar in key position is a key, not a node of its own.
                    if let Some(Frame::Mapping { pending_key, path }) = stack.last_mut()
                        && pending_key.is_none()
                    {
                        let key = scalar.unwrap_or_else(|| "?".to_owned());
                        if let Some(node) = index.nodes.get_mut(path.as_str()) {
                            node.keys.push((key.clone(), loc));
                        }
                        *pending_key = Some(key);
                        if matches!(event, Event::MappingStart(..) | Event::SequenceStart(..)) {
                            // A complex key: skip its content by indexing it nowhere.
                            stack.push(Frame::Sequence {
                                path: "\u{0}".to_owned(),
                                next: 0,
                            });
                        }
                        continue;
                    }
                    let path = match stack.last_mut() {
                        None => String::new(),
                        Some(Frame::Mapping { path, pending_key }) => {
                            let key = pending_key.take().unwrap_or_else(|| "?".to_owned());
                            child_path(path, &key)
                        }
                        Some(Frame::Sequence { path, next }) => {
                            *next += 1;
                            format!("{path}[{}]", *next - 1)
                        }
                    };
                    path_bytes += path.len();
                    if path_bytes > MAX_PATH_BYTES {
                        break;
                    }
                    index.nodes.entry(path.clone()).or_insert(Node {
                        value: Some(loc),
                        keys: Vec::new(),
                        scalar,
                    });
                    match event {
                        Event::MappingStart(..) => stack.push(Frame::Mapping {
                            path,
                            pending_key: None,
                        }),
                        Event::SequenceStart(..) => stack.push(Frame::Sequence { path, next: 0 }),
                        _ => {}
                    }
                    if stack.len() > MAX_DEPTH {
                        break;
                    }
                }
                _ => {}
            }
        }
        index
    }

    /// Where the value at `path` is written, if it is written at all.
    pub(crate) fn value(&self, path: &str) -> Option<Location> {
        self.nodes.get(path).and_then(|n| n.value)
    }

    /// Where the key `key` of the mapping at `path` is written.
    pub(crate) fn key(&self, path: &str, key: &str) -> Option<Location> {
        self.nodes
            .get(path)?
            .keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, loc)| *loc)
    }

    /// The text of the scalar at `path`.
    pub(crate) fn scalar(&self, path: &str) -> Option<&str> {
        self.nodes.get(path).and_then(|n| n.scalar.as_deref())
    }

    /// The longest prefix of `path` that is written in the file.
    pub(crate) fn deepest<'a>(&self, path: &'a str) -> &'a str {
        let mut p = path;
        while !p.is_empty() && !self.nodes.contains_key(p) {
            p = parent(p);
        }
        p
    }

    /// The value at `path`, or else that of its nearest written ancestor.
    pub(crate) fn nearest(&self, path: &str) -> Option<Location> {
        let mut p = path;
        loop {
            if let Some(loc) = self.value(p) {
                return Some(loc);
            }
            if p.is_empty() {
                return None;
            }
            p = parent(p);
        }
    }

    /// Paths under `path` (itself included), in document order.
    fn subtree<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a String, &'a Node)> {
        let mut found: Vec<_> = self
            .nodes
            .iter()
            .filter(move |(p, _)| within(p, path))
            .collect();
        found.sort_by_key(|(_, n)| n.value.map(|l| (l.line, l.column)));
        found.into_iter()
    }

    /// Paths of the scalars under `path` whose text is exactly `text`, in document order.
    pub(crate) fn scalars_under(&self, path: &str, text: &str) -> Vec<String> {
        self.subtree(path)
            .filter(|(_, n)| n.scalar.as_deref() == Some(text))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Paths of the list items under `path` that are mappings without the key `key`.
    pub(crate) fn items_without_key(&self, path: &str, key: &str) -> Vec<String> {
        self.subtree(path)
            .filter(|(p, n)| {
                p.ends_with(']')
                    && n.scalar.is_none()
                    && !n.keys.is_empty()
                    && n.keys.iter().all(|(k, _)| k != key)
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Paths of the mappings under `path` that have the key `key`, in document order.
    pub(crate) fn mappings_with_key(&self, path: &str, key: &str) -> Vec<String> {
        self.subtree(path)
            .filter(|(_, n)| n.keys.iter().any(|(k, _)| k == key))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// True when `path` is `ancestor` or lies under it.
fn within(path: &str, ancestor: &str) -> bool {
    ancestor.is_empty()
        || path == ancestor
        || (path.starts_with(ancestor)
            && matches!(path.as_bytes().get(ancestor.len()), Some(b'.' | b'[')))
}

/// The path of the node containing `path` (`a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``).
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
a: 1
b:
  c: [x, {d: y}]
  e:
    - f: 2
      g: three
";

    #[test]
    fn locates_keys_and_values() {
        let index = PathIndex::build(DOC);
        assert_eq!(index.value("a"), Some(Location { line: 1, column: 4 }));
        assert_eq!(
            index.value("b.c[1].d"),
            Some(Location {
                line: 3,
                column: 14
            })
        );
        assert_eq!(
            index.value("b.e[0].g"),
            Some(Location {
                line: 6,
                column: 10
            })
        );
        assert_eq!(
            index.key("b.e[0]", "g"),
            Some(Location { line: 6, column: 7 })
        );
        assert_eq!(index.scalars_under("b", "three"), vec!["b.e[0].g"]);
        assert_eq!(index.mappings_with_key("b", "d"), vec!["b.c[1]"]);
        assert!(index.mappings_with_key("b.c[1].d", "d").is_empty());
        assert_eq!(index.items_without_key("b", "f"), vec!["b.c[1]"]);
    }

    #[test]
    fn nearest_walks_up_to_a_written_ancestor() {
        let index = PathIndex::build(DOC);
        assert_eq!(index.nearest("b.e[0].missing"), index.value("b.e[0]"));
        assert_eq!(index.nearest("zzz"), index.value(""));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("a.b[2]"), "a.b");
        assert_eq!(parent("a.b"), "a");
        assert_eq!(parent("a"), "");
    }

    #[test]
    fn a_long_key_over_many_children_keeps_the_index_small() {
        // Every child's path repeats its parents' keys: 2,000 children under a 20 KB key
        // indexed 40 MB of paths, and a 1 MiB file could ask for gigabytes.
        let mut text = format!("{}:\n", "k".repeat(20_000));
        for i in 0..2_000 {
            text.push_str(&format!("  c{i}: 1\n"));
        }
        let index = PathIndex::build(&text);
        let bytes: usize = index.nodes.keys().map(String::len).sum();
        assert!(bytes <= MAX_PATH_BYTES, "{bytes} bytes of paths indexed");
        assert!(index.value("").is_some(), "the start is still indexed");
    }

    #[test]
    fn stops_at_syntax_errors_without_panicking() {
        let index = PathIndex::build("a: 1\nb: [\n");
        assert!(index.value("a").is_some());
    }
}
