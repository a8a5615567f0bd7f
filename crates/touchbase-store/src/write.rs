//! The one way every operation writes: load the state and its version, change a copy, check
//! the inventory's rules, diff, and apply the difference with its audit entries at the version
//! read — retried on fresh state when another write got in first.

use touchbase_core::audit::Entry;
use touchbase_core::change::{self, Change, State};
use touchbase_core::{Actor, validate};

use crate::error::OpError;
use crate::{Store, StoreError, Versioned};

/// How often a write is retried when another write got in first.
const ATTEMPTS: usize = 5;

/// The current instant, as the audit trail and proposals record it (RFC 3339, UTC).
pub fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// The whole state and its version.
pub async fn load(store: &dyn Store) -> Result<Versioned<State>, StoreError> {
    let Versioned { version, value } = store.entities().await?;
    Ok(Versioned {
        version,
        value: change::assemble(value),
    })
}

/// Applies `edit` to a copy of the state, checks the inventory, and writes the difference with
/// one audit entry per entity changed, under `action` and `actor`. Returns what changed.
pub async fn update<F>(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    mut edit: F,
) -> Result<Vec<Change>, OpError>
where
    F: FnMut(&mut State, &str) -> Result<(), OpError>,
{
    for _ in 0..ATTEMPTS {
        let current = load(store).await?;
        let mut next = current.value.clone();
        let now = now();
        edit(&mut next, &now)?;
        if let Some(inventory) = next.inventory.take() {
            let mut inventory = inventory.normalized();
            if let Some(before) = &current.value.inventory {
                touchbase_core::voice::survey::bump_versions(
                    &before.surveys,
                    &mut inventory.surveys,
                );
            }
            validate::check(&inventory)?;
            next.inventory = Some(inventory);
        }
        let feed = next.feed_violations();
        if !feed.is_empty() {
            return Err(touchbase_core::Violations(feed).into());
        }
        let changes = change::diff_states(&current.value, &next);
        if changes.is_empty() {
            return Ok(changes);
        }
        let audit: Vec<Entry> = changes
            .iter()
            .map(|c| entry(&current.value, c, actor, action, &now))
            .collect();
        // The instant the audit trail records, so a dry run over the trail finds the same
        // firings.
        let now_us = now
            .parse::<jiff::Timestamp>()
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .as_microsecond();
        let outbox =
            touchbase_core::rules::lifecycle_firings(&current.value, &next, &changes, now_us);
        match store
            .apply(current.version, &changes, &audit, &outbox)
            .await
        {
            Ok(_) => return Ok(changes),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OpError::Store(StoreError::Conflict(format!(
        "the store kept changing under this write ({ATTEMPTS} attempts); try again"
    ))))
}

fn entry(before: &State, change: &Change, actor: &Actor, action: &str, now: &str) -> Entry {
    let old = change::state_entities(before)
        .into_iter()
        .find(|e| e.kind() == change.kind && e.key() == change.key)
        .map(|e| e.to_doc());
    let subject = if change.key.is_empty() {
        change.kind.as_str().to_owned()
    } else {
        format!("{} {}", change.kind.as_str(), change.key)
    };
    Entry {
        at: now.to_owned(),
        actor: actor.name.clone(),
        action: action.to_owned(),
        subject,
        before: old,
        after: change.after.as_ref().map(|e| e.to_doc()),
    }
}
