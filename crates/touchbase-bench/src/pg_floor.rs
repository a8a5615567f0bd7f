//! PostgreSQL: a throwaway database for the run, and the floor — the same rows by binary COPY
//! into a table with the same columns as the store's events table and no index.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use crate::data::{self, Row};

/// Rows per COPY (each its own transaction).
const ROWS_PER_COPY: u64 = 500_000;

/// The events table of `touchbase-store-postgres`'s migrations, without its indexes (and
/// without the `seq` it fills from a sequence, which COPY would fill the same way).
const TABLE: &str = "CREATE TABLE floor_events (
    seq           BIGSERIAL,
    day           BIGINT NOT NULL,
    key           BIGINT,
    id            TEXT NOT NULL,
    point         TEXT NOT NULL,
    at            BIGINT NOT NULL,
    party         TEXT,
    channel       TEXT,
    intent        TEXT,
    satisfaction  BIGINT,
    knowledge     BOOLEAN,
    resolved      BOOLEAN,
    engaged       BOOLEAN,
    value_company DOUBLE PRECISION NOT NULL,
    value_party   DOUBLE PRECISION NOT NULL,
    cost          DOUBLE PRECISION NOT NULL,
    duration_s    DOUBLE PRECISION,
    data          TEXT,
    vars          TEXT,
    conforms      BOOLEAN NOT NULL,
    failures      TEXT,
    held          BOOLEAN NOT NULL,
    received_at   BIGINT NOT NULL
)";

const COPY: &str = "COPY floor_events (day, key, id, point, at, party, channel, intent, \
    satisfaction, knowledge, resolved, engaged, value_company, value_party, cost, duration_s, \
    data, vars, conforms, failures, held, received_at) FROM STDIN BINARY";

const TYPES: [Type; 22] = [
    Type::INT8,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::BOOL,
    Type::BOOL,
    Type::BOOL,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::TEXT,
    Type::BOOL,
    Type::INT8,
];

/// Connects to `url`, with its connection driven in the background.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("cannot connect to PostgreSQL (--pg URL)")?;
    tokio::spawn(connection);
    Ok(client)
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base
        .split_once("://")
        .map(|(_, rest)| rest)
        .with_context(|| format!("`{url}` is not a postgres:// URL"))?;
    let host_end = after_scheme.find('/').unwrap_or(after_scheme.len());
    let prefix = &base[..base.len() - after_scheme.len() + host_end];
    Ok(match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    })
}

/// A database made for this run on the server of `admin_url`, dropped by `drop`.
#[derive(Debug)]
pub struct Scratch {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl Scratch {
    pub async fn create(admin_url: &str) -> anyhow::Result<Scratch> {
        let name = format!("touchbase_bench_{}", std::process::id());
        let admin = connect(admin_url).await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        Ok(Scratch {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name)?,
            name,
        })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        let admin = connect(&self.admin_url).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .with_context(|| format!("cannot drop the database {}", self.name))?;
        Ok(())
    }
}

/// What the floor did.
#[derive(Debug)]
pub struct Floor {
    pub rows: u64,
    pub skipped: u64,
    pub wall: Duration,
    pub size: u64,
}

/// The on-disk size of a table with its indexes and TOAST, in bytes.
pub async fn table_size(client: &Client, table: &str) -> anyhow::Result<u64> {
    let row = client
        .query_one(
            "SELECT pg_total_relation_size($1::text::regclass)",
            &[&table],
        )
        .await?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

/// Copies the rows of `events` into a fresh `floor_events` table in the database of `url`.
pub async fn run(events: &Path, url: &str) -> anyhow::Result<Floor> {
    let client = connect(url).await?;
    client
        .batch_execute("DROP TABLE IF EXISTS floor_events")
        .await?;
    client.batch_execute(TABLE).await?;
    let started = Instant::now();
    let received_at = data::now_us();
    // The file is read on a thread of its own and handed over in chunks, so that reading
    // never blocks the runtime; a bounded channel keeps the memory constant.
    let (send, mut receive) = tokio::sync::mpsc::channel::<Vec<Row>>(4);
    let path = events.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(1000);
        let skipped = data::for_each_row(&path, |row| {
            chunk.push(row);
            if chunk.len() == 1000 {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(1000));
                send.blocking_send(full).context("the COPY stopped")?;
            }
            Ok(())
        })?;
        if !chunk.is_empty() {
            send.blocking_send(chunk).context("the COPY stopped")?;
        }
        anyhow::Ok(skipped)
    });
    let mut rows = 0u64;
    let mut writer: Option<std::pin::Pin<Box<BinaryCopyInWriter>>> = None;
    while let Some(chunk) = receive.recv().await {
        for row in chunk {
            if writer.is_none() {
                let sink = client.copy_in(COPY).await?;
                writer = Some(Box::pin(BinaryCopyInWriter::new(sink, &TYPES)));
            }
            let Some(w) = writer.as_mut() else {
                unreachable!("a writer was just opened")
            };
            let satisfaction = row.satisfaction;
            let values: [&(dyn ToSql + Sync); 22] = [
                &row.day,
                &row.key,
                &row.id,
                &row.point,
                &row.at,
                &row.party,
                &row.channel,
                &row.intent,
                &satisfaction,
                &row.knowledge,
                &row.resolved,
                &row.engaged,
                &row.value_company,
                &row.value_party,
                &row.cost,
                &row.duration_s,
                &row.data,
                &row.vars,
                &true,
                &None::<String>,
                &false,
                &received_at,
            ];
            w.as_mut().write(&values).await?;
            rows += 1;
            if rows.is_multiple_of(ROWS_PER_COPY)
                && let Some(mut w) = writer.take()
            {
                w.as_mut().finish().await?;
            }
        }
    }
    if let Some(mut w) = writer.take() {
        w.as_mut().finish().await?;
    }
    let skipped = reader.await??;
    let wall = started.elapsed();
    Ok(Floor {
        rows,
        skipped,
        wall,
        size: table_size(&client, "floor_events").await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: &str) {
        assert_eq!(with_database(url, "db2").unwrap(), expected);
    }

    #[test]
    fn replaces_the_database_of_a_url() {
        check(
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://postgres@127.0.0.1:5432/db2",
        );
        check(
            "postgres://u:p@h/test?sslmode=disable",
            "postgres://u:p@h/db2?sslmode=disable",
        );
        check("postgres://h:5432", "postgres://h:5432/db2");
        check("postgresql://h/", "postgresql://h/db2");
    }
}
