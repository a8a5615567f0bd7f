//! The audit trail (R7): an append-only list of records — who, when, what, before → after —
//! each chained to the record before it by the SHA-256 of its content and of the previous
//! hash, and **sealed** with an HMAC-SHA256 under a key derived from the organization key
//! ([`SealKey`]), which the database does not hold. So:
//! - altering, inserting or removing a record breaks the chain at that record ([`verify`]);
//! - recomputing the chain (plain SHA-256 is within anyone's reach) leaves seals that no longer
//!   match, or records without a seal after sealed ones;
//! - removing the last records is caught against the chain's [`Head`] (sequence and hash,
//!   sealed too), which the writer keeps outside the database;
//! - an entity edited, added or removed behind touchbase's back differs from what the trail's
//!   records say it is ([`replay`]).
//!
//! Records written before sealing existed (or by a store opened without a key) carry no seal:
//! they stay protected by the chain up to the first sealed record, and [`verify`] counts them.

use std::collections::BTreeMap;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::access::hex;
use crate::change::{Entity, Kind};
use crate::endpoint::Keys;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a write records, before the store numbers and seals it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: String,
    pub actor: String,
    /// The operation: `inventory.import`, `point.edit`, `proposal.approve`, `token.issue`, …
    pub action: String,
    /// The entity written: `point store.checkout`, `proposal 3`, `user ana`, …
    pub subject: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A sealed record as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Record {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
    /// The hash of the record before (or [`GENESIS`]).
    pub prev: String,
    /// SHA-256 of this record's content and `prev`.
    pub hash: String,
    /// The id of the key the record is sealed with (absent on a record written without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// HMAC-SHA256 of `hash` under that key, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

type HmacSha256 = Hmac<Sha256>;

/// The key one generation of the organization key seals audit records and heads with.
#[derive(Clone)]
pub struct SealKey {
    id: String,
    secret: [u8; 32],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey({})", self.id)
    }
}

impl SealKey {
    /// The audit seal of an organization key. Its id (16 hex digits, derived too) names it on
    /// every record it seals, without revealing it.
    pub fn of(keys: &Keys) -> SealKey {
        SealKey {
            id: hex(&keys.derive("audit/id")[..8]),
            secret: keys.derive("audit/seal"),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        for p in parts {
            mac.update(p);
        }
        hex(&mac.finalize().into_bytes())
    }

    fn record_seal(&self, hash: &str) -> String {
        self.mac(&[b"touchbase/audit/record\n", hash.as_bytes()])
    }

    fn head_seal(&self, seq: u64, hash: &str) -> String {
        self.mac(&[
            b"touchbase/audit/head\n",
            seq.to_string().as_bytes(),
            b"\n",
            hash.as_bytes(),
        ])
    }
}

/// The keys a trail is checked with: the current one (which seals from now on) and the
/// retired ones (kept after a rotation to check what they sealed).
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: SealKey,
    retired: Vec<SealKey>,
}

impl KeyRing {
    pub fn new(current: &Keys, retired: &[Keys]) -> KeyRing {
        KeyRing {
            current: SealKey::of(current),
            retired: retired.iter().map(SealKey::of).collect(),
        }
    }

    /// The key that seals new records.
    pub fn current(&self) -> &SealKey {
        &self.current
    }

    /// The key of id `id`, current or retired.
    pub fn find(&self, id: &str) -> Option<&SealKey> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|k| k.id == id)
    }
}

/// Seals `entry` as record `seq` after the record whose hash is `prev`, with `key` when there
/// is one (a store opened without a key writes unsealed records, which [`verify`] reports).
pub fn seal(seq: u64, prev: &str, entry: &Entry, key: Option<&SealKey>) -> Record {
    let mut record = Record {
        seq,
        at: entry.at.clone(),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        subject: entry.subject.clone(),
        before: entry.before.clone(),
        after: entry.after.clone(),
        prev: prev.to_owned(),
        hash: String::new(),
        key: None,
        seal: None,
    };
    record.hash = content_hash(&record);
    if let Some(key) = key {
        record.key = Some(key.id.clone());
        record.seal = Some(key.record_seal(&record.hash));
    }
    record
}

