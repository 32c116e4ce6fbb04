//! The reference model for the event reader, for tests only: the same
//! reading written as serde visitors over serde_json. The production reader
//! in the parent module must give the same event or the same rejection for
//! every input (property-tested in `tests.rs`); this is what "serde_json's
//! data model" means there. Keys are read by serde_json as it reads keys
//! (a lone surrogate refuses the message); every value is first read as
//! JSON syntax ([`RawValue`]), and a value of a field read is then
//! interpreted on its own: one serde_json cannot represent (a lone
//! surrogate, `1e400`) counts as the wrong type.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{Field, Fields, Lenient, Raw};
use crate::event::{Event, Reject, Severity, Target};

/// The whole parse with serde_json.
pub fn parse_with_serde_json(bytes: &[u8], want: Fields) -> Result<Event<'_>, Reject> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reject::Empty);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Reject::NotUtf8)?;
    let document: &RawValue = serde_json::from_str(text).map_err(|_| Reject::NotJson)?;
    if !document.get().starts_with('{') {
        return Err(Reject::NotObject);
    }
    let mut raw = Raw {
        want,
        ..Raw::default()
    };
    let mut de = serde_json::Deserializer::from_str(document.get());
    match TopSeed(&mut raw).deserialize(&mut de) {
        Ok(true) => raw.validate(),
        _ => Err(Reject::NotJson),
    }
}

/// A string field's value, interpreted alone: `null` is missing, a string
/// serde_json can hold is a string, anything else (another type, a lone
/// surrogate) is the wrong type.
fn lenient(v: &RawValue) -> Lenient<'_> {
    match v.get().as_bytes().first() {
        Some(b'"') => {
            serde_json::from_str::<LenientStr<'_>>(v.get()).map_or(Lenient::Other, |l| l.0)
        }
        Some(b'n') => Lenient::Missing,
        _ => Lenient::Other,
    }
}

/// `severity`'s value: a level name or a 1-10 score; anything else (also
/// a number beyond `f64`) is `None`.
fn severity(v: &RawValue) -> Option<Severity> {
    match v.get().as_bytes().first() {
        Some(b'"' | b'-' | b'0'..=b'9') => {
            serde_json::from_str::<SeverityField>(v.get()).map_or(None, |s| s.0)
        }
        _ => None,
    }
}

/// `tags`: an array of strings; other elements are skipped, a non-array
/// is ignored.
fn tags(v: &RawValue) -> Vec<Cow<'_, str>> {
    if !v.get().starts_with('[') {
        return Vec::new();
    }
    let elements: Vec<&RawValue> = serde_json::from_str(v.get()).unwrap_or_default();
    elements
        .into_iter()
        .filter_map(|e| lenient(e).into_option())
        .collect()
}

/// `target`: an object whose `sector` and `province` are read (its keys as serde_json
/// reads keys); anything else is ignored.
fn target(v: &RawValue) -> Result<Target<'_>, serde_json::Error> {
    if !v.get().starts_with('{') {
        return Ok(Target::default());
    }
    serde_json::from_str::<TargetField<'_>>(v.get()).map(|t| t.0)
}

/// Reads the top-level value into a [`Raw`]; `false` when it is not an
/// object.
struct TopSeed<'r, 'a>(&'r mut Raw<'a>);

impl<'de> DeserializeSeed<'de> for TopSeed<'_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(TopVisitor(self.0))
    }
}

/// Drains any JSON value; used where a type does not fit.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the visitor methods for scalars that a visitor treats as "the
/// wrong type": they produce `$other` instead of an error.
macro_rules! other_scalars {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            drain_seq(seq)?;
            Ok($other)
        }
    };
}

struct TopVisitor<'r, 'a>(&'r mut Raw<'a>);

impl<'de> Visitor<'de> for TopVisitor<'_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an incident object")
    }

    other_scalars!(false);

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let raw = self.0;
        while let Some(Key(field)) = map.next_key::<Key>()? {
            match field {
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Field::Signature if !raw.want.signature => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Field::Mitre if !raw.want.mitre => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                Field::Tags if !raw.want.tags => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => {}
            }
            let v: &'de RawValue = map.next_value()?;
            match field {
                Field::Id => raw.id = Some(lenient(v)),
                Field::Time => raw.time = Some(lenient(v)),
                Field::Type => raw.kind = Some(lenient(v)),
                Field::Severity => raw.severity = severity(v),
                Field::Signature => raw.signature = lenient(v).into_option(),
                Field::Mitre => raw.mitre = lenient(v).into_option(),
                Field::Tags => raw.tags = tags(v),
                Field::Target => raw.target = target(v).map_err(de::Error::custom)?,
                Field::Status => raw.status = lenient(v).into_option(),
                Field::Updated => raw.updated = lenient(v).into_option(),
                Field::Other => {}
            }
        }
        Ok(true)
    }
}

/// A top-level key read through serde: the same names as the reader's.
struct Key(Field);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(Key(Field::of(s)))
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Reads an object key as its index in a list of known names, without
/// allocating; `None` for an unknown key.
struct KeyIndex(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeyIndex {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V(&'static [&'static str]);
        impl Visitor<'_> for V {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(self.0.iter().position(|n| *n == s))
            }
        }
        d.deserialize_identifier(V(self.0))
    }
}

/// A string field; other JSON types become [`Lenient::Other`], `null` is
/// [`Lenient::Missing`].
struct LenientStr<'a>(Lenient<'a>);

impl<'de> de::Deserialize<'de> for LenientStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            other_scalars!(LenientStr(Lenient::Other));
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(LenientStr(Lenient::Str(Cow::Borrowed(s))))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(LenientStr(Lenient::Str(Cow::Owned(s.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(LenientStr(Lenient::Str(Cow::Owned(s))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LenientStr(Lenient::Missing))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map)?;
                Ok(LenientStr(Lenient::Other))
            }
        }
        d.deserialize_any(V)
    }
}

/// `severity`: a level name or a 1-10 score; anything else is `None`.
struct SeverityField(Option<Severity>);

impl<'de> de::Deserialize<'de> for SeverityField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SeverityField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a severity")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(SeverityField(None))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(SeverityField(Some(Severity::from_score(n))))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(SeverityField(Some(Severity::from_score(
                    i64::try_from(n).unwrap_or(i64::MAX),
                ))))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(SeverityField(None))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(SeverityField(Some(Severity::from_name(s))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(SeverityField(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq)?;
                Ok(SeverityField(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map)?;
                Ok(SeverityField(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `target`: an object whose `sector` and `province` are read; anything
/// else is ignored.
struct TargetField<'a>(Target<'a>);

impl<'de> de::Deserialize<'de> for TargetField<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TargetField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a target object")
            }
            other_scalars!(TargetField(Target::default()));
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TargetField(Target::default()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TargetField(Target::default()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Target::default();
                while let Some(key) = map.next_key_seed(KeyIndex(&["sector", "province"]))? {
                    match key {
                        Some(i) => {
                            let v: &'de RawValue = map.next_value()?;
                            let text = lenient(v).into_option();
                            if i == 0 {
                                out.sector = text;
                            } else {
                                out.province = text;
                            }
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(TargetField(out))
            }
        }
        d.deserialize_any(V)
    }
}
