//! The `live` scenario: every category, event times up to now, occasional
//! spikes, realistic noise.

use super::event::{EventSpec, write_event};
use super::rng::Rng;
use crate::event::EpochMillis;
use crate::event::time::format_rfc3339;

const TYPES: &[(&str, u32)] = &[
    ("phishing", 24),
    ("spear-phishing", 4),
    ("malware", 18),
    ("ransomware", 5),
    ("botnet", 6),
    ("deface", 8),
    ("ddos", 9),
    ("brute-force", 10),
    ("exploit", 6),
    ("port-scan", 6),
    ("data-leak", 4),
];

/// An endless (or `count`-long) stream of synthetic incidents.
#[derive(Debug, Clone)]
pub struct LiveStream {
    rng: Rng,
    n: u64,
    count: Option<u64>,
    /// Event time of the next incident, ms; advanced by `step_ms`.
    next_ms: EpochMillis,
    step_ms: i64,
    /// When `Some`, event times are the wall clock at emission instead.
    wall: bool,
    spike_left: u32,
    spike_type: &'static str,
    last_ids: Vec<String>,
    /// Incidents not handled yet: their first message's spec and seed,
    /// the type they turn out to be, and how far they went (0 recorded,
    /// 1 warned).
    open: Vec<(EventSpec, u64, String, u8)>,
}

/// Incidents waiting for their updates (past it, the oldest is dropped: it
/// stays unhandled).
const OPEN_MAX: usize = 64;

impl LiveStream {
    /// `count` events whose event times end at `end_ms`, `step_ms` apart.
    pub fn ending_at(seed: u64, count: u64, end_ms: EpochMillis, step_ms: i64) -> LiveStream {
        LiveStream {
            rng: Rng::new(seed),
            n: 0,
            count: Some(count),
            next_ms: end_ms - (count as i64) * step_ms,
            step_ms,
            wall: false,
            spike_left: 0,
            spike_type: "ddos",
            last_ids: Vec::new(),
            open: Vec::new(),
        }
    }

    /// Events stamped with the wall clock when produced (for paced streams).
    pub fn real_time(seed: u64, count: Option<u64>) -> LiveStream {
        LiveStream {
            wall: true,
            count,
            ..LiveStream::ending_at(seed, 0, 0, 0)
        }
    }

    fn pick_type(&mut self) -> &'static str {
        if self.spike_left > 0 {
            self.spike_left -= 1;
            if self.rng.chance(0.7) {
                return self.spike_type;
            }
        } else if self.rng.chance(0.0005) {
            // An occasional burst of one type: what spike alerts are for.
            self.spike_left = 200 + self.rng.below(400) as u32;
            self.spike_type = *self.rng.pick(&["ddos", "phishing", "deface", "ransomware"]);
        }
        let total: u32 = TYPES.iter().map(|t| t.1).sum();
        let mut x = self.rng.below(u64::from(total)) as u32;
        for (t, w) in TYPES {
            if x < *w {
                return t;
            }
            x -= w;
        }
        TYPES[0].0
    }
}

impl Iterator for LiveStream {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.count.is_some_and(|c| self.n >= c) {
            return None;
        }
        self.n += 1;
        let time = if self.wall {
            crate::clock::wall_now_ms()
        } else {
            self.next_ms += self.step_ms;
            self.next_ms + self.rng.range(-self.step_ms * 20, 1)
        };
        // A re-delivery of a recent incident now and then.
        if !self.last_ids.is_empty() && self.rng.chance(0.03) {
            let i = self.rng.below(self.last_ids.len() as u64) as usize;
            return Some(self.last_ids[i].clone());
        }
        if self.rng.chance(0.001) {
            return Some(format!("{{\"id\":\"truncated-{}\",\"time\":", self.n));
        }
        // An update of an open incident: warned, then handled (a vague
        // first type corrected at the warning).
        if !self.open.is_empty() && self.rng.chance(0.15) {
            // Mostly the oldest open incident: warned within hours and
            // handled within a day or two at the scenario's pace.
            let i = if self.rng.chance(0.5) {
                0
            } else {
                self.rng.below(self.open.len() as u64) as usize
            };
            let (spec, seed, kind, stage) = self.open[i].clone();
            let (status, done) = match stage {
                0 => (*self.rng.pick(&["confirmed", "warned", "notified"]), false),
                _ => (*self.rng.pick(&["resolved", "closed", "handled"]), true),
            };
            let at = time
                .max(crate::event::time::parse_rfc3339(&spec.time).unwrap_or(time) + self.step_ms);
            let update = EventSpec {
                kind,
                status,
                updated: Some(format_rfc3339(at, 0)),
                ..spec
            };
            if done {
                self.open.remove(i);
            } else {
                self.open[i].3 = 1;
            }
            return Some(write_event(&update, &mut Rng::new(seed), false));
        }
        let kind = self.pick_type();
        let vague = self.rng.chance(0.03);
        let spec = EventSpec {
            id: format!("inc-{:016x}-{}", self.rng.next_u64(), self.n),
            time: format_rfc3339(time, 0),
            kind: if vague {
                super::ncsc::VAGUE_TYPE.to_owned()
            } else {
                kind.to_owned()
            },
            status: "detected",
            updated: None,
        };
        let quirky = self.rng.chance(0.002);
        let seed = self.rng.next_u64();
        let line = write_event(&spec, &mut Rng::new(seed), quirky);
        if !quirky {
            if self.open.len() >= OPEN_MAX {
                self.open.remove(0);
            }
            self.open.push((spec, seed, kind.to_owned(), 0));
        }
        if self.last_ids.len() < 64 {
            self.last_ids.push(line.clone());
        } else {
            let i = self.rng.below(64) as usize;
            self.last_ids[i] = line.clone();
        }
        Some(line)
    }
}
