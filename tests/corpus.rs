//! The corpus check (issue 25): every real sample file in
//! `tests/data/samples/` (provenance and licence in the PROVENANCE.md
//! beside each), each record judged twice: by its tool's own definition of
//! an alert or finding, read here with serde_json independently of the
//! monitor, and by the monitor's decoder. The table of both is the golden
//! file `tests/golden/corpus.md` (`UPDATE_GOLDEN=1` rewrites it), and:
//!
//! * no record that is an alert by its tool's definition is rejected (a
//!   broken record would have to be named here, with what breaks it: none
//!   is);
//! * no record that is not one is counted;
//! * every filter reason that keeps an alert out is documented for its
//!   format in docs/formats.md.

mod common;

use std::collections::BTreeMap;

use common::*;
use incident_monitor::decode::{Decoded, Format};
use serde_json::Value;

/// A field by its flat dotted key (as Elastic writes them), else nested.
fn field<'v>(v: &'v Value, dotted: &str) -> Option<&'v Value> {
    v.get(dotted)
        .or_else(|| dotted.split('.').try_fold(v, |v, k| v.get(k)))
}

/// Is this record an alert (a finding) by its tool's own definition?
fn tool_alert(format: Format, v: &Value) -> bool {
    match format {
        // EVE: the record's type says so.
        Format::SuricataEve => v["event_type"] == "alert",
        // Wazuh: every record of alerts.json is an alert (a rule matched at
        // or above the manager's log_alert_level); the indexer stores the
        // same records; logtest says whether an alert was raised.
        Format::Wazuh => {
            v.get("rule").is_some()
                || v["_source"].get("rule").is_some()
                || (v["data"]["output"].get("rule").is_some() && v["data"]["alert"] != false)
        }
        // ECS: `event.kind` is `alert` (source alerts) or `signal`
        // (detection alerts).
        Format::Ecs => {
            let doc = if v.get("_source").is_some() && field(v, "event.kind").is_none() {
                &v["_source"]
            } else {
                v
            };
            matches!(
                field(doc, "event.kind").and_then(Value::as_str),
                Some("alert" | "signal")
            )
        }
        // OCSF: the Findings category (category 2, classes 2001-2007).
        Format::Ocsf => v["class_uid"]
            .as_i64()
            .is_some_and(|c| (2001..=2007).contains(&c)),
        Format::Native | Format::Custom => unreachable!("not a tool format"),
    }
}

#[derive(Default)]
struct Row {
    records: u64,
    alerts: u64,
    counted: u64,
    filtered: BTreeMap<&'static str, u64>,
    rejected: BTreeMap<&'static str, u64>,
}

fn reasons(m: &BTreeMap<&'static str, u64>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn every_real_alert_counts_or_is_filtered_for_a_documented_reason() {
    let formats_doc = std::fs::read_to_string(repo("docs/formats.md")).unwrap();
    let mut table = String::from(
        "# Corpus check: the real samples, by the tool's definition and by the monitor\n\n\
         Written by `tests/corpus.rs` (`UPDATE_GOLDEN=1 cargo test --test corpus`). \
         Filter reasons are documented per format in docs/formats.md; \
         `events.wazuh_min_level` is at its default, 7.\n\n\
         | format | file | records | alerts (tool) | counted | filtered (alerts) | rejected |\n\
         | --- | --- | ---: | ---: | ---: | --- | --- |\n",
    );
    let mut problems = Vec::new();
    for (format, dir) in [
        (Format::SuricataEve, "suricata"),
        (Format::Wazuh, "wazuh"),
        (Format::Ecs, "ecs"),
        (Format::Ocsf, "ocsf"),
    ] {
        let d = tool_decoder(format);
        let section = formats_doc
            .split(&format!("## `{}`", format.name()))
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_else(|| panic!("docs/formats.md has no section for {}", format.name()));
        let files = sample_files(dir);
        assert!(!files.is_empty(), "{dir}: the samples are missing");
        let mut total = Row::default();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let mut row = Row::default();
            let text = std::fs::read(&path).unwrap();
            for (i, line) in text.split(|&b| b == b'\n').enumerate() {
                if line.trim_ascii().is_empty() {
                    continue;
                }
                let at = format!("{dir}/{name}:{}", i + 1);
                let v: Value = serde_json::from_slice(line)
                    .unwrap_or_else(|e| panic!("{at}: a sample is not JSON: {e}"));
                let alert = tool_alert(format, &v);
                row.records += 1;
                row.alerts += u64::from(alert);
                match d.decode(line) {
                    Decoded::Event(_) => {
                        row.counted += 1;
                        if !alert {
                            problems.push(format!("{at}: counted, but not an alert"));
                        }
                    }
                    Decoded::Filtered(f) => {
                        if alert {
                            *row.filtered.entry(f.code()).or_default() += 1;
                            if !section.contains(&format!("`{}`", f.code())) {
                                problems.push(format!(
                                    "{at}: filtered `{}`, a reason docs/formats.md does not give for {}",
                                    f.code(),
                                    format.name()
                                ));
                            }
                        }
                    }
                    Decoded::Invalid(r) => {
                        *row.rejected.entry(r.code()).or_default() += 1;
                        if alert {
                            problems.push(format!("{at}: an alert rejected as {}", r.code()));
                        }
                    }
                }
            }
            table.push_str(&format!(
                "| {} | {name} | {} | {} | {} | {} | {} |\n",
                format.name(),
                row.records,
                row.alerts,
                row.counted,
                reasons(&row.filtered),
                reasons(&row.rejected)
            ));
            total.records += row.records;
            total.alerts += row.alerts;
            total.counted += row.counted;
            for (r, n) in row.filtered {
                *total.filtered.entry(r).or_default() += n;
            }
            for (r, n) in row.rejected {
                *total.rejected.entry(r).or_default() += n;
            }
        }
        table.push_str(&format!(
            "| **{}** | all | {} | {} | {} | {} | {} |\n",
            format.name(),
            total.records,
            total.alerts,
            total.counted,
            reasons(&total.filtered),
            reasons(&total.rejected)
        ));
        // Every alert is counted or filtered for a reason; nothing else.
        let filtered: u64 = total.filtered.values().sum();
        assert_eq!(
            total.counted + filtered,
            total.alerts,
            "{}: alerts lost\n{table}",
            format.name()
        );
    }
    println!("{table}");
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n"));
    golden("corpus.md", &table);
}
