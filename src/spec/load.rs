//! Reading an experiment file into the typed document, with a location for every problem.
//!
//! The input is untrusted: it is refused before parsing when it is too large, and parsed
//! with budgets so that alias bombs, deep nesting and document storms fail fast.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::MessageFormatter;

use super::location::{PathIndex, child_path, parent};
use super::{Experiment, Location, Problem, Problems, SpecError, Suite};

/// The largest experiment file accepted, in bytes (1 MiB).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// The deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 32;
/// The most YAML nodes (scalars, mappings, sequences) a document may have.
pub const MAX_NODES: usize = 10_000;
/// The most anchors (`&name`) and aliases (`*name`) a document may have.
pub const MAX_ANCHORS_AND_ALIASES: usize = 100;
/// The most parser events that aliases may replay in total.
pub const MAX_REPLAYED_EVENTS: usize = 10_000;

/// Reads, parses and validates an experiment file.
pub fn load_file(path: &Path) -> Result<Experiment, SpecError> {
    let (name, text) = read_text(path)?;
    load_str_in(&name, &text, path.parent())
}

/// Reads a document file within the size limit, as UTF-8; returns its name and text.
fn read_text(path: &Path) -> Result<(String, String), SpecError> {
    let name = path.display().to_string();
    let read_error = |source| SpecError::Read {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size > MAX_FILE_BYTES as u64 {
        return Err(invalid(&name, whole_file(too_large(Some(size)))));
    }
    // The metadata can understate (a pipe, a file still growing): never read past the limit.
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(invalid(&name, whole_file(too_large(None))));
    }
    let text = decode_utf8(bytes).map_err(|problem| invalid(&name, problem))?;
    Ok((name, text))
}

/// An experiment, or a suite of experiments.
#[derive(Clone, Debug)]
pub enum Document {
    /// A single experiment.
    Experiment(Box<Experiment>),
    /// A suite listing experiment files.
    Suite(Suite),
}

/// Loads an experiment or a suite file, telling them apart by `kind`.
pub fn load_document(path: &Path) -> Result<Document, SpecError> {
    let (name, text) = read_text(path)?;
    #[derive(Deserialize)]
    struct Peek {
        #[serde(default)]
        kind: Option<String>,
    }
    let is_suite = !is_blank(&text)
        && parse::<Peek>(&text).is_ok_and(|peek| peek.kind.as_deref() == Some("Suite"));
    if !is_suite {
        return load_str_in(&name, &text, path.parent())
            .map(|exp| Document::Experiment(Box::new(exp)));
    }
    let suite: Suite = match parse(&text) {
        Ok(suite) => suite,
        Err(failure) => {
            let (path, error) = *failure;
            let index = PathIndex::build(&text);
            return Err(invalid(&name, problem_from_error(&error, &path, &index)));
        }
    };
    let mut problems = super::suite::validate(&suite);
    if problems.is_empty() {
        return Ok(Document::Suite(suite));
    }
    let index = PathIndex::build(&text);
    for p in &mut problems {
        if p.location.is_none() {
            p.location = index.nearest(&p.path);
        }
    }
    Err(SpecError::Invalid(Problems {
        file: name,
        problems,
    }))
}

/// Reads, parses and validates a schedule file for `firedrill serve`; the files its drills
/// name are not read here.
pub fn load_schedule(path: &Path) -> Result<super::Schedule, SpecError> {
    let (name, text) = read_text(path)?;
    if is_blank(&text) {
        return Err(invalid(
            &name,
            whole_file("the file is empty: it holds no YAML document".to_owned()),
        ));
    }
    let schedule: super::Schedule = match parse(&text) {
        Ok(schedule) => schedule,
        Err(failure) => {
            let (path, error) = *failure;
            let index = PathIndex::build(&text);
            return Err(invalid(&name, problem_from_error(&error, &path, &index)));
        }
    };
    let mut problems = super::schedule::validate(&schedule);
    if problems.is_empty() {
        return Ok(schedule);
    }
    let index = PathIndex::build(&text);
    for p in &mut problems {
        if p.location.is_none() {
            p.location = index.nearest(&p.path);
        }
    }
    Err(SpecError::Invalid(Problems {
        file: name,
        problems,
    }))
}

/// Parses and validates an experiment held in memory; `file` names it in messages.
pub fn load_str(file: &str, text: &str) -> Result<Experiment, SpecError> {
    load_str_in(file, text, None)
}

