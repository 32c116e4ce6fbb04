//! The HTTP endpoint of a run and what it publishes: the metrics registry,
//! the server task, the spike detector, and a task that compares the
//! archive with the state every minute (`publish_pending`). The run loop
//! ([`super::Run`]) calls [`Endpoint::publish`] on its metrics tick,
//! whatever the source.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{AppError, LiveReports};
use crate::clock::wall_now_ms;
use crate::config::Settings;
use crate::count::Monitor;
use crate::metrics::Metrics;
use crate::server;
use crate::spike::SpikeDetector;
use crate::state::Source;

/// The endpoint's web configuration (`[metrics] web_config`), loaded and
/// checked: a file that cannot be used is a usage error.
pub(crate) fn security(cfg: &crate::config::Config) -> Result<server::Security, AppError> {
    match &cfg.metrics.web_config {
        None => Ok(server::Security::open()),
        Some(p) => server::Security::load(p.clone()).map_err(|e| AppError::Usage(e.to_string())),
    }
}

pub(crate) struct Endpoint {
    pub metrics: Arc<Metrics>,
    pub addr: SocketAddr,
    spikes: SpikeDetector,
    /// The partitions behind the last published figures.
    holding: Vec<crate::state::PartitionKey>,
    last: Instant,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// Binds `addr` (a busy port is a usage error) and starts serving;
    /// not ready until the run says so. `inputs` are the run's, as
    /// `(name, state source)`.
    pub(crate) async fn start(
        settings: &Settings,
        inputs: &[(String, Source)],
        addr: &str,
        reports: Arc<LiveReports>,
    ) -> Result<Endpoint, AppError> {
        let cfg = &settings.config;
        let windows: Vec<String> = cfg.windows.windows.iter().map(|w| w.name.clone()).collect();
        let window_secs: Vec<f64> = cfg
            .windows
            .windows
            .iter()
            .map(|w| w.length_secs as f64)
            .collect();
        let metrics = Arc::new(Metrics::new(
            settings.categories(),
            &windows,
            &settings.sectors,
            inputs,
        )?);
        metrics.set_ready(false, "starting");
        let listener = server::bind(addr)
            .await
            .map_err(|e| AppError::Usage(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(AppError::io("the metrics listener has no address"))?;
        let security = Arc::new(security(cfg)?);
        if security.get().users.is_empty() && !security.tls() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "serving without TLS or authentication on a non-loopback address: set [metrics] web_config (docs/security.md)");
        }
        tracing::info!(%addr, endpoint = %security.describe(&addr.to_string()), "serving /metrics, /healthz, /readyz and /report");
        let m = &cfg.metrics;
        let limits = server::Limits {
            max_connections: usize::try_from(m.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(m.header_timeout_secs),
            request_timeout: Duration::from_secs(m.request_timeout_secs),
            max_report_renders: usize::try_from(m.max_report_renders).unwrap_or(usize::MAX),
        };
        let stop = CancellationToken::new();
        tokio::spawn(watch_archive(
            reports.clone(),
            metrics.clone(),
            stop.clone(),
        ));
        let server = tokio::spawn(server::serve(
            listener,
            metrics.clone(),
            Some(reports as Arc<dyn server::Reports>),
            security,
            limits,
            stop.clone(),
        ));
        Ok(Endpoint {
            spikes: SpikeDetector::new(
                cfg.spike.clone(),
                &window_secs,
                settings.categories().len(),
            ),
            metrics,
            addr,
            holding: Vec::new(),
            last: Instant::now(),
            stop,
            server,
        })
    }

    /// Writes the monitor's figures and the spike verdicts into the metrics.
    pub(crate) fn publish(&mut self, monitor: &mut Monitor) {
        let dt = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        let view = monitor.view(wall_now_ms());
        self.metrics.update(&view);
        // Partitions arrived or left: window counts move with them, which
        // is not a spike (spec §6).
        if view.holding != self.holding {
            self.spikes.rebase();
            self.holding = view.holding;
        }
        for (w, counts) in view.windows.iter().enumerate() {
            for (c, &n) in counts.iter().enumerate() {
                let s = self.spikes.observe(w, c, n, dt);
                self.metrics.set_spike(w, c, s.score, s.spiking);
            }
        }
    }

    /// Stops serving (open connections finish their request).
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}

/// How often the archive is compared with the state
/// (`incident_monitor_publish_pending`): a month closes once, and publish
/// runs hourly at most, so a minute is plenty.
const ARCHIVE_WATCH: Duration = Duration::from_secs(60);

/// Sets `publish_pending` from the archive and the whole state, now and
/// every [`ARCHIVE_WATCH`], off the runtime's workers, until `stop`.
async fn watch_archive(reports: Arc<LiveReports>, metrics: Arc<Metrics>, stop: CancellationToken) {
    loop {
        let r = reports.clone();
        match tokio::task::spawn_blocking(move || r.pending()).await {
            Ok(Ok(Some(p))) => metrics.set_publish_pending(p.unpublished, p.changed),
            Ok(Ok(None)) => metrics.set_publish_pending(0, 0),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "publish_pending: the state cannot be read yet")
            }
            Err(e) => tracing::warn!(error = %e, "publish_pending: the archive watch failed"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ARCHIVE_WATCH) => {}
        }
    }
}
