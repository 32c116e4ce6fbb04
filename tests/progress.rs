//! Long runs show their progress (issue 17): `progress` log events when
//! stderr is not a terminal, a line redrawn in place on a terminal, nothing
//! with `--quiet`.

mod common;

use common::*;

/// A generated file large enough for a run of a few seconds.
fn big_file(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path("big.jsonl");
    let lines = generate(&["--scenario", "live", "--count", "300000", "--seed", "17"]);
    std::fs::write(&path, lines).unwrap();
    path
}

fn run_file(file: &std::path::Path, state: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec![
        "--log-format",
        "json",
        "run",
        "--input",
        file.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok_log(bin().args(&args))
}

#[test]
fn a_file_run_logs_progress_that_agrees_with_its_totals() {
    let dir = TempDir::new("progress-file");
    let file = big_file(&dir);
    let log = run_file(&file, &dir.path("a"), &["--progress-interval", "0.2"]);
    let events = progress_events(&log);
    let finished = finished_event(&log);
    assert_progress_agrees(&events, &finished);
    let percents: Vec<f64> = events
        .iter()
        .map(|e| e["percent"].as_f64().unwrap())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert_eq!(*percents.last().unwrap(), 100.0);
    assert!(
        events.iter().all(|e| e["events_per_sec"].is_u64()),
        "{events:?}"
    );
    assert!(events[0]["eta_secs"].is_u64(), "{:?}", events[0]);
    let (_, o) = state_of(&dir.path("a"));
    assert_eq!(events.last().unwrap()["accepted"], o.accepted);

    // Silenced: --quiet, or an interval of 0; none for a run shorter than
    // the interval (the default 10 s).
    for extra in [&["--quiet"][..], &["--progress-interval", "0"]] {
        let state = dir.path(&format!("q{}", extra.len()));
        let log = run_file(&file, &state, extra);
        assert!(progress_events(&log).is_empty(), "{extra:?}");
    }
    let small = dir.path("small.jsonl");
    std::fs::write(&small, generate(&["--scenario", "live", "--count", "100"])).unwrap();
    assert!(progress_events(&run_file(&small, &dir.path("s"), &[])).is_empty());
}

#[test]
fn human_logs_carry_the_same_progress_fields() {
    let dir = TempDir::new("progress-human");
    let file = big_file(&dir);
    let log = ok_log(bin().args([
        "run",
        "--input",
        file.to_str().unwrap(),
        "--state-dir",
        dir.path("s").to_str().unwrap(),
        "--progress-interval",
        "0.2",
    ]));
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" progress ")).collect();
    assert!(lines.len() >= 2, "{log}");
    for field in ["events=", "events_per_sec=", "eta_secs=", "percent="] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
}

#[test]
fn a_bad_progress_interval_is_a_usage_error() {
    for v in ["-1", "nan", "1e9", "1e-12", "0.05"] {
        let flag = format!("--progress-interval={v}");
        let out = fails(
            bin()
                .args(["run", "--input", "-", &flag])
                .stdin(std::process::Stdio::null()),
        );
        assert_eq!(out.status.code(), Some(2), "{v}");
    }
}

/// Under a pseudo-terminal (util-linux `script`), the progress line is
/// redrawn in place (carriage return, erase line) and erased at the end,
/// and no progress log event is printed.
#[test]
fn on_a_terminal_one_line_is_redrawn_in_place_and_cleared() {
    let dir = TempDir::new("progress-tty");
    let file = big_file(&dir);
    let cmd = format!(
        "{} run --input {} --state-dir {}",
        bin().get_program().to_str().unwrap(),
        file.display(),
        dir.path("s").display()
    );
    let out = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("RUST_LOG", "info")
        .output()
        .expect("util-linux script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    let redraw = "\r\x1b[2Krun --input ";
    let frames = screen.matches(redraw).count();
    assert!(frames >= 2, "{frames} frames in {screen:?}");
    let last = screen.rfind(redraw).unwrap();
    let tail = &screen[last + redraw.len()..];
    // The last frame is erased before the closing line.
    let cleared = tail
        .find("\r\x1b[2K")
        .expect("the line is erased at the end");
    assert!(tail[cleared..].contains("run finished"), "{tail:?}");
    assert!(
        !screen.contains(" progress "),
        "no log events on a terminal"
    );
    // Bytes of the file, percent, rate and counts on the line.
    let frame = &screen[last..];
    assert!(
        frame.contains(" MB (") && frame.contains("%) · "),
        "{frame:?}"
    );
}
