//! The conformance suite on PostgreSQL. Each test gets uniquely named databases on the server
//! named by `TOUCHBASE_TEST_PG`, dropped when the test ends (even when it fails).
//!
//! `TOUCHBASE_TEST_PG` is the URL of any database on that server that the user may connect to
//! and create databases from, e.g. `postgres://postgres@127.0.0.1:5432/test`. `.ci/run` sets it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use touchbase_store::Store;
use touchbase_store::conformance::Backend;
use touchbase_store_postgres::PostgresStore;

const VAR: &str = "TOUCHBASE_TEST_PG";

fn admin_url() -> String {
    std::env::var(VAR).unwrap_or_else(|_| {
        panic!(
            "{VAR} is unset: the PostgreSQL store tests need a server. Set it to a database URL, \
             e.g. {VAR}=postgres://postgres@127.0.0.1:5432/test, or run `bash .ci/run`."
        )
    })
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{db}{query}")
}

struct Postgres {
    admin: String,
    prefix: String,
    count: AtomicUsize,
    created: Arc<Mutex<Vec<String>>>,
}

fn postgres() -> Postgres {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Postgres {
        admin: admin_url(),
        prefix: format!("touchbase_test_{}_{nanos}", std::process::id()),
        count: AtomicUsize::new(0),
        created: Arc::default(),
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url} ({VAR}): {e}"));
    tokio::spawn(connection);
    client
}

#[async_trait]
impl Backend for Postgres {
    async fn fresh(&self) -> Arc<dyn Store> {
        let name = format!(
            "{}_{}",
            self.prefix,
            self.count.fetch_add(1, Ordering::Relaxed)
        );
        let client = admin_client(&self.admin).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        self.created.lock().unwrap().push(name.clone());
        Arc::new(
            PostgresStore::connect(&with_database(&self.admin, &name))
                .await
                .unwrap(),
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap());
        if names.is_empty() {
            return;
        }
        let admin = self.admin.clone();
        // Drop runs inside the test's runtime; a runtime of its own on another thread does the IO.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = admin_client(&admin).await;
                for name in names {
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .unwrap();
                }
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test databases");
        }
    }
}

touchbase_store::conformance_suite!(postgres());

#[test]
fn with_database_replaces_only_the_name() {
    assert_eq!(
        with_database("postgres://u@h:5432/test", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
