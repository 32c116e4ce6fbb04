use super::serde_model::parse_with_serde_json;
use super::*;
use proptest::prelude::*;

const MAX: usize = 64 * 1024;

const FULL: &str = r#"{"id":"INC-1","time":"2022-06-14T09:21:07+07:00","type":"Phishing","severity":"HIGH","status":"confirmed","target":{"ip":"203.0.113.7","domain":"example.gov.vn","sector":"government","organization":"Ministry","province":"Ha Noi","extra":[1,2]},"source":{"ip":"198.51.100.1","country":"XX"},"sensor":"s1","signature":"ET PHISHING x","mitre":"T1566.002","tags":["email","credential"],"unknown":{"a":[{"b":null}]}}"#;

#[test]
fn parses_every_field() {
    let e = parse(FULL.as_bytes(), MAX).unwrap();
    assert_eq!(e.id, "INC-1");
    assert_eq!(e.time_ms, 1_655_173_267_000);
    assert_eq!(e.kind, "Phishing");
    assert_eq!(e.severity, Severity::High);
    assert_eq!(e.target.sector.as_deref(), Some("government"));
    assert_eq!(e.target.province.as_deref(), Some("Ha Noi"));
    assert_eq!(e.signature.as_deref(), Some("ET PHISHING x"));
    assert_eq!(e.mitre.as_deref(), Some("T1566.002"));
    assert_eq!(e.tags, vec!["email", "credential"]);
}

#[test]
fn reads_the_province_in_any_order_and_escaped() {
    for line in [
        r#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","target":{"province":"Hà Nội","sector":"finance"}}"#,
        r#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","target":{"sector":"finance","provinc\u0065":"H\u00e0 N\u1ed9i"}}"#,
    ] {
        for e in [
            parse(line.as_bytes(), MAX).unwrap(),
            parse_with_serde_json(line.as_bytes(), Fields::ALL).unwrap(),
        ] {
            assert_eq!(e.target.province.as_deref(), Some("Hà Nội"), "{line}");
            assert_eq!(e.target.sector.as_deref(), Some("finance"), "{line}");
        }
    }
    // Of the wrong type: absent, the incident kept.
    let e = parse(
        br#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","target":{"province":7}}"#,
        MAX,
    )
    .unwrap();
    assert_eq!(e.target.province, None);
}

#[test]
fn borrows_strings_without_escapes() {
    let e = parse(FULL.as_bytes(), MAX).unwrap();
    assert!(matches!(e.id, Cow::Borrowed(_)));
    assert!(matches!(e.kind, Cow::Borrowed(_)));
    let escaped = br#"{"id":"a\"b","time":"2022-06-14T02:21:07Z","type":"x"}"#;
    let e = parse(escaped, MAX).unwrap();
    assert_eq!(e.id, "a\"b");
}

