//! Throwaway databases for tests (feature `test-support`): each [`TestDatabases::fresh`] creates a
//! uniquely named database on the server named by `TOUCHBASE_TEST_PG`; all of them are dropped
//! when the `TestDatabases` is, even when the test fails.
//!
//! `TOUCHBASE_TEST_PG` is the URL of any database on that server that the user may connect to
//! and create databases from, e.g. `postgres://postgres@127.0.0.1:5432/test`. `.ci/run` sets it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the test server.
pub const VAR: &str = "TOUCHBASE_TEST_PG";

/// The test server's URL; panics with what to do when `TOUCHBASE_TEST_PG` is unset.
pub fn admin_url() -> String {
    std::env::var(VAR).unwrap_or_else(|_| {
        panic!(
            "{VAR} is unset: the PostgreSQL tests need a server. Set it to a database URL, \
             e.g. {VAR}=postgres://postgres@127.0.0.1:5432/test, or run `bash .ci/run`."
        )
    })
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
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

/// Databases created for one test.
#[derive(Debug)]
pub struct TestDatabases {
    admin: String,
    prefix: String,
    count: AtomicUsize,
    created: Mutex<Vec<String>>,
}

impl Default for TestDatabases {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDatabases {
    pub fn new() -> TestDatabases {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        TestDatabases {
            admin: admin_url(),
            prefix: format!("touchbase_test_{}_{nanos}", std::process::id()),
            count: AtomicUsize::new(0),
            created: Mutex::new(Vec::new()),
        }
    }

    /// Creates an empty database and returns its URL.
    pub async fn fresh(&self) -> String {
        let name = format!(
            "{}_{}",
            self.prefix,
            self.count.fetch_add(1, Ordering::Relaxed)
        );
        let client = admin_client(&self.admin).await;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        self.created
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.clone());
        with_database(&self.admin, &name)
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url} ({VAR}): {e}"));
    tokio::spawn(connection);
    client
}

impl Drop for TestDatabases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if names.is_empty() {
            return;
        }
        let admin = self.admin.clone();
        // Drop may run inside a runtime; a runtime of its own on another thread does the IO.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                let client = admin_client(&admin).await;
                for name in names {
                    client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .unwrap_or_else(|e| panic!("cannot drop the test database {name}: {e}"));
                }
            });
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop the test databases");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

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
}
