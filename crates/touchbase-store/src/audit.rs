//! Reading and verifying the audit trail (R7).

use touchbase_core::audit::{self, Break, Record};
use touchbase_core::{Actor, Permission};

use crate::{OpError, Store};

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

/// Checks the whole chain: `Ok` with the number of records, or the first break.
pub async fn verify(store: &dyn Store, actor: &Actor) -> Result<Result<u64, Break>, OpError> {
    actor.require(Permission::Export)?;
    Ok(audit::verify(&store.audit().await?))
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
