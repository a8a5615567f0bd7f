//! The inventory's operations over any [`Store`]: read it, import a file (or plan the import),
//! add, edit and retire points. Every write goes through [`crate::update`] (so it is checked,
//! audited and safe against concurrent writes) and through the sign-off rules of
//! [`touchbase_core::governance`] (so no point goes live, and no live point changes materially,
//! without the executives' approval).

use std::collections::BTreeSet;

use touchbase_core::change::{self, Change, State};
use touchbase_core::governance::{self, Mode, Write};
use touchbase_core::{Actor, Inventory, Organization, Permission, Point, Status};

use crate::{OpError, Store, StoreError, Versioned, update};

pub use crate::error::OpError as InventoryError;

/// The inventory and its version, or `None` for a store never initialized.
pub async fn load(store: &dyn Store) -> Result<Option<Versioned<Inventory>>, StoreError> {
    let Versioned { version, value } = crate::load(store).await?;
    Ok(value.inventory.map(|value| Versioned { version, value }))
}

/// The inventory, or [`OpError::NotInitialized`].
pub async fn get(store: &dyn Store) -> Result<Versioned<Inventory>, OpError> {
    load(store).await?.ok_or(OpError::NotInitialized)
}

/// Creates the inventory of a new organization: its default functions and nothing else.
pub async fn init(
    store: &dyn Store,
    actor: &Actor,
    organization: Organization,
) -> Result<Inventory, OpError> {
    actor.require(Permission::Administer)?;
    let inventory = Inventory::new(organization);
    update(store, actor, "inventory.init", |state, _| {
        match &state.inventory {
            Some(existing) => Err(OpError::AlreadyInitialized(
                existing.organization.name.clone(),
            )),
            None => {
                state.inventory = Some(inventory.clone());
                Ok(())
            }
        }
    })
    .await?;
    Ok(inventory)
}

/// How an import treats points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// Sign-off applies: new points enter as proposals, material changes to live points wait.
    Normal,
    /// The inventory of existing points (seed 000): points the store has never seen are recorded
    /// as the file has them — at once on the store's first import, later as one proposal for
    /// the whole batch, signed off as any (R6). Admins only.
    Baseline,
}

/// What importing `file` would change, without changing anything: the entities changed and the
/// proposals it would open.
pub async fn plan_import(
    store: &dyn Store,
    actor: &Actor,
    file: &Inventory,
    mode: ImportMode,
) -> Result<Vec<Change>, OpError> {
    actor.require(Permission::Administer)?;
    let current = crate::load(store).await?.value;
    let mut next = current.clone();
    let history = history(store, mode).await?;
    apply_inventory(
        &mut next,
        actor,
        file.clone(),
        mode,
        &history,
        &crate::now(),
    )?;
    Ok(change::diff_states(&current, &next))
}

/// Makes the stored inventory equal to `file` (already parsed and checked), under the rules of
/// sign-off. Returns what changed, proposals opened included.
pub async fn import(
    store: &dyn Store,
    actor: &Actor,
    file: &Inventory,
    mode: ImportMode,
) -> Result<Vec<Change>, OpError> {
    actor.require(Permission::Administer)?;
    let history = history(store, mode).await?;
    let action = match mode {
        ImportMode::Normal => "inventory.import",
        ImportMode::Baseline => "inventory.baseline",
    };
    let changes = update(store, actor, action, |state, now| {
        apply_inventory(state, actor, file.clone(), mode, &history, now)
    })
    .await?;
    // Points the file takes live count the interactions held for them (R8).
    crate::ingest::release_live(store).await?;
    Ok(changes)
}

/// What a baseline needs to know of the store's past, from the audit trail.
#[derive(Debug, Default)]
struct History {
    /// The point keys ever recorded.
    seen: BTreeSet<String>,
    /// Whether an import (plain or baseline) was ever recorded.
    imported: bool,
}

/// The store's history; only a baseline needs it.
async fn history(store: &dyn Store, mode: ImportMode) -> Result<History, StoreError> {
    let mut history = History::default();
    if mode == ImportMode::Normal {
        return Ok(history);
    }
    for record in store.audit().await? {
        if let Some(key) = record.subject.strip_prefix("point ") {
            history.seen.insert(key.to_owned());
        }
        history.imported |= matches!(
            record.action.as_str(),
            "inventory.import" | "inventory.baseline"
        );
    }
    Ok(history)
}

