//! Incident updates (spec §4 "Updates", §7 "Lifecycle"): later messages of
//! a counted incident move it through recorded, warned and handled once,
//! with the time from detection, and a corrected type moves it between
//! categories of its month once; never counted again. Checked against a
//! brute-force model of the same stream, across restarts from checkpoints,
//! with the real binary across two runs, and for what is forgotten.

mod common;

use std::collections::BTreeMap;

use common::*;
use incident_monitor::calendar::{Ledger, MonthIndex, YearMonth};
use incident_monitor::config::Config;
use incident_monitor::count::Engine;
use incident_monitor::event::time::format_rfc3339;
use incident_monitor::lifecycle::Stage;
use incident_monitor::state::{PartitionKey, PartitionState, decode, encode};
use proptest::prelude::*;

const TZ: &str = "Asia/Ho_Chi_Minh";
/// 2026-11-01T00:00Z: the wall clock the streams arrive at.
const WALL: i64 = 1_793_491_200_000;
/// Detection times: within the 20 days before the wall clock.
const SPAN: i64 = 20 * 86_400_000;

/// The types the streams use, and the category each classifies to.
const TYPES: [(&str, &str); 4] = [
    ("phishing", "phishing"),
    ("Ransomware", "malware"),
    ("deface", "deface"),
    ("suspicious", "other"),
];
const STATUS: [(&str, Stage); 5] = [
    ("detected", Stage::Recorded),
    ("Confirmed", Stage::Warned),
    ("notified", Stage::Warned),
    ("resolved", Stage::Handled),
    ("CLOSED", Stage::Handled),
];

/// One message of a test stream.
#[derive(Debug, Clone)]
struct Msg {
    incident: usize,
    detected: i64,
    kind: usize,
    status: Option<usize>,
    /// `updated`, as an offset from detection (may be negative).
    updated: Option<i64>,
}

