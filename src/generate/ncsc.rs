//! The `ncsc-2022` scenario: the national centre's published figures.

use super::event::{EventSpec, write_event};
use super::rng::Rng;
use crate::calendar::{MonthIndex, YearMonth};
use crate::event::time::format_rfc3339;

/// The timezone the published months are in.
pub const NCSC_TIMEZONE: &str = "Asia/Ho_Chi_Minh";

/// Monthly totals, January 2021 to December 2022. Published or implied by the
/// centre: Dec 2021 1,254; H1 2021 4,815; H2 2021 4,914; Jan 2022 1,383;
/// Jan-May 2022 5,463; May 847; Jun 1,178; Jul 983. The rest are plausible
/// fillers that keep those sums.
const TOTALS: [[u32; 12]; 2] = [
    [812, 694, 786, 803, 841, 879, 702, 711, 689, 748, 810, 1254],
    [
        1383, 1000, 1106, 1127, 847, 1178, 983, 1061, 1007, 1152, 1094, 1216,
    ],
];

/// Published splits (phishing, deface, malware) by month: (year, month, split).
pub const PUBLISHED: [(i32, u8, [u32; 3]); 3] = [
    (2022, 5, [161, 226, 460]),
    (2022, 6, [766, 83, 329]),
    (2022, 7, [544, 22, 417]),
];

/// Jan-Apr 2022 split, so that Jan-May is 930 / 776 / 3,757 as published.
const JAN_APR_2022: [u32; 3] = [930 - 161, 776 - 226, 3757 - 460];

/// Status words of a warning and of handling, as reporters write them.
const WARNED: [&str; 3] = ["confirmed", "warned", "notified"];
const HANDLED: [&str; 3] = ["resolved", "closed", "handled"];

/// The type a first report gives when the analyst has not decided yet: it
/// classifies as `other`, and the warning corrects it.
pub const VAGUE_TYPE: &str = "suspicious";

/// Mixed into an incident's seed for its lifecycle draws, so the
/// scenario's other draws (and so every published figure) do not move.
const LIFE_SEED: u64 = 0x5EED_11FE_C7C1_E000;
const CATEGORY_TYPES: [&[&str]; 3] = [
    &[
        "phishing",
        "Phishing",
        "spear-phishing",
        "Credential-Harvesting",
        "PHISHING",
    ],
    &["deface", "Defacement", "website-defacement", "DEFACE"],
    &[
        "malware",
        "Ransomware",
        "trojan",
        "botnet",
        "Backdoor",
        "worm",
        "MALWARE",
    ],
];

/// Per-category counts of every month.
pub fn monthly_splits() -> Vec<(YearMonth, [u32; 3])> {
    let mut out = Vec::new();
    let jan_apr_total: u32 = TOTALS[1][..4].iter().sum();
    let mut jan_apr_left = JAN_APR_2022;
    for (yi, year) in [2021, 2022].into_iter().enumerate() {
        for m in 1..=12u8 {
            let total = TOTALS[yi][usize::from(m) - 1];
            let split = if let Some((_, _, s)) =
                PUBLISHED.iter().find(|(y, mm, _)| *y == year && *mm == m)
            {
                *s
            } else if year == 2022 && m <= 4 {
                if m == 4 {
                    jan_apr_left
                } else {
                    let p = JAN_APR_2022[0] * total / jan_apr_total;
                    let d = JAN_APR_2022[1] * total / jan_apr_total;
                    let s = [p, d, total - p - d];
                    for (left, v) in jan_apr_left.iter_mut().zip(s) {
                        *left -= v;
                    }
                    s
                }
            } else {
                let p = total * 22 / 100;
                let d = total * 14 / 100;
                [p, d, total - p - d]
            };
            debug_assert_eq!(split.iter().sum::<u32>(), total);
            // Months 1-12 and the years above always make a valid YearMonth.
            if let Some(ym) = YearMonth::new(year, m) {
                out.push((ym, split));
            }
        }
    }
    out
}

