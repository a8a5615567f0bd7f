//! The audit trail against someone who can write the database (R7): each kind of tampering,
//! done behind the store's back as the owner of the file or a database superuser would (the
//! append-only triggers dropped first), is named by `audit::verify`.

use touchbase_core::Kind;
use touchbase_core::audit::{self, KeyRing, Record};
use touchbase_core::endpoint::Keys;
use touchbase_core::governance::ProposalStatus;

use super::{Backend, SMALL, Tamper, add_users, admin, baseline, parse, proposed_point, user};
use crate::audit::{Verification, verify};
use crate::{Store, inventory};

fn ring(byte: u8) -> KeyRing {
    KeyRing::new(&Keys::from_bytes([byte; 32]), &[])
}

/// A store with every kind of entity a trail speaks of: the inventory, users, their tokens,
/// and a proposal (olga's new point).
async fn populate(store: &dyn Store) {
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let olga = user("olga", touchbase_core::Role::Owner, &["ecommerce"]);
    inventory::add_point(store, &olga, proposed_point("app.order"))
        .await
        .unwrap();
}

async fn verified(store: &dyn Store) -> Verification {
    verify(store, &admin()).await.unwrap()
}

fn kinds(v: &Verification) -> Vec<&str> {
    v.problems.iter().map(|p| p.kind.as_str()).collect()
}

/// The key of the first stored entity of `kind`.
async fn key_of(store: &dyn Store, kind: Kind) -> String {
    store
        .entities()
        .await
        .unwrap()
        .value
        .iter()
        .find(|e| e.kind() == kind)
        .unwrap_or_else(|| panic!("no {} stored", kind.as_str()))
        .key()
}

pub async fn a_sealed_trail_verifies_with_its_head_and_state(backend: &dyn Backend) {
    let keys = ring(1);
    let store = backend.fresh_sealed(keys.clone()).await;
    populate(&*store).await;
    let records = store.audit().await.unwrap();
    let v = verified(&*store).await;
    assert!(v.intact, "{v:?}");
    let n = records.len() as u64;
    assert_eq!((v.records, v.sealed_records, v.seals_checked), (n, n, n));
    assert_eq!(v.key.as_deref(), Some(keys.current().id()));
    assert!(
        records
            .iter()
            .all(|r| r.key.as_deref() == Some(keys.current().id()))
    );
    assert_eq!(
        (v.head.found, v.head.seq, v.head.sealed),
        (true, Some(n), true)
    );
    let entities = store.entities().await.unwrap().value.len() as u64;
    assert_eq!(v.entities_replayed, entities);
    assert!(v.problems.is_empty() && v.warnings.is_empty(), "{v:?}");
}

pub async fn an_unkeyed_store_says_so(backend: &dyn Backend) {
    let store = backend.fresh().await;
    populate(&*store).await;
    let v = verified(&*store).await;
    // Nothing wrong can be shown, but it is not vouched for either: said, not passed silently.
    assert!(v.intact, "{v:?}");
    assert_eq!(
        (v.sealed_records, v.seals_checked, v.key.as_deref()),
        (0, 0, None)
    );
    assert!(
        v.warnings.iter().any(|w| w.contains("not keyed")),
        "{:?}",
        v.warnings
    );
    assert!(v.warnings.iter().any(|w| w.contains("no head file")));
}

pub async fn removing_the_last_records_is_caught_by_the_head(backend: &dyn Backend) {
    let store = backend.fresh_sealed(ring(1)).await;
    populate(&*store).await;
    let n = store.audit().await.unwrap().len() as u64;
    backend.tamper(0, Tamper::RemoveFrom { seq: n - 1 }).await;
    assert_eq!(store.audit().await.unwrap().len() as u64, n - 2);
    let v = verified(&*store).await;
    let problem = v.problem.expect("the removal is caught");
    assert_eq!(problem.kind, "truncated", "{problem:?}");
    assert_eq!(problem.seq, Some(n - 1));
}

