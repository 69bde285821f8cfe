//! Reading an experiment file into the typed document.

use std::path::Path;

use super::{Experiment, Problem, Problems, SpecError};

/// Reads, parses and validates an experiment file.
pub fn load_file(path: &Path) -> Result<Experiment, SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        SpecError::Invalid(Problems {
            file: path.display().to_string(),
            problems: vec![Problem {
                path: String::new(),
                location: None,
                message: format!("not valid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            }],
        })
    })?;
    load_str(&path.display().to_string(), &text)
}

/// Parses and validates an experiment held in memory; `file` names it in messages.
pub fn load_str(file: &str, text: &str) -> Result<Experiment, SpecError> {
    let exp: Experiment = serde_saphyr::from_str(text).map_err(|e| {
        SpecError::Invalid(Problems {
            file: file.to_owned(),
            problems: vec![Problem {
                path: String::new(),
                location: None,
                message: e.to_string(),
            }],
        })
    })?;
    let problems = super::validate(&exp);
    if problems.is_empty() {
        Ok(exp)
    } else {
        Err(SpecError::Invalid(Problems {
            file: file.to_owned(),
            problems,
        }))
    }
}
