//! The conformance suite on the embedded store, each test on fresh files in its own directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use touchbase_store::Store;
use touchbase_store::conformance::Backend;
use touchbase_store_sqlite::SqliteStore;

struct Sqlite {
    dir: tempfile::TempDir,
    count: AtomicUsize,
}

fn sqlite() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().expect("a temporary directory"),
        count: AtomicUsize::new(0),
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn fresh(&self) -> Arc<dyn Store> {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        Arc::new(SqliteStore::open(self.dir.path().join(format!("store-{n}.db"))).unwrap())
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
        touchbase_store::inventory::import(&store, &inventory)
            .await
            .unwrap();
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        let got = touchbase_store::inventory::get(&store).await.unwrap();
        assert_eq!(got.value, inventory);
    });
}
