//! The reference model for the event reader, for tests only: the same
//! reading written as serde visitors over serde_json. The production reader
//! in the parent module must give the same event or the same rejection for
//! every input (property-tested in `tests.rs`); this is what "serde_json's
//! data model" means there, down to which strings are checked for lone
//! surrogates and which numbers must fit an `f64`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Field, Fields, Lenient, Raw};
use crate::event::{Event, Reject, Severity, Target};

/// The whole parse with serde_json.
pub fn parse_with_serde_json(bytes: &[u8], want: Fields) -> Result<Event<'_>, Reject> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Reject::Empty);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Reject::NotUtf8)?;
    let mut raw = Raw {
        want,
        ..Raw::default()
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = TopSeed(&mut raw).deserialize(&mut de);
    match (value, de.end()) {
        (Ok(true), Ok(())) => raw.validate(),
        (Ok(false), Ok(())) => Err(Reject::NotObject),
        _ => Err(Reject::NotJson),
    }
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
                Field::Id => raw.id = Some(map.next_value::<LenientStr>()?.0),
                Field::Time => raw.time = Some(map.next_value::<LenientStr>()?.0),
                Field::Type => raw.kind = Some(map.next_value::<LenientStr>()?.0),
                Field::Severity => raw.severity = map.next_value::<SeverityField>()?.0,
                Field::Signature if raw.want.signature => {
                    raw.signature = map.next_value::<LenientStr>()?.0.into_option();
                }
                Field::Mitre if raw.want.mitre => {
                    raw.mitre = map.next_value::<LenientStr>()?.0.into_option()
                }
                Field::Tags if raw.want.tags => raw.tags = map.next_value::<TagsField>()?.0,
                Field::Target => raw.target = map.next_value::<TargetField>()?.0,
                Field::Other | Field::Signature | Field::Mitre | Field::Tags => {
                    map.next_value::<IgnoredAny>()?;
                }
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

/// `tags`: an array of strings; non-string elements are skipped, a non-array
/// is ignored.
struct TagsField<'a>(Vec<Cow<'a, str>>);

impl<'de> de::Deserialize<'de> for TagsField<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TagsField<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TagsField(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TagsField(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TagsField(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TagsField(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TagsField(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TagsField(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut tags = Vec::new();
                while let Some(LenientStr(v)) = seq.next_element::<LenientStr<'de>>()? {
                    if let Lenient::Str(s) = v {
                        tags.push(s);
                    }
                }
                Ok(TagsField(tags))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                drain_map(map)?;
                Ok(TagsField(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `target`: an object whose `sector` is read; anything else is ignored.
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
                while let Some(key) = map.next_key_seed(KeyIndex(&["sector"]))? {
                    match key {
                        Some(_) => {
                            out.sector = map.next_value::<LenientStr<'de>>()?.0.into_option()
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
