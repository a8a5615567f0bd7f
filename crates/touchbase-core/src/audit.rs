//! The audit trail (R7): an append-only list of records — who, when, what, before → after —
//! each sealed with the SHA-256 of its content and of the record before it, so that altering,
//! inserting or removing a record breaks the chain at that record.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::access::hex;

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
    /// The entity before the action (null when it created the entity).
    #[cfg_attr(feature = "openapi", schema(schema_with = entity_document))]
    pub before: Option<Value>,
    /// The entity after the action (null when it removed the entity), or what an action that
    /// changes no entity did.
    #[cfg_attr(feature = "openapi", schema(schema_with = entity_document))]
    pub after: Option<Value>,
    /// The hash of the record before (or [`GENESIS`]).
    pub prev: String,
    /// SHA-256 of this record's content and `prev`.
    pub hash: String,
}

/// The schema of a record's `before` and `after`: an entity's document as stored (an object), a
/// business function's name (a string, the whole of a function's document), or null.
#[cfg(feature = "openapi")]
fn entity_document() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![
            Type::Object,
            Type::String,
            Type::Null,
        ]))
        .description(Some(
            "The entity's document as stored: an object, or for a business function its name",
        ))
        .build()
}

/// Seals `entry` as record `seq` after the record whose hash is `prev`.
pub fn seal(seq: u64, prev: &str, entry: &Entry) -> Record {
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
    };
    record.hash = content_hash(&record);
    record
}

/// The hash a record must have: over every field but `hash`, as canonical JSON (keys sorted).
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

/// Where the chain breaks.
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
}

/// Checks a whole trail, in order. `Ok` holds the number of records checked.
pub fn verify(records: &[Record]) -> Result<u64, Break> {
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    for record in records {
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
        prev = record.hash.clone();
        expected_seq += 1;
    }
    Ok(expected_seq - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(n: u64) -> Vec<Record> {
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
                let record = seal(seq, &prev, &entry);
                prev = record.hash.clone();
                record
            })
            .collect()
    }

    #[test]
    fn an_intact_trail_verifies() {
        assert_eq!(verify(&trail(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let mut altered = trail(5);
        altered[2].actor = "mallory".into();
        assert_eq!(verify(&altered), Err(Break::Altered { seq: 3 }));

        let mut removed = trail(5);
        removed.remove(3);
        assert_eq!(
            verify(&removed),
            Err(Break::Removed {
                after: 3,
                found: 5,
                missing: 4
            })
        );

        let mut head = trail(3);
        head.remove(0);
        assert_eq!(verify(&head), Err(Break::HeadRemoved { seq: 2 }));

        // A record rewritten with a fresh hash of its own still breaks the next link.
        let mut resealed = trail(4);
        resealed[1].after = Some(json!({ "cost": 99 }));
        resealed[1].hash = content_hash(&resealed[1]);
        assert_eq!(verify(&resealed), Err(Break::Inserted { seq: 3 }));
    }
}
