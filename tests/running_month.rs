//! One running month, one clock, one span (spec §4 "The running month",
//! "Changes", "Sliding windows"), with the clock controlled: the gauges'
//! view and the report read at the same instant give the same running
//! month and the same figures; month to date compares equally long spans
//! to the minute; the year to date of a running month is to date on every
//! side; a quiet backfill leaves the windows at zero.

use std::sync::Arc;

use incident_monitor::calendar::{MonthIndex, ToDate};
use incident_monitor::config::Config;
use incident_monitor::count::{Batch, Engine, Monitor};
use incident_monitor::event::time::parse_rfc3339;
use incident_monitor::report::MonthlyReport;
use incident_monitor::state::StateStore;

const TZ: &str = "Asia/Ho_Chi_Minh";

fn monitor(dir: &std::path::Path) -> Monitor {
    let cfg = Config {
        timezone: TZ.into(),
        ..Config::default()
    };
    Monitor::open(
        Engine::new(cfg.validate().unwrap()),
        Arc::new(StateStore::new(dir)),
    )
    .unwrap()
}

fn at(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

/// Applies `(id, time, type)` incidents, arriving at `wall`.
fn apply(m: &mut Monitor, events: &[(&str, &str, &str)], wall: i64) {
    let mut b = Batch::new(incident_monitor::state::Source::kafka("incidents"));
    for (i, (id, time, kind)) in events.iter().enumerate() {
        let line = format!(r#"{{"id":"{id}","time":"{time}","type":"{kind}"}}"#);
        b.push(0, i as u64, i as u64 + 1, None, line.as_bytes(), None);
    }
    m.apply(&mut b, wall, |_, _| {}).unwrap();
}

fn temp(tag: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("im-running-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Spec §4: both spans start at their month's first instant and are equally
/// long, to the minute, ending at the report's instant; an incident of the
/// running month dated after it is not in its span (issue 24, 3).
#[test]
fn month_to_date_is_the_same_span_to_the_minute() {
    let dir = temp("mtd");
    let mut m = monitor(&dir);
    // The report's instant: 14 June 2022, 12:34:56 in Hanoi.
    let now = at("2022-06-14T12:34:56+07:00");
    apply(
        &mut m,
        &[
            // June, before the instant's minute: in.
            ("j1", "2022-06-01T00:00:00+07:00", "phishing"),
            ("j2", "2022-06-14T12:33:59+07:00", "phishing"),
            // June, within the instant's minute and after it: out.
            ("j3", "2022-06-14T12:34:10+07:00", "phishing"),
            ("j4", "2022-06-15T08:00:00+07:00", "malware"),
            // May: minute 12:33 of the 14th is in the span, 12:34 is not
            // (the old hourly span took all of 12:00-12:59).
            ("m1", "2022-05-14T12:33:30+07:00", "phishing"),
            ("m2", "2022-05-14T12:34:00+07:00", "phishing"),
            ("m3", "2022-05-14T12:59:00+07:00", "malware"),
            ("m4", "2022-05-02T00:00:00+07:00", "deface"),
        ],
        now + 86_400_000,
    );
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, "2022-06".parse().unwrap(), now);
    assert_eq!(r.total, 2);
    assert_eq!(r.previous_month.basis, "month_to_date");
    assert_eq!(r.previous_month.total, 2, "m1 and m4");
    assert_eq!(r.previous_month.month_total, Some(4));
    let mtd = r.month_to_date.as_ref().unwrap();
    assert_eq!(mtd.through, "2022-06-14T12:34:00+07:00");
    assert_eq!(
        r.previous_month.through.as_deref(),
        Some("2022-05-14T12:34:00+07:00")
    );
    // Severities of the running month are to date as well.
    assert_eq!(r.by_severity.0.iter().map(|(_, n)| n).sum::<u64>(), 2);
    // The gauges at the same instant: the same month and figures.
    let v = m.view(now);
    let mv = v.month.unwrap();
    assert_eq!(mv.current_month, "2022-06");
    assert_eq!(mv.current.iter().sum::<u64>(), r.total);
    assert_eq!(mv.mtd_current.iter().sum::<u64>(), r.total);
    assert_eq!(mv.mtd_previous.iter().sum::<u64>(), r.previous_month.total);
    assert_eq!(mv.previous.iter().sum::<u64>(), 4, "May whole");
    // A minute later, j3 is in (12:34:10 < 12:35), May's 12:34 too.
    let later = at("2022-06-14T12:35:00+07:00");
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, "2022-06".parse().unwrap(), later);
    assert_eq!((r.total, r.previous_month.total), (3, 3));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A previous month shorter than the elapsed span is taken whole: on 31
/// March at noon, February (28 days) is compared whole.
#[test]
fn a_shorter_previous_month_is_taken_whole() {
    let dir = temp("short");
    let mut m = monitor(&dir);
    let now = at("2022-03-31T12:00:00+07:00");
    apply(
        &mut m,
        &[
            ("f1", "2022-02-28T23:59:00+07:00", "phishing"),
            ("f2", "2022-02-01T00:00:00+07:00", "phishing"),
            ("mar", "2022-03-31T11:00:00+07:00", "phishing"),
        ],
        now,
    );
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, "2022-03".parse().unwrap(), now);
    assert_eq!((r.total, r.previous_month.total), (1, 2));
    assert_eq!(
        r.previous_month.through.as_deref(),
        Some("2022-03-01T00:00:00+07:00")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The running month is the wall clock's, for the gauges as for `report`
/// (issue 24, 4): after a backfill of 2022, `current` is not 2022-12, and
/// once the stream is quiet every window reads zero.
#[test]
fn the_running_month_and_windows_follow_the_wall_clock_after_a_backfill() {
    let dir = temp("backfill");
    let mut m = monitor(&dir);
    let wall = at("2026-12-04T10:00:00+07:00");
    let backfill: Vec<(String, String)> = (0..50)
        .map(|i| {
            (
                format!("b{i}"),
                format!("2022-12-31T23:{:02}:00+07:00", 10 + i % 40),
            )
        })
        .collect();
    let events: Vec<(&str, &str, &str)> = backfill
        .iter()
        .map(|(id, t)| (id.as_str(), t.as_str(), "ddos"))
        .collect();
    apply(&mut m, &events, wall);
    // While it streams, the windows show event time (2022).
    let v = m.view(wall);
    let mv = v.month.clone().unwrap();
    assert_eq!(mv.current_month, "2026-12");
    assert_eq!(mv.current.iter().sum::<u64>(), 0);
    assert!(v.windows.iter().any(|w| w.iter().sum::<u64>() > 0));
    // Quiet past windows.idle_after_secs: the window clock is the wall
    // clock; nothing of 2022 is within any window.
    let idle = m.engine().settings().config.windows.idle_after_secs as i64 * 1000;
    let v = m.view(wall + idle + 1000);
    for w in &v.windows {
        assert_eq!(w.iter().sum::<u64>(), 0, "{:?}", v.windows);
    }
    assert_eq!(v.month.unwrap().current_month, "2026-12");
    // And the report agrees on the running month.
    let index = MonthIndex::new(jiff::tz::TimeZone::get(TZ).unwrap());
    let span = ToDate::at(&index, wall).unwrap();
    assert_eq!(span.slot.month.to_string(), "2026-12");
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, span.slot.month, wall);
    assert_eq!(r.previous_month.basis, "month_to_date");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24, 8: the running month's year to date is to date on both sides,
/// and says so; a closed month's is whole.
#[test]
fn the_running_year_to_date_is_to_date_on_every_side() {
    let dir = temp("ytd");
    let mut m = monitor(&dir);
    let now = at("2022-06-14T12:00:00+07:00");
    apply(
        &mut m,
        &[
            ("a1", "2022-01-10T00:00:00+07:00", "phishing"),
            ("a2", "2022-06-10T00:00:00+07:00", "phishing"),
            ("a3", "2022-06-20T00:00:00+07:00", "phishing"),
            // Previous period: July-December 2021, December to the 14th.
            ("p1", "2021-07-01T00:00:00+07:00", "phishing"),
            ("p2", "2021-12-14T11:59:00+07:00", "phishing"),
            ("p3", "2021-12-14T12:00:00+07:00", "phishing"),
            // Same period last year: January-June 2021, June to the 14th.
            ("l1", "2021-06-14T11:00:00+07:00", "phishing"),
            ("l2", "2021-06-20T00:00:00+07:00", "phishing"),
        ],
        now + 30 * 86_400_000,
    );
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, "2022-06".parse().unwrap(), now);
    let y = &r.year_to_date;
    assert_eq!(y.basis, "to_date");
    assert_eq!(y.total, 2, "a1, a2");
    assert_eq!(y.previous_period.total, 2, "p1, p2");
    assert_eq!(y.same_period_last_year.total, 1, "l1");
    // The gauges' view at the same instant says the same (spec §6
    // `incident_monitor_incidents_year_to_date`).
    let v = m.view(now).month.unwrap();
    let phishing = m
        .merged_ledger()
        .categories()
        .iter()
        .position(|c| c == "phishing")
        .unwrap();
    let [ytd, before, last_year] = &v.year_to_date;
    assert_eq!(
        (ytd[phishing], before[phishing], last_year[phishing]),
        (2, 2, 1)
    );
    assert_eq!(
        [ytd, before, last_year].map(|x| x.iter().sum::<u64>()),
        [
            y.total,
            y.previous_period.total,
            y.same_period_last_year.total
        ]
    );
    assert_eq!(
        y.previous_period.through.as_deref(),
        Some("2021-12-14T12:00:00+07:00")
    );
    assert_eq!(
        y.same_period_last_year.through.as_deref(),
        Some("2021-06-14T12:00:00+07:00")
    );
    let who = Config::default().report;
    let en = incident_monitor::report::sentence(&r, incident_monitor::report::Lang::En, &who);
    assert!(
        en.contains("From 1 January to 14 June 2022 (year to date)"),
        "{en}"
    );
    assert!(en.contains("(1 July to 14 December 2021)"), "{en}");
    assert!(
        en.contains("the same period of 2021 (1 January to 14 June 2021)"),
        "{en}"
    );
    assert!(!en.contains("whole of"), "{en}");
    let vi = incident_monitor::report::sentence(&r, incident_monitor::report::Lang::Vi, &who);
    assert!(
        vi.contains("từ ngày 1/1 đến ngày 14/6/2022 (lũy kế từ đầu năm đến nay)"),
        "{vi}"
    );
    // December running: never "the whole of 2022".
    let dec = at("2022-12-05T08:00:00+07:00");
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, "2022-12".parse().unwrap(), dec);
    let en = incident_monitor::report::sentence(&r, incident_monitor::report::Lang::En, &who);
    assert!(!en.contains("whole of"), "{en}");
    assert!(
        en.contains("From 1 January to 5 December 2022 (year to date)"),
        "{en}"
    );
    // Closed: whole months.
    let r = MonthlyReport::build(&m.merged_ledger(), TZ, "2022-06".parse().unwrap(), dec);
    assert_eq!(r.year_to_date.basis, "closed");
    assert_eq!(r.year_to_date.total, 3);
    assert_eq!(r.year_to_date.previous_period.total, 3);
    assert_eq!(r.year_to_date.same_period_last_year.total, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
