//! `report --period` (spec §7 "Periods") through the real binary, against
//! figures computed here from the generated stream itself: each incident
//! counted once at its first valid message, dated by its `time` in the
//! zone (jiff's conversion, not the monitor's ledger).

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::*;

/// The first valid message of each id of a stream, with its instant (ms).
fn first_messages(stream: &[u8]) -> Vec<(i64, serde_json::Value)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in String::from_utf8_lossy(stream).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(id), Some(time), Some(kind)) = (
            v.get("id").and_then(|x| x.as_str()),
            v.get("time").and_then(|x| x.as_str()),
            v.get("type").and_then(|x| x.as_str()),
        ) else {
            continue;
        };
        let Ok(t) = time.parse::<jiff::Timestamp>() else {
            continue;
        };
        if id.is_empty() || id.len() > 256 || kind.is_empty() || !seen.insert(id.to_owned()) {
            continue;
        }
        out.push((t.as_millisecond(), v));
    }
    out
}

/// The distinct incidents of a stream, as instants (ms).
fn incidents(stream: &[u8]) -> Vec<i64> {
    first_messages(stream).into_iter().map(|(t, _)| t).collect()
}

/// Incidents whose local date in `tz` is within `[from, to]` (`YYYY-MM-DD`).
fn count(times: &[i64], tz: &str, from: &str, to: &str) -> u64 {
    let tz = jiff::tz::TimeZone::get(tz).unwrap();
    let (a, b): (jiff::civil::Date, jiff::civil::Date) =
        (from.parse().unwrap(), to.parse().unwrap());
    times
        .iter()
        .filter(|&&t| {
            let d = jiff::Timestamp::from_millisecond(t)
                .unwrap()
                .to_zoned_datetime(tz.clone())
                .date();
            a <= d && d <= b
        })
        .count() as u64
}

/// A state of the ncsc-2022 stream counted in `tz`, with fiscal years
/// from `fy`; the stream's distinct incidents.
fn counted(dir: &TempDir, tz: &str, fy: u8) -> (std::path::PathBuf, std::path::PathBuf, Vec<i64>) {
    let stream = generate(&["--scenario", "ncsc-2022"]);
    let base = std::fs::read_to_string(repo("config/ncsc-vietnam.toml"))
        .unwrap()
        .replace(
            "timezone = \"Asia/Ho_Chi_Minh\"",
            &format!("timezone = \"{tz}\""),
        )
        .replacen(
            "[report]\n",
            &format!("[report]\nfiscal_year_start_month = {fy}\n"),
            1,
        );
    assert!(base.contains(&format!("fiscal_year_start_month = {fy}")));
    let cfg = dir.path("periods.toml");
    std::fs::write(&cfg, base).unwrap();
    let state = dir.path("state");
    run_stdin_ok(
        &stream,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    (cfg, state, incidents(&stream))
}

fn period_json(state: &Path, cfg: &Path, period: &str, more: &[&str]) -> serde_json::Value {
    let out = ok(bin()
        .args(["report", "--period", period, "--format", "json", "--config"])
        .arg(cfg)
        .arg("--state-dir")
        .arg(state)
        .args(more));
    serde_json::from_str(&out).unwrap()
}

/// Checks a period's total and both comparisons against the oracle:
/// `(period, first, last, previous first, previous last, last year's first, last)`.
fn check(state: &Path, cfg: &Path, tz: &str, times: &[i64], rows: &[[&str; 7]]) {
    for [p, a, b, pa, pb, la, lb] in rows {
        let v = period_json(state, cfg, p, &[]);
        assert_eq!(v["period"], *p);
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some(*a), Some(*b)),
            "{p}"
        );
        assert_eq!(v["total"], count(times, tz, a, b), "{p}: total");
        let prev = &v["previous_period"];
        assert_eq!(
            (prev["from"].as_str(), prev["to"].as_str()),
            (Some(*pa), Some(*pb)),
            "{p}"
        );
        assert_eq!(prev["total"], count(times, tz, pa, pb), "{p}: previous");
        let ly = &v["same_period_last_year"];
        assert_eq!(
            (ly["from"].as_str(), ly["to"].as_str()),
            (Some(*la), Some(*lb)),
            "{p}"
        );
        assert_eq!(ly["total"], count(times, tz, la, lb), "{p}: last year");
        let by_category: u64 = v["by_category"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(v["total"], by_category, "{p}: categories sum to the total");
    }
}

