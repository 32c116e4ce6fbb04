//! Counts that hold at the edges (issue 11): sensors with wrong clocks,
//! backfills, reruns on the same state, a demo directory, quiet months,
//! bad settings and an unreachable broker.

mod common;

use common::*;
use incident_monitor::clock::wall_now_ms;
use incident_monitor::config::Config;
use incident_monitor::count::{Engine, Outcome};
use incident_monitor::event::Reject;
use incident_monitor::generate::ncsc_2022;
use incident_monitor::state::PartitionKey;

fn ncsc_engine() -> Engine {
    let cfg = Config {
        timezone: "Asia/Ho_Chi_Minh".to_owned(),
        ..Config::default()
    };
    Engine::new(cfg.validate().unwrap())
}

/// The year, in Asia/Ho_Chi_Minh, of a generated line's event time (2021
/// or later: the scenario's range), if it has a valid one.
fn year_of(line: &str) -> Option<i32> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let t = v.get("time")?.as_str()?;
    let ts: jiff::Timestamp = t.parse().ok()?;
    // 2022-01-01T00:00:00+07:00.
    Some(if ts.as_millisecond() < 1_640_970_000_000 {
        2021
    } else {
        2022
    })
}

#[test]
fn events_dated_in_the_future_change_nothing_else() {
    let lines = ncsc_2022(7);
    let wall = wall_now_ms();
    let run = |extra: &[(usize, String)]| {
        let mut e = ncsc_engine();
        let mut st = e.new_partition(PartitionKey::input());
        let mut outcomes = Vec::new();
        let mut rejected = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            for (at, x) in extra {
                if *at == i {
                    rejected.push(e.apply(&mut st, x.as_bytes(), wall));
                }
            }
            outcomes.push(e.apply(&mut st, l.as_bytes(), wall));
        }
        (outcomes, rejected, st)
    };
    let (base, none, base_st) = run(&[]);
    assert!(none.is_empty());
    let mid = lines.len() / 2;
    let future = [
        (
            mid,
            r#"{"id":"clock-2099","time":"2099-01-01T00:00:00Z","type":"phishing"}"#.to_owned(),
        ),
        (
            mid + 10,
            r#"{"id":"clock-2031","time":"2031-06-14T09:21:07+07:00","type":"malware"}"#.to_owned(),
        ),
    ];
    let (got, rejected, st) = run(&future);
    assert_eq!(
        rejected,
        vec![
            Outcome::Invalid(Reject::FutureTime),
            Outcome::Invalid(Reject::FutureTime)
        ]
    );
    assert_eq!(got, base, "every other message keeps its outcome");
    assert!(st.ledger == base_st.ledger, "every month keeps its figures");
    assert_eq!(st.windows.max_event_ms(), base_st.windows.max_event_ms());
    assert_eq!(st.outcomes.invalid[Reject::FutureTime.index()], 2);
}

