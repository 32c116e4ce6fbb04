use super::*;
use crate::config::Config;
use crate::count::Engine;

/// The wall clock of these tests: 2026-11-01, after every event time used.
const WALL: i64 = 1_793_491_200_000;

fn engine(toml: &str) -> Engine {
    Engine::new(Config::from_toml(toml).unwrap().validate().unwrap())
}

fn line(id: &str, time: &str, kind: &str, sector: &str) -> String {
    format!(
        r#"{{"id":"{id}","time":"{time}","type":"{kind}","severity":7,"target":{{"sector":"{sector}"}}}}"#
    )
}

fn filled(e: &mut Engine) -> PartitionState {
    let mut st = e.new_partition(PartitionKey::input());
    for i in 0..500 {
        let day = 1 + i % 28;
        let l = line(
            &format!("i{i}"),
            &format!("2022-06-{day:02}T10:00:00+07:00"),
            ["phishing", "ddos", "worm", "spam"][i % 4],
            ["finance", "zoo", ""][i % 3],
        );
        e.apply(&mut st, l.as_bytes(), WALL);
    }
    e.apply(&mut st, b"not json", WALL);
    e.apply(
        &mut st,
        line("i1", "2022-06-02T10:00:00+07:00", "ddos", "x").as_bytes(),
        WALL,
    );
    st.position = Position {
        next_offset: 12345,
        records: 502,
        input: "f.jsonl".into(),
        identity: Some(crate::state::FileIdentity::Prefix(
            xxhash_rust::xxh3::xxh3_64(b"{\"id\":1}\n"),
        )),
    };
    st
}

#[test]
fn checkpoint_round_trip_restores_everything() {
    let mut e = engine("timezone = \"Asia/Ho_Chi_Minh\"");
    let st = filled(&mut e);
    let bytes = encode(&st, "Asia/Ho_Chi_Minh", 7);
    let snap = decode(&bytes).unwrap();
    assert_eq!(snap.written_ms, 7);
    let restored = PartitionState::restore(snap, e.settings(), WALL).unwrap();
    assert_eq!(restored.position, st.position);
    assert_eq!(restored.outcomes, st.outcomes);
    assert_eq!(restored.ledger, st.ledger);
    assert_eq!(restored.dedup.remembered(), st.dedup.remembered());
    assert_eq!(restored.windows.rings(), st.windows.rings());
    assert_eq!(restored.outcomes.accepted, 500);
    assert_eq!(restored.outcomes.duplicate, 1);
    assert_eq!(restored.outcomes.invalid[Reject::NotJson.index()], 1);
    // Re-encoding the restored state gives the same bytes.
    assert_eq!(encode(&restored, "Asia/Ho_Chi_Minh", 7), bytes);
}

