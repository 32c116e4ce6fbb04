//! The serde model of the configuration file, with its defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::classify::ClassificationConfig;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// IANA timezone of the calendar months (e.g. `Asia/Ho_Chi_Minh`).
    pub timezone: String,
    pub events: EventsConfig,
    pub classification: ClassificationConfig,
    pub dedup: DedupConfig,
    pub lifecycle: LifecycleConfig,
    pub windows: WindowsConfig,
    pub ledger: LedgerConfig,
    pub state: StateConfig,
    pub report: ReportConfig,
    pub kafka: KafkaConfig,
    /// Several Kafka inputs, each a topic with its format; without any,
    /// the one input is `kafka.topic` in `events.format`.
    pub inputs: Vec<InputConfig>,
    pub metrics: MetricsConfig,
    pub spike: SpikeConfig,
    pub publish: PublishConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timezone: "UTC".to_owned(),
            events: EventsConfig::default(),
            classification: ClassificationConfig::default(),
            dedup: DedupConfig::default(),
            lifecycle: LifecycleConfig::default(),
            windows: WindowsConfig::default(),
            ledger: LedgerConfig::default(),
            state: StateConfig::default(),
            report: ReportConfig::default(),
            kafka: KafkaConfig::default(),
            inputs: Vec::new(),
            metrics: MetricsConfig::default(),
            spike: SpikeConfig::default(),
            publish: PublishConfig::default(),
        }
    }
}

/// Input limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// The format of incoming messages (`native`: spec §2).
    pub format: crate::decode::Format,
    /// Messages longer than this are rejected as `too_large`.
    pub max_event_bytes: usize,
    /// An event dated more than this after the wall clock when it arrives is
    /// rejected as `future_time` (a sensor with a wrong clock).
    pub max_future_secs: u64,
    /// An event dated before this is rejected as `too_old`: a date
    /// (`YYYY-MM-DD`, midnight in the configured timezone) or an RFC 3339
    /// instant.
    pub earliest_time: String,
    /// Wazuh alerts with a `rule.level` below this are filtered
    /// (`below_level`), not counted (0-15).
    pub wazuh_min_level: u64,
    /// IANA zone of a tool's timestamp written without an offset.
    pub naive_time_zone: String,
    /// Where the native fields are, with `format = "custom"`.
    pub mapping: crate::decode::MappingConfig,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            format: crate::decode::Format::Native,
            max_event_bytes: 65_536,
            max_future_secs: 86_400,
            earliest_time: "1990-01-01".to_owned(),
            wazuh_min_level: 7,
            naive_time_zone: "UTC".to_owned(),
            mapping: crate::decode::MappingConfig::default(),
        }
    }
}

/// Distinct-incident memory (spec §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// How long an id is remembered after it was last seen (arrival, wall
    /// clock, not event time). A message of an incident forgotten this way
    /// counts it again.
    pub horizon_days: u32,
    /// Hard cap on remembered ids per partition (40 to 60 bytes each). When
    /// reached, the ids seen longest ago are evicted (counted in
    /// `incident_monitor_dedup_evicted_total`); an evicted id delivered
    /// again counts again.
    pub max_ids_per_partition: usize,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            horizon_days: 400,
            max_ids_per_partition: 2_000_000,
        }
    }
}

/// Incident updates (spec §4 "Updates"): the status words of each stage,
/// and how long the incidents that later messages can still move are
/// remembered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// `status` words of the `warned` stage (any case).
    pub warned: Vec<String>,
    /// `status` words of the `handled` stage (any case); any other status
    /// is `recorded`.
    pub handled: Vec<String>,
    /// How long an incident is remembered for its updates after its last
    /// message arrived (wall clock). An open incident forgotten this way
    /// is counted in `incident_monitor_lifecycle_forgotten_total`.
    pub remember_days: u32,
    /// Hard cap on remembered incidents per partition (64 bytes each, and
    /// 64 for each place left by an incident renewed in a later hour);
    /// past it, those whose last message is oldest are forgotten.
    /// 0 turns updates off: every later message is a duplicate.
    pub max_per_partition: usize,
    /// A detection-to-stage time longer than this is not recorded (it is
    /// counted as `too_long`); the stage still counts.
    pub max_time_days: u32,
    /// An incident detected more than this long ago (and within the last
    /// 30 days) and not handled is overdue:
    /// `incident_monitor_lifecycle_overdue` counts them, for the
    /// IncidentsUnhandled alert.
    pub overdue_hours: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        LifecycleConfig {
            warned: words(&["warned", "notified", "confirmed"]),
            handled: words(&["resolved", "closed", "handled", "mitigated"]),
            remember_days: 800,
            max_per_partition: 190_000,
            max_time_days: 366,
            overdue_hours: 72,
        }
    }
}

