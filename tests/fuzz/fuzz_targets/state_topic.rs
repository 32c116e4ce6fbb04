//! The state topic's records (issue 30, 7): anyone who can write to the
//! topic can forge a claim, a manifest or a segment and recompute its
//! checksum. Whatever they write, reading the partition's state refuses it
//! or restores it (never a panic, never an allocation sized by a length
//! read from a record).
#![no_main]

use incident_monitor::state::PartitionKey;
use incident_monitor::state::topic::{Claim, Latest, Manifest, current, Keys};
use libfuzzer_sys::fuzz_target;

/// `bytes` with its trailing XXH3 checksum made right (records and
/// checkpoints are sealed the same way: magic, version, body, sum), so the
/// fuzzer reaches what is behind the checksum.
fn sealed(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.len() > 19 {
        let n = b.len();
        let sum = xxhash_rust::xxh3::xxh3_64(&b[10..n - 8]);
        b[n - 8..].copy_from_slice(&sum.to_le_bytes());
    }
    b
}

fuzz_target!(|data: &[u8]| {
    // Each record alone.
    let _ = Manifest::decode(data);
    let _ = Claim::decode(data);
    // A manifest and a segment, separated by 0xFF 0xFF: the manifest is
    // sealed, its every entry made to match the segment (one part), and a
    // claim of its token written, so that reading goes all the way to
    // assembling and decoding the state.
    let (head, segment) = match data.windows(2).position(|w| w == [0xFF, 0xFF]) {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let keys = Keys::of(&PartitionKey::input());
    let mut latest = Latest::new();
    let Ok(mut m) = Manifest::decode(&sealed(head)) else {
        return;
    };
    let segment = sealed(segment);
    for e in &mut m.entries {
        e.len = segment.len() as u64;
        e.hash = xxhash_rust::xxh3::xxh3_64(&segment);
        latest.insert(keys.part(m.token, &e.segment, 0), segment.clone());
    }
    latest.insert(keys.manifest(m.token), m.encode());
    let claim = Claim {
        token: m.token,
        epoch: m.epoch,
        owner: "fuzz".into(),
        claimed_ms: 0,
    };
    latest.insert(keys.claim(), claim.encode());
    let _ = current(&keys, &latest);
});
