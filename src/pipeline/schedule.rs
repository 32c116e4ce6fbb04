//! When a loop publishes metrics, checkpoints and shows progress: three
//! intervals behind one `next()`, so a loop's `select!` has one arm for
//! all of them. Missed ticks are delayed, not bunched; a checkpoint tick
//! waits while the previous checkpoint is still being written.

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior, interval};

/// What is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    Progress,
    Publish,
    Checkpoint,
}

pub(crate) struct Schedule {
    progress: Option<Interval>,
    publish: Option<Interval>,
    checkpoint: Interval,
}

fn every(period: Duration) -> Interval {
    let mut i = interval(period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

impl Schedule {
    /// Metrics are published at once and every `publish` (never without
    /// an endpoint: `None`); the first checkpoint and progress are one
    /// period from now. Must be called inside the runtime.
    pub(crate) fn new(
        publish: Option<Duration>,
        checkpoint: Duration,
        progress: Option<Duration>,
    ) -> Schedule {
        let start = tokio::time::Instant::now();
        let later = |period: Duration| {
            let mut i = tokio::time::interval_at(start + period, period);
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        };
        Schedule {
            progress: progress.map(later),
            publish: publish.map(every),
            checkpoint: later(checkpoint),
        }
    }

    /// The next tick due. Checkpoint ticks only when `checkpoint_ready`
    /// (no write in flight). Cancel-safe.
    pub(crate) async fn next(&mut self, checkpoint_ready: bool) -> Tick {
        tokio::select! {
            biased;
            _ = tick(&mut self.progress) => Tick::Progress,
            _ = tick(&mut self.publish) => Tick::Publish,
            _ = self.checkpoint.tick(), if checkpoint_ready => Tick::Checkpoint,
        }
    }
}

/// An optional interval's next tick; never without one.
async fn tick(i: &mut Option<Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Runs a schedule for `secs` and a half of paused time (never at the
    /// instant of a tick, so the end never races one) and records each tick
    /// with its second. The n-th checkpoint write takes `writes[n]`
    /// seconds (0 past the list): no checkpoint is due while one is.
    async fn ticks(mut s: Schedule, secs: u64, writes: &[u64]) -> Vec<(u64, Tick)> {
        let t0 = Instant::now();
        let end = t0 + Duration::from_millis(secs * 1000 + 500);
        let mut busy_until = t0;
        let mut out = Vec::new();
        loop {
            let ready = Instant::now() >= busy_until;
            let t = tokio::select! {
                t = s.next(ready) => t,
                () = tokio::time::sleep_until(busy_until), if !ready => continue,
                () = tokio::time::sleep_until(end) => break,
            };
            let at = Instant::now().duration_since(t0).as_secs();
            if t == Tick::Checkpoint {
                let n = out.iter().filter(|(_, t)| *t == Tick::Checkpoint).count();
                busy_until =
                    Instant::now() + Duration::from_secs(writes.get(n).copied().unwrap_or(0));
            }
            out.push((at, t));
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn publishes_at_once_then_every_period_and_checkpoints_every_interval() {
        let s = Schedule::new(
            Some(Duration::from_secs(1)),
            Duration::from_secs(5),
            Some(Duration::from_secs(10)),
        );
        let got = ticks(s, 20, &[]).await;
        let of = |k: Tick| {
            got.iter()
                .filter(|(_, t)| *t == k)
                .map(|(s, _)| *s)
                .collect::<Vec<_>>()
        };
        assert_eq!(of(Tick::Publish), (0..=20).collect::<Vec<_>>());
        assert_eq!(of(Tick::Checkpoint), vec![5, 10, 15, 20]);
        assert_eq!(of(Tick::Progress), vec![10, 20]);
        // Progress first, then publish, then checkpoint, when due together.
        let at_10: Vec<Tick> = got
            .iter()
            .filter(|(s, _)| *s == 10)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(at_10, vec![Tick::Progress, Tick::Publish, Tick::Checkpoint]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_checkpoint_waits_for_the_write_in_flight_and_is_not_bunched() {
        let s = Schedule::new(None, Duration::from_secs(5), None);
        // The write started at 5 s takes 8 s.
        let got = ticks(s, 30, &[8]).await;
        let at: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert!(got.iter().all(|(_, t)| *t == Tick::Checkpoint), "{got:?}");
        // The tick due at 10 s waits until 13 s; the schedule then keeps
        // its period from there (no burst of missed ticks).
        assert_eq!(at, vec![5, 13, 18, 23, 28]);
    }
}
