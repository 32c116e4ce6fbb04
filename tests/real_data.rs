//! What the world sends, through the real binary (spec §2, §4 "Delivery",
//! §5): files rewritten in place or still being written, byte-order marks
//! and blank lines, long fractions, values the monitor cannot represent;
//! and the command line around them (check-config connects nowhere, every
//! command validates as it does, a timezone conflict is a configuration
//! error, an empty state says so, every flag is described).

mod common;

use std::net::TcpListener;

use common::*;
use incident_monitor::event::Reject;

/// A native incident of June 2022.
fn incident(id: &str, day: u32, kind: &str) -> String {
    format!(r#"{{"id":"{id}","time":"2022-06-{day:02}T09:00:00+07:00","type":"{kind}"}}"#)
}

/// `run --input FILE` on a state directory; returns the log.
fn run_file(file: &std::path::Path, state: &std::path::Path, more: &[&str]) -> String {
    ok_log(
        bin()
            .args([
                "run",
                "--input",
                file.to_str().unwrap(),
                "--state-dir",
                state.to_str().unwrap(),
                "--timezone",
                "Asia/Ho_Chi_Minh",
            ])
            .args(more),
    )
}

fn june_total(state: &std::path::Path) -> u64 {
    let (merged, _) = state_of(state);
    merged
        .report(
            "2022-06".parse().unwrap(),
            incident_monitor::clock::wall_now_ms(),
        )
        .unwrap()
        .total
}

/// Issue 24, 1: a file rewritten in place with 30 incidents inserted after
/// its first 4 KiB was resumed at the old byte offset (June 300, not 330).
#[test]
fn a_file_rewritten_in_place_is_read_again_not_resumed() {
    let dir = TempDir::new("rewrite");
    let (file, state) = (dir.path("in.jsonl"), dir.path("state"));
    let lines: Vec<String> = (0..300)
        .map(|i| incident(&format!("r{i}"), 1 + i % 28, "phishing"))
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    run_file(&file, &state, &[]);
    assert_eq!(june_total(&state), 300);
    // 30 new incidents after the first 4 KiB (line 100 is well past it).
    let mut edited = lines.clone();
    for i in 0..30 {
        edited.insert(100, incident(&format!("new{i}"), 15, "malware"));
    }
    std::fs::write(&file, edited.join("\n") + "\n").unwrap();
    let log = run_file(&file, &state, &[]);
    assert!(log.contains("reading it from its start"), "{log}");
    assert_eq!(june_total(&state), 330);
    let (_, o) = state_of(&state);
    assert_eq!((o.accepted, o.duplicate), (330, 300));
    // Appended to: resumed after the bytes already counted.
    let mut appended = edited.clone();
    appended.push(incident("tail", 20, "ddos"));
    std::fs::write(&file, appended.join("\n") + "\n").unwrap();
    let log = run_file(&file, &state, &[]);
    assert!(log.contains("resuming after the last checkpoint"), "{log}");
    let (_, o) = state_of(&state);
    assert_eq!(
        (o.accepted, o.duplicate),
        (331, 300),
        "only the new line read"
    );
    // Truncated (a rotation with copytruncate) and written again: read
    // from its start, nothing counted twice.
    std::fs::write(&file, incident("after-rotation", 21, "ddos") + "\n").unwrap();
    run_file(&file, &state, &[]);
    assert_eq!(june_total(&state), 332);
}

/// Issue 24, 2: a last line still being written was rejected and its rest
/// rejected again on the next run (2 of 3 counted).
#[test]
fn a_last_line_still_being_written_is_read_whole_next_time() {
    let dir = TempDir::new("partial");
    let (file, state) = (dir.path("in.jsonl"), dir.path("state"));
    let whole = incident("g2", 3, "deface");
    let cut = whole.len() - 12;
    let head = format!(
        "{}\n{}\n{}",
        incident("g0", 1, "phishing"),
        incident("g1", 2, "phishing"),
        &whole[..cut]
    );
    std::fs::write(&file, &head).unwrap();
    let log = run_file(&file, &state, &[]);
    assert!(log.contains("left unread"), "{log}");
    let (_, o) = state_of(&state);
    assert_eq!((o.accepted, o.invalid_total()), (2, 0));
    // The writer finishes the line (and starts no other yet).
    std::fs::write(&file, format!("{head}{}", &whole[cut..])).unwrap();
    run_file(&file, &state, &[]);
    let (_, o) = state_of(&state);
    assert_eq!((o.accepted, o.invalid_total()), (3, 0));
    assert_eq!(june_total(&state), 3);
    // Complete JSON without a line end was counted; the line end that
    // follows, and the next line, count nothing twice.
    std::fs::write(
        &file,
        format!("{head}{}\n{}\n", &whole[cut..], incident("g3", 4, "ddos")),
    )
    .unwrap();
    run_file(&file, &state, &[]);
    let (_, o) = state_of(&state);
    assert_eq!((o.accepted, o.duplicate, o.invalid_total()), (4, 0, 0));
}

/// Issue 24, 5, 6 and 7: a byte-order mark, blank lines, fractions of any
/// length and optional values the monitor cannot represent lose nothing,
/// whatever the rules read.
#[test]
fn odd_bytes_lose_no_incident() {
    let dir = TempDir::new("odd");
    let (file, state) = (dir.path("in.jsonl"), dir.path("state"));
    let config = dir.path("rules.toml");
    // A rule that reads `signature` and `target.sector`.
    std::fs::write(
        &config,
        "[[classification.rules]]\ncategory = \"phishing\"\nsignature_contains = [\"phish\"]\n\n\
         [[classification.rules]]\ncategory = \"intrusion\"\nsectors = [\"finance\"]\n\n\
         [[classification.rules]]\ncategory = \"malware\"\ntypes = [\"malware\"]\n\n\
         [ledger]\nsectors = [\"finance\"]\n",
    )
    .unwrap();
    let t = "2022-06-10T01:02:03";
    let lines = [
        format!(r#"{{"id":"bom","time":"{t}Z","type":"malware"}}"#),
        String::new(),
        "   \t".to_owned(),
        format!(r#"{{"id":"frac13","time":"{t}.1234567890123Z","type":"malware"}}"#),
        format!(
            r#"{{"id":"frac40","time":"{t}.{}+07:00","type":"malware"}}"#,
            "7".repeat(40)
        ),
        format!(r#"{{"id":"sev","time":"{t}Z","type":"malware","severity":1e400}}"#),
        format!(r#"{{"id":"sec1","time":"{t}Z","type":"malware","target":{{"sector":1e400}}}}"#),
        format!(
            r#"{{"id":"sec2","time":"{t}Z","type":"malware","target":{{"sector":"\ud800x"}}}}"#
        ),
        format!(r#"{{"id":"sig","time":"{t}Z","type":"malware","signature":"\ud800"}}"#),
        String::new(),
    ];
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice((lines.join("\n") + "\n").as_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let log = ok_log(bin().args([
        "run",
        "--input",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]));
    assert!(log.contains("blank_lines=3"), "{log}");
    let (merged, o) = state_of(&state);
    assert_eq!(o.invalid_total(), 0, "{o:?}");
    assert_eq!(o.accepted, 7, "{o:?}");
    let june = merged
        .report(
            "2022-06".parse().unwrap(),
            incident_monitor::clock::wall_now_ms(),
        )
        .unwrap();
    // Absent fields match no rule on them: every one is malware, the
    // sectors unknown, the severities unknown.
    let malware = june
        .by_category
        .0
        .iter()
        .find(|(c, _)| c == "malware")
        .unwrap();
    assert_eq!(malware.1, 7);
    let unknown = june
        .by_severity
        .0
        .iter()
        .find(|(s, _)| s == "unknown")
        .unwrap();
    assert_eq!(unknown.1, 7);
}

/// Issue 24, 11: check-config opened connections to the brokers; it must
/// connect nowhere. And `run --input` accepted `[kafka.properties]` that
/// check-config refused: every command refuses what it refuses.
#[test]
fn check_config_connects_nowhere_and_every_command_agrees_with_it() {
    let dir = TempDir::new("check");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let good = dir.path("good.toml");
    std::fs::write(
        &good,
        format!("[kafka]\nbrokers = \"127.0.0.1:{port}\"\ndead_letter_topic = \"dlq\"\n"),
    )
    .unwrap();
    let out = bin()
        .args(["check-config", "--config", good.to_str().unwrap()])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // librdkafka gets time to try, were it going to.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        listener.accept().is_err(),
        "check-config connected to the broker"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("Connect to"), "{log}");

    let bad = dir.path("bad.toml");
    std::fs::write(
        &bad,
        "[kafka.properties]\n\"fetch.wait.max.ms\" = \"many\"\n",
    )
    .unwrap();
    let check = fails(bin().args(["check-config", "--config", bad.to_str().unwrap()]));
    assert_eq!(check.status.code(), Some(2));
    let file = dir.path("in.jsonl");
    std::fs::write(&file, incident("a", 1, "ddos") + "\n").unwrap();
    for args in [
        &[
            "run",
            "--input",
            file.to_str().unwrap(),
            "--state-dir",
            dir.path("s").to_str().unwrap(),
        ][..],
        &[
            "report",
            "--month",
            "2022-06",
            "--state-dir",
            dir.path("s").to_str().unwrap(),
        ],
        &["generate", "--brokers", "127.0.0.1:1", "--topic", "t"],
    ] {
        let out = fails(bin().args(args).args(["--config", bad.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("fetch.wait.max.ms"), "{args:?}: {err}");
    }
}

/// Issue 24, 12 and 13: a timezone that conflicts with the state is a
/// configuration error (exit 2); a state that counted nothing says so.
#[test]
fn a_timezone_conflict_exits_2_and_an_empty_state_says_nothing_was_recorded() {
    let dir = TempDir::new("tz");
    let (file, state) = (dir.path("in.jsonl"), dir.path("state"));
    std::fs::write(&file, "").unwrap();
    run_file(&file, &state, &[]);
    let out = fails(bin().args([
        "report",
        "--month",
        "2022-06",
        "--state-dir",
        state.to_str().unwrap(),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no incidents have been recorded yet"), "{err}");
    assert!(!err.contains("first"), "{err}");

    std::fs::write(&file, incident("a", 1, "ddos") + "\n").unwrap();
    run_file(&file, &state, &[]);
    let out = fails(bin().args([
        "run",
        "--input",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--timezone",
        "UTC",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Asia/Ho_Chi_Minh") && err.contains("UTC"),
        "{err}"
    );
}

/// Issue 24, 14: every flag of every command says what it is for.
#[test]
fn every_flag_is_described() {
    for cmd in ["run", "demo", "report", "generate", "check-config"] {
        let help = ok(bin().args([cmd, "--help"]));
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            if !t.starts_with('-') {
                continue;
            }
            // `--flag <VALUE>  what it is for`, or the words on the next
            // line, indented further.
            let indent = line.len() - t.len();
            let same_line = t
                .split_once("  ")
                .is_some_and(|(_, rest)| !rest.trim().is_empty());
            let next_line = lines.get(i + 1).is_some_and(|n| {
                let nt = n.trim_start();
                !nt.is_empty() && !nt.starts_with('-') && n.len() - nt.len() > indent
            });
            assert!(same_line || next_line, "{cmd}: {line:?} has no description");
        }
    }
}

/// Spec §2: an event dated before `events.earliest_time` is `too_old`,
/// and moves no month.
#[test]
fn events_before_the_earliest_time_are_too_old() {
    let dir = TempDir::new("old");
    let (file, state) = (dir.path("in.jsonl"), dir.path("state"));
    let lines = [
        r#"{"id":"epoch","time":"1970-01-01T00:00:00Z","type":"ddos"}"#,
        r#"{"id":"ok","time":"1990-01-01T00:00:00+07:00","type":"ddos"}"#,
        r#"{"id":"just-before","time":"1989-12-31T16:59:59.999Z","type":"ddos"}"#,
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    run_file(&file, &state, &[]);
    let (merged, o) = state_of(&state);
    assert_eq!(o.invalid[Reject::TooOld.index()], 2, "{o:?}");
    assert_eq!(o.accepted, 1);
    assert_eq!(
        merged
            .data_range()
            .map(|(a, b)| (a.to_string(), b.to_string())),
        Some(("1990-01".into(), "1990-01".into()))
    );
}
