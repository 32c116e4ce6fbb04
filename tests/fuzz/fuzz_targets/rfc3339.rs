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
    // jiff's instants end at 9999-12-30T22:00:00Z (room for any offset);
    // ours go to 9999-12-31T23:59:59 at -23:59. The pipeline refuses those
    // last hours as `bad_time` (no month can be located for them).
    if ours > jiff::Timestamp::MAX.as_millisecond() {
        return;
    }
    // jiff keeps leap seconds out (it reads :60 as an error or as :59, as
    // configured); ours reads :60 as :59. Compare with :59 written out.
    let text = if s.as_bytes().get(17..19) == Some(b"60") {
        format!("{}59{}", &s[..17], &s[19..])
    } else {
        s.to_owned()
    };
    // RFC 3339 allows any number of fraction digits (ours reads them all);
    // jiff reads nanoseconds: cut the fraction to 9 digits for it.
    let text = match text.get(19..) {
        Some(rest) if rest.starts_with('.') => {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            let keep = digits.min(9);
            format!("{}.{}{}", &text[..19], &rest[1..1 + keep], &rest[1 + digits..])
        }
        _ => text,
    };
    // jiff wants `T` (RFC 3339 allows a space and lower case letters too).
    let text = text.replacen(' ', "T", 1).replace('t', "T").replace('z', "Z");
    let theirs: jiff::Timestamp = match text.parse() {
        Ok(t) => t,
        Err(e) => panic!("{s:?} accepted by us ({ours} ms), refused by jiff: {e}"),
    };
    // Both floor to the millisecond (jiff's as_millisecond truncates
    // toward zero before 1970).
    let theirs_ms = i64::try_from(theirs.as_nanosecond().div_euclid(1_000_000)).unwrap();
    assert_eq!(ours, theirs_ms, "{s:?}");
});
