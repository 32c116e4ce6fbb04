//! A strict, allocation-free RFC 3339 timestamp parser.
//!
//! Incident times are the event time of every window and month, so they are
//! parsed on the hot path for every message. A general-purpose date library
//! handles many formats; the spec accepts exactly one (RFC 3339 with an
//! offset), so a fixed-position parser is both faster and stricter.

/// Milliseconds since the Unix epoch (UTC).
pub type EpochMillis = i64;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` into epoch
/// milliseconds. `t`/`z` in lower case and a space instead of `T` are accepted,
/// as RFC 3339 allows. A leap second (`:60`) is read as `:59`, as most systems
/// do. Returns `None` on anything else, including out-of-range fields and
/// calendar dates that do not exist (`2022-02-30`).
pub fn parse_rfc3339(s: &str) -> Option<EpochMillis> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)? as i64;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let second = second.min(59);

    let mut i = 19;
    let mut millis = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        // Any number of digits (RFC 3339 sets no bound; the message size
        // limit does). Every figure is computed from milliseconds: the
        // boundaries of months, minutes and window panes are whole seconds,
        // so the digits past the third cannot move an incident across one.
        let digits_end = b[start..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |n| start + n);
        for (k, &c) in b[start..digits_end.min(start + 3)].iter().enumerate() {
            millis += u32::from(c - b'0') * [100, 10, 1][k];
        }
        i = digits_end;
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let oh = digits(rest, 0, 2)?;
            let om = digits(rest, 3, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let v = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Some(secs * 1000 + i64::from(millis))
}

/// Reads `n` ASCII digits at `at`.
#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as RFC 3339 at a fixed UTC offset (`Z` when
/// the offset is zero), with milliseconds only when non-zero.
pub fn format_rfc3339(t: EpochMillis, offset_secs: i32) -> String {
    let local = t + i64::from(offset_secs) * 1000;
    let days = local.div_euclid(86_400_000);
    let ms_of_day = local.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let millis = ms_of_day % 1000;
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if millis != 0 {
        s.push_str(&format!(".{millis:03}"));
    }
    if offset_secs == 0 {
        s.push('Z');
    } else {
        let sign = if offset_secs < 0 { '-' } else { '+' };
        let o = offset_secs.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", o / 3600, o / 60 % 60));
    }
    s
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jiff_millis(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn agrees_with_jiff_on_valid_forms() {
        for s in [
            "2022-06-14T09:21:07+07:00",
            "2022-06-14T02:21:07Z",
            "2022-06-14T02:21:07.5Z",
            "2022-06-14T02:21:07.123456789Z",
            "2022-05-31T16:30:00Z",
            "1969-12-31T23:59:59Z",
            "2000-02-29T12:00:00-05:30",
            "2022-01-01T00:00:00+14:00",
        ] {
            assert_eq!(parse_rfc3339(s), Some(jiff_millis(s)), "{s}");
        }
    }

    #[test]
    fn accepts_lower_case_and_space_separator() {
        assert_eq!(
            parse_rfc3339("2022-06-14t02:21:07z"),
            parse_rfc3339("2022-06-14T02:21:07Z")
        );
        assert_eq!(
            parse_rfc3339("2022-06-14 02:21:07Z"),
            parse_rfc3339("2022-06-14T02:21:07Z")
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2022-06-14",
            "2022-06-14T09:21:07",      // no offset
            "2022-06-14T09:21:07+0700", // offset without colon
            "2022-02-30T00:00:00Z",     // no such day
            "2021-02-29T00:00:00Z",     // not a leap year
            "2022-13-01T00:00:00Z",
            "2022-06-14T24:00:00Z",
            "2022-06-14T09:61:00Z",
            "2022-06-14T09:21:07.Z",
            "2022-06-14T09:21:07Zjunk",
            "2022/06/14T09:21:07Z",
            "２０22-06-14T09:21:07Z",
            "1655198467",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn format_round_trips() {
        for t in [
            0i64,
            1_655_173_267_000,
            1_655_173_267_123,
            -86_400_001,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            for off in [0, 7 * 3600, -5 * 3600 - 1800] {
                let s = format_rfc3339(t, off);
                assert_eq!(parse_rfc3339(&s), Some(t), "{s}");
            }
        }
        assert_eq!(
            format_rfc3339(1_655_173_267_000, 7 * 3600),
            "2022-06-14T09:21:07+07:00"
        );
        assert_eq!(format_rfc3339(1_655_173_267_000, 0), "2022-06-14T02:21:07Z");
    }

    #[test]
    fn fractions_of_any_length_are_read() {
        // Thirteen digits and more were refused before (`bad_time`).
        for digits in [13, 18, 40, 200] {
            let s = format!("2022-06-14T02:21:07.{}Z", "9".repeat(digits));
            assert_eq!(
                parse_rfc3339(&s),
                parse_rfc3339("2022-06-14T02:21:07.999Z"),
                "{digits} digits"
            );
        }
        // The instant is truncated, never rounded into the next second (a
        // month's last nanosecond stays in its month).
        assert_eq!(
            parse_rfc3339("2022-06-30T16:59:59.9999999999999+00:00"),
            Some(jiff_millis("2022-06-30T16:59:59.999Z"))
        );
    }

    #[test]
    fn leap_second_reads_as_59() {
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2016-12-31T23:59:59Z")
        );
    }
}
