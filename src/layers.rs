//! The crate's layers, top to bottom, and the test that keeps imports pointing down.
//!
//! A module may use the modules of its own layer and of the layers below it, never those
//! above; and no two modules may use each other, directly or through others. So the
//! command line (and the fuzz targets' entry points) drives the scheduler, the scheduler the engine, the engine its
//! collaborators, and the result, the scorecard and the spec sit below everything that
//! reads them. A helper two layers need lives below both (`error`, `time`, `tls`, `listener`).

/// Each layer's modules, from the top (the command line) to the bottom (the leaf helpers).
const LAYERS: &[&[&str]] = &[
    &["cli", "fuzzing"],
    &["demo", "serve"],
    &["engine"],
    &[
        "detection",
        "probe",
        "traffic",
        "fault",
        "notification",
        "response",
    ],
    &["platform"],
    &["proxy"],
    &["telemetry"],
    &["report"],
    &["review"],
    &["result"],
    &["scorecard"],
    &["measure", "journal"],
    &["spec"],
    &["error", "time", "tls", "listener"],
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use super::LAYERS;

    /// The layer of a top-level module, 0 at the top.
    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// Every `crate::module` a file's code names (comments left out), with its line.
    fn uses(text: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                let name: String = rest[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                found.push((n + 1, name));
                rest = &rest[at + 7..];
            }
        }
        found
    }

    /// Module → the modules it uses, and every upward use as `file:line: a -> b`.
    fn graph() -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut upward = Vec::new();
        for file in files {
            let relative = file.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
            let Some(own) = layer_of(&module) else {
                continue;
            };
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, used) in uses(&text) {
                let Some(theirs) = layer_of(&used) else {
                    continue;
                };
                if used == module {
                    continue;
                }
                if theirs < own {
                    upward.push(format!(
                        "src/{}:{line}: {module} -> {used}",
                        relative.display()
                    ));
                }
                edges.entry(module.clone()).or_default().insert(used);
            }
        }
        (edges, upward)
    }

    #[test]
    fn every_module_of_the_crate_has_a_layer() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&src).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let module = name.trim_end_matches(".rs");
            if !matches!(module, "lib" | "main" | "layers") && layer_of(module).is_none() {
                missing.push(module.to_owned());
            }
        }
        assert!(
            missing.is_empty(),
            "modules with no layer in LAYERS: {missing:?}"
        );
    }

    #[test]
    fn no_module_uses_a_module_of_a_higher_layer() {
        let (_, upward) = graph();
        assert!(upward.is_empty(), "upward uses:\n{}", upward.join("\n"));
    }

    #[test]
    fn no_two_modules_use_each_other_even_through_others() {
        let (edges, _) = graph();
        // Depth-first search for a cycle; the path it prints is the circle.
        fn visit(
            node: &str,
            edges: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|n| n == node) {
                let mut circle = path[at..].to_vec();
                circle.push(node.to_owned());
                return Some(circle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_owned());
            for next in edges.get(node).into_iter().flatten() {
                if let Some(circle) = visit(next, edges, path, done) {
                    return Some(circle);
                }
            }
            path.pop();
            done.insert(node.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        for node in edges.keys() {
            let circle = visit(node, &edges, &mut Vec::new(), &mut done);
            assert!(
                circle.is_none(),
                "modules that use each other: {}",
                circle.unwrap().join(" -> ")
            );
        }
    }

    #[test]
    fn the_check_sees_an_upward_use() {
        let found = uses("use crate::engine::Runner; // crate::cli in a comment\n");
        assert_eq!(found, vec![(1, "engine".to_owned())]);
        assert!(layer_of("engine") < layer_of("fault"));
    }
}
