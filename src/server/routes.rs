//! The routes and the middleware around them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::auth::{Verifier, credentials};
use super::{Limits, Reports, Security, parse_report_query};
use crate::metrics::Metrics;
use crate::report::{Format, ReportError};

/// The largest request body taken: every route is a GET, so any body is
/// a mistake or an attack (413).
const MAX_BODY: usize = 4096;

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    reports: Option<Arc<dyn Reports>>,
    security: Arc<Security>,
    renders: Arc<Semaphore>,
    max_renders: usize,
    auth: Arc<Verifier>,
}

const PLAIN: &str = "text/plain; charset=utf-8";

pub(super) fn router(
    metrics: Arc<Metrics>,
    reports: Option<Arc<dyn Reports>>,
    security: Arc<Security>,
    limits: Limits,
) -> Router {
    let shared = Shared {
        metrics,
        reports,
        security,
        renders: Arc::new(Semaphore::new(limits.max_report_renders)),
        max_renders: limits.max_report_renders,
        auth: Arc::new(Verifier::new()),
    };
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok\n") }))
        .route("/readyz", get(readyz))
        .route("/report", get(report))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(shared.clone(), headers))
        .with_state(shared)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, PLAIN)], body.into()).into_response()
}

async fn index() -> Response {
    text(
        StatusCode::OK,
        "incident-monitor: /metrics /healthz /readyz /report?month=YYYY-MM (or period=2022-Q2, 2022-H1, 2022, FY2023, 2023-W03, 2023-01-16..2023-01-22; against=PERIOD; sector=NAME or province=NAME)&lang=vi|en&format=html|json|markdown|text\n",
    )
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "not found: try /metrics, /healthz, /readyz or /report\n",
    )
}

async fn metrics_page(State(s): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<Shared>) -> Response {
    match s.metrics.health.ready() {
        (true, _) => text(StatusCode::OK, "ready\n"),
        (false, why) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", crate::text::escaped(&why)),
        ),
    }
}

/// `GET /report`: 400 for a bad parameter, 404 for a month without data,
/// 503 when every render place is busy.
async fn report(State(s): State<Shared>, req: Request) -> Response {
    let Some(reports) = s.reports.clone() else {
        return text(
            StatusCode::NOT_FOUND,
            "reports are not served by this process\n",
        );
    };
    let request = match parse_report_query(req.uri().query().unwrap_or("")) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let format = request.format;
    let Ok(place) = s.renders.clone().try_acquire_owned() else {
        let mut r = text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "busy: {} reports are being rendered; retry in a second\n",
                s.max_renders
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    };
    // Reading other partitions' checkpoints is file I/O: off the runtime.
    let rendered = tokio::task::spawn_blocking(move || {
        let _place = place;
        reports.render(&request)
    })
    .await;
    match rendered {
        Ok(Ok(body)) => {
            let ct = match format {
                Format::Html => "text/html; charset=utf-8",
                Format::Json => "application/json",
                Format::Markdown => "text/markdown; charset=utf-8",
                Format::Text => PLAIN,
            };
            let mut r = ([(header::CONTENT_TYPE, ct)], body).into_response();
            if format == Format::Html {
                let h = r.headers_mut();
                if let Ok(v) = HeaderValue::from_str(crate::report::content_security_policy()) {
                    h.insert(header::CONTENT_SECURITY_POLICY, v);
                }
                h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                h.insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                );
            }
            r
        }
        Ok(Err(
            e @ (ReportError::NoData { .. }
            | ReportError::Period(_)
            | ReportError::SliceUnavailable { .. }),
        )) => text(StatusCode::NOT_FOUND, format!("{e}\n")),
        Ok(Err(e @ ReportError::UnknownSlice(what, ..))) => {
            text(StatusCode::BAD_REQUEST, format!("{what}: {e}\n"))
        }
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("report failed: {e}\n"),
        ),
    }
}

/// Every answer: counted by route and status; never cached (live
/// figures, and a report is not for a shared cache), never sniffed, plus
/// the web configuration's headers.
async fn headers(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let route = crate::metrics::Http::route(req.uri().path());
    let mut r = next.run(req).await;
    s.metrics.http.answered(route, r.status().as_u16());
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in &s.security.get().headers {
        h.insert(name.clone(), value.clone());
    }
    r
}

/// Basic authentication when the web configuration has users. The
/// probes (`/healthz`, `/readyz`) stay open, as a kubelet cannot send
/// credentials without writing them into the pod spec; they disclose
/// only whether the process is alive and ready, and why not.
async fn authenticate(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let web = s.security.get();
    if web.users.is_empty() || matches!(req.uri().path(), "/healthz" | "/readyz") {
        return next.run(req).await;
    }
    let given = credentials(req.headers());
    let user = given.as_ref().map(|(u, _)| u.clone());
    let place = req.extensions().get::<Arc<super::places::Place>>().cloned();
    let ok = match given {
        Some((u, p)) => s.auth.check(&web, &u, p, place.as_deref()).await,
        None => false,
    };
    match ok {
        true => next.run(req).await,
        false => {
            if let Some(user) = user {
                tracing::debug!(user = %crate::text::escaped(&user), "metrics endpoint: wrong credentials");
            }
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"incident-monitor\", charset=\"UTF-8\""),
            );
            r
        }
    }
}
