//! incident-monitor: a streaming monitor of cybersecurity incidents that
//! counts distinct incidents exactly, per calendar month in the centre's
//! timezone and in event-time sliding windows, and computes the
//! period-over-period changes a national monitoring centre publishes.
//!
//! # Layout
//!
//! The flow, from bytes to figures, and where each step lives:
//!
//! ```text
//!  source/ (file) ─┐
//!  kafka/ (topics) ┴─batches─▶ pipeline::Stage ──▶ count::Monitor::apply ──▶ state/ (checkpoints)
//!                              (thread)             │ decode ▸ classify ▸ dedup ▸ window ▸ calendar
//!                                                   └──▶ count::view ──▶ metrics/ · report/
//! ```
//!
//! The domain, pure and synchronous (no tokio, rdkafka or hyper; the wall
//! clock passed in as `wall_ms`), each module importing only those below it:
//!
//! * [`event`]: the incident model, the native JSON reader, RFC 3339 time,
//!   the rejection reasons.
//! * [`decode`]: the decoder seam: the configured `events.format` chooses
//!   how message bytes become an [`event::Event`].
//! * [`classify`]: configured rules → one category per event.
//! * [`dedup`]: has this incident been counted.
//! * [`lifecycle`]: the stages an incident's later messages move it
//!   through, their times, and the per-partition table of incidents that
//!   can still move.
//! * [`window`], [`calendar`]: event-time sliding windows; months in the
//!   configured timezone, the exact ledger (its stages too) and the
//!   period-over-period changes.
//! * [`config`]: the TOML configuration, its defaults and validation.
//! * [`count`]: one message ([`count::Engine`]: prepare, then commit), a
//!   [`count::Batch`] of (partition, offset, payload) from any source, the
//!   aggregate ([`count::Monitor`]: partition states, the one apply path and
//!   its skip-below-checkpoint rule, checkpoints) and the derived
//!   [`count::MonitorView`] with its ratios.
//! * [`state`]: per-partition state, its checkpoint format, and the
//!   [`state::StateBackend`] seam: a local directory, or a compacted Kafka
//!   topic whose records, manifests and fencing are `state::topic`.
//! * [`report`], [`spike`], [`metrics`]: the monthly report; spike scores;
//!   the Prometheus registry written from the view.
//! * [`publish`]: publishing closed months (spec §11): which are due, what
//!   a version's manifest says, whether the state changed since the
//!   archive's latest version, the restatements a report names; and the
//!   archive directory itself (`publish::archive`).
//!
//! At the edges (threads, the runtime, clients, I/O), each importing only
//! those below it:
//!
//! * [`app`]: the commands (`run`, `report`, `publish`, `generate`,
//!   `check-config`, the demo), each a file; none names a Kafka client.
//! * [`kafka`]: everything that talks to Kafka, the only code that names
//!   rdkafka: client settings and broker health, the Kafka source of a run
//!   (a consumer lane per input), the dead-letter producer, the state
//!   backend in a compacted topic, `generate --brokers`, the demo's
//!   embedded cluster.
//! * [`pipeline`]: what a run is made of whatever its source: the one run
//!   loop over a `Source` seam (schedule, checkpoints, progress, figures
//!   to the endpoint and the finish, written once), the apply stage
//!   thread, background checkpoints, the endpoint's wiring, live reports,
//!   the file source, and the errors of a run ([`pipeline::AppError`]).
//! * [`source`]: the file source (a JSONL file or stdin, a reader thread
//!   filling batches).
//! * [`server`]: the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`,
//!   `/report`).
//! * [`delivery`]: a published version to its destinations: e-mail over
//!   SMTP (lettre), webhooks (hyper's client over rustls), signed.
//! * [`progress`], [`generate`], [`clock`]: progress of long runs;
//!   synthetic streams (the `ncsc-2022` replay); the wall clock.
//! * [`text`]: what configuration, state or events may show a reader (no
//!   control or bidi characters in a report or a log line).

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
pub mod delivery;
pub mod event;
pub mod generate;
pub mod kafka;
pub mod lifecycle;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod publish;
pub mod report;
pub mod server;
pub mod source;
pub mod spike;
pub mod state;
pub mod text;
pub mod window;
