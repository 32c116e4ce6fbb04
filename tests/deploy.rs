//! What operators deploy with, checked by the real tools that
//! `./scripts/test.sh` installs: Prometheus rules (`promtool check rules`,
//! `promtool test rules`), Alertmanager config (`amtool`), the compose file
//! (`docker-compose config`, every mounted file present), the Kubernetes
//! manifests and the Helm chart (`kubernetes-validate` against the offline
//! schemas, `kubectl kustomize`, `helm lint` and `helm template`; the
//! PrometheusRule's rules through promtool; generated files in sync).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn tool(env: &str) -> PathBuf {
    let p = PathBuf::from(
        std::env::var_os(env).unwrap_or_else(|| panic!("{env} is not set: run ./scripts/test.sh")),
    );
    assert!(p.exists(), "{env}={} does not exist", p.display());
    p
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn files_in(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .{ext} files in {dir}");
    v
}

#[test]
#[ignore = "needs promtool: ./scripts/test.sh"]
fn prometheus_rules_check_and_unit_tests_pass() {
    let promtool = tool("PROMTOOL");
    let out = run_ok(
        Command::new(&promtool)
            .arg("check")
            .arg("rules")
            .args(files_in("deploy/prometheus/rules", "yml")),
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let out = run_ok(
        Command::new(&promtool)
            .arg("test")
            .arg("rules")
            .args(files_in("deploy/prometheus/tests", "yml")),
    );
    assert!(out.contains("SUCCESS") && !out.contains("FAILED"), "{out}");
    // Every alert in the rules has unit tests, and is explained in docs/alerts.md.
    let rules =
        std::fs::read_to_string(repo("deploy/prometheus/rules/incident-monitor.yml")).unwrap();
    let tests: String = files_in("deploy/prometheus/tests", "yml")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let doc = std::fs::read_to_string(repo("docs/alerts.md")).unwrap();
    // Every recording rule has a promql_expr_test case.
    for name in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record: "))
    {
        assert!(
            tests.contains(&format!("expr: {name}"))
                || tests.contains(&format!("({name} "))
                || tests.contains(&format!("expr: round({name} ")),
            "{name} has no promql_expr_test case"
        );
    }
    for name in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {name}")),
            "{name} has no promtool test"
        );
        assert!(
            doc.contains(&format!("## {name}")),
            "{name} is not explained in docs/alerts.md"
        );
    }
}

