//! The classification rules of the configuration file (spec §3), with
//! their defaults, and the label values classification produces.

use serde::{Deserialize, Serialize};

/// Classification rules (spec §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClassificationConfig {
    /// Category of an event no rule matches.
    pub default_category: String,
    /// Rules in order; the first that matches decides the category.
    pub rules: Vec<RuleConfig>,
    /// Display names of categories in reports, per language:
    /// `[classification.labels.vi] phishing = "Lừa đảo (Phishing)"` (a
    /// category of the rules or the default one).
    pub labels: LabelTable,
}

/// Display names per language (`en`, `vi`), code to name.
pub type LabelTable =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// One classification rule. Every condition given must match; within a
/// condition any listed value matches. At least one condition is required.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
            labels: LabelTable::new(),
        }
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
