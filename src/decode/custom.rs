//! A custom mapping (`format = "custom"`, `[events.mapping]`): any JSON
//! source, a field path per native field, with the filter and severity
//! options of the built-in formats. Read with serde_json's `Value` (the
//! paths are only known at run time).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Decoded;
use super::lenient::parse;
use super::mapping::{Skip, ToolOptions, read_tool};
use super::tooltime::{epoch_time, parse_tool_time};
use crate::event::{Event, Filter, MAX_ID_BYTES, Reject, Severity, Target};

/// `[events.mapping]`: where each native field is in the source's JSON.
/// A path is a JSON pointer (`/rule/name`) or a dotted path (`rule.name`,
/// tried first as one flat key, as Elastic stores `kibana.alert.uuid`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    pub id: String,
    pub time: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: String,
    pub signature: String,
    pub mitre: String,
    pub tags: String,
    pub sector: String,
    /// Where the target's province is (`target.province`, `host.geo.region_name`).
    pub province: String,
    /// Where the incident's stage is, as the reporter words it (spec §4
    /// "Updates").
    pub status: String,
    /// Where the time its status was reached is (RFC 3339).
    pub updated: String,
    /// Only events whose `filter_field` has one of `filter_values` are
    /// incidents; the others are filtered (`not_alert`).
    pub filter_field: String,
    pub filter_values: Vec<String>,
    /// Source severity (as text: `"1"`, `"high"`) → native level name;
    /// unmapped values are read as native severities are.
    pub severity_map: BTreeMap<String, String>,
}

/// A path, compiled.
#[derive(Debug, Clone)]
enum Path {
    Pointer(String),
    /// The whole dotted text as one key, then the nested path.
    Dotted(String, String),
}

impl Path {
    fn parse(p: &str) -> Option<Path> {
        if p.is_empty() {
            None
        } else if p.starts_with('/') {
            Some(Path::Pointer(p.to_owned()))
        } else {
            let pointer = format!(
                "/{}",
                p.split('.')
                    .map(|s| s.replace('~', "~0").replace('/', "~1"))
                    .collect::<Vec<_>>()
                    .join("/")
            );
            Some(Path::Dotted(p.to_owned(), pointer))
        }
    }

    fn get<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        let found = match self {
            Path::Pointer(p) => v.pointer(p),
            Path::Dotted(flat, p) => v.get(flat).or_else(|| v.pointer(p)),
        };
        found.filter(|x| !x.is_null())
    }
}

/// A custom mapping, checked and compiled.
#[derive(Debug, Clone)]
pub struct Mapping {
    id: Path,
    time: Path,
    kind: Path,
    severity: Option<Path>,
    signature: Option<Path>,
    mitre: Option<Path>,
    tags: Option<Path>,
    sector: Option<Path>,
    province: Option<Path>,
    status: Option<Path>,
    updated: Option<Path>,
    filter: Option<(Path, Vec<String>)>,
    severity_map: BTreeMap<String, Severity>,
}

impl Mapping {
    /// Checks a mapping; the error names the key.
    pub fn compile(c: &MappingConfig) -> Result<Mapping, (&'static str, String)> {
        let need = |key: &'static str, p: &str| {
            Path::parse(p).ok_or((key, "is required with format = \"custom\"".to_owned()))
        };
        let mut severity_map = BTreeMap::new();
        for (from, to) in &c.severity_map {
            let level = Severity::from_name(to);
            if level == Severity::Unknown && !to.eq_ignore_ascii_case("unknown") {
                return Err((
                    "events.mapping.severity_map",
                    format!("{to:?} (for {from:?}) is not low, medium, high, critical or unknown"),
                ));
            }
            severity_map.insert(from.clone(), level);
        }
        let filter = match (Path::parse(&c.filter_field), c.filter_values.is_empty()) {
            (None, true) => None,
            (Some(p), false) => Some((p, c.filter_values.clone())),
            _ => {
                return Err((
                    "events.mapping.filter_field",
                    "filter_field and filter_values go together".to_owned(),
                ));
            }
        };
        Ok(Mapping {
            id: need("events.mapping.id", &c.id)?,
            time: need("events.mapping.time", &c.time)?,
            kind: need("events.mapping.type", &c.kind)?,
            severity: Path::parse(&c.severity),
            signature: Path::parse(&c.signature),
            mitre: Path::parse(&c.mitre),
            tags: Path::parse(&c.tags),
            sector: Path::parse(&c.sector),
            province: Path::parse(&c.province),
            status: Path::parse(&c.status),
            updated: Path::parse(&c.updated),
            filter,
            severity_map,
        })
    }

    /// One message through the mapping.
    pub fn decode<'a>(&self, payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
        read_tool(payload, max_bytes, |text| {
            self.read(text, o).map_err(|e| match e {
                Ok(f) => Skip::Filtered(f),
                Err(r) => Skip::Invalid(r),
            })
        })
    }

    fn read<'a>(&self, text: &str, o: &ToolOptions) -> Result<Event<'a>, Result<Filter, Reject>> {
        let v: Value = parse(text).map_err(Err)?;
        if let Some((path, values)) = &self.filter {
            let matches = path
                .get(&v)
                .and_then(scalar_text)
                .is_some_and(|t| values.contains(&t));
            if !matches {
                return Err(Ok(Filter::NotAlert));
            }
        }
        let text = |p: &Path, wrong: Reject| match p.get(&v) {
            None => Err(Err(Reject::MissingField)),
            Some(x) => scalar_text(x).ok_or(Err(wrong)),
        };
        let id = text(&self.id, Reject::BadId)?;
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(Err(Reject::BadId));
        }
        let time_ms = match self.time.get(&v) {
            None => return Err(Err(Reject::MissingField)),
            Some(Value::String(s)) => parse_tool_time(s, &o.naive_zone),
            Some(Value::Number(n)) => n.as_i64().and_then(epoch_time),
            Some(_) => None,
        }
        .ok_or(Err(Reject::BadTime))?;
        let kind = text(&self.kind, Reject::BadType)?;
        if kind.trim().is_empty() {
            return Err(Err(Reject::BadType));
        }
        let opt = |p: &Option<Path>| p.as_ref().and_then(|p| p.get(&v)).and_then(scalar_text);
        let severity = match opt(&self.severity) {
            None => Severity::Unknown,
            Some(s) => match self.severity_map.get(&s) {
                Some(level) => *level,
                None => s
                    .parse::<i64>()
                    .map_or_else(|_| Severity::from_name(&s), Severity::from_score),
            },
        };
        let tags = self
            .tags
            .as_ref()
            .and_then(|p| p.get(&v))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(|s| Cow::Owned(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Event {
            id: Cow::Owned(id),
            time_ms,
            kind: Cow::Owned(kind),
            severity,
            target: Target {
                sector: opt(&self.sector).map(Cow::Owned),
                province: opt(&self.province).map(Cow::Owned),
            },
            signature: opt(&self.signature).map(Cow::Owned),
            mitre: opt(&self.mitre).map(Cow::Owned),
            tags,
            status: opt(&self.status).map(Cow::Owned),
            updated_ms: opt(&self.updated).and_then(|t| crate::event::time::parse_rfc3339(&t)),
        })
    }
}

