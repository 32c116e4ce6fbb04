//! A file that changes between runs, as files do (spec §4 "Delivery"): for
//! random files, any sequence of appends, in-place rewrites, truncations,
//! unfinished last lines and SIGKILLs of the real binary between and during
//! runs ends with the figures of one clean run over the file's final
//! content, plus what earlier versions held (dedup remembers it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use proptest::prelude::*;

/// An incident line; its id decides its month and type, so every version
/// of the file agrees on what an id is.
fn line(id: u32) -> String {
    const TYPES: [&str; 5] = ["phishing", "deface", "malware", "ddos", "intrusion"];
    format!(
        r#"{{"id":"f{id}","time":"2022-{:02}-{:02}T{:02}:{:02}:00Z","type":"{}","pad":"{}"}}"#,
        1 + id % 12,
        1 + id % 28,
        id % 24,
        id % 60,
        TYPES[(id / 7) as usize % 5],
        "x".repeat((id % 50) as usize)
    )
}

/// What a version of the file is made of.
#[derive(Debug, Clone)]
enum Part {
    Incident(u32),
    Blank,
    Garbage,
}

impl Part {
    fn text(&self) -> String {
        match self {
            Part::Incident(id) => line(*id),
            Part::Blank => String::new(),
            Part::Garbage => "not json at all".to_owned(),
        }
    }
}

/// One change to the file before a run.
#[derive(Debug, Clone)]
enum Change {
    /// Lines added at the end.
    Append(Vec<Part>),
    /// Lines inserted at a position (per mille of the lines), in place.
    Insert(u16, Vec<Part>),
    /// A line replaced by another, in place.
    Replace(u16, Part),
    /// Cut to its first lines (per mille), then lines added.
    Truncate(u16, Vec<Part>),
}

/// A run after a change: to its end, or killed after some milliseconds
/// (then run again to its end).
#[derive(Debug, Clone)]
struct Step {
    change: Change,
    /// The file ends with the first bytes (per mille) of one more line,
    /// without a line end: a writer still writing it.
    unfinished: Option<(u32, u16)>,
    kill_after_ms: Option<u64>,
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        20 => (0u32..3000).prop_map(Part::Incident),
        1 => Just(Part::Blank),
        1 => Just(Part::Garbage),
    ]
}

fn parts(max: usize) -> impl Strategy<Value = Vec<Part>> {
    proptest::collection::vec(part(), 1..max)
}

fn step() -> impl Strategy<Value = Step> {
    let change = prop_oneof![
        parts(400).prop_map(Change::Append),
        (0u16..1000, parts(200)).prop_map(|(at, p)| Change::Insert(at, p)),
        (0u16..1000, part()).prop_map(|(at, p)| Change::Replace(at, p)),
        (0u16..1000, parts(200)).prop_map(|(at, p)| Change::Truncate(at, p)),
    ];
    (
        change,
        proptest::option::of((0u32..3000, 1u16..999)),
        proptest::option::of(0u64..40),
    )
        .prop_map(|(change, unfinished, kill_after_ms)| Step {
            change,
            unfinished,
            kill_after_ms,
        })
}

fn at(per_mille: u16, len: usize) -> usize {
    len * usize::from(per_mille) / 1000
}

/// Month, category of every distinct incident in `ids`.
fn figures(ids: &BTreeSet<u32>) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for id in ids {
        let v: serde_json::Value = serde_json::from_str(&line(*id)).unwrap();
        let month = v["time"].as_str().unwrap()[..7].to_owned();
        let kind = v["type"].as_str().unwrap().to_owned();
        *out.entry((month, kind)).or_insert(0) += 1;
    }
    out
}

/// The state's months by category, as the report reads them.
fn state_figures(state: &std::path::Path) -> (BTreeMap<(String, String), u64>, u64) {
    let (merged, o) = state_of(state);
    let cats = merged.ledger.categories().to_vec();
    let mut out = BTreeMap::new();
    for (ym, m) in merged.ledger.months() {
        for (c, name) in cats.iter().enumerate() {
            let n = m.category(c);
            if n > 0 {
                out.insert((ym.to_string(), name.clone()), n);
            }
        }
    }
    (out, o.accepted)
}

fn run_cmd(
    file: &std::path::Path,
    state: &std::path::Path,
    cfg: &std::path::Path,
) -> std::process::Command {
    let mut c = bin();
    c.args([
        "--quiet",
        "run",
        "--input",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    c
}

fn check(initial: Vec<Part>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = TempDir::new("rewrites");
    let (file, state, cfg) = (dir.path("in.jsonl"), dir.path("state"), dir.path("c.toml"));
    std::fs::write(&cfg, "[state]\ncheckpoint_interval_ms = 10\n").unwrap();
    let mut lines = initial;
    let mut seen: BTreeSet<u32> = BTreeSet::new();
    let first = Step {
        change: Change::Append(Vec::new()),
        unfinished: None,
        kill_after_ms: Some(5),
    };
    for step in std::iter::once(first).chain(steps) {
        match step.change {
            Change::Append(p) => lines.extend(p),
            Change::Insert(w, p) => {
                let i = at(w, lines.len());
                lines.splice(i..i, p);
            }
            Change::Replace(w, p) => {
                if !lines.is_empty() {
                    let i = at(w, lines.len() - 1);
                    lines[i] = p;
                }
            }
            Change::Truncate(w, p) => {
                lines.truncate(at(w, lines.len()));
                lines.extend(p);
            }
        }
        let mut text: String = lines.iter().map(|p| p.text() + "\n").collect();
        if let Some((id, cut)) = step.unfinished {
            let l = line(id);
            text.push_str(&l[..at(cut, l.len()).clamp(1, l.len() - 1)]);
        }
        // Written in place: the same file, its bytes changed.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .unwrap();
        seen.extend(lines.iter().filter_map(|p| match p {
            Part::Incident(id) => Some(*id),
            _ => None,
        }));
        if let Some(ms) = step.kill_after_ms {
            let mut child = run_cmd(&file, &state, &cfg)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(ms));
            let _ = child.kill();
            child.wait().unwrap();
        }
        ok(&mut run_cmd(&file, &state, &cfg));
    }
    let (got, accepted) = state_figures(&state);
    prop_assert_eq!(&got, &figures(&seen));
    prop_assert_eq!(accepted, seen.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("FILE_REWRITE_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24),
        max_shrink_iters: 20,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_history_of_a_file_ends_with_the_figures_of_its_contents(
        initial in proptest::collection::vec(part(), 0..3000),
        steps in proptest::collection::vec(step(), 1..5),
    ) {
        check(initial, steps)?;
    }
}
