//! Regulatory notification drafts written at detection (NIS2 early warning and incident
//! notification, DORA initial notification), their optional delivery to a webhook, and the
//! acknowledgements of the incident by named roles. See docs/notifications.md.
//!
//! Every draft is an exercise: it says so in its data (`exercise: true`), its title and at
//! the top and bottom of its Markdown rendering.

mod acknowledge;
mod deliver;
mod draft;

use std::path::{Path, PathBuf};

pub use acknowledge::{
    AckBodyError, AckError, AckOutcome, AckRequest, Acknowledgement, Acknowledgements,
    MAX_ACK_BODY_BYTES,
};
pub use deliver::{Deliverer, DeliveryError, Posted, redact_url};
pub use draft::{
    Draft, DraftKind, Earlier, Field, FieldStatus, Incident, IncidentFault, build, legal_basis,
    render_markdown, title,
};

/// Why a draft could not be written or a delivery could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The draft's file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client for delivery could not be built.
    #[error("cannot build the http client for notification delivery")]
    Client(#[source] reqwest::Error),
    /// The delivery URL, placeholders expanded, is not an absolute http or https URL.
    #[error("the notification delivery url `{0}` is not an absolute http:// or https:// url")]
    Url(String),
}

impl NotificationError {
    /// Whether the experiment's author can fix this (the URL), rather than the host.
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::Url(_))
    }
}

/// Writes one file of a draft.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), NotificationError> {
    std::fs::write(path, bytes).map_err(|source| NotificationError::Write {
        path: path.to_owned(),
        source,
    })
}
