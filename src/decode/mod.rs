//! The decoder seam: message bytes in the configured format → the
//! [`Event`] the rest of the monitor counts. The format is a value of the
//! configuration (`events.format`); the engine holds a [`Decoder`] and never
//! names a reader, so a new format is a variant here and a reader beside
//! the native one, with nothing downstream touched.

mod custom;
mod ecs;
mod fingerprint;
mod lenient;
mod mapping;
mod ocsf;
mod suricata;
mod tooltime;
mod wazuh;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use custom::{Mapping, MappingConfig};
pub use mapping::ToolOptions;

use crate::event::{Event, Fields, Filter, Reject, parse_fields};

/// The format of incoming messages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The incident event of spec §2, one JSON object per message.
    #[default]
    Native,
    /// Suricata EVE JSON (`event_type` `alert`).
    SuricataEve,
    /// Wazuh alerts (`alerts.json`).
    Wazuh,
    /// Elastic Common Schema alert documents (Elastic Security).
    Ecs,
    /// OCSF findings (Prowler, Security Hub, ...).
    Ocsf,
    /// Any JSON, through `[events.mapping]`.
    Custom,
}

impl Format {
    /// Every format, for help texts and errors.
    pub const ALL: [Format; 6] = [
        Format::Native,
        Format::SuricataEve,
        Format::Wazuh,
        Format::Ecs,
        Format::Ocsf,
        Format::Custom,
    ];

    /// The configuration name.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::SuricataEve => "suricata-eve",
            Format::Wazuh => "wazuh",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
            Format::Custom => "custom",
        }
    }

    /// The format of this name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// What a message is.
#[derive(Debug, Clone, PartialEq)]
// Returned by value for every message and taken apart at once: boxing the
// event would allocate once per message.
#[allow(clippy::large_enum_variant)]
pub enum Decoded<'a> {
    /// An incident report.
    Event(Event<'a>),
    /// Well formed, but the format's filter says it is not an incident.
    Filtered(Filter),
    /// Rejected.
    Invalid(Reject),
}

/// Decodes messages of one format, within the configured size limit,
/// reading only the optional fields the classification rules use.
#[derive(Debug, Clone)]
pub struct Decoder {
    format: Format,
    max_bytes: usize,
    fields: Fields,
    tools: ToolOptions,
    /// The compiled `[events.mapping]` of `format = "custom"`.
    mapping: Option<Arc<Mapping>>,
}

impl Decoder {
    pub fn new(format: Format, max_bytes: usize, fields: Fields, tools: ToolOptions) -> Decoder {
        Decoder {
            format,
            max_bytes,
            fields,
            tools,
            mapping: None,
        }
    }

    /// The decoder of `format = "custom"` with its mapping.
    pub fn custom(mapping: Arc<Mapping>, max_bytes: usize, tools: ToolOptions) -> Decoder {
        Decoder {
            mapping: Some(mapping),
            ..Decoder::new(Format::Custom, max_bytes, Fields::ALL, tools)
        }
    }

    /// One message → its event, or why it is not one.
    #[inline]
    pub fn decode<'a>(&self, payload: &'a [u8]) -> Decoded<'a> {
        let (max, o) = (self.max_bytes, &self.tools);
        match self.format {
            Format::Native => match parse_fields(payload, max, self.fields) {
                Ok(e) => Decoded::Event(e),
                Err(r) => Decoded::Invalid(r),
            },
            Format::SuricataEve => suricata::suricata(payload, max, o),
            Format::Wazuh => wazuh::wazuh(payload, max, o),
            Format::Ecs => ecs::ecs(payload, max, o),
            Format::Ocsf => ocsf::ocsf(payload, max, o),
            Format::Custom => match &self.mapping {
                Some(m) => m.decode(payload, max, o),
                // A validated configuration always compiles one.
                None => Decoded::Invalid(Reject::BadType),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ToolOptions {
        ToolOptions {
            wazuh_min_level: 7,
            naive_zone: jiff::tz::TimeZone::UTC,
        }
    }

    #[test]
    fn the_configured_format_chooses_the_reader_and_the_limit_holds() {
        let d = Decoder::new(Format::Native, 200, Fields::ALL, opts());
        let line = br#"{"id":"a-1","time":"2022-06-01T00:00:00Z","type":"phishing"}"#;
        let Decoded::Event(e) = d.decode(line) else {
            panic!("a native event");
        };
        assert_eq!(e.id, "a-1");
        assert_eq!(d.decode(b"not json"), Decoded::Invalid(Reject::NotJson));
        let small = Decoder::new(Format::Native, 10, Fields::ALL, opts());
        assert_eq!(small.decode(line), Decoded::Invalid(Reject::TooLarge));
        let parsed: Format = serde_json::from_str("\"native\"").expect("a format name");
        assert_eq!(parsed, Format::Native);
    }

    #[test]
    fn tool_formats_read_where_the_target_is() {
        let province = |format: Format, line: &[u8]| -> Option<String> {
            match Decoder::new(format, 1 << 16, Fields::ALL, opts()).decode(line) {
                Decoded::Event(e) => e.target.province.map(|p| p.into_owned()),
                other => panic!("{format:?}: {other:?}"),
            }
        };
        // ECS: the destination's region, else the host's; flat or nested.
        let ecs = br#"{"@timestamp":"2022-06-01T00:00:00Z","event":{"kind":"alert","id":"e1"},"rule":{"name":"x"},"host":{"geo":{"region_name":"Da Nang"}},"destination":{"geo":{"region_name":"Ha Noi"}}}"#;
        assert_eq!(province(Format::Ecs, ecs).as_deref(), Some("Ha Noi"));
        let ecs = br#"{"@timestamp":"2022-06-01T00:00:00Z","event.kind":"alert","event.id":"e1","host.geo.region_name":"Da Nang"}"#;
        assert_eq!(province(Format::Ecs, ecs).as_deref(), Some("Da Nang"));
        let ecs = br#"{"@timestamp":"2022-06-01T00:00:00Z","event.kind":"alert","event.id":"e1","host":{"geo":7}}"#;
        assert_eq!(province(Format::Ecs, ecs), None);
        // OCSF: the device's location, else the attacked endpoint's.
        let ocsf = br#"{"class_uid":2004,"time":1654041600000,"finding_info":{"uid":"f1","title":"x"},"dst_endpoint":{"location":{"region":"Hue"}}}"#;
        assert_eq!(province(Format::Ocsf, ocsf).as_deref(), Some("Hue"));
        let ocsf = br#"{"class_uid":2004,"time":1654041600000,"finding_info":{"uid":"f1","title":"x"},"device":{"location":{"region":"Can Tho"}},"dst_endpoint":{"location":{"region":"Hue"}}}"#;
        assert_eq!(province(Format::Ocsf, ocsf).as_deref(), Some("Can Tho"));
    }
}
