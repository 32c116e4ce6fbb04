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
}

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
        let kind = self.pick_type();
        let spec = EventSpec {
            id: format!("inc-{:016x}-{}", self.rng.next_u64(), self.n),
            time: format_rfc3339(time, 0),
            kind: kind.to_owned(),
            status: "detected",
        };
        let quirky = self.rng.chance(0.002);
        let line = write_event(&spec, &mut self.rng, quirky);
        if self.last_ids.len() < 64 {
            self.last_ids.push(line.clone());
        } else {
            let i = self.rng.below(64) as usize;
            self.last_ids[i] = line.clone();
        }
        Some(line)
    }
}