struct Pending {
    arrival: i64,
    line: String,
}

/// The whole scenario, in arrival order.
pub fn ncsc_2022(seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let Ok(tz) = jiff::tz::TimeZone::get(NCSC_TIMEZONE) else {
        // The bundled tz database always has this zone.
        return Vec::new();
    };
    let months = MonthIndex::new(tz);
    let mut out: Vec<Pending> = Vec::new();
    let offset = 7 * 3600;
    for (ym, split) in monthly_splits() {
        let Some(slot) = months.slot(ym) else {
            continue;
        };
        let mut seq = 0u32;
        for (cat, &n) in split.iter().enumerate() {
            for k in 0..n {
                seq += 1;
                let time = match k {
                    // Late on the last local day, written in UTC: a UTC-month
                    // reader would put it in the next month... or not.
                    0 => slot.end_ms - 30 * 60_000,
                    // Just after local midnight on the 1st: still the previous
                    // month in UTC.
                    1 => slot.start_ms + 20 * 60_000,
                    _ => rng.range(slot.start_ms, slot.end_ms),
                };
                let time_text = if k < 2 || rng.chance(0.4) {
                    format_rfc3339(time, 0)
                } else {
                    format_rfc3339(time, offset)
                };
                let spec = EventSpec {
                    id: format!(
                        "NCSC-{}{:02}-{seq:05}-{:06x}",
                        ym.year(),
                        ym.month(),
                        rng.below(1 << 24)
                    ),
                    time: time_text,
                    kind: (*rng.pick(CATEGORY_TYPES[cat])).to_owned(),
                    status: "detected",
                    updated: None,
                };
                let quirky = rng.chance(0.01);
                // Each incident's optional fields come from its own seed, so a
                // re-delivery carries the same severity and sector as the
                // first message (only the status changes, as in real feeds).
                let event_seed = rng.next_u64();
                // Most reports arrive within minutes; some hours or weeks late.
                let delay = match rng.below(100) {
                    0..=1 => rng.range(86_400_000, 20 * 86_400_000),
                    2..=9 => rng.range(3_600_000, 86_400_000),
                    _ => rng.range(0, 600_000),
                };
                let arrival = time + delay;
                let mut life = Rng::new(event_seed ^ LIFE_SEED);
                let vague = life.chance(0.05);
                let first = EventSpec {
                    kind: if vague {
                        VAGUE_TYPE.to_owned()
                    } else {
                        spec.kind.clone()
                    },
                    ..spec.clone()
                };
                out.push(Pending {
                    arrival,
                    line: write_event(&first, &mut Rng::new(event_seed), quirky),
                });
                // Re-deliveries of the first message.
                if rng.chance(0.04) {
                    // A draw the scenario always made here: kept, so every
                    // later draw (and figure) is what it was.
                    let _ = rng.below(3);
                    out.push(Pending {
                        arrival: arrival + rng.range(1_000, 7 * 86_400_000),
                        line: write_event(&first, &mut Rng::new(event_seed), quirky),
                    });
                }
                for (at, line) in lifecycle(&spec, time, vague, &mut life) {
                    out.push(Pending {
                        arrival: at.max(arrival + 1),
                        line,
                    });
                }
                if rng.chance(0.003) {
                    out.push(Pending {
                        arrival: arrival + 1,
                        line: invalid_line(&mut rng, &format!("{}", time)),
                    });
                }
            }
        }
    }
    out.sort_by_key(|p| p.arrival);
    out.into_iter().map(|p| p.line).collect()
}

