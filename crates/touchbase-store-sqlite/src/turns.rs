//! Who takes the connection next: calls made for someone waiting (ingest, a request) go
//! before the journeys' catch-up, whose steps can wait.
//!
//! The store has one connection behind a lock. A catch-up runs many short steps one after
//! another; a request that needs the connection two or three times (its token, the
//! inventory's version, the write) would otherwise wait for a step before each. So a step
//! starts only when no other call waits for the connection and none finished in the last
//! [`QUIET`] (the next call of the same request is likely on its way), or once it has
//! deferred for [`MOST_DEFERRED`], so that a steady stream of requests slows the catch-up
//! down but never stops it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long after the last call a step waits for the next one.
pub const QUIET: Duration = Duration::from_millis(3);

/// The longest a step defers to other calls.
pub const MOST_DEFERRED: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct Turns {
    opened: Instant,
    /// Calls waiting for the connection.
    waiting: AtomicUsize,
    /// When the last call gave the connection back, in µs since `opened`.
    last_done: AtomicU64,
}

impl Default for Turns {
    fn default() -> Self {
        Turns {
            opened: Instant::now(),
            waiting: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
        }
    }
}

impl Turns {
    fn now(&self) -> u64 {
        self.opened.elapsed().as_micros() as u64
    }

    /// A call is about to wait for the connection.
    pub fn waits(&self) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
    }

    /// … and has it now.
    pub fn holds(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    /// … and gave it back.
    pub fn done(&self) {
        self.last_done.store(self.now(), Ordering::Release);
    }

    /// Whether a step may go now.
    fn free(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0
            && self
                .now()
                .saturating_sub(self.last_done.load(Ordering::Acquire))
                >= QUIET.as_micros() as u64
    }

    /// Waits until a step may take the connection: nobody else wants it, or
    /// [`MOST_DEFERRED`] has passed.
    pub async fn step_turn(&self) {
        let started = Instant::now();
        while !self.free() && started.elapsed() < MOST_DEFERRED {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_waits_for_a_waiting_call_and_then_for_quiet() {
        let turns = Turns::default();
        tokio::time::sleep(QUIET).await;
        assert!(turns.free(), "nobody asked yet");
        turns.waits();
        assert!(!turns.free(), "a call waits");
        turns.holds();
        turns.done();
        assert!(!turns.free(), "a call just finished");
        tokio::time::sleep(QUIET * 2).await;
        assert!(turns.free(), "quiet since");
    }

    #[tokio::test]
    async fn a_step_defers_at_most_so_long() {
        let turns = Turns::default();
        turns.waits();
        let started = Instant::now();
        turns.step_turn().await;
        let waited = started.elapsed();
        assert!(waited >= MOST_DEFERRED, "deferred {waited:?}");
        assert!(!turns.free(), "the call still waits");
    }
}