#[test]
fn every_period_form_in_hanoi_time_matches_the_stream() {
    let dir = TempDir::new("periods-hcm");
    let tz = "Asia/Ho_Chi_Minh";
    let (cfg, state, times) = counted(&dir, tz, 4);
    check(
        &state,
        &cfg,
        tz,
        &times,
        &[
            [
                "2022-06",
                "2022-06-01",
                "2022-06-30",
                "2022-05-01",
                "2022-05-31",
                "2021-06-01",
                "2021-06-30",
            ],
            [
                "2022-Q2",
                "2022-04-01",
                "2022-06-30",
                "2022-01-01",
                "2022-03-31",
                "2021-04-01",
                "2021-06-30",
            ],
            // Across a year boundary: Q1 against Q4, H1 against H2.
            [
                "2022-Q1",
                "2022-01-01",
                "2022-03-31",
                "2021-10-01",
                "2021-12-31",
                "2021-01-01",
                "2021-03-31",
            ],
            [
                "2022-H1",
                "2022-01-01",
                "2022-06-30",
                "2021-07-01",
                "2021-12-31",
                "2021-01-01",
                "2021-06-30",
            ],
            [
                "2022",
                "2022-01-01",
                "2022-12-31",
                "2021-01-01",
                "2021-12-31",
                "2021-01-01",
                "2021-12-31",
            ],
            // April to March, named by the year it ends in.
            [
                "FY2022",
                "2021-04-01",
                "2022-03-31",
                "2020-04-01",
                "2021-03-31",
                "2020-04-01",
                "2021-03-31",
            ],
            [
                "2022-W03",
                "2022-01-17",
                "2022-01-23",
                "2022-01-10",
                "2022-01-16",
                "2021-01-18",
                "2021-01-24",
            ],
            // Week 1 of 2022 starts on 3 January; the week before is the
            // last of 2021.
            [
                "2022-W01",
                "2022-01-03",
                "2022-01-09",
                "2021-12-27",
                "2022-01-02",
                "2021-01-04",
                "2021-01-10",
            ],
            [
                "2022-01-29..2022-02-06",
                "2022-01-29",
                "2022-02-06",
                "2022-01-20",
                "2022-01-28",
                "2021-01-29",
                "2021-02-06",
            ],
        ],
    );
    // The half reproduces the centre's published figures (spec §9).
    let h1 = period_json(&state, &cfg, "2022-H1", &[]);
    assert_eq!(h1["total"], 6641);
    assert_eq!(h1["previous_period"]["change_percent"], 35.14);
    assert_eq!(h1["same_period_last_year"]["change_percent"], 37.92);
    assert_eq!(h1["months"], 6);
    assert_eq!(h1["average_per_month"], 1106.83);
    assert_eq!(h1["basis"], "closed");
    // Sectors and provinces of any period sum to its total.
    let sum = |v: &serde_json::Value| -> u64 {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum()
    };
    assert_eq!(sum(&h1["by_sector"]), 6641);
    assert_eq!(sum(&h1["by_province"]), 6641);
    let week = period_json(&state, &cfg, "2022-W03", &[]);
    assert_eq!(sum(&week["by_sector"]), week["total"].as_u64().unwrap());
    assert_eq!(sum(&week["by_province"]), week["total"].as_u64().unwrap());
    assert_eq!(week["trend"].as_array().unwrap().len(), 7);
    // --against: last year's holiday week on other dates.
    let tet = period_json(
        &state,
        &cfg,
        "2022-01-29..2022-02-06",
        &["--against", "2021-02-08..2021-02-16"],
    );
    assert_eq!(tet["against"]["period"], "2021-02-08..2021-02-16");
    assert_eq!(
        tet["against"]["total"],
        count(&times, tz, "2021-02-08", "2021-02-16")
    );
    // --month M is --period M, with a month's keys and the period's.
    let june = period_json(&state, &cfg, "2022-06", &[]);
    assert_june_2022_figures(&june);
    assert_eq!(june["same_period_last_year"]["period"], "2021-06");
}

