//! The formats SOC tools write, each mapped onto the native model (spec §2,
//! "Other formats"; the mapping tables are in docs/formats.md): Suricata
//! EVE, Wazuh alerts, Elastic (ECS) alert documents, OCSF findings.
//!
//! Each is read with serde_json into a borrowed struct of the fields the
//! mapping uses (strings borrowed where they have no escapes); every field
//! is read leniently ([`F`]: absent, of the expected type, or of another
//! type), so a wrong type in a field the mapping does not need never drops
//! an incident, and one in a field it needs is rejected with its reason.

use std::borrow::Cow;
use std::fmt;

use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, Visitor};

use super::Decoded;
use super::tooltime::{epoch_time, parse_tool_time};
use crate::event::{Event, Filter, MAX_ID_BYTES, Reject, Severity, Target};

/// Options of the tool formats.
#[derive(Debug, Clone)]
pub struct ToolOptions {
    /// Wazuh alerts below this `rule.level` are filtered (`below_level`).
    pub wazuh_min_level: i64,
    /// The zone of a timestamp written without an offset.
    pub naive_zone: TimeZone,
}

/// A field read leniently.
#[derive(Debug, Default)]
pub(super) enum F<T> {
    #[default]
    Absent,
    Ok(T),
    /// Present with another type.
    Wrong,
}

/// The JSON kind a leniently read field must have.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(super) enum Kind {
    Str,
    Int,
    Seq,
    Map,
}

/// A type read through [`F`]: its JSON kind. A value of another kind is
/// skipped (read and dropped) and the field is `Wrong`, without buffering
/// the value (serde's untagged enums buffer every field: measured 2x
/// slower on Suricata EVE).
pub(super) trait Lenient<'de>: Sized {
    const KIND: Kind;
    /// A list's items, each read leniently (one of another type is
    /// skipped). Only lists are read from a sequence.
    fn from_seq<A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(serde::de::Error::custom("not a list"))
    }
}

impl<'de: 'a, 'a> Lenient<'de> for Text<'a> {
    const KIND: Kind = Kind::Str;
}
impl Lenient<'_> for u64 {
    const KIND: Kind = Kind::Int;
}
impl Lenient<'_> for i64 {
    const KIND: Kind = Kind::Int;
}
impl<'de, E: Deserialize<'de> + Lenient<'de>> Lenient<'de> for Vec<E> {
    const KIND: Kind = Kind::Seq;
    fn from_seq<A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<F<E>>()? {
            if let F::Ok(v) = item {
                out.push(v);
            }
        }
        Ok(out)
    }
}