/// The hash a record must have: over every field but `hash` and the seal, as canonical JSON
/// (keys sorted).
pub fn content_hash(record: &Record) -> String {
    let content = json!({
        "seq": record.seq,
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "subject": record.subject,
        "before": record.before,
        "after": record.after,
        "prev": record.prev,
    });
    hex(&Sha256::digest(content.to_string().as_bytes()))
}

/// What an entity found in the store has against the trail's account of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    /// Stored, but different from the trail's last record of it.
    Edited,
    /// Stored, but the trail never recorded it (or recorded its removal).
    Inserted,
    /// On the trail, but not stored.
    Removed,
}

/// The first thing wrong with a trail (or one thing wrong with the state it describes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("record {seq} was altered: its content no longer matches its hash")]
    Altered { seq: u64 },
    #[error("the trail jumps from record {after} to record {found}: record {missing} was removed")]
    Removed {
        after: u64,
        found: u64,
        missing: u64,
    },
    #[error(
        "record {seq} does not follow the record before it: a record was inserted or replaced there"
    )]
    Inserted { seq: u64 },
    #[error("the trail starts at record {seq}, not 1: the first records were removed")]
    HeadRemoved { seq: u64 },
    #[error(
        "record {seq}'s seal does not match its content under key {key}: the record was rewritten \
         (or the chain recomputed) by someone without the organization key"
    )]
    SealMismatch { seq: u64, key: String },
    #[error(
        "record {seq} carries no seal, though the trail is sealed before it: the chain was \
         recomputed without the organization key"
    )]
    Unsealed { seq: u64 },
    #[error(
        "record {seq} is sealed with key {key}, which the key file does not hold: give the key \
         file it was sealed under (after a rotation, keep the old key as `retired`)"
    )]
    UnknownKey { seq: u64, key: String },
    #[error(
        "the trail ends at record {end} but its head says record {head} was written: the last \
         records were removed"
    )]
    Truncated { end: u64, head: u64 },
    #[error(
        "record {seq} is not the record the head names (another hash): the trail was rewritten"
    )]
    Rewritten { seq: u64 },
    #[error("the head file's seal does not match: {why}")]
    HeadForged { why: String },
    #[error("{why}")]
    HeadMissing { why: String },
    #[error("{}", state_message(subject, field.as_deref(), *change))]
    StateDiffers {
        /// `point web.order`, `user ana`, `organization`.
        subject: String,
        change: StateChange,
        /// The first top-level field that differs (for an edited entity).
        field: Option<String>,
    },
}

fn state_message(subject: &str, field: Option<&str>, change: StateChange) -> String {
    match change {
        StateChange::Edited => format!(
            "{subject} differs from what the audit trail says it is{}: it was edited outside touchbase",
            field.map(|f| format!(" (field `{f}`)")).unwrap_or_default()
        ),
        StateChange::Inserted => format!(
            "{subject} is stored but the audit trail has no record of it: it was added outside touchbase"
        ),
        StateChange::Removed => format!(
            "{subject} is on the audit trail but no longer stored: it was removed outside touchbase"
        ),
    }
}

