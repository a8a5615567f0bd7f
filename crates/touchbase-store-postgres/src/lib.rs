//! The PostgreSQL store (R20), for shared and large deployments.
//!
//! tokio-postgres behind a deadpool pool; a batch of events is written in a few statements
//! (arrays through `UNNEST`), see `events`.
//! Migrations in `migrations/` are applied at connect, tracked in `touchbase_migrations`, under
//! an advisory lock so that several nodes starting at once migrate once.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_postgres::NoTls;
use touchbase_core::audit::{self, Entry, Record};
use touchbase_core::event::{Checked, Event, HeldPoint, NewReject, Reject, Written};
use touchbase_core::rules::Firing;
use touchbase_core::{Change, Entity, Kind};

use touchbase_core::standing::Order;
use touchbase_core::voice::Family;
use touchbase_store::answers::{AnswerTag, Coding, Forgotten, Statement};
use touchbase_store::audit::Sealing;
use touchbase_store::ingest::now_us;
use touchbase_store::invitations::{Invitation, KeyCustomer, Suppression};
use touchbase_store::journey_days::{JourneyCut, JourneyStep};
use touchbase_store::links::LinkRecord;
use touchbase_store::outbox::{Attempt, Delivery, DeliveryFilter, FeedCount, Finished};
use touchbase_store::responses::{NewResponse, OpenAnswer, ResponseWritten, VoiceDay};
use touchbase_store::rollup::{Tally, add_in_order, day_of};
use touchbase_store::standing::{self, OrderFilter, OrderRevision};
use touchbase_store::{DayRollup, JourneyRows, Nonconforming, Store, StoreError, Versioned};

mod answers;
mod events;
mod journeys;
mod orders;
mod outbox;
#[cfg(feature = "test-support")]
pub mod test_support;
mod voice;

/// Each migration, in order, with its number.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_inventory.sql")),
    (2, include_str!("../migrations/0002_audit.sql")),
    (3, include_str!("../migrations/0003_events.sql")),
    (4, include_str!("../migrations/0004_quality.sql")),
    (5, include_str!("../migrations/0005_party_touches.sql")),
    (6, include_str!("../migrations/0006_journey_days.sql")),
    (7, include_str!("../migrations/0007_no_point_at_index.sql")),
    (8, include_str!("../migrations/0008_deliveries.sql")),
    (9, include_str!("../migrations/0009_rule_states.sql")),
    (10, include_str!("../migrations/0010_audit_seal.sql")),
    (11, include_str!("../migrations/0011_reject_length.sql")),
    (12, include_str!("../migrations/0012_links.sql")),
    (13, include_str!("../migrations/0013_standing_orders.sql")),
    (14, include_str!("../migrations/0014_voice.sql")),
    (15, include_str!("../migrations/0015_answers.sql")),
    (16, include_str!("../migrations/0016_response_indexes.sql")),
    (17, include_str!("../migrations/0017_journey_rows.sql")),
    (
        18,
        include_str!("../migrations/0018_journey_rows_by_party.sql"),
    ),
];

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x746f_7563_6862_6173; // "touchbas"

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    url: String,
    /// Whether the last batch of events written met keys on record (see `write_events`).
    known: Arc<AtomicBool>,
    sealing: Arc<Sealing>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redact(&self.url))
            .finish()
    }
}

/// The URL with its password replaced, for logs and messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A write transaction whose commit returns only once it is on disk, whatever the server's
/// default `synchronous_commit`: what is acknowledged is durable.
async fn durable<'c>(
    client: &'c mut deadpool_postgres::Object,
    context: &'static str,
) -> Result<deadpool_postgres::Transaction<'c>, StoreError> {
    let tx = client.transaction().await.map_err(pg(context))?;
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await
        .map_err(pg(context))?;
    Ok(tx)
}

fn pg(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    let context = context.into();
    move |e| classify(context, e)
}

