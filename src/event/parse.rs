//! The JSON reader for the native format.
//!
//! One pass over the message, written for this one schema: the top-level
//! keys are matched as they are read, the values the monitor uses are
//! borrowed from the input (decoded only when they contain escapes), and
//! everything else is checked for JSON syntax and skipped without being
//! built. The end of a string is found by a bit scan over masks of the
//! bytes that can end one (`"`, `\`, control bytes), computed with SSE2
//! once per 64-byte block (for the first KiB, all up front in one loop);
//! the keys the monitor reads are recognised by their bytes. Nesting is
//! tracked in a bit stack, never by recursion, so no input can overflow
//! the stack.
//!
//! What is accepted is serde_json's data model: the test-only
//! `serde_model` module reads the same fields with serde visitors over
//! serde_json, and property tests require both to give the same event or
//! the same rejection for every input. Keys are read as serde_json reads
//! them (a lone `\u` surrogate in a key is not JSON). A value is JSON
//! syntax first: a value of a field read that the monitor cannot
//! represent (a string with a lone surrogate, a number beyond `f64` such
//! as `1e400`) counts as a value of the wrong type, so it never drops the
//! incident, whatever the configured rules read (spec §2). Required
//! fields are checked for presence and type so each rejection gets its
//! own reason; optional fields of the wrong type count as absent.

use std::borrow::Cow;

use super::time::parse_rfc3339;
use super::{Event, Reject, Severity, Target};

/// Longest accepted incident id, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Which optional fields to read; the others are skipped like unknown
/// fields (validated, not built). The classifier asks only for what its
/// rules use: reading `tags` costs an allocation per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub signature: bool,
    pub mitre: bool,
    pub tags: bool,
}

impl Fields {
    pub const ALL: Fields = Fields {
        signature: true,
        mitre: true,
        tags: true,
    };
}

/// Parses one message with every field. `max_bytes` is the size limit.
///
/// Never panics, whatever the input (property-tested).
pub fn parse(bytes: &[u8], max_bytes: usize) -> Result<Event<'_>, Reject> {
    parse_fields(bytes, max_bytes, Fields::ALL)
}

/// Parses one message, reading only the optional fields in `want`.
pub fn parse_fields(bytes: &[u8], max_bytes: usize, want: Fields) -> Result<Event<'_>, Reject> {
    if bytes.len() > max_bytes {
        return Err(Reject::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reject::Empty);
    }
    // Validated once up front (SIMD), so the scanner only looks at ASCII
    // structure and every slice between two ASCII bytes is a `str`.
    let text = simdutf8::basic::from_utf8(bytes).map_err(|_| Reject::NotUtf8)?;
    let mut raw = Raw {
        want,
        ..Raw::default()
    };
    match Scanner::new(text).document(&mut raw) {
        Ok(true) => raw.validate(),
        Ok(false) => Err(Reject::NotObject),
        Err(Invalid) => Err(Reject::NotJson),
    }
}

/// A value that is either a string or something else (ignored).
enum Lenient<'a> {
    Missing,
    Str(Cow<'a, str>),
    Other,
}

impl<'a> Lenient<'a> {
    fn into_option(self) -> Option<Cow<'a, str>> {
        match self {
            Lenient::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct Raw<'a> {
    want: Fields,
    id: Option<Lenient<'a>>,
    time: Option<Lenient<'a>>,
    kind: Option<Lenient<'a>>,
    severity: Option<Severity>,
    target: Target<'a>,
    signature: Option<Cow<'a, str>>,
    mitre: Option<Cow<'a, str>>,
    tags: Vec<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
    updated: Option<Cow<'a, str>>,
}

impl Default for Raw<'_> {
    fn default() -> Self {
        Raw {
            want: Fields::ALL,
            id: None,
            time: None,
            kind: None,
            severity: None,
            target: Target::default(),
            signature: None,
            mitre: None,
            tags: Vec::new(),
            status: None,
            updated: None,
        }
    }
}