#[test]
fn an_event_just_inside_max_future_secs_is_counted() {
    let mut e = ncsc_engine();
    let mut st = e.new_partition(PartitionKey::input());
    let wall = wall_now_ms();
    let at = |ms: i64| {
        let t = jiff::Timestamp::from_millisecond(ms).unwrap();
        format!(r#"{{"id":"x{ms}","time":"{t}","type":"ddos"}}"#)
    };
    let soon = at(wall + 86_400_000 - 60_000);
    let later = at(wall + 86_400_000 + 60_000);
    assert!(matches!(
        e.apply(&mut st, soon.as_bytes(), wall),
        Outcome::Accepted { .. }
    ));
    assert_eq!(
        e.apply(&mut st, later.as_bytes(), wall),
        Outcome::Invalid(Reject::FutureTime)
    );
}

#[test]
fn a_backfill_of_last_year_after_this_year_counts_in_its_months() {
    let lines = ncsc_2022(7);
    let (old, new): (Vec<_>, Vec<_>) = lines.iter().partition(|l| year_of(l) == Some(2021));
    assert!(old.len() > 9000, "{}", old.len());
    let wall = wall_now_ms();
    let ledger = |order: &[&String]| {
        let mut e = ncsc_engine();
        let mut st = e.new_partition(PartitionKey::input());
        for l in order {
            e.apply(&mut st, l.as_bytes(), wall);
        }
        st
    };
    let in_order: Vec<&String> = lines.iter().collect();
    let backfilled: Vec<&String> = new.iter().chain(old.iter()).copied().collect();
    let a = ledger(&in_order);
    let b = ledger(&backfilled);
    assert!(
        a.ledger == b.ledger,
        "the months do not depend on arrival order"
    );
    // Every one counted (accepted), in its month; late for the windows only.
    assert_eq!(a.outcomes.accepted, b.outcomes.accepted);
    assert_eq!(b.outcomes.late, 0);
    let late_24h = b.outcomes.window_late.last().copied().unwrap();
    assert!(late_24h > 9000, "{:?}", b.outcomes);
}

fn report_json(state: &std::path::Path, month: &str) -> serde_json::Value {
    serde_json::from_str(&report_of(state, month, "en", "json")).unwrap()
}

#[test]
fn the_backfilled_stream_reproduces_every_published_figure() {
    let input = generate(&["--scenario", "ncsc-2022"]);
    let text = String::from_utf8(input).unwrap();
    let (old, new): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| year_of(l) == Some(2021));
    let mut reordered = new.join("\n");
    reordered.push('\n');
    reordered.push_str(&old.join("\n"));
    reordered.push('\n');
    let dir = TempDir::new("backfill");
    let state = dir.path("state");
    run_stdin_ok(
        reordered.as_bytes(),
        &[
            "--config",
            repo("config/ncsc-vietnam.toml").to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    assert_june_2022_figures(&report_json(&state, "2022-06"));
    let jan = report_json(&state, "2022-01");
    assert_eq!(jan["total"], 1383);
    assert_eq!(jan["previous_month"]["total"], 1254);
    assert_eq!(jan["previous_month"]["change_percent"], 10.29);
    let may = report_json(&state, "2022-05");
    assert_eq!(may["by_category"]["phishing"], 161);
    assert_eq!(may["by_category"]["deface"], 226);
    assert_eq!(may["by_category"]["malware"], 460);
    let jul = report_json(&state, "2022-07");
    assert_eq!(jul["total"], 983);
    assert_eq!(jul["previous_month"]["change_percent"], -16.55);
}

fn incidents_in(state: &std::path::Path) -> u64 {
    state_of(state).1.accepted
}

#[test]
fn stdin_is_never_resumed_by_position() {
    let dir = TempDir::new("stdin");
    let state = dir.path("state");
    let s = state.to_str().unwrap();
    let jan = generate(&["--scenario", "live", "--count", "3000", "--seed", "1"]);
    let feb = generate(&["--scenario", "live", "--count", "2000", "--seed", "2"]);
    let count = |input: &[u8]| {
        let d = TempDir::new("one");
        let st = d.path("state");
        let out = run_stdin(input, &["--state-dir", st.to_str().unwrap()]);
        assert!(out.status.success());
        incidents_in(&st)
    };
    let (n_jan, n_feb) = (count(&jan), count(&feb));
    assert!(n_jan > 2000 && n_feb > 1000, "{n_jan} {n_feb}");
    for input in [&jan, &feb] {
        let out = run_stdin(input, &["--state-dir", s]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(incidents_in(&state), n_jan + n_feb, "two streams: the sum");
    let before = state_of(&state).1;
    let out = run_stdin(&feb, &["--state-dir", s]);
    assert!(out.status.success());
    let after = state_of(&state).1;
    assert_eq!(
        incidents_in(&state),
        n_jan + n_feb,
        "the same stream again: nothing twice"
    );
    assert_eq!(
        after.duplicate - before.duplicate,
        feb.iter().filter(|b| **b == b'\n').count() as u64
            - (after.invalid_total() - before.invalid_total()),
        "every line of it was read again (as duplicates)"
    );
}

#[test]
fn a_regenerated_file_at_the_same_path_is_read_from_its_start() {
    let dir = TempDir::new("regen");
    let state = dir.path("state");
    let file = dir.path("in.jsonl");
    let run = || {
        ok(bin().args([
            "run",
            "--input",
            file.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ]))
    };
    let a = generate(&["--scenario", "live", "--count", "2000", "--seed", "3"]);
    let b = generate(&["--scenario", "live", "--count", "2500", "--seed", "4"]);
    std::fs::write(&file, &a).unwrap();
    run();
    let n_a = incidents_in(&state);
    // The same file with lines appended: resumed, only the new lines read.
    let mut grown = a.clone();
    grown.extend_from_slice(&b);
    std::fs::write(&file, &grown).unwrap();
    run();
    let n_ab = incidents_in(&state);
    let (_, o_ab) = state_of(&state);
    let fresh_b = TempDir::new("regen-b");
    let out = run_stdin(&b, &["--state-dir", fresh_b.path("s").to_str().unwrap()]);
    assert!(out.status.success());
    let (_, o_b) = state_of(&fresh_b.path("s"));
    assert_eq!(n_ab, n_a + o_b.accepted);
    // Nothing of the first part was read again.
    let (_, o_a) = {
        let d = TempDir::new("regen-a");
        let out = run_stdin(&a, &["--state-dir", d.path("s").to_str().unwrap()]);
        assert!(out.status.success());
        state_of(&d.path("s"))
    };
    assert_eq!(o_ab.duplicate, o_a.duplicate + o_b.duplicate);
    // Regenerated with other data: read from its start, every new incident counted.
    let c = generate(&["--scenario", "live", "--count", "1500", "--seed", "5"]);
    let fresh = TempDir::new("regen-c");
    let fs = fresh.path("state");
    let out = run_stdin(&c, &["--state-dir", fs.to_str().unwrap()]);
    assert!(out.status.success());
    let n_c = incidents_in(&fs);
    std::fs::write(&file, &c).unwrap();
    run();
    assert_eq!(incidents_in(&state), n_ab + n_c);
}

#[test]
fn each_bad_setting_is_one_line_and_exit_2() {
    let dir = TempDir::new("settings");
    let cases: &[(&str, &str)] = &[
        (
            "[[windows.windows]]\nname = \"x\"\nlength_secs = 60\nslide_secs = 9223372036854775807\n",
            "windows.windows.slide_secs",
        ),
        (
            "[windows]\nallowed_lateness_secs = 9223372036854775807\n",
            "windows.allowed_lateness_secs",
        ),
        (
            "[events]\nmax_future_secs = 99999999999\n",
            "events.max_future_secs",
        ),
        (
            "[events]\nmax_event_bytes = 18446744073709551615\n",
            "events.max_event_bytes",
        ),
        ("[dedup]\nhorizon_days = 4000000000\n", "dedup.horizon_days"),
        (
            "[dedup]\nmax_ids_per_partition = 0\n",
            "dedup.max_ids_per_partition",
        ),
        (
            "[state]\ncheckpoint_interval_ms = 18446744073709551615\n",
            "state.checkpoint_interval_ms",
        ),
        (
            "[kafka]\nconnect_timeout_secs = 0\n",
            "kafka.connect_timeout_secs",
        ),
        (
            "[kafka]\ndrain_timeout_secs = 18446744073709551615\n",
            "kafka.drain_timeout_secs",
        ),
        (
            "[metrics]\nupdate_interval_ms = 0\n",
            "metrics.update_interval_ms",
        ),
        ("[spike]\nthreshold = nan\n", "spike.threshold"),
        (
            "[spike]\nbaseline_half_life_secs = 18446744073709551615\n",
            "spike.baseline_half_life_secs",
        ),
        (
            "[kafka.properties]\n\"fetch.max.bytes\" = \"1000\"\n",
            "fetch.max.bytes",
        ),
        (
            "[kafka.properties]\n\"no.such.property\" = \"1\"\n",
            "no.such.property",
        ),
    ];
    for (i, (toml, names)) in cases.iter().enumerate() {
        let path = dir.path(&format!("c{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let state = dir.path("s");
        // A file run uses no Kafka client: properties are checked by
        // check-config and when a Kafka run creates its consumer.
        let source: &[&str] = if toml.contains("kafka.properties") {
            &[
                "--brokers",
                "127.0.0.1:9",
                "--topic",
                "t",
                "--until-end",
                "--metrics-addr",
                "127.0.0.1:0",
            ]
        } else {
            &["--input", "-"]
        };
        let mut run = vec!["run", "--config", path.to_str().unwrap()];
        run.extend_from_slice(source);
        run.extend_from_slice(&["--state-dir", state.to_str().unwrap()]);
        for cmd in [
            vec!["check-config", "--config", path.to_str().unwrap()],
            run,
        ] {
            let out = fails(bin().args(&cmd).stdin(std::process::Stdio::null()));
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {toml}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim().lines().count(), 1, "{toml}: {err}");
            assert!(err.contains(names), "{toml}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    for rate in ["1e-20", "0", "-5", "nan", "inf", "1e300"] {
        let flag = format!("--rate={rate}");
        let out = fails(bin().args(["generate", "--scenario", "live", "--count", "3", &flag]));
        assert_eq!(out.status.code(), Some(2), "--rate {rate}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--rate") && err.trim().lines().count() == 1,
            "{err}"
        );
    }
}

#[test]
fn the_demo_never_deletes_a_directory_it_did_not_create() {
    let dir = TempDir::new("demo-dir");
    let mine = dir.path("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"keep me").unwrap();
    let out = fails(bin().args([
        "demo",
        "--metrics-addr",
        "127.0.0.1:0",
        "--state-dir",
        mine.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(std::fs::read(mine.join("notes.txt")).unwrap(), b"keep me");
}

/// Runs JSONL lines (UTC months) into a new state directory.
fn state_with(lines: &[String]) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("months");
    let state = dir.path("state");
    let mut input = lines.join("\n");
    input.push('\n');
    let out = run_stdin(input.as_bytes(), &["--state-dir", state.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, state)
}

fn incident(id: &str, t_ms: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(t_ms).unwrap();
    format!(r#"{{"id":"{id}","time":"{t}","type":"phishing"}}"#)
}

fn report_text(state: &std::path::Path, month: &str, lang: &str, format: &str) -> String {
    report_of(state, month, lang, format)
}

/// The English name of a month (jiff's `%B`).
fn month_name(year: i16, month: i8) -> String {
    jiff::civil::date(year, month, 1).strftime("%B").to_string()
}

#[test]
fn the_running_month_is_compared_month_to_date() {
    use jiff::civil::date;
    let now = jiff::Timestamp::now();
    let today = now.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let (y, m) = (today.year(), today.month());
    let start = date(y, m, 1)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .unwrap();
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let prev_start = date(py, pm, 1)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .unwrap();
    let (s, p) = (
        start.timestamp().as_millisecond(),
        prev_start.timestamp().as_millisecond(),
    );
    let now_ms = now.as_millisecond();
    let mut lines = Vec::new();
    for i in 0..3 {
        lines.push(incident(&format!("cur-{i}"), s + (now_ms - s) / 2));
    }
    for i in 0..4 {
        lines.push(incident(&format!("early-{i}"), p + 60_000));
    }
    for i in 0..6 {
        lines.push(incident(&format!("late-{i}"), s - 60_000));
    }
    let (_dir, state) = state_with(&lines);
    // The previous month's span is the whole minutes elapsed; it reaches
    // the last minute of that month only when the running month has
    // already run longer than it.
    let minutes = (now_ms - s) / 60_000;
    let prev_whole = minutes * 60_000 >= s - p;
    let expected_prev = if prev_whole { 10 } else { 4 };
    let month = format!("{y:04}-{m:02}");
    let json: serde_json::Value =
        serde_json::from_str(&report_text(&state, &month, "en", "json")).unwrap();
    assert_eq!(json["total"], 3, "{json}");
    let pmj = &json["previous_month"];
    assert_eq!(pmj["basis"], "month_to_date", "{json}");
    assert_eq!(pmj["total"], expected_prev, "{json}");
    assert_eq!(pmj["month_total"], 10, "{json}");
    let through: jiff::Timestamp = pmj["through"].as_str().unwrap().parse().unwrap();
    assert!(
        through.as_millisecond() > p && through.as_millisecond() <= s,
        "{through}"
    );
    let expected_ratio = 3.0 / f64::from(expected_prev) - 1.0;
    assert!((pmj["change_ratio"].as_f64().unwrap() - expected_ratio).abs() < 1e-9);

    let day = today.day();
    let en = report_text(&state, &month, "en", "text");
    let span = if day == 1 {
        format!("From 1 {} {y} at ", month_name(y, m))
    } else {
        format!("From 1 to {day} {} {y} at ", month_name(y, m))
    };
    assert!(en.contains(&span), "{span:?} in {en}");
    assert!(en.contains(" (month to date), "), "{en}");
    assert!(
        en.contains(&format!(
            "from the same period of {} {py}",
            month_name(py, pm)
        )),
        "{en}"
    );
    let vi = report_text(&state, &month, "vi", "text");
    let span_vi = if day == 1 {
        format!("Ngày 1/{m}/{y}, lúc ")
    } else {
        format!("Từ ngày 1 đến ngày {day}/{m}/{y}, lúc ")
    };
    assert!(vi.contains(&span_vi), "{span_vi:?} in {vi}");
    assert!(vi.contains(" (lũy kế đến nay), "), "{vi}");
    assert!(
        vi.contains(&format!("so với cùng kỳ tháng {pm}/{py}")),
        "{vi}"
    );
    let md = report_text(&state, &month, "en", "markdown");
    assert!(md.contains("(month to date)"), "{md}");
    let html = report_text(&state, &month, "en", "html");
    assert!(html.contains("(month to date)"), "{html}");

    // The month before is closed: compared whole.
    let prev_month = format!("{py:04}-{pm:02}");
    let closed: serde_json::Value =
        serde_json::from_str(&report_text(&state, &prev_month, "en", "json")).unwrap();
    assert_eq!(closed["total"], 10);
    assert_eq!(closed["previous_month"]["basis"], "closed");
    assert!(closed["previous_month"].get("through").is_none());
    assert!(closed.get("month_to_date").is_none());
}

#[test]
fn a_quiet_month_inside_the_covered_range_reports_zero() {
    let jan = 1_641_038_400_000; // 2022-01-01T12:00:00Z
    let mar = 1_646_136_000_000; // 2022-03-01T12:00:00Z
    let mut lines: Vec<String> = (0..5).map(|i| incident(&format!("j{i}"), jan)).collect();
    lines.extend((0..2).map(|i| incident(&format!("m{i}"), mar)));
    let (_dir, state) = state_with(&lines);
    let feb = report_json(&state, "2022-02");
    assert_eq!(feb["total"], 0);
    assert_eq!(feb["previous_month"]["total"], 5);
    assert_eq!(feb["previous_month"]["change_percent"], -100.0);
    let march = report_json(&state, "2022-03");
    assert_eq!(march["total"], 2);
    assert_eq!(march["previous_month"]["total"], 0);
    assert!(march["previous_month"]["change_ratio"].is_null());
    let en = report_text(&state, "2022-02", "en", "text");
    assert!(en.contains("recorded 0 cyber attacks"), "{en}");
    // The state was kept this month: the running month is covered (zero).
    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let current = report_json(&state, &format!("{:04}-{:02}", now.year(), now.month()));
    assert_eq!(current["total"], 0);
    // Before the first month with incidents, or in the gap after the last
    // one (the state says nothing of it): outside the covered range.
    for month in ["2021-12", "2022-05"] {
        let out = fails(bin().args([
            "report",
            "--month",
            month,
            "--state-dir",
            state.to_str().unwrap(),
        ]));
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("2022-01 to 2022-03"), "{err}");
    }
}

#[test]
fn shares_round_half_away_from_zero_and_january_reads_naturally() {
    // 1 critical of 4,000: 0.025% prints 0.03%.
    let t = 1_641_038_400_000;
    let mut lines: Vec<String> = (0..3999).map(|i| incident(&format!("i{i}"), t)).collect();
    lines.push(
        r#"{"id":"crit","time":"2022-01-01T12:00:00Z","type":"phishing","severity":"critical"}"#
            .to_owned(),
    );
    let (_dir, state) = state_with(&lines);
    let en = report_text(&state, "2022-01", "en", "text");
    let line = en
        .lines()
        .find(|l| l.trim_start().starts_with("critical"))
        .unwrap();
    assert!(line.trim_end().ends_with("0.03%"), "{line}");
    let html = report_text(&state, "2022-01", "en", "html");
    for text in [&en, &html] {
        assert!(!text.contains("one months"), "{text}");
        assert!(!text.contains("first one"), "{text}");
    }
    assert!(html.contains("January 2022"));
}

#[test]
fn an_unreachable_broker_is_named_and_a_drain_gives_up_on_time() {
    let dir = TempDir::new("nobroker");
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let cfg = dir.path("c.toml");
    std::fs::write(&cfg, "[kafka]\nconnect_timeout_secs = 4\n").unwrap();
    let state = dir.path("state");
    let started = std::time::Instant::now();
    let out = fails(bin().args([
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--brokers",
        &brokers,
        "--topic",
        "incidents",
        "--until-end",
        "--state-dir",
        state.to_str().unwrap(),
    ]));
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.contains(&brokers) && last.contains("connect_timeout_secs"),
        "{last}"
    );
    // The timeout, plus at most a metrics tick and the final checkpoint.
    assert!(took >= std::time::Duration::from_secs(4), "{took:?}");
    assert!(took < std::time::Duration::from_secs(4 + 10), "{took:?}");

    // A long run keeps retrying and says why it is not ready.
    let mut run = Running::start(&[
        "run",
        "--brokers",
        &brokers,
        "--topic",
        "incidents",
        "--state-dir",
        dir.path("state2").to_str().unwrap(),
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let addr = run.metrics_addr(20);
    wait_until(20, "/readyz names the broker", || {
        let (code, body) = http_get(&addr, "/readyz");
        code == 503 && body.contains(&brokers) && body.contains("no Kafka broker can be reached")
    });
    let (_, metrics) = http_get(&addr, "/metrics");
    assert_eq!(sample(&metrics, "incident_monitor_ready"), Some(0.0));
    assert!(run.child.try_wait().unwrap().is_none(), "still running");
}

/// A state written by an earlier build, from the 200 lines of
/// `tests/fixtures/v1-input.jsonl`, is read: its months are kept, and its
/// incidents delivered again (another stream: nothing resumed by
/// position) are duplicates, not new.
fn an_older_state_is_read_and_its_incidents_still_count_once(fixture: &str) {
    let dir = TempDir::new(fixture);
    let state = dir.path("state");
    std::fs::create_dir_all(&state).unwrap();
    for f in ["input-0.state", "monitor.json"] {
        std::fs::copy(repo("tests/fixtures").join(fixture).join(f), state.join(f)).unwrap();
    }
    let (before, o) = state_of(&state);
    assert_eq!((o.accepted, o.duplicate), (193, 7));
    assert_eq!(o.filtered, [0; 4]);
    let input = std::fs::read(repo("tests/fixtures/v1-input.jsonl")).unwrap();
    run_stdin_ok(&input, &["--state-dir", state.to_str().unwrap()]);
    let (after, o) = state_of(&state);
    assert_eq!((o.accepted, o.duplicate), (193, 7 + 200));
    // The same months, counted the same; the old state kept no province,
    // so every incident is of province `unknown`, and the months say so.
    let counts = |l: &incident_monitor::calendar::Ledger| -> Vec<_> {
        l.months()
            .map(|(m, c)| {
                let unknown = l.provinces().iter().position(|p| p == "unknown").unwrap();
                (
                    m,
                    c.by_category_severity.clone(),
                    c.by_sector.clone(),
                    c.minute_cells(),
                    c.cells().is_some(),
                    c.provinces_kept(),
                    c.by_province[unknown] == c.total(),
                )
            })
            .collect()
    };
    assert_eq!(after.ledger.categories(), before.ledger.categories());
    assert_eq!(after.ledger.sectors(), before.ledger.sectors());
    assert_eq!(counts(&after.ledger), counts(&before.ledger));
    assert!(counts(&after.ledger).iter().all(|m| !m.5 && m.6));
}

/// Checkpoint format 1: dedup by event time, full 128-bit ids, no file
/// identity.
#[test]
fn a_version_1_state_is_read_and_its_incidents_still_count_once() {
    an_older_state_is_read_and_its_incidents_still_count_once("v1-state");
}

/// Checkpoint format 2: before the filtered counters.
#[test]
fn a_version_2_state_is_read_and_its_incidents_still_count_once() {
    an_older_state_is_read_and_its_incidents_still_count_once("v2-state");
}

/// Checkpoint format 5: cells by sector, no provinces (written by commit
/// 392ad41 from the same input).
#[test]
fn a_version_5_state_is_read_and_its_incidents_still_count_once() {
    an_older_state_is_read_and_its_incidents_still_count_once("v5-state");
}

/// Checkpoint format 7: each remembered incident in 49 fixed bytes
/// (written by commit 8e65a34 from `tests/fixtures/v1-input.jsonl`, the
/// last build of that format). Read by this build, its incidents are found
/// by their updates, and the figures are those of a state this build wrote
/// from the same input.
#[test]
fn a_version_7_states_incidents_are_found_by_their_updates() {
    let input = std::fs::read_to_string(repo("tests/fixtures/v1-input.jsonl")).unwrap();
    // Every third incident handled two hours after its detection, every
    // seventh warned and retyped.
    let mut updates = String::new();
    for (i, l) in input.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        let t: jiff::Timestamp = v["time"].as_str().unwrap().parse().unwrap();
        let at = t.checked_add(jiff::SignedDuration::from_hours(2)).unwrap();
        v["updated"] = at.to_string().into();
        if i % 3 == 0 {
            v["status"] = "handled".into();
        } else if i % 7 == 0 {
            v["status"] = "warned".into();
            v["type"] = "phishing".into();
        } else {
            continue;
        }
        updates.push_str(&v.to_string());
        updates.push('\n');
    }
    let dir = TempDir::new("v7-updates");
    // Remembered as long as the configuration allows: the fixture's
    // incidents arrived when it was written.
    let config = dir.path("c.toml");
    std::fs::write(&config, "[lifecycle]\nremember_days = 2000\n").unwrap();
    let config = config.to_str().unwrap();
    let old = dir.path("old");
    std::fs::create_dir_all(&old).unwrap();
    for f in ["input-0.state", "monitor.json"] {
        std::fs::copy(repo("tests/fixtures/v7-state").join(f), old.join(f)).unwrap();
    }
    let new = dir.path("new");
    let args = |d: &std::path::Path| {
        ["--state-dir", d.to_str().unwrap(), "--config", config].map(str::to_owned)
    };
    run_stdin_ok(input.as_bytes(), &args(&new).each_ref().map(String::as_str));
    for d in [&old, &new] {
        run_stdin_ok(updates.as_bytes(), &args(d).each_ref().map(String::as_str));
    }
    let (old_state, old_o) = state_of(&old);
    let (new_state, new_o) = state_of(&new);
    assert_eq!(old_o.accepted, 193);
    assert!(old_o.update > 60, "{old_o:?}");
    assert_eq!(old_o, new_o);
    assert_eq!(old_state.ledger, new_state.ledger);
}
