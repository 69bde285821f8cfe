//! Compatibility with a published Toxiproxy client: runs tests/fixtures/proxy/compat.py,
//! which uses PyPI's `toxiproxy-python`, against `firedrill proxy`.
//!
//! Without the module the test is skipped with a message, unless `CI` is set, where it fails
//! with the install command.

use crate::proxy_process;

use std::process::Command;

/// How to get the client.
const INSTALL: &str = "python3 -m pip install toxiproxy-python==0.1.1";

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

#[test]
fn the_toxiproxy_python_client_drives_the_admin_api() {
    let _guard = crate::common::shared();
    let importable = Command::new(python())
        .args(["-c", "import toxiproxy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        if std::env::var_os("CI").is_some() {
            panic!(
                "the Python module `toxiproxy` is not importable with {}; install it: {INSTALL}",
                python()
            );
        }
        eprintln!(
            "skipped: the Python module `toxiproxy` is not importable with {}; install it with `{INSTALL}`",
            python()
        );
        return;
    }
    let p = proxy_process::start(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/proxy/compat.py"
    );
    let out = Command::new(python())
        .arg(script)
        .arg(&p.admin)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compat.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