/// A PostgreSQL error as a [`StoreError`]: `disk_full` (53100) is [`StoreError::Full`]; a
/// connection that failed, closed or was cut by a server shutting down or starting (class 08,
/// 57P01–57P03, `too_many_connections`, or an I/O error under the driver) is
/// [`StoreError::Unavailable`]: the pool drops such connections and opens new ones once the
/// server is back.
fn classify(context: String, e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let unavailable = e.is_closed()
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        || e.code().is_some_and(|c| {
            c.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(c)
        });
    if e.code() == Some(&SqlState::DISK_FULL) {
        StoreError::full(context, e)
    } else if unavailable {
        StoreError::unavailable(context, e)
    } else {
        StoreError::backend(context, e)
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:pass@host:port/db`) and brings its
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let shown = redact(url);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(pg(format!("reading the PostgreSQL URL {shown}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StoreError::backend("building the PostgreSQL pool", e))?;
        let store = PostgresStore {
            pool,
            url: url.to_owned(),
            known: Arc::default(),
            sealing: Arc::new(Sealing::new(None, None)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The same store, sealing its audit trail as `sealing` says (the organization's keys, and
    /// the head file the operator chose, if any).
    pub fn with_sealing(mut self, sealing: Sealing) -> PostgresStore {
        self.sealing = Arc::new(sealing);
        self
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            let context = format!("connecting to PostgreSQL at {}", redact(&self.url));
            match e {
                deadpool_postgres::PoolError::Backend(e) => classify(context, e),
                deadpool_postgres::PoolError::Timeout(_) => StoreError::unavailable(context, e),
                e => StoreError::backend(context, e),
            }
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg("migrating"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg("migrating"))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS touchbase_migrations (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg("migrating"))?;
        let row = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM touchbase_migrations",
                &[],
            )
            .await
            .map_err(pg("migrating"))?;
        let current: i64 = row.get(0);
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            let context = format!("applying migration {version}");
            tx.batch_execute(sql).await.map_err(pg(context.clone()))?;
            tx.execute(
                "INSERT INTO touchbase_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(pg(context))?;
        }
        tx.commit().await.map_err(pg("migrating"))
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn sealing(&self) -> &Sealing {
        &self.sealing
    }

    async fn entities(&self) -> Result<Versioned<Vec<Entity>>, StoreError> {
        const CONTEXT: &str = "reading the inventory";
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg(CONTEXT))?;
        let version = read_version(&tx, Lock::None).await.map_err(pg(CONTEXT))?;
        let rows = tx
            .query("SELECT kind, key, doc FROM inventory", &[])
            .await
            .map_err(pg(CONTEXT))?;
        let mut entities = Vec::with_capacity(rows.len());
        for row in rows {
            let (kind, key, doc): (String, String, Value) = (row.get(0), row.get(1), row.get(2));
            entities.push(decode(&kind, &key, doc)?);
        }
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(Versioned {
            version,
            value: entities,
        })
    }

    async fn version(&self) -> Result<u64, StoreError> {
        const CONTEXT: &str = "reading the store's version";
        let client = self.client().await?;
        read_version(&client, Lock::None).await.map_err(pg(CONTEXT))
    }

    async fn entity(&self, kind: Kind, key: &str) -> Result<Option<Entity>, StoreError> {
        const CONTEXT: &str = "reading the inventory";
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT doc FROM inventory WHERE kind = $1 AND key = $2",
                &[&kind.as_str(), &key],
            )
            .await
            .map_err(pg(CONTEXT))?;
        row.map(|row| decode(kind.as_str(), key, row.get(0)))
            .transpose()
    }

    async fn audit(&self) -> Result<Vec<Record>, StoreError> {
        const CONTEXT: &str = "reading the audit trail";
        let client = self.client().await?;
        let rows = client
            .query("SELECT seq, at, actor, action, subject, before, after, prev, hash, key, seal FROM audit ORDER BY seq", &[])
            .await
            .map_err(pg(CONTEXT))?;
        rows.into_iter()
            .map(|row| {
                Ok(Record {
                    seq: row.get::<_, i64>(0) as u64,
                    at: row.get(1),
                    actor: row.get(2),
                    action: row.get(3),
                    subject: row.get(4),
                    before: parse_doc(row.get(5))?,
                    after: parse_doc(row.get(6))?,
                    prev: row.get(7),
                    hash: row.get(8),
                    key: row.get(9),
                    seal: row.get(10),
                })
            })
            .collect()
    }

    async fn apply(
        &self,
        version: u64,
        changes: &[Change],
        entries: &[Entry],
        firings: &[Firing],
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing the inventory";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let current = read_version(&tx, Lock::ForUpdate)
            .await
            .map_err(pg(CONTEXT))?;
        if current != version {
            return Err(StoreError::Conflict(format!(
                "the inventory is at version {current}, the write was based on version {version}"
            )));
        }
        let put = tx
            .prepare(
                "INSERT INTO inventory (kind, key, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
            )
            .await
            .map_err(pg(CONTEXT))?;
        let delete = tx
            .prepare("DELETE FROM inventory WHERE kind = $1 AND key = $2")
            .await
            .map_err(pg(CONTEXT))?;
        for change in changes {
            let kind = change.kind.as_str();
            match &change.after {
                Some(entity) => {
                    tx.execute(&put, &[&kind, &change.key, &entity.to_doc()])
                        .await
                }
                None => tx.execute(&delete, &[&kind, &change.key]).await,
            }
            .map_err(pg(CONTEXT))?;
        }
        let last = tx
            .query_opt(
                "SELECT seq, hash, key FROM audit ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        let (mut seq, mut prev, mut last_key): (i64, String, Option<String>) = last
            .map_or((0, audit::GENESIS.to_owned(), None), |row| {
                (row.get(0), row.get(1), row.get(2))
            });
        let append = tx
            .prepare(
                "INSERT INTO audit (seq, at, actor, action, subject, before, after, prev, hash, key, seal)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(pg(CONTEXT))?;
        let mut last = None;
        for entry in entries {
            seq += 1;
            let record = self
                .sealing
                .seal(seq as u64, &prev, entry, last_key.as_deref())?;
            let before = record.before.as_ref().map(|v| v.to_string());
            let after = record.after.as_ref().map(|v| v.to_string());
            tx.execute(
                &append,
                &[
                    &seq,
                    &record.at,
                    &record.actor,
                    &record.action,
                    &record.subject,
                    &before,
                    &after,
                    &record.prev,
                    &record.hash,
                    &record.key,
                    &record.seal,
                ],
            )
            .await
            .map_err(pg(CONTEXT))?;
            prev = record.hash.clone();
            last_key = record.key.clone();
            last = Some(record);
        }
        outbox::insert(&tx, firings.iter(), now_us())
            .await
            .map_err(pg(CONTEXT))?;
        let next = version as i64 + 1;
        tx.execute(
            "UPDATE meta SET value = $1 WHERE key = 'inventory_version'",
            &[&next],
        )
        .await
        .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        if let Some(last) = &last {
            self.sealing.committed(last);
        }
        Ok(next as u64)
    }

    async fn write_events(
        &self,
        events: Vec<Checked>,
        rejects: Vec<NewReject>,
        received_at: i64,
    ) -> Result<Versioned<Vec<Written>>, StoreError> {
        const CONTEXT: &str = "writing events";
        let mut client = self.client().await?;
        // Straight in while the events are new; once a batch meets known keys, the next ones
        // look theirs up first, until one meets none.
        let mut path = if self.known.load(Ordering::Relaxed) {
            events::Path::LookUpThenCopy
        } else {
            events::Path::Copy
        };
        loop {
            let tx = durable(&mut client, CONTEXT).await?;
            // Shared, so that writes of events go on side by side; an inventory change (which
            // takes the row for update) waits for this write, or this write reads its version.
            let version = read_version(&tx, Lock::ForShare)
                .await
                .map_err(pg(CONTEXT))?;
            let written = async {
                let outcome = events::write(&tx, &events, &rejects, received_at, path).await?;
                // The deliveries of the events newly written (accepted or held), with them.
                let fired = events
                    .iter()
                    .zip(&outcome.written)
                    .filter(|(_, w)| **w != Written::Duplicate)
                    .flat_map(|(c, _)| &c.firings);
                outbox::insert(&tx, fired, received_at).await?;
                let captured = events
                    .iter()
                    .zip(&outcome.written)
                    .filter(|(_, w)| **w == Written::Accepted)
                    .flat_map(|(c, _)| &c.captures);
                orders::capture(&tx, captured).await?;
                Ok::<_, events::WriteError>(outcome)
            };
            match written.await {
                Ok(outcome) => {
                    tx.commit().await.map_err(pg(CONTEXT))?;
                    self.known.store(outcome.met_known, Ordering::Relaxed);
                    return Ok(Versioned {
                        version,
                        value: outcome.written,
                    });
                }
                // Nothing of it is kept: again, the careful way.
                Err(e) if path != events::Path::Careful && events::raced(&e) => {
                    tracing::debug!("an event write met a known key, written again: {e}");
                    path = events::Path::Careful;
                }
                Err(e) => return Err(e.into_store(CONTEXT)),
            }
        }
    }

    async fn held(&self) -> Result<Vec<HeldPoint>, StoreError> {
        const CONTEXT: &str = "reading held events";
        let client = self.client().await?;
        // Byte order (the "C" collation), as SQLite compares text, whatever the database's.
        let rows = client
            .query(
                r#"SELECT point, COUNT(*), MIN(at), MAX(at), MIN(id COLLATE "C") FROM events
                   WHERE held GROUP BY point ORDER BY point COLLATE "C""#,
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(rows
            .into_iter()
            .map(|row| HeldPoint {
                point: row.get(0),
                volume: row.get::<_, i64>(1) as u64,
                first_at: row.get(2),
                last_at: row.get(3),
                sample_id: row.get(4),
            })
            .collect())
    }

    async fn release_held(&self, point: &str) -> Result<u64, StoreError> {
        const CONTEXT: &str = "releasing held events";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        journeys::queue_released(&tx, point).await?;
        let released = events::release(&tx, point).await?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(released)
    }

    async fn rejects(&self) -> Result<Vec<Reject>, StoreError> {
        self.rejects_after(i64::MIN, u32::MAX).await
    }

    async fn rejects_after(&self, after: i64, limit: u32) -> Result<Vec<Reject>, StoreError> {
        const CONTEXT: &str = "reading rejects";
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, received_at, source, raw, reasons, replayed_at, replayable, digest,
                    COALESCE(length, octet_length(raw)::bigint)
                 FROM rejects WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &i64::from(limit)],
            )
            .await
            .map_err(pg(CONTEXT))?;
        rows.into_iter()
            .map(|row| {
                let id: i64 = row.get(0);
                let reasons: String = row.get(4);
                let reasons = serde_json::from_str(&reasons)
                    .map_err(|e| StoreError::Corrupt(format!("reject {id}: {e}")))?;
                let raw: String = row.get(3);
                let length = row.get::<_, i64>(8).max(0) as u64;
                Ok(Reject {
                    id,
                    received_at: row.get(1),
                    source: row.get(2),
                    truncated: length > raw.len() as u64,
                    raw,
                    reasons,
                    replayed_at: row.get(5),
                    replayable: row.get(6),
                    length,
                    sha256: row.get(7),
                })
            })
            .collect()
    }

    async fn prune_rejects(&self, before: i64) -> Result<u64, StoreError> {
        const CONTEXT: &str = "pruning rejects";
        let client = self.client().await?;
        client
            .execute("DELETE FROM rejects WHERE received_at < $1", &[&before])
            .await
            .map_err(pg(CONTEXT))
    }

    async fn mark_replayed(&self, ids: &[i64], at: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "marking rejects replayed";
        let client = self.client().await?;
        // One statement: atomic, as SQLite's transaction.
        client
            .execute(
                "UPDATE rejects SET replayed_at = $1 WHERE id = ANY($2)",
                &[&at, &ids],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(())
    }

    async fn rollups(&self, days: Range<i64>) -> Result<Vec<DayRollup>, StoreError> {
        const CONTEXT: &str = "reading rollups";
        let client = self.client().await?;
        let rows = client
            .query(
                r#"SELECT point, day, n, value_company, value_party, cost, intent_n, satisfaction_n,
                       satisfaction_sum, csat_n, knowledge_n, resolved_n, resolved_true_n, engaged_n,
                       conforms_n
                   FROM rollup_daily WHERE day >= $1 AND day < $2 ORDER BY point COLLATE "C", day"#,
                &[&days.start, &days.end],
            )
            .await
            .map_err(pg(CONTEXT))?;
        let count = |r: &tokio_postgres::Row, i: usize| r.get::<_, i64>(i) as u64;
        Ok(rows
            .iter()
            .map(|r| DayRollup {
                point: r.get(0),
                day: r.get(1),
                tally: Tally {
                    n: count(r, 2),
                    value_company: r.get(3),
                    value_party: r.get(4),
                    cost: r.get(5),
                    intent_n: count(r, 6),
                    satisfaction_n: count(r, 7),
                    satisfaction_sum: count(r, 8),
                    csat_n: count(r, 9),
                    knowledge_n: count(r, 10),
                    resolved_n: count(r, 11),
                    resolved_true_n: count(r, 12),
                    engaged_n: count(r, 13),
                    conforms_n: count(r, 14),
                },
            })
            .collect())
    }

    async fn write_responses(
        &self,
        responses: Vec<NewResponse>,
        rejects: Vec<NewReject>,
        received_at: i64,
    ) -> Result<Vec<ResponseWritten>, StoreError> {
        const CONTEXT: &str = "writing responses";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let (written, answered) = voice::write_responses(&tx, &responses, received_at)
            .await
            .map_err(pg(CONTEXT))?;
        events::insert_rejects(&tx, &rejects, received_at)
            .await
            .map_err(pg(CONTEXT))?;
        events::insert_rejects(&tx, &answered, received_at)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(written)
    }

    async fn voice_rollups(&self, days: Range<i64>) -> Result<Vec<VoiceDay>, StoreError> {
        const CONTEXT: &str = "reading voice counts";
        let client = self.client().await?;
        voice::voice_rollups(&**client, days.start, days.end)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn tally_voice(&self, from: i64, to: i64) -> Result<Vec<VoiceDay>, StoreError> {
        const CONTEXT: &str = "adding up responses";
        let client = self.client().await?;
        voice::tally_voice(&**client, from, to)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn put_key_customers(&self, customers: &[KeyCustomer]) -> Result<(), StoreError> {
        const CONTEXT: &str = "writing key customers";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        voice::put_key_customers(&tx, customers)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))
    }

    async fn key_customers(&self) -> Result<Vec<KeyCustomer>, StoreError> {
        const CONTEXT: &str = "reading key customers";
        let client = self.client().await?;
        voice::key_customers(&**client).await.map_err(pg(CONTEXT))
    }

    async fn put_invitations(
        &self,
        invitations: &[(Invitation, LinkRecord)],
        suppressions: &[Suppression],
    ) -> Result<Vec<bool>, StoreError> {
        const CONTEXT: &str = "writing invitations";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let written = voice::put_invitations(&tx, invitations, suppressions)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(written)
    }

    async fn invitations(&self, survey: Option<&str>) -> Result<Vec<Invitation>, StoreError> {
        const CONTEXT: &str = "reading invitations";
        let client = self.client().await?;
        voice::invitations(&**client, survey)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn invitation(&self, id: &str) -> Result<Option<Invitation>, StoreError> {
        const CONTEXT: &str = "reading an invitation";
        let client = self.client().await?;
        voice::invitation(&**client, id).await.map_err(pg(CONTEXT))
    }

    async fn put_draft(&self, invitation: &str, answers: &str, now: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping a draft";
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO response_drafts (invitation, answers, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (invitation) DO UPDATE SET answers = excluded.answers,
                     updated_at = excluded.updated_at",
                &[&invitation, &answers, &now],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(())
    }

    async fn draft(&self, invitation: &str) -> Result<Option<String>, StoreError> {
        const CONTEXT: &str = "reading a draft";
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT answers FROM response_drafts WHERE invitation = $1",
                &[&invitation],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn put_codebook(
        &self,
        version: u32,
        doc: &str,
        at: i64,
        actor: &str,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "keeping a codebook";
        let client = self.client().await?;
        let n = client
            .execute(
                "INSERT INTO codebooks (version, doc, imported_at, actor) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (version) DO NOTHING",
                &[&i64::from(version), &doc, &at, &actor],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(n == 1)
    }

    async fn codebook(&self) -> Result<Option<(u32, String)>, StoreError> {
        const CONTEXT: &str = "reading the codebook";
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT version, doc FROM codebooks ORDER BY version DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(row.map(|r| (u32::try_from(r.get::<_, i64>(0)).unwrap_or(0), r.get(1))))
    }

    async fn open_answers(&self, from: i64, to: i64) -> Result<Vec<OpenAnswer>, StoreError> {
        const CONTEXT: &str = "reading open answers";
        let client = self.client().await?;
        answers::open_answers(&**client, from, to)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn open_answer(&self, id: &str) -> Result<Option<OpenAnswer>, StoreError> {
        const CONTEXT: &str = "reading an open answer";
        let client = self.client().await?;
        answers::open_answer(&**client, id)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn put_answer_tag(&self, tag: &AnswerTag) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping a tag";
        let client = self.client().await?;
        answers::put_answer_tag(&**client, tag)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn answer_tags(&self) -> Result<Vec<AnswerTag>, StoreError> {
        const CONTEXT: &str = "reading tags";
        let client = self.client().await?;
        answers::answer_tags(&**client).await.map_err(pg(CONTEXT))
    }

    async fn put_codings(&self, codings: &[Coding]) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping codings";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let out = answers::put_codings(&tx, codings)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(out)
    }

    async fn codings(&self, family: Family) -> Result<Vec<Coding>, StoreError> {
        const CONTEXT: &str = "reading codings";
        let client = self.client().await?;
        answers::codings(&**client, family)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn put_statement(&self, statement: &Statement) -> Result<(), StoreError> {
        const CONTEXT: &str = "keeping a statement";
        let client = self.client().await?;
        answers::put_statement(&**client, statement)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn statement(&self, id: &str) -> Result<Option<Statement>, StoreError> {
        const CONTEXT: &str = "reading a statement";
        let client = self.client().await?;
        answers::statement(&**client, id).await.map_err(pg(CONTEXT))
    }

    async fn statements(&self, from: i64, to: i64) -> Result<Vec<Statement>, StoreError> {
        const CONTEXT: &str = "reading statements";
        let client = self.client().await?;
        answers::statements(&**client, from, to)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn forget_party(&self, party: &str) -> Result<Forgotten, StoreError> {
        const CONTEXT: &str = "erasing a party";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let out = answers::forget_party(&tx, party)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(out)
    }

    async fn suppressions(&self, survey: &str) -> Result<Vec<Suppression>, StoreError> {
        const CONTEXT: &str = "reading suppressions";
        let client = self.client().await?;
        voice::suppressions(&**client, survey)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn tally_events(&self, from: i64, to: i64) -> Result<Vec<DayRollup>, StoreError> {
        const CONTEXT: &str = "adding up events";
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    r#"SELECT {} FROM events
                       WHERE day >= $1 AND day <= $2 AND at >= $3 AND at < $4 AND NOT held
                       ORDER BY point COLLATE "C", at, id COLLATE "C""#,
                    events::ROLLUP_COLUMNS
                ),
                &[&day_of(from), &day_of(to - 1), &from, &to],
            )
            .await
            .map_err(pg(CONTEXT))?;
        let mut days = Vec::new();
        for r in &rows {
            let (event, conforms) = events::counted_event(r);
            add_in_order(&mut days, &event, conforms);
        }
        Ok(days)
    }

    async fn nonconforming(&self, from: i64, to: i64) -> Result<Vec<Nonconforming>, StoreError> {
        const CONTEXT: &str = "reading nonconforming events";
        let client = self.client().await?;
        let rows = client
            .query(
                r#"SELECT point, failures FROM events
                   WHERE day >= $1 AND day <= $2 AND at >= $3 AND at < $4
                     AND NOT conforms AND NOT held
                   ORDER BY point COLLATE "C", at, id COLLATE "C""#,
                &[&day_of(from), &day_of(to - 1), &from, &to],
            )
            .await
            .map_err(pg(CONTEXT))?;
        rows.iter()
            .map(|r| Nonconforming::decode(r.get(0), r.get::<_, Option<&str>>(1)))
            .collect()
    }

    async fn journeys_step(
        &self,
        cut: &JourneyCut,
        until: i64,
        copy: usize,
        take: usize,
    ) -> Result<JourneyStep, StoreError> {
        const CONTEXT: &str = "bringing the journeys up to date";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg(CONTEXT))?;
        let step = journeys::step(&tx, cut, until, copy, take).await?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(step)
    }

    async fn journey_rows(&self, first_day: i64, last_day: i64) -> Result<JourneyRows, StoreError> {
        const CONTEXT: &str = "reading the journeys";
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg(CONTEXT))?;
        let rows = journeys::rows(&tx, first_day, last_day).await?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(rows)
    }

    async fn counted_touches(&self) -> Result<Vec<touchbase_store::PartyTouch>, StoreError> {
        const CONTEXT: &str = "reading the parties' events";
        let client = self.client().await?;
        let rows = client
            .query(
                r#"SELECT party, point, at, id, value_company FROM events
                   WHERE NOT held AND party IS NOT NULL
                   ORDER BY party COLLATE "C", at, id COLLATE "C""#,
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(rows.iter().map(journeys::touch).collect())
    }

    async fn event_counts(&self) -> Result<(u64, u64), StoreError> {
        const CONTEXT: &str = "counting events";
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE NOT held), COUNT(*) FILTER (WHERE held) FROM events",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    async fn events_of_day(&self, day: i64) -> Result<Vec<Event>, StoreError> {
        const CONTEXT: &str = "reading a day's events";
        let client = self.client().await?;
        outbox::events_of_day(&client, day)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn enqueue(&self, firings: &[Firing], now: i64) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing deliveries";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let n = outbox::insert(&tx, firings.iter(), now)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(n)
    }

    async fn claim_deliveries(
        &self,
        endpoints: &[String],
        now: i64,
        lease_us: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        const CONTEXT: &str = "claiming deliveries";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let claimed = outbox::claim(&tx, endpoints, now, lease_us, limit, CONTEXT).await?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(claimed)
    }

    async fn finish_attempts(&self, finished: &[Finished]) -> Result<(), StoreError> {
        const CONTEXT: &str = "recording delivery attempts";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        outbox::finish(&tx, finished).await.map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))
    }

    async fn next_due(&self, endpoints: &[String]) -> Result<Option<i64>, StoreError> {
        const CONTEXT: &str = "reading the next delivery due";
        let client = self.client().await?;
        outbox::next_due(&client, endpoints)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        const CONTEXT: &str = "reading deliveries";
        let client = self.client().await?;
        outbox::list(&client, filter, CONTEXT).await
    }

    async fn delivery(&self, id: &str) -> Result<Option<(Delivery, Vec<Attempt>)>, StoreError> {
        const CONTEXT: &str = "reading a delivery";
        let mut client = self.client().await?;
        // The delivery and its attempts as of one instant.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(pg(CONTEXT))?;
        let found = outbox::one(&tx, id, CONTEXT).await?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(found)
    }

    async fn replay_deliveries(
        &self,
        ids: &[String],
        filter: &DeliveryFilter,
        now: i64,
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "replaying deliveries";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let n = outbox::replay(&tx, ids, filter, now)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(n)
    }

    async fn failing_since(&self, endpoint: &str) -> Result<Option<i64>, StoreError> {
        const CONTEXT: &str = "reading an endpoint's attempts";
        let client = self.client().await?;
        outbox::failing_since(&client, endpoint)
            .await
            .map_err(pg(CONTEXT))
    }

    async fn feed_counts(&self) -> Result<Vec<FeedCount>, StoreError> {
        const CONTEXT: &str = "counting deliveries";
        let client = self.client().await?;
        outbox::counts(&client).await.map_err(pg(CONTEXT))
    }
    async fn rule_states(&self) -> Result<Vec<(String, String)>, StoreError> {
        const CONTEXT: &str = "reading the metric rules' states";
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT rule, doc FROM rule_states ORDER BY rule COLLATE \"C\"",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn put_rule_state(
        &self,
        rule: &str,
        expected: Option<&str>,
        doc: &str,
        firings: &[Firing],
        now: i64,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "writing a metric rule's state";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        // The row (or its absence) is locked for the check: two evaluations cannot both pass.
        tx.execute(
            "INSERT INTO rule_states (rule, doc) VALUES ($1, '') ON CONFLICT (rule) DO NOTHING",
            &[&rule],
        )
        .await
        .map_err(pg(CONTEXT))?;
        let current: String = tx
            .query_one(
                "SELECT doc FROM rule_states WHERE rule = $1 FOR UPDATE",
                &[&rule],
            )
            .await
            .map_err(pg(CONTEXT))?
            .get(0);
        if current != expected.unwrap_or("") {
            tx.rollback().await.map_err(pg(CONTEXT))?;
            return Ok(false);
        }
        tx.execute(
            "UPDATE rule_states SET doc = $2 WHERE rule = $1",
            &[&rule, &doc],
        )
        .await
        .map_err(pg(CONTEXT))?;
        outbox::insert(&tx, firings.iter(), now)
            .await
            .map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(true)
    }

    async fn put_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        const CONTEXT: &str = "recording a signed link";
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO links (hash, purpose, subject, expires_at, created_at, revoked_at, used_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &link.hash,
                    &link.purpose,
                    &link.subject,
                    &link.expires_at,
                    &link.created_at,
                    &link.revoked_at,
                    &link.used_at,
                ],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(())
    }

    async fn link(&self, hash: &str) -> Result<Option<LinkRecord>, StoreError> {
        const CONTEXT: &str = "reading a signed link";
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT hash, purpose, subject, expires_at, created_at, revoked_at, used_at
                 FROM links WHERE hash = $1",
                &[&hash],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(row.map(|r| LinkRecord {
            hash: r.get(0),
            purpose: r.get(1),
            subject: r.get(2),
            expires_at: r.get(3),
            created_at: r.get(4),
            revoked_at: r.get(5),
            used_at: r.get(6),
        }))
    }

    async fn revoke_links(
        &self,
        purpose: &str,
        subject: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        const CONTEXT: &str = "revoking signed links";
        let client = self.client().await?;
        client
            .execute(
                "UPDATE links SET revoked_at = $3
                 WHERE purpose = $1 AND subject = $2 AND revoked_at IS NULL",
                &[&purpose, &subject, &now],
            )
            .await
            .map_err(pg(CONTEXT))
    }

    async fn use_link(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        const CONTEXT: &str = "using a signed link";
        let client = self.client().await?;
        client
            .execute(
                "UPDATE links SET used_at = $2 WHERE hash = $1 AND used_at IS NULL",
                &[&hash, &now],
            )
            .await
            .map(|n| n == 1)
            .map_err(pg(CONTEXT))
    }

    async fn put_order(&self, revision: &OrderRevision) -> Result<bool, StoreError> {
        const CONTEXT: &str = "writing a standing order";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        if !orders::write_revision(&tx, revision)
            .await
            .map_err(pg(CONTEXT))?
        {
            tx.rollback().await.map_err(pg(CONTEXT))?;
            return Ok(false);
        }
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(true)
    }

    async fn order(&self, id: &str) -> Result<Option<Order>, StoreError> {
        const CONTEXT: &str = "reading a standing order";
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT doc FROM standing_orders WHERE id = $1", &[&id])
            .await
            .map_err(pg(CONTEXT))?;
        row.map(|r| standing::order_of(id, r.get(0))).transpose()
    }

    async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        const CONTEXT: &str = "listing standing orders";
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, doc FROM standing_orders
                 WHERE $1::text IS NULL OR party = $1 ORDER BY id COLLATE \"C\"",
                &[&filter.party],
            )
            .await
            .map_err(pg(CONTEXT))?;
        let mut orders = Vec::new();
        for row in rows {
            let order = standing::order_of(row.get(0), row.get(1))?;
            if filter.admits(&order) {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    async fn order_revisions(&self, id: &str) -> Result<Vec<OrderRevision>, StoreError> {
        const CONTEXT: &str = "reading a standing order's revisions";
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT revision, at, actor, note, doc FROM standing_revisions
                 WHERE order_id = $1 ORDER BY revision",
                &[&id],
            )
            .await
            .map_err(pg(CONTEXT))?;
        rows.iter()
            .map(|r| {
                Ok(OrderRevision {
                    revision: r.get::<_, i64>(0) as u32,
                    at: r.get(1),
                    actor: r.get(2),
                    note: r.get(3),
                    order: standing::order_of(id, r.get(4))?,
                })
            })
            .collect()
    }

    async fn order_progress(&self) -> Result<Vec<standing::Progress>, StoreError> {
        const CONTEXT: &str = "reading the standing orders' progress";
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, doc, handled_at, locked_at FROM standing_orders ORDER BY id",
                &[],
            )
            .await
            .map_err(pg(CONTEXT))?;
        rows.iter()
            .map(|r| {
                Ok(standing::Progress {
                    order: standing::order_of(r.get(0), r.get(1))?,
                    handled_at: r.get(2),
                    locked_at: r.get(3),
                })
            })
            .collect()
    }

    async fn put_runs(&self, runs: &[touchbase_core::standing::Run]) -> Result<u64, StoreError> {
        const CONTEXT: &str = "writing standing-order runs";
        let mut client = self.client().await?;
        let tx = durable(&mut client, CONTEXT).await?;
        let n = orders::put_runs(&tx, runs).await.map_err(pg(CONTEXT))?;
        tx.commit().await.map_err(pg(CONTEXT))?;
        Ok(n)
    }

    async fn runs(
        &self,
        order: Option<&str>,
        limit: u32,
    ) -> Result<Vec<touchbase_core::standing::Run>, StoreError> {
        const CONTEXT: &str = "reading standing-order runs";
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT order_id, run_date, at, state, revision, note, delivery, updated_at
                 FROM standing_runs WHERE $1::text IS NULL OR order_id = $1
                 ORDER BY at DESC, order_id LIMIT $2",
                &[&order, &i64::from(limit)],
            )
            .await
            .map_err(pg(CONTEXT))?;
        Ok(rows.iter().map(orders::run_of).collect())
    }
}

fn decode(kind: &str, key: &str, doc: Value) -> Result<Entity, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{kind} `{key}`: {why}"));
    let kind = Kind::parse(kind).ok_or_else(|| corrupt("unknown kind".into()))?;
    Entity::from_doc(kind, key, doc).map_err(|e| corrupt(e.to_string()))
}

fn parse_doc(doc: Option<String>) -> Result<Option<Value>, StoreError> {
    doc.map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("an audit record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }
}

/// How [`read_version`] locks the version's row.
#[derive(Debug, Clone, Copy)]
enum Lock {
    None,
    /// Writes of events: side by side with each other, an inventory change waits for them.
    ForShare,
    /// An inventory change: one at a time, after the writes that read the version before it.
    ForUpdate,
}

/// The store's version (of the entities, not of the events).
async fn read_version(
    client: &impl deadpool_postgres::GenericClient,
    lock: Lock,
) -> Result<u64, tokio_postgres::Error> {
    let sql = match lock {
        Lock::None => "SELECT value FROM meta WHERE key = 'inventory_version'",
        Lock::ForShare => "SELECT value FROM meta WHERE key = 'inventory_version' FOR SHARE",
        Lock::ForUpdate => "SELECT value FROM meta WHERE key = 'inventory_version' FOR UPDATE",
    };
    let version: i64 = client.query_one(sql, &[]).await?.get(0);
    Ok(version as u64)
}
