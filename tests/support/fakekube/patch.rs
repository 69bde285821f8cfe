//! The patch formats the API server accepts: JSON merge patch (RFC 7386), strategic merge
//! patch (merge with keyed lists) and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// How a PATCH body is to be applied, from its content type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml` (server-side apply; kube sends JSON, which is YAML).
    Apply,
}

impl PatchKind {
    /// The patch kind for a content type, if it is one the server knows.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/json-patch+json" => Some(Self::Json),
            "application/apply-patch+yaml" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a patch of the given kind to `target`.
pub fn apply(kind: PatchKind, target: &mut Value, patch: &Value) -> Result<(), String> {
    match kind {
        PatchKind::Merge | PatchKind::Apply => {
            merge(target, patch);
            Ok(())
        }
        PatchKind::Strategic => {
            strategic(target, patch, "");
            Ok(())
        }
        PatchKind::Json => json_patch(target, patch),
    }
}

/// RFC 7386: objects merge, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let obj = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            obj.remove(k);
        } else {
            merge(obj.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The merge key of the lists the Kubernetes types declare with `patchStrategy: merge`.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "hostAliases" => Some("name"),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// Strategic merge: like a merge patch, but lists with a merge key merge element by element,
/// and `$patch: delete` / `$patch: replace` directives are honoured.
fn strategic(target: &mut Value, patch: &Value, field: &str) {
    match patch {
        Value::Object(p) => {
            if p.get("$patch").and_then(Value::as_str) == Some("replace") {
                let mut v = patch.clone();
                v.as_object_mut().expect("an object").remove("$patch");
                *target = v;
                return;
            }
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let obj = target.as_object_mut().expect("made an object above");
            for (k, v) in p {
                if k.starts_with('$') {
                    continue;
                }
                if v.is_null() {
                    obj.remove(k);
                } else {
                    strategic(obj.entry(k.clone()).or_insert(Value::Null), v, k);
                }
            }
        }
        Value::Array(items) => {
            let (Some(key), Some(existing)) = (merge_key(field), target.as_array_mut()) else {
                *target = patch.clone();
                return;
            };
            for item in items {
                let id = item.get(key).cloned();
                let pos = id
                    .as_ref()
                    .and_then(|id| existing.iter().position(|e| e.get(key) == Some(id)));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        existing.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => strategic(&mut existing[i], item, ""),
                    (None, false) => existing.push(item.clone()),
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Splits a JSON pointer into its parent and last token.
fn split_pointer(path: &str) -> Result<(String, String), String> {
    let i = path
        .rfind('/')
        .ok_or_else(|| format!("invalid path {path:?}"))?;
    Ok((path[..i].to_string(), unescape(&path[i + 1..])))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(m)) => {
            m.insert(last, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            let i = if last == "-" {
                a.len()
            } else {
                last.parse().map_err(|_| format!("bad index in {path:?}"))?
            };
            if i > a.len() {
                return Err(format!("index out of range in {path:?}"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("no parent for {path:?}")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(m)) => m
            .remove(&last)
            .ok_or_else(|| format!("nothing at {path:?}")),
        Some(Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| format!("bad index in {path:?}"))?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(format!("nothing at {path:?}"))
            }
        }
        _ => Err(format!("nothing at {path:?}")),
    }
}

/// RFC 6902 with the operations clients send: add, remove, replace, test, move, copy.
fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch is a list of operations")?;
    let mut work = target.clone();
    for op in ops {
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("an operation needs a path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("{path}: no value"))
        };
        match op.get("op").and_then(Value::as_str) {
            Some("add") => add(&mut work, path, value()?)?,
            Some("remove") => {
                remove(&mut work, path)?;
            }
            Some("replace") => {
                remove(&mut work, path)?;
                add(&mut work, path, value()?)?;
            }
            Some("test") => {
                if work.pointer(path) != Some(&value()?) {
                    return Err(format!("test failed at {path:?}"));
                }
            }
            Some(verb @ ("move" | "copy")) => {
                let from = op.get("from").and_then(Value::as_str).ok_or("no from")?;
                let v = if verb == "move" {
                    remove(&mut work, from)?
                } else {
                    work.pointer(from)
                        .cloned()
                        .ok_or_else(|| format!("nothing at {from:?}"))?
                };
                add(&mut work, path, v)?;
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    *target = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}});
        apply(PatchKind::Strategic, &mut pod, &patch).unwrap();
        assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 3);
        assert_eq!(pod["spec"]["containers"][1]["image"], "z");
        let mut pod2 = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        apply(PatchKind::Merge, &mut pod2, &patch).unwrap();
        assert_eq!(pod2["spec"]["containers"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn json_patch_is_all_or_nothing() {
        let mut v = json!({"metadata": {"labels": {"a": "1"}}});
        let bad = json!([{"op": "add", "path": "/metadata/labels/b", "value": "2"}, {"op": "test", "path": "/metadata/labels/a", "value": "9"}]);
        assert!(apply(PatchKind::Json, &mut v, &bad).is_err());
        assert_eq!(v, json!({"metadata": {"labels": {"a": "1"}}}));
        let good = json!([{"op": "replace", "path": "/metadata/labels/a", "value": "3"}]);
        apply(PatchKind::Json, &mut v, &good).unwrap();
        assert_eq!(v["metadata"]["labels"]["a"], "3");
    }
}
