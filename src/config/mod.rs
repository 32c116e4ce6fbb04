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

use crate::lifecycle::StageWords;
pub use model::*;

use crate::classify::{
    Classifier, ClassifyError, Provinces, SECTOR_OTHER, SECTOR_UNKNOWN, is_label_safe,
};

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

/// Whether Kafka accepts this topic name.
fn topic_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A state topic name Kafka accepts, and not an input topic (the monitor
/// would count its own checkpoints).
pub fn check_state_topic<'a>(
    name: &str,
    mut inputs: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    if !topic_name_ok(name) {
        return Err(format!(
            "{name:?} is not a Kafka topic name (1-249 characters of a-z, A-Z, 0-9, '.', '_', '-')"
        ));
    }
    if inputs.any(|t| t == name) {
        return Err(format!(
            "{name:?} is an input topic: the state topic must be a topic of its own"
        ));
    }
    Ok(())
}

/// Inputs one instance may read at once (each is a consumer and a label
/// value of the per-input metrics).
pub const MAX_INPUTS: usize = 16;

/// The input name of a file run (`run --input`), in the metrics.
pub const FILE_INPUT: &str = "file";

/// One input, checked and compiled: its name (the metrics' `input`
/// label), its topic and consumer group, and what its decoder needs.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    /// The Kafka topic (a file run's input has the configured one).
    pub topic: String,
    /// Its consumer group: one per input, so that a member joining or
    /// leaving for one input never stops the others (a shared group
    /// rebalances every input together: drains measured 0.4 s alone, up
    /// to 16 s shared, on the test broker).
    pub group: String,
    pub format: crate::decode::Format,
    pub tools: crate::decode::ToolOptions,
    /// The compiled mapping of `format = "custom"`.
    pub mapping: Option<Arc<crate::decode::Mapping>>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

impl PublishConfig {
    /// `[publish]`: ranges, languages and formats, and each destination
    /// (a name of its own, a URL of its scheme, a password where a user
    /// is named).
    fn validate(&self) -> Result<(), ConfigError> {
        check_range(
            "publish.after_close_secs",
            self.after_close_secs,
            0,
            31_622_400,
        )?;
        let one_of = |field: &'static str, list: &[String], known: &[&str]| {
            if list.is_empty() {
                return Err(invalid(
                    field,
                    format!("name at least one of {}", known.join(", ")),
                ));
            }
            for (i, v) in list.iter().enumerate() {
                if !known.contains(&v.as_str()) {
                    return Err(invalid(
                        field,
                        format!("{v:?} is not one of {}", known.join(", ")),
                    ));
                }
                if list[..i].contains(v) {
                    return Err(invalid(field, format!("{v:?} is listed twice")));
                }
            }
            Ok(())
        };
        one_of("publish.langs", &self.langs, &["en", "vi"])?;
        one_of(
            "publish.formats",
            &self.formats,
            &["html", "json", "markdown", "text"],
        )?;
        let names: Vec<&str> = (self.email.iter().map(|e| e.name.as_str()))
            .chain(self.webhook.iter().map(|w| w.name.as_str()))
            .collect();
        for (i, n) in names.iter().enumerate() {
            if !is_label_safe(n) {
                return Err(invalid(
                    "publish destination name",
                    format!("{n:?} must be 1-32 characters of a-z, 0-9, _ or -"),
                ));
            }
            if names[..i].contains(n) {
                return Err(invalid(
                    "publish destination name",
                    format!("{n:?} is used twice"),
                ));
            }
        }
        for e in &self.email {
            let field = "publish.email.smtp_url";
            let host = url_host(&e.smtp_url, &["smtp", "smtps"]).ok_or_else(|| {
                invalid(
                    field,
                    format!(
                        "{}: a URL starting {:?} is not smtp://HOST[:PORT] or smtps://HOST[:PORT]",
                        e.name,
                        scheme_of(&e.smtp_url)
                    ),
                )
            })?;
            if host.is_empty() {
                return Err(invalid(field, format!("{}: no host in the URL", e.name)));
            }
            if !e.from.contains('@') {
                return Err(invalid(
                    "publish.email.from",
                    format!("{}: {:?} is not an address", e.name, e.from),
                ));
            }
            if e.to.is_empty() || e.to.iter().any(|t| !t.contains('@')) {
                return Err(invalid(
                    "publish.email.to",
                    format!("{}: name one address or more", e.name),
                ));
            }
            if !e.username.is_empty() && e.password_file.is_none() && e.password_env.is_empty() {
                return Err(invalid(
                    "publish.email.password_file",
                    format!("{}: a username needs password_file or password_env", e.name),
                ));
            }
            check_range("publish.email.timeout_secs", e.timeout_secs, 1, 600)?;
        }
        for w in &self.webhook {
            let host = url_host(&w.url, &["http", "https"]).ok_or_else(|| {
                invalid(
                    "publish.webhook.url",
                    format!(
                        "{}: a URL starting {:?} is not an http:// or https:// URL",
                        w.name,
                        scheme_of(&w.url)
                    ),
                )
            })?;
            if host.is_empty() {
                return Err(invalid(
                    "publish.webhook.url",
                    format!("{}: no host in the URL", w.name),
                ));
            }
            check_range("publish.webhook.timeout_secs", w.timeout_secs, 1, 600)?;
        }
        Ok(())
    }
}

