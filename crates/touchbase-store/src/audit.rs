//! Reading and verifying the audit trail (R7): its records, the sealing a store writes them
//! with (the organization's keys and the head file), and `verify`, which checks the chain, its
//! seals, the head, and the stored entities against the trail.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use touchbase_core::audit::{
    self, Break, Chain, Head, HeadSeal, KeyRing, Problem, Record, SealKey,
};
use touchbase_core::{Actor, Permission};

use crate::{OpError, Store, StoreError};

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only records about this point.
    pub point: Option<String>,
    /// Only records by this actor.
    pub actor: Option<String>,
    /// Only records at or after this instant (RFC 3339; a date means its 00:00 UTC).
    pub since: Option<jiff::Timestamp>,
}

/// The records that match, in order.
pub async fn log(
    store: &dyn Store,
    actor: &Actor,
    filter: &Filter,
) -> Result<Vec<Record>, OpError> {
    actor.require(Permission::Export)?;
    let subject = filter.point.as_ref().map(|p| format!("point {p}"));
    Ok(store
        .audit()
        .await?
        .into_iter()
        .filter(|r| {
            subject
                .as_ref()
                .is_none_or(|s| &r.subject == s || proposal_of(r, s))
        })
        .filter(|r| filter.actor.as_ref().is_none_or(|a| &r.actor == a))
        .filter(|r| {
            filter
                .since
                .is_none_or(|since| r.at.parse::<jiff::Timestamp>().is_ok_and(|at| at >= since))
        })
        .collect())
}

/// Whether a proposal record concerns the point of `subject` (`point KEY`).
fn proposal_of(record: &Record, subject: &str) -> bool {
    let key = &subject["point ".len()..];
    record.subject.starts_with("proposal ")
        && [&record.before, &record.after]
            .into_iter()
            .flatten()
            .any(|doc| doc.get("point").and_then(|p| p.as_str()) == Some(key))
}

/// How a store seals its trail: the organization's keys (none for a store opened without
/// one: its records are written unsealed, and [`verify`] says the trail is not keyed) and the
/// file where the writer keeps the chain's head, outside the database.
#[derive(Debug)]
pub struct Sealing {
    ring: Option<KeyRing>,
    head: Option<PathBuf>,
    /// One head write at a time in this process, so a later head is never overwritten by an
    /// earlier one.
    writing: Mutex<()>,
}

/// The sealing of a store opened without keys.
pub static UNSEALED: Sealing = Sealing {
    ring: None,
    head: None,
    writing: Mutex::new(()),
};

impl Sealing {
    pub fn new(ring: Option<KeyRing>, head: Option<PathBuf>) -> Sealing {
        Sealing {
            ring,
            head,
            writing: Mutex::new(()),
        }
    }

    pub fn ring(&self) -> Option<&KeyRing> {
        self.ring.as_ref()
    }

    /// The key new records are sealed with.
    pub fn key(&self) -> Option<&SealKey> {
        self.ring.as_ref().map(KeyRing::current)
    }

    /// The head file, when this writer keeps one.
    pub fn head(&self) -> Option<&Path> {
        self.head.as_deref()
    }

