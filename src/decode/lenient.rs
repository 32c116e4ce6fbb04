//! Reading the fields a tool format uses, leniently: each is absent, of
//! the expected type, or of another type ([`F`]), so a wrong type in a
//! field the mapping does not need never drops an incident, and one in a
//! field it needs is rejected with its reason.
//!
//! A document is read in one pass into borrowed structs (strings borrowed
//! where they have no escapes). serde_json refuses two things inside a
//! value it converts: a lone surrogate escape (`"\ud800"`) in a string and
//! a number beyond `f64` (`1e400`). Both are valid JSON syntax, and a tool
//! that writes one in a field the mapping reads must not lose its alert for
//! it. So a document the fast pass refuses, but which is valid JSON, is read
//! once more *tolerantly*: every field is first taken as raw JSON
//! ([`RawValue`]) and then converted, and a value that cannot be is of the
//! wrong type. The fast pass costs nothing extra; only such documents pay
//! for the second one.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde_json::value::RawValue;

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

thread_local! {
    /// Set while a document is read the tolerant way (see the module
    /// comment); read by every [`F`].
    static TOLERANT: Cell<bool> = const { Cell::new(false) };
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
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<F<T>, E> {
        Ok(F::Wrong)
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
        let visitor = FieldVisitor(std::marker::PhantomData);
        if !TOLERANT.with(Cell::get) {
            return d.deserialize_any(visitor);
        }
        // The value as JSON syntax first (which accepts anything valid),
        // then converted; a value that cannot be is of the wrong type.
        let raw = <&'de RawValue>::deserialize(d)?;
        let mut inner = serde_json::Deserializer::from_str(raw.get());
        Ok(inner.deserialize_any(visitor).unwrap_or(F::Wrong))
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

/// A time written as a string or as an epoch number (OCSF writes both).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stamp<'a> {
    Text(Text<'a>),
    Epoch(i64),
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
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Size, UTF-8 and object checks shared by every tool format, then the
/// document: read fast, and read again tolerantly when the fast pass
/// refuses a document that is valid JSON (see the module comment).
pub(super) fn document<'a, T: Deserialize<'a>>(
    payload: &'a [u8],
    max_bytes: usize,
) -> Result<T, Reject> {
    let text = checked_text(payload, max_bytes)?;
    match serde_json::from_str(text) {
        Ok(d) => Ok(d),
        Err(_) => {
            // Valid syntax (nothing converted: any number, any escape)?
            serde_json::from_str::<IgnoredAny>(text).map_err(|_| Reject::NotJson)?;
            TOLERANT.with(|t| t.set(true));
            let read = serde_json::from_str(text);
            TOLERANT.with(|t| t.set(false));
            read.map_err(|_| Reject::NotJson)
        }
    }
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
