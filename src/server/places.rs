//! The connections served at once, and who gives way when they are all
//! taken.
//!
//! A connection holds a place from the moment it is accepted. A place is
//! *idle* while its connection has no request in flight (before its first
//! request, between keep-alive requests); a slowloris client's connection,
//! which never completes a request, is idle all its life. When every place
//! is taken, a new connection takes the place idle the longest (that
//! connection is closed): idle clients, however many, cannot keep a
//! scrape out, and a request in flight is never cut. A request that waits
//! for its turn at a bcrypt check has not started: its connection counts
//! as idle meanwhile. Only when every place has a request in flight does a
//! new connection wait, up to the header timeout, and it is woken when one
//! closes or goes idle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
struct Slot {
    /// Since when the connection has had no request in flight.
    idle_since: Option<Instant>,
    /// Cancelled to close the connection (it gave way).
    evict: CancellationToken,
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<u64, Slot>,
    next: u64,
}

/// The places of one endpoint.
#[derive(Debug)]
pub(super) struct Places {
    max: usize,
    inner: Mutex<Inner>,
    freed: Notify,
}

/// A connection's place, given back when dropped.
#[derive(Debug)]
pub(super) struct Place {
    places: Arc<Places>,
    id: u64,
    /// Cancelled when the connection must give its place up.
    pub evicted: CancellationToken,
}

impl Places {
    pub(super) fn new(max: usize) -> Arc<Places> {
        Arc::new(Places {
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
            freed: Notify::new(),
        })
    }

    /// A place: a free one, else the one idle the longest (its connection
    /// is told to close), else the first freed within `wait`; `None` after
    /// that.
    pub(super) async fn take(self: &Arc<Self>, wait: Duration) -> Option<Place> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a place freed in between wakes us.
            freed.as_mut().enable();
            if let Some(p) = self.try_take() {
                return Some(p);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }

    fn try_take(self: &Arc<Self>) -> Option<Place> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.slots.len() >= self.max {
            let oldest = inner
                .slots
                .iter()
                .filter_map(|(id, s)| s.idle_since.map(|t| (t, *id)))
                .min()?;
            if let Some(s) = inner.slots.remove(&oldest.1) {
                s.evict.cancel();
            }
        }
        let id = inner.next;
        inner.next += 1;
        let evicted = CancellationToken::new();
        inner.slots.insert(
            id,
            Slot {
                idle_since: Some(Instant::now()),
                evict: evicted.clone(),
            },
        );
        Some(Place {
            places: self.clone(),
            id,
            evicted,
        })
    }

    fn set_idle(&self, id: u64, idle: bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = inner.slots.get_mut(&id) {
            s.idle_since = idle.then(Instant::now);
        }
        drop(inner);
        // A place that goes idle can be given to a newcomer waiting for one
        // (every place was busy when it came): wake it, as a close does.
        if idle {
            self.freed.notify_one();
        }
    }

    #[cfg(test)]
    fn taken(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .slots
            .len()
    }
}

impl Place {
    /// A request is in flight on this connection (it cannot be evicted
    /// until [`Place::idle`]).
    pub(super) fn busy(&self) {
        self.places.set_idle(self.id, false);
    }

    /// The connection has answered and waits for its next request (or its
    /// request waits for a turn and may be cut).
    pub(super) fn idle(&self) {
        self.places.set_idle(self.id, true);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut inner = self.places.inner.lock().unwrap_or_else(|p| p.into_inner());
        // An evicted place was taken over already.
        inner.slots.remove(&self.id);
        drop(inner);
        self.places.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_longest_idle_gives_way_and_busy_ones_never_do() {
        let places = Places::new(2);
        let wait = Duration::from_millis(50);
        let a = places.take(wait).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let b = places.take(wait).await.unwrap();
        // Both idle: a third takes a's place, a is told to close.
        let c = places.take(wait).await.unwrap();
        assert!(a.evicted.is_cancelled() && !b.evicted.is_cancelled());
        assert_eq!(places.taken(), 2);
        drop(a); // its slot was taken over: nothing else is freed
        assert_eq!(places.taken(), 2);
        // Both busy: a fourth waits, then gets the place c frees.
        b.busy();
        c.busy();
        assert!(places.take(wait).await.is_none(), "every request in flight");
        let waiter = {
            let places = places.clone();
            tokio::spawn(async move { places.take(Duration::from_secs(5)).await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(c);
        assert!(waiter.await.unwrap());
        assert!(!b.evicted.is_cancelled());
        // Idle again: it may give way, to the second newcomer (the first
        // takes the free place).
        b.idle();
        tokio::time::sleep(Duration::from_millis(2)).await;
        let _e = places.take(wait).await.unwrap();
        assert!(!b.evicted.is_cancelled());
        let _f = places.take(wait).await.unwrap();
        assert!(b.evicted.is_cancelled());
    }
}