impl Break {
    /// The break's kind, as `audit verify --json` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Break::Altered { .. } => "altered",
            Break::Removed { .. } => "removed",
            Break::Inserted { .. } => "inserted",
            Break::HeadRemoved { .. } => "head_removed",
            Break::SealMismatch { .. } => "seal_mismatch",
            Break::Unsealed { .. } => "unsealed",
            Break::UnknownKey { .. } => "unknown_key",
            Break::Truncated { .. } => "truncated",
            Break::Rewritten { .. } => "rewritten",
            Break::HeadForged { .. } => "head_forged",
            Break::HeadMissing { .. } => "head_missing",
            Break::StateDiffers { .. } => "state_differs",
        }
    }

    /// The record where it breaks, when it is one record.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Break::Altered { seq }
            | Break::Inserted { seq }
            | Break::HeadRemoved { seq }
            | Break::SealMismatch { seq, .. }
            | Break::Unsealed { seq }
            | Break::UnknownKey { seq, .. }
            | Break::Rewritten { seq } => Some(*seq),
            Break::Removed { missing, .. } => Some(*missing),
            Break::Truncated { end, .. } => Some(end + 1),
            Break::HeadForged { .. } | Break::HeadMissing { .. } | Break::StateDiffers { .. } => {
                None
            }
        }
    }

    /// As `audit verify --json` reports it.
    pub fn problem(&self) -> Problem {
        let (subject, change, field) = match self {
            Break::StateDiffers {
                subject,
                change,
                field,
            } => (Some(subject.clone()), Some(*change), field.clone()),
            _ => (None, None, None),
        };
        Problem {
            kind: self.kind().to_owned(),
            seq: self.seq(),
            subject,
            change,
            field,
            message: self.to_string(),
        }
    }
}

/// One problem found, for people and programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AuditProblem))]
pub struct Problem {
    /// `altered`, `removed`, `inserted`, `head_removed`, `seal_mismatch`, `unsealed`,
    /// `unknown_key`, `truncated`, `rewritten`, `head_forged`, `head_missing`, `state_differs`.
    pub kind: String,
    /// The record concerned, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The entity concerned (`state_differs`): `point web.order`, `user ana`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<StateChange>,
    /// The first field that differs (an edited entity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// What [`verify`] found in an intact chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chain {
    pub records: u64,
    /// Records carrying a seal.
    pub sealed: u64,
    /// The first of them.
    pub first_sealed: Option<u64>,
    /// Seals checked against a key (0 without a [`KeyRing`]).
    pub checked: u64,
}

/// Checks a whole trail, in order: numbering, hashes, links and — with `ring` — seals. A
/// record without a seal after a sealed one is a break whatever the keys.
pub fn verify(records: &[Record], ring: Option<&KeyRing>) -> Result<Chain, Break> {
    let mut prev = GENESIS;
    let mut chain = Chain::default();
    for (expected_seq, record) in (1..).zip(records) {
        if record.seq != expected_seq {
            return Err(if expected_seq == 1 {
                Break::HeadRemoved { seq: record.seq }
            } else if record.seq > expected_seq {
                Break::Removed {
                    after: expected_seq - 1,
                    found: record.seq,
                    missing: expected_seq,
                }
            } else {
                Break::Inserted { seq: record.seq }
            });
        }
        if content_hash(record) != record.hash {
            return Err(Break::Altered { seq: record.seq });
        }
        if record.prev != prev {
            return Err(Break::Inserted { seq: record.seq });
        }
        match (&record.key, &record.seal) {
            (None, None) if chain.first_sealed.is_some() => {
                return Err(Break::Unsealed { seq: record.seq });
            }
            (None, None) => {}
            (Some(id), Some(seal)) => {
                if let Some(ring) = ring {
                    let key = ring.find(id).ok_or_else(|| Break::UnknownKey {
                        seq: record.seq,
                        key: id.clone(),
                    })?;
                    if key.record_seal(&record.hash) != *seal {
                        return Err(Break::SealMismatch {
                            seq: record.seq,
                            key: id.clone(),
                        });
                    }
                    chain.checked += 1;
                }
                chain.sealed += 1;
                chain.first_sealed.get_or_insert(record.seq);
            }
            // Half a seal is no seal.
            (key, _) => {
                return Err(Break::SealMismatch {
                    seq: record.seq,
                    key: key.clone().unwrap_or_else(|| "(none)".to_owned()),
                });
            }
        }
        prev = &record.hash;
        chain.records = record.seq;
    }
    Ok(chain)
}

