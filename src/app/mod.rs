//! The commands: `main.rs` parses flags and calls one function here, each
//! command a file: `run` (a file or Kafka, one loop over either source),
//! `report`, `generate`, `demo`, `check-config`. None of them names a
//! Kafka client: what reaches Kafka is in `crate::kafka`.

mod config;
mod demo;
mod generate;
mod publish;
mod report;
mod run;
mod state;

pub use config::{check_config, load_config, load_settings};
pub use demo::demo;
pub use generate::{GenerateArgs, generate, generate_to_kafka};
pub use publish::{PublishArgs, Published, publish};
pub use report::{ReportArgs, emit, report};
pub use run::{RunArgs, run};
pub use state::StateArgs;

pub use crate::kafka::{KafkaOptions, Started, run_kafka};
pub use crate::pipeline::{AppError, LiveReports, RunSummary, StateChoice, run_input};
