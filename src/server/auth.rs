//! Basic authentication against the web configuration's bcrypt hashes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, header};
use tokio::sync::Semaphore;

use super::WebConfig;

/// bcrypt checks at once: each costs tens of milliseconds of CPU (cost
/// 10: 75 ms a scrape measured, docs/benchmarks.md), and a flood of wrong
/// passwords must not take the cores the consumer needs.
const BCRYPT_AT_ONCE: usize = 2;

/// Credentials remembered as checked; the set is emptied when full.
const REMEMBERED: usize = 256;

/// Checks credentials, a few bcrypt checks at a time, remembering the
/// ones that passed (as the exporter toolkit does) so that a scraper
/// pays bcrypt once, not every 15 seconds. What is remembered is a
/// SHA-256 of a per-process random salt, the user, the hash in force and
/// the password, never the password: a changed hash (a new web
/// configuration) misses.
#[derive(Debug)]
pub(super) struct Verifier {
    /// A check's turn is owned by its bcrypt run, not by the request: a
    /// client that hangs up (or a request that times out) leaves its run
    /// to finish with the turn, so no more than [`BCRYPT_AT_ONCE`] ever run.
    turns: Arc<Semaphore>,
    /// `None` when no random salt could be had: nothing is remembered.
    salt: Option<[u8; 32]>,
    passed: Mutex<HashSet<[u8; 32]>>,
}

impl Verifier {
    pub(super) fn new() -> Verifier {
        use ring::rand::SecureRandom;
        let mut salt = [0u8; 32];
        let salt = ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .ok()
            .map(|()| salt);
        Verifier {
            turns: Arc::new(Semaphore::new(BCRYPT_AT_ONCE)),
            salt,
            passed: Mutex::new(HashSet::new()),
        }
    }

    fn key(&self, user: &str, hash: &str, password: &str) -> Option<[u8; 32]> {
        let salt = self.salt?;
        let mut d = ring::digest::Context::new(&ring::digest::SHA256);
        d.update(&salt);
        for part in [user, hash, password] {
            d.update(&(part.len() as u64).to_le_bytes());
            d.update(part.as_bytes());
        }
        d.finish().as_ref().try_into().ok()
    }

    /// Whether `password` is `user`'s. An unknown user costs as much as
    /// the costliest known one (a check against the hash of the highest
    /// bcrypt cost configured, which cannot succeed), so timing does not
    /// tell which users exist.
    /// While it waits for a turn, the request's connection (`place`)
    /// counts as idle: a newcomer may take its place, which cuts nothing
    /// begun.
    pub(super) async fn check(
        &self,
        web: &WebConfig,
        user: &str,
        password: String,
        place: Option<&super::places::Place>,
    ) -> bool {
        let (hash, known) = match web.users.get(user) {
            Some(h) => (h.clone(), true),
            None => match decoy(web) {
                Some(h) => (h.clone(), false),
                None => return false,
            },
        };
        let key = self.key(user, &hash, &password);
        if known
            && let Some(k) = key
            && self.passed.lock().map(|p| p.contains(&k)).unwrap_or(false)
        {
            return true;
        }
        if let Some(p) = place {
            p.idle();
        }
        let turn = self.turns.clone().acquire_owned().await;
        if let Some(p) = place {
            p.busy();
        }
        let Ok(turn) = turn else {
            return false;
        };
        let ok = tokio::task::spawn_blocking(move || {
            let ok = bcrypt::verify(password, &hash).unwrap_or(false);
            drop(turn);
            ok
        })
        .await
        .unwrap_or(false);
        if ok
            && known
            && let Some(k) = key
            && let Ok(mut p) = self.passed.lock()
        {
            if p.len() >= REMEMBERED {
                p.clear();
            }
            p.insert(k);
        }
        ok && known
    }
}

/// The hash an unknown user is checked against: the costliest configured.
fn decoy(web: &WebConfig) -> Option<&String> {
    web.users.values().max_by_key(|h| cost_of(h))
}

/// The cost of a bcrypt hash (`$2b$12$...`: 12); 0 when unreadable.
fn cost_of(hash: &str) -> u32 {
    hash.split('$')
        .nth(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The user and password of an `Authorization: Basic` header (decoded by
/// the `headers` crate).
pub(super) fn credentials(h: &HeaderMap) -> Option<(String, String)> {
    use headers::Header;
    use headers::authorization::{Authorization, Basic};
    let basic =
        Authorization::<Basic>::decode(&mut h.get_all(header::AUTHORIZATION).iter()).ok()?;
    Some((basic.username().to_owned(), basic.password().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn header(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_read_as_the_rfc_says() {
        // "alice:pw:x": the password is everything after the first colon.
        assert_eq!(
            credentials(&header("Basic YWxpY2U6cHc6eA==")),
            Some(("alice".into(), "pw:x".into()))
        );
        assert_eq!(
            credentials(&header("basic YWxpY2U6cHc=")),
            Some(("alice".into(), "pw".into()))
        );
        for bad in [
            "Bearer YWxpY2U6cHc=",
            "Basic !!!",
            "Basic YWxpY2U=",
            "Basic",
        ] {
            assert_eq!(credentials(&header(bad)), None, "{bad}");
        }
        assert_eq!(credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn an_unknown_user_is_checked_against_the_costliest_hash() {
        assert_eq!(cost_of("$2b$12$abcdefghijklmnopqrstuu"), 12);
        assert_eq!(cost_of("$2y$04$x"), 4);
        assert_eq!(cost_of("nonsense"), 0);
        let mut web = WebConfig::default();
        web.users
            .insert("cheap".into(), bcrypt::hash("a", 4).unwrap());
        web.users
            .insert("dear".into(), bcrypt::hash("b", 6).unwrap());
        web.users
            .insert("mid".into(), bcrypt::hash("c", 5).unwrap());
        // Whatever order the users are held in (the first would be 4).
        assert_eq!(decoy(&web).map(|h| cost_of(h)), Some(6));
    }

    #[tokio::test]
    async fn only_the_right_password_passes_and_a_new_hash_is_checked_again() {
        let v = Verifier::new();
        let mut web = WebConfig::default();
        web.users
            .insert("alice".into(), bcrypt::hash("pw", 4).unwrap());
        web.users
            .insert("bob".into(), bcrypt::hash("pw2", 4).unwrap());
        assert!(v.check(&web, "alice", "pw".into(), None).await);
        // Remembered, and still only for the right password and user.
        assert!(v.check(&web, "alice", "pw".into(), None).await);
        assert!(!v.check(&web, "alice", "pw2".into(), None).await);
        assert!(!v.check(&web, "carol", "pw".into(), None).await);
        assert!(!v.check(&web, "bob", "pw".into(), None).await);
        // The hash changed (a new web config): the old password fails.
        web.users
            .insert("alice".into(), bcrypt::hash("new", 4).unwrap());
        assert!(!v.check(&web, "alice", "pw".into(), None).await);
        assert!(v.check(&web, "alice", "new".into(), None).await);
        assert!(
            !v.check(&WebConfig::default(), "alice", "new".into(), None)
                .await
        );
    }
}
