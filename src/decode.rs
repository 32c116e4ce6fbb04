//! The decoder seam: message bytes in the configured format → the
//! [`Event`] the rest of the monitor counts. The format is a value of the
//! configuration (`events.format`); the engine holds a [`Decoder`] and never
//! names a reader, so a new format is a variant here and a reader beside
//! the native one, with nothing downstream touched.

use serde::{Deserialize, Serialize};

use crate::event::{Event, Fields, Filter, Reject, parse_fields};

/// The format of incoming messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The incident event of spec §2, one JSON object per message.
    #[default]
    Native,
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
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    format: Format,
    max_bytes: usize,
    fields: Fields,
}

impl Decoder {
    pub fn new(format: Format, max_bytes: usize, fields: Fields) -> Decoder {
        Decoder {
            format,
            max_bytes,
            fields,
        }
    }

    /// One message → its event, or why it is not one.
    #[inline]
    pub fn decode<'a>(&self, payload: &'a [u8]) -> Decoded<'a> {
        let read = match self.format {
            Format::Native => parse_fields(payload, self.max_bytes, self.fields),
        };
        match read {
            Ok(e) => Decoded::Event(e),
            Err(r) => Decoded::Invalid(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_format_chooses_the_reader_and_the_limit_holds() {
        let d = Decoder::new(Format::Native, 200, Fields::ALL);
        let line = br#"{"id":"a-1","time":"2022-06-01T00:00:00Z","type":"phishing"}"#;
        let Decoded::Event(e) = d.decode(line) else {
            panic!("a native event");
        };
        assert_eq!(e.id, "a-1");
        assert_eq!(d.decode(b"not json"), Decoded::Invalid(Reject::NotJson));
        let small = Decoder::new(Format::Native, 10, Fields::ALL);
        assert_eq!(small.decode(line), Decoded::Invalid(Reject::TooLarge));
        let parsed: Format = serde_json::from_str("\"native\"").expect("a format name");
        assert_eq!(parsed, Format::Native);
    }
}