impl Msg {
    fn line(&self) -> String {
        let mut s = format!(
            r#"{{"id":"inc-{}","time":"{}","type":"{}""#,
            self.incident,
            format_rfc3339(self.detected, 7 * 3600),
            TYPES[self.kind].0
        );
        if let Some(st) = self.status {
            s.push_str(&format!(r#","status":"{}""#, STATUS[st].0));
        }
        if let Some(u) = self.updated {
            s.push_str(&format!(
                r#","updated":"{}""#,
                format_rfc3339(self.detected + u, 0)
            ));
        }
        s.push('}');
        s
    }

    fn stage(&self) -> Stage {
        self.status.map_or(Stage::Recorded, |s| STATUS[s].1)
    }
}

fn category_of(kind: usize) -> &'static str {
    TYPES[kind].1
}

/// What the model keeps of an incident.
struct Modelled {
    month: YearMonth,
    category: &'static str,
    first: &'static str,
    stage: Stage,
    type_stage: Stage,
    /// Seconds to warned and handled, when recorded.
    times: [Option<u64>; 2],
}

/// Per (month, category): incidents, warned, handled, and the times.
type Figures = BTreeMap<(String, String), (u64, u64, u64, Vec<u64>, Vec<u64>)>;

/// The spec's rules, written out plainly over a stream in arrival order
/// (`arrival[i]` the wall clock of message i).
fn model(msgs: &[Msg], arrival: &[i64]) -> Figures {
    let index = MonthIndex::new(jiff::tz::TimeZone::get(TZ).unwrap());
    let max = 366 * 86_400_000i64;
    let mut incidents: BTreeMap<usize, Modelled> = BTreeMap::new();
    for (m, &at) in msgs.iter().zip(arrival) {
        let cat = category_of(m.kind);
        let reach = |inc: &mut Modelled, stage: Stage| {
            // Every message carries its incident's detection time.
            let elapsed = m.updated.unwrap_or(at - m.detected);
            for (t, s) in Stage::TIMED.into_iter().enumerate() {
                if inc.stage < s && s <= stage {
                    inc.times[t] = (0..=max)
                        .contains(&elapsed)
                        .then_some((elapsed / 1000) as u64);
                }
            }
            inc.stage = inc.stage.max(stage);
        };
        match incidents.get_mut(&m.incident) {
            None => {
                let mut inc = Modelled {
                    month: index.slot_at(m.detected).unwrap().month,
                    category: cat,
                    first: cat,
                    stage: Stage::Recorded,
                    type_stage: m.stage(),
                    times: [None; 2],
                };
                reach(&mut inc, m.stage());
                incidents.insert(m.incident, inc);
            }
            Some(inc) => {
                reach(inc, m.stage());
                let first_again =
                    m.stage() == Stage::Recorded && m.updated.is_none() && cat == inc.first;
                if cat != inc.category && m.stage() >= inc.type_stage && !first_again {
                    inc.category = cat;
                    inc.type_stage = m.stage();
                }
            }
        }
    }
    let mut out = Figures::new();
    for inc in incidents.values() {
        let e = out
            .entry((inc.month.to_string(), inc.category.to_owned()))
            .or_default();
        e.0 += 1;
        if inc.stage >= Stage::Warned {
            e.1 += 1;
            e.3.extend(inc.times[0]);
        }
        if inc.stage >= Stage::Handled {
            e.2 += 1;
            e.4.extend(inc.times[1]);
        }
    }
    out
}

/// The same figures from a ledger, with hdrhistogram's reading of each
/// time as the times (compared within 1%).
/// Per (month, category): incidents, warned, handled, times to warned and
/// to handled recorded.
type Counted = BTreeMap<(String, String), (u64, u64, u64, u64, u64)>;

fn figures_of(l: &Ledger) -> Counted {
    let mut out = BTreeMap::new();
    for (m, counts) in l.months() {
        for (c, name) in l.categories().iter().enumerate() {
            let n = counts.category(c);
            let timed = |s: Stage| counts.stage_times(c, s).map_or(0, |t| t.count());
            let row = (
                n,
                counts.stage_count(c, Stage::Warned),
                counts.stage_count(c, Stage::Handled),
                timed(Stage::Warned),
                timed(Stage::Handled),
            );
            if row != (0, 0, 0, 0, 0) {
                out.insert((m.to_string(), name.clone()), row);
            }
        }
    }
    out
}

fn engine() -> Engine {
    let cfg = Config {
        timezone: TZ.to_owned(),
        ..Config::default()
    };
    Engine::new(cfg.validate().unwrap())
}

/// Applies a stream through the engine, checkpointing at `checkpoints`
/// and, at each of `crashes`, losing what was applied since the last
/// checkpoint and replaying it from there (what a kill and a restart do).
fn apply_with_crashes(
    msgs: &[Msg],
    arrival: &[i64],
    checkpoints: &[usize],
    crashes: &[usize],
) -> Ledger {
    let mut e = engine();
    let mut st = e.new_partition(PartitionKey::input());
    let mut saved: (Vec<u8>, usize) = (encode(&st, TZ, WALL), 0);
    let mut i = 0;
    let mut crashed = vec![false; msgs.len() + 1];
    while i < msgs.len() {
        if checkpoints.contains(&i) {
            saved = (encode(&st, TZ, arrival[i]), i);
        }
        if crashes.contains(&i) && !crashed[i] {
            crashed[i] = true;
            st = PartitionState::restore(decode(&saved.0).unwrap(), e.settings(), arrival[i])
                .unwrap();
            i = saved.1;
            continue;
        }
        e.apply(&mut st, msgs[i].line().as_bytes(), arrival[i]);
        i += 1;
    }
    st.ledger
}

/// A stream from drawn numbers: `n` incidents, each a first message and
/// up to three updates, shuffled among themselves (random update orders)
/// but each incident's first message first, plus re-deliveries.
fn stream(draws: &[(u16, u16, u16, u16, i32)], keys: &[u64]) -> (Vec<Msg>, Vec<i64>) {
    let mut msgs = Vec::new();
    for (i, &(a, b, c, d, off)) in draws.iter().enumerate() {
        let detected = WALL - SPAN + i64::from(a) * 60_000 + i64::from(b);
        let first = Msg {
            incident: i,
            detected,
            kind: usize::from(c) % TYPES.len(),
            status: (d % 3 == 0).then_some(usize::from(d / 3) % STATUS.len()),
            updated: (d % 5 == 0).then_some(i64::from(off) * 1000),
        };
        msgs.push((0u64, first.clone()));
        for k in 0..(usize::from(d) % 4) {
            let u = Msg {
                kind: (usize::from(c) + k + usize::from(b)) % TYPES.len(),
                status: Some((usize::from(d) + k * 7 + usize::from(a)) % STATUS.len()),
                // Mostly after detection; now and then before it.
                updated: (k != 2).then_some(i64::from(off) * 1000 + (k as i64) * 3_600_000),
                ..first.clone()
            };
            msgs.push((1 + keys[(i + k) % keys.len()] % 1000, u));
        }
    }
    // Updates of an incident in random order among everything after its
    // first message: sort by (first position, key) keeps firsts first.
    let mut order: Vec<(usize, u64, Msg)> = Vec::new();
    let mut pos = 0;
    for (k, m) in msgs {
        if k == 0 {
            pos += 1000;
        }
        order.push((pos, k, m));
    }
    order.sort_by_key(|(p, k, _)| (*p + (*k as usize) * 3, *k));
    let mut out: Vec<Msg> = order.into_iter().map(|(_, _, m)| m).collect();
    // Re-deliveries of some messages, later.
    let again: Vec<Msg> = out.iter().step_by(7).cloned().collect();
    out.extend(again);
    let arrival = (0..out.len()).map(|i| WALL + i as i64 * 1000).collect();
    (out, arrival)
}

fn close(got: u64, want: u64) -> bool {
    got.abs_diff(want) as f64 <= want as f64 * 0.01 + 1.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Stages, their counts and the number of times recorded, and each
    /// category's count per month, equal the brute-force model of the same
    /// stream, whatever the update orders, re-deliveries and crashes.
    #[test]
    fn stages_and_times_equal_a_brute_force_model(
        draws in proptest::collection::vec((0u16..20_000, 0u16..60_000, 0u16..16, 0u16..40, -100i32..200_000), 1..120),
        keys in proptest::collection::vec(any::<u64>(), 1..40),
        cuts in proptest::collection::vec(0usize..400, 0..6),
    ) {
        let (msgs, arrival) = stream(&draws, &keys);
        let want = model(&msgs, &arrival);
        let checkpoints: Vec<usize> = cuts.iter().step_by(2).copied().collect();
        let crashes: Vec<usize> = cuts.iter().skip(1).step_by(2).copied().collect();
        let ledger = apply_with_crashes(&msgs, &arrival, &checkpoints, &crashes);
        let got = figures_of(&ledger);
        let want_counts: BTreeMap<_, _> = want
            .iter()
            .map(|(k, v)| (k.clone(), (v.0, v.1, v.2, v.3.len() as u64, v.4.len() as u64)))
            .collect();
        prop_assert_eq!(&got, &want_counts);
        // The times, as hdrhistogram reads them: median and maximum within 1%.
        for ((month, cat), v) in &want {
            let m: YearMonth = month.parse().unwrap();
            let c = ledger.categories().iter().position(|n| n == cat).unwrap();
            let counts = ledger.month(m).unwrap();
            for (s, exact) in [(Stage::Warned, &v.3), (Stage::Handled, &v.4)] {
                let summary = counts.stage_times(c, s).and_then(|t| t.summary());
                if exact.is_empty() {
                    prop_assert!(summary.is_none());
                    continue;
                }
                let mut sorted = exact.clone();
                sorted.sort_unstable();
                let rank = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).max(1) - 1];
                let s = summary.unwrap();
                prop_assert!(close(s.median_secs, rank(0.5)), "{} against {}", s.median_secs, rank(0.5));
                prop_assert!(close(s.max_secs, *sorted.last().unwrap()));
            }
        }
    }
}