impl<'de, T: Deserialize<'de> + Lenient<'de>> Deserialize<'de> for F<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{
            BorrowedStrDeserializer, I64Deserializer, MapAccessDeserializer, StrDeserializer,
            U64Deserializer,
        };
        use serde::de::{Error, MapAccess, SeqAccess};
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Lenient<'de>> Visitor<'de> for V<T> {
            type Value = F<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<F<T>, E> {
                if T::KIND != Kind::Str {
                    return Ok(F::Wrong);
                }
                T::deserialize(BorrowedStrDeserializer::new(s)).map(F::Ok)
            }
            fn visit_str<E: Error>(self, s: &str) -> Result<F<T>, E> {
                if T::KIND != Kind::Str {
                    return Ok(F::Wrong);
                }
                T::deserialize(StrDeserializer::new(s)).map(F::Ok)
            }
            fn visit_u64<E: Error>(self, n: u64) -> Result<F<T>, E> {
                if T::KIND != Kind::Int {
                    return Ok(F::Wrong);
                }
                // A number out of the field's range is of the wrong type.
                Ok(T::deserialize(U64Deserializer::<E>::new(n)).map_or(F::Wrong, F::Ok))
            }
            fn visit_i64<E: Error>(self, n: i64) -> Result<F<T>, E> {
                if T::KIND != Kind::Int {
                    return Ok(F::Wrong);
                }
                Ok(T::deserialize(I64Deserializer::<E>::new(n)).map_or(F::Wrong, F::Ok))
            }
            fn visit_f64<E: Error>(self, _: f64) -> Result<F<T>, E> {
                Ok(F::Wrong)
            }
            fn visit_bool<E: Error>(self, _: bool) -> Result<F<T>, E> {
                Ok(F::Wrong)
            }
            fn visit_unit<E: Error>(self) -> Result<F<T>, E> {
                Ok(F::Absent)
            }
            fn visit_none<E: Error>(self) -> Result<F<T>, E> {
                Ok(F::Absent)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<F<T>, A::Error> {
                if T::KIND == Kind::Seq {
                    return T::from_seq(seq).map(F::Ok);
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(F::Wrong)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<F<T>, A::Error> {
                if T::KIND == Kind::Map {
                    return T::deserialize(MapAccessDeserializer::new(map)).map(F::Ok);
                }
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(F::Wrong)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> F<T> {
    fn ok(self) -> Option<T> {
        match self {
            F::Ok(v) => Some(v),
            _ => None,
        }
    }

    fn as_ref(&self) -> Option<&T> {
        match self {
            F::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// A required field: absent is `missing`, another type is `wrong`.
    fn need(self, wrong: Reject) -> Result<T, Reject> {
        match self {
            F::Ok(v) => Ok(v),
            F::Absent => Err(Reject::MissingField),
            F::Wrong => Err(wrong),
        }
    }

    /// The first of two spellings of a field that is present.
    fn or(self, other: F<T>) -> F<T> {
        match self {
            F::Absent => other,
            s => s,
        }
    }
}

/// A JSON string, borrowed when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Lenient<'de> for Eve<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EveAlert<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EveMetadata<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Wazuh<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for WazuhRule<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for WazuhMitre<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for WazuhNamed<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Ecs<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EcsEvent<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EcsRule<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EcsThreat<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EcsTechnique<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Ocsf<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for OcsfFinding<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for OcsfAttack<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for OcsfTechnique<'a> {
    const KIND: Kind = Kind::Map;
}

/// Size, UTF-8 and object checks shared by every tool format, then the
/// document.
pub(super) fn document<'a, T: Deserialize<'a>>(
    payload: &'a [u8],
    max_bytes: usize,
) -> Result<T, Reject> {
    if payload.is_empty() {
        return Err(Reject::Empty);
    }
    if payload.len() > max_bytes {
        return Err(Reject::TooLarge);
    }
    let text = simdutf8::basic::from_utf8(payload).map_err(|_| Reject::NotUtf8)?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(Reject::Empty);
    }
    if !trimmed.starts_with('{') {
        return Err(match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Reject::NotObject,
            Err(_) => Reject::NotJson,
        });
    }
    // Every field is lenient: an error here is the JSON itself.
    serde_json::from_str(text).map_err(|_| Reject::NotJson)
}

/// The words of the type keyword table, by row, and the type each row
/// gives (docs/formats.md); the first row with a word in the texts wins.
const TYPE_KEYWORDS: &[(&[&str], &str)] = &[
    (&["phish"], "phishing"),
    (&["deface"], "defacement"),
    (
        &["denial of service", "ddos", "dos attack", "flood"],
        "ddos",
    ),
    (&["ransomware"], "ransomware"),
    (
        &[
            "trojan", "malware", "virus", "backdoor", "botnet", "worm", "stealer", "eicar",
        ],
        "malware",
    ),
    (
        &[
            "sql injection",
            "sql_injection",
            "exploit",
            "brute force",
            "brute-force",
            "authentication failures",
            "privilege gain",
            "web application attack",
            "intrusion",
            "unauthorized",
            "attack",
        ],
        "intrusion",
    ),
];

/// Every word of [`TYPE_KEYWORDS`] in one Aho-Corasick automaton (ASCII
/// case-insensitive: the words are ASCII), and each pattern's row.
struct Keywords {
    automaton: aho_corasick::AhoCorasick,
    row_of: Vec<usize>,
}

static KEYWORDS: std::sync::LazyLock<Option<Keywords>> = std::sync::LazyLock::new(|| {
    let (words, row_of): (Vec<&str>, Vec<usize>) = TYPE_KEYWORDS
        .iter()
        .enumerate()
        .flat_map(|(row, (words, _))| words.iter().map(move |w| (*w, row)))
        .unzip();
    let automaton = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .ok()?;
    Some(Keywords { automaton, row_of })
});

/// The type keyword of the native vocabulary that a tool's texts name, in
/// the table's order: what the default classification rules match. `None`:
/// the texts name none (the tool's own text is the type). One pass over
/// each text for every word at once (overlapping matches: a word inside
/// another still counts).
fn type_keyword(texts: &[&str]) -> Option<&'static str> {
    // The automaton of a constant table always builds (a unit test builds
    // it); were it not to, no text would name a keyword.
    let k = KEYWORDS.as_ref()?;
    let mut best: Option<usize> = None;
    for t in texts {
        for m in k.automaton.find_overlapping_iter(*t) {
            let row = k.row_of[m.pattern().as_usize()];
            if best.is_none_or(|b| row < b) {
                best = Some(row);
                if row == 0 {
                    break;
                }
            }
        }
    }
    best.map(|row| TYPE_KEYWORDS[row].1)
}

/// The type: the keyword the tool's texts name, else the tool's own text
/// (`fallback`); neither is `missing_field`.
fn kind_of<'a>(
    texts: &[&str],
    fallback: impl FnOnce() -> Option<Cow<'a, str>>,
) -> Result<Cow<'a, str>, Reject> {
    match type_keyword(texts) {
        Some(k) => Ok(Cow::Borrowed(k)),
        None => fallback().ok_or(Reject::MissingField),
    }
}

/// An id within the native limit.
fn checked_id(id: Cow<'_, str>) -> Result<Cow<'_, str>, Reject> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        Err(Reject::BadId)
    } else {
        Ok(id)
    }
}

