//! The headline figures of spec §9, end to end through the real binary:
//! `generate --scenario ncsc-2022 | run --input - | report`.

mod common;

use common::*;

fn ncsc_state() -> TempDir {
    let dir = TempDir::new("ncsc");
    let input = generate(&["--scenario", "ncsc-2022"]);
    run_stdin_ok(
        &input,
        &[
            "--config",
            repo("config/ncsc-vietnam.toml").to_str().unwrap(),
            "--state-dir",
            dir.0.to_str().unwrap(),
        ],
    );
    dir
}

fn report(dir: &TempDir, month: &str, lang: &str, format: &str) -> String {
    report_of(&dir.0, month, lang, format)
}

#[test]
fn june_2022_in_vietnamese_english_and_json() {
    let dir = ncsc_state();

    let vi = report(&dir, "2022-06", "vi", "text");
    for needle in [
        "1.178",
        "tăng 39,08% so với tháng 5/2022",
        "6.641",
        "tăng 35,14% so với 6 tháng trước",
        "tăng 37,92% so với 6 tháng đầu năm 2021",
        "Trung tâm Giám sát an toàn không gian mạng quốc gia (NCSC)",
    ] {
        assert!(vi.contains(needle), "missing {needle:?} in:\n{vi}");
    }
    golden("report-2022-06-vi.txt", &vi);

    let en = report(&dir, "2022-06", "en", "text");
    for needle in [
        "1,178",
        "up 39.08% from May 2022",
        "6,641",
        "up 35.14% from the previous six months",
        "up 37.92% from the first half of 2021",
    ] {
        assert!(en.contains(needle), "missing {needle:?} in:\n{en}");
    }
    golden("report-2022-06-en.txt", &en);
    golden(
        "report-2022-06-en.md",
        &report(&dir, "2022-06", "en", "markdown"),
    );

    let json = report(&dir, "2022-06", "en", "json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema_version"], 1);
    let as_of: jiff::Timestamp = v["as_of"].as_str().unwrap().parse().unwrap();
    assert!(
        (jiff::Timestamp::now().as_second() - as_of.as_second()).abs() < 600,
        "{as_of}"
    );
    golden("report-2022-06.json", &without_as_of(&json));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["timezone"], "Asia/Ho_Chi_Minh");
    assert_june_2022_figures(&v);
}

#[test]
fn every_published_figure() {
    let dir = ncsc_state();
    let json = |m: &str| -> serde_json::Value {
        serde_json::from_str(&report(&dir, m, "en", "json")).unwrap()
    };
    let may = json("2022-05");
    assert_eq!(may["total"], 847);
    assert_eq!(may["by_category"]["phishing"], 161);
    assert_eq!(may["by_category"]["deface"], 226);
    assert_eq!(may["by_category"]["malware"], 460);
    assert_eq!(may["year_to_date"]["total"], 5463);
    assert_eq!(may["year_to_date"]["by_category"]["phishing"], 930);
    assert_eq!(may["year_to_date"]["by_category"]["deface"], 776);
    assert_eq!(may["year_to_date"]["by_category"]["malware"], 3757);
    let jan = json("2022-01");
    assert_eq!(jan["total"], 1383);
    assert_eq!(jan["previous_month"]["total"], 1254);
    assert_eq!(jan["previous_month"]["change_percent"], 10.29);
    let jul = json("2022-07");
    assert_eq!(jul["total"], 983);
    assert_eq!(jul["by_category"]["phishing"], 544);
    assert_eq!(jul["by_category"]["deface"], 22);
    assert_eq!(jul["by_category"]["malware"], 417);
    assert_eq!(jul["previous_month"]["change_percent"], -16.55);
    let vi = report(&dir, "2022-07", "vi", "text");
    assert!(vi.contains("giảm 16,55% so với tháng 6/2022"), "{vi}");
    let en = report(&dir, "2022-07", "en", "text");
    assert!(en.contains("down 16.55% from June 2022"), "{en}");
}

#[test]
fn the_stream_has_the_noise_it_claims() {
    let dir = ncsc_state();
    let (_, o) = state_of(&dir.0);
    assert_eq!(
        o.accepted,
        9729 + 6641 + 983 + 1061 + 1007 + 1152 + 1094 + 1216
    );
    assert!(o.duplicate > 500, "{o:?}");
    assert!(o.invalid_total() > 20, "{o:?}");
    assert_eq!(o.late, 0);
}

#[test]
fn a_month_without_data_is_a_clear_error() {
    let dir = ncsc_state();
    let out = fails(bin().args([
        "report",
        "--month",
        "2019-01",
        "--state-dir",
        dir.0.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no incidents recorded for 2019-01") && err.contains("2021-01 to 2022-12"),
        "{err}"
    );
}
