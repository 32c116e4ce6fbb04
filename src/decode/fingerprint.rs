//! The id of a record its tool gave no id (spec §2: "derived from the
//! record's own content"): a 128-bit fingerprint of the record's canonical
//! form, so the same record delivered again (by a replay, a Kafka
//! re-delivery, another shipper that orders keys or spaces differently)
//! counts once, and two records that differ in any value do not collide.
//!
//! The canonical form is the record's JSON value with every object's keys
//! in sorted order, strings by their characters (escapes resolved), numbers
//! as serde_json writes them, arrays in order; each item is written with its
//! kind and length, so no two different values hash the same input. It is
//! hashed with XXH3-128 (64-bit halves: a collision among 2^32 records has a
//! chance of about 2^-64). A record serde_json cannot represent (a number
//! beyond `f64`, a lone surrogate) is fingerprinted by its exact bytes,
//! leading and trailing white space aside.

use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// `<tool>:fp:<32 hex digits>`: the fingerprint of `record`, or of the
/// object at `path` inside it (an envelope's fields, such as an indexer's
/// score or an ingest time, are not part of the record).
pub(super) fn fingerprint_id(tool: &str, record: &[u8], path: &[&str]) -> String {
    let mut h = Xxh3::new();
    let whole: Option<Value> = serde_json::from_slice(record).ok();
    let value = whole
        .as_ref()
        .and_then(|v| path.iter().try_fold(v, |v, key| v.get(*key)));
    match value {
        Some(v) => canonical(v, &mut h),
        None => {
            h.update(b"raw");
            h.update(record.trim_ascii());
        }
    }
    format!("{tool}:fp:{:032x}", h.digest128())
}

fn canonical(v: &Value, h: &mut Xxh3) {
    match v {
        Value::Null => h.update(b"n"),
        Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            let s = n.to_string();
            h.update(b"d");
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        Value::String(s) => {
            h.update(b"s");
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        Value::Array(items) => {
            h.update(b"a");
            h.update(&(items.len() as u64).to_le_bytes());
            for item in items {
                canonical(item, h);
            }
        }
        Value::Object(map) => {
            // Sorted here, whatever order the map keeps (serde_json's
            // `preserve_order` feature may be on in the tree).
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"o");
            h.update(&(entries.len() as u64).to_le_bytes());
            for (k, v) in entries {
                h.update(&(k.len() as u64).to_le_bytes());
                h.update(k.as_bytes());
                canonical(v, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_record_written_otherwise_has_the_same_id() {
        let a = r#"{"a":1,"b":{"x":"é","y":[1,2]}}"#;
        let b = "{ \"b\" : {\"y\":[1, 2], \"x\":\"\\u00e9\"},\n \"a\" : 1 }";
        assert_eq!(
            fingerprint_id("t", a.as_bytes(), &[]),
            fingerprint_id("t", b.as_bytes(), &[])
        );
        let id = fingerprint_id("ecs", a.as_bytes(), &[]);
        assert!(id.starts_with("ecs:fp:") && id.len() == 7 + 32, "{id}");
    }

    #[test]
    fn records_that_differ_anywhere_have_other_ids() {
        let base = r#"{"a":1,"b":{"x":"é","y":[1,2]}}"#;
        let others = [
            r#"{"a":2,"b":{"x":"é","y":[1,2]}}"#,
            r#"{"a":1,"b":{"x":"e","y":[1,2]}}"#,
            r#"{"a":1,"b":{"x":"é","y":[2,1]}}"#,
            r#"{"a":1,"b":{"x":"é","y":[1,2],"z":null}}"#,
            r#"{"a":"1","b":{"x":"é","y":[1,2]}}"#,
            r#"{"a":1.0,"b":{"x":"é","y":[1,2]}}"#,
            // Lengths keep key and value apart: "ab":"c" is not "a":"bc".
            r#"{"a":1,"b":{"xé":"","y":[1,2]}}"#,
        ];
        let id = fingerprint_id("t", base.as_bytes(), &[]);
        let mut seen = std::collections::BTreeSet::from([id]);
        for o in others {
            assert!(seen.insert(fingerprint_id("t", o.as_bytes(), &[])), "{o}");
        }
    }

    #[test]
    fn an_envelope_is_set_aside_and_unrepresentable_records_use_their_bytes() {
        let one = r#"{"_score":1,"sort":[5],"_source":{"rule":{"id":"5710"}}}"#;
        let two = r#"{"_score":7,"_source":{"rule":{"id":"5710"}}}"#;
        assert_eq!(
            fingerprint_id("w", one.as_bytes(), &["_source"]),
            fingerprint_id("w", two.as_bytes(), &["_source"])
        );
        assert_ne!(
            fingerprint_id("w", one.as_bytes(), &[]),
            fingerprint_id("w", two.as_bytes(), &[])
        );
        let big = r#"{"n":1e400}"#;
        assert_eq!(
            fingerprint_id("w", big.as_bytes(), &[]),
            fingerprint_id("w", format!(" {big}\n").as_bytes(), &[])
        );
        assert_ne!(
            fingerprint_id("w", big.as_bytes(), &[]),
            fingerprint_id("w", br#"{"n":1e401}"#, &[])
        );
    }
}