/// Record 3 altered and the chain recomputed from there with plain SHA-256, its seals kept.
pub async fn a_recomputed_chain_is_caught_by_its_seals(backend: &dyn Backend) {
    let keys = ring(1);
    let store = backend.fresh_sealed(keys.clone()).await;
    populate(&*store).await;
    let mut records = store.audit().await.unwrap();
    records[2].actor = "mallory".into();
    recompute(&mut records, false);
    assert!(audit::verify(&records, None).is_ok(), "a whole chain again");
    backend.tamper(0, Tamper::Rewrite { records }).await;
    let v = verified(&*store).await;
    let problem = v.problem.expect("the rewrite is caught");
    assert_eq!(
        (problem.kind.as_str(), problem.seq),
        ("seal_mismatch", Some(3))
    );
}

/// The whole chain recomputed with plain SHA-256 and its seals dropped: a trail that looks
/// written before sealing existed, but for its head.
pub async fn a_rewritten_chain_is_caught_by_its_head(backend: &dyn Backend) {
    let store = backend.fresh_sealed(ring(1)).await;
    populate(&*store).await;
    let mut records = store.audit().await.unwrap();
    let n = records.len() as u64;
    records[2].actor = "mallory".into();
    recompute(&mut records, true);
    backend.tamper(0, Tamper::Rewrite { records }).await;
    let v = verified(&*store).await;
    let problem = v.problem.expect("the rewrite is caught");
    assert_eq!((problem.kind.as_str(), problem.seq), ("rewritten", Some(n)));
}

/// Every hash recomputed in order (the key is out of reach); `strip` drops the seals.
fn recompute(records: &mut [Record], strip: bool) {
    let mut prev = audit::GENESIS.to_owned();
    for r in records {
        r.prev = prev;
        r.hash = audit::content_hash(r);
        if strip {
            r.key = None;
            r.seal = None;
        }
        prev = r.hash.clone();
    }
}

pub async fn entities_edited_behind_the_stores_back_are_named(backend: &dyn Backend) {
    use serde_json::json;
    let edits = [
        (Kind::Point, "name", json!("Renamed in the table")),
        (
            Kind::Proposal,
            "status",
            serde_json::to_value(ProposalStatus::Approved).unwrap(),
        ),
        (Kind::User, "role", json!("admin")),
        // A name no user holds: every user has a token, so any real name could be the owner
        // of the token picked already, an edit that changes nothing.
        (Kind::Token, "user", json!("mallory")),
    ];
    for (n, (kind, field, value)) in edits.into_iter().enumerate() {
        let store = backend.fresh_sealed(ring(1)).await;
        populate(&*store).await;
        assert!(verified(&*store).await.intact);
        let key = key_of(&*store, kind).await;
        backend
            .tamper(
                n,
                Tamper::EditEntity {
                    kind,
                    key: key.clone(),
                    field: field.to_owned(),
                    value,
                },
            )
            .await;
        let v = verified(&*store).await;
        assert_eq!(kinds(&v), ["state_differs"], "{v:?}");
        let problem = v.problem.unwrap();
        assert_eq!(problem.subject, Some(format!("{} {key}", kind.as_str())));
        assert_eq!(problem.field.as_deref(), Some(field));
        assert_eq!(problem.change, Some(audit::StateChange::Edited));
    }
}

pub async fn entities_added_or_removed_behind_the_stores_back_are_named(backend: &dyn Backend) {
    let store = backend.fresh_sealed(ring(1)).await;
    populate(&*store).await;
    backend
        .tamper(
            0,
            Tamper::DeleteEntity {
                kind: Kind::Point,
                key: "web.order".into(),
            },
        )
        .await;
    let v = verified(&*store).await;
    let problem = v.problem.expect("the removal is caught");
    assert_eq!(problem.kind, "state_differs");
    assert_eq!(problem.subject.as_deref(), Some("point web.order"));
    assert_eq!(problem.change, Some(audit::StateChange::Removed));

    let store = backend.fresh_sealed(ring(1)).await;
    populate(&*store).await;
    let doc = serde_json::json!({
        "name": "mallory", "role": "admin", "created_at": "2026-01-01T00:00:00Z"
    });
    backend
        .tamper(
            1,
            Tamper::InsertEntity {
                kind: Kind::User,
                key: "mallory".into(),
                doc,
            },
        )
        .await;
    let v = verified(&*store).await;
    assert_eq!(kinds(&v), ["state_differs"], "{v:?}");
    let problem = v.problem.unwrap();
    assert_eq!(problem.subject.as_deref(), Some("user mallory"));
    assert_eq!(problem.change, Some(audit::StateChange::Inserted));
}

