//! Monthly figures are exact: independent of arrival order, of duplicates,
//! and of where the UTC month boundary falls.

mod common;

use common::*;
use incident_monitor::calendar::Ledger;
use incident_monitor::config::Config;
use incident_monitor::count::Engine;
use incident_monitor::generate::ncsc_2022;
use incident_monitor::state::PartitionKey;
use proptest::prelude::*;

fn ledger_of(lines: &[String], tz: &str) -> Ledger {
    let cfg = Config {
        timezone: tz.to_owned(),
        ..Config::default()
    };
    let mut e = Engine::new(cfg.validate().unwrap());
    let mut st = e.new_partition(PartitionKey::input());
    for l in lines {
        e.apply(
            &mut st,
            l.as_bytes(),
            incident_monitor::clock::wall_now_ms(),
        );
    }
    st.ledger
}

/// Per month: total, by category, by severity, by sector.
fn summary(l: &Ledger) -> Vec<(String, u64, Vec<u64>, Vec<u64>)> {
    l.months()
        .map(|(m, c)| {
            let cats = (0..l.categories().len()).map(|i| c.category(i)).collect();
            (m.to_string(), c.total(), cats, c.by_sector.clone())
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any arrival order of the same messages gives the same monthly figures
    /// (every month, category, severity, sector and hour).
    #[test]
    fn permuting_arrival_order_never_changes_monthly_figures(
        start in 0usize..20_000,
        keys in proptest::collection::vec(any::<u64>(), 2500),
    ) {
        // The sensors' reports: an incident's sector, province and severity
        // are its first message's, and the centre's status updates carry
        // none, so an update arriving first would count it as `unknown`
        // (tests/lifecycle.rs permutes updates among themselves).
        let all: Vec<String> = ncsc_2022(7)
            .into_iter()
            .filter(|l| !l.contains("\"updated\""))
            .collect();
        let mut lines: Vec<String> = all[start..start + 2500].to_vec();
        // Add re-deliveries so duplicates are part of what gets permuted.
        lines.extend(lines[..300].to_vec());
        let reference = ledger_of(&lines, "Asia/Ho_Chi_Minh");
        let mut order: Vec<(u64, String)> = keys.iter().copied().cycle().zip(lines).collect();
        order.sort_by_key(|(k, _)| *k);
        let permuted: Vec<String> = order.into_iter().map(|(_, l)| l).collect();
        let got = ledger_of(&permuted, "Asia/Ho_Chi_Minh");
        // Compare whole ledgers; on failure show a readable per-month summary.
        prop_assert!(got == reference, "permuted {:?}\nreference {:?}", summary(&got), summary(&reference));
    }
}

#[test]
fn duplicates_never_count_twice_even_across_inputs() {
    let dir = TempDir::new("dups");
    let lines = generate(&["--scenario", "live", "--count", "5000", "--seed", "9"]);
    let a = dir.path("a.jsonl");
    let b = dir.path("b.jsonl");
    std::fs::write(&a, &lines).unwrap();
    std::fs::write(&b, &lines).unwrap();
    let state = dir.path("state");
    let run = |input: &std::path::Path| {
        ok(bin().args([
            "run",
            "--input",
            input.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ]));
    };
    run(&a);
    let (first, o1) = state_of(&state);
    // The same file again: resumes at its end, nothing new.
    run(&a);
    // The same incidents under another name: read from the start, all duplicates.
    run(&b);
    let (second, o2) = state_of(&state);
    assert_eq!(first.ledger, second.ledger);
    assert_eq!(o1.accepted, o2.accepted);
    // Every message of the second file, updates included, is a duplicate.
    assert_eq!(
        o2.duplicate,
        o1.duplicate + o1.accepted + o1.update + o1.duplicate
    );
}

fn one_incident_month(time: &str, tz: &str) -> String {
    let dir = TempDir::new("tz");
    let line = format!(r#"{{"id":"boundary","time":"{time}","type":"phishing"}}"#);
    let state = dir.path("state");
    let out = run_stdin(
        line.as_bytes(),
        &["--timezone", tz, "--state-dir", state.to_str().unwrap()],
    );
    assert!(out.status.success());
    let (merged, _) = state_of(&state);
    let months: Vec<String> = merged.ledger.months().map(|(m, _)| m.to_string()).collect();
    assert_eq!(months.len(), 1);
    months[0].clone()
}

#[test]
fn month_boundaries_follow_the_configured_timezone() {
    // 23:30 on 31 May in Hanoi, written in UTC.
    assert_eq!(
        one_incident_month("2022-05-31T16:30:00Z", "Asia/Ho_Chi_Minh"),
        "2022-05"
    );
    // 00:30 on 1 June in Hanoi is 31 May in UTC: June there, May in UTC.
    assert_eq!(
        one_incident_month("2022-05-31T17:30:00Z", "Asia/Ho_Chi_Minh"),
        "2022-06"
    );
    assert_eq!(one_incident_month("2022-05-31T17:30:00Z", "UTC"), "2022-05");
    // 23:30 on 30 June UTC is already July in Hanoi.
    assert_eq!(
        one_incident_month("2022-06-30T23:30:00Z", "Asia/Ho_Chi_Minh"),
        "2022-07"
    );
    assert_eq!(one_incident_month("2022-06-30T23:30:00Z", "UTC"), "2022-06");
    // Written with the local offset, the same instants land the same way.
    assert_eq!(
        one_incident_month("2022-06-01T00:30:00+07:00", "Asia/Ho_Chi_Minh"),
        "2022-06"
    );
    assert_eq!(
        one_incident_month("2022-06-01T00:30:00+07:00", "UTC"),
        "2022-05"
    );
}
