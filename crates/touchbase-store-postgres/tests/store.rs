//! The conformance suite on PostgreSQL: every store on its own database, dropped afterwards.
//! Needs `TOUCHBASE_TEST_PG` (see `test_support`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use touchbase_core::audit::KeyRing;
use touchbase_store::Store;
use touchbase_store::audit::Sealing;
use touchbase_store::conformance::{Backend, Tamper};
use touchbase_store_postgres::PostgresStore;
use touchbase_store_postgres::test_support::TestDatabases;

struct Postgres {
    databases: TestDatabases,
    urls: Mutex<Vec<String>>,
    /// Where the stores' head files are: a place of the operator's choosing.
    heads: tempfile::TempDir,
}

fn postgres() -> Postgres {
    Postgres {
        databases: TestDatabases::new(),
        urls: Mutex::default(),
        heads: tempfile::tempdir().expect("a temporary directory"),
    }
}

impl Postgres {
    fn head(&self, n: usize) -> std::path::PathBuf {
        self.heads.path().join(format!("store-{n}.head"))
    }
}

#[async_trait]
impl Backend for Postgres {
    async fn fresh(&self) -> Arc<dyn Store> {
        let url = self.databases.fresh().await;
        self.urls.lock().unwrap().push(url.clone());
        Arc::new(PostgresStore::connect(&url).await.unwrap())
    }

    async fn fresh_sealed(&self, ring: KeyRing) -> Arc<dyn Store> {
        let url = self.databases.fresh().await;
        let n = {
            let mut urls = self.urls.lock().unwrap();
            urls.push(url.clone());
            urls.len() - 1
        };
        let sealing = Sealing::new(Some(ring), Some(self.head(n)));
        Arc::new(
            PostgresStore::connect(&url)
                .await
                .unwrap()
                .with_sealing(sealing),
        )
    }

    async fn reopen_sealed(&self, n: usize, ring: Option<KeyRing>, head: bool) -> Arc<dyn Store> {
        let url = self.urls.lock().unwrap()[n].clone();
        let sealing = Sealing::new(ring, head.then(|| self.head(n)));
        Arc::new(
            PostgresStore::connect(&url)
                .await
                .unwrap()
                .with_sealing(sealing),
        )
    }

    async fn tamper(&self, n: usize, how: Tamper) {
        let url = self.urls.lock().unwrap()[n].clone();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // The entities: no trigger guards them.
        let changed = match &how {
            Tamper::EditEntity {
                kind,
                key,
                field,
                value,
            } => Some(
                client
                    .execute(
                        "UPDATE inventory SET doc = jsonb_set(doc, ARRAY[$1::text], $2) WHERE kind = $3 AND key = $4",
                        &[field, value, &kind.as_str(), key],
                    )
                    .await,
            ),
            Tamper::DeleteEntity { kind, key } => Some(
                client
                    .execute(
                        "DELETE FROM inventory WHERE kind = $1 AND key = $2",
                        &[&kind.as_str(), key],
                    )
                    .await,
            ),
            Tamper::InsertEntity { kind, key, doc } => Some(
                client
                    .execute(
                        "INSERT INTO inventory (kind, key, doc) VALUES ($1, $2, $3)",
                        &[&kind.as_str(), key, doc],
                    )
                    .await,
            ),
            _ => None,
        };
        if let Some(changed) = changed {
            assert_eq!(changed.unwrap(), 1, "{how:?} changed no row");
            return;
        }
        let sql = match &how {
            Tamper::Alter { seq } => {
                format!("UPDATE audit SET actor = 'mallory' WHERE seq = {seq}")
            }
            Tamper::Remove { seq } => format!("DELETE FROM audit WHERE seq = {seq}"),
            Tamper::RemoveFrom { seq } => format!("DELETE FROM audit WHERE seq >= {seq}"),
            Tamper::Rewrite { .. } => "DELETE FROM audit".to_owned(),
            _ => unreachable!("the entities are tampered with above"),
        };
        let refused = client.batch_execute(&sql).await.unwrap_err();
        let refused = refused
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(refused.contains("append-only"), "{refused}");
        client
            .batch_execute(&format!(
                "ALTER TABLE audit DISABLE TRIGGER audit_append_only; {sql}"
            ))
            .await
            .unwrap();
        if let Tamper::Rewrite { records } = how {
            for r in records {
                let (before, after) = (
                    r.before.map(|v| v.to_string()),
                    r.after.map(|v| v.to_string()),
                );
                client
                    .execute(
                        "INSERT INTO audit (seq, at, actor, action, subject, before, after, prev, hash, key, seal)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        &[
                            &(r.seq as i64),
                            &r.at,
                            &r.actor,
                            &r.action,
                            &r.subject,
                            &before,
                            &after,
                            &r.prev,
                            &r.hash,
                            &r.key,
                            &r.seal,
                        ],
                    )
                    .await
                    .unwrap();
            }
        }
    }

    async fn reopen(&self, n: usize) -> Option<Arc<dyn Store>> {
        let url = self.urls.lock().unwrap()[n].clone();
        Some(Arc::new(PostgresStore::connect(&url).await.unwrap()))
    }

    async fn break_rollup(&self, n: usize, point: &str, day: i64) {
        let url = self.urls.lock().unwrap()[n].clone();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let changed = client
            .execute(
                "UPDATE rollup_daily SET n = n + 1 WHERE point = $1 AND day = $2",
                &[&point, &day],
            )
            .await
            .unwrap();
        assert_eq!(changed, 1, "no rollup row of {point} on day {day}");
    }
}

touchbase_store::conformance_suite!(postgres());
