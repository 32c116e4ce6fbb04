//! The `/report` query parser: any query is parameters or a 400 message,
//! never a panic; percent-encoded parameters decode to what was encoded.
#![no_main]

use incident_monitor::server::parse_report_query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_report_query(q);
    // Round trip: each byte percent-encoded gives back the same answer as
    // the plain value.
    let enc: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
    for key in ["month", "lang", "format"] {
        let plain = format!("month=2022-06&{key}={q}");
        let encoded = format!("month=2022-06&{key}={enc}");
        if !q.contains(['&', '+', '%', '#']) {
            assert_eq!(parse_report_query(&plain), parse_report_query(&encoded), "{q:?}");
        }
    }
});
