//! Every structural problem of an experiment in one pass: the document, read as plain YAML
//! values, walked against the experiment's JSON Schema (the one `firedrill schema` prints).
//!
//! serde stops at the first unknown field, wrong type or missing field; this walk goes on,
//! so that `firedrill validate` lists them all at once. It only adds to what serde found: a
//! document serde reads is never refused here, and where the walk cannot tell which form of
//! a choice was meant (an unknown `type`, say), it says nothing and leaves it to serde.
//!
//! Plain YAML scalars are read leniently, as serde-saphyr does: `8080` is a fine string and
//! `"3"` a fine number, so that no problem is reported that serde would not have.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::Problem;
use super::location::{PathIndex, child_path};

/// The schema that takes anything: where a reference leads nowhere.
static ANYTHING: Value = Value::Bool(true);

/// The experiment's JSON Schema, as `firedrill schema` prints it.
static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::to_value(schemars::schema_for!(super::Experiment)).unwrap_or(Value::Bool(true))
});

/// The structural problems of `text`, each with its field path and location; none when the
/// text is not YAML the loader's budgets accept (the parse error says why).
pub(crate) fn problems(text: &str, index: &PathIndex) -> Vec<Problem> {
    let Ok(value) = super::load::parse::<Value>(text) else {
        return Vec::new();
    };
    let walk = Walk {
        root: &SCHEMA,
        index,
    };
    let mut found = Vec::new();
    walk.value(&value, &SCHEMA, "", &mut found);
    found
}

struct Walk<'a> {
    root: &'a Value,
    index: &'a PathIndex,
}

impl Walk<'_> {
    /// `#/$defs/Name` in the root schema.
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        let mut schema = schema;
        // A chain of references ends, or is cut short, well before this.
        for _ in 0..16 {
            let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
                break;
            };
            match target
                .strip_prefix("#/")
                .and_then(|p| self.root.pointer(&format!("/{p}")))
            {
                Some(found) => schema = found,
                None => return &ANYTHING,
            }
        }
        schema
    }

    fn problem(&self, path: &str, message: String, at_key: Option<&str>) -> Problem {
        let location = match at_key {
            Some(key) => self.index.key(super::location::parent(path), key),
            None => self.index.value(path),
        }
        .or_else(|| self.index.nearest(path));
        Problem {
            path: path.to_owned(),
            location,
            message,
        }
    }

    fn value(&self, value: &Value, schema: &Value, path: &str, out: &mut Vec<Problem>) {
        let schema = self.resolve(schema);
        let Value::Object(schema) = schema else {
            return;
        };
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.value(value, part, path, out);
        }
        let choices = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array);
        if let Some(choices) = choices {
            self.choice(value, choices, path, out);
        }
        if let Some(expected) = schema.get("type").and_then(|t| mismatch(value, t)) {
            out.push(self.problem(path, expected, None));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.iter().any(|a| same_scalar(a, value))
        {
            out.push(self.problem(path, unknown_variant(value, allowed.iter()), None));
            return;
        }
        if let Some(expected) = schema.get("const")
            && !same_scalar(expected, value)
        {
            out.push(self.problem(
                path,
                format!(
                    "invalid value `{}`, expected `{}`",
                    scalar_text(value),
                    scalar_text(expected)
                ),
                None,
            ));
            return;
        }
        if let Some(problem) = out_of_range(value, schema) {
            out.push(self.problem(path, problem, None));
            return;
        }
        match value {
            Value::Object(map) => self.object(map, schema, path, out),
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.value(v, item, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => {}
        }
    }

    /// A `oneOf` or `anyOf`: the branch a tag (`type: http`, `mode: one`) names, else the
    /// only branch of the value's kind.
    fn choice(&self, value: &Value, choices: &[Value], path: &str, out: &mut Vec<Problem>) {
        let resolved: Vec<&Value> = choices.iter().map(|c| self.resolve(c)).collect();
        let of_kind: Vec<&Value> = resolved
            .iter()
            .copied()
            .filter(|c| c.get("type").is_none_or(|t| mismatch(value, t).is_none()))
            .collect();
        // A closed set of scalars, one branch per documented value (`SIGKILL`, `SIGTERM`).
        let values: Vec<&Value> = of_kind
            .iter()
            .flat_map(|c| {
                let listed = c
                    .get("enum")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten();
                c.get("const").into_iter().chain(listed)
            })
            .collect();
        let closed = !of_kind.is_empty()
            && of_kind
                .iter()
                .all(|c| c.get("const").is_some() || c.get("enum").is_some());
        if closed && !value.is_object() && !value.is_array() {
            if !values.iter().any(|v| same_scalar(v, value)) {
                out.push(self.problem(path, unknown_variant(value, values.iter().copied()), None));
            }
            return;
        }
        let tagged: Vec<&Value> = of_kind
            .iter()
            .copied()
            .filter(|c| tags(c).next().is_some())
            .collect();
        let candidates = if tagged.is_empty() {
            of_kind
        } else {
            // A branch is meant when every tag it has is written with its value.
            tagged
                .into_iter()
                .filter(|c| {
                    tags(c).all(|(key, expected)| {
                        value.get(key).is_some_and(|v| same_scalar(expected, v))
                    })
                })
                .collect()
        };
        // With no branch, or several, that could be meant, serde's message says it better.
        if let [only] = candidates.as_slice() {
            self.value(value, only, path, out);
        }
    }

    fn object(
        &self,
        map: &Map<String, Value>,
        schema: &Map<String, Value>,
        path: &str,
        out: &mut Vec<Problem>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for (key, v) in map {
            let child = child_path(path, key);
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                self.value(v, property, &child, out);
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let message = match super::load::closest(key, &known) {
                        Some(k) => format!("unknown field `{key}`, did you mean `{k}`?"),
                        None if known.is_empty() => format!("unknown field `{key}`"),
                        None => format!(
                            "unknown field `{key}`, expected one of {}",
                            super::load::quoted_list(&known)
                        ),
                    };
                    out.push(self.problem(&child, message, Some(key)));
                }
                Some(other @ Value::Object(_)) => self.value(v, other, &child, out),
                _ => {}
            }
        }
        for field in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(field) {
                out.push(self.problem(path, format!("missing field `{field}`"), None));
            }
        }
    }
}

