//! Bearer tokens checked against the store once, then remembered, so that a request does not
//! read the store twice (the token, its user) before its real work: on the embedded store those
//! reads wait behind event writes for the one connection.
//!
//! What is remembered is forgotten whenever the store's version moves (any change of users,
//! tokens or the inventory, made by this server or by a command beside it): a watcher reads
//! the version every [`CHECK_EVERY`], so a revoked token or a changed role is in force within
//! that time. A token found while the version moved is not remembered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use touchbase_core::Actor;
use touchbase_store::{OpError, Store, access};

/// How often the watcher reads the store's version.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// The tokens checked since the store's version last moved, with their actors.
#[derive(Debug, Default)]
pub struct Tokens {
    known: Mutex<HashMap<String, Actor>>,
    /// Moves each time `known` is emptied.
    generation: AtomicU64,
}

impl Tokens {
    /// The remembered tokens, and a watcher on the current tokio runtime that forgets them
    /// when the store's version moves; it stops with the runtime.
    pub fn start(store: Arc<dyn Store>) -> Arc<Tokens> {
        let tokens = Arc::new(Tokens::default());
        let watched = Arc::clone(&tokens);
        tokio::spawn(async move {
            let mut seen = None;
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
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

    /// The actor `secret` stands for: remembered, or checked against the store.
    pub async fn actor(&self, store: &dyn Store, secret: &str) -> Result<Actor, OpError> {
        let generation = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(actor) = known.get(secret) {
                return Ok(actor.clone());
            }
            self.generation.load(Ordering::Acquire)
        };
        let actor = access::authenticate(store, secret).await?;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            known.insert(secret.to_owned(), actor.clone());
        }
        Ok(actor)
    }
}