/// An arrival hour whose incidents all moved to a later one (their
/// updates arrived then) is left out of the checkpoint; the others are
/// written with their counts, and come back as they were.
#[test]
fn an_hour_left_empty_by_updates_is_not_written() {
    let mut e = engine("");
    let mut st = e.new_partition(PartitionKey::input());
    let hour = 3_600_000;
    let first = |id: &str| line(id, "2022-06-01T10:00:00Z", "ddos", "finance");
    let warned = |id: &str| {
        format!(r#"{{"id":"{id}","time":"2022-06-01T10:00:00Z","type":"ddos","status":"warned"}}"#)
    };
    for id in ["a", "b"] {
        e.apply(&mut st, first(id).as_bytes(), WALL);
    }
    e.apply(&mut st, first("c").as_bytes(), WALL + hour);
    for id in ["a", "b"] {
        e.apply(&mut st, warned(id).as_bytes(), WALL + 2 * hour);
    }
    let snap = decode(&encode(&st, "UTC", 7)).unwrap();
    let hours: Vec<_> = snap
        .lifecycle
        .iter()
        .map(|c| (c.bucket - WALL, c.incidents.len()))
        .collect();
    assert_eq!(hours, [(hour, 1), (2 * hour, 2)]);
    let restored = PartitionState::restore(snap, e.settings(), WALL + 2 * hour).unwrap();
    assert_eq!(restored.lifecycle.len(), 3);
    assert_eq!(restored.ledger, st.ledger);
}

#[test]
fn any_corruption_is_detected() {
    let mut e = engine("");
    let bytes = encode(&filled(&mut e), "UTC", 0);
    for at in (0..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        assert!(decode(&b).is_err(), "flip at {at}");
    }
    for cut in (0..bytes.len()).step_by(101) {
        assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn counts_are_the_checkpoint_ledger_and_every_byte_is_still_checked() {
    let mut e = engine("");
    let st = filled(&mut e);
    assert!(st.dedup.buckets().count() > 0, "the state remembers ids");
    let bytes = encode(&st, "Asia/Ho_Chi_Minh", 7);
    let full = decode(&bytes).unwrap();
    let counts = decode_counts(&bytes).unwrap();
    assert_eq!(counts.key, full.key);
    assert_eq!(counts.timezone, "Asia/Ho_Chi_Minh");
    assert_eq!(counts.written_ms, 7);
    assert_eq!(counts.ledger, full.ledger);
    // What follows the ledger is stepped over, not decoded, but its shape
    // is checked: bytes no full decode accepts, sealed with a good
    // checksum, are refused here too (issue 30, 12).
    let mut tail = bytes[..bytes.len() - 8].to_vec();
    tail.extend_from_slice(&[0xff; 16]);
    tail.extend_from_slice(&[0; 8]);
    let tail = reseal(tail);
    assert!(decode(&tail).is_err());
    assert!(decode_counts(&tail).is_err());
    // A flipped bit among the ids it does not decode is still refused.
    for at in (0..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        assert!(decode_counts(&b).is_err(), "flip at {at}");
    }
}

#[test]
fn restore_maps_by_name_and_refuses_what_would_mix() {
    let mut e = engine("");
    let st = filled(&mut e);
    let snap = decode(&encode(&st, "UTC", 0)).unwrap();
    // Reordered rules and an extra sector: counts follow the names.
    let reordered = engine(
        "[ledger]\nsectors = [\"zoo\", \"finance\"]\n[classification]\ndefault_category = \"other\"\n\
         [[classification.rules]]\ncategory = \"ddos\"\ntypes = [\"ddos\"]\n\
         [[classification.rules]]\ncategory = \"malware\"\ntypes = [\"worm\"]\n\
         [[classification.rules]]\ncategory = \"phishing\"\ntypes = [\"phishing\"]\n\
         [[classification.rules]]\ncategory = \"deface\"\ntypes = [\"deface\"]\n\
         [[classification.rules]]\ncategory = \"intrusion\"\ntypes = [\"exploit\"]\n",
    );
    let r = PartitionState::restore(snap.clone(), reordered.settings(), 0).unwrap();
    let june = "2022-06".parse().unwrap();
    for name in ["phishing", "ddos", "malware", "other"] {
        let a = st
            .ledger
            .categories()
            .iter()
            .position(|c| c == name)
            .unwrap();
        let b = r
            .ledger
            .categories()
            .iter()
            .position(|c| c == name)
            .unwrap();
        assert_eq!(
            st.ledger.category_total(june, a),
            r.ledger.category_total(june, b),
            "{name}"
        );
    }
    // "zoo" was `other` before; it stays in `other` (counts are not re-derived).
    let m = r.ledger.month(june).unwrap();
    assert_eq!(m.by_sector.iter().sum::<u64>(), 500);

    let other_tz = engine("timezone = \"Asia/Tokyo\"");
    assert!(matches!(
        PartitionState::restore(snap.clone(), other_tz.settings(), 0),
        Err(RestoreError::Timezone { .. })
    ));
    let fewer =
        engine("[classification]\nrules = [{ category = \"phishing\", types = [\"phishing\"] }]");
    assert!(matches!(
        PartitionState::restore(snap, fewer.settings(), 0),
        Err(RestoreError::CategoryRemoved { .. })
    ));
}

#[test]
fn store_writes_atomically_and_loads_all() {
    let dir = std::env::temp_dir().join(format!("im-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = StateStore::new(&dir);
    let lock = store.lock().unwrap();
    assert!(matches!(store.lock(), Err(LockError::Busy(_))));
    let mut e = engine("");
    let mut st = filled(&mut e);
    store.save(&st, "UTC", 0).unwrap();
    st.key = PartitionKey {
        source: crate::state::Source::kafka("incidents/x"),
        partition: 3,
    };
    store.save(&st, "UTC", 0).unwrap();
    // A temporary file left by a crash mid-write is ignored.
    std::fs::write(dir.join("input-0.tmp"), b"partial").unwrap();
    let all = store.load_all().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].key.partition, 3);
    assert!(
        store
            .path_of(&st.key)
            .ends_with("kafka.incidents_x-3.state")
    );
    std::fs::write(dir.join("bad-0.state"), b"IMSTATE\0junkjunkjunk").unwrap();
    assert!(matches!(store.load_all(), Err(StoreError::Corrupt { .. })));
    drop(lock);
    store.lock().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_written_late_never_replaces_a_newer_one() {
    let dir = std::env::temp_dir().join(format!("im-order-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = StateStore::new(&dir);
    store.create_dir().unwrap();
    let mut e = engine("");
    let mut st = filled(&mut e);
    // Taken first (say, by the background checkpoint)...
    let older = store.checkpoint(&st, "UTC", 0);
    st.position.next_offset += 100;
    // ...taken and written later (say, on revocation, through a clone).
    store.clone().save(&st, "UTC", 0).unwrap();
    // The background write finishing now is skipped.
    store.write(&older).unwrap();
    let on_disk = store.load(&st.key).unwrap().unwrap();
    assert_eq!(on_disk.position.next_offset, st.position.next_offset);
    // A newer one is written as usual.
    st.position.next_offset += 1;
    let newer = store.checkpoint(&st, "UTC", 0);
    store.write(&newer).unwrap();
    let on_disk = store.load(&st.key).unwrap().unwrap();
    assert_eq!(on_disk.position.next_offset, newer.next_offset);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Re-seals a checkpoint body that was edited (fixes the checksum).
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len();
    let sum = xxhash_rust::xxh3::xxh3_64(&bytes[10..n - 8]);
    bytes[n - 8..].copy_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn implausible_counts_and_repeated_names_are_refused_not_added() {
    // Found by the checkpoint fuzz target: two invalid-reason counters near
    // u64::MAX under one reason overflowed when added.
    let found = include_bytes!("../../tests/fuzz/regressions/checkpoint-invalid-count-overflow");
    let bytes = reseal(found.to_vec());
    assert!(matches!(decode(&bytes), Err(codec::CodecError::Invalid(_))));

    let mut e = engine("");
    let good = encode(&filled(&mut e), "UTC", 0);
    assert!(decode(&good).is_ok());
    // A category listed twice would add two rows into one.
    let mut st = filled(&mut e);
    st.ledger = crate::calendar::Ledger::new(
        vec!["phishing".to_owned(), "phishing".to_owned()].into(),
        st.ledger.sectors().into(),
        st.ledger.provinces().into(),
    );
    let twice = encode(&st, "UTC", 0);
    match decode(&twice) {
        Err(codec::CodecError::Invalid(m)) => assert!(m.contains("listed twice"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A count above MAX_COUNT where `accepted` is stored.
    let mut st = filled(&mut e);
    st.outcomes.accepted = super::file::MAX_COUNT + 1;
    let huge = encode(&st, "UTC", 0);
    assert!(matches!(decode(&huge), Err(codec::CodecError::Invalid(_))));
}

/// Found by the checkpoint fuzz target: sectors the configuration does not
/// list fold into `other` on restore; their sum passed the plausibility
/// bound, so the restored state encoded into a file that did not decode.
#[test]
fn a_restored_state_always_encodes_into_a_valid_checkpoint() {
    let mut found = include_bytes!("../../tests/fuzz/regressions/checkpoint-reencode").to_vec();
    // The fuzzer named its source `in/ut`; sources are typed since (`input`
    // or `kafka.<topic>`, any other refused): the same bytes, named `input`.
    let at = found
        .windows(5)
        .position(|w| w == b"in/ut")
        .expect("the regression input names its source in/ut");
    found[at..at + 5].copy_from_slice(b"input");
    let snap = decode(&reseal(found)).unwrap();
    let e = engine("");
    let st = PartitionState::restore(snap, e.settings(), WALL).unwrap();
    let again = encode(&st, "UTC", 0);
    assert!(decode(&again).is_ok(), "{:?}", decode(&again).err());
}

/// Issue 30, 12: `report` (which reads only the counts) accepted a
/// checkpoint with trailing bytes that `run` refuses; both refuse it now,
/// and both read a whole one.
#[test]
fn a_report_refuses_trailing_bytes_as_run_does() {
    let mut e = engine("timezone = \"Asia/Ho_Chi_Minh\"");
    let st = filled(&mut e);
    let bytes = encode(&st, "Asia/Ho_Chi_Minh", 7);
    assert!(decode_counts(&bytes).is_ok());
    // Bytes added before the checksum, the checksum made right again.
    let mut forged = bytes[..bytes.len() - 8].to_vec();
    forged.extend_from_slice(b"extra");
    let sum = xxhash_rust::xxh3::xxh3_64(&forged[10..]);
    forged.extend_from_slice(&sum.to_le_bytes());
    assert!(decode(&forged).is_err());
    let e = decode_counts(&forged).unwrap_err();
    assert!(e.to_string().contains("trailing"), "{e}");
}

/// A source is written by its name and read back from it; the names order
/// as the sources do (checkpoint files and state-topic keys hold the names
/// of version 1 on: `input`, `kafka.<topic>`).
#[test]
fn sources_are_their_names() {
    // A checkpoint naming another source is refused, by name.
    let mut e = engine("");
    let mut st = filled(&mut e);
    st.key.source = super::Source::kafka("t");
    let bytes = encode(&st, "UTC", 0);
    let at = bytes
        .windows(7)
        .position(|w| w == b"kafka.t")
        .expect("the source's name is in the checkpoint");
    let mut other = bytes.clone();
    other[at..at + 7].copy_from_slice(b"kafkaXt");
    match decode(&reseal(other)) {
        Err(codec::CodecError::Invalid(m)) => assert!(m.contains("kafkaXt"), "{m}"),
        other => panic!("{other:?}"),
    }
    use super::Source;
    let sources = [
        Source::Input,
        Source::kafka("a"),
        Source::kafka("incidents"),
        Source::kafka("incidents.eu-1_x"),
    ];
    for s in &sources {
        assert_eq!(Source::from_name(&s.to_string()).as_ref(), Some(s));
    }
    assert_eq!(Source::Input.to_string(), "input");
    assert_eq!(Source::kafka("t").to_string(), "kafka.t");
    for pair in sources.windows(2) {
        assert!(pair[0] < pair[1]);
        assert!(pair[0].to_string() < pair[1].to_string());
    }
    for bad in ["", "kafka.", "file", "Input", "kafka"] {
        assert_eq!(Source::from_name(bad), None, "{bad}");
    }
}
