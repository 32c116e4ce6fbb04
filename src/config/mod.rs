//! Configuration: the TOML file, its defaults and its validation.
//!
//! Owns the serde model of `config/incident-monitor.toml` (every struct denies
//! unknown keys, so a typo is an error naming the key) and [`Config::validate`],
//! which turns it into the checked, compiled [`Settings`] the rest of the
//! program uses. Defaults live in the `Default` impls here and nowhere else; a
//! test pins the shipped file to them.

mod model;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use model::*;

use crate::classify::{Classifier, ClassifyError};

/// Why a configuration cannot be used. Every message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown timezone {0:?}: use an IANA name such as \"UTC\" or \"Asia/Ho_Chi_Minh\"")]
    Timezone(String),
    #[error("classification: {0}")]
    Classify(#[from] ClassifyError),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

impl Config {
    /// Reads and parses a config file (not yet validated).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text; the error is a one-line message naming the key.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            let msg = e.message().trim().to_owned();
            match e.span() {
                Some(span) => {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
                    format!("line {line}: {msg}")
                }
                None => msg,
            }
        })
    }

    /// Checks every value and compiles what the hot path needs.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let tz = jiff::tz::TimeZone::get(&self.timezone)
            .map_err(|_| ConfigError::Timezone(self.timezone.clone()))?;
        if self.events.max_event_bytes < 64 {
            return Err(invalid("events.max_event_bytes", "must be at least 64"));
        }
        if self.dedup.horizon_days == 0 {
            return Err(invalid("dedup.horizon_days", "must be at least 1"));
        }
        if self.dedup.max_ids_per_partition < 1000 {
            return Err(invalid(
                "dedup.max_ids_per_partition",
                "must be at least 1000",
            ));
        }
        if self.state.checkpoint_interval_ms < 10 {
            return Err(invalid(
                "state.checkpoint_interval_ms",
                "must be at least 10",
            ));
        }
        self.validate_windows()?;
        if self.kafka.topic.is_empty() || self.kafka.group_id.is_empty() {
            return Err(invalid("kafka", "topic and group_id must not be empty"));
        }
        if self.kafka.drain_timeout_secs == 0 || self.kafka.max_retry_backoff_secs == 0 {
            return Err(invalid(
                "kafka",
                "drain_timeout_secs and max_retry_backoff_secs must be positive",
            ));
        }
        if self.metrics.update_interval_ms < 100 {
            return Err(invalid(
                "metrics.update_interval_ms",
                "must be at least 100",
            ));
        }
        if self
            .metrics
            .listen_addr
            .parse::<std::net::SocketAddr>()
            .is_err()
        {
            return Err(invalid(
                "metrics.listen_addr",
                format!(
                    "{:?} is not IP:PORT, e.g. 127.0.0.1:9898",
                    self.metrics.listen_addr
                ),
            ));
        }
        if !(self.spike.threshold.is_finite() && self.spike.threshold > 0.0)
            || self.spike.baseline_half_life_secs == 0
        {
            return Err(invalid(
                "spike",
                "threshold and baseline_half_life_secs must be positive",
            ));
        }
        let mut sectors: Vec<String> = Vec::new();
        for s in &self.ledger.sectors {
            let s = s.trim().to_lowercase();
            if !is_label_safe(&s) {
                return Err(invalid(
                    "ledger.sectors",
                    format!("{s:?} must be 1-32 characters of a-z, 0-9, _ or -"),
                ));
            }
            if s == SECTOR_OTHER || s == SECTOR_UNKNOWN {
                return Err(invalid(
                    "ledger.sectors",
                    format!("{s:?} is built in; do not list it"),
                ));
            }
            if sectors.contains(&s) {
                return Err(invalid("ledger.sectors", format!("{s:?} is listed twice")));
            }
            sectors.push(s);
        }
        if sectors.len() > 64 {
            return Err(invalid("ledger.sectors", "at most 64 sectors"));
        }
        sectors.push(SECTOR_OTHER.to_owned());
        sectors.push(SECTOR_UNKNOWN.to_owned());
        let classifier = Classifier::compile(&self.classification)?;
        Ok(Settings {
            tz,
            classifier: Arc::new(classifier),
            sectors: sectors.into(),
            config: Arc::new(self),
        })
    }

    fn validate_windows(&self) -> Result<(), ConfigError> {
        let w = &self.windows;
        if w.windows.is_empty() {
            return Err(invalid("windows.windows", "configure at least one window"));
        }
        if w.windows.len() > 16 {
            return Err(invalid("windows.windows", "at most 16 windows"));
        }
        for (i, spec) in w.windows.iter().enumerate() {
            if !is_label_safe(&spec.name) {
                return Err(invalid(
                    "windows.windows.name",
                    format!(
                        "{:?} must be 1-32 characters of a-z, 0-9, _ or -",
                        spec.name
                    ),
                ));
            }
            if w.windows[..i].iter().any(|o| o.name == spec.name) {
                return Err(invalid(
                    "windows.windows.name",
                    format!("{:?} is used twice", spec.name),
                ));
            }
            if spec.slide_secs == 0 || spec.length_secs == 0 {
                return Err(invalid(
                    "windows.windows",
                    format!("{}: length_secs and slide_secs must be positive", spec.name),
                ));
            }
            if spec.length_secs % spec.slide_secs != 0 {
                return Err(invalid(
                    "windows.windows",
                    format!(
                        "{}: length_secs ({}) must be a multiple of slide_secs ({})",
                        spec.name, spec.length_secs, spec.slide_secs
                    ),
                ));
            }
            if spec.length_secs / spec.slide_secs > 10_000 {
                return Err(invalid(
                    "windows.windows",
                    format!(
                        "{}: at most 10000 panes (length_secs / slide_secs)",
                        spec.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Label values must be short and plain.
pub fn is_label_safe(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Sector for a `target.sector` not in the configured list.
pub const SECTOR_OTHER: &str = "other";
/// Sector for an incident without `target.sector`.
pub const SECTOR_UNKNOWN: &str = "unknown";

/// The validated configuration, cheap to clone and share.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The raw configuration, checked.
    pub config: Arc<Config>,
    /// The configured timezone.
    pub tz: jiff::tz::TimeZone,
    /// Compiled classification rules.
    pub classifier: Arc<Classifier>,
    /// Sector label values: the configured ones, then `other`, then `unknown`.
    pub sectors: Arc<[String]>,
}

impl Settings {
    /// Category names, in index order.
    pub fn categories(&self) -> &[String] {
        self.classifier.categories()
    }
}