/// The `const` properties of a branch: its tag and the tag's value.
fn tags(branch: &Value) -> impl Iterator<Item = (&str, &Value)> {
    branch
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| p.get("const").map(|c| (k.as_str(), c)))
}

/// What was expected, when `value` is of none of the schema's `types`.
fn mismatch(value: &Value, types: &Value) -> Option<String> {
    let types: Vec<&str> = match types {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if types.iter().any(|t| fits(value, t)) {
        return None;
    }
    let words: Vec<&str> = types
        .iter()
        .filter(|t| **t != "null")
        .map(|t| match *t {
            "object" => "a mapping (key: value)",
            "array" => "a list",
            "string" => "a string",
            "integer" => "a whole number",
            "number" => "a number",
            "boolean" => "true or false",
            other => other,
        })
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!(
        "expected {}, found {}",
        words.join(" or "),
        kind(value)
    ))
}

/// Whether a value is of a JSON Schema type, reading YAML scalars as serde-saphyr does.
fn fits(value: &Value, ty: &str) -> bool {
    match (ty, value) {
        ("null", Value::Null)
        | ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_))
        | ("string", Value::String(_) | Value::Number(_) | Value::Bool(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("integer", Value::String(s)) => s.trim().parse::<i128>().is_ok(),
        ("number", Value::String(s)) => s.trim().parse::<f64>().is_ok(),
        ("boolean", Value::String(s)) => {
            matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no" | "on" | "off"
            )
        }
        _ => false,
    }
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_owned(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// A bound (`minimum`, `maximum`) the number is outside of, in words.
fn out_of_range(value: &Value, schema: &Map<String, Value>) -> Option<String> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let min = schema.get("minimum").and_then(Value::as_f64);
    let max = schema.get("maximum").and_then(Value::as_f64);
    if min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m) {
        return None;
    }
    let format = schema.get("format").and_then(Value::as_str);
    let words = match format {
        Some("uint8") => "a whole number from 0 to 255".to_owned(),
        Some("uint16") => "a whole number from 0 to 65535".to_owned(),
        Some("uint32") => "a whole number from 0 to 4294967295".to_owned(),
        Some("uint64" | "uint") => "a whole number from 0 to 18446744073709551615".to_owned(),
        _ => match (min, max) {
            (Some(lo), Some(hi)) => format!("a number from {lo} to {hi}"),
            (Some(lo), None) => format!("a number of at least {lo}"),
            (None, Some(hi)) => format!("a number of at most {hi}"),
            (None, None) => return None,
        },
    };
    Some(format!(
        "invalid value `{}`, expected {words}",
        scalar_text(value)
    ))
}

