//! The hand-written event reader against its serde_json reference model:
//! the same event or the same rejection for every input, never a panic.
#![no_main]

use incident_monitor::event::{Fields, parse_fields, parse_with_serde_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks which fields are read (every subset occurs).
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let want = Fields {
        signature: pick & 1 != 0,
        mitre: pick & 2 != 0,
        tags: pick & 4 != 0,
    };
    let ours = parse_fields(bytes, 1 << 20, want);
    let model = parse_with_serde_json(bytes, want);
    assert_eq!(ours, model, "input {:?}", String::from_utf8_lossy(bytes));
});
