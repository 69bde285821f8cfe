//! The experiment loader: any bytes as an experiment, a suite or a schedule file. Loading
//! must answer with a document or a located error, never panic, hang or blow up memory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use firedrill::spec::SpecError;
use libfuzzer_sys::fuzz_target;

/// One file per process, rewritten for each input: loading reads from a path.
fn file() -> &'static PathBuf {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("drill.yaml");
        (dir, path)
    });
    path
}

/// What the CLI prints of an error must not carry control characters from the file: an
/// escape sequence in a key would otherwise reach the terminal of whoever validates it.
fn check_printable(error: &SpecError) {
    let printed = error.to_string();
    if let Some(c) = printed.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("the message carries the control character {c:?}: {printed:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("the input is written");
    if let Err(error) = firedrill::spec::load_document(path) {
        check_printable(&error);
    }
    if let Err(error) = firedrill::spec::load_schedule(path) {
        check_printable(&error);
    }
});
