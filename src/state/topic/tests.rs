use super::*;
use crate::config::Config;
use crate::count::Engine;
use crate::state::{PartitionState, encode};

const WALL: i64 = 1_793_491_200_000;
const HOUR: i64 = 3_600_000;
const TZ: &str = "Asia/Ho_Chi_Minh";

fn engine() -> Engine {
    Engine::new(
        Config::from_toml("timezone = \"Asia/Ho_Chi_Minh\"")
            .unwrap()
            .validate()
            .unwrap(),
    )
}

fn key() -> PartitionKey {
    PartitionKey {
        source: crate::state::Source::kafka("incidents"),
        partition: 3,
    }
}

/// Applies incidents `from..to` (months of 2022 by index) at `wall`.
fn apply(e: &mut Engine, st: &mut PartitionState, from: usize, to: usize, wall: i64) {
    for i in from..to {
        let l = format!(
            r#"{{"id":"i{i}","time":"2022-{:02}-{:02}T10:00:00+07:00","type":"{}","severity":7}}"#,
            1 + i % 12,
            1 + i % 28,
            ["phishing", "ddos", "worm", "spam"][i % 4]
        );
        e.apply(st, l.as_bytes(), wall);
        st.position.next_offset = i as u64 + 1;
        st.position.records += 1;
    }
}

/// What a writer puts in the topic for a checkpoint: its new segments,
/// then its manifest (or not, to model a write cut short).
fn write(
    latest: &mut Latest,
    keys: &Keys,
    token: u64,
    delta: &Delta,
    with_manifest: bool,
) -> Manifest {
    for e in &delta.entries {
        if let Some(bytes) = delta.payloads.get(&e.segment) {
            for (i, part) in split(bytes).enumerate() {
                latest.insert(keys.part(token, &e.segment, i), part.to_vec());
            }
        }
    }
    let m = Manifest {
        token,
        epoch: 1,
        next_offset: delta.next_offset,
        written_ms: delta.written_ms,
        entries: delta.entries.clone(),
    };
    if with_manifest {
        latest.insert(keys.manifest(token), m.encode());
    }
    m
}

fn claim(latest: &mut Latest, keys: &Keys, token: u64) {
    let c = Claim {
        token,
        epoch: 1,
        owner: "test".into(),
        claimed_ms: WALL,
    };
    latest.insert(keys.claim(), c.encode());
}

/// The current checkpoint, which the test expects there.
fn checkpoint_in(keys: &Keys, latest: &Latest) -> (Manifest, Snapshot) {
    current(keys, latest).unwrap().unwrap().checkpoint.unwrap()
}

fn written(m: &Manifest) -> HashMap<Segment, Entry> {
    m.entries.iter().map(|e| (e.segment, *e)).collect()
}

#[test]
fn a_checkpoint_in_segments_restores_exactly_what_a_file_does() {
    let mut e = engine();
    let mut st = e.new_partition(key());
    // Over two chunks of ids in one arrival hour, and a second hour.
    apply(&mut e, &mut st, 0, 70_000, WALL);
    apply(&mut e, &mut st, 70_000, 70_500, WALL + HOUR);
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    claim(&mut latest, &keys, 7);
    let delta = take(&st, TZ, 5, &HashMap::new());
    let ids_chunks = delta
        .entries
        .iter()
        .filter(|e| matches!(e.segment, Segment::Ids { .. }))
        .count();
    assert_eq!(ids_chunks, 4, "70,000 ids in 3 chunks, 500 in one");
    assert!(
        delta
            .payloads
            .values()
            .all(|p| p.len() <= IDS_PER_CHUNK as usize * 16)
    );
    write(&mut latest, &keys, 7, &delta, true);
    let (manifest, snap) = checkpoint_in(&keys, &latest);
    assert_eq!(manifest.next_offset, 70_500);
    let restored = PartitionState::restore(snap, e.settings(), WALL + HOUR).unwrap();
    assert_eq!(encode(&restored, TZ, 5), encode(&st, TZ, 5));
    // And the restored state names the same segments: its next checkpoint
    // writes only its core.
    let again = take(&restored, TZ, 5, &written(&manifest));
    assert_eq!(
        again.payloads.len(),
        0,
        "unchanged: the core is the same too"
    );
}