#[test]
fn the_sentences_of_each_kind_in_both_languages() {
    let dir = TempDir::new("periods-words");
    let (cfg, state, _) = counted(&dir, "Asia/Ho_Chi_Minh", 4);
    let text = |period: &str, lang: &str| {
        ok(bin()
            .args(["report", "--period", period, "--lang", lang, "--config"])
            .arg(&cfg)
            .arg("--state-dir")
            .arg(&state))
    };
    for (p, lang, needle) in [
        ("2022-Q2", "vi", "Trong quý II/2022,"),
        ("2022-Q2", "vi", "so với quý I/2022"),
        ("2022-Q2", "en", "In the second quarter of 2022,"),
        ("2022-H1", "vi", "Trong 6 tháng đầu năm 2022,"),
        ("2022-H1", "vi", "6.641"),
        ("2022-H1", "en", "up 35.14% from the second half of 2021"),
        (
            "FY2022",
            "vi",
            "năm tài chính 2022 (từ tháng 4/2021 đến tháng 3/2022)",
        ),
        (
            "FY2022",
            "en",
            "fiscal year 2022 (April 2021 to March 2022)",
        ),
        ("2022-W03", "vi", "tuần 3/2022 (từ 17/01 đến 23/01/2022)"),
        ("2022-W03", "en", "week 3 of 2022 (17 to 23 January 2022)"),
        ("2022-01-16..2022-01-22", "vi", "Từ 16/01 đến 22/01/2022,"),
        (
            "2022-01-16..2022-01-22",
            "en",
            "From 16 to 22 January 2022,",
        ),
        ("2022", "vi", "Trong năm 2022,"),
    ] {
        let said = text(p, lang);
        assert!(
            said.contains(needle),
            "{p} {lang}: {needle:?} not in\n{said}"
        );
    }
    let html = text("2022-Q2", "en");
    assert!(html.contains("Monthly trend"), "{html}");
    let page = ok(bin()
        .args([
            "report", "--period", "2022-W03", "--format", "html", "--config",
        ])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(&state));
    assert!(
        page.starts_with("<!doctype html>") && page.contains("<svg"),
        "html"
    );
}

#[test]
fn a_week_and_days_across_daylight_saving_changes() {
    let dir = TempDir::new("periods-dst");
    let tz = "Europe/Berlin";
    let (cfg, state, times) = counted(&dir, tz, 10);
    check(
        &state,
        &cfg,
        tz,
        &times,
        &[
            // Clocks go forward on 27 March 2022 (a week of 167 hours) and
            // back on 30 October (169 hours).
            [
                "2022-W12",
                "2022-03-21",
                "2022-03-27",
                "2022-03-14",
                "2022-03-20",
                "2021-03-22",
                "2021-03-28",
            ],
            [
                "2022-W43",
                "2022-10-24",
                "2022-10-30",
                "2022-10-17",
                "2022-10-23",
                "2021-10-25",
                "2021-10-31",
            ],
            [
                "2022-03-26..2022-03-28",
                "2022-03-26",
                "2022-03-28",
                "2022-03-23",
                "2022-03-25",
                "2021-03-26",
                "2021-03-28",
            ],
            [
                "2022-10-29..2022-10-31",
                "2022-10-29",
                "2022-10-31",
                "2022-10-26",
                "2022-10-28",
                "2021-10-29",
                "2021-10-31",
            ],
            // October to September, across a year boundary.
            [
                "FY2022",
                "2021-10-01",
                "2022-09-30",
                "2020-10-01",
                "2021-09-30",
                "2020-10-01",
                "2021-09-30",
            ],
        ],
    );
}

