//! incident-monitor: a streaming monitor of cybersecurity incidents that
//! counts distinct incidents exactly, per calendar month in the centre's
//! timezone and in event-time sliding windows, and computes the
//! period-over-period changes a national monitoring centre publishes.
//!
//! # Layout
//!
//! The modules follow the data, from bytes to figures:
//!
//! * [`event`]: message bytes → [`event::Event`] (or a [`event::Reject`]
//!   reason); the strict RFC 3339 parser.
//! * [`classify`]: configured rules → one category per event.
//! * [`dedup`]: has this incident been counted already? (bounded memory)
//! * [`window`]: event-time sliding windows of distinct incidents.
//! * [`calendar`]: months in the configured timezone, the exact ledger, and
//!   the period-over-period changes.
//! * [`pipeline`]: the per-event path tying the above together, pure and
//!   synchronous ([`pipeline::Engine::apply`]).
//! * [`state`]: per-partition state with the source position it covers, and
//!   its atomic checkpoints.
//! * [`report`]: the monthly report (model, English and Vietnamese wording,
//!   text / Markdown / JSON / a self-contained HTML page with SVG charts).
//! * [`spike`]: spike scores of window counts against a rolling baseline.
//! * [`metrics`]: the Prometheus registry, written from plain numbers the
//!   monitor computes (no label lookups on the hot path).
//!
//! At the edges:
//!
//! * [`source`]: where messages come from: a JSONL file or stdin (its own
//!   thread, a bounded channel) and Kafka (consumer settings, the rebalance
//!   callbacks, the dead-letter producer).
//! * [`app`]: the commands; the thin async loops around the engine (Kafka and
//!   file), the apply stage thread, the embedded demo, live reports.
//! * [`server`]: the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`,
//!   `/report`).
//! * [`progress`]: the progress line or log events of long runs.
//! * [`generate`]: synthetic streams, including the `ncsc-2022` replay of the
//!   published figures.
//! * [`config`]: the TOML configuration, its defaults and validation.
//!
//! Domain modules know nothing of tokio or Kafka; only `app`, `source` and
//! `server` do.

// `unsafe` is refused everywhere but in the two modules that need it, each
// allowing it by name (`event::parse::simd`: SSE2 intrinsics;
// `dedup::prefetch`: a prefetch hint); every block there says why it is
// sound. (`forbid` would refuse those two allowances as well.)
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod app;
pub mod calendar;
pub mod classify;
pub mod clock;
pub mod config;
pub mod count;
pub mod decode;
pub mod dedup;
pub mod event;
pub mod generate;
pub mod metrics;
pub mod progress;
pub mod report;
pub mod server;
pub mod source;
pub mod spike;
pub mod state;
pub mod window;