/// An incident's later messages, each with its arrival: warned within
/// hours (a vague first type corrected then), most handled within days,
/// a few updates delivered twice. Times are in `updated`.
fn lifecycle(spec: &EventSpec, detected: i64, vague: bool, life: &mut Rng) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    if !(vague || life.chance(0.94)) {
        return out;
    }
    let time = format_rfc3339(detected, 7 * 3600);
    let mut step = |status: &'static str, at: i64, corrected: bool, life: &mut Rng| {
        // The centre's tracker sends the incident's id, time, type and
        // status, not the sensor's whole report; a correction of the first
        // report's type says so (an unknown field, for `generate --format`).
        let line = format!(
            r#"{{"id":"{}","time":"{time}","type":"{}","status":"{status}","updated":"{}","reporter":"ncsc-tracker"{}}}"#,
            spec.id,
            spec.kind,
            format_rfc3339(at, 7 * 3600),
            if corrected {
                r#","corrected":true"#
            } else {
                ""
            },
        );
        let arrival = at + life.range(0, 300_000);
        if life.chance(0.02) {
            out.push((arrival + life.range(1_000, 3_600_000), line.clone()));
        }
        out.push((arrival, line));
    };
    let warned = detected
        + if life.chance(0.8) {
            life.range(600_000, 4 * 3_600_000)
        } else {
            life.range(4 * 3_600_000, 36 * 3_600_000)
        };
    let status = *life.pick(&WARNED);
    step(status, warned, vague, life);
    if life.chance(0.9) {
        let handled = warned
            + match life.below(10) {
                0..=6 => life.range(2 * 3_600_000, 12 * 3_600_000),
                7..=8 => life.range(12 * 3_600_000, 72 * 3_600_000),
                _ => life.range(3 * 86_400_000, 20 * 86_400_000),
            };
        let status = *life.pick(&HANDLED);
        step(status, handled, false, life);
    }
    out
}

/// A malformed message of the kinds real feeds carry.
fn invalid_line(rng: &mut Rng, seed_text: &str) -> String {
    match rng.below(7) {
        0 => format!(
            "{{\"id\":\"broken-{seed_text}\",\"time\":\"2022-06-14T09:21:07+07:00\",\"type\":\"phishing\""
        ),
        1 => "<html>502 Bad Gateway</html>".to_owned(),
        2 => format!(
            "{{\"time\":\"2022-06-14T09:21:07+07:00\",\"type\":\"malware\",\"ref\":\"{seed_text}\"}}"
        ),
        3 => format!(
            "{{\"id\":\"bad-time-{seed_text}\",\"time\":\"14/06/2022 09:21\",\"type\":\"deface\"}}"
        ),
        4 => {
            format!("{{\"id\":{seed_text},\"time\":\"2022-06-14T09:21:07Z\",\"type\":\"malware\"}}")
        }
        5 => "[\"not\",\"an\",\"object\"]".to_owned(),
        _ => format!(
            "{{\"id\":\"no-type-{seed_text}\",\"time\":\"2022-06-14T09:21:07Z\",\"type\":null}}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_match_every_published_figure() {
        let s = monthly_splits();
        let get = |y, m| {
            s.iter()
                .find(|(k, _)| *k == YearMonth::new(y, m).unwrap())
                .unwrap()
                .1
        };
        let total = |y, m| get(y, m).iter().sum::<u32>();
        let sum = |y, from, to| (from..=to).map(|m| total(y, m)).sum::<u32>();
        assert_eq!(total(2022, 6), 1178);
        assert_eq!(total(2022, 5), 847);
        assert_eq!(total(2022, 1), 1383);
        assert_eq!(total(2021, 12), 1254);
        assert_eq!(sum(2022, 1, 6), 6641);
        assert_eq!(sum(2022, 1, 5), 5463);
        assert_eq!(sum(2021, 7, 12), 4914);
        assert_eq!(sum(2021, 1, 6), 4815);
        let cat = |c: usize, from, to| (from..=to).map(|m| get(2022, m)[c]).sum::<u32>();
        assert_eq!([cat(0, 1, 5), cat(1, 1, 5), cat(2, 1, 5)], [930, 776, 3757]);
        assert_eq!(
            [cat(0, 1, 6), cat(1, 1, 6), cat(2, 1, 6)],
            [1696, 859, 4086]
        );
        assert_eq!(get(2022, 7), [544, 22, 417]);
    }
}
