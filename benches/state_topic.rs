//! The Kafka state backend against the local directory, on a real broker:
//! write and restore time of one partition's state by size, and the bytes
//! an incremental checkpoint writes.
//!
//! ```text
//! read -r B P < <(scripts/broker.sh); IM_TEST_BROKERS=${B#BROKERS=} cargo bench --bench state_topic; kill ${P#PID=}
//! ```
//!
//! For each state size (remembered ids of one partition) it builds the state
//! by applying that many incidents, then measures, in the same process:
//! the directory (write + fsync + rename; read + decode + restore) and the
//! state topic (a full checkpoint; the restore a new owner does when it is
//! assigned the partition: read the partition to its end, assemble, write
//! it again under its claim, restore; first by a new process, which also
//! connects, then by one already connected), and the bytes of the next
//! checkpoint after 1% more incidents.

use std::time::{Duration, Instant};

use incident_monitor::clock::wall_now_ms;
use incident_monitor::config::{Config, KafkaConfig};
use incident_monitor::count::Engine;
use incident_monitor::kafka::TopicStore;
use incident_monitor::state::{
    MonitorMeta, PartitionKey, PartitionState, StateBackend, StateStore,
};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

fn feed(engine: &mut Engine, st: &mut PartitionState, from: u64, to: u64, wall: i64) {
    for i in from..to {
        let l = format!(
            r#"{{"id":"bench-{i:09}","time":"2022-{:02}-{:02}T10:00:00+07:00","type":"{}","severity":{}}}"#,
            1 + i % 12,
            1 + i % 28,
            ["phishing", "ddos", "malware", "deface"][(i % 4) as usize],
            i % 10
        );
        engine.apply(st, l.as_bytes(), wall);
        st.position.next_offset = i + 1;
        st.position.records += 1;
    }
}

fn best(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let Ok(brokers) = std::env::var("IM_TEST_BROKERS") else {
        eprintln!("IM_TEST_BROKERS is not set; see the header of benches/state_topic.rs");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let input = format!("bench-in-{}", std::process::id());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("admin client");
    rt.block_on(admin.create_topics(
        &[NewTopic::new(&input, 1, TopicReplication::Fixed(1))],
        &AdminOptions::new(),
    ))
    .expect("input topic");
    let k = KafkaConfig {
        brokers,
        topic: input.clone(),
        connect_timeout_secs: 60,
        ..Default::default()
    };
    let settings = Config::from_toml(
        "timezone = \"Asia/Ho_Chi_Minh\"\n[dedup]\nmax_ids_per_partition = 3000000",
    )
    .and_then(|c| c.validate().map_err(|e| e.to_string()))
    .expect("config");
    let tz = "Asia/Ho_Chi_Minh";
    let key = PartitionKey {
        source: incident_monitor::state::Source::kafka(&input),
        partition: 0,
    };
    println!(
        "| ids | state MiB | dir write ms | dir restore ms | topic write ms | topic restore ms (first, incl. connecting) | topic restore ms | restore topic/dir | next checkpoint after +1% (KiB) | of full |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary too, as a smoke test of the smallest size.
    let sizes: &[u64] = if std::env::args().any(|a| a == "--bench") {
        &[1_000, 100_000, 1_000_000, 2_000_000]
    } else {
        &[1_000]
    };
    for &n in sizes {
        let wall = wall_now_ms();
        let mut engine = Engine::new(settings.clone());
        let mut st = engine.new_partition(key.clone());
        feed(&mut engine, &mut st, 0, n, wall);

        let dir = std::env::temp_dir().join(format!("im-bench-state-{}-{n}", std::process::id()));
        let store = StateStore::new(&dir);
        store.create_dir().expect("state dir");
        let mut bytes = 0;
        let dir_write = best(3, || {
            let t = Instant::now();
            bytes = store.save(&st, tz, wall).expect("save");
            t.elapsed()
        });
        let dir_restore = best(3, || {
            let t = Instant::now();
            let snap = store.load(&key).expect("load").expect("a checkpoint");
            let r = PartitionState::restore(snap, &settings, wall).expect("restore");
            assert_eq!(r.dedup.remembered(), st.dedup.remembered());
            t.elapsed()
        });
        let _ = std::fs::remove_dir_all(&dir);

        let topic = format!("bench-state-{}-{n}", std::process::id());
        let a = rt
            .block_on(TopicStore::connect(
                &k,
                std::slice::from_ref(&k.topic),
                &topic,
                "bench-a",
            ))
            .expect("state topic");
        a.open(&MonitorMeta {
            timezone: tz.into(),
            report: Default::default(),
            labels: Default::default(),
        })
        .expect("open");
        a.claim(&key).expect("claim");
        let t = Instant::now();
        a.write(&a.checkpoint(&st, tz, wall)).expect("write");
        let topic_write = t.elapsed();
        // The restore of a new owner (one sample: each claim moves the
        // partition).
        let b = rt
            .block_on(TopicStore::connect(
                &k,
                std::slice::from_ref(&k.topic),
                &topic,
                "bench-b",
            ))
            .expect("state topic");
        let t = Instant::now();
        let snap = b.claim(&key).expect("claim").expect("a checkpoint");
        let restored = PartitionState::restore(snap, &settings, wall).expect("restore");
        let cold_restore = t.elapsed();
        drop(restored);
        // Again, connected (what an instance that already holds partitions
        // pays): the partition moves back to a store that lost it.
        b.disown(&key);
        let t = Instant::now();
        let snap = b.claim(&key).expect("claim").expect("a checkpoint");
        let mut restored = PartitionState::restore(snap, &settings, wall).expect("restore");
        let topic_restore = t.elapsed();
        assert_eq!(restored.dedup.remembered(), st.dedup.remembered());
        // 1% more incidents: what the next checkpoint writes.
        let more = (n / 100).max(100);
        feed(&mut engine, &mut restored, n, n + more, wall);
        let cp = b.checkpoint(&restored, tz, wall);
        let delta = cp.bytes();
        b.write(&cp).expect("write");
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1}% |",
            bytes as f64 / 1048576.0,
            dir_write.as_secs_f64() * 1e3,
            dir_restore.as_secs_f64() * 1e3,
            topic_write.as_secs_f64() * 1e3,
            cold_restore.as_secs_f64() * 1e3,
            topic_restore.as_secs_f64() * 1e3,
            topic_restore.as_secs_f64() / dir_restore.as_secs_f64(),
            delta as f64 / 1024.0,
            100.0 * delta as f64 / bytes as f64,
        );
    }
}
