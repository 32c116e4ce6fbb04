//! The HTTP endpoint beside the consumer: `/metrics` (Prometheus text
//! format), `/healthz` (the process is alive), `/readyz` (partitions are
//! assigned and being consumed) and `/report?month=YYYY-MM&lang=vi|en&format=
//! html|json|markdown|text` (the monthly report from the live state).
//!
//! An axum router behind an accept loop of our own: the loop bounds the
//! connections (the one idle the longest gives way to a newcomer), wraps
//! them in TLS when the web configuration says so, and
//! hands them to hyper with a header-read timeout; the router checks
//! methods (405 with `Allow`), request sizes (413; hyper answers 431 for
//! a head, URI included, over 16 KiB), credentials (401) and time (408), and bounds
//! the report renders (503 with `Retry-After` when they are all busy). It
//! serves what the consume loop last published in [`Metrics`] and never
//! touches the monitor's state, so a slow scrape cannot slow consumption.

mod auth;
mod listen;
mod places;
mod routes;
pub mod web_config;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::calendar::{Period, YearMonth};
use crate::report::{Format, Lang, ReportError};
pub use listen::{bind, serve};
pub use web_config::{WebConfig, WebConfigError};

/// Produces reports from the live state (implemented by the app).
pub trait Reports: Send + Sync + 'static {
    fn render(&self, req: &ReportRequest) -> Result<String, ReportError>;
}

/// The endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} for metrics: {source}; choose another --metrics-addr (port 0 picks a free one)"
)]
pub struct ServeError {
    pub addr: String,
    pub source: std::io::Error,
}

/// What protects the endpoint from its clients (`[metrics]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections held at once; when all are taken, a newcomer takes the
    /// place of the one idle the longest ([`places`]). HTTP/1.1 has one
    /// request in flight per connection, so this also bounds the requests.
    pub max_connections: usize,
    /// Time to receive a request's headers (and a TLS handshake); an idle
    /// keep-alive connection is closed after it too.
    pub header_timeout: Duration,
    /// Time to answer a request (408 after it).
    pub request_timeout: Duration,
    /// `/report` renders at once; beyond them 503 with `Retry-After`.
    pub max_report_renders: usize,
}

/// The web configuration in force, re-read when its file or a
/// certificate it names changes (checked at most once a second, on new
/// connections), as the exporter toolkit does, so a rotated certificate
/// is served without a restart. A change that does not load keeps the
/// previous configuration and logs why; until a load succeeds it is tried
/// again at every check (the files it names may not exist yet: a
/// certificate issued a little later is taken when it appears).
#[derive(Debug)]
pub struct Security {
    path: Option<PathBuf>,
    current: RwLock<Arc<WebConfig>>,
    checked: Mutex<Checked>,
}

/// When the files were last checked, how they stood, and why the last
/// load failed (`None`: it did not).
#[derive(Debug)]
struct Checked {
    at: Instant,
    stamp: Vec<Option<SystemTime>>,
    failing: Option<String>,
}

impl Security {
    /// No TLS, no authentication (the loopback default).
    pub fn open() -> Security {
        Security::with(None, WebConfig::default())
    }

    /// Loads the web configuration at `path`.
    pub fn load(path: PathBuf) -> Result<Security, WebConfigError> {
        let cfg = WebConfig::load(&path)?;
        Ok(Security::with(Some(path), cfg))
    }

    fn with(path: Option<PathBuf>, cfg: WebConfig) -> Security {
        let stamp = WebConfig::stamp(&cfg.watched);
        Security {
            path,
            current: RwLock::new(Arc::new(cfg)),
            checked: Mutex::new(Checked {
                at: Instant::now(),
                stamp,
                failing: None,
            }),
        }
    }

    /// What protects the endpoint, in a few words (for the start log
    /// line and `check-config`; never a secret).
    pub fn describe(&self, addr: &str) -> String {
        let c = self.get();
        let scheme = if c.tls.is_some() { "https" } else { "http" };
        let auth = match c.users.len() {
            0 => "no authentication".to_owned(),
            n => format!("basic auth ({n} users)"),
        };
        let certs = if c.client_certs {
            ", client certificates"
        } else {
            ""
        };
        format!("{scheme}://{addr} with {auth}{certs}")
    }

    /// Whether connections are served over TLS.
    pub fn tls(&self) -> bool {
        self.get().tls.is_some()
    }