/// The chain's head as the writer keeps it outside the database: the last record it wrote
/// (sequence and hash), sealed with the key it wrote with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    /// When it was written (RFC 3339).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

/// How far [`Head::check`] could vouch for the head itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadSeal {
    /// Its seal matches under a key of the ring.
    Checked,
    /// Sealed, but no key was given to check it with.
    NotChecked,
    /// Written without a key.
    Unsealed,
}

impl Head {
    /// The head after `record`, sealed with `key` when there is one.
    pub fn of(record: &Record, at: String, key: Option<&SealKey>) -> Head {
        Head {
            seq: record.seq,
            hash: record.hash.clone(),
            at,
            key: key.map(|k| k.id.clone()),
            seal: key.map(|k| k.head_seal(record.seq, &record.hash)),
        }
    }

    /// Checks the head against the trail (already [`verify`]-ed): its seal, then that the
    /// trail reaches it and holds the very record it names. A head behind the trail's end is
    /// fine (another writer without this head file wrote since).
    pub fn check(&self, records: &[Record], ring: Option<&KeyRing>) -> Result<HeadSeal, Break> {
        let sealed = match (&self.key, &self.seal, ring) {
            (None, None, _) => HeadSeal::Unsealed,
            (Some(_), Some(_), None) => HeadSeal::NotChecked,
            (Some(id), Some(seal), Some(ring)) => {
                let key = ring.find(id).ok_or_else(|| Break::HeadForged {
                    why: format!("it is sealed with key {id}, which the key file does not hold"),
                })?;
                if key.head_seal(self.seq, &self.hash) != *seal {
                    return Err(Break::HeadForged {
                        why: format!("its sequence ({}) or hash was changed", self.seq),
                    });
                }
                HeadSeal::Checked
            }
            _ => {
                return Err(Break::HeadForged {
                    why: "it carries half a seal".to_owned(),
                });
            }
        };
        let end = records.last().map_or(0, |r| r.seq);
        let Some(record) = records.iter().find(|r| r.seq == self.seq) else {
            return Err(Break::Truncated {
                end,
                head: self.seq,
            });
        };
        if record.hash != self.hash {
            return Err(Break::Rewritten { seq: self.seq });
        }
        // The writer of a sealed head sealed its record too.
        if sealed != HeadSeal::Unsealed && record.seal.is_none() {
            return Err(Break::Unsealed { seq: self.seq });
        }
        Ok(sealed)
    }
}

/// Folds the trail's records per subject (each entity's last `after`, or its removal) and
/// compares the result with the entities stored. Returns how many entities were compared and
/// every one that differs, in (kind, key) order. Records about other things (`deliveries`)
/// are not entities and are skipped.
pub fn replay(records: &[Record], stored: &[Entity]) -> (u64, Vec<Break>) {
    let mut trail: BTreeMap<(&'static str, String), Option<Value>> = BTreeMap::new();
    for record in records {
        let (kind, key) = record
            .subject
            .split_once(' ')
            .unwrap_or((record.subject.as_str(), ""));
        let Some(kind) = Kind::parse(kind) else {
            continue;
        };
        let doc = record.after.as_ref().map(|doc| normalized(kind, key, doc));
        trail.insert((kind.as_str(), key.to_owned()), doc);
    }
    let mut state: BTreeMap<(&'static str, String), Value> = stored
        .iter()
        .map(|e| ((e.kind().as_str(), e.key()), e.to_doc()))
        .collect();
    let compared = state.len() as u64;
    let mut differences = Vec::new();
    let subject = |kind: &str, key: &str| {
        if key.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind} {key}")
        }
    };
    for ((kind, key), recorded) in trail {
        let found = state.remove(&(kind, key.clone()));
        let change = match (recorded, found) {
            (None, None) => None,
            (Some(_), None) => Some((StateChange::Removed, None)),
            (None, Some(_)) => Some((StateChange::Inserted, None)),
            (Some(recorded), Some(found)) if recorded == found => None,
            (Some(recorded), Some(found)) => {
                Some((StateChange::Edited, first_difference(&recorded, &found)))
            }
        };
        if let Some((change, field)) = change {
            differences.push(Break::StateDiffers {
                subject: subject(kind, &key),
                change,
                field,
            });
        }
    }
    for (kind, key) in state.into_keys() {
        differences.push(Break::StateDiffers {
            subject: subject(kind, &key),
            change: StateChange::Inserted,
            field: None,
        });
    }
    differences.sort_by(|a, b| match (a, b) {
        (Break::StateDiffers { subject: a, .. }, Break::StateDiffers { subject: b, .. }) => {
            a.cmp(b)
        }
        _ => std::cmp::Ordering::Equal,
    });
    (compared, differences)
}

