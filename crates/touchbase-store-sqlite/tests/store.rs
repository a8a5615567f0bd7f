//! The conformance suite on the embedded store, each test on fresh files in its own directory.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use touchbase_store::Store;
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

#[async_trait]
impl Backend for Sqlite {
    async fn fresh(&self) -> Arc<dyn Store> {
        let mut paths = self.paths.lock().unwrap();
        let path = self.dir.path().join(format!("store-{}.db", paths.len()));
        paths.push(path.clone());
        Arc::new(SqliteStore::open(path).unwrap())
    }

    async fn tamper(&self, n: usize, how: Tamper) {
        let path = self.paths.lock().unwrap()[n].clone();
        let conn = rusqlite::Connection::open(path).unwrap();
        let (sql, trigger) = match how {
            Tamper::Alter { seq } => (
                format!("UPDATE audit SET actor = 'mallory' WHERE seq = {seq}"),
                "audit_no_update",
            ),
            Tamper::Remove { seq } => (
                format!("DELETE FROM audit WHERE seq = {seq}"),
                "audit_no_delete",
            ),
        };
        let refused = conn.execute(&sql, []).unwrap_err().to_string();
        assert!(refused.contains("append-only"), "{refused}");
        conn.execute_batch(&format!("DROP TRIGGER {trigger}; {sql}"))
            .unwrap();
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
