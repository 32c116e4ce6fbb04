//! Reading the fields a tool format uses, leniently: each is absent, of
//! the expected type, or of another type ([`F`]), so a wrong type in a
//! field the mapping does not need never drops an incident, and one in a
//! field it needs is rejected with its reason.
//!
//! A document is read in one pass into borrowed structs (strings borrowed
//! where they have no escapes). serde_json refuses two things inside a
//! value it converts, although both are valid JSON: a lone surrogate escape
//! (`"\ud800"`) in a string and a number beyond `f64` (`1e400`). A tool
//! that writes one in a field the mapping reads must not lose its alert for
//! it, so such a document is [`repaired`] and read again: a lone surrogate
//! becomes U+FFFD (as a lossy UTF-8 decoding does), a number beyond `f64`
//! an empty array (a value of the wrong type for every field that is not a
//! list). Only those documents pay for the second pass; the first costs
//! nothing extra (a flag checked on every field instead cost 4% of the
//! Suricata path, measured).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, Visitor};

use crate::event::Reject;

/// A field read leniently.
#[derive(Debug, Default)]
pub(super) enum F<T> {
    #[default]
    Absent,
    Ok(T),
    /// Present with another type (or a value serde_json cannot convert).
    Wrong,
}

/// The JSON kind a leniently read field must have.
#[derive(PartialEq, Eq, Clone, Copy)]
pub(super) enum Kind {
    Str,
    Int,
    Bool,
    /// A string or an integer (a time written either way).
    StrOrInt,
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
impl Lenient<'_> for bool {
    const KIND: Kind = Kind::Bool;
}
impl<'de: 'a, 'a> Lenient<'de> for Stamp<'a> {
    const KIND: Kind = Kind::StrOrInt;
}
impl<'de, T: Lenient<'de>> Lenient<'de> for Box<T> {
    const KIND: Kind = T::KIND;
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

