//! Event-time sliding windows (spec §4).
//!
//! Each window is a ring of panes of width `slide`, holding per-category
//! counts of distinct incidents (the dedup step has already dropped
//! duplicates). The windows are driven by the watermark, the largest event
//! time seen minus the allowed lateness: a window holds the panes from
//! `watermark - length` to the watermark's pane. An event may arrive up to
//! the allowed lateness out of order and still land in its pane; one older
//! than the window's start is *late for that window only* and counted as
//! such. Events ahead of the watermark wait in their panes until it passes
//! them, so a window's count is final once shown.
//!
//! When the stream is idle (no event for `idle_after`), the clock moves to
//! the wall clock (when it is ahead of the watermark), so a quiet window
//! never shows incidents older than its length in real time: after a
//! backfill of 2022, every window reads zero in 2026.
//!
//! State machine of a pane slot: *empty* (tag < window start) → *open*
//! (tag within the window, receiving events) → *expired* when the clock moves
//! a full window past it; an expired slot is reused (reset) by the next pane
//! that maps to it.

use std::sync::Arc;

use crate::classify::CategoryId;
use crate::config::WindowsConfig;
use crate::event::EpochMillis;

/// A window's shape, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowShape {
    pub name: String,
    pub slide_ms: i64,
    /// Panes per window (`length / slide`).
    pub panes: usize,
}

impl WindowShape {
    /// Shapes from a validated configuration.
    pub fn from_config(cfg: &WindowsConfig) -> Arc<[WindowShape]> {
        cfg.windows
            .iter()
            .map(|w| WindowShape {
                name: w.name.clone(),
                slide_ms: (w.slide_secs * 1000) as i64,
                panes: (w.length_secs / w.slide_secs) as usize,
            })
            .collect()
    }
}

/// One window's panes.
#[derive(Debug, Clone)]
pub struct PaneRing {
    /// Pane index (`time / slide`) held by each slot; `i64::MIN` when empty.
    tags: Vec<i64>,
    /// `[slot][category]` counts.
    counts: Vec<u32>,
    categories: usize,
    /// Slots are a power of two (at least the window's panes): a pane's slot
    /// is `pane & mask`, no division on the hot path.
    mask: i64,
    /// Start of the window at the last clock seen (ms), and where the next
    /// pane begins: recomputed only when the clock crosses into a new pane.
    window_start_ms: i64,
    next_pane_ms: i64,
}

/// Equal when they hold the same panes (the clock caches are derived).
impl PartialEq for PaneRing {
    fn eq(&self, other: &Self) -> bool {
        self.tags == other.tags
            && self.counts == other.counts
            && self.categories == other.categories
    }
}

impl PaneRing {
    /// A ring with room for at least `panes` live panes.
    fn new(panes: usize, categories: usize) -> PaneRing {
        let slots = panes.next_power_of_two();
        PaneRing {
            tags: vec![i64::MIN; slots],
            counts: vec![0; slots * categories],
            categories,
            // At most 2^15 slots (20,000 panes are validated): fits.
            mask: (slots - 1) as i64,
            window_start_ms: i64::MIN,
            next_pane_ms: i64::MIN,
        }
    }

    fn slot(&self, pane: i64) -> usize {
        // In 0..=mask by the mask.
        (pane & self.mask) as usize
    }

    /// Non-empty panes as (pane index, per-category counts), for checkpoints.
    pub fn panes(&self) -> impl Iterator<Item = (i64, &[u32])> {
        self.tags
            .iter()
            .enumerate()
            .filter(|(_, t)| **t != i64::MIN)
            .map(|(slot, t)| {
                (
                    *t,
                    &self.counts[slot * self.categories..(slot + 1) * self.categories],
                )
            })
    }
}

/// The windows of one partition.
#[derive(Debug, Clone)]
pub struct Windows {
    shapes: Arc<[WindowShape]>,
    rings: Vec<PaneRing>,
    categories: usize,
    /// Largest event time seen, if any.
    max_event_ms: Option<EpochMillis>,
    /// Wall time of the last accepted event.
    last_event_wall_ms: EpochMillis,
    lateness_ms: i64,
    idle_after_ms: i64,
}

impl Windows {
    pub fn new(
        shapes: Arc<[WindowShape]>,
        categories: usize,
        lateness_ms: i64,
        idle_after_ms: i64,
    ) -> Windows {
        // Room for the window and for the panes ahead of the watermark.
        let rings = shapes
            .iter()
            .map(|s| {
                let ahead = (lateness_ms.max(0) + s.slide_ms - 1) / s.slide_ms;
                PaneRing::new(s.panes + ahead as usize + 1, categories)
            })
            .collect();
        Windows {
            shapes,
            rings,
            categories,
            max_event_ms: None,
            last_event_wall_ms: 0,
            lateness_ms,
            idle_after_ms,
        }
    }

    pub fn shapes(&self) -> &[WindowShape] {
        &self.shapes
    }