#[test]
fn a_checkpoint_writes_what_changed_not_the_whole_state() {
    let mut e = engine();
    let mut st = e.new_partition(key());
    apply(&mut e, &mut st, 0, 100_000, WALL);
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    claim(&mut latest, &keys, 1);
    let first = take(&st, TZ, 1, &HashMap::new());
    let m1 = write(&mut latest, &keys, 1, &first, true);
    // 1,000 more incidents, all in one month.
    for i in 100_000..101_000 {
        let l = format!(
            r#"{{"id":"n{i}","time":"2022-03-05T10:00:00+07:00","type":"ddos","severity":5}}"#
        );
        e.apply(&mut st, l.as_bytes(), WALL);
    }
    let second = take(&st, TZ, 2, &written(&m1));
    let months: Vec<_> = second
        .payloads
        .keys()
        .filter(|s| matches!(s, Segment::Month { .. }))
        .collect();
    assert_eq!(months.len(), 1, "only March changed");
    let ids: u64 = second
        .payloads
        .keys()
        .filter_map(|s| match s {
            Segment::Ids { first, end, .. } => Some(end - first),
            _ => None,
        })
        .sum();
    // The last (partial) chunk again with the new ids: at most one chunk.
    assert!((1_000..=1_000 + IDS_PER_CHUNK).contains(&ids), "{ids}");
    assert!(
        second.payload_bytes() * 3 < first.payload_bytes(),
        "{} of {}",
        second.payload_bytes(),
        first.payload_bytes()
    );
    write(&mut latest, &keys, 1, &second, true);
    let (_, snap) = checkpoint_in(&keys, &latest);
    let restored = PartitionState::restore(snap, e.settings(), WALL).unwrap();
    assert_eq!(encode(&restored, TZ, 2), encode(&st, TZ, 2));
}

#[test]
fn only_the_claimed_owner_is_current_and_a_half_written_checkpoint_is_invisible() {
    let mut e = engine();
    let mut st = e.new_partition(key());
    apply(&mut e, &mut st, 0, 1_000, WALL);
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    // Owner A writes a checkpoint at offset 1,000.
    claim(&mut latest, &keys, 0xA);
    let d = take(&st, TZ, 1, &HashMap::new());
    let ma = write(&mut latest, &keys, 0xA, &d, true);
    // Owner B claims the partition (a copy under its token, then the claim).
    let mb = write(&mut latest, &keys, 0xB, &d, true);
    claim(&mut latest, &keys, 0xB);
    // A, paused past its session timeout, resumes and writes on: later in
    // the log, but under its old token.
    apply(&mut e, &mut st, 1_000, 2_000, WALL);
    let late = take(&st, TZ, 2, &written(&ma));
    write(&mut latest, &keys, 0xA, &late, true);
    let (m, snap) = checkpoint_in(&keys, &latest);
    assert_eq!(m.token, 0xB);
    assert_eq!(
        snap.position.next_offset, 1_000,
        "A's late write is not current"
    );

    // B's next checkpoint is cut short after its segments: still the one
    // before is current, whole.
    let mut b = e.new_partition(key());
    apply(&mut e, &mut b, 0, 1_500, WALL);
    let cut = take(&b, TZ, 3, &written(&mb));
    write(&mut latest, &keys, 0xB, &cut, false);
    let (_, snap) = checkpoint_in(&keys, &latest);
    assert_eq!(snap.position.next_offset, 1_000);
    write(&mut latest, &keys, 0xB, &cut, true);
    let (_, snap) = checkpoint_in(&keys, &latest);
    assert_eq!(snap.position.next_offset, 1_500);
}