/// Parses and validates an experiment; `base`, the folder of its file, also checks the
/// files it names (a traffic request's `bodyFile`).
fn load_str_in(file: &str, text: &str, base: Option<&Path>) -> Result<Experiment, SpecError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(invalid(
            file,
            whole_file(too_large(Some(text.len() as u64))),
        ));
    }
    if is_blank(text) {
        return Err(invalid(
            file,
            whole_file(
                "the file is empty: it holds no YAML document (only blank lines or comments)"
                    .to_owned(),
            ),
        ));
    }
    let exp = match parse(text) {
        Ok(exp) => exp,
        Err(failure) => {
            let (path, error) = *failure;
            let index = PathIndex::build(text);
            let first = problem_from_error(&error, &path, &index);
            return Err(SpecError::Invalid(Problems {
                file: file.to_owned(),
                problems: with_structural_problems(first, text, &index),
            }));
        }
    };
    let mut problems = super::validate(&exp);
    if let Some(base) = base {
        problems.extend(super::traffic::missing_body_files(&exp.spec, base));
    }
    if problems.is_empty() {
        return Ok(exp);
    }
    let index = PathIndex::build(text);
    for p in &mut problems {
        if p.location.is_none() {
            p.location = index.nearest(&p.path);
        }
    }
    // Document order; the sort is stable, so problems at one place keep validation's order.
    problems.sort_by_key(|p| {
        p.location
            .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
    });
    Err(SpecError::Invalid(Problems {
        file: file.to_owned(),
        problems,
    }))
}

/// serde's first problem and, unless it is about the document as a whole, every other
/// structural problem of the document (super::structure), in document order; a problem
/// both found at one path about one value is said once, in serde's words.
fn with_structural_problems(first: Problem, text: &str, index: &PathIndex) -> Vec<Problem> {
    if first.path.is_empty() {
        return vec![first];
    }
    let mut problems = vec![first];
    for found in super::structure::problems(text, index) {
        let said = problems.iter().any(|p| {
            p.path == found.path
                && (p.message == found.message
                    || quoted_value(&p.message) == quoted_value(&found.message))
        });
        if !said {
            problems.push(found);
        }
    }
    problems.sort_by_key(|p| {
        p.location
            .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
    });
    problems
}

fn invalid(file: &str, problem: Problem) -> SpecError {
    SpecError::Invalid(Problems {
        file: file.to_owned(),
        problems: vec![problem],
    })
}

/// A problem with the file as a whole, reported at its first character.
fn whole_file(message: String) -> Problem {
    Problem {
        path: String::new(),
        location: Some(Location { line: 1, column: 1 }),
        message,
    }
}

fn too_large(size: Option<u64>) -> String {
    match size {
        Some(size) => format!(
            "the file is {size} bytes, more than the limit of {MAX_FILE_BYTES} bytes (1 MiB)"
        ),
        None => format!("the file is more than the limit of {MAX_FILE_BYTES} bytes (1 MiB)"),
    }
}

/// Decodes UTF-8, or names the line and column of the first byte that is not.
fn decode_utf8(bytes: Vec<u8>) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let offset = e.utf8_error().valid_up_to();
        let utf16 = bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]);
        // The prefix up to the bad byte is valid by definition.
        let prefix = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let line = prefix.matches('\n').count() + 1;
        let column = prefix.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let mut message = format!(
            "the file is not valid UTF-8: byte 0x{:02x} at offset {offset} cannot start or continue a character",
            bytes[offset]
        );
        if utf16 {
            message.push_str(" (it looks like UTF-16; save it as UTF-8)");
        }
        Problem {
            path: String::new(),
            location: Some(Location { line, column }),
            message,
        }
    })
}

/// True when the text has no YAML content: blank lines, comments and document markers only.
fn is_blank(text: &str) -> bool {
    text.trim_start_matches('\u{feff}').lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(MAX_FILE_BYTES),
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_events: 4 * MAX_NODES,
            max_aliases: MAX_ANCHORS_AND_ALIASES,
            max_anchors: MAX_ANCHORS_AND_ALIASES,
            max_documents: 1,
            max_total_scalar_bytes: MAX_FILE_BYTES,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: MAX_ANCHORS_AND_ALIASES,
        },
        // We print `file:line:column: path: message`; a rendered snippet would break that.
        with_snippet: false,
    }
}

/// Deserializes the document, keeping the field path of the first error.
pub(super) fn parse<T: for<'de> Deserialize<'de>>(
    text: &str,
) -> Result<T, Box<(String, serde_saphyr::Error)>> {
    let mut failed_at = None;
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        let mut track = serde_path_to_error::Track::new();
        let result = T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track));
        if result.is_err() {
            failed_at = Some(track.path());
        }
        result
    })
    .map_err(|error| {
        Box::new((
            failed_at.as_ref().map(path_string).unwrap_or_default(),
            error,
        ))
    })
}