fn event<'a>(
    id: Cow<'a, str>,
    time_ms: i64,
    kind: Cow<'a, str>,
    severity: Severity,
    signature: Option<Cow<'a, str>>,
    mitre: Option<Cow<'a, str>>,
    tags: Vec<Cow<'a, str>>,
) -> Result<Event<'a>, Reject> {
    if kind.trim().is_empty() {
        return Err(Reject::BadType);
    }
    Ok(Event {
        id: checked_id(id)?,
        time_ms,
        kind,
        severity,
        target: Target::default(),
        signature,
        mitre,
        tags,
    })
}

fn decoded(r: Result<Event<'_>, Skip>) -> Decoded<'_> {
    match r {
        Ok(e) => Decoded::Event(e),
        Err(Skip::Filtered(f)) => Decoded::Filtered(f),
        Err(Skip::Invalid(r)) => Decoded::Invalid(r),
    }
}

enum Skip {
    Filtered(Filter),
    Invalid(Reject),
}

impl From<Reject> for Skip {
    fn from(r: Reject) -> Skip {
        Skip::Invalid(r)
    }
}

// ---------------------------------------------------------------- Suricata

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Eve<'a> {
    timestamp: F<Text<'a>>,
    event_type: F<Text<'a>>,
    flow_id: F<u64>,
    host: F<Text<'a>>,
    alert: F<EveAlert<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EveAlert<'a> {
    gid: F<u64>,
    signature_id: F<u64>,
    rev: F<u64>,
    signature: F<Text<'a>>,
    category: F<Text<'a>>,
    severity: F<i64>,
    metadata: F<EveMetadata<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EveMetadata<'a> {
    mitre_technique_id: F<Vec<Text<'a>>>,
    signature_severity: F<Vec<Text<'a>>>,
}

/// Suricata EVE: `event_type` `alert` only; the id is the sensor, flow,
/// signature (gid, sid, rev) and event time, so a record delivered twice is
/// one incident, and one signature firing again in a flow later is another.
pub fn suricata<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    decoded((|| {
        let eve: Eve<'_> = document(payload, max_bytes)?;
        let event_type = eve.event_type.need(Reject::BadType)?;
        if event_type.as_str() != "alert" {
            return Err(Skip::Filtered(Filter::NotAlert));
        }
        let ts = eve.timestamp.need(Reject::BadTime)?;
        let time_ms = parse_tool_time(ts.as_str(), &o.naive_zone).ok_or(Reject::BadTime)?;
        let alert = eve.alert.need(Reject::BadType)?;
        let sid = alert.signature_id.need(Reject::BadId)?;
        let host = eve.host.ok().map(|h| h.0).unwrap_or_default();
        let id = eve_id(
            &host,
            [
                eve.flow_id.ok().unwrap_or(0),
                alert.gid.ok().unwrap_or(1),
                sid,
                alert.rev.ok().unwrap_or(0),
            ],
            time_ms,
        );
        let signature = alert.signature.ok().map(|t| t.0);
        let category = alert.category.ok().map(|t| t.0);
        let texts = [
            category.as_deref().unwrap_or_default(),
            signature.as_deref().unwrap_or_default(),
        ];
        let kind = kind_of(&texts, || category.clone().or_else(|| signature.clone()))?;
        let metadata = alert.metadata.ok();
        let critical = metadata
            .as_ref()
            .and_then(|m| m.signature_severity.as_ref())
            .is_some_and(|s| {
                s.iter()
                    .any(|t| t.as_str().eq_ignore_ascii_case("critical"))
            });
        let severity = match alert.severity.ok() {
            _ if critical => Severity::Critical,
            Some(1) => Severity::High,
            Some(2) => Severity::Medium,
            Some(3..=255) => Severity::Low,
            _ => Severity::Unknown,
        };
        let mitre = metadata
            .and_then(|m| m.mitre_technique_id.ok())
            .and_then(|v| v.into_iter().next())
            .map(|t| t.0);
        Ok(event(
            Cow::Owned(id),
            time_ms,
            kind,
            severity,
            signature,
            mitre,
            Vec::new(),
        )?)
    })())
}

