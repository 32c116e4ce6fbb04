//! The HTTP endpoint beside the consumer: `/metrics` (Prometheus text
//! format), `/healthz` (the process is alive), `/readyz` (partitions are
//! assigned and being consumed) and `/report?month=YYYY-MM&lang=vi|en&format=
//! html|json|markdown|text` (the monthly report from the live state).
//!
//! One small hyper server; a task per connection, never per message. It
//! serves what the consume loop last published in [`Metrics`] and never
//! touches the monitor's state, so a slow scrape cannot slow consumption.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::calendar::YearMonth;
use crate::metrics::Metrics;
use crate::report::{Format, Lang, ReportError};

/// Produces reports from the live state (implemented by the app).
pub trait Reports: Send + Sync + 'static {
    fn render(&self, month: YearMonth, lang: Lang, format: Format) -> Result<String, ReportError>;
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

/// Binds the listener (so a busy port is reported before consuming starts).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError {
        addr: addr.to_owned(),
        source,
    })
}

/// Serves until `shutdown` is cancelled; open connections are then dropped
/// once their current request is answered.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    reports: Option<Arc<dyn Reports>>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, _) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        let reports = reports.clone();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            let svc = service_fn(move |req| {
                let metrics = metrics.clone();
                let reports = reports.clone();
                async move {
                    if req.uri().path() == "/report" {
                        return Ok::<_, Infallible>(
                            report(req.uri().query().unwrap_or(""), reports).await,
                        );
                    }
                    Ok::<_, Infallible>(handle(&req, &metrics))
                }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), tracker.wait()).await;
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// Decodes `%XX` and `+` in a query value.
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        // Two hex digits: at most 255.
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parameters of `GET /report`: `month` (required, `YYYY-MM`),
/// `lang` (`en` by default) and `format` (`html` by default), `%XX` and `+`
/// decoded; the error is the 400 message.
pub fn parse_report_query(query: &str) -> Result<(YearMonth, Lang, Format), String> {
    let (mut month, mut lang, mut format) = (None, "en".to_owned(), "html".to_owned());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "month" => month = Some(decode(v)),
            "lang" => lang = decode(v),
            "format" => format = decode(v),
            _ => {}
        }
    }
    let month: YearMonth = match month.as_deref().map(str::parse::<YearMonth>) {
        None => {
            return Err(
                "month is required: /report?month=YYYY-MM&lang=vi|en&format=html|json|markdown"
                    .into(),
            );
        }
        Some(Err(e)) => return Err(e.to_string()),
        Some(Ok(m)) => m,
    };
    Ok((month, lang.parse()?, format.parse()?))
}

/// `GET /report`: 400 for a bad parameter, 404 for a month without data.
async fn report(query: &str, reports: Option<Arc<dyn Reports>>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    let Some(reports) = reports else {
        return text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "reports are not served by this process\n".into(),
        );
    };
    let bad = |msg: String| text(StatusCode::BAD_REQUEST, PLAIN, format!("{msg}\n"));
    let (month, lang, format) = match parse_report_query(query) {
        Ok(p) => p,
        Err(e) => return bad(e),
    };
    // Reading the other partitions' checkpoints is file I/O: off the runtime.
    let rendered = tokio::task::spawn_blocking(move || reports.render(month, lang, format)).await;
    match rendered {
        Ok(Ok(body)) => {
            let ct = match format {
                Format::Html => "text/html; charset=utf-8",
                Format::Json => "application/json",
                Format::Markdown => "text/markdown; charset=utf-8",
                Format::Text => PLAIN,
            };
            text(StatusCode::OK, ct, body)
        }
        Ok(Err(e @ ReportError::NoData { .. })) => {
            text(StatusCode::NOT_FOUND, PLAIN, format!("{e}\n"))
        }
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, PLAIN, format!("{e}\n")),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            PLAIN,
            format!("report failed: {e}\n"),
        ),
    }
}

fn handle(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "use GET\n".into());
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" => text(StatusCode::OK, PLAIN, "ok\n".into()),
        "/readyz" => match metrics.health.ready() {
            (true, _) => text(StatusCode::OK, PLAIN, "ready\n".into()),
            (false, why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                PLAIN,
                format!("not ready: {why}\n"),
            ),
        },
        "/" => text(
            StatusCode::OK,
            PLAIN,
            "incident-monitor: /metrics /healthz /readyz /report?month=YYYY-MM&lang=vi|en&format=html|json|markdown\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}
