//! One apply path for every source: a file read by the real file source and
//! a Kafka partition's messages both reach `Monitor::apply` as batches of
//! (partition, offset, payload), and one rule keeps a replay exact: what a
//! partition's checkpoint covers is skipped.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use incident_monitor::clock::wall_now_ms;
use incident_monitor::config::Config;
use incident_monitor::count::{Batch, Engine, Monitor};
use incident_monitor::generate::ncsc_2022;
use incident_monitor::source::file::{self, Input, Sink};
use incident_monitor::state::{Outcomes, PartitionKey, StateStore};

fn engine() -> Engine {
    let text = std::fs::read_to_string(repo("config/ncsc-vietnam.toml")).unwrap();
    Engine::new(Config::from_toml(&text).unwrap().validate().unwrap())
}

fn open(dir: &std::path::Path) -> Monitor {
    Monitor::open(engine(), Arc::new(StateStore::new(dir))).unwrap()
}

/// Applies what the real file source reads (from its start) to `monitor`.
fn read_file(monitor: Monitor, path: &std::path::Path) -> Monitor {
    struct Apply(Arc<Mutex<Monitor>>);
    impl Sink for Apply {
        fn spare(&mut self) -> Batch {
            Batch::new(incident_monitor::state::Source::Input)
        }
        fn send(&mut self, mut batch: Batch) -> bool {
            let mut m = self.0.lock().unwrap();
            m.apply(&mut batch, wall_now_ms(), |_, _| {}).unwrap();
            true
        }
    }
    let shared = Arc::new(Mutex::new(monitor));
    let opened = file::open(&Input::File(path.to_owned()), None).unwrap();
    let reader = file::spawn(opened, 65_536, Apply(shared.clone())).unwrap();
    assert!(
        reader.done.blocking_recv().unwrap().unwrap(),
        "read to the end"
    );
    Arc::into_inner(shared).unwrap().into_inner().unwrap()
}

/// Applies `lines[range]` as messages of one Kafka partition.
fn consume(monitor: &mut Monitor, lines: &[String], range: std::ops::Range<usize>) {
    let mut batch = Batch::new(incident_monitor::state::Source::kafka("incidents"));
    for i in range {
        let o = i as u64;
        batch.push(3, o, o + 1, None, lines[i].as_bytes(), None);
    }
    monitor.apply(&mut batch, wall_now_ms(), |_, _| {}).unwrap();
}

/// Counters, position and ledger of one partition.
fn figures(m: &mut Monitor, key: &PartitionKey) -> (Outcomes, u64, u64) {
    let st = m.partition(key, wall_now_ms()).unwrap();
    (
        st.outcomes.clone(),
        st.position.next_offset,
        st.position.records,
    )
}

#[test]
fn a_replay_below_the_checkpoint_counts_nothing_twice_from_a_file_as_from_kafka() {
    let lines: Vec<String> = ncsc_2022(2022).into_iter().take(3000).collect();
    let dir = TempDir::new("apply-path");
    let first = &lines[..2000];
    let path = dir.path("events.jsonl");
    let file_key = PartitionKey::input();
    let kafka_key = PartitionKey {
        source: incident_monitor::state::Source::kafka("incidents"),
        partition: 3,
    };

    // One pass over all 3,000: the reference.
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut reference = read_file(open(&dir.path("reference")), &path);
    let want = figures(&mut reference, &file_key);
    let mut kafka_reference = open(&dir.path("kafka-reference"));
    consume(&mut kafka_reference, &lines, 0..3000);
    assert_eq!(figures(&mut kafka_reference, &kafka_key).0, want.0);

    // The file: 2,000 lines counted and checkpointed; then the whole file
    // (3,000 lines) is read again from its start on that state.
    std::fs::write(&path, first.join("\n") + "\n").unwrap();
    let mut m = read_file(open(&dir.path("file")), &path);
    m.checkpoint(wall_now_ms()).unwrap();
    drop(m);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut again = read_file(open(&dir.path("file")), &path);
    assert_eq!(
        figures(&mut again, &file_key),
        want,
        "file: same as one pass"
    );
    assert_eq!(again.merged_ledger(), reference.merged_ledger());

    // Kafka: the same with a group offset that lags the checkpoint (1,000
    // against 2,000).
    let mut k = open(&dir.path("kafka"));
    consume(&mut k, &lines, 0..2000);
    k.checkpoint(wall_now_ms()).unwrap();
    drop(k);
    let mut k = open(&dir.path("kafka"));
    consume(&mut k, &lines, 1000..3000);
    let got = figures(&mut k, &kafka_key);
    assert_eq!(got.0, want.0, "kafka: same counters as one pass");
    assert_eq!((got.1, got.2), (3000, 3000), "kafka: offsets and records");
    assert_eq!(k.merged_ledger(), reference.merged_ledger());
    // Dedup alone would have counted the replayed thousand as duplicates
    // and 4,000 records: equal counters and 3,000 records mean the
    // checkpoint's position skipped them, for both sources.
}