impl<'a> Raw<'a> {
    fn validate(self) -> Result<Event<'a>, Reject> {
        let id = match self.id.unwrap_or(Lenient::Missing) {
            Lenient::Missing => return Err(Reject::MissingField),
            Lenient::Str(s) if !s.is_empty() && s.len() <= MAX_ID_BYTES => s,
            _ => return Err(Reject::BadId),
        };
        let time_ms = match self.time.unwrap_or(Lenient::Missing) {
            Lenient::Missing => return Err(Reject::MissingField),
            Lenient::Str(s) => parse_rfc3339(&s).ok_or(Reject::BadTime)?,
            Lenient::Other => return Err(Reject::BadTime),
        };
        let kind = match self.kind.unwrap_or(Lenient::Missing) {
            Lenient::Missing => return Err(Reject::MissingField),
            Lenient::Str(s) if !s.trim().is_empty() => s,
            _ => return Err(Reject::BadType),
        };
        Ok(Event {
            id,
            time_ms,
            kind,
            severity: self.severity.unwrap_or(Severity::Unknown),
            target: self.target,
            signature: self.signature,
            mitre: self.mitre,
            tags: self.tags,
            status: self.status,
            // An optional field that cannot be read counts as absent.
            updated_ms: self.updated.as_deref().and_then(parse_rfc3339),
        })
    }
}

/// A top-level key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Time,
    Type,
    Severity,
    Target,
    Signature,
    Mitre,
    Tags,
    Status,
    Updated,
    Other,
}

impl Field {
    fn of(name: &str) -> Field {
        match name {
            "id" => Field::Id,
            "time" => Field::Time,
            "type" => Field::Type,
            "severity" => Field::Severity,
            "target" => Field::Target,
            "signature" => Field::Signature,
            "mitre" => Field::Mitre,
            "tags" => Field::Tags,
            "status" => Field::Status,
            "updated" => Field::Updated,
            _ => Field::Other,
        }
    }
}

/// A key name the reader recognises, with its closing quote, as an integer
/// (little-endian) and the mask of the bytes it covers: compared with the
/// next 16 bytes of input ([`next_16`]) in one masked compare, however the
/// bytes lie in memory.
#[derive(Debug, Clone, Copy)]
struct Name {
    bytes: u128,
    mask: u128,
    /// Bytes covered, closing quote included.
    len: usize,
}

impl Name {
    /// `name` and its closing quote (at most 15 bytes of name).
    const fn of(name: &[u8]) -> Name {
        assert!(name.len() < 16, "names of up to 15 bytes");
        let mut bytes = 0u128;
        let mut i = 0;
        while i < name.len() {
            bytes |= (name[i] as u128) << (8 * i);
            i += 1;
        }
        bytes |= (b'"' as u128) << (8 * i);
        let len = name.len() + 1;
        Name {
            bytes,
            mask: u128::MAX >> (8 * (16 - len)),
            len,
        }
    }

    /// Whether `next` (from [`next_16`]) begins with this name and its
    /// closing quote.
    #[inline(always)]
    fn starts(&self, next: u128) -> bool {
        next & self.mask == self.bytes
    }
}

/// The 16 bytes from `at` as an integer (little-endian: the first byte is
/// the lowest), zero-padded past the end: a name longer than what is left
/// cannot match (its closing quote is not zero).
#[inline(always)]
fn next_16(bytes: &[u8], at: usize) -> u128 {
    let rest = bytes.get(at..).unwrap_or_default();
    let chunk = match rest.first_chunk::<16>() {
        Some(c) => *c,
        None => {
            let mut c = [0u8; 16];
            c[..rest.len()].copy_from_slice(rest);
            c
        }
    };
    u128::from_le_bytes(chunk)
}

mod lexical;
mod scanner;
#[allow(unsafe_code)]
mod simd;

use scanner::*;
use simd::*;

#[cfg(any(test, feature = "reference-model"))]
mod serde_model;
/// The serde_json reference model of this reader (differential fuzzing).
#[cfg(feature = "reference-model")]
pub use serde_model::parse_with_serde_json;
#[cfg(test)]
mod tests;
