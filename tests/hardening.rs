//! What an outsider gets (issue 30), through the real binary: no secret in
//! any message, client CAs that nothing uses refused, the state directory
//! private and only this program's temporary files cleaned, a lock file
//! that follows no link, and memory that does not grow with the calendar.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Issue 30, 2: librdkafka quotes the value of a property it refuses, and
/// the YAML parser the value of a field it cannot read; neither reaches a
/// message.
#[test]
fn no_secret_appears_in_any_error() {
    let dir = TempDir::new("secrets");
    // The documented variable, in a build without OAuth support: refused,
    // without the secret.
    let out = fails(bin().args(["check-config"]).env(
        "INCIDENT_MONITOR_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET",
        "oauth-s3cret-9f2",
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !stderr_of(&out).contains("oauth-s3cret-9f2"),
        "{}",
        stderr_of(&out)
    );
    // The same from a file, and under a misspelled key.
    let secret = dir.path("secret");
    std::fs::write(&secret, "file-s3cret-77a\n").unwrap();
    for props in [
        format!(
            "\"sasl.oauthbearer.client.secret_file\" = \"{}\"\n",
            secret.display()
        ),
        "\"sasl.passwrd\" = \"typo-s3cret-31c\"\n".to_owned(),
        "\"ssl.key.passphrase\" = \"phrase-s3cret-5d\"\n".to_owned(),
    ] {
        let cfg = dir.path("c.toml");
        std::fs::write(&cfg, format!("[kafka.properties]\n{props}")).unwrap();
        let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(2), "{props}");
        let err = stderr_of(&out);
        for s in ["file-s3cret-77a", "typo-s3cret-31c", "phrase-s3cret-5d"] {
            assert!(!err.contains(s), "{props}: {err}");
        }
        assert!(err.contains("kafka.properties"), "{err}");
    }
    // A private key pasted where its file name belongs, and one pasted where
    // a section belongs: the key is not shown.
    let pem =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    for yaml in [
        format!(
            "tls_server_config:\n  cert_file: c.pem\n  key_file: |\n    {}\n",
            pem.replace('\n', "\n    ")
        ),
        format!("tls_server_config: \"{}\"\n", pem.replace('\n', " ")),
        "basic_auth_users:\n  bob: \"$2y$10$not-a-real-bcrypt-hash-at-all\"\n".to_owned(),
    ] {
        let web = dir.path("web.yml");
        std::fs::write(&web, &yaml).unwrap();
        let cfg = dir.path("w.toml");
        std::fs::write(
            &cfg,
            format!("[metrics]\nweb_config = \"{}\"\n", web.display()),
        )
        .unwrap();
        let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let err = stderr_of(&out);
        assert!(!err.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{err}");
        assert!(!err.contains("not-a-real-bcrypt-hash"), "{err}");
    }
}

/// Issue 30, 6: a client CA without `client_auth_type` left the endpoint
/// open to any client; it is refused, as the exporter toolkit refuses it.
#[test]
fn a_client_ca_that_nothing_uses_is_refused() {
    let dir = TempDir::new("ca");
    let certs = dir.path("certs");
    let made = std::process::Command::new(repo("scripts/make-certs.sh"))
        .arg(&certs)
        .status()
        .unwrap();
    assert!(made.success(), "scripts/make-certs.sh failed");
    let web = dir.path("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {0}/server.pem\n  key_file: {0}/server.key\n  client_ca_file: {0}/ca.pem\n",
            certs.display()
        ),
    )
    .unwrap();
    let cfg = dir.path("w.toml");
    std::fs::write(
        &cfg,
        format!("[metrics]\nweb_config = \"{}\"\n", web.display()),
    )
    .unwrap();
    let out = fails(bin().args(["check-config", "--config", cfg.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("client_auth_type"),
        "{}",
        stderr_of(&out)
    );
}

/// Issue 30, 9 and 10: the state directory is the owner's (0700, files
/// 0600); only this program's stale temporary files are removed; the lock
/// file follows no symbolic link.
#[test]
fn the_state_directory_is_private_and_others_files_are_left_alone() {
    let dir = TempDir::new("statedir");
    let state = dir.path("state");
    let input = dir.path("in.jsonl");
    std::fs::write(
        &input,
        r#"{"id":"a","time":"2022-06-01T00:00:00Z","type":"ddos"}"#.to_owned() + "\n",
    )
    .unwrap();
    let run = |state: &std::path::Path| {
        bin()
            .args([
                "run",
                "--input",
                input.to_str().unwrap(),
                "--state-dir",
                state.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let out = run(&state);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    for e in std::fs::read_dir(&state).unwrap().flatten() {
        assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
    }
    // Somebody else's temporary file, two hours old, survives a run.
    let foreign = state.join("backup.tmp");
    std::fs::write(&foreign, b"not ours").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&foreign)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = run(&state);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(foreign.exists(), "a file that is not ours was removed");
    // A lock file planted as a link to another file: refused, not followed.
    let other = dir.path("victim");
    std::fs::write(&other, b"keep me").unwrap();
    let linked = dir.path("linked-state");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(&other, linked.join("LOCK")).unwrap();
    let out = run(&linked);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&other).unwrap(), b"keep me");
}

/// Peak resident memory of a finished command, in KiB (its own, from
/// `wait4`, which reaps it in place of `Child::wait`).
#[allow(clippy::zombie_processes)]
fn peak_kib(cmd: &mut std::process::Command) -> i64 {
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; `pid` is our child,
    // not yet waited for (std never waits on its own).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    assert_eq!(status, 0, "{cmd:?} failed");
    usage.ru_maxrss
}

/// Issue 30, 5: memory grows with the incidents, not with the calendar
/// span between them. One incident in each month from 1900 to 2026 costs
/// `run` and `report` about what as many incidents in one month cost (a
/// dense hourly array per month made it 27 MB and 50 MB more).
#[test]
fn far_apart_months_cost_what_their_incidents_cost() {
    let dir = TempDir::new("months");
    let cfg = dir.path("c.toml");
    std::fs::write(&cfg, "[events]\nearliest_time = \"1900-01-01\"\n").unwrap();
    let mut spread = String::new();
    let mut packed = String::new();
    let mut n = 0;
    for y in 1900..2026 {
        for m in 1..=12 {
            spread.push_str(&format!(
                "{{\"id\":\"s{n}\",\"time\":\"{y:04}-{m:02}-15T00:00:00Z\",\"type\":\"ddos\"}}\n"
            ));
            packed.push_str(&format!(
                "{{\"id\":\"p{n}\",\"time\":\"2022-06-15T00:{:02}:{:02}Z\",\"type\":\"ddos\"}}\n",
                (n / 60) % 60,
                n % 60
            ));
            n += 1;
        }
    }
    let mut peaks = Vec::new();
    for (name, text) in [("spread", &spread), ("packed", &packed)] {
        let file = dir.path(&format!("{name}.jsonl"));
        std::fs::write(&file, text).unwrap();
        let state = dir.path(name);
        let run = peak_kib(bin().args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--input",
            file.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ]));
        let report = peak_kib(bin().args([
            "report",
            "--month",
            "2022-06",
            "--format",
            "html",
            "--state-dir",
            state.to_str().unwrap(),
        ]));
        peaks.push((run, report));
    }
    let [(run_spread, report_spread), (run_packed, report_packed)] = peaks[..] else {
        unreachable!()
    };
    assert!(
        run_spread < run_packed + 8 * 1024,
        "run: {run_spread} KiB spread over 126 years, {run_packed} KiB in one month"
    );
    assert!(
        report_spread < report_packed + 8 * 1024,
        "report: {report_spread} KiB spread over 126 years, {report_packed} KiB in one month"
    );
}