#[test]
fn severity_forms() {
    let cases = [
        (r#""critical""#, Severity::Critical),
        (r#""Medium""#, Severity::Medium),
        ("1", Severity::Low),
        ("3", Severity::Low),
        ("4", Severity::Medium),
        ("7", Severity::High),
        ("10", Severity::Critical),
        ("11", Severity::Unknown),
        ("0", Severity::Unknown),
        ("-3", Severity::Unknown),
        ("7.5", Severity::Unknown),
        (r#""severe""#, Severity::Unknown),
        ("true", Severity::Unknown),
        ("null", Severity::Unknown),
        ("[1]", Severity::Unknown),
        (r#"{"level":"high"}"#, Severity::Unknown),
    ];
    for (json, want) in cases {
        let line =
            format!(r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","severity":{json}}}"#);
        assert_eq!(
            parse(line.as_bytes(), MAX).unwrap().severity,
            want,
            "{json}"
        );
    }
}

#[test]
fn optional_fields_of_the_wrong_type_do_not_drop_the_incident() {
    let line = br#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","status":5,"target":"gov","source":[1],"sensor":{"x":1},"signature":false,"mitre":null,"tags":"email"}"#;
    let e = parse(line, MAX).unwrap();
    assert_eq!(e.target, Target::default());
    assert!(e.tags.is_empty());
    let line = br#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","target":{"sector":7,"ip":"1.2.3.4"},"tags":["a",1,null,"b"]}"#;
    let e = parse(line, MAX).unwrap();
    assert_eq!(e.target.sector, None);
    assert_eq!(e.tags, vec!["a", "b"]);
}

#[test]
fn each_rejection_has_its_reason() {
    let long_id = "x".repeat(MAX_ID_BYTES + 1);
    let ok_id = "x".repeat(MAX_ID_BYTES);
    let cases: Vec<(Vec<u8>, Result<(), Reject>)> = vec![
        (b"".to_vec(), Err(Reject::Empty)),
        (b"   ".to_vec(), Err(Reject::Empty)),
        (b"{".to_vec(), Err(Reject::NotJson)),
        (b"hello".to_vec(), Err(Reject::NotJson)),
        (b"{} {}".to_vec(), Err(Reject::NotJson)),
        (b"[1,2] x".to_vec(), Err(Reject::NotJson)),
        (b"[1,2]".to_vec(), Err(Reject::NotObject)),
        (b"\"str\"".to_vec(), Err(Reject::NotObject)),
        (b"42".to_vec(), Err(Reject::NotObject)),
        (b"null".to_vec(), Err(Reject::NotObject)),
        (b"{\"id\":\"\xff\"}".to_vec(), Err(Reject::NotUtf8)),
        (b"{}".to_vec(), Err(Reject::MissingField)),
        (
            br#"{"time":"2022-06-14T02:21:07Z","type":"x"}"#.to_vec(),
            Err(Reject::MissingField),
        ),
        (
            br#"{"id":"a","type":"x"}"#.to_vec(),
            Err(Reject::MissingField),
        ),
        (
            br#"{"id":"a","time":"2022-06-14T02:21:07Z"}"#.to_vec(),
            Err(Reject::MissingField),
        ),
        (
            br#"{"id":null,"time":"2022-06-14T02:21:07Z","type":"x"}"#.to_vec(),
            Err(Reject::MissingField),
        ),
        (
            br#"{"id":17,"time":"2022-06-14T02:21:07Z","type":"x"}"#.to_vec(),
            Err(Reject::BadId),
        ),
        (
            br#"{"id":"","time":"2022-06-14T02:21:07Z","type":"x"}"#.to_vec(),
            Err(Reject::BadId),
        ),
        (
            format!(r#"{{"id":"{long_id}","time":"2022-06-14T02:21:07Z","type":"x"}}"#)
                .into_bytes(),
            Err(Reject::BadId),
        ),
        (
            format!(r#"{{"id":"{ok_id}","time":"2022-06-14T02:21:07Z","type":"x"}}"#).into_bytes(),
            Ok(()),
        ),
        (
            br#"{"id":"a","time":"yesterday","type":"x"}"#.to_vec(),
            Err(Reject::BadTime),
        ),
        (
            br#"{"id":"a","time":1655173267,"type":"x"}"#.to_vec(),
            Err(Reject::BadTime),
        ),
        (
            br#"{"id":"a","time":"2022-06-14T02:21:07","type":"x"}"#.to_vec(),
            Err(Reject::BadTime),
        ),
        (
            br#"{"id":"a","time":"2022-06-14T02:21:07Z","type":["x"]}"#.to_vec(),
            Err(Reject::BadType),
        ),
        (
            br#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"  "}"#.to_vec(),
            Err(Reject::BadType),
        ),
    ];
    for (input, want) in cases {
        let got = parse(&input, MAX).map(|_| ());
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&input));
    }
    let huge = format!(
        r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","pad":"{}"}}"#,
        "p".repeat(MAX)
    );
    assert_eq!(
        parse(huge.as_bytes(), MAX).map(|_| ()),
        Err(Reject::TooLarge)
    );
}

#[test]
fn deep_nesting_is_skipped_without_recursion() {
    // Unknown and wrong-typed values are skipped iteratively, so nesting depth
    // cannot overflow the stack.
    for field in ["junk", "tags", "target", "severity"] {
        let deep = format!(
            r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"x","{field}":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(parse(deep.as_bytes(), usize::MAX).is_ok(), "{field}");
    }
    let unbalanced = format!(r#"{{"id":"a","junk":{}}}"#, "[".repeat(100_000));
    assert_eq!(
        parse(unbalanced.as_bytes(), usize::MAX).map(|_| ()),
        Err(Reject::NotJson)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The reader and the serde_json model give the same answer for every
    /// input, valid or not: same event, or same rejection reason.
    #[test]
    fn both_parsers_agree(
        cut in 0usize..=FULL.len(),
        flips in proptest::collection::vec((0usize..FULL.len(), any::<u8>()), 0..3),
    ) {
        let mut bytes = FULL.as_bytes().to_vec();
        for (at, b) in flips {
            bytes[at] = b;
        }
        bytes.truncate(cut);
        prop_assert_eq!(parse(&bytes, MAX), parse_with_serde_json(&bytes, Fields::ALL));
    }

    #[test]
    fn both_parsers_agree_on_arbitrary_json_like_text(s in r#"[{}\[\]":,a-z0-9 \\.eE+-]{0,80}"#) {
        prop_assert_eq!(parse(s.as_bytes(), MAX), parse_with_serde_json(s.as_bytes(), Fields::ALL));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes, MAX);
    }

    #[test]
    fn never_panics_on_truncated_or_mutated_events(
        cut in 0usize..FULL.len(),
        flips in proptest::collection::vec((0usize..FULL.len(), any::<u8>()), 0..4),
    ) {
        let mut bytes = FULL.as_bytes().to_vec();
        for (at, b) in flips {
            bytes[at] = b;
        }
        let _ = parse(&bytes, MAX);
        let _ = parse(&bytes[..cut], MAX);
        // A truncated event is never accepted: the closing brace is last.
        if cut < FULL.len() {
            prop_assert!(parse(&FULL.as_bytes()[..cut], MAX).is_err());
        }
    }
}

/// A string literal mixing plain text, every escape, paired and lone
/// surrogates (which serde_json refuses in strings it returns and accepts
/// in strings it skips) and values the fields look for.
fn string_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        r#""([a-z0-9 é😀:.+-]|\\[nt"\\/bfr]|\\u00e9|\\ud83d\\ude00|\\ud800|\\udc00|\\udfff|\\udbff\\udfff|\\ud800\\u0041|\\q|\\u12){0,5}""#,
        Just(r#""2022-06-14T02:21:07Z""#.to_owned()),
        Just(r#""2022-06-14T09:21:07+07:00""#.to_owned()),
        Just(r#""high""#.to_owned()),
        Just(r#""government""#.to_owned()),
        Just("\"ctl\u{1}\"".to_owned()),
    ]
}

/// Keys: the fields read, their escaped spellings, others.
fn key_literal() -> impl Strategy<Value = String> {
    r#""(id|time|type|severity|target|sector|tags|signature|mitre|status|\\u0069d|typ\\u0065|sect\\u006fr|t\\u0061rget|\\ud800|\\udc00x|zz)""#
}

/// Numbers serde_json converts differently: saturating, overflowing to
/// infinity (not JSON where read, fine where skipped), negative zero.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("1e999"),
            Just("-1e999"),
            Just("0e999"),
            Just("1e-999"),
            Just("123456789012345678901234"),
            Just("1"),
            Just("7"),
            Just("10"),
            Just("-0"),
            Just("-3"),
            Just("7.5"),
            Just("1E2"),
            Just("9223372036854775808"),
            Just("18446744073709551616"),
            Just("01"),
            Just("1."),
        ]
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// Any JSON value as text, nested a few levels, with odd whitespace.
fn value_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop_oneof![Just("null"), Just("true"), Just("false")].prop_map(str::to_owned),
        number_literal(),
        string_literal(),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec((key_literal(), inner), 0..4).prop_map(|m| {
                let members: Vec<String> = m.iter().map(|(k, v)| format!("{k} :\t{v}")).collect();
                format!("{{ {} }}", members.join(",\n"))
            }),
        ]
    })
}

/// An object of the schema's keys with values of every type, duplicate
/// keys included.
fn document() -> impl Strategy<Value = String> {
    proptest::collection::vec((key_literal(), value_text()), 0..8).prop_map(|m| {
        let members: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("{{{}}}", members.join(","))
    })
}

fn fields() -> impl Strategy<Value = Fields> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(signature, mitre, tags)| Fields {
        signature,
        mitre,
        tags,
    })
}

proptest! {
    /// The SIMD masks equal the portable ones, at every offset, tails
    /// included.
    #[test]
    fn special_bits_agree_with_the_portable_version(
        bytes in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'"'), Just(b'\\')], 0..200),
    ) {
        for start in 0..=bytes.len() {
            prop_assert_eq!(special_bits(&bytes, start), special_bits_portable(&bytes, start));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Structured documents, whole or with one byte changed, any fields
    /// asked for: the reader and the serde_json model agree.
    #[test]
    fn reader_agrees_with_serde_json_on_documents(
        doc in document(),
        flip in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        want in fields(),
    ) {
        let mut bytes = doc.into_bytes();
        if let Some((at, b)) = flip {
            let at = at.index(bytes.len());
            bytes[at] = b;
        }
        prop_assert_eq!(parse_fields(&bytes, MAX, want), parse_with_serde_json(&bytes, want));
    }

    /// The same after a padding member of any length, so that the
    /// document's strings, escapes and keys fall anywhere around and past
    /// the first KiB, where the reader's masks stop being computed up
    /// front and are computed block by block instead.
    #[test]
    fn reader_agrees_with_serde_json_past_the_first_kib(
        doc in document(),
        pad in 0usize..1200,
        flip in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        want in fields(),
    ) {
        let padded = doc.replacen('{', &format!(r#"{{"pad":"{}","#, "p".repeat(pad)), 1);
        let mut bytes = if padded.ends_with(",}") {
            // The document was `{}`: no member after the padding.
            padded.replace(",}", "}")
        } else {
            padded
        }
        .into_bytes();
        if let Some((at, b)) = flip {
            let at = pad + at.index(bytes.len() - pad);
            bytes[at] = b;
        }
        prop_assert_eq!(parse_fields(&bytes, MAX, want), parse_with_serde_json(&bytes, want));
    }

    /// Any value at the top level.
    #[test]
    fn reader_agrees_with_serde_json_on_values(text in value_text(), want in fields()) {
        let bytes = text.as_bytes();
        prop_assert_eq!(parse_fields(bytes, MAX, want), parse_with_serde_json(bytes, want));
    }
}

/// Cases where serde_json's data model is subtle, spelled out.
#[test]
fn serde_json_edge_cases() {
    let ok = |rest: &str| format!(r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"x"{rest}}}"#);
    let cases = [
        // A lone surrogate in a value read: the field counts as absent
        // (spec §2), whatever the rules read; in one skipped: nothing.
        (ok(r#","signature":"\ud800""#), Ok(())),
        (ok(r#","target":{"sector":"\ud800x"}"#), Ok(())),
        (ok(r#","tags":["a","\udc00b"]"#), Ok(())),
        (ok(r#","status":"\ud800""#), Ok(())),
        (ok(r#","source":{"k":["\udc00"]}"#), Ok(())),
        // Required fields that cannot be represented are rejected by
        // their own reason.
        (
            r#"{"id":"\ud800","time":"2022-06-14T02:21:07Z","type":"x"}"#.to_owned(),
            Err(Reject::BadId),
        ),
        (
            r#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"\udc00"}"#.to_owned(),
            Err(Reject::BadType),
        ),
        // Keys are read as serde_json reads keys: a top-level key with a
        // lone surrogate is not JSON; inside a value (read or not), only
        // its syntax matters.
        (ok(r#","\ud800":1"#), Err(Reject::NotJson)),
        (ok(r#","target":{"\ud800":1}"#), Err(Reject::NotJson)),
        (ok(r#","severity":{"\ud800":1}"#), Ok(())),
        (ok(r#","source":{"\ud800":1}"#), Ok(())),
        // Numbers beyond f64: absent where read, syntax where skipped.
        (ok(r#","severity":1e999"#), Ok(())),
        (ok(r#","target":{"sector":1e400}"#), Ok(())),
        (ok(r#","status":1e999"#), Ok(())),
        (ok(r#","severity":0e999"#), Ok(())),
        // Escaped key spellings are the same keys.
        (
            r#"{"id":"a","time":"2022-06-14T02:21:07Z","type":"x"}"#.to_owned(),
            Ok(()),
        ),
        // Control characters are never allowed in strings.
        (ok(",\"status\":\"a\u{1}b\""), Err(Reject::NotJson)),
        (ok(r#","status":"x","#), Err(Reject::NotJson)),
        (ok(r#","status":01"#), Err(Reject::NotJson)),
    ];
    for (line, want) in cases {
        let got = parse(line.as_bytes(), MAX).map(|_| ());
        assert_eq!(got, want, "{line}");
        let model = parse_with_serde_json(line.as_bytes(), Fields::ALL).map(|_| ());
        assert_eq!(model, want, "model: {line}");
    }
}

/// Spec §2: an optional value the monitor cannot represent never drops
/// the incident, whatever the rules read; it counts as absent.
#[test]
fn unrepresentable_optional_values_count_as_absent() {
    let line = |rest: &str| {
        format!(r#"{{"id":"a","time":"2022-06-14T02:21:07Z","type":"phishing"{rest}}}"#)
    };
    for (rest, what) in [
        (r#","severity":1e400"#, "severity"),
        (r#","target":{"sector":1e400}"#, "sector"),
        (r#","target":{"sector":"\ud800x"}"#, "sector"),
        (r#","signature":"\ud800""#, "signature"),
        (r#","mitre":"\udfff""#, "mitre"),
        (r#","tags":["\ud800"]"#, "tags"),
    ] {
        let text = line(rest);
        for want in [
            Fields::ALL,
            Fields {
                signature: false,
                mitre: false,
                tags: false,
            },
        ] {
            let e = parse_fields(text.as_bytes(), MAX, want)
                .unwrap_or_else(|r| panic!("{text}: {r:?}"));
            assert_eq!(e.kind, "phishing");
            match what {
                "severity" => assert_eq!(e.severity, Severity::Unknown),
                "sector" => assert_eq!(e.target.sector, None),
                "signature" => assert_eq!(e.signature, None),
                "mitre" => assert_eq!(e.mitre, None),
                _ => assert!(e.tags.is_empty()),
            }
            assert_eq!(
                Ok(e),
                parse_with_serde_json(text.as_bytes(), want),
                "{text}"
            );
        }
    }
}

#[test]
fn fields_not_asked_for_are_skipped_but_still_validated() {
    let want = Fields {
        signature: false,
        mitre: true,
        tags: false,
    };
    let e = parse_fields(FULL.as_bytes(), MAX, want).unwrap();
    assert_eq!(e.signature, None);
    assert!(e.tags.is_empty());
    assert_eq!(e.mitre.as_deref(), Some("T1566.002"));
    // A skipped field must still be valid JSON.
    let broken = FULL.replace(r#""tags":["email","credential"]"#, r#""tags":["email",]"#);
    assert_eq!(
        parse_fields(broken.as_bytes(), MAX, want).map(|_| ()),
        Err(Reject::NotJson)
    );
}

#[test]
fn escaped_key_spellings_are_the_same_keys() {
    let line = br#"{"\u0069d":"a","tim\u0065":"2022-06-14T02:21:07Z","typ\u0065":"x","t\u0061rget":{"sect\u006fr":"government"},"sev\u0065rity":"high"}"#;
    let e = parse(line, MAX).unwrap();
    assert_eq!(e.target.sector.as_deref(), Some("government"));
    assert_eq!(e.severity, Severity::High);
    assert_eq!(Ok(e), parse_with_serde_json(line, Fields::ALL));
}
