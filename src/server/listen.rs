//! The accept loop: bounded connections (see [`super::places`]), TLS when
//! configured, hyper with a header-read timeout, graceful shutdown.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::places::{Place, Places};
use super::{Limits, Reports, Security, ServeError, routes};
use crate::metrics::{Closed, Metrics};

/// The largest request head hyper buffers: a longer head (a long URI too)
/// gets 431 (hyper's minimum is 8 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// Binds the listener (so a busy port is reported before consuming starts).
pub async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError {
        addr: addr.to_owned(),
        source,
    })
}

/// Serves until `shutdown` is cancelled; open connections are then closed
/// once their current request is answered.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    reports: Option<Arc<dyn Reports>>,
    security: Arc<Security>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let router = routes::router(metrics.clone(), reports, security.clone(), limits);
    let tracker = TaskTracker::new();
    // Accepted at most twice the limit: the served ones and as many
    // waiting for a place; beyond that, the kernel's backlog holds them.
    let accepted = Arc::new(Semaphore::new(limits.max_connections.saturating_mul(2)));
    let places = Places::new(limits.max_connections);
    loop {
        let admitted = tokio::select! {
            () = shutdown.cancelled() => break,
            p = accepted.clone().acquire_owned() => p,
        };
        // The semaphore is never closed.
        let Ok(admitted) = admitted else { break };
        let (stream, _) = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => match a {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let places = places.clone();
        let metrics = metrics.clone();
        let router = router.clone();
        let security = security.clone();
        let stop = shutdown.clone();
        tracker.spawn(async move {
            let _admitted = admitted;
            let Some(place) = places.take(limits.header_timeout).await else {
                tracing::debug!(
                    "metrics endpoint: connection closed, every place has a request in flight"
                );
                metrics.http.closed(Closed::NoPlace);
                return;
            };
            let place = Arc::new(place);
            let _ = stream.set_nodelay(true);
            let web = security.current();
            match web.tls.clone() {
                None => connection(stream, router, place, limits, stop, &metrics).await,
                Some(cfg) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream));
                    let tls = tokio::select! {
                        h = handshake => h,
                        () = place.evicted.cancelled() => {
                            metrics.http.closed(Closed::GaveWay);
                            return;
                        }
                    };
                    match tls {
                        Ok(Ok(tls)) => connection(tls, router, place, limits, stop, &metrics).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "metrics endpoint: TLS handshake failed");
                            metrics.http.closed(Closed::TlsFailed);
                        }
                        Err(_) => {
                            tracing::debug!("metrics endpoint: TLS handshake timed out");
                            metrics.http.closed(Closed::TlsTimeout);
                        }
                    }
                }
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), tracker.wait()).await;
}

/// One HTTP/1.1 connection, until the client closes it, a timeout, its
/// place is given to a newcomer while idle, or shutdown (after the
/// request in flight).
async fn connection<I>(
    io: I,
    router: axum::Router,
    place: Arc<Place>,
    limits: Limits,
    stop: CancellationToken,
    metrics: &Metrics,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tracked = place.clone();
    // Busy from a request's arrival until its answer is written (the body
    // dropped): only then may the connection give its place up.
    let service = tower::service_fn(move |req: axum::http::Request<Incoming>| {
        let router = router.clone();
        let place = tracked.clone();
        async move {
            place.busy();
            let mut req = req;
            // What may mark the request as waiting (a bcrypt turn).
            req.extensions_mut().insert(place.clone());
            let response = router.oneshot(req).await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(Answer {
                    body,
                    _idle: IdleWhenDone(place),
                })
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD);
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = place.evicted.cancelled() => {
            tracing::debug!("metrics endpoint: an idle connection gave its place to a new one");
            metrics.http.closed(Closed::GaveWay);
        }
        () = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Marks the connection idle when the answer's body is dropped (written,
/// or the connection closed).
struct IdleWhenDone(Arc<Place>);

impl Drop for IdleWhenDone {
    fn drop(&mut self) {
        self.0.idle();
    }
}

/// An answer's body, carrying the mark.
struct Answer {
    body: Body,
    _idle: IdleWhenDone,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