/// A corrected type moves the incident between categories of its month
/// once, and a re-delivered correction (or the first message again)
/// moves nothing; the total never changes.
#[test]
fn a_reclassification_counts_once_even_when_re_delivered() {
    let first = r#"{"id":"x-1","time":"2022-06-10T09:00:00+07:00","type":"suspicious","status":"detected"}"#;
    let correction = r#"{"id":"x-1","time":"2022-06-10T09:00:00+07:00","type":"phishing","status":"confirmed","updated":"2022-06-10T15:00:00+07:00"}"#;
    let handled = r#"{"id":"x-1","time":"2022-06-10T09:00:00+07:00","type":"phishing","status":"resolved","updated":"2022-06-11T09:00:00+07:00"}"#;
    let other = r#"{"id":"x-2","time":"2022-06-12T09:00:00+07:00","type":"suspicious"}"#;
    let lines = [
        first, other, correction, correction, first, handled, handled, correction,
    ]
    .join("\n");
    let dir = TempDir::new("reclass");
    let state = dir.path("state");
    run_stdin_ok(
        lines.as_bytes(),
        &["--state-dir", state.to_str().unwrap(), "--timezone", TZ],
    );
    let (_, o) = state_of(&state);
    assert_eq!((o.accepted, o.update, o.duplicate), (2, 2, 4), "{o:?}");
    let v: serde_json::Value =
        serde_json::from_str(&report_of(&state, "2022-06", "en", "json")).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["by_category"]["phishing"], 1);
    assert_eq!(v["by_category"]["other"], 1);
    let stages = &v["stages"];
    assert_eq!(stages["recorded"]["count"], 2);
    assert_eq!(stages["warned"]["count"], 1);
    assert_eq!(stages["handled"]["count"], 1);
    // Six hours to warned, a day to handled (within hdrhistogram's 1%).
    let secs = |s: &str| stages[s]["median_secs"].as_u64().unwrap();
    assert!(close(secs("warned"), 6 * 3600), "{stages}");
    assert!(close(secs("handled"), 86_400), "{stages}");
    let sentence = v["sentence"].as_str().unwrap();
    assert!(
        sentence.contains("of which 1 were warned and 1 handled; median time to handle 24 h"),
        "{sentence}"
    );
    let vi = report_of(&state, "2022-06", "vi", "text");
    assert!(
        vi.contains(
            "trong đó đã cảnh báo 1 và hướng dẫn xử lý 1 sự cố; thời gian xử lý trung vị 24 giờ"
        ),
        "{vi}"
    );
    assert!(vi.contains("Ghi nhận, cảnh báo và hướng dẫn xử lý"), "{vi}");
}

