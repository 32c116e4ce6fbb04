//! Delivering a published version (spec §11): by e-mail over SMTP
//! ([`email`], lettre) and by webhook ([`webhook`], hyper over rustls).
//! Each destination says whether it accepted; what accepted is recorded in
//! the archive by the caller (`app::publish`), so a destination that
//! failed is tried again by the next `publish` and one that accepted is
//! never sent the version again.

pub mod email;
pub mod webhook;

use std::path::{Path, PathBuf};

/// A version to deliver: its manifest and its report files.
#[derive(Debug, Clone)]
pub struct Parcel {
    /// `YYYY-MM`.
    pub month: String,
    pub version: u32,
    pub revises: Option<u32>,
    /// The manifest as written in the archive (the webhook's body).
    pub manifest: Vec<u8>,
    /// Report files by name (`report.<lang>.<ext>`), in the configured
    /// order of languages and formats.
    pub files: Vec<(String, Vec<u8>)>,
    /// The first configured language (`en`, `vi`): the e-mail's body.
    pub lang: String,
    /// The month in words in that language, for a subject.
    pub month_words: String,
}

impl Parcel {
    /// `<YYYY-MM>-v<N>`: the same for every attempt at this version.
    pub fn idempotency_key(&self) -> String {
        format!("{}-v{}", self.month, self.version)
    }
}

/// Why a destination did not accept.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot read {what} {path}: {source}")]
    Secret {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Transport(String),
}

/// The first line of a secret file (a password), or its bytes without a
/// trailing newline (a key).
pub(crate) fn read_secret(what: &'static str, path: &Path) -> Result<Vec<u8>, DeliveryError> {
    let mut bytes = std::fs::read(path).map_err(|source| DeliveryError::Secret {
        what,
        path: path.to_owned(),
        source,
    })?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}
