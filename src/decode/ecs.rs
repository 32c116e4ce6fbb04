//! Elastic Common Schema alert documents (docs/formats.md, `ecs`):
//! `event.kind` `alert` (alerts of IDS, EDR and network integrations) or
//! `signal` (detection alerts: Kibana 8 alert documents and legacy 7.x
//! signal documents), also as search hits (`{"_id": ..., "_source":
//! {doc}}`). Each field is read from its flat dotted key first, as Kibana
//! stores alerts (`"event.kind"`), then from the nested object. The id is
//! `kibana.alert.uuid`, else (an alert's) `event.id`, else the hit's `_id`,
//! else a fingerprint of the document.

use std::borrow::Cow;

use serde::Deserialize;

use super::Decoded;
use super::fingerprint::fingerprint_id;
use super::lenient::{F, Kind, Lenient, Text, parse};
use super::mapping::{Skip, ToolOptions, kind_of, read_tool, within_limit};
use super::tooltime::parse_tool_time;
use crate::event::{Event, Filter, Reject, Severity, Target};

/// An ECS document, or a search hit around one.
#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Ecs<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: F<Text<'a>>,
    #[serde(rename = "event.kind")]
    event_kind: F<Text<'a>>,
    #[serde(rename = "event.id")]
    event_id: F<Text<'a>>,
    #[serde(rename = "event.severity")]
    event_severity: F<i64>,
    #[serde(rename = "event.category")]
    event_category: F<Vec<Text<'a>>>,
    #[serde(rename = "kibana.alert.original_event.category")]
    original_category: F<Vec<Text<'a>>>,
    event: F<EcsEvent<'a>>,
    #[serde(rename = "kibana.alert.uuid")]
    alert_uuid: F<Text<'a>>,
    #[serde(rename = "kibana.alert.severity")]
    alert_severity: F<Text<'a>>,
    #[serde(rename = "kibana.alert.rule.name")]
    alert_rule_name: F<Text<'a>>,
    #[serde(rename = "kibana.alert.original_time")]
    alert_original_time: F<Text<'a>>,
    #[serde(rename = "signal.rule.name")]
    signal_rule_name: F<Text<'a>>,
    #[serde(rename = "signal.rule.severity")]
    signal_rule_severity: F<Text<'a>>,
    #[serde(rename = "signal.original_time")]
    signal_original_time: F<Text<'a>>,
    signal: F<Signal<'a>>,
    #[serde(rename = "rule.name")]
    rule_name: F<Text<'a>>,
    rule: F<Named<'a>>,
    threat: F<Vec<Threat<'a>>>,
    /// Where the target is: the attacked side of a network alert
    /// (`destination`), else the host the alert is about.
    #[serde(rename = "destination.geo.region_name")]
    destination_region: F<Text<'a>>,
    destination: F<Located<'a>>,
    #[serde(rename = "host.geo.region_name")]
    host_region: F<Text<'a>>,
    host: F<Located<'a>>,
    /// A search hit's document.
    #[serde(rename = "_source")]
    source: F<Box<Ecs<'a>>>,
    #[serde(rename = "_id")]
    doc_id: F<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EcsEvent<'a> {
    kind: F<Text<'a>>,
    id: F<Text<'a>>,
    severity: F<i64>,
    category: F<Vec<Text<'a>>>,
}

/// A legacy (Elastic 7.x) detection signal.
#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Signal<'a> {
    rule: F<SignalRule<'a>>,
    original_time: F<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct SignalRule<'a> {
    name: F<Text<'a>>,
    severity: F<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Named<'a> {
    name: F<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Threat<'a> {
    technique: F<Vec<Technique<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Technique<'a> {
    id: F<Text<'a>>,
    name: F<Text<'a>>,
}

/// `destination` or `host`: its `geo.region_name` (the province).
#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Located<'a> {
    geo: F<Geo<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Geo<'a> {
    region_name: F<Text<'a>>,
}

impl<'de: 'a, 'a> Lenient<'de> for Located<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Geo<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Ecs<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EcsEvent<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Signal<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for SignalRule<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Named<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Threat<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Technique<'a> {
    const KIND: Kind = Kind::Map;
}

/// The type of an alert that names no rule, technique or category.
const FALLBACK_TYPE: &str = "alert";

