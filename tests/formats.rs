//! The tool formats (spec §2, "Other formats") on real events: every line
//! of the samples in `tests/data/samples/` (Suricata EVE, Wazuh alerts, an
//! ECS alert, OCSF findings from Prowler, copied from public repositories:
//! source, commit and licence of each file in the PROVENANCE.md beside it)
//! either
//! maps to an incident, shown as the native model it maps to and the
//! category the default rules give it, or is filtered with its reason. The
//! samples have no phishing, defacement or DDoS event: those cases are
//! written from each tool's documented schema in
//! `tests/data/formats/<format>-written.jsonl` and marked `written` in the
//! golden files (`tests/golden/formats/`; `UPDATE_GOLDEN=1` rewrites them).

mod common;

use std::path::PathBuf;

use common::*;
use incident_monitor::config::Config;
use incident_monitor::decode::{Decoded, Decoder, Format, ToolOptions};
use incident_monitor::event::{Fields, Reject, time::format_rfc3339};

fn samples(dir: &str) -> Vec<PathBuf> {
    let root = repo("tests/data/samples").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

fn decoder(format: Format) -> (Decoder, incident_monitor::config::Settings) {
    let settings = Config::default().validate().unwrap();
    let d = Decoder::new(
        format,
        1 << 20,
        Fields::ALL,
        ToolOptions {
            wazuh_min_level: 7,
            naive_zone: jiff::tz::TimeZone::UTC,
        },
    );
    (d, settings)
}

/// One line of the golden file for one message.
fn describe(d: &Decoder, s: &incident_monitor::config::Settings, line: &[u8]) -> String {
    match d.decode(line) {
        Decoded::Event(e) => {
            let category = &s.categories()[usize::from(s.classifier.classify(&e))];
            format!(
                "incident {category}: id={} time={} type={:?} severity={} signature={:?} mitre={:?} tags={:?}",
                e.id,
                format_rfc3339(e.time_ms, 0),
                e.kind,
                e.severity.code(),
                e.signature.as_deref().unwrap_or(""),
                e.mitre.as_deref().unwrap_or(""),
                e.tags,
            )
        }
        Decoded::Filtered(f) => format!("filtered: {}", f.code()),
        Decoded::Invalid(r) => format!("invalid: {}", r.code()),
    }
}

fn golden_of(format: Format, dir: &str) -> (String, usize) {
    let (d, s) = decoder(format);
    let mut out = String::new();
    let mut invalid = 0;
    let mut files = samples(dir);
    files.push(repo(&format!(
        "tests/data/formats/{}-written.jsonl",
        format.name()
    )));
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read(&f).unwrap();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let what = describe(&d, &s, line);
            invalid += usize::from(what.starts_with("invalid"));
            out.push_str(&format!("{name}:{}: {what}\n", i + 1));
        }
    }
    (out, invalid)
}

fn check(format: Format, dir: &str) -> String {
    let (out, invalid) = golden_of(format, dir);
    golden(&format!("formats/{}.txt", format.name()), &out);
    assert_eq!(invalid, 0, "every real sample maps or is filtered:\n{out}");
    out
}

/// Checks the golden file of a format, and that its real and written
/// events reach each of `categories` and each filter of `filters`.
fn maps(format: Format, dir: &str, categories: &[&str], filters: &[&str]) -> String {
    let out = check(format, dir);
    for c in categories {
        assert!(
            out.contains(&format!("incident {c}:")),
            "{}: {c}",
            format.name()
        );
    }
    for f in filters {
        assert!(
            out.contains(&format!("filtered: {f}")),
            "{}: {f}",
            format.name()
        );
    }
    out
}

const ALL: &[&str] = &[
    "malware",
    "phishing",
    "deface",
    "ddos",
    "intrusion",
    "other",
];

#[test]
fn suricata_eve_samples_map_or_are_filtered() {
    maps(Format::SuricataEve, "suricata", ALL, &["not_alert"]);
}

#[test]
fn wazuh_samples_map_or_are_filtered() {
    maps(Format::Wazuh, "wazuh", ALL, &["below_level"]);
}

