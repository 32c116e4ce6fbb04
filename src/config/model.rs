//! The serde model of the configuration file, with its defaults.

use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// IANA timezone of the calendar months (e.g. `Asia/Ho_Chi_Minh`).
    pub timezone: String,
    pub events: EventsConfig,
    pub classification: ClassificationConfig,
    pub dedup: DedupConfig,
    pub windows: WindowsConfig,
    pub ledger: LedgerConfig,
    pub state: StateConfig,
    pub report: ReportConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timezone: "UTC".to_owned(),
            events: EventsConfig::default(),
            classification: ClassificationConfig::default(),
            dedup: DedupConfig::default(),
            windows: WindowsConfig::default(),
            ledger: LedgerConfig::default(),
            state: StateConfig::default(),
            report: ReportConfig::default(),
        }
    }
}

/// Input limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Messages longer than this are rejected as `too_large`.
    pub max_event_bytes: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_event_bytes: 65_536,
        }
    }
}

/// Classification rules (spec §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClassificationConfig {
    /// Category of an event no rule matches.
    pub default_category: String,
    /// Rules in order; the first that matches decides the category.
    pub rules: Vec<RuleConfig>,
}

/// One classification rule. Every condition given must match; within a
/// condition any listed value matches. At least one condition is required.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// Category assigned when the rule matches.
    pub category: String,
    /// `type` equals one of these (case-insensitive).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// `signature` contains one of these (case-insensitive).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signature_contains: Vec<String>,
    /// `mitre` starts with one of these (case-insensitive, `T1566` matches
    /// `T1566.002`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mitre_prefixes: Vec<String>,
    /// One of `tags` equals one of these (case-insensitive).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// `target.sector` equals one of these (case-insensitive).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors: Vec<String>,
}

fn types_rule(category: &str, types: &[&str]) -> RuleConfig {
    RuleConfig {
        category: category.to_owned(),
        types: types.iter().map(|t| (*t).to_owned()).collect(),
        ..RuleConfig::default()
    }
}

impl Default for ClassificationConfig {
    fn default() -> Self {
        ClassificationConfig {
            default_category: "other".to_owned(),
            rules: vec![
                types_rule(
                    "phishing",
                    &["phishing", "spear-phishing", "credential-harvesting"],
                ),
                types_rule("deface", &["deface", "defacement", "website-defacement"]),
                types_rule(
                    "malware",
                    &[
                        "malware",
                        "ransomware",
                        "trojan",
                        "botnet",
                        "backdoor",
                        "worm",
                    ],
                ),
                types_rule("ddos", &["ddos", "dos"]),
                types_rule(
                    "intrusion",
                    &["intrusion", "unauthorized-access", "exploit", "brute-force"],
                ),
            ],
        }
    }
}

/// Distinct-incident memory (spec §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How far behind the newest event time an id is remembered. An incident
    /// older than this when it first arrives cannot be checked for duplicates
    /// and is counted as `late` instead of being counted.
    pub horizon_days: u32,
    /// Hard cap on remembered ids per partition (about 40 bytes each). When
    /// reached, the oldest hour of ids is forgotten and the horizon moves up.
    pub max_ids_per_partition: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            horizon_days: 400,
            max_ids_per_partition: 2_000_000,
        }
    }
}

/// Event-time sliding windows (spec §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsConfig {
    /// The watermark trails the largest event time seen by this much.
    pub allowed_lateness_secs: u64,
    /// After this long without events the window clock follows the wall clock.
    pub idle_after_secs: u64,
    /// The windows, each exported with its `name` as the `window` label.
    pub windows: Vec<WindowSpec>,
}

/// One sliding window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Label value, e.g. `5m`.
    pub name: String,
    /// Window length.
    pub length_secs: u64,
    /// Granularity (pane width); `length_secs` must be a multiple of it.
    pub slide_secs: u64,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        let w = |name: &str, length_secs, slide_secs| WindowSpec {
            name: name.to_owned(),
            length_secs,
            slide_secs,
        };
        WindowsConfig {
            allowed_lateness_secs: 60,
            idle_after_secs: 30,
            windows: vec![w("5m", 300, 10), w("1h", 3600, 60), w("24h", 86_400, 900)],
        }
    }
}

/// Calendar ledger breakdowns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// `target.sector` values counted by name (lower case); others count as
    /// `other`, a missing sector as `unknown`.
    pub sectors: Vec<String>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            sectors: [
                "government",
                "finance",
                "education",
                "healthcare",
                "energy",
                "telecom",
                "transport",
                "manufacturing",
                "retail",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

/// Persistence of the aggregated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory of the checkpoints (`--state-dir` overrides).
    pub dir: String,
    /// How often state and positions are checkpointed while running.
    pub checkpoint_interval_ms: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: "state".to_owned(),
            checkpoint_interval_ms: 5_000,
        }
    }
}

/// Who the report speaks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Name of the reporting organisation in English sentences.
    pub organization_en: String,
    /// Name of the reporting organisation in Vietnamese sentences.
    pub organization_vi: String,
    /// Where the incidents happened, in English (`in Vietnam`); empty to omit.
    pub scope_en: String,
    /// Where the incidents happened, in Vietnamese (`tại Việt Nam`); empty to omit.
    pub scope_vi: String,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            organization_en: "the security operations centre".to_owned(),
            organization_vi: "Trung tâm điều hành an ninh mạng".to_owned(),
            scope_en: String::new(),
            scope_vi: String::new(),
        }
    }
}