/// Event-time sliding windows (spec §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsConfig {
    /// Windows end at the watermark, the largest event time seen minus this:
    /// an event this much out of order still lands in its pane, and window
    /// counts trail the newest event by this much.
    pub allowed_lateness_secs: u64,
    /// After this long without events the window clock follows the wall clock.
    pub idle_after_secs: u64,
    /// The windows, each exported with its `name` as the `window` label.
    pub windows: Vec<WindowSpec>,
}

/// One sliding window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Label value, e.g. `5m`.
    pub name: String,
    /// Window length.
    pub length_secs: u64,
    /// Granularity (pane width); `length_secs` must be a multiple of it.
    pub slide_secs: u64,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        let w = |name: &str, length_secs, slide_secs| WindowSpec {
            name: name.to_owned(),
            length_secs,
            slide_secs,
        };
        WindowsConfig {
            allowed_lateness_secs: 60,
            idle_after_secs: 30,
            windows: vec![w("5m", 300, 10), w("1h", 3600, 60), w("24h", 86_400, 900)],
        }
    }
}

/// Calendar ledger breakdowns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// `target.sector` values counted by name (lower case); others count as
    /// `other`, a missing sector as `unknown`.
    pub sectors: Vec<String>,
    /// Display names of sectors in reports, per language:
    /// `[ledger.labels.vi] finance = "Tài chính - Ngân hàng"` (a sector
    /// listed above, `other` or `unknown`).
    pub labels: LabelTable,
    /// `target.province` values counted by code (lower case); a name
    /// matches a province by its code, display names or aliases, compared
    /// without case, diacritics or punctuation; others count as `other`, a
    /// missing province as `unknown`. Built in: the 63 provinces of Vietnam.
    pub provinces: Vec<String>,
    /// Display names of provinces in reports, per language (a province
    /// listed above, `other` or `unknown`); they also match incidents.
    pub province_labels: LabelTable,
    /// Other names of a province that match it: `ho-chi-minh = ["Sài Gòn"]`.
    pub province_aliases: BTreeMap<String, Vec<String>>,
    /// Prefixes dropped from a `target.province` that matches no province
    /// as written (`Thành phố Hà Nội` is `ha-noi`).
    pub province_prefixes: Vec<String>,
}

pub use crate::classify::LabelTable;

/// The display names a report shows for category and sector codes (from
/// `[classification.labels.*]` and `[ledger.labels.*]`, checked); codes
/// without one use the built-in names (`report::labels`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Labels {
    #[serde(default)]
    pub categories: LabelTable,
    #[serde(default)]
    pub sectors: LabelTable,
    #[serde(default)]
    pub provinces: LabelTable,
}

/// The sectors counted by name by default (others count as `other`).
pub const DEFAULT_SECTORS: [&str; 9] = [
    "government",
    "finance",
    "education",
    "healthcare",
    "energy",
    "telecom",
    "transport",
    "manufacturing",
    "retail",
];

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            sectors: DEFAULT_SECTORS.map(str::to_owned).to_vec(),
            labels: LabelTable::new(),
            provinces: crate::classify::default_province_codes(),
            province_labels: LabelTable::new(),
            province_aliases: BTreeMap::new(),
            province_prefixes: crate::classify::DEFAULT_PROVINCE_PREFIXES
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// Persistence of the aggregated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// Directory of the checkpoints (`--state-dir` overrides).
    pub dir: String,
    /// A compacted Kafka topic to keep the checkpoints in instead of the
    /// directory (`--state-topic` overrides); empty: the directory. Kafka
    /// runs only; created if missing.
    pub topic: String,
    /// How often state and positions are checkpointed while running.
    pub checkpoint_interval_ms: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: "state".to_owned(),
            topic: String::new(),
            checkpoint_interval_ms: 5_000,
        }
    }
}

/// Who the report speaks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportConfig {
    /// Name of the reporting organisation in English sentences.
    pub organization_en: String,
    /// Name of the reporting organisation in Vietnamese sentences.
    pub organization_vi: String,
    /// Where the incidents happened, in English (`in Vietnam`); empty to omit.
    pub scope_en: String,
    /// Where the incidents happened, in Vietnamese (`tại Việt Nam`); empty to omit.
    pub scope_vi: String,
    /// The first month of a fiscal year (`--period FY2023`): 1 for the
    /// calendar year, 4 for April-March, 10 for October-September. A
    /// fiscal year is named by the calendar year it ends in.
    pub fiscal_year_start_month: u8,
    /// The display names of categories and sectors: compiled from
    /// `[classification.labels]` and `[ledger.labels]` when the
    /// configuration is validated (not a key of `[report]`), kept with
    /// the state so that `report` shows them without the configuration.
    #[serde(skip)]
    pub labels: Labels,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            organization_en: "the security operations centre".to_owned(),
            organization_vi: "Trung tâm điều hành an ninh mạng".to_owned(),
            scope_en: String::new(),
            scope_vi: String::new(),
            fiscal_year_start_month: 1,
            labels: Labels::default(),
        }
    }
}

