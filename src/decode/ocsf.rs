//! OCSF findings (docs/formats.md, `ocsf`): a finding class, and not a
//! check that passed or was left to a person. The id is `finding_info.uid` (OCSF 1.0: `finding.uid`),
//! else a fingerprint of the finding. The time is
//! `time` (epoch milliseconds, or seconds as Prowler writes it), else where
//! tools write it instead: `time_dt`, `event_time`, then the finding's
//! `created_time(_dt)` and `modified_time(_dt)`, as epoch numbers or
//! date-time strings (without an offset: in `events.naive_time_zone`).

use std::borrow::Cow;

use serde::Deserialize;

use super::Decoded;
use super::fingerprint::fingerprint_id;
use super::lenient::{F, Kind, Lenient, Stamp, Text, parse};
use super::mapping::{Skip, ToolOptions, kind_of, read_tool, within_limit};
use super::tooltime::{epoch_time, parse_tool_time};
use crate::event::{EpochMillis, Event, Filter, Reject, Severity, Target};

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Ocsf<'a> {
    class_uid: F<i64>,
    time: F<Stamp<'a>>,
    time_dt: F<Stamp<'a>>,
    event_time: F<Stamp<'a>>,
    severity_id: F<i64>,
    status_code: F<Text<'a>>,
    /// The finding's status (`New`, `In Progress`, `Resolved`, ...).
    status: F<Text<'a>>,
    class_name: F<Text<'a>>,
    finding_info: F<Finding<'a>>,
    /// OCSF 1.0's name of `finding_info`.
    finding: F<Finding<'a>>,
    /// Where the target is: the device the finding is about, else the
    /// attacked endpoint; its `location.region` (the province).
    device: F<Located<'a>>,
    dst_endpoint: F<Located<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Located<'a> {
    location: F<Location<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Location<'a> {
    region: F<Text<'a>>,
}

impl<'de: 'a, 'a> Lenient<'de> for Located<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Location<'a> {
    const KIND: Kind = Kind::Map;
}

/// A `location.region` of a device or endpoint.
fn region(l: F<Located<'_>>) -> F<Text<'_>> {
    match l {
        F::Ok(l) => l.location.ok().map_or(F::Absent, |g| g.region),
        _ => F::Absent,
    }
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Finding<'a> {
    uid: F<Text<'a>>,
    title: F<Text<'a>>,
    types: F<Vec<Text<'a>>>,
    attacks: F<Vec<Attack<'a>>>,
    created_time: F<Stamp<'a>>,
    created_time_dt: F<Stamp<'a>>,
    modified_time: F<Stamp<'a>>,
    modified_time_dt: F<Stamp<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Attack<'a> {
    technique: F<Technique<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, bound(deserialize = "'de: 'a"))]
struct Technique<'a> {
    uid: F<Text<'a>>,
    name: F<Text<'a>>,
}

impl<'de: 'a, 'a> Lenient<'de> for Finding<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Attack<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for Technique<'a> {
    const KIND: Kind = Kind::Map;
}

/// OCSF finding classes (category 2, Findings): 2001 Security, 2002
/// Vulnerability, 2003 Compliance, 2004 Detection, 2005 Incident, 2006
/// Data Security, 2007 Application Security Posture.
const FINDING_CLASSES: std::ops::RangeInclusive<i64> = 2001..=2007;

/// The `status_code` of a check that did not fail (Prowler writes `PASS`,
/// `FAIL` or `MANUAL`); elsewhere OCSF leaves the code to the source
/// (a Windows failure code, say), which filters nothing.
const NOT_FAILED: [&str; 2] = ["pass", "manual"];

/// The type of a finding with no title, types or class name.
const FALLBACK_TYPE: &str = "finding";

/// A time as OCSF tools write it.
fn stamp_ms(s: &Stamp<'_>, o: &ToolOptions) -> Option<EpochMillis> {
    match s {
        Stamp::Epoch(n) => epoch_time(*n),
        // Fractional seconds (below 10¹¹, as for integers), or milliseconds.
        Stamp::Fractional(f) if f.is_finite() && *f > 0.0 && *f < 1e11 => {
            Some((f * 1000.0).round() as i64)
        }
        Stamp::Fractional(f) if f.is_finite() && *f > 0.0 && *f < 1e15 => Some(f.round() as i64),
        Stamp::Fractional(_) => None,
        Stamp::Text(t) => parse_tool_time(t.as_str(), &o.naive_zone),
    }
}

/// One OCSF event → its incident, or why it is not one.
pub fn ocsf<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    read_tool(payload, max_bytes, |text| {
        let d: Ocsf<'_> = parse(text)?;
        let class = d.class_uid.need(Reject::BadType)?;
        if !FINDING_CLASSES.contains(&class) {
            return Err(Skip::Filtered(Filter::NotFinding));
        }
        // A posture check that passed or waits for a person (Prowler's
        // outcomes); any other `status_code` is the source's own code.
        if let Some(status) = d.status_code.as_ref()
            && NOT_FAILED
                .iter()
                .any(|c| status.as_str().eq_ignore_ascii_case(c))
        {
            return Err(Skip::Filtered(Filter::NotFailed));
        }
        let info = match d.finding_info.or(d.finding) {
            F::Ok(info) => info,
            F::Absent => Finding::default(),
            F::Wrong => return Err(Reject::BadType.into()),
        };
        // The first time field present decides: one present but unreadable
        // is `bad_time`, not a reason to look further.
        let stamp = d
            .time
            .or(d.time_dt)
            .or(d.event_time)
            .or(info.created_time)
            .or(info.created_time_dt)
            .or(info.modified_time)
            .or(info.modified_time_dt)
            .need(Reject::BadTime)?;
        let time_ms = stamp_ms(&stamp, o).ok_or(Reject::BadTime)?;
        let uid = info.uid;
        let id = match uid {
            F::Ok(id) if !id.as_str().is_empty() => id.0,
            F::Wrong => return Err(Reject::BadId.into()),
            _ => Cow::Owned(fingerprint_id("ocsf", text.as_bytes(), &[])),
        };
        let title = info.title.ok().map(|t| t.0);
        let types: Vec<Cow<'_, str>> = info
            .types
            .ok()
            .map(|v| v.into_iter().map(|t| t.0).collect())
            .unwrap_or_default();
        let techniques: Vec<Technique<'_>> = info
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
        let own = || {
            types
                .iter()
                .find(|t| !t.trim().is_empty())
                .cloned()
                .or(class_name)
        };
        let kind = kind_of(&texts, own, FALLBACK_TYPE);
        let severity = match d.severity_id.ok() {
            Some(1 | 2) => Severity::Low,
            Some(3) => Severity::Medium,
            Some(4) => Severity::High,
            Some(5 | 6) => Severity::Critical,
            _ => Severity::Unknown,
        };
        let mitre = techniques.into_iter().find_map(|t| t.uid.ok()).map(|t| t.0);
        let province = region(d.device)
            .or(region(d.dst_endpoint))
            .ok()
            .map(|t| t.0);
        Ok(Event {
            id: within_limit("ocsf", id),
            time_ms,
            kind,
            severity,
            target: Target {
                sector: None,
                province,
            },
            signature: title,
            mitre,
            tags: types,
            status: d.status.ok().map(|t| t.0),
            updated_ms: None,
        })
    })
}