/// `eve:<host>:<flow_id>:<gid>:<sid>:<rev>:<epoch ms>`, written with `itoa`
/// into one allocation of the right size (`format!` was about 8% of the
/// Suricata path, measured).
fn eve_id(host: &str, numbers: [u64; 4], time_ms: i64) -> String {
    let mut id = String::with_capacity(4 + host.len() + 5 * 21);
    id.push_str("eve:");
    id.push_str(host);
    let mut buf = itoa::Buffer::new();
    for n in numbers {
        id.push(':');
        id.push_str(buf.format(n));
    }
    id.push(':');
    id.push_str(buf.format(time_ms));
    id
}

// ---------------------------------------------------------------- Wazuh

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Wazuh<'a> {
    timestamp: F<Text<'a>>,
    id: F<Text<'a>>,
    rule: F<WazuhRule<'a>>,
    agent: F<WazuhNamed<'a>>,
    manager: F<WazuhNamed<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct WazuhRule<'a> {
    level: F<i64>,
    id: F<Text<'a>>,
    description: F<Text<'a>>,
    groups: F<Vec<Text<'a>>>,
    mitre: F<WazuhMitre<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct WazuhMitre<'a> {
    id: F<Vec<Text<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct WazuhNamed<'a> {
    id: F<Text<'a>>,
    name: F<Text<'a>>,
}

/// Wazuh alerts: `rule.level` at or above the configured minimum; the id
/// is the manager's alert id (`<epoch>.<offset>`, unique per manager), or,
/// where an alert has none, the agent, rule and event time.
pub fn wazuh<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    decoded((|| {
        let w: Wazuh<'_> = document(payload, max_bytes)?;
        let rule = w.rule.need(Reject::BadType)?;
        let level = rule.level.need(Reject::BadType)?;
        if level < o.wazuh_min_level {
            return Err(Skip::Filtered(Filter::BelowLevel));
        }
        let ts = w.timestamp.need(Reject::BadTime)?;
        let time_ms = parse_tool_time(ts.as_str(), &o.naive_zone).ok_or(Reject::BadTime)?;
        let id = match w.id {
            F::Ok(id) => {
                let manager = w
                    .manager
                    .ok()
                    .and_then(|m| m.name.ok())
                    .map(|t| t.0)
                    .unwrap_or_default();
                format!("wazuh:{manager}:{}", id.as_str())
            }
            F::Wrong => return Err(Reject::BadId.into()),
            F::Absent => {
                let agent = w
                    .agent
                    .ok()
                    .and_then(|a| a.id.ok())
                    .map(|t| t.0)
                    .unwrap_or_default();
                let rid = rule.id.as_ref().map(Text::as_str).unwrap_or_default();
                format!("wazuh:{agent}:{rid}:{time_ms}")
            }
        };
        let description = rule.description.ok().map(|t| t.0);
        let groups: Vec<Cow<'_, str>> = rule
            .groups
            .ok()
            .map(|g| g.into_iter().map(|t| t.0).collect())
            .unwrap_or_default();
        let mut texts: Vec<&str> = groups.iter().map(|g| g.as_ref()).collect();
        texts.extend(description.as_deref());
        let kind = kind_of(&texts, || {
            groups.last().cloned().or_else(|| description.clone())
        })?;
        let severity = match level {
            0..=6 => Severity::Low,
            7..=11 => Severity::Medium,
            12..=14 => Severity::High,
            15 => Severity::Critical,
            _ => Severity::Unknown,
        };
        let mitre = rule
            .mitre
            .ok()
            .and_then(|m| m.id.ok())
            .and_then(|v| v.into_iter().next())
            .map(|t| t.0);
        Ok(event(
            Cow::Owned(id),
            time_ms,
            kind,
            severity,
            description,
            mitre,
            groups,
        )?)
    })())
}

