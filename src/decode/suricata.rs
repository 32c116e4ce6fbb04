//! Suricata EVE JSON (docs/formats.md, `suricata-eve`): `event_type`
//! `alert` only. EVE gives an alert no id: the id is the sensor, flow,
//! signature (gid, sid, rev) and event time, so a record delivered twice is
//! one incident and one signature firing again in a flow later is another.
//! An alert without a flow or a signature id is fingerprinted instead.

use std::borrow::Cow;

use serde::Deserialize;

use super::Decoded;
use super::fingerprint::fingerprint_id;
use super::lenient::{F, Kind, Lenient, Text, parse};
use super::mapping::{Skip, ToolOptions, kind_of, read_tool, within_limit};
use super::tooltime::parse_tool_time;
use crate::event::{Event, Filter, Reject, Severity, Target};

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

impl<'de: 'a, 'a> Lenient<'de> for EveAlert<'a> {
    const KIND: Kind = Kind::Map;
}
impl<'de: 'a, 'a> Lenient<'de> for EveMetadata<'a> {
    const KIND: Kind = Kind::Map;
}

/// The type of an alert whose rule has neither classtype nor message.
const FALLBACK_TYPE: &str = "alert";

/// One EVE record → its incident, or why it is not one.
pub fn suricata<'a>(payload: &'a [u8], max_bytes: usize, o: &ToolOptions) -> Decoded<'a> {
    read_tool(payload, max_bytes, |text| {
        let eve: Eve<'_> = parse(text)?;
        let event_type = eve.event_type.need(Reject::BadType)?;
        if event_type.as_str() != "alert" {
            return Err(Skip::Filtered(Filter::NotAlert));
        }
        let ts = eve.timestamp.need(Reject::BadTime)?;
        let time_ms = parse_tool_time(ts.as_str(), &o.naive_zone).ok_or(Reject::BadTime)?;
        // An alert record without its `alert` object says only that
        // something fired: counted, under the fallback type.
        let alert = match eve.alert {
            F::Ok(a) => a,
            F::Absent => EveAlert::default(),
            F::Wrong => return Err(Reject::BadType.into()),
        };
        let id = match (eve.flow_id, alert.signature_id) {
            (F::Ok(flow), F::Ok(sid)) => {
                let host = eve.host.ok().map(|h| h.0).unwrap_or_default();
                let numbers = [
                    flow,
                    alert.gid.ok().unwrap_or(1),
                    sid,
                    alert.rev.ok().unwrap_or(0),
                ];
                within_limit("eve", Cow::Owned(eve_id(&host, numbers, time_ms)))
            }
            (_, F::Wrong) => return Err(Reject::BadId.into()),
            // Decoder and stream-event rules may fire outside a flow.
            _ => Cow::Owned(fingerprint_id("eve", text.as_bytes(), &[])),
        };
        let signature = alert.signature.ok().map(|t| t.0);
        // Rules without a classtype write `"category": ""`.
        let category = alert.category.ok().map(|t| t.0).filter(|c| !c.is_empty());
        let texts = [
            category.as_deref().unwrap_or_default(),
            signature.as_deref().unwrap_or_default(),
        ];
        let kind = kind_of(
            &texts,
            || category.clone().or_else(|| signature.clone()),
            FALLBACK_TYPE,
        );
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
        Ok(Event {
            id,
            time_ms,
            kind,
            severity,
            target: Target::default(),
            signature,
            mitre,
            tags: Vec::new(),
            status: None,
            updated_ms: None,
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
