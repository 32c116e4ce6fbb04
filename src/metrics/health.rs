//! Liveness and readiness, shared with the HTTP endpoint.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Liveness and readiness, shared with the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Health {
    ready: AtomicBool,
    reason: Mutex<String>,
}

impl Health {
    pub fn set_ready(&self, ready: bool, reason: &str) {
        self.ready.store(ready, Ordering::Relaxed);
        if let Ok(mut r) = self.reason.lock()
            && *r != reason
        {
            *r = reason.to_owned();
        }
    }

    pub fn ready(&self) -> (bool, String) {
        let reason = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
        (self.ready.load(Ordering::Relaxed), reason)
    }
}
