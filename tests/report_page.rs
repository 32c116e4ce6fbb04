//! The monthly report as a page: self-contained HTML rendered in real
//! headless Chromium, and the live `/report` endpoint matching
//! `report --format json` for the same state.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn ncsc_state(dir: &TempDir) -> std::path::PathBuf {
    let state = dir.path("state");
    let input = generate(&["--scenario", "ncsc-2022"]);
    let cfg = repo("config/ncsc-vietnam.toml");
    let out = run_stdin(
        &input,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    state
}

fn html(state: &Path, lang: &str) -> String {
    report_of(state, "2022-06", lang, "html")
}

#[test]
fn the_page_is_self_contained() {
    let dir = TempDir::new("page");
    let page = html(&ncsc_state(&dir), "vi");
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<html lang=\"vi\">"));
    for banned in ["<script", "<link", "@import", "url(", "<img", "<iframe"] {
        assert!(!page.contains(banned), "page contains {banned}");
    }
    // The only URL is the SVG namespace.
    let urls = page.matches("http").count();
    assert_eq!(urls, page.matches("http://www.w3.org/2000/svg").count());
    // Charts and, under each, its data as a table.
    let swatches = page.matches("<svg width=\"12\" height=\"12\"").count();
    assert!(swatches >= 3, "a legend swatch per category");
    // Categories, severities, sectors, provinces, year to date, trend, and
    // the lifecycle (the ncsc-2022 stream carries updates).
    assert_eq!(page.matches("<svg").count() - swatches, 7);
    // No inline style attribute: the Content-Security-Policy the page is
    // served with allows its one style sheet, by hash, and nothing else.
    assert!(!page.contains(" style="), "an inline style attribute");
    assert_eq!(page.matches("<style>").count(), 1);
    assert_eq!(page.matches("<table>").count(), 7);
    assert!(page.contains("@page { size: A4"));
}