/// Updates arriving in a later run (after a restart) move the incidents
/// the first run counted, exactly as one run of the whole stream does; the
/// ncsc-2022 scenario's June has its published figures and its stages.
#[test]
fn updates_after_a_restart_give_the_figures_of_one_run() {
    let lines = ncsc_lines();
    let dir = TempDir::new("restart-updates");
    let one = dir.path("one");
    run_stdin_ok(
        lines.join("\n").as_bytes(),
        &["--state-dir", one.to_str().unwrap(), "--timezone", TZ],
    );
    // First messages in one run, everything else (updates, re-deliveries)
    // in the next: across a restart.
    let (firsts, rest) = split_first_messages(&lines);
    let two = dir.path("two");
    let a = dir.path("a.jsonl");
    let b = dir.path("b.jsonl");
    std::fs::write(&a, firsts.join("\n")).unwrap();
    std::fs::write(&b, rest.join("\n")).unwrap();
    for f in [&a, &b] {
        ok(bin().args([
            "run",
            "--input",
            f.to_str().unwrap(),
            "--until-end",
            "--quiet",
            "--timezone",
            TZ,
            "--state-dir",
            two.to_str().unwrap(),
        ]));
    }
    let json = |s: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&report_of(s, "2022-06", "en", "json")).unwrap()
    };
    let (v1, v2) = (json(&one), json(&two));
    assert_june_2022_figures(&v1);
    assert_eq!(v1["stages"], v2["stages"]);
    assert_eq!(v1["by_category"], v2["by_category"]);
    let warned = v1["stages"]["warned"]["count"].as_u64().unwrap();
    let handled = v1["stages"]["handled"]["count"].as_u64().unwrap();
    assert!(
        warned > 1000 && handled > 900 && handled < warned,
        "{}",
        v1["stages"]
    );
}

