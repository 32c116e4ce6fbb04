//! The HTTP endpoint's own counters: answers by route and status, and
//! connections it closed before answering, by why.

use prometheus::{IntCounterVec, Registry};

use super::MetricsError;
use super::families;

/// Why the endpoint closed a connection it had accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Idle, it gave its place to a newcomer (every place was taken).
    GaveWay,
    /// Every place had a request in flight for the whole header timeout.
    NoPlace,
    /// The TLS handshake failed (an untrusted client certificate, plain
    /// HTTP on the TLS port, ...).
    TlsFailed,
    /// The TLS handshake did not finish within the header timeout.
    TlsTimeout,
}

impl Closed {
    const ALL: [Closed; 4] = [
        Closed::GaveWay,
        Closed::NoPlace,
        Closed::TlsFailed,
        Closed::TlsTimeout,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::GaveWay => "gave_way",
            Closed::NoPlace => "no_place",
            Closed::TlsFailed => "tls_failed",
            Closed::TlsTimeout => "tls_timeout",
        }
    }
}

/// The endpoint's own counters: answers by route and status (401s are
/// failed logins, 503s busy reports), and connections it closed by why.
pub struct Http {
    requests: IntCounterVec,
    closed: IntCounterVec,
}

impl Http {
    pub(super) fn new(r: &Registry) -> Result<Http, MetricsError> {
        let families::Endpoint { requests, closed } = families::Endpoint::register(r)?;
        for c in Closed::ALL {
            closed.with_label_values(&[c.label()]);
        }
        Ok(Http { requests, closed })
    }

    /// The `path` label of a request's path: one of a fixed few.
    pub fn route(path: &str) -> &'static str {
        match path {
            "/metrics" => "metrics",
            "/healthz" => "healthz",
            "/readyz" => "readyz",
            "/report" => "report",
            "/" => "index",
            _ => "other",
        }
    }

    /// An answer to a request on `route` ([`Http::route`]).
    pub fn answered(&self, route: &'static str, code: u16) {
        let mut buf = itoa::Buffer::new();
        self.requests
            .with_label_values(&[route, buf.format(code)])
            .inc();
    }

    /// A connection closed before an answer.
    pub fn closed(&self, why: Closed) {
        self.closed.with_label_values(&[why.label()]).inc();
    }
}