/// PNG width, height, and the share of pixels that are not the background.
fn png_stats(path: &Path) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let bg = &px[..channels];
    let total = px.len() / channels;
    let different = px.chunks(channels).filter(|p| p != &bg).count();
    (info.width, info.height, different as f64 / total as f64)
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let bin = std::env::var("CHROMIUM")
        .expect("CHROMIUM is not set: run ./scripts/test.sh, which installs it");
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs chromium: ./scripts/test.sh installs it and runs this"]
fn june_2022_renders_in_headless_chromium_with_the_published_figures() {
    let dir = TempDir::new("chromium");
    let state = ncsc_state(&dir);
    let cases = [
        (
            "vi",
            [
                "1.178",
                "tăng 39,08% so với tháng 5/2022",
                "6.641",
                "tăng 35,14% so với 6 tháng trước",
                "tăng 37,92% so với 6 tháng đầu năm 2021",
                "847",
                "4.914",
                "4.815",
            ],
        ),
        (
            "en",
            [
                "1,178",
                "up 39.08% from May 2022",
                "6,641",
                "up 35.14% from the previous six months",
                "up 37.92% from the first half of 2021",
                "847",
                "4,914",
                "4,815",
            ],
        ),
    ];
    for (lang, figures) in cases {
        let file = dir.path(&format!("june-{lang}.html"));
        std::fs::write(&file, html(&state, lang)).unwrap();
        let url = format!("file://{}", file.display());
        let shot = dir.path(&format!("june-{lang}.png"));
        let out = chromium(
            &[
                "--window-size=1240,1754",
                &format!("--screenshot={}", shot.display()),
                &url,
            ],
            &dir.path("profile"),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            !log.contains("CONSOLE") && !log.contains("Uncaught"),
            "console errors:\n{log}"
        );
        let (w, h, ink) = png_stats(&shot);
        assert_eq!((w, h), (1240, 1754), "screenshot size");
        assert!(
            ink > 0.05,
            "the page looks blank: {:.1}% non-background pixels",
            ink * 100.0
        );

        // The text the browser laid out, not just the source.
        let dom = chromium(&["--dump-dom", &url], &dir.path("profile"));
        let text = String::from_utf8_lossy(&dom.stdout);
        for f in figures {
            assert!(text.contains(f), "{lang}: {f:?} not on the page");
        }
        // Categories by their names in the page's language (issue 33).
        let names: &[&str] = if lang == "vi" {
            &[
                "Tấn công lừa đảo (Phishing)",
                "Tấn công thay đổi giao diện (Deface)",
                "Tấn công cài mã độc (Malware)",
                "Nghiêm trọng",
            ]
        } else {
            &["phishing", "deface", "malware", "critical"]
        };
        for name in names {
            assert!(text.contains(name), "{lang}: {name:?} not on the page");
        }
    }

    // The live page, served with its Content-Security-Policy: the browser
    // applies the style sheet (its hash is in the policy) and reports no
    // violation, and the page looks as the file does.
    let (_, _, file_ink) = png_stats(&dir.path("june-en.png"));
    let (_run, addr, _stdin) = Running::stdin_run(&repo("config/ncsc-vietnam.toml"), &state, &[]);
    let url = format!("http://{addr}/report?month=2022-06&lang=en");
    let shot = dir.path("live.png");
    let out = chromium(
        &[
            "--window-size=1240,1754",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
        &dir.path("profile"),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("CONSOLE") && !log.contains("Content Security Policy"),
        "the served page breaks its own policy:\n{log}"
    );
    let (_, _, live_ink) = png_stats(&shot);
    assert!(
        (live_ink - file_ink).abs() < 0.01,
        "the served page does not look like the file: {:.1}% vs {:.1}% ink (its style sheet blocked?)",
        live_ink * 100.0,
        file_ink * 100.0
    );
}

#[test]
fn the_live_report_endpoint_matches_the_report_command() {
    use std::io::Write;
    let dir = TempDir::new("endpoint");
    let state = dir.path("state");
    let cfg = dir.path("fast.toml");
    let ncsc = std::fs::read_to_string(repo("config/ncsc-vietnam.toml")).unwrap();
    std::fs::write(
        &cfg,
        ncsc.replace(
            "checkpoint_interval_ms = 5000",
            "checkpoint_interval_ms = 100",
        ),
    )
    .unwrap();
    let (mut child, addr, mut stdin) = Running::stdin_run(&cfg, &state, &[]);
    let input = generate(&["--scenario", "ncsc-2022"]);
    let lines = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as f64;
    stdin.write_all(&input).unwrap();
    stdin.flush().unwrap();
    wait_until(60, "the stream counted", || {
        sum_of(
            &http_get(&addr, "/metrics").1,
            "incident_monitor_events_total",
        ) == lines
    });

    let (status, live) = http_get(&addr, "/report?month=2022-06&lang=en&format=json");
    assert_eq!(status, 200, "{live}");
    // The same state, checkpointed, through the command.
    wait_until(30, "a checkpoint covering the stream", || {
        incident_monitor::state::StateStore::new(&state)
            .load_all()
            .is_ok_and(|s| s.iter().map(|x| x.position.records).sum::<u64>() as f64 == lines)
    });
    let cli = ok(bin().args([
        "report",
        "--month",
        "2022-06",
        "--lang",
        "en",
        "--format",
        "json",
        "--state-dir",
        state.to_str().unwrap(),
    ]));
    assert_eq!(
        without_as_of(&live),
        without_as_of(&cli),
        "/report differs from report --format json"
    );
    golden("report-2022-06.json", &without_as_of(&live));

    let (status, page) = http_get(&addr, "/report?month=2022-06&lang=vi");
    assert_eq!(status, 200);
    assert!(page.contains("tăng 39,08% so với tháng 5/2022"));
    let (status, md) = http_get(&addr, "/report?month=2022-06&lang=vi&format=markdown");
    assert_eq!(status, 200);
    assert!(md.starts_with("# "));
    for bad in [
        "/report",
        "/report?month=2022-13",
        "/report?month=June",
        "/report?month=2022-06&lang=fr",
        "/report?month=2022-06&format=pdf",
    ] {
        let (status, body) = http_get(&addr, bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, body) = http_get(&addr, "/report?month=2019-01");
    assert_eq!(status, 404, "{body}");
    drop(stdin);
    assert!(child.child.wait().unwrap().success());
}