#[test]
fn missing_or_altered_records_are_errors_not_wrong_counts() {
    let mut e = engine();
    let mut st = e.new_partition(key());
    apply(&mut e, &mut st, 0, 100, WALL);
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    claim(&mut latest, &keys, 1);
    let m = write(
        &mut latest,
        &keys,
        1,
        &take(&st, TZ, 1, &HashMap::new()),
        true,
    );
    let part = keys.part(1, &m.entries[1].segment, 0);
    let good = latest[&part].clone();
    let mut bad = good.clone();
    bad[0] ^= 1;
    latest.insert(part.clone(), bad);
    assert!(current(&keys, &latest).is_err());
    latest.remove(&part);
    let e = current(&keys, &latest).unwrap_err().to_string();
    assert!(e.contains("missing"), "{e}");
    latest.insert(part, good);
    assert!(current(&keys, &latest).unwrap().is_some());
    // Claimed, nothing written yet: no checkpoint. Never claimed: none.
    let other = Keys::of(&PartitionKey {
        source: crate::state::Source::kafka("incidents"),
        partition: 4,
    });
    claim(&mut latest, &other, 9);
    assert!(
        current(&other, &latest)
            .unwrap()
            .unwrap()
            .checkpoint
            .is_none()
    );
    assert!(
        current(&Keys::of(&PartitionKey::input()), &latest)
            .unwrap()
            .is_none()
    );
}

#[test]
fn records_encode_and_refuse_corruption() {
    let m = Manifest {
        token: 1,
        epoch: 2,
        next_offset: 3,
        written_ms: 4,
        entries: vec![
            Entry {
                segment: Segment::Core { hash: 5 },
                len: 6,
                hash: 7,
            },
            Entry {
                segment: Segment::Month { month: -8, hash: 9 },
                len: 10,
                hash: 11,
            },
            Entry {
                segment: Segment::Ids {
                    bucket: 12,
                    first: 13,
                    end: 14,
                },
                len: 15,
                hash: 16,
            },
        ],
    };
    let bytes = m.encode();
    assert_eq!(Manifest::decode(&bytes).unwrap(), m);
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x10;
        assert!(Manifest::decode(&b).is_err(), "{i}");
        assert!(Manifest::decode(&bytes[..i]).is_err(), "{i}");
    }
    let c = Claim {
        token: 1,
        epoch: 2,
        owner: "pod-0/17".into(),
        claimed_ms: 3,
    };
    assert_eq!(Claim::decode(&c.encode()).unwrap(), c);
    assert!(Claim::decode(&bytes).is_err(), "a manifest is not a claim");
    assert_eq!(
        partition_of_key("im/kafka.t/12/c/00/core.1/0"),
        Some(PartitionKey {
            source: crate::state::Source::kafka("t"),
            partition: 12
        })
    );
    assert_eq!(partition_of_key("im/meta"), None);
    assert_eq!(partition_of_key("other"), None);
}

#[test]
fn ids_keep_their_places_when_the_cap_evicts_part_of_a_bucket() {
    let cfg = Config::from_toml(
        "timezone = \"Asia/Ho_Chi_Minh\"\n[dedup]\nmax_ids_per_partition = 50000",
    )
    .unwrap()
    .validate()
    .unwrap();
    let mut e = Engine::new(cfg);
    let mut st = e.new_partition(key());
    apply(&mut e, &mut st, 0, 40_000, WALL);
    apply(&mut e, &mut st, 40_000, 60_000, WALL + HOUR);
    let placed: Vec<_> = st
        .dedup
        .placed_buckets()
        .map(|(s, b, v)| (s, b, v.len()))
        .collect();
    assert!(
        placed[0].1 > 0,
        "the first hour lost its oldest ids: {placed:?}"
    );
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    claim(&mut latest, &keys, 1);
    let m = write(
        &mut latest,
        &keys,
        1,
        &take(&st, TZ, 1, &HashMap::new()),
        true,
    );
    let (_, snap) = checkpoint_in(&keys, &latest);
    let restored = PartitionState::restore(snap, e.settings(), WALL + HOUR).unwrap();
    let again: Vec<_> = restored
        .dedup
        .placed_buckets()
        .map(|(s, b, v)| (s, b, v.len()))
        .collect();
    assert_eq!(again, placed);
    assert_eq!(take(&restored, TZ, 1, &written(&m)).payloads.len(), 0);
}