/// `spec.faults[2].duration`, the way validation and the documentation write paths.
fn path_string(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out = child_path(&out, key);
            }
            Segment::Unknown => break,
        }
    }
    out
}

/// The error serde-saphyr reports, without the wrappers that add snippets or alias sites.
fn original(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    loop {
        match error {
            serde_saphyr::Error::WithSnippet { error: inner, .. }
            | serde_saphyr::Error::AliasError { error: inner, .. } => error = inner,
            other => return other,
        }
    }
}

/// Turns a parse error into a problem with a path and, wherever possible, a location.
fn problem_from_error(error: &serde_saphyr::Error, path: &str, index: &PathIndex) -> Problem {
    use serde_saphyr::Error as E;
    let inner = original(error);
    let reported = error.location().filter(|l| l.line() > 0).map(|l| Location {
        line: usize::try_from(l.line()).unwrap_or(usize::MAX),
        column: usize::try_from(l.column()).unwrap_or(usize::MAX).max(1),
    });
    let mut path = path.to_owned();
    let (message, location) = match inner {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            // serde_path_to_error stops at the mapping, and inside a tagged enum at the
            // enum, whose buffered content may hold the mapping further down.
            let mut mapping = if path.rsplit('.').next() == Some(field.as_str()) {
                parent(&path).to_owned()
            } else {
                path.clone()
            };
            if index.key(&mapping, field).is_none()
                && let [only] = index.mappings_with_key(&mapping, field).as_slice()
            {
                mapping = only.clone();
            }
            path = child_path(&mapping, field);
            let message = match closest(field, expected) {
                Some(known) => format!("unknown field `{field}`, did you mean `{known}`?"),
                None if expected.is_empty() => format!("unknown field `{field}`"),
                None => format!(
                    "unknown field `{field}`, expected one of {}",
                    quoted_list(expected)
                ),
            };
            (message, index.key(&mapping, field).or(reported))
        }
        E::SerdeMissingField { field, .. } => {
            // Inside a tagged enum, the one list item that lacks the field is the likely one.
            if let [only] = index.items_without_key(&path, field).as_slice() {
                path = only.clone();
            }
            let message = format!("missing field `{field}`");
            (message, index.value(&path).or(reported))
        }
        E::SerdeInvalidType { .. }
        | E::SerdeInvalidValue { .. }
        | E::SerdeUnknownVariant { .. }
        | E::InvalidScalar { .. }
        | E::Unexpected { .. }
        | E::NullIntoString { .. }
        | E::Message { .. } => {
            let mut message = plain_message(inner);
            if let E::InvalidScalar { ty, .. } = inner
                && let Some(text) = index.scalar(&path)
            {
                message = format!("invalid value `{text}`, expected {}", type_words(ty));
            }
            // Inside a tagged enum the path ends at the enum; find the field by its value.
            if let Some(text) = quoted_value(&message)
                && let [only] = index.scalars_under(&path, text).as_slice()
            {
                path = only.clone();
            }
            if path.is_empty() && matches!(inner, E::Unexpected { .. } | E::SerdeInvalidType { .. })
            {
                message = "the document must be a mapping with the keys apiVersion, kind, metadata and spec".to_owned();
            }
            let location = if path.is_empty() {
                reported.or_else(|| index.value(""))
            } else {
                index.value(&path).or(reported)
            };
            (message, location)
        }
        E::DuplicateMappingKey { key, .. } => {
            let message = match key {
                Some(key) => {
                    path = child_path(index.deepest(&path), key);
                    format!("duplicate key `{key}`: a key may appear only once in a mapping")
                }
                None => "duplicate key: a key may appear only once in a mapping".to_owned(),
            };
            (message, reported.or_else(|| index.nearest(&path)))
        }
        // Syntax errors, budgets, aliases, documents: the parser knows where it stopped,
        // and the path serde was filling is cut back to what the file really has.
        _ => {
            path = index.deepest(&path).to_owned();
            // Past a list of lists the path only counts brackets of a hostile nest.
            if let Some(i) = path.find("[0][0]") {
                path.truncate(i);
            }
            (
                plain_message(inner),
                reported.or_else(|| index.nearest(&path)),
            )
        }
    };
    Problem {
        path,
        location,
        message,
    }
}