/// A document as the store would keep it today (a field added since it was recorded takes its
/// default), or as recorded when it no longer reads as its kind.
fn normalized(kind: Kind, key: &str, doc: &Value) -> Value {
    Entity::from_doc(kind, key, doc.clone())
        .map(|e| e.to_doc())
        .unwrap_or_else(|_| doc.clone())
}

/// The first top-level field (in key order) whose value differs.
fn first_difference(recorded: &Value, found: &Value) -> Option<String> {
    let (Value::Object(a), Value::Object(b)) = (recorded, found) else {
        return None;
    };
    let mut fields: Vec<&String> = a.keys().chain(b.keys()).collect();
    fields.sort();
    fields.dedup();
    fields.into_iter().find(|f| a.get(*f) != b.get(*f)).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(byte: u8) -> KeyRing {
        KeyRing::new(&Keys::from_bytes([byte; 32]), &[])
    }

    fn trail(n: u64, key: Option<&SealKey>) -> Vec<Record> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let entry = Entry {
                    at: format!("2026-01-0{seq}T00:00:00Z"),
                    actor: "ana".into(),
                    action: "point.edit".into(),
                    subject: "point a".into(),
                    before: Some(json!({ "cost": seq })),
                    after: Some(json!({ "cost": seq + 1 })),
                };
                let record = seal(seq, &prev, &entry, key);
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    /// Recomputes every hash from record `from` on with plain SHA-256, as someone who can
    /// write the database but has no key can; `strip` drops the seals too.
    fn recompute(records: &mut [Record], from: usize, strip: bool) {
        for i in from..records.len() {
            if i > 0 {
                records[i].prev = records[i - 1].hash.clone();
            }
            records[i].hash = content_hash(&records[i]);
            if strip {
                records[i].key = None;
                records[i].seal = None;
            }
        }
    }

    #[test]
    fn an_intact_trail_verifies() {
        let chain = verify(&trail(5, None), None).unwrap();
        assert_eq!((chain.records, chain.sealed), (5, 0));
        assert_eq!(verify(&[], None), Ok(Chain::default()));
        let keys = ring(1);
        let chain = verify(&trail(5, Some(keys.current())), Some(&keys)).unwrap();
        assert_eq!(
            (
                chain.records,
                chain.sealed,
                chain.checked,
                chain.first_sealed
            ),
            (5, 5, 5, Some(1))
        );
        // Without the key the seals are counted, not checked.
        let chain = verify(&trail(5, Some(keys.current())), None).unwrap();
        assert_eq!((chain.sealed, chain.checked), (5, 0));
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let mut altered = trail(5, None);
        altered[2].actor = "mallory".into();
        assert_eq!(verify(&altered, None), Err(Break::Altered { seq: 3 }));

        let mut removed = trail(5, None);
        removed.remove(3);
        assert_eq!(
            verify(&removed, None),
            Err(Break::Removed {
                after: 3,
                found: 5,
                missing: 4
            })
        );

        let mut head = trail(3, None);
        head.remove(0);
        assert_eq!(verify(&head, None), Err(Break::HeadRemoved { seq: 2 }));

        // A record rewritten with a fresh hash of its own still breaks the next link.
        let mut resealed = trail(4, None);
        resealed[1].after = Some(json!({ "cost": 99 }));
        resealed[1].hash = content_hash(&resealed[1]);
        assert_eq!(verify(&resealed, None), Err(Break::Inserted { seq: 3 }));
    }

    #[test]
    fn a_recomputed_chain_breaks_the_seals() {
        let keys = ring(1);
        let mut records = trail(5, Some(keys.current()));
        records[2].actor = "mallory".into();
        recompute(&mut records, 2, false);
        // Unsealed, the chain is whole again: only the seal tells.
        assert!(verify(&records, None).is_ok());
        assert_eq!(
            verify(&records, Some(&keys)),
            Err(Break::SealMismatch {
                seq: 3,
                key: keys.current().id().to_owned()
            })
        );
        // The seals dropped from the record rewritten on: unsealed after sealed ones.
        recompute(&mut records, 2, true);
        assert_eq!(verify(&records, None), Err(Break::Unsealed { seq: 3 }));
        // Sealed under a key not given.
        let other = ring(2);
        let records = trail(2, Some(other.current()));
        assert_eq!(
            verify(&records, Some(&keys)),
            Err(Break::UnknownKey {
                seq: 1,
                key: other.current().id().to_owned()
            })
        );
    }

    #[test]
    fn unsealed_records_before_the_first_sealed_one_are_the_migration() {
        let keys = ring(1);
        let mut records = trail(3, None);
        let entry = Entry {
            at: "2026-02-01T00:00:00Z".into(),
            actor: "ana".into(),
            action: "point.edit".into(),
            subject: "point a".into(),
            before: None,
            after: None,
        };
        let next = seal(4, &records[2].hash, &entry, Some(keys.current()));
        records.push(next);
        let chain = verify(&records, Some(&keys)).unwrap();
        assert_eq!(
            (chain.records, chain.sealed, chain.first_sealed),
            (4, 1, Some(4))
        );
        // The first sealed record vouches for the unsealed ones before it.
        records[0].actor = "mallory".into();
        recompute(&mut records, 0, false);
        records[3].key = Some(keys.current().id().to_owned());
        assert_eq!(
            verify(&records, Some(&keys)).unwrap_err().kind(),
            "seal_mismatch"
        );
    }

    #[test]
    fn retired_keys_still_verify_what_they_sealed() {
        let old = Keys::from_bytes([1; 32]);
        let new = Keys::from_bytes([2; 32]);
        let before = KeyRing::new(&old, &[]);
        let mut records = trail(2, Some(before.current()));
        let after = KeyRing::new(&new, std::slice::from_ref(&old));
        let entry = Entry {
            at: "2026-02-01T00:00:00Z".into(),
            actor: "ana".into(),
            action: "point.edit".into(),
            subject: "point a".into(),
            before: None,
            after: None,
        };
        records.push(seal(3, &records[1].hash, &entry, Some(after.current())));
        assert_ne!(records[0].key, records[2].key);
        assert_eq!(verify(&records, Some(&after)).unwrap().checked, 3);
        let head = Head::of(&records[2], "now".into(), Some(after.current()));
        assert_eq!(head.check(&records, Some(&after)), Ok(HeadSeal::Checked));
        // Without the retired key the old records cannot be vouched for.
        let forgotten = KeyRing::new(&new, &[]);
        assert_eq!(
            verify(&records, Some(&forgotten)).unwrap_err().kind(),
            "unknown_key"
        );
    }

    #[test]
    fn the_head_catches_removed_last_records_and_rewrites() {
        let keys = ring(1);
        let records = trail(5, Some(keys.current()));
        let head = Head::of(&records[4], "now".into(), Some(keys.current()));
        assert_eq!(head.check(&records, Some(&keys)), Ok(HeadSeal::Checked));
        assert_eq!(head.check(&records, None), Ok(HeadSeal::NotChecked));
        // The last two records removed: the chain alone is intact.
        assert!(verify(&records[..3], Some(&keys)).is_ok());
        assert_eq!(
            head.check(&records[..3], Some(&keys)),
            Err(Break::Truncated { end: 3, head: 5 })
        );
        // A head behind the trail's end (another writer kept no head) is fine …
        let behind = Head::of(&records[2], "now".into(), Some(keys.current()));
        assert_eq!(behind.check(&records, Some(&keys)), Ok(HeadSeal::Checked));
        // … as long as the record it names is still there as it was.
        let mut rewritten = records.clone();
        rewritten[2].actor = "mallory".into();
        recompute(&mut rewritten, 2, true);
        assert_eq!(
            behind.check(&rewritten, Some(&keys)),
            Err(Break::Rewritten { seq: 3 })
        );
        // Seals stripped, content unchanged: the head's record had one.
        let mut stripped = records.clone();
        for r in &mut stripped {
            r.key = None;
            r.seal = None;
        }
        assert!(verify(&stripped, Some(&keys)).is_ok());
        assert_eq!(
            head.check(&stripped, Some(&keys)),
            Err(Break::Unsealed { seq: 5 })
        );
        // A head moved back by hand does not match its seal.
        let mut forged = head.clone();
        forged.seq = 3;
        forged.hash = records[2].hash.clone();
        assert_eq!(
            forged.check(&records, Some(&keys)).unwrap_err().kind(),
            "head_forged"
        );
    }

    #[test]
    fn replay_names_entities_that_differ_from_the_trail() {
        use crate::access::{Role, User};
        let ana = User {
            name: "ana".into(),
            role: Role::Viewer,
            teams: Vec::new(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let doc = |u: &User| serde_json::to_value(u).unwrap();
        let entry = |subject: &str, after: Option<Value>| Entry {
            at: "2026-01-01T00:00:00Z".into(),
            actor: "local-admin".into(),
            action: "user.add".into(),
            subject: subject.into(),
            before: None,
            after,
        };
        let entries = [
            entry("user ana", Some(doc(&ana))),
            entry(
                "user bo",
                Some(doc(&User {
                    name: "bo".into(),
                    ..ana.clone()
                })),
            ),
            entry("user bo", None),
            entry("deliveries", Some(json!({ "replayed": 1 }))),
        ];
        let mut prev = GENESIS.to_owned();
        let records: Vec<Record> = (1..)
            .zip(&entries)
            .map(|(seq, e)| {
                let r = seal(seq, &prev, e, None);
                prev = r.hash.clone();
                r
            })
            .collect();
        let (compared, diffs) = replay(&records, &[Entity::User(ana.clone())]);
        assert_eq!((compared, diffs), (1, vec![]));

        let mut admin = ana.clone();
        admin.role = Role::Admin;
        let (_, diffs) = replay(&records, &[Entity::User(admin)]);
        assert_eq!(
            diffs,
            [Break::StateDiffers {
                subject: "user ana".into(),
                change: StateChange::Edited,
                field: Some("role".into())
            }]
        );
        let (_, diffs) = replay(&records, &[]);
        assert_eq!(diffs[0].problem().change, Some(StateChange::Removed));
        let bo = User {
            name: "bo".into(),
            ..ana.clone()
        };
        let (_, diffs) = replay(&records, &[Entity::User(ana), Entity::User(bo)]);
        assert_eq!(
            diffs,
            [Break::StateDiffers {
                subject: "user bo".into(),
                change: StateChange::Inserted,
                field: None
            }]
        );
    }
}
