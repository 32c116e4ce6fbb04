//! Hostile strings from the configuration, the state or a file name never
//! reach a reader as they are: the report in each format and the log lines
//! show them escaped (spec §10), and categories, which are metric labels,
//! refuse them.

mod common;

use common::*;

/// Script tags, quotes, an ampersand, a newline that would forge a line,
/// an ANSI escape, DEL, a C1 control, bidi overrides and isolates.
const HOSTILE: &str = "<script>alert('x')</script> \"q\" & [l](javascript:x) \nforged\u{1b}[31m\u{7f}\u{85} \u{202e}fdp.exe\u{202c} \u{2066}iso\u{2069}\u{200f}";

/// Characters that must never appear as they are.
fn raw_hidden(s: &str) -> Vec<char> {
    s.chars()
        .filter(|&c| c != '\n' && incident_monitor::text::is_hidden(c))
        .collect()
}

fn hostile_config(dir: &TempDir) -> std::path::PathBuf {
    let cfg = dir.path("hostile.toml");
    let quoted = |s: &str| toml_string(s);
    std::fs::write(
        &cfg,
        format!(
            "timezone = \"Asia/Ho_Chi_Minh\"\n[report]\norganization_en = {}\norganization_vi = {}\nscope_en = {}\nscope_vi = {}\n",
            quoted(HOSTILE),
            quoted(HOSTILE),
            quoted(HOSTILE),
            quoted(HOSTILE)
        ),
    )
    .unwrap();
    cfg
}

/// A TOML basic string of `s` (escapes as TOML needs them).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn hostile_organisation_names_are_escaped_in_every_report_format() {
    let dir = TempDir::new("hostile-report");
    let cfg = hostile_config(&dir);
    let cfg = cfg.to_str().unwrap();
    assert!(ok(bin().args(["check-config", "--config", cfg])).starts_with("config OK"));
    let state = dir.path("state");
    run_stdin_ok(
        br#"{"id":"a","time":"2022-06-01T03:00:00Z","type":"phishing"}"#,
        &["--config", cfg, "--state-dir", state.to_str().unwrap()],
    );
    let report =
        |lang: &str, format: &str| report_with(&state, "2022-06", lang, format, &["--config", cfg]);
    for lang in ["en", "vi"] {
        // Text: one line for the sentence, nothing hidden, nothing forged.
        let text = report(lang, "text");
        assert_eq!(raw_hidden(&text), Vec::<char>::new(), "{text}");
        assert!(!text.lines().any(|l| l.starts_with("forged")), "{text}");
        assert!(
            text.contains('\u{FFFD}'),
            "hidden characters are shown as such"
        );
        // Markdown: no inline HTML, link or hidden character.
        let md = report(lang, "markdown");
        assert_eq!(raw_hidden(&md), Vec::<char>::new(), "{md}");
        assert!(md.contains("\\<script\\>"), "{md}");
        assert!(
            !md.replace("\\<", "").contains('<'),
            "every < escaped: {md}"
        );
        assert!(md.contains("\\[l\\](javascript"), "{md}");
        // HTML: escaped, and no hidden character in the page.
        let html = report(lang, "html");
        assert_eq!(raw_hidden(&html), Vec::<char>::new());
        assert!(!html.contains("<script") && !html.contains("alert('x')"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        // JSON: a valid document whose sentence shows no hidden character.
        let json: serde_json::Value = serde_json::from_str(&report(lang, "json")).unwrap();
        let sentence = json["sentence"].as_str().unwrap();
        assert_eq!(raw_hidden(sentence), Vec::<char>::new(), "{sentence}");
        assert!(
            sentence.contains("<script>"),
            "JSON carries the text, escaped by JSON"
        );
    }
}

#[test]
fn a_hostile_category_is_refused() {
    let dir = TempDir::new("hostile-category");
    let cfg = dir.path("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[classification.rules]]\ncategory = {}\ntypes = [\"x\"]\n",
            toml_string("<script>\u{202e}")
        ),
    )
    .unwrap();
    let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(raw_hidden(&err), Vec::<char>::new(), "{err}");
}

#[test]
fn hostile_file_names_are_escaped_in_log_and_error_lines() {
    let dir = TempDir::new("hostile-log");
    let name = "in\nput\u{1b}[2J\u{202e}lmtH.jsonl";
    let file = dir.path(name);
    std::fs::write(
        &file,
        "{\"id\":\"a\",\"time\":\"2022-06-01T03:00:00Z\",\"type\":\"phishing\"}\nnot json\n",
    )
    .unwrap();
    let state = dir.path("state");
    let args = [
        "run",
        "--input",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    ok_log(bin().args(args));
    // Run again: the resume line names the file.
    let log = ok_log(bin().args(args));
    assert!(log.contains("resuming"), "{log}");
    assert_eq!(raw_hidden(&log), Vec::<char>::new(), "{log}");
    // Every line is a log event (time first), none forged by the name.
    for line in log.lines() {
        assert!(
            line.get(..4)
                .is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit())),
            "{line:?}"
        );
    }
    assert!(log.contains("\\u{202e}"), "{log}");
    // The error line of a file that does not exist.
    let missing = dir.path("gone\n\u{1b}]0;pwned\u{7}\u{202e}");
    let out = fails(bin().args([
        "run",
        "--input",
        missing.to_str().unwrap(),
        "--state-dir",
        dir.path("s2").to_str().unwrap(),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(raw_hidden(&err), Vec::<char>::new(), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