/// A site's selection, set once in the generator (mixin style): another
/// job selector and a `cluster` label kept beside `job` in every
/// aggregation give rules Prometheus accepts, with nothing left of the
/// defaults; settings it cannot use are refused (exit 2).
#[test]
#[ignore = "needs promtool: ./scripts/test.sh"]
fn the_rules_take_a_sites_job_selector_and_cluster_label() {
    let generate = |args: &[&str]| {
        Command::new("python3")
            .arg(repo("scripts/gen-k8s.py"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = generate(&[
        "--group-by",
        "cluster,job",
        "--job-selector",
        "job=~\"soc-monitor-.*\"",
        "--print-rules",
    ]);
    assert!(out.status.success(), "{out:?}");
    let rules = String::from_utf8(out.stdout).unwrap();
    assert!(rules.matches("by (cluster, job").count() > 20, "{rules}");
    assert!(
        !rules.contains("by (job") && !rules.contains("on (job"),
        "{rules}"
    );
    assert!(rules.contains("job=~\"soc-monitor-.*\""));
    assert!(!rules.contains("job=~\"incident-monitor.*\""));
    // Other labels named like it are left alone.
    assert!(rules.contains("cronjob=\"incident-monitor-publish\""));
    let dir = TempDir::new("site-rules");
    let path = dir.path("rules.yml");
    std::fs::write(&path, &rules).unwrap();
    let out = run_ok(
        Command::new(tool("PROMTOOL"))
            .args(["check", "rules"])
            .arg(&path),
    );
    assert!(out.contains("SUCCESS"), "{out}");
    for bad in [
        &["--group-by", "cluster"][..],
        &["--job-selector", "instance=~\".*\""],
        &["--runbook-base", "wiki"],
    ] {
        assert_eq!(generate(bad).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
#[ignore = "needs amtool: ./scripts/test.sh"]
fn alertmanager_config_is_valid() {
    let cfg = repo("deploy/alertmanager/alertmanager.yml");
    let cfg = cfg.to_str().unwrap();
    let out = run_ok(Command::new(tool("AMTOOL")).args(["check-config", cfg]));
    assert!(out.contains("1 templates"), "{out}");
    // The e-mail template renders, with the runbook link and the way back.
    let glob = repo("deploy/alertmanager/templates").join("*.tmpl");
    let out = run_ok(Command::new(tool("AMTOOL")).args([
        "template",
        "render",
        &format!("--template.glob={}", glob.display()),
        "--template.text={{ template \"incident_monitor.email.subject\" . }}\n{{ template \"incident_monitor.email.text\" . }}",
    ]));
    assert!(
        out.contains("Runbook:") && out.contains("Silence or inspect:"),
        "{out}"
    );
    // Analysts get what they act on; the platform team is paged only for
    // critical pipeline alerts.
    for (labels, receiver) in [
        (
            &["team=soc", "severity=warning", "alertname=IncidentSpike"][..],
            "soc-analysts",
        ),
        (&["team=soc", "severity=critical"][..], "soc-analysts"),
        (
            &[
                "team=platform",
                "severity=critical",
                "alertname=MonitorAbsent",
            ][..],
            "platform-oncall",
        ),
        (
            &["team=platform", "severity=warning", "alertname=MonitorDown"][..],
            "platform-channel",
        ),
    ] {
        let out = Command::new(tool("AMTOOL"))
            .args(["config", "routes", "test", &format!("--config.file={cfg}")])
            .args(labels)
            .output()
            .unwrap();
        assert!(out.status.success(), "{labels:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            receiver,
            "{labels:?}"
        );
    }
}

/// Host paths bind-mounted by the compose file (`- ./x:/y` entries).
fn compose_mounts(compose: &str) -> Vec<String> {
    compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ./"))
        .map(|m| m.split(':').next().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs docker-compose: ./scripts/test.sh"]
fn compose_file_is_valid_and_everything_it_mounts_exists() {
    let deploy = repo("deploy");
    run_ok(
        Command::new(tool("DOCKER_COMPOSE"))
            .current_dir(&deploy)
            .args(["-f", "docker-compose.yml", "config", "-q"]),
    );
    let compose = std::fs::read_to_string(deploy.join("docker-compose.yml")).unwrap();
    let mounts = compose_mounts(&compose);
    assert!(mounts.len() >= 5, "{mounts:?}");
    for m in &mounts {
        assert!(
            deploy.join(m).exists(),
            "docker-compose.yml mounts ./{m}, which does not exist"
        );
    }
    // The build context has what the Dockerfile copies.
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).unwrap();
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                repo(src.trim_end_matches('/')).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
        }
    }
    // The compose config validates as a monitor config, with its web
    // config (certificates as the certs service makes them), and the
    // Prometheus password is the one the web config's hash was made from.
    let dir = TempDir::new("compose");
    let certs = make_certs(&dir);
    let web = std::fs::read_to_string(deploy.join("compose/web-config.yml"))
        .unwrap()
        .replace("/certs/", &format!("{}/", certs.display()));
    let hash = web
        .lines()
        .find_map(|l| l.trim().strip_prefix("prometheus: '"))
        .and_then(|h| h.strip_suffix('\''))
        .expect("a prometheus user in compose/web-config.yml");
    let password = std::fs::read_to_string(deploy.join("compose/scrape-password")).unwrap();
    assert!(
        bcrypt::verify(password.trim_end(), hash).unwrap(),
        "scrape-password does not match the hash"
    );
    let prom = std::fs::read_to_string(deploy.join("compose/prometheus.yml")).unwrap();
    assert!(
        prom.contains("scheme: https")
            && prom.contains("password_file: /etc/prometheus/scrape-password")
            && prom.contains("ca_file: /certs/ca.pem"),
        "{prom}"
    );
    let out = check_with_web_config(&dir, &deploy.join("compose/incident-monitor.toml"), &web);
    assert!(
        out.contains("endpoint https://0.0.0.0:9898 with basic auth (1 users)"),
        "{out}"
    );
    // Published on loopback only.
    for l in compose
        .lines()
        .filter(|l| l.trim().starts_with("- \"") && l.contains(":"))
    {
        if l.trim()
            .trim_start_matches("- \"")
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
        {
            assert!(
                l.contains("127.0.0.1:"),
                "a port published beyond loopback: {l}"
            );
        }
    }
}

/// Certificates from scripts/make-certs.sh in `dir`.
fn make_certs(dir: &TempDir) -> PathBuf {
    let d = dir.path("certs");
    run_ok(Command::new(repo("scripts/make-certs.sh")).arg(&d));
    d
}

/// `check-config` of the monitor config `toml` with its `web_config`
/// replaced by the web config `web` (written to `dir`): its output.
fn check_with_web_config(dir: &TempDir, toml: &Path, web: &str) -> String {
    let wc = dir.path("web-config.yml");
    std::fs::write(&wc, web).unwrap();
    let text = std::fs::read_to_string(toml).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("web_config = "))
        .expect("a config that listens beyond loopback has a web_config");
    let cfg = dir.path("with-web.toml");
    std::fs::write(
        &cfg,
        text.replace(line, &format!("web_config = {:?}", wc.to_str().unwrap())),
    )
    .unwrap();
    ok(bin().args(["check-config", "--config", cfg.to_str().unwrap()]))
}

/// The document embedded in a manifest after `marker`, un-indented.
fn embedded(path: &Path, marker: &str, indent: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    embedded_in(&text, marker, indent)
        .unwrap_or_else(|| panic!("{} has no {marker:?}", path.display()))
}

/// The text after `marker` in `text`, each line un-indented by `indent`.
fn embedded_in(text: &str, marker: &str, indent: &str) -> Option<String> {
    Some(
        text.split_once(marker)?
            .1
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix(indent).unwrap_or(l)))
            .collect(),
    )
}

/// The web config scripts/k8s-secrets.sh writes (its template), with the
/// certificate Secret's files from make-certs.sh and one user,
/// `prometheus`, whose password is `k8s-test`.
fn k8s_web_config(dir: &TempDir) -> String {
    let script = std::fs::read_to_string(repo("scripts/k8s-secrets.sh")).unwrap();
    let template = script
        .split("<<YAML\n")
        .nth(1)
        .and_then(|t| t.split("\nYAML\n").next())
        .expect("the web config template in scripts/k8s-secrets.sh");
    let certs = make_certs(dir);
    let hash = bcrypt::hash("k8s-test", 4).unwrap();
    template
        .replace("$user", "prometheus")
        .replace("$hash", &hash)
        .replace(
            "/etc/incident-monitor/tls/tls.crt",
            certs.join("server.pem").to_str().unwrap(),
        )
        .replace(
            "/etc/incident-monitor/tls/tls.key",
            certs.join("server.key").to_str().unwrap(),
        )
}

#[test]
#[ignore = "needs kubernetes-validate and promtool: ./scripts/test.sh"]
fn kubernetes_manifests_validate_and_generated_files_are_in_sync() {
    run_ok(
        Command::new("python3")
            .arg(repo("scripts/gen-k8s.py"))
            .arg("--check"),
    );
    let k8s = repo("deploy/k8s");
    let kustomization = std::fs::read_to_string(k8s.join("kustomization.yaml")).unwrap();
    // The list under `resources:` (up to the next top-level key).
    let resources: Vec<&str> = kustomization
        .lines()
        .skip_while(|l| *l != "resources:")
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| l.trim().strip_prefix("- "))
        .collect();
    assert_eq!(resources.len(), 8, "{resources:?}");
    for r in &resources {
        assert!(
            k8s.join(r).exists(),
            "kustomization lists {r}, which does not exist"
        );
    }
    let (crds, core): (Vec<&str>, Vec<&str>) = resources.iter().partition(|r| {
        std::fs::read_to_string(k8s.join(r))
            .unwrap()
            .contains("monitoring.coreos.com/")
    });
    let out = run_ok(
        Command::new(tool("KUBERNETES_VALIDATE"))
            .arg("--strict")
            .args(core.iter().map(|r| k8s.join(r))),
    );
    assert_eq!(out.matches("passed").count(), core.len(), "{out}");
    assert_eq!(crds.len(), 2);
    // And as kustomize builds them, with the image set in one place.
    let built = kustomize_base();
    assert_eq!(built.len(), resources.len());
    let dir = TempDir::new("k8s");
    validate_core(&dir, &built, "kustomized.yaml");
    for (kind, d) in &built {
        if kind == "StatefulSet" || kind == "CronJob" {
            assert!(
                d.contains("image: ghcr.io/incident-monitor/incident-monitor:0.1.0"),
                "{d}"
            );
        }
    }
    // The PrometheusRule carries exactly valid Prometheus rules: its spec,
    // un-indented, is a rule file.
    let spec = embedded(&k8s.join("prometheusrule.yaml"), "\nspec:\n", "  ");
    let file = dir.path("rules.yml");
    std::fs::write(&file, spec).unwrap();
    let out =
        run_ok(Command::new(tool("PROMTOOL")).args(["check", "rules", file.to_str().unwrap()]));
    assert!(out.contains("SUCCESS"), "{out}");
    // The ConfigMap's config is a valid monitor config.
    let toml = embedded(
        &k8s.join("configmap.yaml"),
        "incident-monitor.toml: |\n",
        "    ",
    );
    let cfg = dir.path("k8s.toml");
    std::fs::write(&cfg, &toml).unwrap();
    let web = k8s_web_config(&dir);
    let out = check_with_web_config(&dir, &cfg, &web);
    assert!(
        out.contains("endpoint https://0.0.0.0:9898 with basic auth (1 users)"),
        "{out}"
    );
    assert!(toml.contains("web_config = \"/etc/incident-monitor/web/web-config.yml\""));
    // The ServiceMonitor scrapes the port the Service and pods name.
    let sm = std::fs::read_to_string(k8s.join("servicemonitor.yaml")).unwrap();
    let svc = std::fs::read_to_string(k8s.join("service.yaml")).unwrap();
    let sts = std::fs::read_to_string(k8s.join("statefulset.yaml")).unwrap();
    assert!(
        sm.contains("port: metrics")
            && svc.contains("name: metrics")
            && sts.contains("name: metrics")
    );
    // No shared disk: the state is in a Kafka topic, the pods mount no
    // volume but their configuration. The one claim is the publish
    // CronJob's archive.
    let claims: Vec<&&str> = resources
        .iter()
        .filter(|r| {
            std::fs::read_to_string(k8s.join(r))
                .unwrap()
                .contains("kind: PersistentVolumeClaim")
        })
        .collect();
    assert_eq!(claims, [&"archive-pvc.yaml"]);
    assert!(!sts.contains("persistentVolumeClaim") && !sts.contains("ReadWriteMany"));
    // `publish` hourly in the centre's timezone, one job at a time, on the
    // archive's claim, as restricted as the monitor; its pods are not the
    // Service's or the PodDisruptionBudget's.
    let cron = std::fs::read_to_string(k8s.join("publish-cronjob.yaml")).unwrap();
    for needed in [
        "kind: CronJob",
        "timeZone: Asia/Ho_Chi_Minh",
        "concurrencyPolicy: Forbid",
        "args: [\"publish\"",
        "claimName: incident-monitor-archive",
        "type: RuntimeDefault",
        "readOnlyRootFilesystem: true",
        "automountServiceAccountToken: false",
        "app.kubernetes.io/name: incident-monitor-publish",
    ] {
        assert!(cron.contains(needed), "publish-cronjob.yaml lacks {needed}");
    }
    assert!(toml.contains("archive_dir = \"/var/lib/incident-monitor/archive\""));
    assert!(toml.contains("topic = \"incidents-state\""), "{toml}");
    // Restricted namespaces admit the pod; pods spread over nodes; each is
    // a static group member under its pod name; the image comes from a
    // registry set in one place.
    assert!(sts.contains("type: RuntimeDefault") && sts.contains("topologySpreadConstraints"));
    assert!(
        sts.contains("INCIDENT_MONITOR_KAFKA_GROUP_INSTANCE_ID") && sts.contains("metadata.name")
    );
    assert!(kustomization.contains("images:") && kustomization.contains("newName: ghcr.io/"));
    // Bound beyond loopback only behind the web config: the pods mount it
    // and the certificate, the probes speak TLS, the ServiceMonitor
    // scrapes with the CA and the credentials; the Kafka password comes
    // from a Secret.
    for needed in [
        "secretName: incident-monitor-web",
        "secretName: incident-monitor-tls",
        "mountPath: /etc/incident-monitor/web",
        "scheme: HTTPS",
        "name: incident-monitor-kafka",
        "INCIDENT_MONITOR_KAFKA_SASL_PASSWORD",
    ] {
        assert!(sts.contains(needed), "statefulset.yaml lacks {needed}");
    }
    for needed in [
        "scheme: https",
        "tlsConfig:",
        "key: ca.crt",
        "basicAuth:",
        "name: incident-monitor-scrape",
    ] {
        assert!(sm.contains(needed), "servicemonitor.yaml lacks {needed}");
    }
}

/// The documents `kubectl kustomize deploy/k8s` renders, with their kinds.
fn kustomize_base() -> Vec<(String, String)> {
    run_ok(
        Command::new(tool("KUBECTL"))
            .arg("kustomize")
            .arg(repo("deploy/k8s")),
    )
    .split("\n---\n")
    .filter_map(|doc| {
        let kind = doc.lines().find_map(|l| l.strip_prefix("kind: "))?;
        Some((kind.to_string(), doc.to_string()))
    })
    .collect()
}

/// The documents `helm template` renders of the chart with `args`, each
/// with its kind; the command's error when it fails.
fn helm_template(args: &[&str]) -> Result<Vec<(String, String)>, String> {
    let out = Command::new(tool("HELM"))
        .args(["template", "incident-monitor"])
        .arg(repo("deploy/helm/incident-monitor"))
        .args(["--namespace", "soc"])
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8(out.stdout)
        .unwrap()
        .split("\n---\n")
        .filter_map(|doc| {
            let kind = doc.lines().find_map(|l| l.strip_prefix("kind: "))?;
            Some((kind.to_string(), doc.to_string()))
        })
        .collect())
}

