//! The file source: a JSONL file or stdin read on a thread of its own into
//! batches of raw messages with their positions, over a bounded channel;
//! `pipeline::run_input` runs them through the one run loop. (Kafka, the other source, is
//! `crate::kafka`.)

pub mod file;
