//! The strict RFC 3339 parser against jiff: whatever it accepts, jiff reads
//! as the same instant (to the millisecond); never a panic.
#![no_main]

use incident_monitor::event::time::parse_rfc3339;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Some(ours) = parse_rfc3339(s) else {
        return;
    };
    // jiff keeps leap seconds out (it reads :60 as an error or as :59, as
    // configured); ours reads :60 as :59. Compare with :59 written out.
    let text = if s.as_bytes().get(17..19) == Some(b"60") {
        format!("{}59{}", &s[..17], &s[19..])
    } else {
        s.to_owned()
    };
    // jiff wants `T` (RFC 3339 allows a space and lower case letters too).
    let text = text.replacen(' ', "T", 1).replace('t', "T").replace('z', "Z");
    let theirs: jiff::Timestamp = match text.parse() {
        Ok(t) => t,
        Err(e) => panic!("{s:?} accepted by us ({ours} ms), refused by jiff: {e}"),
    };
    let theirs_ms = theirs.as_millisecond();
    assert_eq!(ours, theirs_ms, "{s:?}");
});