fn kinds(docs: &[(String, String)]) -> Vec<&str> {
    let mut k: Vec<&str> = docs.iter().map(|(k, _)| k.as_str()).collect();
    k.sort();
    k
}

fn doc<'a>(docs: &'a [(String, String)], kind: &str, name: &str) -> &'a str {
    docs.iter()
        .find(|(k, d)| k == kind && d.contains(&format!("\n  name: {name}\n")))
        .map(|(_, d)| d.as_str())
        .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", kinds(docs)))
}

/// Every rendered object but the Prometheus operator's validates against
/// the Kubernetes schemas, at the chart's lowest version and the newest.
fn validate_core(dir: &TempDir, docs: &[(String, String)], name: &str) {
    let core: Vec<&str> = docs
        .iter()
        .filter(|(_, d)| !d.contains("apiVersion: monitoring.coreos.com/"))
        .map(|(_, d)| d.as_str())
        .collect();
    let file = dir.path(name);
    std::fs::write(&file, core.join("\n---\n")).unwrap();
    for version in ["1.27.0", "1.37.0"] {
        let out = run_ok(
            Command::new(tool("KUBERNETES_VALIDATE"))
                .args(["--strict", "-k", version])
                .arg(&file),
        );
        assert_eq!(out.matches("passed").count(), core.len(), "{out}");
    }
}

