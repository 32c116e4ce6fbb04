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
//!   text / Markdown / JSON).
//!
//! At the edges:
//!
//! * [`source`]: where messages come from (JSONL file or stdin), on their own
//!   threads, over bounded channels.
//! * [`app`]: the commands and the thin async loop around the engine.
//! * [`generate`]: synthetic streams, including the `ncsc-2022` replay of the
//!   published figures.
//! * [`config`]: the TOML configuration, its defaults and validation.
//!
//! Domain modules know nothing of tokio; only `app` and `source` do.

pub mod app;
pub mod calendar;
pub mod classify;
pub mod config;
pub mod dedup;
pub mod event;
pub mod generate;
pub mod metrics;
pub mod pipeline;
pub mod report;
pub mod server;
pub mod source;
pub mod spike;
pub mod state;
pub mod window;