    pub fn rings(&self) -> &[PaneRing] {
        &self.rings
    }

    pub fn max_event_ms(&self) -> Option<EpochMillis> {
        self.max_event_ms
    }

    /// The watermark: largest event time minus the allowed lateness.
    pub fn watermark_ms(&self) -> Option<EpochMillis> {
        self.max_event_ms.map(|m| m - self.lateness_ms)
    }

    /// Records one distinct incident. Returns a bit set of the windows for
    /// which it was late (bit `i` for window `i`).
    #[inline]
    pub fn record(&mut self, t: EpochMillis, category: CategoryId, wall_ms: EpochMillis) -> u32 {
        self.last_event_wall_ms = wall_ms;
        let max = match self.max_event_ms {
            Some(m) if m >= t => m,
            _ => {
                self.max_event_ms = Some(t);
                t
            }
        };
        let watermark = max - self.lateness_ms;
        let mut late = 0u32;
        for (i, (shape, ring)) in self.shapes.iter().zip(self.rings.iter_mut()).enumerate() {
            if watermark >= ring.next_pane_ms {
                let clock_pane = watermark.div_euclid(shape.slide_ms);
                ring.window_start_ms = (clock_pane - shape.panes as i64 + 1) * shape.slide_ms;
                ring.next_pane_ms = (clock_pane + 1) * shape.slide_ms;
            }
            if t < ring.window_start_ms {
                late |= 1 << i;
                continue;
            }
            let pane = t.div_euclid(shape.slide_ms);
            let slot = ring.slot(pane);
            let row = slot * ring.categories;
            if ring.tags[slot] != pane {
                // The slot holds an expired pane (older than the window).
                ring.tags[slot] = pane;
                ring.counts[row..row + ring.categories].fill(0);
            }
            ring.counts[row + usize::from(category)] += 1;
        }
        late
    }

    /// The window clock at wall time `wall_ms`: the watermark, or the wall
    /// clock once the stream has been idle for `idle_after` (whichever is
    /// later).
    pub fn clock_ms(&self, wall_ms: EpochMillis) -> Option<EpochMillis> {
        let watermark = self.watermark_ms()?;
        let idle = wall_ms.saturating_sub(self.last_event_wall_ms);
        Some(if idle >= self.idle_after_ms {
            watermark.max(wall_ms)
        } else {
            watermark
        })
    }

    /// Distinct incidents per category in window `w` at wall time `wall_ms`,
    /// added into `out` (so partitions can be summed).
    pub fn counts_into(&self, w: usize, wall_ms: EpochMillis, out: &mut [u64]) {
        let Some(clock) = self.clock_ms(wall_ms) else {
            return;
        };
        let shape = &self.shapes[w];
        let ring = &self.rings[w];
        let last = clock.div_euclid(shape.slide_ms);
        let first = last - shape.panes as i64 + 1;
        for (slot, &tag) in ring.tags.iter().enumerate() {
            if tag >= first && tag <= last {
                let row = &ring.counts[slot * self.categories..(slot + 1) * self.categories];
                for (o, &n) in out.iter_mut().zip(row) {
                    *o += u64::from(n);
                }
            }
        }
    }

    /// Restores a checkpointed window state; panes of a window whose shape
    /// changed are dropped (they refill from new events).
    pub fn restore_ring(&mut self, w: usize, panes: &[(i64, Vec<u32>)]) {
        let ring = &mut self.rings[w];
        for (pane, counts) in panes {
            if counts.len() != self.categories {
                continue;
            }
            let slot = ring.slot(*pane);
            ring.tags[slot] = *pane;
            ring.counts[slot * self.categories..(slot + 1) * self.categories]
                .copy_from_slice(counts);
        }
    }

