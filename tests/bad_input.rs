//! Malformed input is rejected line by line, counted by reason, and never
//! costs a valid line around it.

mod common;

use common::*;
use incident_monitor::event::Reject;

#[test]
fn malformed_corpus_is_counted_by_reason_and_valid_lines_all_count() {
    let dir = TempDir::new("bad");
    let mut input = std::fs::read(repo("tests/data/malformed.jsonl")).unwrap();
    // Bytes a text file in the repository cannot carry well: invalid UTF-8,
    // a NUL, and a line of 200 KB.
    input.extend_from_slice(
        b"{\"id\":\"\xff\xfe\",\"time\":\"2022-06-01T09:00:00Z\",\"type\":\"malware\"}\n",
    );
    input.extend_from_slice(b"\x00\x01\x02\n");
    input.extend_from_slice(format!("{{\"id\":\"huge\",\"time\":\"2022-06-01T09:00:00Z\",\"type\":\"malware\",\"pad\":\"{}\"}}\n", "A".repeat(200_000)).as_bytes());
    input.extend_from_slice(
        b"{\"id\":\"ok-6\",\"time\":\"2022-06-15T09:00:00Z\",\"type\":\"worm\"}",
    );
    let file = dir.path("input.jsonl");
    std::fs::write(&file, &input).unwrap();
    let state = dir.path("state");
    let out = bin()
        .args([
            "run",
            "--input",
            file.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (merged, o) = state_of(&state);

    let want = [
        (Reject::NotJson, 4), // not json, truncated, trailing garbage, NUL bytes
        (Reject::NotObject, 3),
        (Reject::MissingField, 4), // {}, no id, no time, no type
        (Reject::BadId, 2),
        (Reject::BadTime, 4),
        (Reject::BadType, 2),
        // Blank lines are skipped and counted, not rejected.
        (Reject::Empty, 0),
        (Reject::NotUtf8, 1),
        (Reject::TooLarge, 1),
    ];
    for (reason, n) in want {
        assert_eq!(o.invalid[reason.index()], n, "{reason}: {o:?}");
    }
    assert_eq!(o.accepted, 6, "{o:?}");
    // ok-2 again, now `confirmed`: an update (it is warned), not counted
    // again (spec §4 "Updates").
    assert_eq!((o.update, o.duplicate), (1, 0), "{o:?}");
    let lines = input.split(|b| *b == b'\n').count() as u64;
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("blank_lines=2"), "{log}");
    assert_eq!(o.total() + 2, lines, "every line is accounted for");
    let june = merged
        .report(
            "2022-06".parse().unwrap(),
            incident_monitor::clock::wall_now_ms(),
        )
        .unwrap();
    assert_eq!(june.total, 6);
    // Each reason is logged once (rate-limited), never once per line.
    assert_eq!(log.matches("reason=\"bad_time\"").count(), 1, "{log}");
}