// ---------------------------------------------------------------- ECS

/// An ECS alert: flat dotted keys (as Kibana stores alerts) or nested
/// objects, the flat one first.
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
    #[serde(rename = "rule.name")]
    rule_name: F<Text<'a>>,
    rule: F<EcsRule<'a>>,
    threat: F<Vec<EcsThreat<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EcsEvent<'a> {
    kind: F<Text<'a>>,
    id: F<Text<'a>>,
    severity: F<i64>,
    category: F<Vec<Text<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EcsRule<'a> {
    name: F<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EcsThreat<'a> {
    technique: F<Vec<EcsTechnique<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct EcsTechnique<'a> {
    id: F<Text<'a>>,
    name: F<Text<'a>>,
}

/// ECS alert documents: `event.kind` `alert` or `signal`; the id is
/// `kibana.alert.uuid`, else `event.id`.
pub fn ecs<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    decoded((|| {
        let d: Ecs<'_> = document(payload, max_bytes)?;
        let (nested_kind, nested_id, nested_severity, nested_category) = match d.event {
            F::Ok(e) => (e.kind, e.id, e.severity, e.category),
            _ => (F::Absent, F::Absent, F::Absent, F::Absent),
        };
        let kind = d.event_kind.or(nested_kind).need(Reject::BadType)?;
        if !matches!(kind.as_str(), "alert" | "signal") {
            return Err(Skip::Filtered(Filter::NotAlert));
        }
        let ts = d.timestamp.need(Reject::BadTime)?;
        let time_ms = parse_tool_time(ts.as_str(), &o.naive_zone).ok_or(Reject::BadTime)?;
        let id = d
            .alert_uuid
            .or(d.event_id)
            .or(nested_id)
            .need(Reject::BadId)?
            .0;
        let rule_name = d
            .alert_rule_name
            .or(d.rule_name)
            .or(d.rule.ok().map_or(F::Absent, |r| r.name))
            .ok()
            .map(|t| t.0);
        let techniques: Vec<EcsTechnique<'_>> = d
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
        let type_text = kind_of(&texts, || rule_name.clone())?;
        let severity = match d.alert_severity.ok() {
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
        Ok(event(
            id,
            time_ms,
            type_text,
            severity,
            rule_name,
            mitre,
            Vec::new(),
        )?)
    })())
}

// ---------------------------------------------------------------- OCSF

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Ocsf<'a> {
    class_uid: F<i64>,
    time: F<i64>,
    severity_id: F<i64>,
    status_code: F<Text<'a>>,
    class_name: F<Text<'a>>,
    finding_info: F<OcsfFinding<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct OcsfFinding<'a> {
    uid: F<Text<'a>>,
    title: F<Text<'a>>,
    types: F<Vec<Text<'a>>>,
    attacks: F<Vec<OcsfAttack<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct OcsfAttack<'a> {
    technique: F<OcsfTechnique<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct OcsfTechnique<'a> {
    uid: F<Text<'a>>,
    name: F<Text<'a>>,
}

/// OCSF finding classes (category 2, Findings): 2001 Security, 2002
/// Vulnerability, 2003 Compliance, 2004 Detection, 2005 Incident, 2006
/// Data Security, 2007 Application Security Posture.
const FINDING_CLASSES: std::ops::RangeInclusive<i64> = 2001..=2007;

