//! Command-line behaviour: one clear line per error, exit status 2 for usage
//! and configuration errors, 1 for runtime failures.

mod common;

use common::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn config_errors_exit_2_and_name_the_problem() {
    let dir = TempDir::new("cli");
    let bad_key = dir.path("bad-key.toml");
    std::fs::write(&bad_key, "[dedup]\nhorizon_dayz = 3\n").unwrap();
    let out = fails(bin().args(["check-config", "--config", bad_key.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("horizon_dayz") && err.contains("line 2"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = fails(bin().args(["run", "--input", "-", "--timezone", "Mars/Olympus"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("Mars/Olympus"));

    let out = fails(bin().args([
        "check-config",
        "--config",
        dir.path("missing.toml").to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("missing.toml"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["report", "--month", "2022-13"][..],
        &["report", "--month", "2022-06", "--lang", "fr"],
        &["report", "--month", "2022-06", "--format", "pdf"],
        &["generate", "--scenario", "nope"],
        &["generate", "--scenario", "ncsc-2022", "--count", "5"],
        &["generate", "--scenario", "live", "--rate", "0"],
        &["frobnicate"],
    ] {
        let out = fails(bin().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
    }
}

#[test]
fn runtime_errors_exit_1() {
    let dir = TempDir::new("cli-rt");
    let out = fails(bin().args([
        "report",
        "--month",
        "2022-06",
        "--state-dir",
        dir.path("empty").to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no state in"),
        "{}",
        stderr_of(&out)
    );

    let out = fails(bin().args([
        "run",
        "--input",
        dir.path("nope.jsonl").to_str().unwrap(),
        "--state-dir",
        dir.path("s").to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("nope.jsonl"),
        "{}",
        stderr_of(&out)
    );

    // A corrupt checkpoint is reported, never silently replaced.
    let state = dir.path("corrupt");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("input-0.state"), b"IMSTATE\0garbage-garbage").unwrap();
    let out = run_stdin(b"", &["--state-dir", state.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("input-0.state"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn check_config_accepts_the_shipped_files() {
    for f in ["config/incident-monitor.toml", "config/ncsc-vietnam.toml"] {
        let out = ok(bin().args(["check-config", "--config", repo(f).to_str().unwrap()]));
        assert!(out.starts_with("config OK"), "{out}");
    }
    assert!(ok(bin().arg("check-config")).contains("built-in defaults"));
}

#[test]
fn two_runs_cannot_share_a_state_dir() {
    let dir = TempDir::new("lock");
    let state = dir.path("state");
    let mut first = bin()
        .args([
            "run",
            "--input",
            "-",
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first run holds the lock (it writes its metadata then).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !state.join("monitor.json").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = run_stdin(b"", &["--state-dir", state.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("in use by another"),
        "{}",
        stderr_of(&out)
    );
    drop(first.stdin.take());
    assert!(first.wait().unwrap().success());
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = TempDir::new("json-logs");
    let out = bin()
        .env("RUST_LOG", "info")
        .args([
            "--log-format",
            "json",
            "run",
            "--input",
            "-",
            "--state-dir",
            dir.path("s").to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.trim().is_empty());
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn a_state_topic_is_refused_where_it_cannot_work() {
    let dir = TempDir::new("cli-topic");
    for (args, says) in [
        (
            vec!["run", "--input", "-", "--state-topic", "im-state"],
            "Kafka runs",
        ),
        (vec!["run", "--state-topic", "incidents"], "input topic"),
        (
            vec!["run", "--state-topic", "a/b"],
            "not a Kafka topic name",
        ),
        (
            vec!["run", "--state-topic", "s", "--state-dir", "d"],
            "cannot be used with",
        ),
        (
            vec!["report", "--month", "2022-06", "--brokers", "localhost:1"],
            "--state-topic",
        ),
    ] {
        let out = fails(bin().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr_of(&out);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let cfg = dir.path("bad.toml");
    std::fs::write(&cfg, "[state]\ntopic = \"incidents\"\n").unwrap();
    let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("state.topic"));
}

/// `check-config` names every input; `--format` alone cannot say which of
/// several inputs it is for (exit 2, naming `--topic`); a file run with
/// `[[inputs]]` configured reads its own format.
#[test]
fn several_inputs_are_checked_and_flags_name_one() {
    let dir = TempDir::new("inputs");
    let cfg = dir.path("inputs.toml");
    std::fs::write(
        &cfg,
        "[[inputs]]\nname = \"ids\"\ntopic = \"suricata-alerts\"\nformat = \"suricata-eve\"\n\n\
         [[inputs]]\ntopic = \"wazuh-alerts\"\nformat = \"wazuh\"\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let out = ok(bin().args(["check-config", "--config", cfg]));
    assert!(
        out.contains(
            "inputs [ids (suricata-alerts, suricata-eve), wazuh-alerts (wazuh-alerts, wazuh)]"
        ),
        "{out}"
    );
    let out = fails(bin().args([
        "run",
        "--config",
        cfg,
        "--format",
        "ecs",
        "--brokers",
        "127.0.0.1:1",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("--topic") && err.contains("several"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let state = dir.path("state");
    run_stdin_ok(
        br#"{"id":"a","time":"2022-06-01T00:00:00Z","type":"phishing"}"#,
        &["--config", cfg, "--state-dir", state.to_str().unwrap()],
    );
    let (_, o) = state_of(&state);
    assert_eq!(o.accepted, 1);
}

/// Shell completions and the manual page come from the same command line
/// definition: every command and flag is in them, and the bash script is
/// valid bash.
#[test]
fn completions_and_manual_page_cover_every_command() {
    let bash = ok(bin().args(["completions", "bash"]));
    for word in [
        "run",
        "demo",
        "report",
        "publish",
        "generate",
        "check-config",
        "--period",
        "--province",
        "--sector",
        "--web-config",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    let dir = TempDir::new("completions");
    let script = dir.path("incident-monitor.bash");
    std::fs::write(&script, &bash).unwrap();
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{checked:?}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(ok(bin().args(["completions", shell])).contains("incident-monitor"));
    }
    let man = ok(bin().arg("manpage"));
    assert!(man.contains(".TH incident-monitor 1"), "{man}");
    for command in [
        "run",
        "demo",
        "report",
        "publish",
        "generate",
        "check\\-config",
    ] {
        assert!(man.contains(command), "the manual page lacks {command}");
    }
    let out = fails(bin().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}

/// README names every crate the binary depends on, and why.
#[test]
fn readme_names_every_dependency() {
    let cargo = std::fs::read_to_string(repo("Cargo.toml")).unwrap();
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let start = readme.find("**Crates.**").expect("a Crates paragraph");
    let end = readme[start..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + e);
    let crates = &readme[start..end];
    let deps = cargo
        .split("[dependencies]")
        .nth(1)
        .and_then(|d| d.split("\n[").next())
        .unwrap();
    let names: Vec<&str> = deps
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .filter_map(|l| l.split('=').next())
        .map(str::trim)
        .collect();
    assert!(names.len() > 20, "{names:?}");
    for name in names {
        assert!(
            crates.contains(name),
            "README's Crates paragraph does not name {name}"
        );
    }
}