fn contains_all(doc: &str, what: &str, needed: &[&str]) {
    for n in needed {
        assert!(doc.contains(n), "{what} lacks {n}");
    }
}

/// The rules a PrometheusRule carries pass `promtool check rules`; they
/// are returned.
fn check_rule_spec(dir: &TempDir, prometheus_rule: &str) -> String {
    let rules = embedded_in(prometheus_rule, "\nspec:\n", "  ").unwrap();
    let file = dir.path("chart-rules.yml");
    std::fs::write(&file, &rules).unwrap();
    let out =
        run_ok(Command::new(tool("PROMTOOL")).args(["check", "rules", file.to_str().unwrap()]));
    assert!(out.contains("SUCCESS"), "{out}");
    rules
}

#[test]
#[ignore = "needs helm, kubernetes-validate and promtool: ./scripts/test.sh"]
fn helm_chart_lints_renders_validates_and_deploys_what_kustomize_does() {
    let chart = repo("deploy/helm/incident-monitor");
    run_ok(
        Command::new("python3")
            .arg(repo("scripts/gen-k8s.py"))
            .arg("--check"),
    );
    let out = run_ok(
        Command::new(tool("HELM"))
            .args(["lint", "--strict"])
            .arg(&chart),
    );
    assert!(out.contains("0 chart(s) failed"), "{out}");
    let meta = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    assert!(
        meta.contains(&format!(
            "\nappVersion: \"{}\"\n",
            env!("CARGO_PKG_VERSION")
        )),
        "Chart.yaml's appVersion is not the crate's version {}",
        env!("CARGO_PKG_VERSION")
    );
    let dir = TempDir::new("helm");

    // Defaults: what deploy/k8s deploys, plus the account, the network
    // policy and the dashboard for Grafana's sidecar.
    let docs = helm_template(&[]).unwrap();
    assert_eq!(
        kinds(&docs),
        [
            "ConfigMap",
            "ConfigMap",
            "CronJob",
            "NetworkPolicy",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "StatefulSet"
        ]
    );
    validate_core(&dir, &docs, "defaults.yaml");
    // The rules are the project's rule file, whole.
    let rules = check_rule_spec(&dir, doc(&docs, "PrometheusRule", "incident-monitor"));
    assert_eq!(
        rules,
        std::fs::read_to_string(repo("deploy/prometheus/rules/incident-monitor.yml")).unwrap()
    );
    // The config is deploy/k8s's and runs with the web config
    // scripts/k8s-secrets.sh makes.
    let toml = embedded_in(
        doc(&docs, "ConfigMap", "incident-monitor"),
        "incident-monitor.toml: |\n",
        "    ",
    )
    .unwrap();
    assert_eq!(
        toml.trim_end(),
        std::fs::read_to_string(repo("deploy/k8s/incident-monitor.toml"))
            .unwrap()
            .trim_end()
    );
    let cfg = dir.path("chart.toml");
    std::fs::write(&cfg, &toml).unwrap();
    let out = check_with_web_config(&dir, &cfg, &k8s_web_config(&dir));
    assert!(
        out.contains("endpoint https://0.0.0.0:9898 with basic auth (1 users)"),
        "{out}"
    );
    // The dashboard, for the sidecar of kube-prometheus-stack's Grafana.
    let dashboard = doc(&docs, "ConfigMap", "incident-monitor-dashboard");
    assert!(
        dashboard.contains("grafana_dashboard: \"1\"") && dashboard.contains("grafana_folder: SOC")
    );
    let json = embedded_in(dashboard, "incident-monitor.json: |\n", "    ").unwrap();
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/grafana/dashboards/incident-monitor.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        shipped
    );
    // kube-prometheus-stack's selectors: `release: prometheus` by default.
    for (kind, name) in [
        ("ServiceMonitor", "incident-monitor"),
        ("PrometheusRule", "incident-monitor"),
    ] {
        assert!(
            doc(&docs, kind, name).contains("\n    release: prometheus\n"),
            "{kind}"
        );
    }
    // Admitted by a "restricted" namespace: every pod and container.
    for (kind, name) in [
        ("StatefulSet", "incident-monitor"),
        ("CronJob", "incident-monitor-publish"),
    ] {
        let d = doc(&docs, kind, name);
        for needed in [
            "runAsNonRoot: true",
            "type: RuntimeDefault",
            "allowPrivilegeEscalation: false",
            "drop: [\"ALL\"]",
            "readOnlyRootFilesystem: true",
            "automountServiceAccountToken: false",
            "serviceAccountName: incident-monitor\n",
        ] {
            assert!(d.contains(needed), "{kind} lacks {needed}");
        }
        assert!(!d.contains("privileged: true") && !d.contains("hostPath"));
    }
    assert!(
        doc(&docs, "ServiceAccount", "incident-monitor")
            .contains("automountServiceAccountToken: false")
    );
    let sts = doc(&docs, "StatefulSet", "incident-monitor");
    contains_all(
        sts,
        "StatefulSet",
        &[
            "topologyKey: topology.kubernetes.io/zone",
            "topologyKey: kubernetes.io/hostname",
            "image: ghcr.io/incident-monitor/incident-monitor:0.1.0",
            "INCIDENT_MONITOR_KAFKA_GROUP_INSTANCE_ID",
            "secretName: incident-monitor-web",
            "secretName: incident-monitor-tls",
            "scheme: HTTPS",
            "checksum/config: ",
        ],
    );
    assert!(!sts.contains("persistentVolumeClaim"));
    contains_all(
        doc(&docs, "CronJob", "incident-monitor-publish"),
        "CronJob",
        &[
            "timeZone: Asia/Ho_Chi_Minh",
            "concurrencyPolicy: Forbid",
            "args: [\"publish\"",
            "claimName: incident-monitor-archive",
        ],
    );
    contains_all(
        doc(&docs, "NetworkPolicy", "incident-monitor"),
        "NetworkPolicy",
        &["port: metrics", "port: 9092", "port: 53"],
    );
    // What the kustomize base deploys, the chart deploys: every kind, and
    // the same commands, variables, probes and mounts in its pods.
    let base = kustomize_base();
    for (kind, d) in &base {
        assert!(
            kinds(&docs).contains(&kind.as_str()),
            "the chart has no {kind}"
        );
        if kind == "StatefulSet" || kind == "CronJob" {
            // Quoting aside: YAML's `"17 * * * *"` is `17 * * * *`.
            let ours = docs
                .iter()
                .find(|(k, _)| k == kind)
                .unwrap()
                .1
                .replace('"', "");
            for line in d.lines().map(str::trim).filter(|l| {
                [
                    "args: ",
                    "path: ",
                    "mountPath: ",
                    "- name: INCIDENT_MONITOR_",
                    "key: ",
                    "schedule: ",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            }) {
                assert!(
                    ours.contains(&line.replace('"', "")),
                    "the chart's {kind} lacks the base's {line}"
                );
            }
        }
    }

    // Every optional part off: the monitor alone.
    let docs = helm_template(&[
        "--set",
        "serviceMonitor.enabled=false,prometheusRule.enabled=false,dashboard.enabled=false,\
         publish.enabled=false,networkPolicy.enabled=false,podDisruptionBudget.enabled=false,\
         serviceAccount.create=false",
    ])
    .unwrap();
    assert_eq!(kinds(&docs), ["ConfigMap", "Service", "StatefulSet"]);

    // Everything from values: the Secrets made by the chart, a second
    // deployment's job name and release label, a site's runbooks, the
    // network limited to Prometheus' namespace and the brokers.
    let values = dir.path("values.yaml");
    std::fs::write(
        &values,
        r#"fullnameOverride: im-staging
replicaCount: 3
image:
  repository: registry.example/soc/incident-monitor
  tag: "0.1.0-rc1"
web:
  config: |
    tls_server_config:
      cert_file: /etc/incident-monitor/tls/tls.crt
      key_file: /etc/incident-monitor/tls/tls.key
    basic_auth_users:
      prometheus: '$2y$10$abcdefghijklmnopqrstuuJ1g1e3Q6a3cGq0bPpL6m1v9xv1gQ1Ge'
kafka:
  saslPassword: "s3cret"
serviceMonitor:
  labels:
    release: kube-prometheus-stack
  jobName: incident-monitor-staging
  username: prometheus
  password: "scrape-pass"
prometheusRule:
  labels:
    release: kube-prometheus-stack
  runbookBase: https://wiki.example/soc/alerts
  jobSelector: job="incident-monitor-staging"
networkPolicy:
  metricsFrom:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: monitoring
  egress:
    kafkaPorts: [9093, 9094]
    kafkaTo:
      - ipBlock:
          cidr: 10.20.0.0/16
publish:
  secrets:
    smtp-password: "mail-pass"
  archive:
    storageClassName: fast
    size: 5Gi
topologySpread:
  zone: false
"#,
    )
    .unwrap();
    let docs = helm_template(&["-f", values.to_str().unwrap()]).unwrap();
    assert_eq!(kinds(&docs).iter().filter(|k| **k == "Secret").count(), 4);
    validate_core(&dir, &docs, "values.yaml.rendered");
    for (kind, name, needed) in [
        ("Secret", "im-staging-web", &["basic_auth_users:"][..]),
        ("Secret", "im-staging-kafka", &["password: \"s3cret\""]),
        (
            "Secret",
            "im-staging-scrape",
            &["password: \"scrape-pass\""],
        ),
        (
            "Secret",
            "im-staging-publish",
            &["smtp-password: \"mail-pass\""],
        ),
        (
            "StatefulSet",
            "im-staging",
            &[
                "replicas: 3",
                "image: registry.example/soc/incident-monitor:0.1.0-rc1",
                // The SASL password's Secret is the chart's, so required.
                "optional: false",
            ],
        ),
        (
            "ServiceMonitor",
            "im-staging",
            &[
                "release: kube-prometheus-stack",
                "replacement: incident-monitor-staging",
                "serverName: im-staging",
                "name: im-staging-scrape",
            ],
        ),
        (
            "PrometheusRule",
            "im-staging",
            &["release: kube-prometheus-stack"],
        ),
        (
            "NetworkPolicy",
            "im-staging",
            &[
                "kubernetes.io/metadata.name: monitoring",
                "cidr: 10.20.0.0/16",
                "port: 9093",
                "port: 9094",
            ],
        ),
        (
            "PersistentVolumeClaim",
            "im-staging-archive",
            &[
                "storageClassName: fast",
                "storage: 5Gi",
                "helm.sh/resource-policy: keep",
            ],
        ),
    ] {
        contains_all(doc(&docs, kind, name), &format!("{kind} {name}"), needed);
    }
    assert!(!doc(&docs, "StatefulSet", "im-staging").contains("topology.kubernetes.io/zone"));
    assert!(!doc(&docs, "NetworkPolicy", "im-staging").contains("port: 9092"));
    let rules = check_rule_spec(&dir, doc(&docs, "PrometheusRule", "im-staging"));
    let links = rules
        .matches("runbook_url: \"https://wiki.example/soc/alerts#")
        .count();
    assert!(links > 10 && links == rules.matches("runbook_url:").count());
    assert!(!rules.contains("job=~\"incident-monitor.*\""));
    assert!(rules.contains("{job=\"incident-monitor-staging\"}"));

    // What the values' schema and the templates refuse, by name.
    for (args, says) in [
        (vec!["--set", "replicaCount=two"], "/replicaCount"),
        (vec!["--set", "replicas=3"], "'replicas' not allowed"),
        (
            vec!["--set", "serviceMonitor.jobName=soc"],
            "/serviceMonitor/jobName",
        ),
        (
            vec!["--set", "serviceMonitor.username=prometheus"],
            "set both username and password",
        ),
        (
            vec!["--set", "networkPolicy.egress.kafkaPorts={}"],
            "/networkPolicy/egress/kafkaPorts",
        ),
    ] {
        let err = helm_template(&args).unwrap_err();
        assert!(err.contains(says), "{args:?}: {err}");
    }

    // The restricted namespace the chart's README installs into.
    let out = run_ok(
        Command::new(tool("KUBERNETES_VALIDATE"))
            .arg("--strict")
            .arg(repo("deploy/helm/namespace-restricted.yaml")),
    );
    assert!(out.contains("passed"), "{out}");
    let ns = std::fs::read_to_string(repo("deploy/helm/namespace-restricted.yaml")).unwrap();
    assert!(ns.contains("pod-security.kubernetes.io/enforce: restricted"));
}

