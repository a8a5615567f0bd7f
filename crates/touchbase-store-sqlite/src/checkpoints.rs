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
//! for a restarting one, and the next call of the store runs it on the store's connection
//! before it lets go of it ([`restart_if_asked`]): the passive checkpoint just copied nearly
//! everything, so that call waits only for the last frames and an fsync, and the next write
//! starts the log over from its beginning. The file is then written over in place rather
//! than cut to nothing and grown again (a truncating checkpoint freed its pages and the
//! writes after it allocated and zeroed new ones: a tenth of a catch-up's time), and kept to
//! [`LOG_LIMIT`] on disk by SQLite's `journal_size_limit`. (Taking the connection's lock from
//! this thread instead would starve behind a writer that takes it back at once.)

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use touchbase_store::StoreError;

/// How often the thread looks for committed pages to copy back.
const EVERY: Duration = Duration::from_millis(50);

/// The log's length, in pages, beyond which it is made to start over: about 16 MB of 4 KiB
/// pages. Each restart holds the store's connection for the last frames and an fsync (about
/// 20 ms on this machine's disk), whatever the log's length; at SQLite's own 1,000 pages a
/// catch-up restarted it ten times a second.
const MOST_FRAMES: i64 = 4_000;

/// The most the log keeps on disk once it starts over (`journal_size_limit`), in bytes: room
/// for [`MOST_FRAMES`] pages and what a round lets through before the restart.
pub const LOG_LIMIT: i64 = 24 << 20;

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

/// How long a restart asked for may wait for passive checkpoints to finish before a call runs
/// it anyway (at once when the log is twice [`MOST_FRAMES`]): under writes that never pause
/// one is running most of the time.
const PATIENCE: Duration = Duration::from_millis(100);

/// What the thread and the store's calls tell each other.
#[derive(Debug)]
pub struct Restart {
    since: Instant,
    /// When the log was found long, in ms since `since` plus one; 0 when no restart is asked
    /// for (set by the thread, taken by a call).
    asked: AtomicU64,
    /// A passive checkpoint is running: a restarting one would wait for it.
    passive: AtomicBool,
}

impl Default for Restart {
    fn default() -> Restart {
        Restart {
            since: Instant::now(),
            asked: AtomicU64::new(0),
            passive: AtomicBool::new(false),
        }
    }
}

impl Restart {
    fn now(&self) -> u64 {
        self.since.elapsed().as_millis() as u64 + 1
    }
}

/// Starts the thread on its own connection to `path` (the store's connection must have turned
/// its automatic checkpoints off); it asks through `restart` when the log should start over,
/// and ends once the store is gone.
pub fn start(path: &Path, restart: Arc<Restart>) -> Result<Checkpointer, StoreError> {
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
                restart.passive.store(true, Ordering::Release);
                let log =
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
                restart.passive.store(false, Ordering::Release);
                let took = started.elapsed();
                match log {
                    // Twice as long: the next call runs it, passive checkpoint or not.
                    Ok(frames) if frames > 2 * MOST_FRAMES => {
                        restart.asked.store(1, Ordering::Release);
                    }
                    Ok(frames) if frames > MOST_FRAMES => {
                        // Asked once: a request that waits keeps its first instant.
                        let _ = restart.asked.compare_exchange(
                            0,
                            restart.now(),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        );
                    }
                    _ => {}
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

/// Makes the log start over on `conn`, the store's connection, when the thread asked for it;
/// while a passive checkpoint runs (the restart would wait for it, holding the store), only
/// once the request has waited [`PATIENCE`]. Run by every call of the store while it holds
/// the connection.
pub fn restart_if_asked(conn: &Connection, restart: &Restart) {
    let asked = restart.asked.load(Ordering::Acquire);
    if asked == 0 {
        return;
    }
    let waited = Duration::from_millis(restart.now().saturating_sub(asked));
    if restart.passive.load(Ordering::Acquire) && waited < PATIENCE {
        return;
    }
    if restart.asked.swap(0, Ordering::AcqRel) != 0 {
        let started = Instant::now();
        // Busy while a passive checkpoint runs: the connection's busy timeout waits for it.
        let _ = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
        tracing::debug!(
            held_ms = started.elapsed().as_millis() as u64,
            "the write-ahead log restarted"
        );
    }
}
