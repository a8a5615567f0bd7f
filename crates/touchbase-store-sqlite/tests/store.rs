//! The conformance suite on the embedded store, each test on fresh files in its own directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use touchbase_core::audit::KeyRing;
use touchbase_store::Store;
use touchbase_store::audit::Sealing;
use touchbase_store::conformance::{Backend, Tamper};
use touchbase_store_sqlite::SqliteStore;

struct Sqlite {
    dir: tempfile::TempDir,
    paths: Mutex<Vec<PathBuf>>,
}

fn sqlite() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().expect("a temporary directory"),
        paths: Mutex::default(),
    }
}

impl Sqlite {
    fn next_path(&self) -> PathBuf {
        let mut paths = self.paths.lock().unwrap();
        let path = self.dir.path().join(format!("store-{}.db", paths.len()));
        paths.push(path.clone());
        path
    }
}

/// The head file of a store: its path with `.head` added, as the binary keeps it.
fn head_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".head");
    PathBuf::from(name)
}

#[async_trait]
impl Backend for Sqlite {
    async fn fresh(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(self.next_path()).unwrap())
    }

    async fn fresh_sealed(&self, ring: KeyRing) -> Arc<dyn Store> {
        let path = self.next_path();
        let sealing = Sealing::new(Some(ring), Some(head_of(&path)));
        Arc::new(SqliteStore::open(path).unwrap().with_sealing(sealing))
    }

    async fn reopen_sealed(&self, n: usize, ring: Option<KeyRing>, head: bool) -> Arc<dyn Store> {
        let path = self.paths.lock().unwrap()[n].clone();
        let sealing = Sealing::new(ring, head.then(|| head_of(&path)));
        Arc::new(SqliteStore::open(path).unwrap().with_sealing(sealing))
    }

    async fn tamper(&self, n: usize, how: Tamper) {
        let path = self.paths.lock().unwrap()[n].clone();
        let conn = rusqlite::Connection::open(path).unwrap();
        // The entities: no trigger guards them.
        let changed = match &how {
            Tamper::EditEntity {
                kind,
                key,
                field,
                value,
            } => Some(conn.execute(
                "UPDATE inventory SET doc = json_set(doc, '$.' || ?1, json(?2)) WHERE kind = ?3 AND key = ?4",
                rusqlite::params![field, value.to_string(), kind.as_str(), key],
            )),
            Tamper::DeleteEntity { kind, key } => Some(conn.execute(
                "DELETE FROM inventory WHERE kind = ?1 AND key = ?2",
                rusqlite::params![kind.as_str(), key],
            )),
            Tamper::InsertEntity { kind, key, doc } => Some(conn.execute(
                "INSERT INTO inventory (kind, key, doc) VALUES (?1, ?2, ?3)",
                rusqlite::params![kind.as_str(), key, doc.to_string()],
            )),
            _ => None,
        };
        if let Some(changed) = changed {
            assert_eq!(changed.unwrap(), 1, "{how:?} changed no row");
            return;
        }
        let (sql, trigger) = match &how {
            Tamper::Alter { seq } => (
                format!("UPDATE audit SET actor = 'mallory' WHERE seq = {seq}"),
                "audit_no_update",
            ),
            Tamper::Remove { seq } => (
                format!("DELETE FROM audit WHERE seq = {seq}"),
                "audit_no_delete",
            ),
            Tamper::RemoveFrom { seq } => (
                format!("DELETE FROM audit WHERE seq >= {seq}"),
                "audit_no_delete",
            ),
            Tamper::Rewrite { .. } => ("DELETE FROM audit".to_owned(), "audit_no_delete"),
            _ => unreachable!("the entities are tampered with above"),
        };
        let refused = conn.execute(&sql, []).unwrap_err().to_string();
        assert!(refused.contains("append-only"), "{refused}");
        conn.execute_batch(&format!("DROP TRIGGER {trigger}; {sql}"))
            .unwrap();
        if let Tamper::Rewrite { records } = how {
            for r in records {
                conn.execute(
                    "INSERT INTO audit (seq, at, actor, action, subject, before, after, prev, hash, key, seal)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    rusqlite::params![
                        r.seq as i64,
                        r.at,
                        r.actor,
                        r.action,
                        r.subject,
                        r.before.map(|v| v.to_string()),
                        r.after.map(|v| v.to_string()),
                        r.prev,
                        r.hash,
                        r.key,
                        r.seal
                    ],
                )
                .unwrap();
            }
        }
    }

    async fn reopen(&self, n: usize) -> Option<Arc<dyn Store>> {
        let path = self.paths.lock().unwrap()[n].clone();
        Some(Arc::new(SqliteStore::open(path).unwrap()))
    }

    async fn break_rollup(&self, n: usize, point: &str, day: i64) {
        let path = self.paths.lock().unwrap()[n].clone();
        let conn = rusqlite::Connection::open(path).unwrap();
        let changed = conn
            .execute(
                "UPDATE rollup_daily SET n = n + 1 WHERE point = ?1 AND day = ?2",
                rusqlite::params![point, day],
            )
            .unwrap();
        assert_eq!(changed, 1, "no rollup row of {point} on day {day}");
    }
}

touchbase_store::conformance_suite!(sqlite());

#[test]
fn reopening_keeps_the_inventory_and_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let inventory =
            touchbase_core::file::parse_inventory(touchbase_store::conformance::SMALL).unwrap();
        let admin = touchbase_core::Actor::local_admin();
        let mode = touchbase_store::inventory::ImportMode::Baseline;
        touchbase_store::inventory::import(&store, &admin, &inventory, mode)
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let got = touchbase_store::inventory::get(&store).await.unwrap();
        assert_eq!(got.value, inventory);
    });
}

/// Writes that never pause (a bulk import, a catch-up) keep the write-ahead log short: the
/// checkpoint thread copies it back passively and, once it is long, makes it start over
/// between two writes. Passive checkpoints alone would let it grow with everything written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_short_under_writes_that_never_pause() {
    use touchbase_core::event::NewReject;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    let (mut written, mut longest) = (0_usize, 0_u64);
    for round in 0..400 {
        let rejects: Vec<NewReject> = (0..64)
            .map(|i| {
                // Distinct texts (a reject is kept once per text), 4 KiB each.
                let raw = format!("{round}-{i}-{}", "x".repeat(4096));
                written += raw.len();
                NewReject::new("test", raw.as_bytes(), vec!["a test".into()])
            })
            .collect();
        store.write_events(Vec::new(), rejects, 0).await.unwrap();
        longest = longest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    assert!(written > 100 << 20, "wrote {written} bytes");
    // 1,000 pages of 4 KiB, and what a 50 ms round lets through before the truncation.
    assert!(
        longest < 32 << 20,
        "the log grew to {longest} bytes while {written} were written"
    );
    let kept: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM rejects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 400 * 64, "every reject kept");
}