/// Whether a YAML scalar equals a schema's `enum` or `const` value, compared as text (a
/// plain `200` and `"200"` are the same to serde-saphyr).
fn same_scalar(expected: &Value, value: &Value) -> bool {
    expected == value
        || (!value.is_object()
            && !value.is_array()
            && !value.is_null()
            && scalar_text(expected) == scalar_text(value))
}

/// The message for a value outside a closed set.
fn unknown_variant<'a>(value: &Value, allowed: impl Iterator<Item = &'a Value>) -> String {
    let names: Vec<String> = allowed.map(scalar_text).collect();
    format!(
        "unknown variant `{}`, expected one of {}",
        scalar_text(value),
        names.join(", ")
    )
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, String)> {
        let index = PathIndex::build(text);
        problems(text, &index)
            .into_iter()
            .map(|p| (p.path, p.message))
            .collect()
    }

    const VALID: &str = include_str!("../../experiments/quickstart.yaml");

    #[test]
    fn a_valid_experiment_has_no_structural_problem() {
        assert!(found(VALID).is_empty(), "{:?}", found(VALID));
        for file in [
            include_str!("../../experiments/kubernetes/pod-delete.yaml"),
            include_str!("../../tests/fixtures/malformed/semantic-many-problems.yaml"),
        ] {
            assert!(found(file).is_empty(), "{:?}", found(file));
        }
    }

    #[test]
    fn every_unknown_field_wrong_value_and_missing_field_is_found_in_one_pass() {
        let text = VALID
            .replacen("maxLatency:", "maxLatncy:", 1)
            .replacen("iterations: 3", "iterations: -1", 1)
            .replacen("stableFor:", "stableFr:", 1);
        assert_ne!(text, VALID);
        let found = found(&text);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"spec.iterations"), "{found:?}");
        assert!(
            found.iter().any(|(p, m)| p.ends_with(".maxLatncy")
                && m == "unknown field `maxLatncy`, did you mean `maxLatency`?"),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(p, m)| p == "spec.recovery.stableFr"
                    && m.contains("did you mean `stableFor`")),
            "{found:?}"
        );
    }

    #[test]
    fn a_missing_field_of_a_tagged_choice_is_found_and_an_unknown_tag_is_left_to_serde() {
        let text = include_str!("../../tests/fixtures/malformed/missing-duration-in-pause.yaml");
        assert_eq!(
            found(text),
            [(
                "spec.faults[0]".to_owned(),
                "missing field `duration`".to_owned()
            )]
        );
        let text = include_str!("../../tests/fixtures/malformed/unknown-variant-signal.yaml");
        let signal = found(text);
        assert!(
            signal.iter().any(|(p, m)| p == "spec.faults[0].signal"
                && m.starts_with("unknown variant `SIGSTOP`, expected one of SIGKILL, SIGTERM")),
            "{signal:?}"
        );
        let text = include_str!("../../tests/fixtures/malformed/unknown-variant-fault-type.yaml");
        assert!(
            found(text)
                .iter()
                .all(|(p, _)| !p.starts_with("spec.faults[0]")),
            "{:?}",
            found(text)
        );
    }
}