#[test]
fn dashboard_chooses_its_data_source_and_has_thresholds() {
    let text =
        std::fs::read_to_string(repo("deploy/grafana/dashboards/incident-monitor.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    // No data source uid is hard-coded: every panel, query and annotation
    // uses the `datasource` variable.
    assert!(
        !text.contains("\"uid\": \"prometheus\""),
        "a hard-coded datasource uid"
    );
    for p in dash["panels"].as_array().unwrap() {
        let kind = p["type"].as_str().unwrap();
        let title = p["title"].as_str().unwrap();
        if kind == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        if kind != "alertlist" {
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{title}");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
                let expr = t["expr"].as_str().unwrap();
                assert!(expr.contains("job=~\"$job\""), "{title}: {expr}");
            }
        }
        // Every stat, gauge and bar gauge says what is good and bad (not
        // Grafana's default red at 80).
        if ["stat", "gauge", "bargauge"].contains(&kind) {
            let steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                .as_array()
                .unwrap_or_else(|| panic!("{title}: no thresholds"));
            assert!(!steps.is_empty(), "{title}");
            assert!(steps[0]["value"].is_null(), "{title}: a base step");
        }
    }
    for a in dash["annotations"]["list"].as_array().unwrap() {
        assert_eq!(a["datasource"]["uid"], "${datasource}");
    }
    let names: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["datasource", "job", "instance", "category"]);
    // Months are the centre's: the dashboard shows time in the timezone of
    // the configurations it is deployed with.
    for cfg in [
        "deploy/k8s/incident-monitor.toml",
        "deploy/compose/incident-monitor.toml",
    ] {
        let tz = std::fs::read_to_string(repo(cfg)).unwrap();
        assert!(
            tz.contains(&format!("timezone = {}", dash["timezone"])),
            "{cfg} and the dashboard's timezone {} differ",
            dash["timezone"]
        );
    }
    let kinds: Vec<&str> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"alertlist") && kinds.contains(&"table"));
    assert!(
        dash["links"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}

#[test]
fn systemd_units_of_publish_verify() {
    // systemd-analyze checks the units as systemd would load them; the
    // binary's path is this build's, and no user of that name exists here.
    let dir = TempDir::new("systemd");
    let unit = std::fs::read_to_string(repo("deploy/systemd/incident-monitor-publish.service"))
        .unwrap()
        .replace(
            "/usr/local/bin/incident-monitor",
            env!("CARGO_BIN_EXE_incident-monitor"),
        )
        .lines()
        .filter(|l| !l.starts_with("User=") && !l.starts_with("Group="))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(unit.contains("ExecStart=") && unit.contains(" publish --config "));
    std::fs::write(dir.path("incident-monitor-publish.service"), unit).unwrap();
    let timer =
        std::fs::read_to_string(repo("deploy/systemd/incident-monitor-publish.timer")).unwrap();
    assert!(timer.contains("Persistent=true") && timer.contains("OnCalendar=hourly"));
    std::fs::write(dir.path("incident-monitor-publish.timer"), timer).unwrap();
    let out = Command::new("systemd-analyze")
        .current_dir(&dir.0)
        .args([
            "verify",
            "--man=no",
            "./incident-monitor-publish.timer",
            "./incident-monitor-publish.service",
        ])
        .output()
        .expect("systemd-analyze (Debian's systemd; ./scripts/tools.sh installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}

/// The configuration's JSON Schema (for editors: Taplo, VS Code's Even
/// Better TOML) is generated from the configuration's own types
/// (`UPDATE_GOLDEN=1` rewrites it), and every shipped configuration
/// validates against it with a real validator (Python's jsonschema); an
/// unknown key does not.
#[test]
#[ignore = "needs the tools' Python: ./scripts/test.sh"]
fn config_schema_is_current_and_validates_the_shipped_configs() {
    let schema = schemars::schema_for!(incident_monitor::config::Config);
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = repo("config/incident-monitor.schema.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    assert!(
        std::fs::read_to_string(&path).unwrap() == text,
        "config/incident-monitor.schema.json is out of date: rerun with UPDATE_GOLDEN=1"
    );
    let python = tool("KUBERNETES_VALIDATE").with_file_name("python");
    let check = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    errors = list(validator.iter_errors(tomllib.load(open(path, "rb"))))
    for e in errors:
        print(f"{path}: {list(e.path)}: {e.message}")
    bad += bool(errors)
print(f"{len(sys.argv) - 2 - bad} valid")
sys.exit(1 if bad else 0)
"#;
    let dir = TempDir::new("schema");
    let unknown = dir.path("unknown.toml");
    std::fs::write(&unknown, "[ledger]\nprovince = [\"ha-noi\"]\n").unwrap();
    let configs = [
        "config/incident-monitor.toml",
        "config/ncsc-vietnam.toml",
        "deploy/k8s/incident-monitor.toml",
        "deploy/compose/incident-monitor.toml",
    ];
    let out = run_ok(
        Command::new(&python)
            .args(["-c", check])
            .arg(&path)
            .args(configs.iter().map(|c| repo(c))),
    );
    assert!(out.contains(&format!("{} valid", configs.len())), "{out}");
    let out = Command::new(&python)
        .args(["-c", check])
        .arg(&path)
        .arg(&unknown)
        .output()
        .unwrap();
    assert!(!out.status.success(), "an unknown key validated");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("province"),
        "{out:?}"
    );
}
