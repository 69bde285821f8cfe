//! The process-wide TLS set-up every HTTPS client needs first.

use std::sync::Once;

/// Installs ring as rustls's process-wide crypto provider, once. reqwest is built without a
/// provider of its own (its default would bring a second one, aws-lc-rs, and rustls then
/// cannot choose), so every client needs this first; a provider already installed by an
/// embedding program is kept.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