    /// The configuration in force now.
    pub fn get(&self) -> Arc<WebConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The configuration in force, after reloading it if its files changed
    /// (or the last load failed).
    pub fn current(&self) -> Arc<WebConfig> {
        let Some(path) = &self.path else {
            return self.get();
        };
        let watched = self.get().watched.clone();
        let Ok(mut checked) = self.checked.lock() else {
            return self.get();
        };
        if checked.at.elapsed() < Duration::from_secs(1) {
            return self.get();
        }
        checked.at = Instant::now();
        let stamp = WebConfig::stamp(&watched);
        if stamp == checked.stamp && checked.failing.is_none() {
            return self.get();
        }
        checked.stamp = stamp;
        match WebConfig::load(path) {
            Ok(cfg) => {
                tracing::info!(path = %path.display(), "web config changed: reloaded");
                checked.failing = None;
                let cfg = Arc::new(cfg);
                if let Ok(mut c) = self.current.write() {
                    *c = cfg.clone();
                }
                cfg
            }
            Err(e) => {
                // Said once per distinct reason, not at every retry.
                let why = e.to_string();
                if checked.failing.as_deref() != Some(why.as_str()) {
                    tracing::warn!(error = %why, "web config changed but cannot be used: keeping the previous one (tried again every second)");
                }
                checked.failing = Some(why);
                self.get()
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    month: Option<String>,
    period: Option<String>,
    against: Option<String>,
    sector: Option<String>,
    province: Option<String>,
    lang: Option<String>,
    format: Option<String>,
}

/// What `GET /report` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    pub period: Period,
    pub against: Option<Period>,
    /// One sector's or province's slice.
    pub slice: Option<crate::report::Slice>,
    pub lang: Lang,
    pub format: Format,
}

const REPORT_USAGE: &str = "use /report?month=YYYY-MM or /report?period=PERIOD (2022-Q2, 2022-H1, 2022, FY2023, 2023-W03, 2023-01-16..2023-01-22), &against=PERIOD, &sector=NAME or &province=NAME, &lang=vi|en, &format=html|json|markdown|text";

/// The parameters of `GET /report`: `month` (`YYYY-MM`) or `period` (any
/// form of `report --period`), `against` (a period to compare with), `lang`
/// (`en` by default) and `format` (`html` by default), percent-decoded
/// (`application/x-www-form-urlencoded`); the error is the 400 message,
/// naming the parameter.
pub fn parse_report_query(query: &str) -> Result<ReportRequest, String> {
    let q: ReportQuery =
        serde_urlencoded::from_str(query).map_err(|e| format!("bad query: {e}; {REPORT_USAGE}"))?;
    let period = match (q.month.as_deref(), q.period.as_deref()) {
        (Some(_), Some(_)) => return Err(format!("month and period: give one; {REPORT_USAGE}")),
        (None, None) => return Err(format!("month or period is required; {REPORT_USAGE}")),
        (Some(m), None) => {
            Period::Month(m.parse::<YearMonth>().map_err(|e| format!("month: {e}"))?)
        }
        (None, Some(p)) => p.parse::<Period>().map_err(|e| format!("period: {e}"))?,
    };
    let against = match q.against.as_deref() {
        None => None,
        Some(a) => Some(a.parse::<Period>().map_err(|e| format!("against: {e}"))?),
    };
    use crate::report::Slice;
    let slice = match (q.sector, q.province) {
        (Some(_), Some(_)) => {
            return Err(format!("sector and province: give one; {REPORT_USAGE}"));
        }
        (None, None) => None,
        (Some(s), None) if crate::classify::is_label_safe(&s) => Some(Slice::Sector(s)),
        (Some(s), None) => {
            return Err(format!(
                "sector: {:?} is not a sector name (a-z, 0-9, _ or -)",
                crate::text::escaped(&s)
            ));
        }
        (None, Some(p)) if is_place_name(&p) => Some(Slice::Province(p)),
        (None, Some(p)) => {
            return Err(format!(
                "province: {:?} is not a province name (1 to 80 characters, no control characters)",
                crate::text::escaped(&p)
            ));
        }
    };
    let lang = q
        .lang
        .as_deref()
        .unwrap_or("en")
        .parse()
        .map_err(|e| format!("lang: {e}"))?;
    let format = q
        .format
        .as_deref()
        .unwrap_or("html")
        .parse()
        .map_err(|e| format!("format: {e}"))?;
    Ok(ReportRequest {
        period,
        against,
        slice,
        lang,
        format,
    })
}

/// A province as a user names it: its code or a display name (`Hà Nội`).
pub fn is_place_name(s: &str) -> bool {
    let n = s.chars().count();
    (1..=80).contains(&n) && !s.chars().any(char::is_control) && !s.trim().is_empty()
}
