//! The per-event path on a realistic mix (the `live` scenario: every
//! category, re-deliveries, a few invalid lines, ~450-byte events), with a
//! parse-only baseline in the same run.
//!
//! `cargo bench --bench pipeline`; results and their reading are in
//! docs/benchmarks.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use incident_monitor::config::Config;
use incident_monitor::count::Engine;
use incident_monitor::event::parse;
use incident_monitor::generate::LiveStream;
use incident_monitor::state::PartitionKey;

const EVENTS: usize = 100_000;

fn events() -> Vec<String> {
    // Event times one every 10 ms ending at a fixed instant, so the run is
    // the same every time.
    LiveStream::ending_at(7, EVENTS as u64, 1_790_000_000_000, 10).collect()
}

fn bench(c: &mut Criterion) {
    let lines = events();
    // Arrival time: every generated event is in the past.
    let wall = incident_monitor::clock::wall_now_ms();
    let bytes: usize = lines.iter().map(String::len).sum();
    let settings = Config::default()
        .validate()
        .expect("default config is valid");
    let max = settings.config.events.max_event_bytes;

    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(20);
    eprintln!("mix: {EVENTS} events, mean {} bytes", bytes / EVENTS);

    // The floor for any serde_json-based reader: validate and skip.
    g.bench_function("serde_json_ignored_any", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in &lines {
                ok += usize::from(
                    serde_json::from_slice::<serde::de::IgnoredAny>(black_box(l.as_bytes()))
                        .is_ok(),
                );
            }
            ok
        })
    });

    g.bench_function("parse_only", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in &lines {
                ok += usize::from(parse(black_box(l.as_bytes()), max).is_ok());
            }
            ok
        })
    });

    g.bench_function("full_path", |b| {
        b.iter_batched(
            || {
                let engine = Engine::new(settings.clone());
                let st = engine.new_partition(PartitionKey::input());
                (engine, st)
            },
            |(mut engine, mut st)| {
                for l in &lines {
                    black_box(engine.apply(&mut st, black_box(l.as_bytes()), wall));
                }
                st
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