    /// Seals the record `seq` after `prev` with the current key, refusing to continue a sealed
    /// trail without its key: `last_key` is the key id of the trail's last record. A store
    /// calls this inside its write transaction.
    pub fn seal(
        &self,
        seq: u64,
        prev: &str,
        entry: &audit::Entry,
        last_key: Option<&str>,
    ) -> Result<Record, StoreError> {
        if let Some(id) = last_key {
            let refused = |why: String| {
                StoreError::backend(
                    "sealing the audit trail",
                    format!(
                        "the trail is sealed with the organization key (key {id}) and {why}: give the \
                         store's key (--key-file FILE or TOUCHBASE_KEY; after `touchbase key rotate`, \
                         the file that keeps the old key as `retired`)"
                    ),
                )
            };
            match &self.ring {
                None => return Err(refused("this process has no key".to_owned())),
                Some(ring) if ring.find(id).is_none() => {
                    return Err(refused(
                        "the key given is another one (neither current nor retired)".to_owned(),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(audit::seal(seq, prev, entry, self.key()))
    }

    /// After a write committed `last` (its last record), writes the head file, unless it
    /// already names a later record (another process wrote since). A head that cannot be
    /// written is logged: the write itself has been committed, and the head then lags, which
    /// `verify` accepts.
    pub fn committed(&self, last: &Record) {
        let Some(path) = &self.head else {
            return;
        };
        let _one = self
            .writing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(Some(head)) = read_head(path)
            && head.seq >= last.seq
        {
            return;
        }
        let head = Head::of(last, crate::now(), self.key());
        if let Err(e) = write_head(path, &head) {
            tracing::warn!(
                "the audit trail's head file {} could not be written ({e}); record {} is \
                 committed, and the head lags behind it",
                path.display(),
                last.seq
            );
        }
    }
}

/// Reads a head file: `None` when there is none.
pub fn read_head(path: &Path) -> Result<Option<Head>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("the head file {} cannot be read: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "the head file {} cannot be read: {e}",
            path.display()
        )),
    }
}

/// Writes a head file whole or not at all: a file beside it, synced, renamed over it.
pub fn write_head(path: &Path, head: &Head) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut file = std::fs::File::create(&tmp)?;
    let text = serde_json::to_string(head).map_err(std::io::Error::other)?;
    writeln!(file, "{text}")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// What `audit verify` checked and found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    /// No problem found.
    pub intact: bool,
    /// Records checked: numbering, hashes and links.
    pub records: u64,
    /// Records carrying a seal (the others were written before sealing, or without a key).
    pub sealed_records: u64,
    /// Seals checked against the organization key (0 when no key was given).
    pub seals_checked: u64,
    /// The id of the key that seals new records (none: the store was opened without a key).
    pub key: Option<String>,
    pub head: HeadReport,
    /// Stored entities compared with what the trail's records say they are.
    pub entities_replayed: u64,
    /// The first problem.
    pub problem: Option<Problem>,
    /// Every problem found: the chain's first break, the head's, and each entity that differs.
    pub problems: Vec<Problem>,
    /// What could not be checked, and why.
    pub warnings: Vec<String>,
    /// The first problem as a sentence.
    pub broken: Option<String>,
}

/// What was checked against the head file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AuditHead))]
pub struct HeadReport {
    /// The head file (none: this store keeps none; give --audit-head for PostgreSQL).
    pub file: Option<String>,
    /// Whether it was there.
    pub found: bool,
    /// The record it names.
    pub seq: Option<u64>,
    /// Its seal checked against the organization key.
    pub sealed: bool,
}

/// Checks the whole trail against the store's keys, its head file, and the stored entities.
pub async fn verify(store: &dyn Store, actor: &Actor) -> Result<Verification, OpError> {
    actor.require(Permission::Export)?;
    let sealing = store.sealing();
    let ring = sealing.ring();
    let records = store.audit().await?;
    let entities = store.entities().await?.value;
    let mut problems: Vec<Break> = Vec::new();
    let mut warnings = Vec::new();

    let chain = audit::verify(&records, ring).unwrap_or_else(|b| {
        problems.push(b);
        Chain::default()
    });
    let sealed_records = records.iter().filter(|r| r.seal.is_some()).count() as u64;
    if ring.is_none() {
        warnings.push(if sealed_records > 0 {
            format!(
                "{sealed_records} sealed records not checked: no organization key was given \
                 (--key-file FILE or TOUCHBASE_KEY)"
            )
        } else {
            "the trail is not keyed: its records carry no seal, so someone who can write the \
             database could rewrite it unnoticed; open the store with the organization key"
                .to_owned()
        });
    } else if sealed_records == 0 && !records.is_empty() {
        warnings.push(
            "the trail is not keyed yet: its records were written before sealing (or without the \
             key); the next write seals it, and vouches for every record before"
                .to_owned(),
        );
    } else if let Some(first) = chain.first_sealed
        && first > 1
    {
        warnings.push(format!(
            "records 1 to {} carry no seal (written before sealing): the first sealed record, \
             {first}, vouches for them",
            first - 1
        ));
    }

    let mut head = HeadReport {
        file: sealing.head().map(|p| p.display().to_string()),
        found: false,
        seq: None,
        sealed: false,
    };
    match sealing.head() {
        None => warnings.push(
            "no head file: removal of the last records cannot be detected (give --audit-head FILE \
             or TOUCHBASE_AUDIT_HEAD)"
                .to_owned(),
        ),
        Some(path) => match read_head(path) {
            Err(why) => problems.push(Break::HeadForged { why }),
            Ok(None) if sealed_records > 0 => problems.push(Break::HeadMissing {
                why: format!(
                    "the trail's head file {} is missing: the last records may have been removed \
                     with it; if the store was moved without it, check the trail's end and \
                     `touchbase audit anchor` writes a new one",
                    path.display()
                ),
            }),
            Ok(None) => warnings.push(format!(
                "no head file at {} yet: the next write makes it",
                path.display()
            )),
            Ok(Some(found)) => {
                head.found = true;
                head.seq = Some(found.seq);
                match found.check(&records, ring) {
                    Ok(HeadSeal::Checked) => head.sealed = true,
                    Ok(HeadSeal::NotChecked) => {}
                    Ok(HeadSeal::Unsealed) => warnings.push(
                        "the head file is not sealed (written without a key): it tells of \
                         removed records, but anyone could have written it"
                            .to_owned(),
                    ),
                    Err(b) => problems.push(b),
                }
            }
        },
    }

    let (entities_replayed, differences) = audit::replay(&records, &entities);
    problems.extend(differences);
    let problems: Vec<Problem> = problems.iter().map(Break::problem).collect();
    Ok(Verification {
        intact: problems.is_empty(),
        records: records.len() as u64,
        sealed_records,
        seals_checked: chain.checked,
        key: sealing.key().map(|k| k.id().to_owned()),
        head,
        entities_replayed,
        problem: problems.first().cloned(),
        broken: problems.first().map(|p| p.message.clone()),
        problems,
        warnings,
    })
}

/// Appends a record that changes nothing (`audit.anchor`), sealed, so a trail written before
/// sealing is vouched for from here on and its head file is written again.
pub async fn anchor(store: &dyn Store, actor: &Actor) -> Result<u64, OpError> {
    actor.require(Permission::Administer)?;
    let records = store.audit().await?;
    note(
        store,
        actor,
        "audit.anchor",
        "audit",
        serde_json::json!({ "records": records.len(), "key": store.sealing().key().map(|k| k.id().to_owned()) }),
    )
    .await?;
    Ok(records.len() as u64 + 1)
}

/// Records an action that changes no entity (a replay of deliveries) on the audit trail, with
/// `detail` as its `after`.
pub async fn note(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), OpError> {
    let entry = audit::Entry {
        at: crate::now(),
        actor: actor.name.clone(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        before: None,
        after: Some(detail),
    };
    for _ in 0..5 {
        let version = store.version().await?;
        match store
            .apply(version, &[], std::slice::from_ref(&entry), &[])
            .await
        {
            Err(e) if e.is_conflict() => continue,
            other => return other.map(|_| ()).map_err(OpError::from),
        }
    }
    Err(OpError::Store(crate::StoreError::Conflict(
        "the store kept changing under this write; try again".to_owned(),
    )))
}