/// A string, or a number or boolean as text (ids and severities are often
/// numbers).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(toml: &str) -> Mapping {
        let c: MappingConfig = toml::from_str(toml).unwrap();
        Mapping::compile(&c).unwrap()
    }

    fn opts() -> ToolOptions {
        ToolOptions {
            wazuh_min_level: 7,
            naive_zone: jiff::tz::TimeZone::UTC,
        }
    }

    #[test]
    fn paths_filters_and_severities_map_any_json() {
        let m = mapping(
            r#"
            id = "kibana.alert.uuid"
            time = "/ts"
            type = "rule.name"
            severity = "/level"
            sector = "target.sector"
            province = "host.geo.region_name"
            tags = "/labels"
            filter_field = "kind"
            filter_values = ["alert"]
            severity_map = { "1" = "critical", "2" = "high" }
            "#,
        );
        let o = opts();
        let line = br#"{"kind":"alert","kibana.alert.uuid":"u-1","ts":1710120100000,"rule":{"name":"phishing"},"level":1,"target":{"sector":"finance"},"host":{"geo":{"region_name":"Ha Noi"}},"labels":["a",3]}"#;
        let Decoded::Event(e) = m.decode(line, 1 << 16, &o) else {
            panic!("an event");
        };
        assert_eq!(
            (e.id.as_ref(), e.time_ms, e.kind.as_ref(), e.severity),
            ("u-1", 1_710_120_100_000, "phishing", Severity::Critical)
        );
        assert_eq!(e.target.sector.as_deref(), Some("finance"));
        assert_eq!(e.target.province.as_deref(), Some("Ha Noi"));
        assert_eq!(e.tags, vec![Cow::Borrowed("a")]);
        // Unmapped severities read as native ones; a number id is text.
        let line = br#"{"kind":"alert","kibana":{"alert":{"uuid":42}},"ts":"2024-03-11T08:15:02+0700","rule":{"name":"x"},"level":"HIGH"}"#;
        let Decoded::Event(e) = m.decode(line, 1 << 16, &o) else {
            panic!("an event");
        };
        assert_eq!((e.id.as_ref(), e.severity), ("42", Severity::High));
        let cases: [(&[u8], Decoded<'_>); 5] = [
            (br#"{"kind":"event"}"#, Decoded::Filtered(Filter::NotAlert)),
            (
                br#"{"kind":"alert","ts":1,"rule":{"name":"x"}}"#,
                Decoded::Invalid(Reject::MissingField),
            ),
            (
                br#"{"kind":"alert","kibana.alert.uuid":"u","ts":"yesterday","rule":{"name":"x"}}"#,
                Decoded::Invalid(Reject::BadTime),
            ),
            (
                br#"{"kind":"alert","kibana.alert.uuid":"u","ts":1,"rule":{"name":[1]}}"#,
                Decoded::Invalid(Reject::BadType),
            ),
            (br#"{"kind":"alert""#, Decoded::Invalid(Reject::NotJson)),
        ];
        for (line, want) in cases {
            assert_eq!(
                m.decode(line, 1 << 16, &o),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn a_mapping_without_what_it_needs_is_refused_by_name() {
        let c: MappingConfig = toml::from_str("id = \"/id\"\ntime = \"/t\"").unwrap();
        assert_eq!(Mapping::compile(&c).unwrap_err().0, "events.mapping.type");
        let c: MappingConfig =
            toml::from_str("id = \"/id\"\ntime = \"/t\"\ntype = \"/k\"\nfilter_field = \"/x\"")
                .unwrap();
        assert_eq!(
            Mapping::compile(&c).unwrap_err().0,
            "events.mapping.filter_field"
        );
        let c: MappingConfig = toml::from_str(
            "id = \"/id\"\ntime = \"/t\"\ntype = \"/k\"\nseverity_map = { \"1\" = \"urgent\" }",
        )
        .unwrap();
        assert_eq!(
            Mapping::compile(&c).unwrap_err().0,
            "events.mapping.severity_map"
        );
    }
}