/// Puts `wanted` in place of the state's inventory as far as sign-off allows, and records the
/// proposals it opens.
fn apply_inventory(
    state: &mut State,
    actor: &Actor,
    wanted: Inventory,
    mode: ImportMode,
    history: &History,
    now: &str,
) -> Result<(), OpError> {
    let wanted = wanted.normalized();
    touchbase_core::validate::check(&wanted)?;
    let before = state
        .inventory
        .clone()
        .unwrap_or_else(|| Inventory::new(wanted.organization.clone()));
    let write = Write {
        actor,
        mode: match mode {
            ImportMode::Normal => Mode::Normal,
            ImportMode::Baseline => Mode::Baseline,
        },
        seen: &history.seen,
        proposals: &state.proposals,
        // The first import: none recorded, and nothing on record yet that one would have made
        // (checked on the state this write applies to, so two first imports at once are not
        // both first).
        first_import: !history.imported
            && history.seen.is_empty()
            && before.points.is_empty()
            && state.proposals.is_empty(),
        now,
    };
    let governed = governance::govern(&before, wanted, &write)?;
    state.proposals.extend(governed.proposals);
    governance::reconcile(&governed.inventory, &mut state.proposals);
    state.inventory = Some(governed.inventory);
    Ok(())
}

/// Changes the inventory with `edit`, under the rules of sign-off, as `actor`.
pub async fn edit<F>(
    store: &dyn Store,
    actor: &Actor,
    action: &str,
    mut edit: F,
) -> Result<Vec<Change>, OpError>
where
    F: FnMut(&mut Inventory) -> Result<(), OpError>,
{
    actor.require(Permission::Propose)?;
    update(store, actor, action, |state, now| {
        let mut wanted = state.inventory.clone().ok_or(OpError::NotInitialized)?;
        edit(&mut wanted)?;
        apply_inventory(
            state,
            actor,
            wanted,
            ImportMode::Normal,
            &History::default(),
            now,
        )
    })
    .await
}

/// Adds a new point: it enters as a proposal (R6).
pub async fn add_point(
    store: &dyn Store,
    actor: &Actor,
    point: Point,
) -> Result<Vec<Change>, OpError> {
    edit(store, actor, "point.add", |inventory| {
        if inventory.point(&point.key).is_some() {
            return Err(OpError::PointExists(point.key.clone()));
        }
        inventory.points.push(point.clone());
        Ok(())
    })
    .await
}

/// Replaces a point's definition; `point.key` names the point. A material change to a live
/// point opens a change proposal instead of applying.
pub async fn put_point(
    store: &dyn Store,
    actor: &Actor,
    point: Point,
) -> Result<Vec<Change>, OpError> {
    edit(store, actor, "point.edit", |inventory| {
        *point_mut(inventory, &point.key)? = point.clone();
        Ok(())
    })
    .await
}

/// [`put_point`] only over a version of the point read before (one of `etags`, [`Point::etag`]):
/// refused with [`OpError::PointChanged`] when the stored point is another by now. The check
/// is made on the state the write applies to, so no edit lands over one made meanwhile.
pub async fn put_point_if(
    store: &dyn Store,
    actor: &Actor,
    point: Point,
    etags: &[&str],
) -> Result<Vec<Change>, OpError> {
    edit(store, actor, "point.edit", |inventory| {
        let current = point_mut(inventory, &point.key)?;
        let now = current.etag();
        if !etags.contains(&now.as_str()) {
            return Err(OpError::PointChanged {
                key: point.key.clone(),
                read: etags.join(", "),
                now,
            });
        }
        *current = point.clone();
        Ok(())
    })
    .await
}

/// Retires a point. A live point's retirement opens a proposal; any other point retires at once.
pub async fn retire_point(
    store: &dyn Store,
    actor: &Actor,
    key: &str,
) -> Result<Vec<Change>, OpError> {
    edit(store, actor, "point.retire", |inventory| {
        point_mut(inventory, key)?.status = Status::Retired;
        Ok(())
    })
    .await
}

/// Takes an approved point live (its owner, after sign-off).
pub async fn go_live(store: &dyn Store, actor: &Actor, key: &str) -> Result<Vec<Change>, OpError> {
    // The permission before anything else, whatever the point's state.
    actor.require(Permission::Propose)?;
    // Already live (a second call after a release that failed): just count what is held, for
    // the point's owner as for the first call.
    if let Some(point) = get(store).await?.value.point(key)
        && point.status == Status::Live
    {
        governance::require_owner(actor, point)?;
        store.release_held(key).await?;
        return Ok(Vec::new());
    }
    let changes = update(store, actor, "point.go-live", |state, _| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        point_mut(inventory, key)?;
        Ok(governance::go_live(inventory, key, actor)?)
    })
    .await?;
    // The interactions held while the point was not live now count (R8).
    store.release_held(key).await?;
    Ok(changes)
}

/// The point `key` of an inventory being edited.
pub fn point_mut<'a>(inventory: &'a mut Inventory, key: &str) -> Result<&'a mut Point, OpError> {
    inventory
        .points
        .iter_mut()
        .find(|p| p.key == key)
        .ok_or_else(|| OpError::PointNotFound(key.to_owned()))
}
