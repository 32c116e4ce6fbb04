//! Reports in the reader's language all the way (issue 33): the Vietnamese
//! report's tables, charts and words are Vietnamese in every format; the
//! machine-readable forms keep the codes; configured names are checked and
//! travel with the state.

mod common;

use common::*;

/// The English words a report writes: its headings and table words, its
/// sentence's words, the months, and the codes of the default categories,
/// severities and sectors. None may appear in a Vietnamese report.
const ENGLISH: &[&str] = &[
    "Cyber",
    "incident",
    "report",
    "Timezone",
    "Category",
    "Severity",
    "Sector",
    "Change",
    "Incidents",
    "Total",
    "By",
    "category",
    "severity",
    "Top",
    "sectors",
    "Year",
    "date",
    "Period",
    "Monthly",
    "trend",
    "Month",
    "Months",
    "This",
    "period",
    "Previous",
    "Same",
    "last",
    "year",
    "From",
    "In",
    "recorded",
    "cyber",
    "attacks",
    "causing",
    "incidents",
    "up",
    "down",
    "from",
    "unchanged",
    "the",
    "same",
    "of",
    "first",
    "half",
    "whole",
    "previous",
    "month",
    "months",
    "at",
    "less",
    "than",
    "nothing",
    "compare",
    "against",
    "to",
    "span",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
    "phishing",
    "deface",
    "malware",
    "ddos",
    "intrusion",
    "other",
    "low",
    "medium",
    "high",
    "critical",
    "unknown",
    "government",
    "finance",
    "education",
    "healthcare",
    "energy",
    "telecom",
    "transport",
    "manufacturing",
    "retail",
    "security",
    "operations",
    "centre",
];

/// The words a reader sees: text outside tags and style sheets for HTML.
fn visible(text: &str, html: bool) -> String {
    if !html {
        return text.to_owned();
    }
    let mut t = text.to_owned();
    while let (Some(a), Some(b)) = (t.find("<style>"), t.find("</style>")) {
        t.replace_range(a..b + "</style>".len(), " ");
    }
    let mut out = String::new();
    let mut in_tag = false;
    for c in t.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// English words of [`ENGLISH`] found in `text` (words: runs of letters
/// of any script, digits, `_` and `-`, so that "toàn" is not "to").
fn english_in(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| ENGLISH.contains(w))
        .map(str::to_owned)
        .collect()
}

fn ncsc_state(dir: &TempDir, config: &std::path::Path) -> std::path::PathBuf {
    let state = dir.path("state");
    let input = generate(&["--scenario", "ncsc-2022"]);
    run_stdin_ok(
        &input,
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    state
}

#[test]
fn a_vietnamese_report_is_vietnamese_in_every_format() {
    let dir = TempDir::new("vi");
    let state = ncsc_state(&dir, &repo("config/ncsc-vietnam.toml"));
    let running = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap())
        .strftime("%Y-%m")
        .to_string();
    for month in ["2022-06", running.as_str()] {
        for format in ["text", "markdown", "html"] {
            let out = report_of(&state, month, "vi", format);
            let seen = visible(&out, format == "html");
            let found = english_in(&seen);
            assert!(
                found.is_empty(),
                "{month} {format}: English {found:?} in\n{seen}"
            );
            if month == "2022-06" {
                for name in [
                    "Tấn công lừa đảo (Phishing)",
                    "Tấn công thay đổi giao diện (Deface)",
                    "Tấn công cài mã độc (Malware)",
                    "Nghiêm trọng",
                    "Không xác định",
                    "Cơ quan nhà nước",
                    "1.178",
                    "39,08%",
                    "tháng 6/2022",
                ] {
                    assert!(seen.contains(name), "{format}: {name:?} missing in\n{seen}");
                }
            }
        }
    }
    // The English report keeps its words, and JSON keeps the codes, with
    // the names beside them.
    let en = report_of(&state, "2022-06", "en", "text");
    assert!(en.contains("phishing") && en.contains("critical"), "{en}");
    let json: serde_json::Value =
        serde_json::from_str(&report_of(&state, "2022-06", "vi", "json")).unwrap();
    assert_eq!(json["by_category"]["phishing"], 766);
    assert_eq!(
        json["display_names"]["categories"]["phishing"],
        "Tấn công lừa đảo (Phishing)"
    );
    assert_eq!(
        json["display_names"]["severities"]["critical"],
        "Nghiêm trọng"
    );
}

#[test]
fn configured_names_are_checked_and_travel_with_the_state() {
    let dir = TempDir::new("vi-labels");
    let ncsc = std::fs::read_to_string(repo("config/ncsc-vietnam.toml")).unwrap();
    let cfg = dir.path("labels.toml");
    std::fs::write(
        &cfg,
        format!(
            "{ncsc}\n[classification.labels.vi]\nphishing = \"Lừa đảo trực tuyến\"\n\n\
             [classification.labels.en]\nphishing = \"Phishing (fraud)\"\n\n\
             [ledger.labels.vi]\nfinance = \"Ngân hàng\"\n"
        ),
    )
    .unwrap();
    ok(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    let state = ncsc_state(&dir, &cfg);
    // Without --config: the names the run recorded with the state.
    let vi = report_of(&state, "2022-06", "vi", "text");
    assert!(
        vi.contains("Lừa đảo trực tuyến") && vi.contains("Ngân hàng"),
        "{vi}"
    );
    let en = report_of(&state, "2022-06", "en", "markdown");
    assert!(en.contains("Phishing (fraud)"), "{en}");
    // A name for what the configuration does not have is an error naming it.
    for (bad, named) in [
        (
            "[classification.labels.vi]\nransomware = \"x\"\n",
            "ransomware",
        ),
        ("[ledger.labels.vi]\nspace = \"x\"\n", "space"),
        ("[classification.labels.fr]\nphishing = \"x\"\n", "fr"),
    ] {
        let p = dir.path("bad.toml");
        std::fs::write(&p, format!("{ncsc}\n{bad}")).unwrap();
        let out = fails(bin().args(["check-config", "--config", p.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{bad}: {err}");
    }
}