/// A message for the errors whose serde-saphyr wording we improve, or else its own.
fn plain_message(error: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let too_complex = "the YAML is too large or too complex";
    match error {
        E::Budget { breach, .. } => match breach {
            B::Depth { .. } => format!(
                "{too_complex}: it nests mappings and lists more than {MAX_DEPTH} levels deep"
            ),
            B::Nodes { .. } => format!("{too_complex}: it has more than {MAX_NODES} values"),
            B::Events { .. } => format!("{too_complex}: it has too many YAML events"),
            B::Aliases { .. } | B::Anchors { .. } | B::AliasAnchorRatio { .. } => format!(
                "{too_complex}: it has more than {MAX_ANCHORS_AND_ALIASES} anchors (`&name`) or aliases (`*name`)"
            ),
            B::Documents { .. } => {
                "the file holds more than one YAML document; write one experiment per file"
                    .to_owned()
            }
            B::ScalarBytes { .. } | B::InputBytes { .. } => {
                format!("{too_complex}: it has more than {MAX_FILE_BYTES} bytes of text")
            }
            other => format!("{too_complex}: {other:?}"),
        },
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => format!(
            "{too_complex}: its aliases (`*name`) expand to more than {MAX_REPLAYED_EVENTS} values, as in an alias bomb"
        ),
        E::MultipleDocuments { .. } => {
            "the file holds more than one YAML document; write one experiment per file".to_owned()
        }
        E::Unexpected { expected, .. } => format!("expected {}", type_words(expected)),
        E::NullIntoString { .. } => "expected a string, found nothing (null)".to_owned(),
        other => {
            let message = sanitize(serde_saphyr::UserMessageFormatter.format_message(other));
            // The parser's own guard against deep flow nesting can trip before the budget.
            if message == "recursion limit exceeded" {
                return format!(
                    "{too_complex}: it nests mappings and lists more than {MAX_DEPTH} levels deep"
                );
            }
            // serde names Rust types (`expected u32`); say what the user may write instead.
            match message.rsplit_once("expected ") {
                Some((head, ty)) if !ty.contains(' ') => {
                    format!("{head}expected {}", type_words(ty))
                }
                _ => message,
            }
        }
    }
}

/// Rust type names and parser expectations in words for people who write YAML.
fn type_words(ty: &str) -> Cow<'_, str> {
    Cow::Borrowed(match ty {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" => "a whole number from 0 to 18446744073709551615",
        "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        "string scalar" | "a string" => "a string",
        "mapping start" | "mapping" => "a mapping (key: value)",
        "sequence start" | "sequence" => "a list",
        other => return Cow::Borrowed(other),
    })
}

/// Control characters (from hostile input echoed in a message) printed escaped.
fn sanitize(message: Cow<'_, str>) -> String {
    if message.chars().any(char::is_control) {
        message
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        message.into_owned()
    }
}

/// The first value a serde message quotes: `"abc"` or `` `abc` ``.
fn quoted_value(message: &str) -> Option<&str> {
    let start = message.find(['"', '`'])?;
    let quote = &message[start..=start];
    let rest = &message[start + 1..];
    let end = rest.find(quote)?;
    Some(&rest[..end])
}

