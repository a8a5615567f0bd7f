//! Keeps the journeys the store cuts ahead of time current while ingest pauses, so that a
//! journeys request (the dashboard's, the report's) seldom waits for the store to catch up on
//! the events that arrived since the last one.
//!
//! The catch-up runs once after the server starts (a bulk import may have come before) and
//! then whenever events were written and none for [`ServerConfig::journeys_idle`]. Its steps
//! are short transactions (`touchbase_store::journey_days::catch_up`), so events that arrive
//! while it runs are written between them.
//!
//! [`ServerConfig::journeys_idle`]: crate::ServerConfig::journeys_idle

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use touchbase_store::Store;

/// What the committer tells the keeper: how many groups it wrote, and when the last one was.
#[derive(Debug, Default)]
pub struct Activity {
    writes: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl Activity {
    /// A group of events was written.
    pub fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// The groups written so far, and whether none was for `idle`.
    fn now(&self, idle: Duration) -> (u64, bool) {
        let writes = self.writes.load(Ordering::Acquire);
        let last = *self.last.lock().unwrap_or_else(|p| p.into_inner());
        (writes, last.is_none_or(|at| at.elapsed() >= idle))
    }
}

/// Starts the keeper on the current tokio runtime; it stops with the runtime.
pub fn start(store: Arc<dyn Store>, activity: Arc<Activity>, idle: Duration) {
    tokio::spawn(async move {
        // The write count the journeys were last brought up to; none yet.
        let mut kept: Option<u64> = None;
        loop {
            let (writes, quiet) = activity.now(idle);
            if quiet && kept != Some(writes) {
                match catch_up(&*store).await {
                    Ok(()) => tracing::debug!("journeys brought up to date"),
                    // No organization yet, or the store is unreachable: the next request
                    // catches up (and reports the error) itself.
                    Err(e) => tracing::debug!("journeys not brought up to date: {e}"),
                }
                kept = Some(writes);
            }
            tokio::time::sleep((idle / 2).max(Duration::from_millis(50))).await;
        }
    });
}

async fn catch_up(store: &dyn Store) -> Result<(), touchbase_store::OpError> {
    let inventory = touchbase_store::inventory::get(store).await?.value;
    touchbase_store::measure::keep_journeys_current(store, &inventory).await?;
    Ok(())
}