/// One Kafka input (`[[inputs]]`): a topic and its format, with the
/// `[events]` settings of the tool formats overridable per input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// The value of the metrics' `input` label (default: the topic).
    #[serde(default)]
    pub name: String,
    pub topic: String,
    /// Default: `events.format`.
    #[serde(default)]
    pub format: Option<crate::decode::Format>,
    /// Default: `events.wazuh_min_level`.
    #[serde(default)]
    pub wazuh_min_level: Option<u64>,
    /// Default: `events.naive_time_zone`.
    #[serde(default)]
    pub naive_time_zone: Option<String>,
    /// Default: `[events.mapping]` (`format = "custom"` only).
    #[serde(default)]
    pub mapping: Option<crate::decode::MappingConfig>,
    /// The consumer group of this input. Default: `kafka.group_id` when
    /// it is the only input, else `<kafka.group_id>.<name>`.
    #[serde(default)]
    pub group_id: Option<String>,
}

/// The Kafka source (`run` without `--input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated (`--brokers` overrides).
    pub brokers: String,
    /// Topic of incident reports (`--topic` overrides).
    pub topic: String,
    /// Consumer group (`--group` overrides). Instances of one group share the
    /// topic's partitions.
    pub group_id: String,
    /// Static group membership (librdkafka `group.instance.id`): a member
    /// that restarts within the session timeout under the same id gets its
    /// partitions back without a rebalance. Empty: dynamic membership. The
    /// environment variable `INCIDENT_MONITOR_KAFKA_GROUP_INSTANCE_ID`
    /// overrides it (Kubernetes: the pod name).
    pub group_instance_id: String,
    /// Topic that receives rejected messages (original bytes, with the reason
    /// and source partition/offset in headers); empty: none.
    pub dead_letter_topic: String,
    /// How long to wait for a broker before retrying, at most (backoff
    /// doubles from 1 s up to this).
    pub max_retry_backoff_secs: u64,
    /// On SIGINT/SIGTERM: how long checkpoint and commit may take before the
    /// process exits anyway.
    pub drain_timeout_secs: u64,
    /// `run --until-end` gives up (exit 1) when no broker has answered for
    /// this long; a long-running `run` keeps retrying and says so in
    /// `/readyz`.
    pub connect_timeout_secs: u64,
    /// librdkafka properties passed through as they are, e.g.
    /// `"fetch.max.bytes" = "52428800"`. They override the monitor's own
    /// settings except the offset discipline (auto commit and offset store).
    /// A key ending in `_file` (`"sasl.password_file"`) takes the
    /// property's value from that file; see [`super::SECRET_ENV`] for the
    /// environment.
    pub properties: Properties,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".to_owned(),
            topic: "incidents".to_owned(),
            group_id: "incident-monitor".to_owned(),
            group_instance_id: String::new(),
            dead_letter_topic: String::new(),
            max_retry_backoff_secs: 30,
            drain_timeout_secs: 15,
            connect_timeout_secs: 60,
            properties: Properties::default(),
        }
    }
}

/// `[kafka.properties]`: a map whose `Debug` shows every key but never
/// the value of a secret (a password, a key, a token), so no log line or
/// error that prints the configuration can disclose one.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Properties(pub std::collections::BTreeMap<String, String>);

impl Properties {
    /// Whether a property's value is a secret.
    pub fn is_secret(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        [
            "password",
            "secret",
            "token",
            "jaas",
            "key.pem",
            "credentials",
            "passphrase",
        ]
        .iter()
        .any(|s| k.contains(s))
    }

    /// `text` with every configured property value hidden: what librdkafka
    /// says of a property it refuses quotes the value, and a value may be a
    /// secret under any key (a misspelled `sasl.passwrd`, a secret read
    /// from a file or the environment), so none is shown.
    pub fn redact(&self, text: &str) -> String {
        let mut values: Vec<&str> = self
            .0
            .values()
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .collect();
        // Longest first: a value that contains another is hidden whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let mut out = text.to_owned();
        for v in values {
            out = out.replace(v, "<value hidden>");
        }
        out
    }
}

