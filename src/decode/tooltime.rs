//! The timestamps SOC tools really write, and nothing else: RFC 3339
//! (`2022-06-14T09:21:07+07:00`, `...Z`), the same with a `+hhmm` offset
//! without a colon (Suricata, Wazuh: `2017-04-07T22:24:37.251547+0100`),
//! a date-time without an offset, read in a configured zone (Prowler's
//! `time_dt`), and the `2017 Feb 07 15:57:53` of Wazuh 2.x and OSSEC alerts
//! (no zone either: the configured one). Anything else is `None`
//! (`bad_time`).

use jiff::tz::TimeZone;

use crate::event::EpochMillis;
use crate::event::time::parse_rfc3339;

/// Parses a tool's timestamp; `naive` is the zone of one without offset.
pub fn parse_tool_time(s: &str, naive: &TimeZone) -> Option<EpochMillis> {
    let b = s.as_bytes();
    // `+hhmm` / `-hhmm` at the end, after a digit of the seconds (checked
    // first: what Suricata and Wazuh always write; RFC 3339 never ends so).
    if b.len() > 5 {
        let (head, off) = s.split_at(s.len() - 5);
        let o = off.as_bytes();
        if matches!(o[0], b'+' | b'-')
            && o[1..].iter().all(u8::is_ascii_digit)
            && head.as_bytes().last().is_some_and(u8::is_ascii_digit)
        {
            // `head` + `±hh:mm`, on the stack (a longer fraction, rare,
            // on the heap).
            let mut buf = [0u8; 64];
            let n = head.len();
            if n + 6 > buf.len() {
                return parse_rfc3339(&format!("{head}{}:{}", &off[..3], &off[3..]));
            }
            buf[..n].copy_from_slice(head.as_bytes());
            buf[n..n + 3].copy_from_slice(&o[..3]);
            buf[n + 3] = b':';
            buf[n + 4..n + 6].copy_from_slice(&o[3..]);
            return std::str::from_utf8(&buf[..n + 6])
                .ok()
                .and_then(parse_rfc3339);
        }
    }
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    // No offset at all: a civil date-time in the configured zone. It must
    // look like RFC 3339 without its offset (`T` separator, seconds).
    if b.len() >= 19 && b[10] == b'T' && b.last().is_some_and(u8::is_ascii_digit) {
        let with_z = format!("{s}Z");
        parse_rfc3339(&with_z)?;
        let civil: jiff::civil::DateTime = s.parse().ok()?;
        let at = naive.to_timestamp(civil).ok()?;
        return Some(at.as_millisecond());
    }
    // Wazuh 2.x / OSSEC: `2017 Feb 07 15:57:53`, exactly that shape.
    if b.len() == 20 && b[4] == b' ' && b[8] == b' ' && b[11] == b' ' {
        let civil = jiff::fmt::strtime::parse("%Y %b %d %H:%M:%S", s)
            .ok()?
            .to_datetime()
            .ok()?;
        return Some(naive.to_timestamp(civil).ok()?.as_millisecond());
    }
    None
}

/// Epoch time as OCSF writes it: milliseconds (its `timestamp_t`); a value
/// below 10¹¹ is taken as seconds (Prowler writes seconds: 10¹¹ ms is
/// March 1973, 10¹¹ s the year 5138).
pub fn epoch_time(n: i64) -> Option<EpochMillis> {
    if n <= 0 {
        return None;
    }
    if n < 100_000_000_000 {
        n.checked_mul(1000)
    } else {
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_tools_write_and_nothing_else() {
        let utc = TimeZone::UTC;
        let hcm = TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
        let z = parse_rfc3339("2017-04-07T21:24:37.251Z").unwrap();
        assert_eq!(
            parse_tool_time("2017-04-07T22:24:37.251+0100", &utc),
            Some(z)
        );
        assert_eq!(
            parse_tool_time("2017-04-07T22:24:37.251+01:00", &utc),
            Some(z)
        );
        assert_eq!(
            parse_tool_time("2017-04-07T21:24:37.251-0000", &utc),
            Some(z)
        );
        assert_eq!(parse_tool_time("2017-04-07T21:24:37.251", &utc), Some(z));
        assert_eq!(
            parse_tool_time("2017-04-08T04:24:37.251", &hcm),
            Some(z),
            "no offset: the configured zone"
        );
        assert_eq!(
            parse_tool_time("2017 Apr 07 21:24:37", &utc),
            parse_rfc3339("2017-04-07T21:24:37Z")
        );
        assert_eq!(
            parse_tool_time("2017 Apr 08 04:24:37", &hcm),
            parse_rfc3339("2017-04-07T21:24:37Z"),
            "no zone: the configured one"
        );
        for bad in [
            "2017 Jan 5 14:11:21",
            "2017 Jan 05 14:11",
            "2017 Foo 05 14:11:21",
            "2017-04-07 21:24:37",
            "2017-04-07T21:24+0100",
            "2017-04-07T21:24:37+01",
            "2017-04-07T21:24:37+01000",
            "1491600277",
            "",
            "2017-13-07T21:24:37.251",
        ] {
            assert_eq!(parse_tool_time(bad, &utc), None, "{bad}");
        }
        assert_eq!(epoch_time(1_739_539_623), Some(1_739_539_623_000));
        assert_eq!(epoch_time(1_739_539_623_913), Some(1_739_539_623_913));
        assert_eq!(epoch_time(0), None);
        assert_eq!(epoch_time(-5), None);
    }
}