#[test]
fn a_stopped_reader_ends_without_reading_the_rest() {
    let dir = TempDir::new("apply-stop");
    let path = dir.path("events.jsonl");
    let lines = ncsc_2022(2022);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    /// Counts the batches it gets, slowly.
    struct Slow(Arc<AtomicUsize>);
    impl Sink for Slow {
        fn spare(&mut self) -> Batch {
            Batch::new(incident_monitor::state::Source::Input)
        }
        fn send(&mut self, _batch: Batch) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(20));
            true
        }
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let opened = file::open(&Input::File(path), None).unwrap();
    let reader = file::spawn(opened, 65_536, Slow(sent.clone())).unwrap();
    reader.stop();
    assert!(
        !reader.done.blocking_recv().unwrap().unwrap(),
        "stopped, not at the end"
    );
    let batches = sent.load(Ordering::Relaxed);
    assert!(
        batches <= 2,
        "stopped after the batch it was reading ({batches} sent; the file is ~10)"
    );
}

/// The counters of the metrics count what this process applied: zero at
/// start (whatever the state restored), never moved by a partition leaving.
#[test]
fn counters_count_what_this_process_applied() {
    let lines: Vec<String> = ncsc_2022(2022).into_iter().take(3000).collect();
    let dir = TempDir::new("apply-counters");
    let mut m = open(&dir.path("s"));
    let mut batch = Batch::new(incident_monitor::state::Source::kafka("incidents"));
    for (i, l) in lines.iter().enumerate() {
        let o = i as u64 / 2;
        batch.push((i % 2) as i32, o, o + 1, None, l.as_bytes(), None);
    }
    m.apply(&mut batch, wall_now_ms(), |_, _| {}).unwrap();
    let v = m.view(wall_now_ms());
    assert_eq!(v.outcomes.total(), 3000);
    let accepted = v.outcomes.accepted;
    assert_eq!(v.incidents.iter().sum::<u64>(), accepted);
    assert_eq!(v.sectors.iter().sum::<u64>(), accepted);
    // Partition 0 leaves: the counters stay; the month gauges drop its share
    // (read when the stream's latest incident happened: the running month
    // is the wall clock's).
    let latest = lines
        .iter()
        .filter_map(|l| incident_monitor::event::parse(l.as_bytes(), 1 << 20).ok())
        .map(|e| e.time_ms)
        .max()
        .unwrap();
    let v = m.view(latest);
    let before = v.month.clone().unwrap();
    let gone = PartitionKey {
        source: incident_monitor::state::Source::kafka("incidents"),
        partition: 0,
    };
    m.release(std::slice::from_ref(&gone), wall_now_ms())
        .unwrap();
    let v = m.view(latest);
    assert_eq!(v.outcomes.accepted, accepted);
    let after = v.month.unwrap();
    assert!(
        after.current.iter().sum::<u64>() + after.previous.iter().sum::<u64>()
            < before.current.iter().sum::<u64>() + before.previous.iter().sum::<u64>()
    );
    m.checkpoint(wall_now_ms()).unwrap();
    drop(m);
    // A restart restores both partitions' figures into the gauges and
    // starts its counters at zero.
    let mut m = open(&dir.path("s"));
    for p in 0..2 {
        let key = PartitionKey {
            source: incident_monitor::state::Source::kafka("incidents"),
            partition: p,
        };
        m.partition(&key, wall_now_ms()).unwrap();
    }
    let v = m.view(latest);
    assert_eq!((v.outcomes.accepted, v.outcomes.duplicate), (0, 0));
    assert_eq!(v.incidents.iter().sum::<u64>(), 0);
    assert_eq!(
        v.month.unwrap(),
        before,
        "the gauges hold the restored state"
    );
}
