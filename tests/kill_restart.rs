//! A run killed with SIGKILL in the middle of a large input and restarted
//! ends with exactly the figures of an uninterrupted run.

mod common;

use std::time::{Duration, Instant};

use common::*;
use incident_monitor::state::{PartitionKey, StateStore};

const LINES: &str = "600000";

fn config(dir: &TempDir) -> std::path::PathBuf {
    let p = dir.path("fast-checkpoints.toml");
    std::fs::write(&p, "[state]\ncheckpoint_interval_ms = 20\n").unwrap();
    p
}

/// Waits until the state file shows progress past `min_records`, or the
/// process exits.
fn wait_for_checkpoint(
    state: &std::path::Path,
    min_records: u64,
    child: &mut std::process::Child,
) -> Option<u64> {
    let store = StateStore::new(state);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(Some(s)) = store.load(&PartitionKey::input())
            && s.position.records > min_records
        {
            return Some(s.position.records);
        }
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn sigkill_mid_run_then_restart_gives_the_uninterrupted_figures() {
    let dir = TempDir::new("kill");
    let cfg = config(&dir);
    let input = dir.path("input.jsonl");
    std::fs::write(
        &input,
        generate(&["--scenario", "live", "--count", LINES, "--seed", "42"]),
    )
    .unwrap();
    let total_lines: u64 = LINES.parse().unwrap();

    let run = |state: &std::path::Path| {
        bin()
            .args([
                "run",
                "--config",
                cfg.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
            ])
            .args(["--state-dir", state.to_str().unwrap()])
            .spawn()
            .unwrap()
    };
    let reference = dir.path("reference");
    assert!(run(&reference).wait().unwrap().success());

    let killed = dir.path("killed");
    // Kill twice, each time after a checkpoint showed progress, then finish.
    let mut last = 0;
    for _ in 0..2 {
        let mut child = run(&killed);
        let at = wait_for_checkpoint(&killed, last, &mut child);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let at = at.expect("the run finished before it could be killed; make the input larger");
        assert!(
            at < total_lines,
            "killed at {at} of {total_lines}: not mid-run"
        );
        last = at;
    }
    assert!(run(&killed).wait().unwrap().success());

    let (want, want_o) = state_of(&reference);
    let (got, got_o) = state_of(&killed);
    assert_eq!(
        got.ledger, want.ledger,
        "monthly figures differ after kill/restart"
    );
    assert_eq!(got_o, want_o, "outcome counters differ after kill/restart");
    assert_eq!(want_o.total(), total_lines);
}
