//! The `{...}` placeholders that experiment strings may contain, expanded at run time.

use std::collections::BTreeMap;

/// A placeholder that has no value in this context, or a malformed template.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaceholderError {
    /// `{name}` is not a known placeholder here.
    #[error("unknown placeholder `{{{0}}}`")]
    Unknown(String),
    /// A `{` without its `}`, or the reverse.
    #[error("unbalanced `{0}` at character {1} (write `{{{{` or `}}}}` for a literal brace)")]
    Unbalanced(char, usize),
}

/// Values that placeholders expand to.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `{firedrill}`: the path of the firedrill binary.
    pub firedrill: String,
    /// `{workload.NAME}`: service addresses.
    pub workloads: BTreeMap<String, String>,
    /// `{replica.NAME.INDEX}`: each replica's own address.
    pub replicas: BTreeMap<String, String>,
    /// `{dependency.NAME}`: the address of each dependency's fault proxy.
    pub dependencies: BTreeMap<String, String>,
    /// `{webhook}`: the detection webhook URL.
    pub webhook: Option<String>,
    /// `{port}`: the replica's port, in workload fields only.
    pub port: Option<u16>,
    /// `{replica}`: the replica's index, in workload fields only.
    pub replica: Option<u32>,
    /// `{experimentDir}`: the experiment file's folder, on the local platform.
    pub experiment_dir: Option<String>,
}

/// The names referenced by a template, without expanding anything.
pub fn references(template: &str) -> Result<Vec<String>, PlaceholderError> {
    let mut names = Vec::new();
    scan(template, |name| {
        names.push(name.to_owned());
        Ok(String::new())
    })?;
    Ok(names)
}

/// Expands every placeholder of `template` from `ctx`.
pub fn expand(template: &str, ctx: &Context) -> Result<String, PlaceholderError> {
    scan(template, |name| {
        let value = match name {
            "firedrill" => Some(ctx.firedrill.clone()),
            "webhook" => ctx.webhook.clone(),
            "port" => ctx.port.map(|p| p.to_string()),
            "replica" => ctx.replica.map(|r| r.to_string()),
            "experimentDir" => ctx.experiment_dir.clone(),
            other => match other.split_once('.') {
                Some(("workload", w)) => ctx.workloads.get(w).cloned(),
                Some(("replica", r)) => ctx.replicas.get(r).cloned(),
                Some(("dependency", d)) => ctx.dependencies.get(d).cloned(),
                _ => None,
            },
        };
        value.ok_or_else(|| PlaceholderError::Unknown(name.to_owned()))
    })
}

fn scan(
    template: &str,
    mut replace: impl FnMut(&str) -> Result<String, PlaceholderError>,
) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &template[i + 1..];
                let end = rest.find('}').ok_or(PlaceholderError::Unbalanced('{', i))?;
                let name = &rest[..end];
                if name.contains('{') || name.is_empty() {
                    return Err(PlaceholderError::Unbalanced('{', i));
                }
                out.push_str(&replace(name.trim())?);
                for _ in 0..=end {
                    chars.next();
                }
            }
            '}' => return Err(PlaceholderError::Unbalanced('}', i)),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            firedrill: "/bin/firedrill".into(),
            workloads: [("web".to_owned(), "127.0.0.1:4000".to_owned())].into(),
            replicas: [("web.0".to_owned(), "127.0.0.1:31000".to_owned())].into(),
            dependencies: BTreeMap::new(),
            webhook: None,
            port: Some(31000),
            replica: Some(2),
            experiment_dir: Some("/srv/drills".into()),
        }
    }

    #[test]
    fn expands_known_placeholders() {
        let s = expand(
            "{firedrill} --port {port} --up http://{workload.web}/x#{replica} {experimentDir}/t",
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            s,
            "/bin/firedrill --port 31000 --up http://127.0.0.1:4000/x#2 /srv/drills/t"
        );
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(expand("{{\"a\": 1}}", &ctx()).unwrap(), "{\"a\": 1}");
    }

    #[test]
    fn unknown_and_unbalanced_are_errors() {
        assert_eq!(
            expand("{webhook}", &ctx()),
            Err(PlaceholderError::Unknown("webhook".into()))
        );
        assert_eq!(
            expand("{workload.db}", &ctx()),
            Err(PlaceholderError::Unknown("workload.db".into()))
        );
        assert_eq!(
            expand("abc {port", &ctx()),
            Err(PlaceholderError::Unbalanced('{', 4))
        );
        assert_eq!(
            expand("a } b", &ctx()),
            Err(PlaceholderError::Unbalanced('}', 2))
        );
    }

    #[test]
    fn references_lists_names() {
        assert_eq!(
            references("{port}-{workload.web}").unwrap(),
            vec!["port".to_owned(), "workload.web".to_owned()]
        );
    }
}
