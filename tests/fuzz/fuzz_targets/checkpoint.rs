//! The checkpoint decoder: corrupt, truncated and hostile files are refused
//! (never a panic, never an allocation beyond what the input can hold); a
//! file that decodes restores into a live state and encodes again.
#![no_main]

use incident_monitor::config::Config;
use incident_monitor::state::{PartitionState, decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Hostile bodies mostly fail the checksum; the fuzzer finds the rest
    // through the seeds (valid files), and the first byte may also ask for
    // the checksum to be fixed up so that the body itself is exercised.
    let mut bytes = data.to_vec();
    if bytes.len() > 19 && bytes[0] == b'I' {
        let n = bytes.len();
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[10..n - 8]);
        bytes[n - 8..].copy_from_slice(&sum.to_le_bytes());
    }
    let Ok(snap) = decode(&bytes) else {
        return;
    };
    let Ok(settings) = Config::default().validate() else {
        return;
    };
    if let Ok(st) = PartitionState::restore(snap, &settings, 1_700_000_000_000) {
        let again = encode(&st, "UTC", 0);
        assert!(decode(&again).is_ok());
    }
});
