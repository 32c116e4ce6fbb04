//! Classification (spec §3): configured rules map an event to one category.
//!
//! Rules are compiled once: every `types` value goes into one hash map from
//! the lower-cased type to the bit set of rules listing it, so the common case
//! (rules on `type` only) costs one lookup. Rules with other conditions are
//! tried in order, first match wins. `province` matches an incident's
//! `target.province` to the configured provinces (spec §7 "Slices").

use std::collections::HashMap;

use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: keys are short type names from the configuration (no
/// adversarial keys), and for them it is several times faster than SipHash
/// or a streaming XXH3.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Lower-cased type (as bytes, so a lookup need not re-check UTF-8) → rules.
type TypeMap = HashMap<Box<[u8]>, u64, BuildHasherDefault<Fnv>>;

mod province;
mod rules;
mod words;

use crate::event::Event;
pub use province::{
    DEFAULT_PREFIXES as DEFAULT_PROVINCE_PREFIXES, NameCache, ProvinceError, Provinces,
    built_in_name as province_built_in_name, default_codes as default_province_codes,
};
pub use rules::{
    ClassificationConfig, LabelTable, RuleConfig, SECTOR_OTHER, SECTOR_UNKNOWN, is_label_safe,
};
pub use words::{AsciiWords, trimmed};

/// Most rules a configuration may have (they are tracked in a `u64` bit set).
pub const MAX_RULES: usize = 64;
/// Most categories (they are metric label values).
pub const MAX_CATEGORIES: usize = 32;

/// Index of a category in [`Classifier::categories`].
pub type CategoryId = u8;

/// A rule set that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClassifyError {
    #[error("category {0:?} must be 1-32 characters of a-z, 0-9, _ or -")]
    BadCategory(String),
    #[error(
        "rule {index} ({category}) has no condition: give types, signature_contains, mitre_prefixes, tags or sectors"
    )]
    NoCondition { index: usize, category: String },
    #[error("rule {index} ({category}) has an empty value in {field}")]
    EmptyValue {
        index: usize,
        category: String,
        field: &'static str,
    },
    #[error("at most {MAX_RULES} rules")]
    TooManyRules,
    #[error("at most {MAX_CATEGORIES} categories")]
    TooManyCategories,
}

#[derive(Debug)]
struct Rule {
    category: CategoryId,
    signature_contains: Vec<String>,
    mitre_prefixes: Vec<String>,
    tags: Vec<String>,
    sectors: Vec<String>,
}

impl Rule {
    fn has_extra_conditions(&self) -> bool {
        !(self.signature_contains.is_empty()
            && self.mitre_prefixes.is_empty()
            && self.tags.is_empty()
            && self.sectors.is_empty())
    }

    /// Conditions other than `type` (checked after the type bit set).
    fn matches_extra(&self, e: &Event<'_>) -> bool {
        if !self.signature_contains.is_empty() {
            let Some(sig) = e.signature.as_deref() else {
                return false;
            };
            let sig = sig.to_lowercase();
            if !self
                .signature_contains
                .iter()
                .any(|s| sig.contains(s.as_str()))
            {
                return false;
            }
        }
        if !self.mitre_prefixes.is_empty() {
            let Some(m) = e.mitre.as_deref() else {
                return false;
            };
            let m = m.trim();
            if !self.mitre_prefixes.iter().any(|p| {
                m.len() >= p.len()
                    && m.is_char_boundary(p.len())
                    && m[..p.len()].eq_ignore_ascii_case(p)
            }) {
                return false;
            }
        }
        if !self.tags.is_empty()
            && !e.tags.iter().any(|t| {
                self.tags
                    .iter()
                    .any(|want| t.trim().to_lowercase() == *want)
            })
        {
            return false;
        }
        if !self.sectors.is_empty() {
            let sector = e.target.sector.as_deref().unwrap_or(SECTOR_UNKNOWN);
            if !self
                .sectors
                .iter()
                .any(|s| s.eq_ignore_ascii_case(sector.trim()))
            {
                return false;
            }
        }
        true
    }
}

