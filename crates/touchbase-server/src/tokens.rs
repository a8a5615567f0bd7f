//! Bearer tokens checked against the store once, then remembered, so that a request does not
//! read the store twice (the token, its user) before its real work: on the embedded store those
//! reads wait behind event writes for the one connection.
//!
//! What is remembered is forgotten whenever the store's version moves (any change of users,
//! tokens or the inventory, made by this server or by a command beside it): a watcher reads
//! the version every [`CHECK_EVERY`], so a revoked token or a changed role is in force within
//! that time. A token found while the version moved is not remembered.
//!
//! Each use of a token is noted in memory, and the notes are recorded in the store at most
//! every [`RECORD_USE_EVERY`] ([`Tokens::record_use`]): admins see when a token was last used
//! without a write per request.
//!
//! Failed authentications are counted per client address ([`Throttle`]): after
//! [`FREE_FAILURES`], each further failure makes that address wait, twice as long each time up
//! to [`MAX_WAIT`], and while it waits every call from it is answered 429 with `Retry-After`
//! without looking at its token, so guessing tokens gets nowhere.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use touchbase_core::Actor;
use touchbase_core::access::token_hash;
use touchbase_store::{OpError, Store, access};

/// How often the watcher reads the store's version.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// How often the uses noted are recorded in the store (at most).
pub const RECORD_USE_EVERY: Duration = Duration::from_secs(60);

/// A token remembered: the actor it stands for and the hash it is stored under.
#[derive(Debug, Clone)]
struct Known {
    actor: Actor,
    hash: String,
}

/// The tokens checked since the store's version last moved, with their actors.
#[derive(Debug, Default)]
pub struct Tokens {
    known: Mutex<HashMap<String, Known>>,
    /// Moves each time `known` is emptied.
    generation: AtomicU64,
    /// Token hash → the instant of its last use (RFC 3339), not yet recorded.
    used: Mutex<HashMap<String, String>>,
}

impl Tokens {
    /// The remembered tokens, and a watcher on the current tokio runtime that forgets them
    /// when the store's version moves and records the uses noted every [`RECORD_USE_EVERY`];
    /// it stops with the runtime.
    pub fn start(store: Arc<dyn Store>) -> Arc<Tokens> {
        let tokens = Arc::new(Tokens::default());
        let watched = Arc::clone(&tokens);
        tokio::spawn(async move {
            let mut seen = None;
            let mut recorded = Instant::now();
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                if recorded.elapsed() >= RECORD_USE_EVERY {
                    recorded = Instant::now();
                    if let Err(e) = watched.record_use(&*store).await {
                        tracing::warn!(error = %e, "the last use of tokens was not recorded; trying again later");
                    }
                }
                let now = store.version().await.ok();
                if now.is_none() || now != seen {
                    watched.forget();
                    seen = now;
                }
            }
        });
        tokens
    }

    fn forget(&self) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        known.clear();
    }

    /// The actor `secret` stands for: remembered, or checked against the store. Notes the use.
    pub async fn actor(&self, store: &dyn Store, secret: &str) -> Result<Actor, OpError> {
        let generation = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = known.get(secret) {
                self.note_use(&known.hash);
                return Ok(known.actor.clone());
            }
            self.generation.load(Ordering::Acquire)
        };
        let actor = access::authenticate(store, secret).await?;
        let hash = token_hash(secret);
        self.note_use(&hash);
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            known.insert(
                secret.to_owned(),
                Known {
                    actor: actor.clone(),
                    hash,
                },
            );
        }
        Ok(actor)
    }

    fn note_use(&self, hash: &str) {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now());
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.insert(hash.to_owned(), now.to_string());
    }

    /// Records the uses noted since the last time in the store, in one write; the watcher calls
    /// it every [`RECORD_USE_EVERY`]. Returns how many tokens it recorded. Notes that could not
    /// be recorded are kept for the next time.
    pub async fn record_use(&self, store: &dyn Store) -> Result<usize, OpError> {
        let noted: Vec<(String, String)> = {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            used.drain().collect()
        };
        match access::record_use(store, &noted).await {
            Ok(()) => Ok(noted.len()),
            Err(e) => {
                let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
                for (hash, at) in noted {
                    used.entry(hash).or_insert(at);
                }
                Err(e)
            }
        }
    }
}

/// Failed authentications a client address may have before it must wait.
pub const FREE_FAILURES: u32 = 5;

/// The longest a client address waits after a failure.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// A client address's failures are forgotten after this long without one.
pub const FORGET_AFTER: Duration = Duration::from_secs(900);

/// Client addresses remembered at most (an attacker with many addresses cannot fill memory).
const MAX_CLIENTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Client {
    failures: u32,
    last: Instant,
    until: Instant,
}

/// Failed authentications per client address, and how long each must wait. Every method takes
/// the instant it acts at, so tests need no clock.
#[derive(Debug, Default)]
pub struct Throttle {
    clients: Mutex<HashMap<IpAddr, Client>>,
}

impl Throttle {
    /// `Err(wait)` while `ip` must wait before authenticating again.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        match clients.get(&ip) {
            Some(c) if c.until > now => Err(c.until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication from `ip`; returns how long it must wait now (zero
    /// within its first [`FREE_FAILURES`]).
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Duration {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&ip) {
            clients.retain(|_, c| now.saturating_duration_since(c.last) < FORGET_AFTER);
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        let client = clients.entry(ip).or_insert(Client {
            failures: 0,
            last: now,
            until: now,
        });
        if now.saturating_duration_since(client.last) >= FORGET_AFTER {
            client.failures = 0;
        }
        client.failures = client.failures.saturating_add(1);
        client.last = now;
        let wait = match client.failures.checked_sub(FREE_FAILURES) {
            None | Some(0) => Duration::ZERO,
            Some(over) => Duration::from_secs(1u64 << (over - 1).min(16)).min(MAX_WAIT),
        };
        client.until = now + wait;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_free_ones_make_the_address_wait_longer_each_time() {
        let throttle = Throttle::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.failed(ip, t0), Duration::ZERO);
            assert_eq!(throttle.check(ip, t0), Ok(()));
        }
        assert_eq!(throttle.failed(ip, t0), Duration::from_secs(1));
        assert_eq!(throttle.check(ip, t0), Err(Duration::from_secs(1)));
        assert_eq!(
            throttle.check(other, t0),
            Ok(()),
            "another address is not held up"
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(throttle.check(ip, t1), Ok(()));
        assert_eq!(throttle.failed(ip, t1), Duration::from_secs(2));
        assert_eq!(throttle.failed(ip, t1), Duration::from_secs(4));
        for _ in 0..20 {
            throttle.failed(ip, t1);
        }
        assert_eq!(throttle.check(ip, t1), Err(MAX_WAIT));
        // Forgotten after a quiet spell.
        let later = t1 + MAX_WAIT + FORGET_AFTER;
        assert_eq!(throttle.check(ip, later), Ok(()));
        assert_eq!(throttle.failed(ip, later), Duration::ZERO);
    }
}
