//! The per-event path on a realistic mix (the `live` scenario: every
//! category, re-deliveries, a few invalid lines, ~450-byte events), with a
//! parse-only baseline in the same run.
//!
//! `cargo bench --bench pipeline`; results and their reading are in
//! docs/benchmarks.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use incident_monitor::config::Config;
use std::sync::Arc;

use incident_monitor::count::{Batch, Engine, Monitor};
use incident_monitor::event::parse;
use incident_monitor::generate::LiveStream;
use incident_monitor::state::{PartitionKey, StateStore};

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

    g.bench_function("full_path", |b| full_path(b, &settings, &lines, wall));

    // The one apply path every source takes: batches of 2,048 messages
    // (a file reader's) through `Monitor::apply` (prepare the batch, then
    // commit it with dedup slots prefetched), on one thread.
    let dir = std::env::temp_dir().join(format!("im-bench-{}", std::process::id()));
    let batches: Vec<Vec<&String>> = lines.chunks(2048).map(|c| c.iter().collect()).collect();
    g.bench_function("batch_apply", |b| {
        b.iter_batched(
            || {
                let store = Arc::new(StateStore::new(&dir));
                let monitor = Monitor::open(Engine::new(settings.clone()), store)
                    .expect("a temporary state directory");
                let mut filled = Vec::with_capacity(batches.len());
                let mut offset = 0u64;
                for chunk in &batches {
                    let mut batch = Batch::new(incident_monitor::state::Source::Input);
                    for l in chunk {
                        let next = offset + l.len() as u64 + 1;
                        batch.push(0, offset, next, None, l.as_bytes(), None);
                        offset = next;
                    }
                    filled.push(batch);
                }
                (monitor, filled)
            },
            |(mut monitor, mut filled)| {
                for batch in &mut filled {
                    monitor
                        .apply(batch, wall, |_, _| {})
                        .expect("nothing to restore");
                }
                monitor
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every line through `Engine::apply` on one partition's fresh state.
fn full_path(
    b: &mut criterion::Bencher<'_>,
    settings: &incident_monitor::config::Settings,
    lines: &[String],
    wall: i64,
) {
    b.iter_batched(
        || {
            let engine = Engine::new(settings.clone());
            let st = engine.new_partition(PartitionKey::input());
            (engine, st)
        },
        |(mut engine, mut st)| {
            for l in lines {
                black_box(engine.apply(&mut st, black_box(l.as_bytes()), wall));
            }
            st
        },
        BatchSize::PerIteration,
    )
}

/// The whole per-event path (decode, classify, dedup, windows, months) of
/// the same incidents in each input format (`generate --format`), native
/// first as the reference of the same run.
fn per_format(c: &mut Criterion) {
    use incident_monitor::decode::Format;
    use incident_monitor::generate::FormatWriter;
    let native = events();
    let wall = incident_monitor::clock::wall_now_ms();
    let mut g = c.benchmark_group("per_format");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(20);
    for format in Format::ALL.into_iter().filter(|f| *f != Format::Custom) {
        let mut cfg = Config::default();
        cfg.events.format = format;
        let settings = cfg.validate().expect("default config is valid");
        // Written only when this benchmark is selected.
        g.bench_function(format.name(), |b| {
            let writer = FormatWriter::new(format, settings.classifier.clone());
            let lines: Vec<String> = native.iter().filter_map(|l| writer.write(l)).collect();
            let mean = lines.iter().map(String::len).sum::<usize>() / lines.len();
            eprintln!("{}: mean {mean} bytes", format.name());
            full_path(b, &settings, &lines, wall)
        });
    }
    g.finish();
}

criterion_group!(benches, bench, per_format);
criterion_main!(benches);