/// Compiled rules.
#[derive(Debug)]
pub struct Classifier {
    categories: Vec<String>,
    default_category: CategoryId,
    rules: Vec<Rule>,
    /// Lower-cased type → rules whose `types` list it.
    by_type: TypeMap,
    /// Rules without a `types` condition: candidates for every event.
    typeless: u64,
    /// Rules that need more than the type check.
    extra: u64,
}

impl Classifier {
    /// Compiles and checks a rule set.
    pub fn compile(cfg: &ClassificationConfig) -> Result<Classifier, ClassifyError> {
        if cfg.rules.len() > MAX_RULES {
            return Err(ClassifyError::TooManyRules);
        }
        let mut categories: Vec<String> = Vec::new();
        let mut intern = |name: &str| -> Result<CategoryId, ClassifyError> {
            if !is_label_safe(name) {
                return Err(ClassifyError::BadCategory(name.to_owned()));
            }
            if let Some(i) = categories.iter().position(|c| c == name) {
                // `categories` never exceeds MAX_CATEGORIES (32), so it fits.
                return Ok(i as CategoryId);
            }
            if categories.len() == MAX_CATEGORIES {
                return Err(ClassifyError::TooManyCategories);
            }
            categories.push(name.to_owned());
            Ok((categories.len() - 1) as CategoryId)
        };
        let mut rules = Vec::with_capacity(cfg.rules.len());
        let mut by_type = TypeMap::default();
        let mut typeless = 0u64;
        let mut extra = 0u64;
        for (index, r) in cfg.rules.iter().enumerate() {
            let category = intern(&r.category)?;
            let lower = |field: &'static str, v: &[String]| -> Result<Vec<String>, ClassifyError> {
                v.iter()
                    .map(|s| {
                        let s = s.trim().to_lowercase();
                        if s.is_empty() {
                            Err(ClassifyError::EmptyValue {
                                index,
                                category: r.category.clone(),
                                field,
                            })
                        } else {
                            Ok(s)
                        }
                    })
                    .collect()
            };
            let types = lower("types", &r.types)?;
            let rule = Rule {
                category,
                signature_contains: lower("signature_contains", &r.signature_contains)?,
                mitre_prefixes: lower("mitre_prefixes", &r.mitre_prefixes)?,
                tags: lower("tags", &r.tags)?,
                sectors: lower("sectors", &r.sectors)?,
            };
            if types.is_empty() && !rule.has_extra_conditions() {
                return Err(ClassifyError::NoCondition {
                    index,
                    category: r.category.clone(),
                });
            }
            let bit = 1u64 << index;
            if types.is_empty() {
                typeless |= bit;
            }
            for t in types {
                *by_type.entry(t.into_bytes().into()).or_default() |= bit;
            }
            if rule.has_extra_conditions() {
                extra |= bit;
            }
            rules.push(rule);
        }
        let default_category = intern(&cfg.default_category)?;
        Ok(Classifier {
            categories,
            default_category,
            rules,
            by_type,
            typeless,
            extra,
        })
    }

    /// The optional event fields some rule reads; the parser skips the rest.
    pub fn fields_needed(&self) -> crate::event::Fields {
        crate::event::Fields {
            signature: self.rules.iter().any(|r| !r.signature_contains.is_empty()),
            mitre: self.rules.iter().any(|r| !r.mitre_prefixes.is_empty()),
            tags: self.rules.iter().any(|r| !r.tags.is_empty()),
        }
    }

    /// Category names in index order (rule order, then the default).
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// Index of a category name.
    pub fn category_id(&self, name: &str) -> Option<CategoryId> {
        self.categories
            .iter()
            .position(|c| c == name)
            .map(|i| i as CategoryId)
    }

    /// The category of an event: the first matching rule's, or the default.
    pub fn classify(&self, e: &Event<'_>) -> CategoryId {
        let mut candidates = self.typeless | self.type_mask(&e.kind);
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let rule = &self.rules[i];
            if self.extra & (1 << i) == 0 || rule.matches_extra(e) {
                return rule.category;
            }
        }
        self.default_category
    }

    /// Rules whose `types` list this type, matched case-insensitively without
    /// allocating for short ASCII types.
    fn type_mask(&self, kind: &str) -> u64 {
        let kind = trimmed(kind);
        let mut buf = [0u8; 64];
        if kind.len() <= buf.len() && kind.is_ascii() {
            let buf = &mut buf[..kind.len()];
            buf.copy_from_slice(kind.as_bytes());
            buf.make_ascii_lowercase();
            self.by_type.get(&*buf).copied().unwrap_or(0)
        } else {
            self.by_type
                .get(kind.to_lowercase().as_bytes())
                .copied()
                .unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;

    fn classify(c: &Classifier, json: &str) -> String {
        let e = parse(json.as_bytes(), 1 << 16).unwrap();
        c.categories()[c.classify(&e) as usize].clone()
    }

    fn ev(kind: &str) -> String {
        format!(r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"{kind}"}}"#)
    }

    #[test]
    fn default_rules_cover_the_spec_table() {
        let c = Classifier::compile(&ClassificationConfig::default()).unwrap();
        let table = [
            (
                "phishing",
                &["phishing", "Spear-Phishing", "CREDENTIAL-HARVESTING"][..],
            ),
            ("deface", &["deface", "Defacement", "website-defacement"]),
            (
                "malware",
                &[
                    "malware",
                    "ransomware",
                    "Trojan",
                    "botnet",
                    "backdoor",
                    "worm",
                ],
            ),
            ("ddos", &["ddos", "DoS"]),
            (
                "intrusion",
                &["intrusion", "unauthorized-access", "exploit", "brute-force"],
            ),
            ("other", &["spam", "", "phishing-ish", "Ünïcode"]),
        ];
        for (want, kinds) in table {
            for k in kinds {
                if k.is_empty() {
                    continue;
                }
                assert_eq!(classify(&c, &ev(k)), want, "{k}");
            }
        }
        assert_eq!(
            c.categories(),
            [
                "phishing",
                "deface",
                "malware",
                "ddos",
                "intrusion",
                "other"
            ]
        );
    }

    #[test]
    fn first_match_wins_and_extra_conditions_apply() {
        let cfg = ClassificationConfig {
            default_category: "other".into(),
            rules: vec![
                RuleConfig {
                    category: "ransomware".into(),
                    types: vec!["malware".into()],
                    tags: vec!["Ransomware".into()],
                    ..Default::default()
                },
                RuleConfig {
                    category: "phishing".into(),
                    mitre_prefixes: vec!["T1566".into()],
                    ..Default::default()
                },
                RuleConfig {
                    category: "gov_malware".into(),
                    types: vec!["malware".into()],
                    sectors: vec!["government".into()],
                    ..Default::default()
                },
                RuleConfig {
                    category: "malware".into(),
                    types: vec!["malware".into()],
                    ..Default::default()
                },
                RuleConfig {
                    category: "c2".into(),
                    signature_contains: vec!["cobalt strike".into()],
                    ..Default::default()
                },
            ],
            labels: LabelTable::new(),
        };
        let c = Classifier::compile(&cfg).unwrap();
        let t = |extra: &str| {
            classify(
                &c,
                &format!(r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"Malware"{extra}}}"#),
            )
        };
        assert_eq!(t(r#","tags":["x","ransomware"]"#), "ransomware");
        assert_eq!(t(r#","mitre":"t1566.001""#), "phishing");
        assert_eq!(t(r#","target":{"sector":"Government"}"#), "gov_malware");
        assert_eq!(t(""), "malware");
        assert_eq!(
            classify(
                &c,
                r#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"beacon","signature":"ET Cobalt Strike Beacon"}"#
            ),
            "c2"
        );
        assert_eq!(classify(&c, &ev("beacon")), "other");
    }

    #[test]
    fn bad_rules_are_named() {
        let mut cfg = ClassificationConfig::default();
        cfg.rules.push(RuleConfig {
            category: "empty".into(),
            ..Default::default()
        });
        assert!(matches!(
            Classifier::compile(&cfg),
            Err(ClassifyError::NoCondition { index: 5, .. })
        ));
        let mut cfg = ClassificationConfig::default();
        cfg.rules[0].category = "Bad Name".into();
        assert_eq!(
            Classifier::compile(&cfg).unwrap_err(),
            ClassifyError::BadCategory("Bad Name".into())
        );
    }
}
