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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
}
