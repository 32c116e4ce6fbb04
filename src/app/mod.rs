//! The commands: `main.rs` parses flags and calls one function here, each
//! command a file (`run` is the file loop of `crate::pipeline` or the Kafka
//! loop of `crate::kafka`, chosen by `main.rs`). None of them names a Kafka
//! client: what reaches Kafka is in `crate::kafka`.

mod config;
mod demo;
mod generate;
mod report;

pub use config::{check_config, load_config, load_settings};
pub use demo::demo;
pub use generate::{GenerateArgs, generate, generate_to_kafka};
pub use report::{ReportArgs, emit, report};

pub use crate::kafka::{KafkaOptions, Started, run_kafka};
pub use crate::pipeline::{AppError, LiveReports, RunSummary, StateChoice, run_input};
