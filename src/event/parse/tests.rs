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
    assert_eq!(e.signature.as_deref(), Some("ET PHISHING x"));
    assert_eq!(e.mitre.as_deref(), Some("T1566.002"));
    assert_eq!(e.tags, vec!["email", "credential"]);
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

    /// The SIMD parser (sonic-rs) and serde_json give the same answer for
    /// every input, valid or not: same event, or same rejection reason.
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