/// One ECS document → its incident, or why it is not one.
pub fn ecs<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    read_tool(payload, max_bytes, |text| {
        let top: Ecs<'_> = parse(text)?;
        let (mut d, at, doc_id): (Ecs<'_>, &[&str], F<Text<'_>>) = match (
            top.event_kind.is_present() || top.event.is_present(),
            top.source,
        ) {
            (false, F::Ok(doc)) => (*doc, &["_source"], top.doc_id),
            (_, source) => (Ecs { source, ..top }, &[], F::Absent),
        };
        let (nested_kind, nested_id, nested_severity, nested_category) =
            match std::mem::take(&mut d.event) {
                F::Ok(e) => (e.kind, e.id, e.severity, e.category),
                _ => (F::Absent, F::Absent, F::Absent, F::Absent),
            };
        // A document of Kibana's alert indices without `event.kind` is
        // still a detection alert: its `kibana.alert` or `signal` fields
        // say so.
        let detection = d.alert_uuid.is_present()
            || d.alert_rule_name.is_present()
            || d.signal_rule_name.is_present()
            || d.signal.is_present();
        let signal = match d.event_kind.or(nested_kind) {
            F::Ok(kind) => match kind.as_str() {
                "alert" => false,
                "signal" => true,
                _ => return Err(Skip::Filtered(Filter::NotAlert)),
            },
            F::Absent if detection => true,
            F::Absent => return Err(Reject::MissingField.into()),
            F::Wrong => return Err(Reject::BadType.into()),
        };
        let (signal_rule, signal_time) = match d.signal {
            F::Ok(s) => (s.rule.ok().unwrap_or_default(), s.original_time),
            _ => (SignalRule::default(), F::Absent),
        };
        let ts = d
            .timestamp
            .or(d.alert_original_time)
            .or(d.signal_original_time)
            .or(signal_time)
            .need(Reject::BadTime)?;
        let time_ms = parse_tool_time(ts.as_str(), &o.naive_zone).ok_or(Reject::BadTime)?;
        // A signal's `event.id` is its source event's, not its own.
        let event_id = if signal {
            F::Absent
        } else {
            d.event_id.or(nested_id)
        };
        let id = match d.alert_uuid.or(event_id) {
            F::Ok(id) if !id.as_str().is_empty() => id.0,
            F::Wrong => return Err(Reject::BadId.into()),
            _ => match doc_id {
                F::Ok(doc) if !doc.as_str().is_empty() => Cow::Owned(format!("ecs:_id:{}", doc.0)),
                _ => Cow::Owned(fingerprint_id("ecs", text.as_bytes(), at)),
            },
        };
        let rule_name = d
            .alert_rule_name
            .or(d.signal_rule_name)
            .or(signal_rule.name)
            .or(d.rule_name)
            .or(d.rule.ok().map_or(F::Absent, |r| r.name))
            .ok()
            .map(|t| t.0);
        let techniques: Vec<Technique<'_>> = d
            .threat
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|t| t.technique.ok())
            .flatten()
            .collect();
        let categories: Vec<Text<'_>> = d
            .event_category
            .or(nested_category)
            .or(d.original_category)
            .ok()
            .unwrap_or_default();
        let mut texts: Vec<&str> = techniques
            .iter()
            .filter_map(|t| t.name.as_ref().map(Text::as_str))
            .collect();
        texts.extend(rule_name.as_deref());
        texts.extend(categories.iter().map(Text::as_str));
        let type_text = kind_of(&texts, || rule_name.clone(), FALLBACK_TYPE);
        let severity = match d
            .alert_severity
            .or(d.signal_rule_severity)
            .or(signal_rule.severity)
            .ok()
        {
            Some(s) => Severity::from_name(s.as_str()),
            None => match d.event_severity.or(nested_severity).ok() {
                Some(n) if n <= 21 => Severity::Low,
                Some(n) if n <= 47 => Severity::Medium,
                Some(n) if n <= 73 => Severity::High,
                Some(n) if n <= 100 => Severity::Critical,
                _ => Severity::Unknown,
            },
        };
        let mitre = techniques.into_iter().find_map(|t| t.id.ok()).map(|t| t.0);
        fn region(l: F<Located<'_>>) -> F<Text<'_>> {
            match l {
                F::Ok(l) => l.geo.ok().map_or(F::Absent, |g| g.region_name),
                _ => F::Absent,
            }
        }
        let province = d
            .destination_region
            .or(region(d.destination))
            .or(d.host_region)
            .or(region(d.host))
            .ok()
            .map(|t| t.0);
        Ok(Event {
            id: within_limit("ecs", id),
            time_ms,
            kind: type_text,
            severity,
            target: Target {
                sector: None,
                province,
            },
            signature: rule_name,
            mitre,
            tags: Vec::new(),
            status: None,
            updated_ms: None,
        })
    })
}
