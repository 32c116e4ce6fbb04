//! A generated native event written as a SOC tool writes it
//! (`generate --format`): the same incident (id, time, category, severity)
//! in Suricata EVE, Wazuh, ECS or OCSF, so that reading it back with that
//! format counts what the native stream counts (the ncsc-2022 figures of
//! spec §9 in every format). A line that is not a valid native event is
//! written unchanged: it stays invalid in any format.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::classify::Classifier;
use crate::decode::Format;
use crate::event::time::format_rfc3339;
use crate::event::{Severity, parse};

/// Writes native lines in a tool format, with the texts that make the
/// default rules give each event the category its native type has.
pub struct FormatWriter {
    format: Format,
    classifier: Arc<Classifier>,
}

impl FormatWriter {
    pub fn new(format: Format, classifier: Arc<Classifier>) -> FormatWriter {
        FormatWriter { format, classifier }
    }

    /// One native line in the writer's format; `None` for what a tool
    /// does not send: the centre's status updates (lines with `updated`)
    /// and a first report of undecided type (`suspicious`), a tool's alert
    /// being the decided one (the correction, marked `"corrected":true`,
    /// is written as the incident's alert).
    pub fn write(&self, line: &str) -> Option<String> {
        if matches!(self.format, Format::Native | Format::Custom) {
            return Some(line.to_owned());
        }
        let Ok(e) = parse(line.as_bytes(), usize::MAX) else {
            return Some(line.to_owned());
        };
        let corrected = line.contains(r#""corrected":true"#);
        if (e.updated_ms.is_some() && !corrected) || e.kind == super::ncsc::VAGUE_TYPE {
            return None;
        }
        Some(self.tool_line(line, &e))
    }

    fn tool_line(&self, line: &str, e: &crate::event::Event<'_>) -> String {
        let category =
            self.classifier.categories()[usize::from(self.classifier.classify(e))].as_str();
        // A word of the type keyword table (docs/formats.md) for the
        // category, and the native type beside it.
        let word = match category {
            "phishing" => "PHISHING",
            "deface" => "Website defacement",
            "malware" => "MALWARE",
            "ddos" => "DDoS",
            "intrusion" => "EXPLOIT",
            _ => "",
        };
        let text = format!("{word} {}", e.kind).trim().to_owned();
        let id = e.id.as_ref();
        let hash = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
        let value = match self.format {
            Format::Native | Format::Custom => return line.to_owned(),
            Format::SuricataEve => {
                let mut alert = json!({
                    "action": "allowed", "gid": 1, "signature_id": 9_100_000 + hash % 1000,
                    "rev": 1, "signature": format!("GEN {text}"), "category": text,
                });
                let level = match e.severity {
                    Severity::Critical | Severity::High => Some(1),
                    Severity::Medium => Some(2),
                    Severity::Low => Some(3),
                    Severity::Unknown => None,
                };
                if let Some(l) = level {
                    alert["severity"] = json!(l);
                }
                if e.severity == Severity::Critical {
                    alert["metadata"] = json!({"signature_severity": ["Critical"]});
                }
                json!({
                    "timestamp": compact_offset(&format_rfc3339(e.time_ms, 7 * 3600)),
                    "flow_id": hash >> 1, "event_type": "alert", "host": "gen",
                    "src_ip": "198.51.100.7", "dest_ip": "203.0.113.80", "proto": "TCP",
                    "alert": alert,
                })
            }
            Format::Wazuh => {
                // Every generated alert is at or above the default minimum
                // level (7): a low one is written at 7 (read back medium).
                let level = match e.severity {
                    Severity::Critical => 15,
                    Severity::High => 12,
                    _ => 7,
                };
                json!({
                    "timestamp": compact_offset(&format_rfc3339(e.time_ms, 7 * 3600)),
                    "rule": {"level": level, "description": text, "id": "100900",
                             "groups": ["gen", e.kind.as_ref()]},
                    "agent": {"id": "001", "name": "gen"},
                    "manager": {"name": "gen"},
                    "id": id,
                })
            }
            Format::Ecs => {
                let mut v = json!({
                    "@timestamp": format_rfc3339(e.time_ms, 0),
                    "event.kind": "signal",
                    "kibana.alert.uuid": id,
                    "kibana.alert.rule.name": text,
                });
                if e.severity != Severity::Unknown {
                    v["kibana.alert.severity"] = json!(e.severity.code());
                }
                v
            }
            Format::Ocsf => {
                let severity_id = match e.severity {
                    Severity::Low => 2,
                    Severity::Medium => 3,
                    Severity::High => 4,
                    Severity::Critical => 5,
                    Severity::Unknown => 0,
                };
                json!({
                    "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2,
                    "activity_id": 1, "time": e.time_ms, "severity_id": severity_id,
                    "finding_info": {"uid": id, "title": text, "types": [e.kind.as_ref()]},
                    "metadata": {"version": "1.1.0", "product": {"name": "incident-monitor generate"}},
                })
            }
        };
        Value::to_string(&value)
    }
}

/// `+07:00` → `+0700`, as Suricata and Wazuh write offsets.
fn compact_offset(rfc3339: &str) -> String {
    let n = rfc3339.len();
    if n > 6 && rfc3339.as_bytes()[n - 3] == b':' {
        format!("{}{}", &rfc3339[..n - 3], &rfc3339[n - 2..])
    } else {
        rfc3339.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::decode::{Decoded, Decoder, ToolOptions};
    use crate::event::Fields;

    /// Every generated native event, written in each format and read back
    /// with it, keeps its id's identity, its time and its category.
    #[test]
    fn each_format_reads_back_what_the_native_event_says() {
        let s = Config::default().validate().unwrap();
        let lines = crate::generate::ncsc_2022(7);
        for format in [
            Format::SuricataEve,
            Format::Wazuh,
            Format::Ecs,
            Format::Ocsf,
        ] {
            let w = FormatWriter::new(format, s.classifier.clone());
            let d = Decoder::new(
                format,
                1 << 16,
                Fields::ALL,
                ToolOptions {
                    wazuh_min_level: 7,
                    naive_zone: jiff::tz::TimeZone::UTC,
                },
            );
            let native = Decoder::new(
                Format::Native,
                1 << 16,
                Fields::ALL,
                ToolOptions {
                    wazuh_min_level: 7,
                    naive_zone: jiff::tz::TimeZone::UTC,
                },
            );
            for line in lines.iter().take(3000) {
                // Status updates and undecided first reports are not a
                // tool's to send.
                let Some(written) = w.write(line) else {
                    assert!(line.contains("\"updated\"") || line.contains("suspicious"));
                    continue;
                };
                match (native.decode(line.as_bytes()), d.decode(written.as_bytes())) {
                    (Decoded::Event(a), Decoded::Event(b)) => {
                        assert_eq!(a.time_ms, b.time_ms, "{written}");
                        assert_eq!(
                            s.classifier.classify(&a),
                            s.classifier.classify(&b),
                            "{line}\n{written}"
                        );
                    }
                    (Decoded::Invalid(_), Decoded::Invalid(_)) => {}
                    (a, b) => panic!("{}: {line} -> {written}: {a:?} / {b:?}", format.name()),
                }
            }
        }
        assert_eq!(
            compact_offset("2022-06-14T09:21:07+07:00"),
            "2022-06-14T09:21:07+0700"
        );
        assert_eq!(
            compact_offset("2022-06-14T09:21:07Z"),
            "2022-06-14T09:21:07Z"
        );
    }
}