#[test]
fn ecs_samples_map_or_are_filtered() {
    let out = maps(
        Format::Ecs,
        "ecs",
        &["malware", "phishing", "deface", "ddos"],
        &["not_alert"],
    );
    // The real alert: an endpoint malware detection (event categories
    // malware, intrusion_detection).
    assert!(out.contains("rfc0031-example-alert.compacted.jsonl:1: incident malware:"));
}

#[test]
fn ocsf_samples_map_or_are_filtered() {
    maps(
        Format::Ocsf,
        "ocsf",
        &["phishing", "deface", "ddos", "other"],
        &["not_failed", "not_finding"],
    );
}

/// Bad input of each format: truncated, wrong types, missing required
/// fields; each rejected with its reason (and a non-incident filtered).
#[test]
fn bad_input_of_each_format_is_rejected_by_reason() {
    let cases: &[(Format, &str, &str)] = &[
        (
            Format::SuricataEve,
            r#"{"timestamp":"2023-09-18T06:13:41.5+0000","event_type":"alert","alert":{"signature_id":1"#,
            "invalid: not_json",
        ),
        (
            Format::SuricataEve,
            r#"{"timestamp":"2023-09-18T06:13:41.5+0000","event_type":7,"alert":{"signature_id":1}}"#,
            "invalid: bad_type",
        ),
        (
            Format::SuricataEve,
            r#"{"timestamp":"2023-09-18T06:13:41.5+0000","alert":{"signature_id":1}}"#,
            "invalid: missing_field",
        ),
        (
            Format::SuricataEve,
            r#"{"timestamp":"18/09/2023","event_type":"alert","alert":{"signature_id":1,"category":"x"}}"#,
            "invalid: bad_time",
        ),
        (
            Format::SuricataEve,
            r#"{"timestamp":"2023-09-18T06:13:41.5+0000","event_type":"alert","alert":{"signature_id":"one","category":"x"}}"#,
            "invalid: bad_id",
        ),
        (
            Format::SuricataEve,
            r#"{"timestamp":"2023-09-18T06:13:41.5+0000","event_type":"flow"}"#,
            "filtered: not_alert",
        ),
        (Format::SuricataEve, r#"[1,2]"#, "invalid: not_object"),
        (
            Format::Wazuh,
            r#"{"timestamp":"2023-07-26T09:21:07.928+0000","rule":{"level":"high","groups":["x"]}}"#,
            "invalid: bad_type",
        ),
        (
            Format::Wazuh,
            r#"{"timestamp":"2023-07-26T09:21:07.928+0000"}"#,
            "invalid: missing_field",
        ),
        (
            Format::Wazuh,
            r#"{"timestamp":"2017 Feb 07 15:57:53","rule":{"level":9,"groups":["x"]}}"#,
            "invalid: bad_time",
        ),
        (
            Format::Wazuh,
            r#"{"timestamp":"2023-07-26T09:21:07.928+0000","id":5,"rule":{"level":9,"groups":["x"]}}"#,
            "invalid: bad_id",
        ),
        (
            Format::Wazuh,
            r#"{"timestamp":"2023-07-26T09:21:07.928+0000","rule":{"level":2,"groups":["x"]}}"#,
            "filtered: below_level",
        ),
        (
            Format::Ecs,
            r#"{"@timestamp":"2022-08-12T14:45:36.171Z","event.kind":"alert"}"#,
            "invalid: missing_field",
        ),
        (
            Format::Ecs,
            r#"{"@timestamp":"2022-08-12T14:45:36.171Z","event.kind":"alert","kibana.alert.uuid":5}"#,
            "invalid: bad_id",
        ),
        (
            Format::Ecs,
            r#"{"@timestamp":"2022-08-12T14:45:36.171Z","event":{"kind":"event"}}"#,
            "filtered: not_alert",
        ),
        (
            Format::Ecs,
            r#"{"@timestamp":"2022-08-12T14:45:36.171Z","kibana.alert.uuid":"u","rule":{"name":"r"}}"#,
            "invalid: missing_field",
        ),
        (
            Format::Ecs,
            r#"{"@timestamp":12,"event.kind":"signal","kibana.alert.uuid":"u","rule.name":"r"}"#,
            "invalid: bad_time",
        ),
        (
            Format::Ocsf,
            r#"{"class_uid":2004,"time":1739539623,"status_code":"FAIL","finding_info":{"title":"t"}}"#,
            "invalid: missing_field",
        ),
        (
            Format::Ocsf,
            r#"{"class_uid":"2004","time":1739539623}"#,
            "invalid: bad_type",
        ),
        (
            Format::Ocsf,
            r#"{"class_uid":2004,"time":"yesterday","finding_info":{"uid":"u","title":"t"}}"#,
            "invalid: bad_time",
        ),
        (
            Format::Ocsf,
            r#"{"class_uid":3002,"time":1739539623}"#,
            "filtered: not_finding",
        ),
        (
            Format::Ocsf,
            r#"{"class_uid":2004,"time":1739539623,"status_code":"PASS"}"#,
            "filtered: not_failed",
        ),
    ];
    for (format, line, want) in cases {
        let (d, s) = decoder(*format);
        assert_eq!(
            &describe(&d, &s, line.as_bytes()),
            want,
            "{} {line}",
            format.name()
        );
    }
    // Size, encoding and emptiness are checked before any format.
    let (d, s) = decoder(Format::Wazuh);
    assert_eq!(
        describe(&d, &s, b""),
        format!("invalid: {}", Reject::Empty.code())
    );
    assert_eq!(describe(&d, &s, b"{\"a\":\"\xff\"}"), "invalid: not_utf8");
}

/// Through the whole pipeline: a file of each format, with bad lines
/// between good ones, counts every incident, filters and rejects the rest
/// by reason, and loses nothing.
#[test]
fn a_file_of_each_format_counts_through_the_pipeline() {
    for (format, dir) in [
        (Format::SuricataEve, "suricata"),
        (Format::Wazuh, "wazuh"),
        (Format::Ecs, "ecs"),
        (Format::Ocsf, "ocsf"),
    ] {
        let (golden_text, _) = golden_of(format, dir);
        let incidents = golden_text
            .lines()
            .filter(|l| l.contains(": incident "))
            .count() as u64;
        let filtered = golden_text
            .lines()
            .filter(|l| l.contains(": filtered: "))
            .count() as u64;
        let mut input = Vec::new();
        let mut files = samples(dir);
        files.push(repo(&format!(
            "tests/data/formats/{}-written.jsonl",
            format.name()
        )));
        let truncated = files.len() as u64;
        for f in files {
            let mut text = std::fs::read(f).unwrap();
            if !text.ends_with(b"\n") {
                text.push(b'\n');
            }
            input.extend_from_slice(&text);
            input.extend_from_slice(b"{\"truncated\":\n");
        }
        let dir_ = TempDir::new(&format!("fmt-{}", format.name()));
        let state = dir_.path("state");
        let out = run_stdin(
            &input,
            &[
                "--format",
                format.name(),
                "--state-dir",
                state.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, o) = state_of(&state);
        assert_eq!(o.accepted + o.duplicate, incidents, "{}", format.name());
        assert_eq!(
            o.filtered.iter().sum::<u64>(),
            filtered,
            "{}",
            format.name()
        );
        assert_eq!(o.invalid[Reject::NotJson.index()], truncated);
        assert_eq!(o.invalid_total(), truncated);
    }
}

/// The ncsc-2022 scenario written in each tool's format (`generate
/// --format`) and read with that format gives the published figures of
/// spec §9, and the same report as the native stream.
#[test]
fn ncsc_2022_in_each_format_gives_the_published_figures() {
    let native = TempDir::new("fmt-ncsc-native");
    let cfg = repo("config/ncsc-vietnam.toml");
    let count = |dir: &TempDir, format: &str| {
        let input = generate(&["--scenario", "ncsc-2022", "--format", format]);
        run_stdin_ok(
            &input,
            &[
                "--format",
                format,
                "--config",
                cfg.to_str().unwrap(),
                "--state-dir",
                dir.0.to_str().unwrap(),
            ],
        );
    };
    count(&native, "native");
    let want = report_of(&native.0, "2022-06", "en", "json");
    for format in ["suricata-eve", "wazuh", "ecs", "ocsf"] {
        let dir = TempDir::new(&format!("fmt-ncsc-{format}"));
        count(&dir, format);
        let json = report_of(&dir.0, "2022-06", "en", "json");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_june_2022_figures(&v);
        let w: serde_json::Value = serde_json::from_str(&want).unwrap();
        // Sectors are not in the tool formats' mappings: everything else
        // of the report is the native stream's.
        for key in ["total", "by_category", "previous_month", "year_to_date"] {
            assert_eq!(v[key], w[key], "{format}: {key}");
        }
    }
}

/// Fields the mapping does not need may have any type, and a list item of
/// another type is skipped: the incident still counts.
#[test]
fn wrong_types_where_the_mapping_does_not_need_them_drop_nothing() {
    let (d, s) = decoder(Format::Wazuh);
    let line = br#"{"timestamp":"2023-07-26T09:21:07.928+0000","id":"1.2","agent":"not-an-object","manager":[1],"rule":{"level":9,"description":7,"groups":["web",5,{"x":1},"sql_injection"],"mitre":"T1190"}}"#;
    assert_eq!(
        describe(&d, &s, line),
        r#"incident intrusion: id=wazuh::1.2 time=2023-07-26T09:21:07.928Z type="intrusion" severity=medium signature="" mitre="" tags=["web", "sql_injection"]"#
    );
    let (d, s) = decoder(Format::SuricataEve);
    let line = br#"{"timestamp":"2023-09-18T06:13:41.5+0000","event_type":"alert","flow_id":-3,"host":{"n":1},"alert":{"signature_id":2045001,"rev":"one","signature":"ET MALWARE x","category":null,"severity":1.5,"metadata":[]}}"#;
    assert!(
        describe(&d, &s, line).starts_with("incident malware: id=eve::0:1:2045001:0:"),
        "{}",
        describe(&d, &s, line)
    );
}

/// A custom mapping reads any JSON source end to end; `check-config`
/// refuses one that lacks a required path, naming it.
#[test]
fn a_custom_mapping_counts_any_json_and_is_checked() {
    let dir = TempDir::new("fmt-custom");
    let cfg = dir.path("custom.toml");
    std::fs::write(
        &cfg,
        r#"
[events]
format = "custom"
[events.mapping]
id = "/alert/uuid"
time = "detected_at"
type = "/alert/kind"
severity = "/alert/priority"
severity_map = { "P1" = "critical", "P2" = "high", "P3" = "medium" }
filter_field = "/state"
filter_values = ["open"]
"#,
    )
    .unwrap();
    let out = ok(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    assert!(out.contains("config OK"), "{out}");
    let input = br#"{"state":"open","detected_at":"2024-03-11T08:15:02+0700","alert":{"uuid":"a-1","kind":"phishing","priority":"P1"}}
{"state":"open","detected_at":"2024-03-11T08:16:02+0700","alert":{"uuid":"a-1","kind":"phishing","priority":"P1"}}
{"state":"closed","detected_at":"2024-03-11T08:17:02+0700","alert":{"uuid":"a-2","kind":"ddos"}}
{"state":"open","detected_at":1710120000,"alert":{"uuid":"a-3","kind":"malware","priority":"P3"}}
{"state":"open","alert":{"uuid":"a-4","kind":"malware"}}
"#;
    let state = dir.path("state");
    run_stdin_ok(
        input,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    let (merged, o) = state_of(&state);
    assert_eq!((o.accepted, o.duplicate), (2, 1));
    assert_eq!(o.filtered_total(), 1);
    assert_eq!(o.invalid[Reject::MissingField.index()], 1);
    let m: incident_monitor::calendar::YearMonth = "2024-03".parse().unwrap();
    let phishing = merged
        .ledger
        .categories()
        .iter()
        .position(|c| c == "phishing")
        .unwrap();
    assert_eq!(merged.ledger.category_total(m, phishing), 1);

    std::fs::write(
        &cfg,
        "[events]\nformat = \"custom\"\n[events.mapping]\nid = \"/id\"\ntime = \"/t\"\n",
    )
    .unwrap();
    let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("events.mapping.type"));
    std::fs::write(&cfg, "[events.mapping]\nid = \"/id\"\n").unwrap();
    let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("format = \"custom\""));
}