impl FromIterator<(String, String)> for Properties {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Properties(iter.into_iter().collect())
    }
}

impl std::ops::Deref for Properties {
    type Target = std::collections::BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Properties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if Properties::is_secret(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// The HTTP endpoint (`/metrics`, `/healthz`, `/readyz`, `/report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Listen address (`--metrics-addr` overrides; port 0 picks a free port).
    pub listen_addr: String,
    /// How often gauges, windows and spike scores are recomputed.
    pub update_interval_ms: u64,
    /// The exporter-toolkit web configuration (TLS, basic auth, headers);
    /// `--web-config` overrides. Relative to the working directory.
    pub web_config: Option<std::path::PathBuf>,
    /// Connections held at once; when all are taken, the one idle the
    /// longest gives way to a newcomer (docs/security.md).
    pub max_connections: u64,
    /// Time to receive a request's headers or finish a TLS handshake;
    /// idle keep-alive connections are closed after it too.
    pub header_timeout_secs: u64,
    /// Time to answer a request (408 after it).
    pub request_timeout_secs: u64,
    /// `/report` renders at once (503 with Retry-After beyond them).
    pub max_report_renders: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen_addr: "127.0.0.1:9898".to_owned(),
            update_interval_ms: 1000,
            web_config: None,
            max_connections: 1024,
            header_timeout_secs: 10,
            request_timeout_secs: 30,
            max_report_renders: 2,
        }
    }
}

/// Spike detection on window counts (method in `src/spike.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    /// Score (sigmas above the baseline) at which a window is a spike.
    pub threshold: f64,
    /// Fewer incidents than this in the window is never a spike.
    pub min_count: u64,
    /// Half-life of the exponentially weighted baseline.
    pub baseline_half_life_secs: u64,
    /// Samples (metrics updates) before a series may report a spike.
    pub warmup_samples: u64,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            threshold: 4.0,
            min_count: 10,
            baseline_half_life_secs: 3600,
            warmup_samples: 60,
        }
    }
}

/// Publishing the closed months (spec §11): the archive, what each
/// version holds, and where each new version is delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Directory of the published versions (`publish --archive` overrides).
    pub archive_dir: String,
    /// A month is published this long after it closed (in `timezone`), so
    /// that the reports of its last days are in.
    pub after_close_secs: u64,
    /// The report's languages in each version (`en`, `vi`); the first is
    /// an e-mail's body.
    pub langs: Vec<String>,
    /// The report's formats in each version (`html`, `json`, `markdown`,
    /// `text`).
    pub formats: Vec<String>,
    /// E-mail destinations.
    pub email: Vec<EmailDestination>,
    /// Webhook destinations.
    pub webhook: Vec<WebhookDestination>,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            archive_dir: "archive".to_owned(),
            after_close_secs: 2 * 86_400,
            langs: vec!["vi".to_owned(), "en".to_owned()],
            formats: ["html", "json", "markdown", "text"]
                .map(str::to_owned)
                .to_vec(),
            email: Vec::new(),
            webhook: Vec::new(),
        }
    }
}

/// STARTTLS on a `smtp://` destination.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    /// When the server offers it (the default).
    #[default]
    Opportunistic,
    /// Refuse to send without it.
    Required,
}

/// `[[publish.email]]`: a report by e-mail, over SMTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailDestination {
    /// Names the destination in the archive's records and in output.
    pub name: String,
    /// `smtp://host[:port]` (STARTTLS when offered, or as `starttls`
    /// says) or `smtps://host[:port]` (TLS from the start).
    pub smtp_url: String,
    #[serde(default)]
    pub starttls: StartTls,
    pub from: String,
    pub to: Vec<String>,
    /// Empty: no authentication.
    #[serde(default)]
    pub username: String,
    /// A file holding the password (its first line).
    #[serde(default)]
    pub password_file: Option<std::path::PathBuf>,
    /// Or an environment variable holding it.
    #[serde(default)]
    pub password_env: String,
    /// A CA certificate (PEM) to trust instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Connecting and each reply.
    #[serde(default = "default_delivery_timeout")]
    pub timeout_secs: u64,
}

/// `[[publish.webhook]]`: the manifest POSTed as JSON, signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDestination {
    pub name: String,
    /// `https://...` (or `http://` for a receiver on a trusted network).
    pub url: String,
    /// A file holding the HMAC-SHA256 key the body is signed with (its
    /// bytes, without a trailing newline).
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
    /// A CA certificate (PEM) to trust instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    #[serde(default = "default_delivery_timeout")]
    pub timeout_secs: u64,
}

fn default_delivery_timeout() -> u64 {
    30
}