#[test]
fn bad_periods_name_the_forms_and_the_endpoint_names_the_parameter() {
    let dir = TempDir::new("periods-bad");
    let (cfg, state, _) = counted(&dir, "Asia/Ho_Chi_Minh", 1);
    for bad in [
        "2022-Q5",
        "2022-W53",
        "22",
        "2022-01-22..2022-01-16",
        "FY22",
    ] {
        let out = fails(
            bin()
                .args(["report", "--period", bad, "--state-dir"])
                .arg(&state),
        );
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("2022-Q2") && err.contains("2023-W03"),
            "{bad}: {err}"
        );
    }
    // A period outside the state: exit 1 naming what it covers.
    let out = fails(
        bin()
            .args(["report", "--period", "2019-Q1", "--state-dir"])
            .arg(&state),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2021-01 to 2022-12"));
    // The live endpoint serves the same, with the same validation.
    let (_run, addr, _stdin) = Running::stdin_run(&cfg, &state, &[]);
    let (code, body) = http_get(&addr, "/report?period=2022-H1&lang=vi&format=json");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 6641);
    assert!(
        v["sentence"]
            .as_str()
            .unwrap()
            .contains("6 tháng đầu năm 2022")
    );
    for (query, param) in [
        ("period=2022-Q5", "period:"),
        ("period=2022-Q2&against=2021-13", "against:"),
        ("month=2022-06&period=2022-Q2", "month and period"),
        ("period=2022-Q2&lang=fr", "lang:"),
        ("lang=vi", "month or period is required"),
    ] {
        let (code, body) = http_get(&addr, &format!("/report?{query}"));
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body.contains(param), "{query}: {body}");
    }
    let (code, _) = http_get(&addr, "/report?period=2019-Q1");
    assert_eq!(code, 404);
}

/// Incidents among `messages` (a stream's first messages) that `keep`
/// selects and whose local date is within `[from, to]`.
fn count_where(
    messages: &[(i64, serde_json::Value)],
    keep: impl Fn(&serde_json::Value) -> bool,
    tz: &str,
    from: &str,
    to: &str,
) -> u64 {
    let times: Vec<i64> = messages
        .iter()
        .filter(|(_, v)| keep(v))
        .map(|(t, _)| *t)
        .collect();
    count(&times, tz, from, to)
}

/// Whether an incident is of one sector, as the stream names it.
fn of_sector(sector: &str) -> impl Fn(&serde_json::Value) -> bool + '_ {
    move |v| {
        let s = v["target"]["sector"].as_str().unwrap_or("");
        s.trim().eq_ignore_ascii_case(sector)
    }
}

#[test]
fn sector_slices_sum_to_the_whole_and_match_the_stream() {
    let dir = TempDir::new("periods-slices");
    let tz = "Asia/Ho_Chi_Minh";
    let (cfg, state, _) = counted(&dir, tz, 1);
    let messages = first_messages(&generate(&["--scenario", "ncsc-2022"]));
    let slice =
        |period: &str, sector: &str| period_json(&state, &cfg, period, &["--sector", sector]);
    // Every sector the state counts (configured, other, unknown).
    let sectors = [
        "government",
        "finance",
        "education",
        "healthcare",
        "energy",
        "telecom",
        "transport",
        "manufacturing",
        "retail",
        "other",
        "unknown",
    ];
    for (period, whole) in [("2022-06", 1178u64), ("2022-H1", 6641)] {
        let mut sum = 0;
        let mut by_category = std::collections::BTreeMap::<String, u64>::new();
        for s in sectors {
            let v = slice(period, s);
            assert_eq!(v["sector"], s);
            sum += v["total"].as_u64().unwrap();
            for (c, n) in v["by_category"].as_object().unwrap() {
                *by_category.entry(c.clone()).or_default() += n.as_u64().unwrap();
            }
        }
        assert_eq!(sum, whole, "{period}: the sectors sum to the whole");
        let all = period_json(&state, &cfg, period, &[]);
        for (c, n) in all["by_category"].as_object().unwrap() {
            assert_eq!(by_category[c], n.as_u64().unwrap(), "{period} {c}");
        }
    }
    // A sector's month, week and days against the stream itself.
    for (period, from, to) in [
        ("2022-06", "2022-06-01", "2022-06-30"),
        ("2022-W25", "2022-06-20", "2022-06-26"),
        ("2022-06-13..2022-06-15", "2022-06-13", "2022-06-15"),
    ] {
        let v = slice(period, "healthcare");
        assert_eq!(
            v["total"],
            count_where(&messages, of_sector("healthcare"), tz, from, to),
            "{period}"
        );
    }
    let vi = ok(bin()
        .args([
            "report", "--month", "2022-06", "--sector", "finance", "--lang", "vi", "--config",
        ])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(&state));
    assert!(vi.contains("thuộc lĩnh vực Tài chính - Ngân hàng"), "{vi}");
    // An unknown sector is named with the ones there are (exit 2).
    let out = fails(
        bin()
            .args([
                "report",
                "--month",
                "2022-06",
                "--sector",
                "ministry-x",
                "--state-dir",
            ])
            .arg(&state),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("finance"));
    // The endpoint serves slices.
    let (_run, addr, _stdin) = Running::stdin_run(&cfg, &state, &[]);
    let (code, body) = http_get(&addr, "/report?month=2022-06&sector=healthcare&format=json");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["total"],
        count_where(
            &messages,
            of_sector("healthcare"),
            tz,
            "2022-06-01",
            "2022-06-30"
        )
    );
    let (code, body) = http_get(&addr, "/report?month=2022-06&sector=nope");
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("sector:"), "{body}");
}

