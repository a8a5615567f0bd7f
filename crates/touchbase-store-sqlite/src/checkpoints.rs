//! The write-ahead log is copied back into the database file by a thread of its own, on a
//! connection of its own, instead of by whichever write happens to grow the log past
//! SQLite's threshold.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses 1,000 pages, on the
//! writing connection, while the store's lock is held: that one write (a single event's,
//! perhaps) then waits for the copy of every page the log holds to the database file and its
//! fsync — random writes, when the pages are spread over a large file. A passive checkpoint
//! on another connection does the same copy without holding up the writer: WAL mode lets
//! one writer go on appending to the log while a checkpoint copies what was committed
//! before. Durability is the log's (synchronous = full syncs it at each commit), not the
//! checkpoint's, so an acknowledged write is safe whenever the copy happens.
//!
//! The log starts over from its beginning only when a write begins after a checkpoint copied
//! all of it; under writes that never pause (a bulk import, a catch-up), passive checkpoints
//! alone would let it grow without end (and every read look through it, and fill the disk).
//! So once a passive checkpoint leaves the log longer than [`MOST_FRAMES`], the thread asks
//! for a truncating one, and the next call of the store runs it on the store's connection
//! before it lets go of it ([`truncate_if_asked`]): the passive checkpoint just copied nearly
//! everything, so that call waits only for the last frames and an fsync. (Taking the
//! connection's lock from this thread instead would starve behind a writer that takes it back
//! at once.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use touchbase_store::StoreError;

/// How often the thread looks for committed pages to copy back.
const EVERY: Duration = Duration::from_millis(50);

/// The log's length, in pages, beyond which it is made to start over: SQLite's own
/// threshold, so the log takes no more room on disk than it did (about 4 MB).
const MOST_FRAMES: i64 = 1000;

/// A checkpoint that takes longer is logged (at debug).
const SLOW: Duration = Duration::from_millis(100);

/// Stops the thread when the last clone of the store is dropped.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Starts the thread on its own connection to `path` (the store's connection must have turned
/// its automatic checkpoints off); it sets `asked` when the log should be truncated, and ends
/// once the store is gone.
pub fn start(path: &Path, asked: Arc<AtomicBool>) -> Result<Checkpointer, StoreError> {
    let context = || format!("starting the checkpoints of {}", path.display());
    let conn = Connection::open(path).map_err(|e| crate::classify(context(), e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while !stopped.load(Ordering::Acquire) {
                std::thread::sleep(EVERY);
                // An error (a full disk, say) leaves the pages in the log, where they are
                // safe; the next round tries again.
                let started = Instant::now();
                let log =
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
                let took = started.elapsed();
                if log.as_ref().is_ok_and(|frames| *frames > MOST_FRAMES) {
                    asked.store(true, Ordering::Release);
                }
                if took > SLOW {
                    tracing::debug!(
                        passive_ms = took.as_millis() as u64,
                        "a slow passive checkpoint"
                    );
                }
            }
        })
        .map_err(|e| StoreError::backend(context(), e))?;
    Ok(Checkpointer { stop })
}

/// Truncates the log on `conn`, the store's connection, when the thread asked for it; run by
/// every call of the store while it holds the connection.
pub fn truncate_if_asked(conn: &Connection, asked: &AtomicBool) {
    if asked.swap(false, Ordering::AcqRel) {
        let started = Instant::now();
        // Busy while a passive checkpoint runs: the connection's busy timeout waits for it.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        tracing::debug!(
            held_ms = started.elapsed().as_millis() as u64,
            "the write-ahead log truncated"
        );
    }
}
