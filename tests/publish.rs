//! `publish` (spec §11) through the real binary: the archive of versions,
//! idempotence, restatements when late reports change a published month,
//! two runs at once, and delivery to a real SMTP server (aiosmtpd) and a
//! real HTTP server, retried until accepted and never sent twice.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

/// A configuration: the national example's, with `[publish]` and more.
fn config(dir: &TempDir, publish: &str) -> PathBuf {
    let base = std::fs::read_to_string(repo("config/ncsc-vietnam.toml")).unwrap();
    let path = dir.path("publish.toml");
    std::fs::write(&path, format!("{base}\n{publish}\n")).unwrap();
    path
}

/// The ncsc-2022 stream counted into `state`.
fn ncsc_into(state: &Path, cfg: &Path) {
    let input = generate(&["--scenario", "ncsc-2022"]);
    run_stdin_ok(
        &input,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
}

/// A directory with the ncsc-2022 stream counted into `state`, and a
/// configuration whose archive is `archive` (`[publish]` and `more`).
struct Counted {
    dir: TempDir,
    archive: PathBuf,
    cfg: PathBuf,
    state: PathBuf,
}

fn counted(tag: &str, more: &str) -> Counted {
    let dir = TempDir::new(tag);
    let archive = dir.path("archive");
    let cfg = config(
        &dir,
        &format!(
            "[publish]\narchive_dir = {:?}\n{more}",
            archive.to_str().unwrap()
        ),
    );
    let state = dir.path("state");
    ncsc_into(&state, &cfg);
    Counted {
        dir,
        archive,
        cfg,
        state,
    }
}

/// `n` more incidents of `kind` dated in May or June 2022, ids of their own.
fn late(state: &Path, cfg: &Path, tag: &str, day: &str, kind: &str, n: usize) {
    let lines: String = (0..n)
        .map(|i| {
            format!("{{\"id\":\"late-{tag}-{i}\",\"time\":\"{day}T00:00:30+07:00\",\"type\":\"{kind}\"}}\n")
        })
        .collect();
    run_stdin_ok(
        lines.as_bytes(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
}

fn publish(cfg: &Path, state: &Path, more: &[&str]) -> std::process::Output {
    bin()
        .args([
            "publish",
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .args(more)
        .output()
        .unwrap()
}

fn publish_ok(cfg: &Path, state: &Path, more: &[&str]) -> String {
    let out = publish(cfg, state, more);
    assert!(
        out.status.success(),
        "publish failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn manifest(archive: &Path, month: &str, version: u32) -> serde_json::Value {
    let p = archive
        .join(month)
        .join(format!("v{version}/manifest.json"));
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Every file under `dir` with its bytes, sorted by path.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "LOCK" {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn versions_of(archive: &Path, month: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(archive.join(month))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('v'))
        .collect();
    v.sort();
    v
}

#[test]
fn every_closed_month_once_then_nothing_then_a_restatement_in_words() {
    let Counted {
        dir: _dir,
        archive,
        cfg,
        state,
    } = counted("publish-archive", "");

    let said = publish_ok(&cfg, &state, &[]);
    assert!(
        said.contains("2022-06 v1 written (1178 incidents)"),
        "{said}"
    );
    let june = manifest(&archive, "2022-06", 1);
    assert_eq!(june["month"], "2022-06");
    assert_eq!(june["version"], 1);
    assert!(june["revises"].is_null());
    assert!(june.get("changes").is_none());
    assert_eq!(june["total"], 1178);
    assert_eq!(june["by_category"]["phishing"], 766);
    assert_eq!(june["by_category"]["deface"], 83);
    assert_eq!(june["by_category"]["malware"], 329);
    assert_eq!(june["no_incidents"], false);
    assert_eq!(june["timezone"], "Asia/Ho_Chi_Minh");
    assert_eq!(manifest(&archive, "2022-05", 1)["total"], 847);
    assert_eq!(manifest(&archive, "2022-07", 1)["total"], 983);
    // Every language and format, the figures in each.
    let files: Vec<String> = june["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    for lang in ["vi", "en"] {
        for ext in ["html", "json", "md", "txt"] {
            let name = format!("report.{lang}.{ext}");
            assert!(files.contains(&name), "{name} not in {files:?}");
            assert!(archive.join("2022-06/v1").join(&name).is_file());
        }
    }
    let vi = std::fs::read_to_string(archive.join("2022-06/v1/report.vi.txt")).unwrap();
    assert!(
        vi.contains("1.178") && vi.contains("tăng 39,08% so với tháng 5/2022"),
        "{vi}"
    );
    // After the stream's last month the state says nothing (it is a
    // backfill kept now): those months are not published as zero.
    assert!(!archive.join("2023-03").exists());
    // The running month is not published.
    let running = month_now(0);
    assert!(!archive.join(&running).exists(), "{running} is running");

    // Nothing changed: nothing written.
    let before = tree(&archive);
    let again = publish_ok(&cfg, &state, &[]);
    assert!(!again.contains("written"), "{again}");
    assert!(again.contains("unchanged"), "{again}");
    assert_eq!(
        tree(&archive),
        before,
        "a second publish changed the archive"
    );

    // Three late phishing reports of May: version 2 of May, revising 1,
    // with the differences; version 1 untouched.
    late(&state, &cfg, "may", "2022-05-20", "phishing", 3);
    let dry = publish_ok(&cfg, &state, &["--dry-run"]);
    assert!(dry.contains("2022-05 v2: would be written"), "{dry}");
    assert_eq!(tree(&archive), before, "--dry-run wrote");
    let said = publish_ok(&cfg, &state, &[]);
    assert!(
        said.contains("2022-05 v2 written (revises v1: total 847 -> 850"),
        "{said}"
    );
    assert_eq!(versions_of(&archive, "2022-05"), ["v1", "v2"]);
    assert_eq!(versions_of(&archive, "2022-06"), ["v1"]);
    let may = manifest(&archive, "2022-05", 2);
    assert_eq!(may["revises"], 1);
    assert_eq!(may["total"], 850);
    assert_eq!(may["changes"]["total"]["from"], 847);
    assert_eq!(may["changes"]["total"]["to"], 850);
    assert_eq!(may["changes"]["by_category"]["phishing"]["from"], 161);
    assert_eq!(may["changes"]["by_category"]["phishing"]["to"], 164);
    assert!(may["changes"]["by_category"].get("malware").is_none());
    for (path, bytes) in &before {
        assert_eq!(
            &std::fs::read(path).unwrap(),
            bytes,
            "{} changed",
            path.display()
        );
    }

    // The next report names the restatement, in each language and format.
    let cfg_s = cfg.to_str().unwrap();
    let en = report_with(&state, "2022-06", "en", "text", &["--config", cfg_s]);
    assert!(en.contains("May 2022 revised from 847 to 850."), "{en}");
    let vi = report_with(&state, "2022-06", "vi", "text", &["--config", cfg_s]);
    assert!(
        vi.contains("Số liệu tháng 5/2022 được điều chỉnh từ 847 lên 850."),
        "{vi}"
    );
    let md = report_with(&state, "2022-06", "vi", "markdown", &["--config", cfg_s]);
    assert!(md.contains("được điều chỉnh từ 847 lên 850"), "{md}");
    let html = report_with(&state, "2022-06", "en", "html", &["--config", cfg_s]);
    assert!(html.contains("May 2022 revised from 847 to 850."), "html");
    let json: serde_json::Value = serde_json::from_str(&report_with(
        &state,
        "2022-06",
        "en",
        "json",
        &["--config", cfg_s],
    ))
    .unwrap();
    let r = &json["restatements"][0];
    assert_eq!(r["month"], "2022-05");
    assert_eq!(r["version"], 2);
    assert_eq!(r["revises"], 1);
    assert_eq!(r["total"]["from"], 847);
    assert_eq!(r["total"]["to"], 850);
    assert_eq!(json["restatements"].as_array().unwrap().len(), 1);
    // Fewer incidents read "xuống" (down) in Vietnamese: none here, but a
    // month whose categories moved with the total kept says so.
    // A report of May itself names no restatement of May.
    let may_json: serde_json::Value = serde_json::from_str(&report_with(
        &state,
        "2022-05",
        "en",
        "json",
        &["--config", cfg_s],
    ))
    .unwrap();
    assert_eq!(may_json["restatements"], serde_json::json!([]));
}

#[test]
fn a_month_without_incidents_is_published_and_says_so() {
    let dir = TempDir::new("publish-quiet");
    let archive = dir.path("archive");
    let cfg = config(
        &dir,
        &format!("[publish]\narchive_dir = {:?}\n", archive.to_str().unwrap()),
    );
    let state = dir.path("state");
    late(&state, &cfg, "jan", "2022-01-10", "phishing", 4);
    late(&state, &cfg, "mar", "2022-03-10", "malware", 2);
    let said = publish_ok(&cfg, &state, &[]);
    assert!(said.contains("2022-02 v1 written (no incidents)"), "{said}");
    let feb = manifest(&archive, "2022-02", 1);
    assert_eq!(feb["total"], 0);
    assert_eq!(feb["no_incidents"], true);
    assert_eq!(feb["by_category"]["phishing"], 0);
    let en = std::fs::read_to_string(archive.join("2022-02/v1/report.en.txt")).unwrap();
    assert!(en.contains("recorded 0 cyber attacks"), "{en}");
    assert_eq!(manifest(&archive, "2022-01", 1)["total"], 4);
    assert_eq!(manifest(&archive, "2022-03", 1)["total"], 2);
    assert!(!archive.join("2021-12").exists() && !archive.join("2022-04").exists());
}

#[test]
fn two_publishes_at_once_never_write_one_version_twice() {
    let Counted {
        dir: _dir,
        archive,
        cfg,
        state,
    } = counted("publish-race", "");
    let spawn = || {
        bin()
            .args(["publish", "--config", cfg.to_str().unwrap(), "--state-dir"])
            .arg(&state)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    // One wins the archive; the other writes nothing, or says another
    // publish holds it (exit 1), or finds everything already written.
    for out in [&a, &b] {
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("another `publish` is running"), "{err}");
            assert_eq!(out.status.code(), Some(1));
        }
    }
    assert!(a.status.success() || b.status.success());
    for m in ["2021-12", "2022-05", "2022-06"] {
        assert_eq!(versions_of(&archive, m), ["v1"], "{m}");
    }
    // And whatever ran, a third finds nothing to do.
    let third = publish_ok(&cfg, &state, &[]);
    assert!(!third.contains("written"), "{third}");
}

#[test]
fn a_month_is_published_only_after_close_and_the_delay() {
    let dir = TempDir::new("publish-due");
    let archive = dir.path("archive");
    let (two_ago, last, running) = (month_now(-2), month_now(-1), month_now(0));
    let with_delay = |secs: u64| {
        config(
            &dir,
            &format!(
                "[publish]\narchive_dir = {:?}\nafter_close_secs = {secs}\n",
                archive.to_str().unwrap()
            ),
        )
    };
    let state = dir.path("state");
    let cfg = with_delay(31_622_400);
    late(&state, &cfg, "old", &format!("{two_ago}-10"), "phishing", 3);
    late(&state, &cfg, "new", &format!("{running}-01"), "malware", 1);
    // A delay of a year: both closed months are waiting, named with the
    // instant they become due; nothing is written.
    let said = publish_ok(&cfg, &state, &[]);
    for m in [&two_ago, &last] {
        assert!(
            said.contains(&format!("{m}: closed, to be published from")),
            "{said}"
        );
    }
    assert!(!said.contains("written"), "{said}");
    assert!(!archive.join(&two_ago).exists());
    // No delay: both closed months are published (last month without
    // incidents), the running month is not.
    let cfg = with_delay(0);
    let said = publish_ok(&cfg, &state, &[]);
    assert!(
        said.contains(&format!("{two_ago} v1 written (3 incidents)")),
        "{said}"
    );
    assert!(
        said.contains(&format!("{last} v1 written (no incidents)")),
        "{said}"
    );
    assert!(!archive.join(&running).exists());
    // A month that is not a closed month of the state is refused.
    let out = publish(&cfg, &state, &["--month", "2019-01"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--month 2019-01: not a closed month"), "{err}");
    let out = publish(&cfg, &state, &["--month", &running]);
    assert_eq!(out.status.code(), Some(2));
}

/// The month `delta` months from the running one in Asia/Ho_Chi_Minh
/// (UTC+7 all year), `YYYY-MM`, from the system clock via `date`.
fn month_now(delta: i32) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", "+7 hours", "+%Y %m"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|x| x.parse::<i32>().unwrap());
    let (y, m) = (it.next().unwrap(), it.next().unwrap());
    let months = y * 12 + (m - 1) + delta;
    format!(
        "{:04}-{:02}",
        months.div_euclid(12),
        months.rem_euclid(12) + 1
    )
}

/// A Python server of tests/servers/, started and ready.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(script: &str, args: &[&str]) -> Server {
        let python = std::env::var_os("TOOLS_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo(".tools/venv/bin/python"));
        let port = free_port();
        let mut child = Command::new(&python)
            .arg(repo(&format!("tests/servers/{script}")))
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run ./scripts/test.sh, which installs it",
                    python.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{script} did not start");
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A saved message, read by Python's own e-mail parser: subject, the
/// body's content type and text, the attachments' names.
fn parse_mail(path: &Path) -> serde_json::Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
body = m.get_body(('html', 'plain'))
print(json.dumps({
  'subject': m['subject'], 'from': m['from'], 'to': m['to'],
  'body_type': body.get_content_type(), 'body': body.get_content(),
  'attachments': [a.get_filename() for a in m.iter_attachments()],
}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs aiosmtpd (./scripts/test.sh installs it)"]
fn each_version_reaches_smtp_and_a_webhook_once_retried_until_accepted() {
    let dir = TempDir::new("publish-deliver");
    let certs = dir.path("certs");
    let made = Command::new(repo("scripts/make-certs.sh"))
        .arg(&certs)
        .status()
        .unwrap();
    assert!(made.success());
    let (cert, key, ca) = (
        certs.join("server.pem"),
        certs.join("server.key"),
        certs.join("ca.pem"),
    );
    let (mail, hooks) = (dir.path("mail"), dir.path("hooks"));
    std::fs::create_dir_all(&mail).unwrap();
    std::fs::create_dir_all(&hooks).unwrap();
    let password = "s3cret-Pa55-do-not-print";
    std::fs::write(dir.path("password"), format!("{password}\n")).unwrap();
    std::fs::write(dir.path("hook-secret"), "hook-key-0123456789\n").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    // Both refuse their first delivery (451, 503).
    let smtp = Server::start(
        "smtp_server.py",
        &[
            "--dir",
            &s(&mail),
            "--starttls",
            &s(&cert),
            &s(&key),
            "--require-starttls",
            "--auth",
            &format!("monitor:{password}"),
            "--refuse-first",
            "1",
        ],
    );
    let hook = Server::start(
        "webhook_server.py",
        &[
            "--dir",
            &s(&hooks),
            "--tls",
            &s(&cert),
            &s(&key),
            "--secret-file",
            &s(&dir.path("hook-secret")),
            "--refuse-first",
            "1",
        ],
    );
    let archive = dir.path("archive");
    let cfg = config(
        &dir,
        &format!(
            r#"[publish]
archive_dir = {archive:?}
langs = ["en", "vi"]

[[publish.email]]
name = "soc-mail"
smtp_url = "smtp://127.0.0.1:{sp}"
starttls = "required"
from = "monitor@example.org"
to = ["director@example.org", "analysts@example.org"]
username = "monitor"
password_file = {pw:?}
ca_file = {ca:?}

[[publish.webhook]]
name = "portal"
url = "https://127.0.0.1:{hp}/hooks/figures"
secret_file = {hs:?}
ca_file = {ca:?}
"#,
            archive = s(&archive),
            sp = smtp.port,
            hp = hook.port,
            pw = s(&dir.path("password")),
            hs = s(&dir.path("hook-secret")),
            ca = s(&ca),
        ),
    );
    let state = dir.path("state");
    ncsc_into(&state, &cfg);

    // First run: the version is written, both destinations refuse: named,
    // exit 1, nothing recorded as accepted.
    let first = publish(&cfg, &state, &["--month", "2022-06"]);
    let (out1, err1) = (
        String::from_utf8_lossy(&first.stdout).into_owned(),
        String::from_utf8_lossy(&first.stderr).into_owned(),
    );
    assert_eq!(first.status.code(), Some(1), "{out1}\n{err1}");
    assert!(out1.contains("2022-06 v1 -> soc-mail: FAILED"), "{out1}");
    assert!(
        out1.contains("2022-06 v1 -> portal: FAILED: HTTP 503"),
        "{out1}"
    );
    assert!(err1.contains("2 deliveries failed"), "{err1}");
    assert!(!archive.join("2022-06/deliveries.jsonl").exists());

    // Second run: both accept; recorded.
    let out2 = publish_ok(&cfg, &state, &["--month", "2022-06"]);
    assert!(
        out2.contains("2022-06 v1 -> soc-mail: accepted (250"),
        "{out2}"
    );
    assert!(
        out2.contains("2022-06 v1 -> portal: accepted (HTTP 202"),
        "{out2}"
    );
    let records = std::fs::read_to_string(archive.join("2022-06/deliveries.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 2, "{records}");

    let mails = files_with(&mail, "eml");
    assert_eq!(mails.len(), 1);
    let m = parse_mail(&mails[0]);
    assert_eq!(m["subject"], "Cyber incident report — June 2022");
    assert_eq!(m["body_type"], "text/html");
    assert!(m["body"].as_str().unwrap().contains("1,178"));
    let attached: Vec<&str> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for name in [
        "report.en.json",
        "report.en.md",
        "report.vi.html",
        "report.vi.txt",
        "manifest.json",
    ] {
        assert!(
            attached.contains(&name),
            "{name} not attached: {attached:?}"
        );
    }
    let rcpt = std::fs::read_to_string(mail.join("1.rcpt")).unwrap();
    assert!(rcpt.contains("director@example.org") && rcpt.contains("analysts@example.org"));

    let hooks_got = files_with(&hooks, "json");
    assert_eq!(hooks_got.len(), 1);
    let h: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&hooks_got[0]).unwrap()).unwrap();
    assert_eq!(h["path"], "/hooks/figures");
    assert_eq!(h["headers"]["idempotency-key"], "2022-06-v1");
    assert_eq!(h["headers"]["content-type"], "application/json");
    assert_eq!(h["signature_valid"], true, "{h}");
    let body = base64_decode(h["body_base64"].as_str().unwrap());
    assert_eq!(
        body,
        std::fs::read(archive.join("2022-06/v1/manifest.json")).unwrap()
    );

    // Third run: nothing new, nothing sent again.
    let out3 = publish_ok(&cfg, &state, &["--month", "2022-06"]);
    assert!(
        !out3.contains("accepted") && !out3.contains("written"),
        "{out3}"
    );
    assert_eq!(files_with(&mail, "eml").len(), 1);
    assert_eq!(files_with(&hooks, "json").len(), 1);

    // A late June report: version 2, delivered to both, once.
    late(&state, &cfg, "june", "2022-06-28", "malware", 2);
    let out4 = publish_ok(&cfg, &state, &["--month", "2022-06"]);
    assert!(
        out4.contains("2022-06 v2 written (revises v1: total 1178 -> 1180"),
        "{out4}"
    );
    assert!(out4.contains("2022-06 v2 -> soc-mail: accepted"), "{out4}");
    assert!(out4.contains("2022-06 v2 -> portal: accepted"), "{out4}");
    let mails = files_with(&mail, "eml");
    assert_eq!(mails.len(), 2);
    assert_eq!(
        parse_mail(&mails[1])["subject"],
        "Cyber incident report — June 2022 (revised, version 2)"
    );
    let hooks_got = files_with(&hooks, "json");
    assert_eq!(hooks_got.len(), 2);
    let h2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&hooks_got[1]).unwrap()).unwrap();
    assert_eq!(h2["headers"]["idempotency-key"], "2022-06-v2");
    let m2: serde_json::Value =
        serde_json::from_slice(&base64_decode(h2["body_base64"].as_str().unwrap())).unwrap();
    assert_eq!(m2["revises"], 1);
    assert_eq!(m2["changes"]["total"]["to"], 1180);

    // The password was never shown.
    for text in [&out1, &err1, &out2, &out3, &out4] {
        assert!(!text.contains(password));
    }
}

#[test]
#[ignore = "needs aiosmtpd (./scripts/test.sh installs it)"]
fn smtps_and_an_untrusted_server() {
    let dir = TempDir::new("publish-smtps");
    let certs = dir.path("certs");
    assert!(
        Command::new(repo("scripts/make-certs.sh"))
            .arg(&certs)
            .status()
            .unwrap()
            .success()
    );
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let mail = dir.path("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let smtp = Server::start(
        "smtp_server.py",
        &[
            "--dir",
            &s(&mail),
            "--implicit-tls",
            &s(&certs.join("server.pem")),
            &s(&certs.join("server.key")),
        ],
    );
    let archive = dir.path("archive");
    let cfg_with = |ca: &Path| {
        config(
            &dir,
            &format!(
                "[publish]\narchive_dir = {:?}\n\n[[publish.email]]\nname = \"tls\"\nsmtp_url = \"smtps://127.0.0.1:{}\"\nfrom = \"m@example.org\"\nto = [\"d@example.org\"]\nca_file = {:?}\n",
                s(&archive),
                smtp.port,
                s(ca)
            ),
        )
    };
    let state = dir.path("state");
    let cfg = cfg_with(&certs.join("other-ca.pem"));
    ncsc_into(&state, &cfg);
    // A server whose certificate the configured CA did not sign: refused.
    let out = publish(&cfg, &state, &["--month", "2022-06"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2022-06 v1 -> tls: FAILED"));
    assert!(files_with(&mail, "eml").is_empty());
    // The right CA: delivered over TLS from the first byte.
    let cfg = cfg_with(&certs.join("ca.pem"));
    let said = publish_ok(&cfg, &state, &["--month", "2022-06"]);
    assert!(said.contains("2022-06 v1 -> tls: accepted"), "{said}");
    assert_eq!(files_with(&mail, "eml").len(), 1);
    let m = parse_mail(&files_with(&mail, "eml")[0]);
    // langs default to vi, en: the body and the subject in Vietnamese.
    assert_eq!(
        m["subject"],
        "Báo cáo sự cố an toàn thông tin mạng — tháng 6/2022"
    );
    assert!(m["body"].as_str().unwrap().contains("1.178"));
}

#[test]
#[ignore = "needs aiosmtpd (./scripts/test.sh installs it)"]
fn starttls_required_refuses_a_server_without_it_and_opportunistic_sends() {
    let dir = TempDir::new("publish-plain");
    let mail = dir.path("mail");
    std::fs::create_dir_all(&mail).unwrap();
    // A server on a trusted network that offers no TLS at all.
    let smtp = Server::start("smtp_server.py", &["--dir", mail.to_str().unwrap()]);
    let archive = dir.path("archive");
    let cfg_with = |starttls: &str| {
        config(
            &dir,
            &format!(
                "[publish]\narchive_dir = {:?}\n\n[[publish.email]]\nname = \"relay\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\nstarttls = \"{starttls}\"\nfrom = \"m@example.org\"\nto = [\"d@example.org\"]\n",
                archive.to_str().unwrap(),
                smtp.port
            ),
        )
    };
    let state = dir.path("state");
    let cfg = cfg_with("required");
    late(&state, &cfg, "jan", "2022-01-10", "phishing", 1);
    late(&state, &cfg, "feb", "2022-02-10", "phishing", 1);
    let out = publish(&cfg, &state, &[]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2022-01 v1 -> relay: FAILED"), "{said}");
    assert!(files_with(&mail, "eml").is_empty(), "sent without STARTTLS");
    // Opportunistic: the server offers none, so it is sent in the clear,
    // both months, each once.
    let cfg = cfg_with("opportunistic");
    let said = publish_ok(&cfg, &state, &[]);
    assert!(said.contains("2022-01 v1 -> relay: accepted"), "{said}");
    assert!(said.contains("2022-02 v1 -> relay: accepted"), "{said}");
    assert_eq!(files_with(&mail, "eml").len(), 2);
    publish_ok(&cfg, &state, &[]);
    assert_eq!(files_with(&mail, "eml").len(), 2);
}

fn base64_decode(s: &str) -> Vec<u8> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import base64,sys; sys.stdout.buffer.write(base64.b64decode(sys.argv[1]))",
            s,
        ])
        .output()
        .unwrap();
    out.stdout
}

#[test]
fn the_running_monitor_says_when_the_archive_is_behind() {
    let Counted {
        dir: _dir,
        cfg,
        state,
        ..
    } = counted("publish-pending", "");
    let pending = |addr: &str, reason: &str| {
        sample(
            &http_get(addr, "/metrics").1,
            &format!("incident_monitor_publish_pending{{reason=\"{reason}\"}}"),
        )
    };
    // No archive yet: nothing to compare with, 0.
    {
        let (_run, addr, _stdin) = Running::stdin_run(&cfg, &state, &[]);
        wait_until(30, "publish_pending", || {
            pending(&addr, "unpublished").is_some()
        });
        assert_eq!(pending(&addr, "unpublished"), Some(0.0));
    }
    publish_ok(&cfg, &state, &[]);
    late(&state, &cfg, "may", "2022-05-21", "deface", 2);
    // The archive has every month; May changed since.
    let (_run, addr, _stdin) = Running::stdin_run(&cfg, &state, &[]);
    wait_until(30, "publish_pending changed", || {
        pending(&addr, "changed") == Some(1.0)
    });
    assert_eq!(pending(&addr, "unpublished"), Some(0.0));
    // /report of June names nothing yet (May's revision is not published),
    // and once it is, names it.
    let (_, page) = http_get(&addr, "/report?month=2022-06&lang=en&format=json");
    let v: serde_json::Value = serde_json::from_str(&page).unwrap();
    assert_eq!(v["restatements"], serde_json::json!([]));
    publish_ok(&cfg, &state, &[]);
    let (_, page) = http_get(&addr, "/report?month=2022-06&lang=vi&format=markdown");
    assert!(
        page.contains("Số liệu tháng 5/2022 được điều chỉnh từ 847 lên 849"),
        "{page}"
    );
}

/// Every version in the archive is whole: its manifest parses, names its
/// month and version, and every file it lists is there.
fn assert_whole(archive: &Path) {
    for month in std::fs::read_dir(archive)
        .unwrap()
        .map(|e| e.unwrap().path())
    {
        if !month.is_dir() {
            continue;
        }
        for v in std::fs::read_dir(&month)
            .unwrap()
            .map(|e| e.unwrap().path())
        {
            let name = v.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with('v') {
                continue;
            }
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(v.join("manifest.json")).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", v.display()));
            assert_eq!(format!("v{}", m["version"]), name);
            for f in m["files"].as_array().unwrap() {
                let f = v.join(f.as_str().unwrap());
                assert!(f.is_file(), "{} is missing", f.display());
            }
        }
    }
}

#[test]
fn a_publish_killed_while_writing_leaves_no_half_version_and_the_next_completes_it() {
    let Counted {
        dir: _dir,
        archive,
        cfg,
        state,
    } = counted("publish-kill", "");
    // Kill a first publish at several moments of its writing, on a fresh
    // archive each time; whatever was written is whole, and the next run
    // writes the rest: each month once, as v1.
    for delay_ms in [5u64, 20, 40, 80, 160] {
        let _ = std::fs::remove_dir_all(&archive);
        let mut child = bin()
            .args(["publish", "--config"])
            .arg(&cfg)
            .arg("--state-dir")
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status();
        let _ = child.wait();
        if archive.exists() {
            assert_whole(&archive);
        }
        let said = publish_ok(&cfg, &state, &[]);
        assert_whole(&archive);
        for m in ["2021-01", "2022-06", "2022-12"] {
            assert_eq!(
                versions_of(&archive, m),
                ["v1"],
                "{m} after a kill at {delay_ms} ms: {said}"
            );
        }
        let hidden = std::fs::read_dir(archive.join("2022-06"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(
            hidden, 0,
            "an unfinished version was left after the next run"
        );
    }
}

#[test]
fn check_config_refuses_a_secret_file_that_cannot_be_read() {
    let dir = TempDir::new("publish-check");
    let cfg = config(
        &dir,
        "[[publish.webhook]]\nname = \"portal\"\nurl = \"https://h.example.org/x\"\nsecret_file = \"/nonexistent/webhook-key\"\n",
    );
    let out = fails(bin().args(["check-config", "--config"]).arg(&cfg));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("publish.webhook.secret_file: portal: cannot read /nonexistent/webhook-key"),
        "{err}"
    );
    std::fs::write(dir.path("key"), "k\n").unwrap();
    let ok_cfg = config(
        &dir,
        &format!(
            "[[publish.webhook]]\nname = \"portal\"\nurl = \"https://h.example.org/x\"\nsecret_file = {:?}\n",
            dir.path("key").to_str().unwrap()
        ),
    );
    let said = ok(bin().args(["check-config", "--config"]).arg(&ok_cfg));
    assert!(said.contains("0 e-mail, 1 webhook destinations"), "{said}");
}