/// The province code of a name as the generator writes it: this test's
/// own table, not the monitor's matching.
fn province_code(name: Option<&str>) -> &'static str {
    match name {
        None => "unknown",
        Some("Hà Nội") => "ha-noi",
        Some("Ho Chi Minh") => "ho-chi-minh",
        Some("Đà Nẵng") => "da-nang",
        Some("Hai Phong") => "hai-phong",
        Some("TP. Cần Thơ") => "can-tho",
        Some("Hue") => "thua-thien-hue",
        Some("Nghệ An") => "nghe-an",
        Some(_) => "other",
    }
}

/// Whether an incident is of one province (by [`province_code`]).
fn of_province(code: &str) -> impl Fn(&serde_json::Value) -> bool + '_ {
    move |v| province_code(v["target"]["province"].as_str()) == code
}

#[test]
fn province_slices_sum_to_the_whole_and_match_the_stream() {
    let dir = TempDir::new("periods-provinces");
    let tz = "Asia/Ho_Chi_Minh";
    let (cfg, state, _) = counted(&dir, tz, 1);
    let messages = first_messages(&generate(&["--scenario", "ncsc-2022"]));
    let slice = |period: &str, name: &str| period_json(&state, &cfg, period, &["--province", name]);
    let codes = [
        "ha-noi",
        "ho-chi-minh",
        "da-nang",
        "hai-phong",
        "can-tho",
        "thua-thien-hue",
        "nghe-an",
        "other",
        "unknown",
    ];
    // The whole: June's published figure, else what the report says.
    for (period, from, to, whole) in [
        ("2022-06", "2022-06-01", "2022-06-30", 1178u64),
        ("2022-Q2", "2022-04-01", "2022-06-30", 0),
        ("2022-W25", "2022-06-20", "2022-06-26", 0),
    ] {
        let all = period_json(&state, &cfg, period, &[]);
        let whole = if whole == 0 {
            all["total"].as_u64().unwrap()
        } else {
            whole
        };
        let mut sum = 0;
        for code in codes {
            let v = slice(period, code);
            assert_eq!(v["province"], code);
            let n = v["total"].as_u64().unwrap();
            assert_eq!(
                n,
                count_where(&messages, of_province(code), tz, from, to),
                "{period} {code}"
            );
            // The whole's breakdown says the same (a month's is its top
            // provinces).
            let breakdown = all.get("by_province").unwrap_or(&all["top_provinces"]);
            assert_eq!(breakdown[code].as_u64().unwrap_or(0), n, "{period} {code}");
            sum += n;
        }
        assert_eq!(sum, whole, "{period}: the provinces sum to the whole");
    }
    // A province is named as users write it, with or without diacritics.
    for name in ["Hà Nội", "ha noi", "Hanoi", "HA-NOI"] {
        assert_eq!(slice("2022-06", name)["province"], "ha-noi", "{name}");
    }
    let vi = ok(bin()
        .args([
            "report",
            "--period",
            "2022-Q2",
            "--province",
            "Đà Nẵng",
            "--lang",
            "vi",
            "--config",
        ])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(&state));
    assert!(vi.contains(" tại Đà Nẵng"), "{vi}");
    let en = ok(bin()
        .args(["report", "--month", "2022-06", "--config"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(&state));
    assert!(en.contains("Top provinces"), "{en}");
    assert!(en.contains("Ho Chi Minh City"), "{en}");
    // A name that is no province of the state: exit 2, naming those there are.
    let out = fails(
        bin()
            .args([
                "report",
                "--month",
                "2022-06",
                "--province",
                "Atlantis",
                "--state-dir",
            ])
            .arg(&state),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ha-noi"));
    // The endpoint serves province slices, the name percent-encoded.
    let (_run, addr, _stdin) = Running::stdin_run(&cfg, &state, &[]);
    let (code, body) = http_get(
        &addr,
        "/report?period=2022-Q2&province=H%C3%A0%20N%E1%BB%99i&format=json",
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["province"], "ha-noi");
    assert_eq!(
        v["total"],
        count_where(
            &messages,
            of_province("ha-noi"),
            tz,
            "2022-04-01",
            "2022-06-30"
        )
    );
    for (query, param) in [
        ("month=2022-06&province=nowhere", "province:"),
        ("month=2022-06&province=%01", "province:"),
        (
            "month=2022-06&province=ha-noi&sector=finance",
            "sector and province",
        ),
    ] {
        let (code, body) = http_get(&addr, &format!("/report?{query}"));
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body.starts_with(param), "{query}: {body}");
    }
}

#[test]
fn a_state_from_before_sector_cells_says_it_cannot_be_sliced() {
    let dir = TempDir::new("periods-old-slice");
    let state = dir.path("state");
    std::fs::create_dir_all(&state).unwrap();
    for f in ["input-0.state", "monitor.json"] {
        std::fs::copy(repo("tests/fixtures/v2-state").join(f), state.join(f)).unwrap();
    }
    let month = {
        let (merged, _) = state_of(&state);
        merged.data_range().unwrap().0.to_string()
    };
    // The whole still reports; a slice of it names why it cannot.
    ok(bin()
        .args(["report", "--month", &month, "--state-dir"])
        .arg(&state));
    let out = fails(
        bin()
            .args([
                "report",
                "--month",
                &month,
                "--sector",
                "other",
                "--state-dir",
            ])
            .arg(&state),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("predates sector slices"), "{err}");
    // Nor by province: that state kept none.
    let out = fails(
        bin()
            .args([
                "report",
                "--month",
                &month,
                "--province",
                "unknown",
                "--state-dir",
            ])
            .arg(&state),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("predates province slices"), "{err}");
}

#[test]
fn a_state_from_before_provinces_slices_by_sector_but_not_by_province() {
    let dir = TempDir::new("periods-v5-slice");
    let state = dir.path("state");
    std::fs::create_dir_all(&state).unwrap();
    for f in ["input-0.state", "monitor.json"] {
        std::fs::copy(repo("tests/fixtures/v5-state").join(f), state.join(f)).unwrap();
    }
    let report = |extra: &[&str]| {
        bin()
            .args(["report", "--month", "2026-11", "--format", "json"])
            .args(extra)
            .arg("--state-dir")
            .arg(&state)
            .output()
            .unwrap()
    };
    // The whole reports without provinces: none were kept.
    let whole: serde_json::Value =
        serde_json::from_slice(&report(&[]).stdout).expect("the whole month");
    assert_eq!(whole["total"], 193);
    assert!(whole.get("top_provinces").is_none(), "{whole}");
    // Its sectors slice as before.
    let finance: serde_json::Value =
        serde_json::from_slice(&report(&["--sector", "finance"]).stdout).expect("a slice");
    assert_eq!(finance["total"], whole["top_sectors"]["finance"]);
    // A province's slice says why it cannot be.
    let out = report(&["--province", "ha-noi"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("predates province slices"), "{err}");
    assert!(err.contains("2026-11"), "{err}");
}