pub(super) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known name closest to `field` when one is close enough to be a likely typo.
pub(super) fn closest<'a>(field: &str, known: &[&'a str]) -> Option<&'a str> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let folded = fold(field);
    known
        .iter()
        .map(|k| {
            // Case and separators only (`stable_for` for `stableFor`) count as closest.
            let d = if fold(k) == folded {
                0
            } else {
                edit_distance(&folded, &fold(k))
            };
            (d, *k)
        })
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match load_str("x.yaml", text) {
            Err(SpecError::Invalid(p)) => p.problems,
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("accepted:\n{text}"),
        }
    }

    const HEAD: &str =
        "apiVersion: firedrill.dev/v1alpha1\nkind: Experiment\nmetadata: {name: x}\n";

    #[test]
    fn control_characters_from_the_file_are_escaped_when_printed() {
        // An unknown key was echoed as it was written: an escape sequence in a hostile file
        // reached the terminal of whoever validated it.
        let text = format!("{HEAD}\"sp\\e[2Jec\": {{}}\n");
        let error = load_str("x.yaml", &text).unwrap_err();
        let printed = error.to_string();
        assert!(!printed.contains('\u{1b}'), "{printed:?}");
        assert!(printed.contains("sp\\u{1b}[2Jec"), "{printed}");
        // The spec_load fuzz target's finding, minimized: a tab inside a plain key.
        let text = format!(
            "{HEAD}spec:\n  target:\n    platform: local\n    workloads:\n      - name: api\n        co\t1mmand: [x]\n"
        );
        let printed = load_str("x.yaml", &text).unwrap_err().to_string();
        assert!(!printed.contains('\t'), "{printed:?}");
        assert!(
            printed.contains("workloads[0].co\\t1mmand: unknown field `co\\t1mmand`"),
            "{printed}"
        );
    }

    #[test]
    fn suggests_the_closest_field() {
        let known = ["stableFor", "timeout"];
        assert_eq!(closest("stableFr", &known), Some("stableFor"));
        assert_eq!(closest("stable_for", &known), Some("stableFor"));
        assert_eq!(closest("timout", &known), Some("timeout"));
        assert_eq!(closest("nmae", &["name"]), None);
        assert_eq!(closest("colour", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let p = decode_utf8(b"a: 1\nbb: \xff\n".to_vec()).unwrap_err();
        assert_eq!(p.location, Some(Location { line: 2, column: 5 }));
        assert!(p.message.contains("byte 0xff at offset 9"), "{}", p.message);
    }

    #[test]
    fn blank_files_are_empty() {
        assert!(is_blank(""));
        assert!(is_blank("\u{feff}# only\n\n  # comments\n---\n"));
        assert!(!is_blank("a: 1\n"));
        let p = problems("# nothing yet\n");
        assert!(p[0].message.contains("the file is empty"));
    }

    #[test]
    fn oversized_text_is_refused() {
        let text = format!("{HEAD}#{}\n", "x".repeat(MAX_FILE_BYTES));
        let p = problems(&text);
        assert!(
            p[0].message
                .contains("more than the limit of 1048576 bytes"),
            "{p:?}"
        );
    }

    /// The CPU time this thread has used.
    fn thread_cpu_time() -> std::time::Duration {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to write into.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    #[test]
    fn hostile_documents_fail_fast_with_a_location() {
        let bomb = format!(
            "{HEAD}spec:\n  faults:\n    - type: cpu-stress\n      a: &a [x,x,x,x,x,x,x,x,x,x]\n      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n      f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        );
        // Inside a fault, whose tagged enum makes serde buffer every value it is given.
        let deep = format!(
            "{HEAD}spec:\n  faults: [{{type: cpu-stress, x: {}{}}}]\n",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let many = format!(
            "{HEAD}spec:\n  faults: [{{type: cpu-stress, x: [{}]}}]\n",
            "1,".repeat(20_000)
        );
        for (text, needle) in [
            (bomb, "alias bomb"),
            (deep, "32 levels deep"),
            (many, "more than 10000 values"),
        ] {
            // CPU time of this thread, not wall time: the bound is about the work done (the
            // libyaml family takes 48 s of CPU on nested brackets), not the machine's load.
            let started = thread_cpu_time();
            let p = problems(&text);
            let spent = thread_cpu_time() - started;
            assert!(
                spent < std::time::Duration::from_secs(2),
                "{needle}: {spent:?}"
            );
            assert!(p[0].message.contains(needle), "{p:?}");
            assert!(p[0].location.is_some(), "{p:?}");
        }
    }

    #[test]
    fn problems_inside_tagged_enums_get_a_full_path() {
        let text = format!(
            "{HEAD}spec:\n  target: {{platform: local, workloads: [{{name: w, command: [a], restart: {{policy: sometimes}}}}]}}\n"
        );
        let all = problems(&text);
        // The fields this document leaves out are listed too, at the mapping that lacks them.
        assert!(
            all.iter()
                .any(|p| p.path == "spec" && p.message == "missing field `steadyState`"),
            "{all:?}"
        );
        let p = all
            .iter()
            .find(|p| p.path == "spec.target.workloads[0].restart.policy")
            .unwrap_or_else(|| panic!("{all:?}"));
        assert_eq!(
            p.location,
            Some(Location {
                line: 5,
                column: 83
            })
        );
        assert!(
            p.message
                .contains("expected one of always, on-failure, never")
        );
    }

    #[test]
    fn validation_problems_are_located_and_sorted() {
        let text = format!(
            "{HEAD}spec:\n  iterations: 0\n  target:\n    platform: local\n    workloads: [{{name: w, command: [a], replicas: 0}}]\n  steadyState:\n    probes: [{{name: p, type: tcp, address: \"{{workload.w}}\"}}]\n  faults: [{{name: f, type: process-kill, select: {{mode: one, workload: w}}}}]\n"
        );
        let p = problems(&text);
        let got: Vec<(&str, Option<Location>)> =
            p.iter().map(|p| (p.path.as_str(), p.location)).collect();
        assert_eq!(
            got,
            [
                (
                    "spec.iterations",
                    Some(Location {
                        line: 5,
                        column: 15
                    })
                ),
                (
                    "spec.target.workloads[0].replicas",
                    Some(Location {
                        line: 8,
                        column: 51
                    })
                ),
            ]
        );
    }
}