/// What an error may quote of a URL: at most its scheme (a webhook's path
/// or query, and an SMTP URL's user part, may carry a secret).
fn scheme_of(url: &str) -> String {
    let scheme: String = url
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .take(16)
        .collect();
    if url[scheme.len()..].starts_with("://") {
        format!("{scheme}://")
    } else {
        scheme
    }
}

/// The host of a URL of one of `schemes` (`None`: another scheme, or
/// characters no URL has).
fn url_host<'a>(url: &'a str, schemes: &[&str]) -> Option<&'a str> {
    let (scheme, rest) = url.split_once("://")?;
    if !schemes.contains(&scheme) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    Some(match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    })
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
    pub fn validate(mut self) -> Result<Settings, ConfigError> {
        let tz = jiff::tz::TimeZone::get(&self.timezone)
            .map_err(|_| ConfigError::Timezone(self.timezone.clone()))?;
        self.validate_ranges()?;
        self.validate_windows()?;
        self.publish.validate()?;
        check_range(
            "report.fiscal_year_start_month",
            u64::from(self.report.fiscal_year_start_month),
            1,
            12,
        )?;
        if self.kafka.topic.is_empty() || self.kafka.group_id.is_empty() {
            return Err(invalid("kafka", "topic and group_id must not be empty"));
        }
        let (events_input, inputs) = self.compile_inputs()?;
        if !self.state.topic.is_empty() {
            check_state_topic(&self.state.topic, inputs.iter().map(|i| i.topic.as_str()))
                .map_err(|m| invalid("state.topic", m))?;
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
        let stage_words = lifecycle_words(&self.lifecycle)?;
        let earliest_ms = earliest_time(&self.events.earliest_time, &tz)?;
        self.report.labels = Labels {
            categories: checked_labels(
                "classification.labels",
                &self.classification.labels,
                classifier.categories(),
            )?,
            sectors: checked_labels("ledger.labels", &self.ledger.labels, &sectors)?,
            provinces: LabelTable::new(),
        };
        let provinces = Provinces::compile(
            &self.ledger.provinces,
            &self.ledger.province_labels,
            &self.ledger.province_aliases,
            &self.ledger.province_prefixes,
        )
        .map_err(|e| invalid("ledger.provinces", e.to_string()))?;
        self.report.labels.provinces = checked_labels(
            "ledger.province_labels",
            &self.ledger.province_labels,
            provinces.names(),
        )?;
        Ok(Settings {
            earliest_ms,
            tz,
            events_input,
            inputs: inputs.into(),
            classifier: Arc::new(classifier),
            sectors: sectors.into(),
            provinces: Arc::new(provinces),
            stage_words: Arc::new(stage_words),
            config: Arc::new(self),
        })
    }

    /// Every numeric setting against its documented range (the shipped
    /// `config/incident-monitor.toml` states each one): nothing computed
    /// from a setting can overflow, divide by zero or size memory without
    /// bound.
    fn validate_ranges(&self) -> Result<(), ConfigError> {
        let e = &self.events;
        let k = &self.kafka;
        let sp = &self.spike;
        let max_ids = u64::try_from(self.dedup.max_ids_per_partition).unwrap_or(u64::MAX);
        let max_bytes = u64::try_from(e.max_event_bytes).unwrap_or(u64::MAX);
        let lc = &self.lifecycle;
        let max_open = u64::try_from(lc.max_per_partition).unwrap_or(u64::MAX);
        let ranges: [(&'static str, u64, u64, u64); 23] = [
            ("events.max_event_bytes", max_bytes, 64, 16_777_216),
            ("events.wazuh_min_level", e.wazuh_min_level, 0, 15),
            ("events.max_future_secs", e.max_future_secs, 0, 31_622_400),
            (
                "dedup.horizon_days",
                u64::from(self.dedup.horizon_days),
                1,
                MAX_HORIZON_DAYS,
            ),
            ("dedup.max_ids_per_partition", max_ids, 1000, 500_000_000),
            (
                "lifecycle.remember_days",
                u64::from(lc.remember_days),
                1,
                MAX_HORIZON_DAYS,
            ),
            ("lifecycle.max_per_partition", max_open, 0, 100_000_000),
            (
                "lifecycle.overdue_hours",
                u64::from(lc.overdue_hours),
                1,
                24 * 29,
            ),
            (
                "lifecycle.max_time_days",
                u64::from(lc.max_time_days),
                1,
                3660,
            ),
            (
                "windows.allowed_lateness_secs",
                self.windows.allowed_lateness_secs,
                0,
                86_400,
            ),
            (
                "windows.idle_after_secs",
                self.windows.idle_after_secs,
                1,
                86_400,
            ),
            (
                "state.checkpoint_interval_ms",
                self.state.checkpoint_interval_ms,
                10,
                3_600_000,
            ),
            (
                "kafka.max_retry_backoff_secs",
                k.max_retry_backoff_secs,
                1,
                3600,
            ),
            ("kafka.drain_timeout_secs", k.drain_timeout_secs, 1, 3600),
            (
                "kafka.connect_timeout_secs",
                k.connect_timeout_secs,
                1,
                86_400,
            ),
            (
                "metrics.update_interval_ms",
                self.metrics.update_interval_ms,
                100,
                60_000,
            ),
            (
                "metrics.max_connections",
                self.metrics.max_connections,
                1,
                65_536,
            ),
            (
                "metrics.header_timeout_secs",
                self.metrics.header_timeout_secs,
                1,
                600,
            ),
            (
                "metrics.request_timeout_secs",
                self.metrics.request_timeout_secs,
                1,
                3600,
            ),
            (
                "metrics.max_report_renders",
                self.metrics.max_report_renders,
                1,
                64,
            ),
            ("spike.min_count", sp.min_count, 0, 1_000_000_000),
            (
                "spike.baseline_half_life_secs",
                sp.baseline_half_life_secs,
                1,
                31_622_400,
            ),
            ("spike.warmup_samples", sp.warmup_samples, 0, 1_000_000),
        ];
        for (field, value, lo, hi) in ranges {
            check_range(field, value, lo, hi)?;
        }
        if !(sp.threshold.is_finite() && (0.5..=100.0).contains(&sp.threshold)) {
            return Err(invalid(
                "spike.threshold",
                format!("{} is out of range: must be 0.5 to 100", sp.threshold),
            ));
        }
        Ok(())
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
            check_range(
                "windows.windows.length_secs",
                spec.length_secs,
                1,
                2_678_400,
            )?;
            check_range(
                "windows.windows.slide_secs",
                spec.slide_secs,
                1,
                spec.length_secs,
            )?;
            if spec.length_secs % spec.slide_secs != 0 {
                return Err(invalid(
                    "windows.windows",
                    format!(
                        "{}: length_secs ({}) must be a multiple of slide_secs ({})",
                        spec.name, spec.length_secs, spec.slide_secs
                    ),
                ));
            }
            // Both at most 31 days (checked above): no overflow.
            let panes = (spec.length_secs + w.allowed_lateness_secs) / spec.slide_secs;
            if panes > MAX_PANES {
                return Err(invalid(
                    "windows.windows",
                    format!(
                        "{}: (length_secs + allowed_lateness_secs) / slide_secs = {panes} panes; \
                         at most {MAX_PANES} (use a larger slide_secs)",
                        spec.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// The `[events]` input and the Kafka inputs, checked.
    fn compile_inputs(&self) -> Result<(Input, Vec<Input>), ConfigError> {
        use crate::decode::{Format, Mapping, MappingConfig};
        let e = &self.events;
        let zone = |name: &str| jiff::tz::TimeZone::get(name).ok();
        let naive_zone = zone(&e.naive_time_zone).ok_or_else(|| {
            invalid(
                "events.naive_time_zone",
                format!(
                    "unknown timezone {:?}: use an IANA name such as \"UTC\"",
                    e.naive_time_zone
                ),
            )
        })?;
        let tools = crate::decode::ToolOptions {
            wazuh_min_level: i64::try_from(e.wazuh_min_level).unwrap_or(i64::MAX),
            naive_zone,
        };
        // `[events.mapping]` is the mapping of every custom input without
        // its own; set without one, it is a mistake.
        let custom_default = e.format == Format::Custom
            || self
                .inputs
                .iter()
                .any(|i| i.format == Some(Format::Custom) && i.mapping.is_none());
        let events_mapping = if custom_default {
            Some(Arc::new(
                Mapping::compile(&e.mapping).map_err(|(field, m)| invalid(field, m))?,
            ))
        } else if e.mapping != MappingConfig::default() {
            return Err(invalid(
                "events.mapping",
                "is used only with format = \"custom\"",
            ));
        } else {
            None
        };
        let events_input = Input {
            name: FILE_INPUT.to_owned(),
            topic: self.kafka.topic.clone(),
            group: self.kafka.group_id.clone(),
            format: e.format,
            tools: tools.clone(),
            mapping: events_mapping
                .clone()
                .filter(|_| e.format == Format::Custom),
        };
        if self.inputs.is_empty() {
            let only = Input {
                name: self.kafka.topic.clone(),
                ..events_input.clone()
            };
            return Ok((events_input, vec![only]));
        }
        if self.inputs.len() > MAX_INPUTS {
            return Err(invalid(
                "inputs",
                format!("{} inputs: at most {MAX_INPUTS}", self.inputs.len()),
            ));
        }
        if self.kafka.topic != KafkaConfig::default().topic {
            return Err(invalid(
                "kafka.topic",
                "with [[inputs]] the topics are the inputs': remove kafka.topic",
            ));
        }
        let mut out: Vec<Input> = Vec::with_capacity(self.inputs.len());
        for i in &self.inputs {
            let bad = |m: String| invalid("inputs", format!("topic {:?}: {m}", i.topic));
            if !topic_name_ok(&i.topic) {
                return Err(bad(
                    "not a Kafka topic name (1-249 characters of a-z, A-Z, 0-9, '.', '_', '-')"
                        .to_owned(),
                ));
            }
            let name = if i.name.is_empty() {
                i.topic.clone()
            } else {
                i.name.clone()
            };
            if name.len() > 64 || !topic_name_ok(&name) {
                return Err(bad(format!(
                    "name {name:?} must be 1-64 characters of a-z, A-Z, 0-9, '.', '_', '-'"
                )));
            }
            if out.iter().any(|o| o.topic == i.topic) {
                return Err(bad("is listed twice".to_owned()));
            }
            if out.iter().any(|o| o.name == name) {
                return Err(bad(format!("the name {name:?} is used twice")));
            }
            let format = i.format.unwrap_or(e.format);
            let mut tools = tools.clone();
            if let Some(level) = i.wazuh_min_level {
                check_range("inputs.wazuh_min_level", level, 0, 15)?;
                tools.wazuh_min_level = i64::try_from(level).unwrap_or(i64::MAX);
            }
            if let Some(z) = &i.naive_time_zone {
                tools.naive_zone = zone(z).ok_or_else(|| {
                    bad(format!(
                        "naive_time_zone: unknown timezone {z:?}: use an IANA name such as \"UTC\""
                    ))
                })?;
            }
            let group = match &i.group_id {
                Some(g) if g.is_empty() => {
                    return Err(bad("group_id must not be empty".to_owned()));
                }
                Some(g) => g.clone(),
                None if self.inputs.len() == 1 => self.kafka.group_id.clone(),
                None => format!("{}.{name}", self.kafka.group_id),
            };
            let mapping = match (&i.mapping, format) {
                (Some(m), Format::Custom) => Some(Arc::new(
                    Mapping::compile(m).map_err(|(field, m)| bad(format!("{field}: {m}")))?,
                )),
                (Some(_), _) => {
                    return Err(bad(
                        "mapping is used only with format = \"custom\"".to_owned()
                    ));
                }
                (None, Format::Custom) => events_mapping.clone(),
                (None, _) => None,
            };
            out.push(Input {
                name,
                topic: i.topic.clone(),
                group,
                format,
                tools,
                mapping,
            });
        }
        Ok((events_input, out))
    }

    /// `run --topic` and `--format` name a single Kafka input: the
    /// `[[inputs]]` entry of that topic (its format replaced by
    /// `format`), or a new one; `format` alone sets the format of the one
    /// input (an error with several: which one?).
    pub fn single_input(
        &mut self,
        topic: Option<String>,
        format: Option<crate::decode::Format>,
    ) -> Result<(), ConfigError> {
        match (topic, self.inputs.is_empty()) {
            (None, true) => {
                if let Some(f) = format {
                    self.events.format = f;
                }
            }
            (None, false) => {
                if let Some(f) = format {
                    let [only] = self.inputs.as_mut_slice() else {
                        return Err(invalid(
                            "--format",
                            "the configuration has several [[inputs]]: name the one with --topic",
                        ));
                    };
                    only.format = Some(f);
                }
            }
            (Some(t), true) => {
                self.kafka.topic = t;
                if let Some(f) = format {
                    self.events.format = f;
                }
            }
            (Some(t), false) => {
                let several = self.inputs.len() > 1;
                let mut chosen = match self.inputs.iter().find(|i| i.topic == t) {
                    // Alone, it keeps the group it has among the others.
                    Some(i) if several && i.group_id.is_none() => {
                        let name = if i.name.is_empty() { &i.topic } else { &i.name };
                        InputConfig {
                            group_id: Some(format!("{}.{name}", self.kafka.group_id)),
                            ..i.clone()
                        }
                    }
                    Some(i) => i.clone(),
                    None => InputConfig {
                        name: String::new(),
                        topic: t,
                        format: None,
                        wazuh_min_level: None,
                        naive_time_zone: None,
                        mapping: None,
                        group_id: None,
                    },
                };
                if format.is_some() {
                    chosen.format = format;
                }
                self.inputs = vec![chosen];
            }
        }
        Ok(())
    }
}

/// `[lifecycle]`'s words: each 1-64 characters, none of them in both
/// lists.
fn lifecycle_words(lc: &LifecycleConfig) -> Result<StageWords, ConfigError> {
    for (field, words) in [
        ("lifecycle.warned", &lc.warned),
        ("lifecycle.handled", &lc.handled),
    ] {
        for w in words {
            let n = w.trim().chars().count();
            if n == 0 || n > 64 || w.chars().any(char::is_control) {
                return Err(invalid(
                    field,
                    format!("{w:?} must be 1-64 characters without control characters"),
                ));
            }
        }
    }
    let words = StageWords::new(&lc.warned, &lc.handled);
    if let Some(w) = words.conflict() {
        return Err(invalid(
            "lifecycle.handled",
            format!(
                "{w:?} is also a `warned` word: a status names one stage; remove it from one list"
            ),
        ));
    }
    Ok(words)
}

/// The largest `dedup.horizon_days`: ids carry their arrival hour modulo
/// 2^16 (7.4 years), which must not wrap within a horizon.
pub const MAX_HORIZON_DAYS: u64 = 2000;

/// Panes a window may keep, its allowed lateness included.
pub const MAX_PANES: u64 = 20_000;

/// One line naming the key, the value and the range.
fn check_range(field: &'static str, value: u64, lo: u64, hi: u64) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{value} is out of range: must be {lo} to {hi}"),
        ))
    }
}

/// The environment variable that sets `kafka.group_instance_id` (a
/// StatefulSet gives each pod its name through it).
pub const ENV_GROUP_INSTANCE_ID: &str = "INCIDENT_MONITOR_KAFKA_GROUP_INSTANCE_ID";

/// Environment variables that supply a `[kafka.properties]` secret, so it
/// need not be written in the config file (a Kubernetes Secret as an
/// environment variable, say).
pub const SECRET_ENV: &[(&str, &str)] = &[
    ("INCIDENT_MONITOR_KAFKA_SASL_USERNAME", "sasl.username"),
    ("INCIDENT_MONITOR_KAFKA_SASL_PASSWORD", "sasl.password"),
    (
        "INCIDENT_MONITOR_KAFKA_SSL_KEY_PASSWORD",
        "ssl.key.password",
    ),
    (
        "INCIDENT_MONITOR_KAFKA_SSL_KEYSTORE_PASSWORD",
        "ssl.keystore.password",
    ),
    (
        "INCIDENT_MONITOR_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET",
        "sasl.oauthbearer.client.secret",
    ),
];

/// The suffix of a `[kafka.properties]` key whose value is a file to read
/// the property from (`"sasl.password_file" = "/run/secrets/kafka"`).
pub const FILE_SUFFIX: &str = "_file";

impl Config {
    /// Takes `[kafka.properties]` secrets from where they are kept: each
    /// `KEY_file` property becomes `KEY` with the file's content (without
    /// its trailing newline), each variable of [`SECRET_ENV`] that is set
    /// becomes its property. A property given twice (in the file and the
    /// environment, say) is an error naming both places, never a silent
    /// choice; no message carries a value.
    pub fn resolve_secrets(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
        read: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<(), ConfigError> {
        let props = &mut self.kafka.properties;
        let files: Vec<(String, String)> = props
            .iter()
            .filter(|(k, _)| k.ends_with(FILE_SUFFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, path) in files {
            props.remove(&key);
            let target = key.strip_suffix(FILE_SUFFIX).unwrap_or(&key).to_owned();
            if target.is_empty() {
                return Err(invalid(
                    "kafka.properties",
                    format!("{key:?} names no property"),
                ));
            }
            if props.contains_key(&target) {
                return Err(invalid(
                    "kafka.properties",
                    format!("{target:?} is given twice, as {target:?} and as {key:?}: keep one"),
                ));
            }
            let text = read(Path::new(&path)).map_err(|e| {
                invalid(
                    "kafka.properties",
                    format!("{key:?}: cannot read {path}: {e}"),
                )
            })?;
            props.insert(target, text.trim_end_matches(['\n', '\r']).to_owned());
        }
        for (var, target) in SECRET_ENV {
            let Some(value) = env(var).filter(|v| !v.is_empty()) else {
                continue;
            };
            if props.contains_key(*target) {
                return Err(invalid(
                    "kafka.properties",
                    format!(
                        "{target:?} is given twice, in the configuration and in {var}: keep one"
                    ),
                ));
            }
            props.insert((*target).to_owned(), value);
        }
        Ok(())
    }

    /// Applies the environment's overrides (`env` looks a variable up); an
    /// empty value is no override.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        if let Some(id) = env(ENV_GROUP_INSTANCE_ID).filter(|v| !v.is_empty()) {
            self.kafka.group_instance_id = id;
        }
    }

    /// Applies the command line's overrides: the one place a flag changes
    /// the configuration (the environment's are [`Config::apply_env`]).
    pub fn apply_overrides(&mut self, o: Overrides) -> Result<(), ConfigError> {
        if let Some(tz) = o.timezone {
            self.timezone = tz;
        }
        if o.file_input {
            // A file is read in `[events]`'s format.
            if let Some(f) = o.format {
                self.events.format = f;
            }
        } else {
            self.single_input(o.topic, o.format)?;
        }
        if let Some(b) = o.brokers {
            self.kafka.brokers = b;
        }
        if let Some(g) = o.group {
            self.kafka.group_id = g;
        }
        if let Some(w) = o.web_config {
            self.metrics.web_config = Some(w);
        }
        Ok(())
    }
}

/// What the command line sets over the configuration file and the
/// environment ([`Config::apply_overrides`]); `None` leaves a setting as
/// the file has it.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--timezone`.
    pub timezone: Option<String>,
    /// `--brokers`.
    pub brokers: Option<String>,
    /// `--group`.
    pub group: Option<String>,
    /// `--web-config`.
    pub web_config: Option<std::path::PathBuf>,
    /// `--topic`: the one Kafka input ([`Config::single_input`]).
    pub topic: Option<String>,
    /// `--format`: of the file (with `file_input`), else of the one Kafka
    /// input.
    pub format: Option<crate::decode::Format>,
    /// The run reads a file or stdin, not Kafka.
    pub file_input: bool,
}

/// The validated configuration, cheap to clone and share.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The raw configuration, checked.
    pub config: Arc<Config>,
    /// `events.earliest_time` as an instant: earlier events are `too_old`.
    pub earliest_ms: crate::event::EpochMillis,
    /// The configured timezone.
    pub tz: jiff::tz::TimeZone,
    /// The input `[events]` describes: a file run's (named
    /// [`FILE_INPUT`]), and every Kafka input's defaults.
    pub events_input: Input,
    /// The Kafka inputs: `[[inputs]]`, or `kafka.topic` in `events.format`.
    pub inputs: Arc<[Input]>,
    /// Compiled classification rules.
    pub classifier: Arc<Classifier>,
    /// Sector label values: the configured ones, then `other`, then `unknown`.
    pub sectors: Arc<[String]>,
    /// The compiled provinces: the configured codes, then `other`, then
    /// `unknown`, and the names that match each.
    pub provinces: Arc<Provinces>,
    /// `[lifecycle]`'s status words.
    pub stage_words: Arc<StageWords>,
}

impl Settings {
    /// Category names, in index order.
    pub fn categories(&self) -> &[String] {
        self.classifier.categories()
    }
}

/// `events.earliest_time`: a date (midnight in `tz`) or an RFC 3339 instant,
/// from 1900 on.
fn earliest_time(
    s: &str,
    tz: &jiff::tz::TimeZone,
) -> Result<crate::event::EpochMillis, ConfigError> {
    let bad = || {
        invalid(
            "events.earliest_time",
            format!("{s:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 instant, from 1900 on"),
        )
    };
    let at = match crate::event::time::parse_rfc3339(s) {
        Some(t) => t,
        None => {
            let date: jiff::civil::Date = s.parse().map_err(|_| bad())?;
            date.to_zoned_datetime(tz.clone())
                .map_err(|_| bad())?
                .timestamp()
                .as_millisecond()
        }
    };
    // 1900-01-01T00:00:00Z: no earlier floor makes sense for incidents.
    if at < -2_208_988_800_000 {
        return Err(bad());
    }
    Ok(at)
}

/// Display names of one kind: languages `en` and `vi`, codes the
/// configuration has, names of 1-80 characters without control
/// characters.
fn checked_labels(
    key: &'static str,
    table: &LabelTable,
    codes: &[String],
) -> Result<LabelTable, ConfigError> {
    for (lang, names) in table {
        if lang != "en" && lang != "vi" {
            return Err(invalid(
                key,
                format!("{lang:?} is not a report language (en or vi)"),
            ));
        }
        for (code, name) in names {
            if !codes.contains(code) {
                return Err(invalid(
                    key,
                    format!(
                        "[{key}.{lang}] names {code:?}, which is not one of [{}]",
                        codes.join(", ")
                    ),
                ));
            }
            let chars = name.chars().count();
            if chars == 0 || chars > 80 || name.chars().any(char::is_control) {
                return Err(invalid(
                    key,
                    format!(
                        "[{key}.{lang}] {code}: a name of 1 to 80 characters, without control characters"
                    ),
                ));
            }
        }
    }
    Ok(table.clone())
}