/// The ncsc-2022 scenario, as `generate` writes it.
fn ncsc_lines() -> Vec<String> {
    String::from_utf8(generate(&["--scenario", "ncsc-2022"]))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Each incident's first message, and every other line.
fn split_first_messages(lines: &[String]) -> (Vec<String>, Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    let (mut firsts, mut rest) = (Vec::new(), Vec::new());
    for l in lines {
        match incident_monitor::generate::incident_id(l) {
            Some(id) if seen.insert(id.to_owned()) => firsts.push(l.clone()),
            _ => rest.push(l.clone()),
        }
    }
    (firsts, rest)
}

/// With room for few incidents, the lifecycle forgets the oldest: a late
/// update of a forgotten incident is counted by reason (`forgotten`), is
/// not a new incident, and moves nothing; the forgotten are counted.
#[test]
fn a_late_update_of_a_forgotten_incident_is_counted_by_reason() {
    let cfg = Config::from_toml(&format!(
        "timezone = \"{TZ}\"\n[lifecycle]\nmax_per_partition = 100"
    ))
    .unwrap();
    let mut e = Engine::new(cfg.validate().unwrap());
    let mut st = e.new_partition(PartitionKey::input());
    for i in 0..300 {
        let l = format!(r#"{{"id":"f-{i}","time":"2022-06-10T09:00:00Z","type":"phishing"}}"#);
        e.apply(&mut st, l.as_bytes(), WALL + i);
    }
    let late = r#"{"id":"f-0","time":"2022-06-10T09:00:00Z","type":"deface","status":"resolved","updated":"2022-06-11T09:00:00Z"}"#;
    e.apply(&mut st, late.as_bytes(), WALL + 1000);
    assert!(
        st.lifecycle.forgotten() >= 200,
        "{}",
        st.lifecycle.forgotten()
    );
    assert!(st.lifecycle.len() <= 100);
    let o = &st.outcomes;
    assert_eq!((o.accepted, o.duplicate, o.update), (300, 1, 0));
    assert_eq!(
        o.lifecycle[incident_monitor::lifecycle::Note::Forgotten.index()],
        1
    );
    let june = st.ledger.month("2022-06".parse().unwrap()).unwrap();
    let phishing = st
        .ledger
        .categories()
        .iter()
        .position(|c| c == "phishing")
        .unwrap();
    assert_eq!(june.category(phishing), 300);
    assert_eq!(june.stage_count(phishing, Stage::Handled), 0);
}

/// Times that cannot be right are counted by reason and not recorded; the
/// stage still counts.
#[test]
fn negative_and_too_long_times_are_counted_not_recorded() {
    let mut e = engine();
    let mut st = e.new_partition(PartitionKey::input());
    let lines = [
        // Handled before it was detected.
        r#"{"id":"n-1","time":"2026-10-20T09:00:00Z","type":"phishing","status":"resolved","updated":"2026-10-20T08:00:00Z"}"#,
        // Warned two years later.
        r#"{"id":"n-2","time":"2022-06-10T09:00:00Z","type":"phishing"}"#,
        r#"{"id":"n-2","time":"2022-06-10T09:00:00Z","type":"phishing","status":"warned","updated":"2024-06-10T09:00:00Z"}"#,
        // Without `updated`: the arrival, years after detection.
        r#"{"id":"n-3","time":"2022-06-10T09:00:00Z","type":"phishing","status":"closed"}"#,
    ];
    for l in lines {
        e.apply(&mut st, l.as_bytes(), WALL);
    }
    use incident_monitor::lifecycle::Note;
    let o = &st.outcomes;
    assert_eq!(o.lifecycle[Note::NegativeTime.index()], 1);
    assert_eq!(o.lifecycle[Note::TooLong.index()], 2);
    let june = st.ledger.month("2022-06".parse().unwrap()).unwrap();
    assert_eq!(june.stage_count(0, Stage::Warned), 2);
    assert_eq!(june.stage_count(0, Stage::Handled), 1);
    assert!(june.stage_times(0, Stage::Warned).unwrap().is_empty());
}
