//! Wazuh alerts (docs/formats.md, `wazuh`), in the three shapes a SOC
//! moves them in: `alerts.json` lines; indexer search hits and their
//! exports (`{"_index": ..., "_id": ..., "_source": {alert}}`, also the
//! Logstash envelope `{"@version": ..., "_source": {alert}}`); and logtest
//! answers (`{"error": 0, "data": {"output": {alert}, "alert": true}}`).
//! `rule.level` at or above the configured minimum is an incident. The id
//! is the manager's alert id (`<epoch>.<offset>`, unique per manager), else
//! the indexer's `_id`, else a fingerprint of the alert.

use std::borrow::Cow;

use serde::Deserialize;

use super::Decoded;
use super::fingerprint::fingerprint_id;
use super::lenient::{F, Kind, Lenient, Text, parse};
use super::mapping::{Skip, ToolOptions, kind_of, read_tool, within_limit};
use super::tooltime::parse_tool_time;
use crate::event::{Event, Filter, Reject, Severity, Target};

/// An alert, or an envelope around one.
#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Wazuh<'a> {
    timestamp: F<Text<'a>>,
    /// The indexer's copy of the time (RFC 3339, UTC), read when an alert
    /// has no `timestamp`.
    #[serde(rename = "@timestamp")]
    indexed_at: F<Text<'a>>,
    id: F<Text<'a>>,
    rule: F<WazuhRule<'a>>,
    manager: F<Named<'a>>,
    /// An indexer hit's (or Logstash envelope's) alert.
    #[serde(rename = "_source")]
    source: F<Box<Wazuh<'a>>>,
    #[serde(rename = "_id")]
    doc_id: F<Text<'a>>,
    /// A logtest answer's result (in an alert, its decoded fields: read
    /// only when the record has no `rule`).
    data: F<Box<Logtest<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Logtest<'a> {
    output: F<Box<Wazuh<'a>>>,
    alert: F<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct WazuhRule<'a> {
    level: F<i64>,
    description: F<Text<'a>>,
    groups: F<Vec<Text<'a>>>,
    mitre: F<Mitre<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Mitre<'a> {
    id: F<Vec<Text<'a>>>,
    technique: F<Vec<Text<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Named<'a> {
    name: F<Text<'a>>,
}

impl<'de: 'a, 'a> Lenient<'de> for Wazuh<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Logtest<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for WazuhRule<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Mitre<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Named<'a> {
    const KIND: Kind = Kind::Map;
}

/// The type of an alert whose rule has neither groups nor description.
const FALLBACK_TYPE: &str = "alert";

/// The alert a record carries, where it sits (for its fingerprint), and
/// the indexer's id of it; or why the record is not an alert.
fn unwrap(w: Wazuh<'_>) -> Result<(Wazuh<'_>, &'static [&'static str], F<Text<'_>>), Skip> {
    if w.rule.is_present() {
        return Ok((w, &[], F::Absent));
    }
    if let F::Ok(alert) = w.source {
        return Ok((*alert, &["_source"], w.doc_id));
    }
    if let F::Ok(data) = w.data
        && let F::Ok(output) = data.output
    {
        // Logtest says whether its rules raised an alert.
        if matches!(data.alert, F::Ok(false)) {
            return Err(Skip::Filtered(Filter::NotAlert));
        }
        return Ok((*output, &["data", "output"], F::Absent));
    }
    Err(Reject::MissingField.into())
}

/// One Wazuh record → its incident, or why it is not one.
pub fn wazuh<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    read_tool(payload, max_bytes, |text| {
        let (w, at, doc_id) = unwrap(parse(text)?)?;
        let rule = w.rule.need(Reject::BadType)?;
        let level = rule.level.need(Reject::BadType)?;
        if level < o.wazuh_min_level {
            return Err(Skip::Filtered(Filter::BelowLevel));
        }
        let ts = w.timestamp.or(w.indexed_at).need(Reject::BadTime)?;
        let time_ms = parse_tool_time(ts.as_str(), &o.naive_zone).ok_or(Reject::BadTime)?;
        let id = match (w.id, doc_id) {
            (F::Ok(id), _) if !id.as_str().is_empty() => {
                let manager = w
                    .manager
                    .ok()
                    .and_then(|m| m.name.ok())
                    .map(|t| t.0)
                    .unwrap_or_default();
                Cow::Owned(format!("wazuh:{manager}:{}", id.as_str()))
            }
            (F::Wrong, _) => return Err(Reject::BadId.into()),
            (_, F::Ok(doc)) if !doc.as_str().is_empty() => {
                Cow::Owned(format!("wazuh:_id:{}", doc.as_str()))
            }
            _ => Cow::Owned(fingerprint_id("wazuh", text.as_bytes(), at)),
        };
        let description = rule.description.ok().map(|t| t.0);
        let groups: Vec<Cow<'_, str>> = rule
            .groups
            .ok()
            .map(|g| g.into_iter().map(|t| t.0).collect())
            .unwrap_or_default();
        let (mitre_ids, techniques) = match rule.mitre {
            F::Ok(m) => (
                m.id.ok().unwrap_or_default(),
                m.technique.ok().unwrap_or_default(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        let mut texts: Vec<&str> = techniques.iter().map(Text::as_str).collect();
        texts.extend(groups.iter().map(|g| g.as_ref()));
        texts.extend(description.as_deref());
        let own = || {
            groups
                .iter()
                .rev()
                .find(|g| !g.trim().is_empty())
                .cloned()
                .or_else(|| description.clone())
        };
        let kind = kind_of(&texts, own, FALLBACK_TYPE);
        let severity = match level {
            0..=6 => Severity::Low,
            7..=11 => Severity::Medium,
            12..=14 => Severity::High,
            15 => Severity::Critical,
            _ => Severity::Unknown,
        };
        let mitre = mitre_ids.into_iter().next().map(|t| t.0);
        Ok(Event {
            id: within_limit("wazuh", id),
            time_ms,
            kind,
            severity,
            target: Target::default(),
            signature: description,
            mitre,
            tags: groups,
            status: None,
            updated_ms: None,
        })
    })
}