/// Issue 30, 7: a manifest whose checksum a writer recomputed, naming a
/// segment of 2^60 bytes: refused before anything is sized by it; and a
/// segment whose entry claims more than its parts hold costs no more than
/// its parts (a missing part is named, nothing is preallocated for it).
#[test]
fn forged_lengths_are_refused_before_allocating() {
    let forged = Manifest {
        token: 1,
        epoch: 1,
        next_offset: 0,
        written_ms: 0,
        entries: vec![Entry {
            segment: Segment::Core { hash: 5 },
            len: 1 << 60,
            hash: 7,
        }],
    };
    let e = Manifest::decode(&forged.encode()).unwrap_err();
    assert!(e.to_string().contains("at most"), "{e}");
    let keys = Keys::of(&key());
    let near_limit = Entry {
        segment: Segment::Core { hash: 5 },
        len: MAX_SEGMENT_BYTES,
        hash: 7,
    };
    let one_part = vec![1u8; 10];
    let got = segment_bytes(&keys, 1, &near_limit, &|k: &str| {
        (k == keys.part(1, &near_limit.segment, 0)).then_some(one_part.as_slice())
    });
    assert!(matches!(got, Err(TopicStateError::Missing(_))), "{got:?}");
}

/// Found by the `state_topic` fuzz target in its first CI run
/// (`tests/fuzz/regressions/state-topic-ids-end-before-first`): a forged
/// manifest whose ids segment ends before it begins made the reader
/// subtract with overflow (a panic in a debug build). It is an error.
#[test]
fn ids_that_end_before_they_begin_are_refused_not_a_panic() {
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    claim(&mut latest, &keys, 1);
    let e = Entry {
        segment: Segment::Ids {
            bucket: 0,
            first: 5,
            end: 2,
        },
        len: 16,
        hash: xxhash_rust::xxh3::xxh3_64(&[7u8; 16]),
    };
    latest.insert(keys.part(1, &e.segment, 0), vec![7u8; 16]);
    let m = Manifest {
        token: 1,
        epoch: 1,
        next_offset: 0,
        written_ms: 0,
        entries: vec![e],
    };
    latest.insert(keys.manifest(1), m.encode());
    let e = current(&keys, &latest).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("end before they begin"), "{e}");
}

/// Lifecycle chunks are places and spans anyone who can write to the topic
/// may forge: a chunk claiming more than one chunk's places, or a gap
/// between the chunks of a bucket, is refused, never padded out.
#[test]
fn forged_lifecycle_spans_are_refused_not_padded() {
    let e = engine();
    let st = e.new_partition(key());
    let huge = crate::state::decode_life_chunk(&[0, 0, 0, 0], &st.ledger, 0, 0, 4_000_000_000, 1);
    assert!(huge.unwrap_err().to_string().contains("within one chunk"));

    let mut e = engine();
    let mut st = e.new_partition(key());
    // Three chunks of one arrival hour.
    apply(&mut e, &mut st, 0, 17_000, WALL);
    let keys = Keys::of(&key());
    let mut latest = Latest::new();
    claim(&mut latest, &keys, 1);
    let mut delta = take(&st, TZ, 1, &HashMap::new());
    let life: Vec<usize> = (delta.entries.iter().enumerate())
        .filter(|(_, e)| matches!(e.segment, Segment::Life { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(life.len(), 3);
    delta.entries.remove(life[1]);
    write(&mut latest, &keys, 1, &delta, true);
    let e = current(&keys, &latest).map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("not contiguous"), "{e}");
}