/// OCSF findings: a finding class, and not a check that passed; the id is
/// `finding_info.uid`, the time `time` (epoch ms, or seconds as Prowler
/// writes it).
pub fn ocsf<'a>(payload: &'a [u8], max_bytes: usize, _o: &ToolOptions) -> Decoded<'a> {
    decoded((|| {
        let d: Ocsf<'_> = document(payload, max_bytes)?;
        let class = d.class_uid.need(Reject::BadType)?;
        if !FINDING_CLASSES.contains(&class) {
            return Err(Skip::Filtered(Filter::NotFinding));
        }
        if let Some(status) = d.status_code.as_ref()
            && !status.as_str().eq_ignore_ascii_case("fail")
        {
            return Err(Skip::Filtered(Filter::NotFailed));
        }
        let time_ms = epoch_time(d.time.need(Reject::BadTime)?).ok_or(Reject::BadTime)?;
        let info = d.finding_info.need(Reject::BadId)?;
        let id = info.uid.need(Reject::BadId)?.0;
        let title = info.title.ok().map(|t| t.0);
        let types: Vec<Cow<'_, str>> = info
            .types
            .ok()
            .map(|v| v.into_iter().map(|t| t.0).collect())
            .unwrap_or_default();
        let techniques: Vec<OcsfTechnique<'_>> = info
            .attacks
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|a| a.technique.ok())
            .collect();
        let mut texts: Vec<&str> = techniques
            .iter()
            .filter_map(|t| t.name.as_ref().map(Text::as_str))
            .collect();
        texts.extend(title.as_deref());
        texts.extend(types.iter().map(|t| t.as_ref()));
        let class_name = d.class_name.ok().map(|t| t.0);
        let kind = kind_of(&texts, || types.first().cloned().or(class_name))?;
        let severity = match d.severity_id.ok() {
            Some(1 | 2) => Severity::Low,
            Some(3) => Severity::Medium,
            Some(4) => Severity::High,
            Some(5 | 6) => Severity::Critical,
            _ => Severity::Unknown,
        };
        let mitre = techniques.into_iter().find_map(|t| t.uid.ok()).map(|t| t.0);
        Ok(event(id, time_ms, kind, severity, title, mitre, types)?)
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The table read literally: lowercase, then the first row with a word
    /// the texts contain.
    fn reference(texts: &[&str]) -> Option<&'static str> {
        let lower: Vec<String> = texts.iter().map(|t| t.to_ascii_lowercase()).collect();
        TYPE_KEYWORDS
            .iter()
            .find(|(words, _)| words.iter().any(|w| lower.iter().any(|t| t.contains(w))))
            .map(|(_, kind)| *kind)
    }

    #[test]
    fn the_suricata_id_is_what_format_writes() {
        for (host, n, t) in [
            ("", [0, 1, 2_100_498, 0], 0),
            ("sensor-7", [u64::MAX, 1, 9, 3], -1),
            (
                "ids.example",
                [1_234_567_890_123, 3, 1, 12],
                1_655_000_000_123,
            ),
        ] {
            let want = format!("eve:{host}:{}:{}:{}:{}:{t}", n[0], n[1], n[2], n[3]);
            assert_eq!(eve_id(host, n, t), want);
        }
    }

    #[test]
    fn the_automaton_builds_and_rows_win_in_order() {
        assert!(KEYWORDS.is_some());
        assert_eq!(type_keyword(&["ET ATTACK Phishing kit"]), Some("phishing"));
        assert_eq!(type_keyword(&["Worm", "SQL Injection"]), Some("malware"));
        assert_eq!(type_keyword(&["DoS Attack", "flooding"]), Some("ddos"));
        assert_eq!(
            type_keyword(&["Potential Corporate Privacy Violation"]),
            None
        );
        assert_eq!(type_keyword(&[]), None);
    }

    /// Texts made of table words (any case), their fragments, neighbours
    /// and noise: the automaton finds what the literal reading finds.
    fn text() -> impl Strategy<Value = String> {
        let word = prop::sample::select(
            TYPE_KEYWORDS
                .iter()
                .flat_map(|(w, _)| w.iter().copied())
                .chain([
                    "dos", "sql", "brute", "phis", "ATTACKER", " ", "-", "é", "ñ",
                ])
                .collect::<Vec<&str>>(),
        );
        prop::collection::vec(
            prop_oneof![
                word.clone().prop_map(str::to_owned),
                word.prop_map(str::to_ascii_uppercase),
                "[a-zA-Z _-]{0,6}",
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn the_automaton_agrees_with_the_table(texts in prop::collection::vec(text(), 0..3)) {
            let t: Vec<&str> = texts.iter().map(String::as_str).collect();
            prop_assert_eq!(type_keyword(&t), reference(&t));
        }
    }
}
