//! Counting: from a batch of messages to exact figures. The engine does
//! one message (prepare: decode, month, class; commit: dedup, ledger,
//! windows); the monitor owns the partition states, applies batches from
//! every source through one path, and checkpoints; the view derives the
//! figures the metrics export. Pure and synchronous: no runtime, no
//! client, the wall clock passed in.

mod batch;
mod engine;
mod monitor;
mod rejects;
mod view;

pub use batch::{Batch, Item};
pub use engine::{Classified, Engine, Outcome, Prepared};
pub use monitor::{Monitor, MonitorError};
pub use view::{Applied, MonitorView, MonthView};