    /// Restores the clock after a restart; the idle timer starts at `wall_ms`.
    pub fn restore_clock(&mut self, max_event_ms: Option<EpochMillis>, wall_ms: EpochMillis) {
        self.max_event_ms = max_event_ms;
        self.last_event_wall_ms = wall_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;

    fn shapes() -> Arc<[WindowShape]> {
        vec![
            WindowShape {
                name: "5m".into(),
                slide_ms: 10_000,
                panes: 30,
            },
            WindowShape {
                name: "1h".into(),
                slide_ms: MIN,
                panes: 60,
            },
        ]
        .into()
    }

    fn counts(w: &Windows, i: usize, wall: i64) -> u64 {
        let mut out = vec![0; 2];
        w.counts_into(i, wall, &mut out);
        out.iter().sum()
    }

    #[test]
    fn counts_follow_event_time_and_late_is_per_window() {
        let mut w = Windows::new(shapes(), 2, 0, 30_000);
        let wall = 1_000_000;
        assert_eq!(w.record(100 * MIN, 0, wall), 0);
        assert_eq!(w.record(100 * MIN + 5, 1, wall), 0);
        assert_eq!(w.record(98 * MIN, 0, wall), 0);
        // 10 minutes old: outside 5m, inside 1h.
        assert_eq!(w.record(90 * MIN, 0, wall), 0b01);
        assert_eq!(counts(&w, 0, wall), 3);
        assert_eq!(counts(&w, 1, wall), 4);
        // 2 hours old: late for both.
        assert_eq!(w.record(-20 * MIN, 1, wall), 0b11);
    }

    #[test]
    fn idle_stream_decays_with_the_wall_clock() {
        let mut w = Windows::new(shapes(), 2, 0, 30_000);
        // A live stream: the event arrives when it happens.
        let t = 100 * MIN;
        w.record(t, 0, t);
        assert_eq!(counts(&w, 0, t + 29_000), 1);
        // Idle past idle_after: the clock is the wall clock.
        assert_eq!(counts(&w, 0, t + 4 * MIN), 1);
        assert_eq!(counts(&w, 0, t + 6 * MIN), 0);
        assert_eq!(counts(&w, 1, t + 59 * MIN), 1);
        assert_eq!(counts(&w, 1, t + 61 * MIN), 0);
    }

    #[test]
    fn a_quiet_backfill_leaves_every_window_at_zero() {
        let mut w = Windows::new(shapes(), 2, 0, 30_000);
        // Incidents of 2022 replayed in 2026 (times in ms since 1970).
        let (june_2022, now_2026) = (1_655_000_000_000, 1_796_000_000_000);
        for i in 0..100 {
            w.record(june_2022 + i * 1000, 0, now_2026);
        }
        // While the backfill streams, the windows show its event time.
        assert_eq!(counts(&w, 1, now_2026 + 1_000), 100);
        // Once it is quiet, the clock is the wall clock: nothing is within
        // an hour of it.
        assert_eq!(counts(&w, 0, now_2026 + 31_000), 0);
        assert_eq!(counts(&w, 1, now_2026 + 31_000), 0);
        // A clock ahead of the wall (events dated a little in the future)
        // is not moved back.
        let mut ahead = Windows::new(shapes(), 2, 0, 30_000);
        ahead.record(now_2026 + 10 * MIN, 0, now_2026);
        assert_eq!(ahead.clock_ms(now_2026 + MIN), Some(now_2026 + 10 * MIN));
    }

    #[test]
    fn the_watermark_trails_by_the_allowed_lateness() {
        let mut w = Windows::new(shapes(), 2, MIN, 30_000);
        assert_eq!(w.record(100 * MIN, 0, 0), 0);
        assert_eq!(w.watermark_ms(), Some(99 * MIN));
        // Ahead of the watermark: waiting in its pane, not counted yet.
        assert_eq!(w.record(100 * MIN - 30_000, 1, 0), 0);
        assert_eq!(counts(&w, 0, 0), 0);
        // The watermark passes them: both counted.
        w.record(101 * MIN, 0, 0);
        assert_eq!(counts(&w, 0, 0), 2);
        // 5.5 minutes behind the newest event is within 5m + lateness.
        assert_eq!(w.record(95 * MIN + 30_000, 0, 0), 0);
        // Without lateness the same event is late for the 5m window.
        let mut strict = Windows::new(shapes(), 2, 0, 30_000);
        strict.record(101 * MIN, 0, 0);
        assert_eq!(strict.record(95 * MIN + 30_000, 0, 0), 0b01);
        // Beyond window + lateness: late.
        assert_eq!(w.record(94 * MIN, 0, 0), 0b01);
    }

    proptest! {
        /// The sum of panes equals a direct count of the events whose pane
        /// is in the window ending at the watermark's pane, for any
        /// lateness, and nothing ahead of the watermark is lost.
        #[test]
        fn panes_sum_to_a_direct_count(
            times in proptest::collection::vec(0i64..3 * 3_600_000, 1..300),
            lateness in prop_oneof![Just(0i64), Just(MIN), 0i64..600_000],
        ) {
            let mut w = Windows::new(shapes(), 2, lateness, i64::MAX / 4);
            let mut kept = Vec::new();
            for (i, t) in times.iter().enumerate() {
                let late = w.record(*t, (i % 2) as u8, 0);
                kept.push((*t, late));
                let watermark = kept.iter().map(|(t, _)| *t).max().unwrap() - lateness;
                // Late exactly when older than the window at this watermark.
                for (wi, shape) in shapes().iter().enumerate() {
                    let start = (watermark.div_euclid(shape.slide_ms) - shape.panes as i64 + 1) * shape.slide_ms;
                    prop_assert_eq!(late & (1 << wi) != 0, *t < start, "window {}", wi);
                }
                for (wi, shape) in shapes().iter().enumerate() {
                    let last = watermark.div_euclid(shape.slide_ms);
                    let first = last - shape.panes as i64 + 1;
                    let direct = kept
                        .iter()
                        .filter(|(t, late)| late & (1 << wi) == 0 && (first..=last).contains(&t.div_euclid(shape.slide_ms)))
                        .count() as u64;
                    prop_assert_eq!(counts(&w, wi, 0), direct);
                }
            }
        }
    }
}
