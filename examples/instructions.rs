//! Instruction counts of the per-event path, for callgrind: unlike timings,
//! they repeat exactly for the same build and input, whatever else the
//! machine is doing, so a change to the reader can be judged by one run.
//!
//! ```text
//! cargo build --release --example instructions
//! for step in generate parse full; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$step \
//!     target/release/examples/instructions $step 2>&1 | grep refs
//! done
//! ```
//!
//! Every step generates the criterion bench's 100,000 `live` events first;
//! `parse` then reads each once and `full` applies each once (parse,
//! classify, dedup, count). Subtract `generate` from the others and divide
//! by 100,000 for instructions per event. Results: docs/benchmarks.md.

use std::hint::black_box;
use std::process::ExitCode;

use incident_monitor::config::Config;
use incident_monitor::count::Engine;
use incident_monitor::event::parse;
use incident_monitor::generate::LiveStream;
use incident_monitor::state::PartitionKey;

fn main() -> ExitCode {
    let step = std::env::args().nth(1).unwrap_or_default();
    // Arrival time: every generated event is in the past.
    let wall = incident_monitor::clock::wall_now_ms();
    // The same events as benches/pipeline.rs.
    let lines: Vec<String> = LiveStream::ending_at(7, 100_000, 1_790_000_000_000, 10).collect();
    let settings = match Config::default().validate() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("default config: {e}");
            return ExitCode::FAILURE;
        }
    };
    match step.as_str() {
        "generate" => {}
        "parse" => {
            let max = settings.config.events.max_event_bytes;
            let ok = lines
                .iter()
                .filter(|l| parse(black_box(l.as_bytes()), max).is_ok())
                .count();
            println!("{ok} of {} parsed", lines.len());
        }
        "full" => {
            let mut engine = Engine::new(settings);
            let mut st = engine.new_partition(PartitionKey::input());
            for l in &lines {
                black_box(engine.apply(&mut st, black_box(l.as_bytes()), wall));
            }
            println!("{} applied", lines.len());
        }
        _ => {
            eprintln!("usage: instructions generate|parse|full");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
