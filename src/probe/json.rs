//! A JSONPath into a JSON document and what every value it selects must be: an HTTP probe's
//! `expectBody.jsonPath` and a kubernetes-object probe's `field` expectation share it.

use serde_json::Value;

use crate::spec::{CompareOp, Comparison};

/// A JSONPath and what its values must be, compiled once.
#[derive(Clone, Debug)]
pub(crate) struct JsonCheck {
    path: String,
    want: Want,
}

#[derive(Clone, Debug)]
enum Want {
    /// Every value selected equals this one.
    Equals(Value),
    /// Every value selected is a number that satisfies the comparison.
    Compare(Comparison),
}

impl JsonCheck {
    /// The check of `path` with `equals`, or `op` and `value`; or what is wrong with them
    /// (validation refuses it first).
    pub(crate) fn new(
        path: &str,
        equals: Option<&Value>,
        op: Option<CompareOp>,
        value: Option<f64>,
    ) -> Result<Self, String> {
        jsonpath_rust::parser::parse_json_path(path)
            .map_err(|e| format!("is not a JSONPath: {e}"))?;
        let want = match (equals, op, value) {
            (Some(v), None, None) => Want::Equals(v.clone()),
            (None, Some(op), Some(value)) => Want::Compare(Comparison { op, value }),
            _ => return Err("needs `equals`, or `op` and `value`".into()),
        };
        Ok(Self {
            path: path.to_owned(),
            want,
        })
    }

    /// Why `doc` does not hold what the check asks; `None` when it does. `within` names the
    /// document in the message (`the body`, `the object`).
    pub(crate) fn miss(&self, doc: &Value, within: &str) -> Option<String> {
        let path = &self.path;
        let values = match jsonpath_rust::JsonPath::query(doc, path) {
            Ok(v) => v,
            Err(e) => return Some(format!("{path}: {e}")),
        };
        if values.is_empty() {
            return Some(format!("{path} selects nothing in {within}"));
        }
        match &self.want {
            Want::Equals(want) => values
                .iter()
                .find(|v| **v != want)
                .map(|v| format!("{path} is {}, expected {}", shown(v), shown(want))),
            Want::Compare(c) => values.iter().find_map(|v| match v.as_f64() {
                Some(x) if c.holds(x) => None,
                Some(x) => Some(format!(
                    "{path} is {x}, expected {} {}",
                    c.op.as_str(),
                    c.value
                )),
                None => Some(format!("{path} is {}, not a number", shown(v))),
            }),
        }
    }
}

/// A value as JSON, cut to 80 characters.
fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_selected_value_must_hold_and_a_miss_says_what_was_found() {
        let doc = json!({"spec": {"replicas": 3}, "items": [1, 2], "phase": "Running"});
        let cmp = |path, op, value| JsonCheck::new(path, None, Some(op), Some(value)).unwrap();
        assert_eq!(
            cmp("$.spec.replicas", CompareOp::Ge, 3.0).miss(&doc, "x"),
            None
        );
        assert_eq!(
            cmp("$.items[*]", CompareOp::Gt, 1.0).miss(&doc, "x"),
            Some("$.items[*] is 1, expected > 1".into())
        );
        assert_eq!(
            cmp("$.phase", CompareOp::Eq, 1.0).miss(&doc, "x"),
            Some("$.phase is \"Running\", not a number".into())
        );
        let eq = JsonCheck::new("$.phase", Some(&json!("Failed")), None, None).unwrap();
        assert_eq!(
            eq.miss(&doc, "x"),
            Some("$.phase is \"Running\", expected \"Failed\"".into())
        );
        assert_eq!(
            cmp("$.nope", CompareOp::Eq, 1.0).miss(&doc, "the object"),
            Some("$.nope selects nothing in the object".into())
        );
        assert!(JsonCheck::new("$[", None, Some(CompareOp::Eq), Some(1.0)).is_err());
        assert!(JsonCheck::new("$.a", None, Some(CompareOp::Eq), None).is_err());
    }
}
