//! Spike detection on sliding-window counts.
//!
//! Method: for each (window, category), the window's distinct-incident count
//! is sampled on every metrics tick and compared with an exponentially
//! weighted baseline of earlier samples (mean and variance, half-life
//! `baseline_half_life_secs`). The score is
//!
//! ```text
//! score = (count - mean) / sqrt(max(variance, mean, 1))
//! ```
//!
//! i.e. a z-score whose variance never falls below the Poisson variance of
//! the mean, so a quiet category going from 0 to 2 incidents is not a spike.
//! A spike is `score >= threshold` with at least `min_count` incidents in the
//! window, once the baseline has `warmup_samples` samples and has seen the
//! series for at least one window length since its first incident (so a
//! stream that just started is not a spike in every category). While a sample is
//! above the baseline by more than `threshold` sigmas, it enters the baseline
//! clipped to that bound, so a long spike does not instantly become normal.
//! Pure and synchronous; the baseline is not checkpointed (it re-learns after
//! a restart, during `warmup_samples`). When the partitions behind the
//! counts change, the baselines are rebased on the next sample
//! ([`SpikeDetector::rebase`]): spec §6, a move never fires a spike.

use crate::config::SpikeConfig;

/// The baseline of one series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Baseline {
    mean: f64,
    var: f64,
    samples: u64,
    /// Seconds observed since the first non-zero sample.
    seen_secs: f64,
    /// The next sample becomes the mean (see [`SpikeDetector::rebase`]).
    rebase: bool,
}

/// One series' verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeState {
    pub score: f64,
    pub spiking: bool,
}

/// Detectors for `windows × categories` series.
#[derive(Debug, Clone)]
pub struct SpikeDetector {
    cfg: SpikeConfig,
    categories: usize,
    /// Length of each window, seconds.
    window_secs: Vec<f64>,
    series: Vec<Baseline>,
}

impl SpikeDetector {
    /// `window_secs`: the length of each window.
    pub fn new(cfg: SpikeConfig, window_secs: &[f64], categories: usize) -> SpikeDetector {
        SpikeDetector {
            cfg,
            categories,
            window_secs: window_secs.to_vec(),
            series: vec![Baseline::default(); window_secs.len() * categories],
        }
    }

    /// The partitions behind the counts changed (assigned or revoked): the
    /// next sample of every series is taken as its new level, without a
    /// verdict, and the baseline goes on from there (its variance kept), so
    /// counts jumping with a move never score a spike while a real spike
    /// after it still does.
    pub fn rebase(&mut self) {
        for b in &mut self.series {
            b.rebase = true;
        }
    }

    /// Feeds one sample taken `dt_secs` after the previous one and returns
    /// the verdict for it (computed against the baseline before the update).
    pub fn observe(
        &mut self,
        window: usize,
        category: usize,
        count: u64,
        dt_secs: f64,
    ) -> SpikeState {
        let b = &mut self.series[window * self.categories + category];
        let x = count as f64;
        if b.rebase {
            b.rebase = false;
            b.mean = x;
            return SpikeState {
                score: 0.0,
                spiking: false,
            };
        }
        if count > 0 || b.seen_secs > 0.0 {
            b.seen_secs += dt_secs.max(0.0).max(f64::MIN_POSITIVE);
        }
        let window_secs = self.window_secs.get(window).copied().unwrap_or(0.0);
        let sigma = b.var.max(b.mean).max(1.0).sqrt();
        let score = if b.samples == 0 {
            0.0
        } else {
            (x - b.mean) / sigma
        };
        let spiking = b.samples >= self.cfg.warmup_samples
            && b.seen_secs >= window_secs
            && score >= self.cfg.threshold
            && count >= self.cfg.min_count;
        // Exponential weighting by elapsed time: alpha = 1 - 2^(-dt/half_life).
        let alpha = if b.samples == 0 {
            1.0
        } else {
            1.0 - (-dt_secs.max(0.0) / self.cfg.baseline_half_life_secs as f64).exp2()
        };
        let clipped = x.min(b.mean + self.cfg.threshold * sigma);
        let diff = if b.samples == 0 { x } else { clipped } - b.mean;
        b.mean += alpha * diff;
        b.var = (1.0 - alpha) * (b.var + alpha * diff * diff);
        b.samples += 1;
        SpikeState { score, spiking }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SpikeConfig {
        SpikeConfig {
            threshold: 4.0,
            min_count: 10,
            baseline_half_life_secs: 600,
            warmup_samples: 30,
        }
    }

    #[test]
    fn steady_noise_never_spikes_and_a_burst_does() {
        let mut d = SpikeDetector::new(cfg(), &[60.0], 1);
        let mut worst: f64 = 0.0;
        for i in 0..600u64 {
            let noisy = 40 + (i * 7919 % 13); // 40..52
            let s = d.observe(0, 0, noisy, 1.0);
            assert!(!s.spiking, "{i}: {s:?}");
            worst = worst.max(s.score);
        }
        assert!(worst < 4.0);
        let s = d.observe(0, 0, 200, 1.0);
        assert!(s.spiking && s.score > 10.0, "{s:?}");
    }

    #[test]
    fn a_partition_move_is_not_a_spike_and_a_spike_after_it_is() {
        let mut d = SpikeDetector::new(cfg(), &[60.0], 1);
        for i in 0..600u64 {
            d.observe(0, 0, 40 + (i * 7919 % 13), 1.0);
        }
        // Without a rebase, doubling the partitions held doubles the count:
        // a spike by every measure.
        let mut unaware = d.clone();
        assert!(unaware.observe(0, 0, 92, 1.0).spiking);
        // With it: the doubled level is the new baseline.
        d.rebase();
        assert!(!d.observe(0, 0, 92, 1.0).spiking);
        for i in 0..30u64 {
            let s = d.observe(0, 0, 86 + (i * 7919 % 13), 1.0);
            assert!(!s.spiking, "{i}: {s:?}");
        }
        assert!(
            d.observe(0, 0, 300, 1.0).spiking,
            "a real spike still is one"
        );
    }

    #[test]
    fn too_small_or_too_early_is_not_a_spike() {
        let mut d = SpikeDetector::new(cfg(), &[60.0], 1);
        for _ in 0..100 {
            d.observe(0, 0, 0, 1.0);
        }
        // 0 → 6: a huge z-score but below min_count.
        let s = d.observe(0, 0, 6, 1.0);
        assert!(s.score >= 4.0 && !s.spiking, "{s:?}");
        let mut fresh = SpikeDetector::new(cfg(), &[60.0], 1);
        fresh.observe(0, 0, 1, 1.0);
        assert!(!fresh.observe(0, 0, 500, 1.0).spiking, "not warmed up");
        // Many samples of an idle series, then traffic starts: not a spike
        // until the series has been seen for a window length.
        let mut idle = SpikeDetector::new(cfg(), &[60.0], 1);
        for _ in 0..100 {
            idle.observe(0, 0, 0, 1.0);
        }
        let first_minute = (0..59)
            .filter(|i| idle.observe(0, 0, 20 + i * 5, 1.0).spiking)
            .count();
        assert_eq!(first_minute, 0);
    }

    #[test]
    fn a_long_spike_is_not_absorbed_at_once() {
        let mut d = SpikeDetector::new(cfg(), &[60.0], 1);
        for _ in 0..100 {
            d.observe(0, 0, 20, 1.0);
        }
        let spiking = (0..60)
            .filter(|_| d.observe(0, 0, 300, 1.0).spiking)
            .count();
        assert_eq!(spiking, 60);
    }
}