/// Reads one field's value with [`FieldVisitor`].
struct FieldVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de> + Lenient<'de>> Visitor<'de> for FieldVisitor<T> {
    type Value = F<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<F<T>, E> {
        use serde::de::value::BorrowedStrDeserializer;
        if !matches!(T::KIND, Kind::Str | Kind::StrOrInt) {
            return Ok(F::Wrong);
        }
        T::deserialize(BorrowedStrDeserializer::new(s)).map(F::Ok)
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<F<T>, E> {
        use serde::de::value::StrDeserializer;
        if !matches!(T::KIND, Kind::Str | Kind::StrOrInt) {
            return Ok(F::Wrong);
        }
        T::deserialize(StrDeserializer::new(s)).map(F::Ok)
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<F<T>, E> {
        use serde::de::value::U64Deserializer;
        if !matches!(T::KIND, Kind::Int | Kind::StrOrInt) {
            return Ok(F::Wrong);
        }
        // A number out of the field's range is of the wrong type.
        Ok(T::deserialize(U64Deserializer::<E>::new(n)).map_or(F::Wrong, F::Ok))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<F<T>, E> {
        use serde::de::value::I64Deserializer;
        if !matches!(T::KIND, Kind::Int | Kind::StrOrInt) {
            return Ok(F::Wrong);
        }
        Ok(T::deserialize(I64Deserializer::<E>::new(n)).map_or(F::Wrong, F::Ok))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<F<T>, E> {
        use serde::de::value::F64Deserializer;
        if T::KIND != Kind::StrOrInt {
            return Ok(F::Wrong);
        }
        Ok(T::deserialize(F64Deserializer::<E>::new(n)).map_or(F::Wrong, F::Ok))
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<F<T>, E> {
        use serde::de::value::BoolDeserializer;
        if T::KIND != Kind::Bool {
            return Ok(F::Wrong);
        }
        Ok(T::deserialize(BoolDeserializer::<E>::new(b)).map_or(F::Wrong, F::Ok))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<F<T>, E> {
        Ok(F::Absent)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<F<T>, E> {
        Ok(F::Absent)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<F<T>, A::Error> {
        if T::KIND == Kind::Seq {
            return T::from_seq(seq).map(F::Ok);
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(F::Wrong)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<F<T>, A::Error> {
        use serde::de::value::MapAccessDeserializer;
        if T::KIND == Kind::Map {
            return T::deserialize(MapAccessDeserializer::new(map)).map(F::Ok);
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(F::Wrong)
    }
}

impl<'de, T: Deserialize<'de> + Lenient<'de>> Deserialize<'de> for F<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

impl<T> F<T> {
    pub(super) fn ok(self) -> Option<T> {
        match self {
            F::Ok(v) => Some(v),
            _ => None,
        }
    }

    pub(super) fn as_ref(&self) -> Option<&T> {
        match self {
            F::Ok(v) => Some(v),
            _ => None,
        }
    }

    pub(super) fn is_present(&self) -> bool {
        !matches!(self, F::Absent)
    }

    /// A required field: absent is `missing`, another type is `wrong`.
    pub(super) fn need(self, wrong: Reject) -> Result<T, Reject> {
        match self {
            F::Ok(v) => Ok(v),
            F::Absent => Err(Reject::MissingField),
            F::Wrong => Err(wrong),
        }
    }

    /// The first of two spellings of a field that is present.
    pub(super) fn or(self, other: F<T>) -> F<T> {
        match self {
            F::Absent => other,
            s => s,
        }
    }
}

/// A JSON string, borrowed when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

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
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A time written as a string or as an epoch number (OCSF writes both;
/// some tools write fractional seconds).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stamp<'a> {
    Text(Text<'a>),
    Epoch(i64),
    Fractional(f64),
}

impl<'de: 'a, 'a> Deserialize<'de> for Stamp<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Stamp<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Stamp<'a>, E> {
                Ok(Stamp::Text(Text(Cow::Borrowed(s))))
            }
            fn visit_str<E>(self, s: &str) -> Result<Stamp<'a>, E> {
                Ok(Stamp::Text(Text(Cow::Owned(s.to_owned()))))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Stamp<'a>, E> {
                Ok(Stamp::Epoch(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Stamp<'a>, E> {
                i64::try_from(n)
                    .map(Stamp::Epoch)
                    .map_err(|_| E::custom("out of range"))
            }
            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Stamp<'a>, E> {
                Ok(Stamp::Fractional(n))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A document of a tool format; an error here is the JSON itself (every
/// field is lenient), or a value serde_json cannot convert ([`repaired`]).
pub(super) fn parse<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Reject> {
    serde_json::from_str(text).map_err(|_| Reject::NotJson)
}

/// A valid JSON document serde_json refuses, repaired (see the module
/// comment); `None` when the text is not valid JSON or has nothing to
/// repair. serde_json's own float parsing decides what is beyond `f64`
/// near the limit; a number it refuses that Rust's parser reads as finite
/// is left as it is, and the document stays `not_json`.
pub(super) fn repaired(text: &str) -> Option<String> {
    // Syntax only: nothing is converted, any number and escape pass.
    serde_json::from_str::<IgnoredAny>(text).ok()?;
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    let hex4 = |at: usize| -> Option<u32> {
        let digits = text.get(at..at + 4)?;
        u32::from_str_radix(digits, 16).ok()
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] != b'\\' {
                        i += 1;
                        continue;
                    }
                    if b.get(i + 1) != Some(&b'u') {
                        i += 2;
                        continue;
                    }
                    let unit = hex4(i + 2).unwrap_or(0);
                    let paired = (0xD800..0xDC00).contains(&unit)
                        && b.get(i + 6) == Some(&b'\\')
                        && b.get(i + 7) == Some(&b'u')
                        && hex4(i + 8).is_some_and(|lo| (0xDC00..0xE000).contains(&lo));
                    if paired {
                        i += 12;
                    } else if (0xD800..0xE000).contains(&unit) {
                        out.push_str(&text[copied..i]);
                        out.push_str("\\uFFFD");
                        i += 6;
                        copied = i;
                    } else {
                        i += 6;
                    }
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let finite = text[start..i].parse::<f64>().is_ok_and(f64::is_finite);
                if !finite {
                    out.push_str(&text[copied..start]);
                    out.push_str("[]");
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// The payload as text that starts an object, or why not.
pub(super) fn checked_text(payload: &[u8], max_bytes: usize) -> Result<&str, Reject> {
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
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lone_surrogates_and_numbers_beyond_f64_are_repaired_and_nothing_else() {
        let bad = r#"{"a":"x\ud800y","b":[1e400,-2E+999],"c":"\ud83d\ude00 and 1e400","d":"\udc00","e":1.5e300}"#;
        let fixed = repaired(bad).unwrap();
        assert_eq!(
            fixed,
            r#"{"a":"x\uFFFDy","b":[[],[]],"c":"\ud83d\ude00 and 1e400","d":"\uFFFD","e":1.5e300}"#
        );
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["c"], "😀 and 1e400");
        assert_eq!(
            repaired(r#"{"a":"fine","n":12}"#),
            None,
            "nothing to repair"
        );
        assert_eq!(repaired(r#"{"a":"\ud800""#), None, "not valid JSON");
    }

    /// A JSON document with anything serde_json accepts as syntax in it.
    fn document() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just(r#""\ud800""#.to_owned()),
            Just(r#""\udbff\udfff""#.to_owned()),
            Just(r#""a\udc00\ud800b""#.to_owned()),
            Just("1e400".to_owned()),
            Just("-123456789012345678901234567890e300".to_owned()),
            Just("0.5".to_owned()),
            Just(r#""\\u0041 \" 1e999""#.to_owned()),
            "[a-z]{0,4}".prop_map(|s| format!("\"{s}\"")),
            any::<i64>().prop_map(|n| n.to_string()),
        ];
        prop::collection::vec(piece, 1..8).prop_map(|items| {
            let fields: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, v)| format!("\"k{i}\":[{v},{{\"x\":{v}}}]"))
                .collect();
            format!("{{{}}}", fields.join(","))
        })
    }

    proptest! {
        /// Whatever valid JSON serde_json refuses comes out of the repair
        /// as JSON it converts; what it accepts is left as it is.
        #[test]
        fn a_repaired_document_converts(doc in document()) {
            match repaired(&doc) {
                Some(fixed) => prop_assert!(serde_json::from_str::<serde_json::Value>(&fixed).is_ok(), "{fixed}"),
                None => prop_assert!(serde_json::from_str::<serde_json::Value>(&doc).is_ok(), "{doc}"),
            }
        }
    }
}
