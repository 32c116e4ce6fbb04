//! Every query of the Grafana dashboard and every recording rule returns
//! data against a live monitor: real Prometheus (Debian's 2.42) scrapes the
//! demo (embedded Kafka, the ncsc-2022 replay and a live stream) and loads
//! the shipped rules; each expression is evaluated through the HTTP API.

mod common;

use common::*;

/// How many series an expression returns.
fn query(addr: &str, expr: &str) -> Result<usize, String> {
    prom_query(addr, expr).map(|r| r.len())
}

/// A change against a year-to-date comparison period without incidents is
/// undefined, so absent (spec §6): the demo replays 2021-2022 and streams
/// now, so the year before now may hold none. Such an empty answer is
/// accepted when that period's figure is zero.
fn undefined_against_zero(addr: &str, expr: &str) -> bool {
    ["previous_period", "same_period_last_year"]
        .iter()
        .find(|p| expr.contains(&format!("period=\"{p}\"")) || expr.ends_with(&format!(":{p}")))
        .is_some_and(|p| {
            query(
                addr,
                &format!(
                    "sum(incident_monitor_incidents_year_to_date{{period=\"{p}\",category=\"all\"}}) == 0"
                ),
            )
            .is_ok_and(|n| n > 0)
        })
}

/// Grafana variables and macros, as the dashboard would send them.
fn expand(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$__range", "1h")
        .replace("$instance", ".*")
        .replace("$category", ".*")
        .replace("$job", ".*")
}

#[test]
#[ignore = "needs prometheus: ./scripts/test.sh installs it and runs this"]
fn every_dashboard_query_and_recording_rule_returns_data() {
    let dir = TempDir::new("dash");
    let mut demo = Running::start(&[
        "demo",
        "--metrics-addr",
        "127.0.0.1:0",
        "--state-dir",
        dir.path("state").to_str().unwrap(),
    ]);
    let target = demo.metrics_addr(60);

    // The shipped rules, evaluated every 2 s instead of 30 s so the test
    // need not wait; the expressions are the same.
    let rules =
        std::fs::read_to_string(repo("deploy/prometheus/rules/incident-monitor.yml")).unwrap();
    let mut prom = Prometheus::start(&dir, &[target.as_str()]);
    let addr = prom.addr.clone();
    // The replay counted, and a few rule evaluations with rates over it.
    wait_until(180, "the demo's figures in Prometheus", || {
        query(&addr, "incident_monitor_month_over_month_change_ratio").is_ok_and(|n| n > 0)
            && query(
                &addr,
                "incident_monitor:month_over_month_change_ratio:closed",
            )
            .is_ok_and(|n| n > 0)
            && query(&addr, "incident_monitor:events:rate5m > 0").is_ok_and(|n| n > 0)
            && query(&addr, "incident_monitor:consumer_lag:sum").is_ok_and(|n| n > 0)
            // The live stream's incidents of this month handled.
            && query(&addr, "incident_monitor_time_to_stage_month_seconds{stage=\"handled\"}").is_ok_and(|n| n > 0)
    });
    assert!(
        prom.child.try_wait().unwrap().is_none(),
        "prometheus exited"
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    // Every recording rule has data.
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- record: ") {
            checked += 1;
            match query(&addr, name) {
                Ok(0) if undefined_against_zero(&addr, name) => {}
                Ok(0) => failures.push(format!("recording rule {name}: empty")),
                Err(e) => failures.push(format!("recording rule {name}: {e}")),
                Ok(_) => {}
            }
        }
    }
    // Every panel query; the template variables' label_values() too.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/grafana/dashboards/incident-monitor.json")).unwrap(),
    )
    .unwrap();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = expand(t["expr"].as_str().unwrap());
            checked += 1;
            match query(&addr, &expr) {
                Ok(0) if undefined_against_zero(&addr, &expr) => {}
                Ok(0) => failures.push(format!("panel {:?}: empty: {expr}", p["title"])),
                Err(e) => failures.push(format!("panel {:?}: {e}: {expr}", p["title"])),
                Ok(_) => {}
            }
        }
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        // The data source variable lists Grafana's data sources, not series.
        if v["type"] == "datasource" {
            continue;
        }
        let def = v["definition"].as_str().unwrap();
        let metric = expand(
            def.trim_start_matches("label_values(")
                .rsplit_once(',')
                .unwrap()
                .0,
        );
        checked += 1;
        if !query(&addr, &metric).is_ok_and(|n| n > 0) {
            failures.push(format!("variable {}: no series for {metric}", v["name"]));
        }
    }
    // Annotations may legitimately be empty (no spike now) but must be valid.
    for a in dash["annotations"]["list"].as_array().unwrap() {
        let expr = expand(a["expr"].as_str().unwrap());
        checked += 1;
        if let Err(e) = query(&addr, &expr) {
            failures.push(format!("annotation {:?}: {e}", a["name"]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} expressions failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 30, "only {checked} expressions found");
    drop(prom);
    assert!(demo.terminate().success());
}