/// Several writers on one store, one of them keeping no head file: the head lags behind the
/// trail's end, which is fine. A writer without the key cannot continue a sealed trail.
pub async fn a_lagging_head_is_accepted_and_keyless_writers_refused(backend: &dyn Backend) {
    let keys = ring(1);
    let store = backend.fresh_sealed(keys.clone()).await;
    baseline(&*store, &parse(SMALL)).await;
    let at_head = store.audit().await.unwrap().len() as u64;
    let other = backend.reopen_sealed(0, Some(keys.clone()), false).await;
    add_users(&*other).await;
    let v = verified(&*store).await;
    assert!(v.intact, "{v:?}");
    assert!(v.records > at_head);
    assert_eq!(v.head.seq, Some(at_head));

    let keyless = backend.reopen_sealed(0, None, false).await;
    let err = crate::access::add_user(
        &*keyless,
        &admin(),
        "zed",
        touchbase_core::Role::Viewer,
        vec![],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("sealed with the organization key"), "{err}");
    let wrong = backend.reopen_sealed(0, Some(ring(9)), false).await;
    assert!(
        crate::access::add_user(
            &*wrong,
            &admin(),
            "zed",
            touchbase_core::Role::Viewer,
            vec![]
        )
        .await
        .is_err()
    );
    assert!(verified(&*store).await.intact);
}

pub async fn retired_keys_still_verify_after_rotation(backend: &dyn Backend) {
    let old = Keys::from_bytes([1; 32]);
    let new = Keys::from_bytes([2; 32]);
    let store = backend.fresh_sealed(KeyRing::new(&old, &[])).await;
    baseline(&*store, &parse(SMALL)).await;
    let rotated = KeyRing::new(&new, std::slice::from_ref(&old));
    let store = backend.reopen_sealed(0, Some(rotated.clone()), true).await;
    add_users(&*store).await;
    let records = store.audit().await.unwrap();
    assert_ne!(records[0].key, records.last().unwrap().key);
    let v = verified(&*store).await;
    assert!(v.intact, "{v:?}");
    assert_eq!(v.seals_checked, records.len() as u64);
    assert_eq!(v.key.as_deref(), Some(rotated.current().id()));
    // The retired key forgotten: what it sealed can no longer be vouched for.
    let forgotten = backend
        .reopen_sealed(0, Some(KeyRing::new(&new, &[])), true)
        .await;
    let v = verified(&*forgotten).await;
    assert_eq!(v.problem.map(|p| p.kind), Some("unknown_key".to_owned()));
}

/// A store written before sealing: its first sealed record vouches for the records before it.
pub async fn a_trail_from_before_sealing_is_sealed_by_the_next_write(backend: &dyn Backend) {
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let unsealed = store.audit().await.unwrap().len() as u64;
    let store = backend.reopen_sealed(0, Some(ring(1)), true).await;
    let v = verified(&*store).await;
    assert!(v.intact, "{v:?}");
    assert!(
        v.warnings.iter().any(|w| w.contains("not keyed yet")),
        "{v:?}"
    );
    add_users(&*store).await;
    let v = verified(&*store).await;
    assert!(v.intact, "{v:?}");
    assert_eq!(v.sealed_records, v.records - unsealed);
    assert!(
        v.warnings
            .iter()
            .any(|w| w.contains(&format!("records 1 to {unsealed} carry no seal"))),
        "{v:?}"
    );
    // An unsealed record altered and the chain recomputed: the first seal no longer matches.
    let mut records = store.audit().await.unwrap();
    records[0].actor = "mallory".into();
    recompute(&mut records, false);
    backend.tamper(0, Tamper::Rewrite { records }).await;
    let v = verified(&*store).await;
    assert_eq!(
        v.problem.map(|p| (p.kind, p.seq)),
        Some(("seal_mismatch".to_owned(), Some(unsealed + 1)))
    );
}
