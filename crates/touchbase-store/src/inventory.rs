//! The inventory's operations, written once over any [`Store`]: read it, import a file (or plan
//! the import), add, edit and retire points. Every write loads the inventory, changes a copy,
//! checks the whole result against the rules of `touchbase-core`, and applies the difference at
//! the version it read — so no write can leave the inventory broken, and a concurrent write is
//! retried on the fresh state rather than overwritten.

use touchbase_core::change::{self, Change};
use touchbase_core::{Inventory, Organization, Point, Status, Violations, validate};

use crate::{Store, StoreError, Versioned};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(
        "the store holds no inventory yet: run `touchbase init` or `touchbase inventory import FILE`"
    )]
    NotInitialized,
    #[error("the store already holds the inventory of {0}")]
    AlreadyInitialized(String),
    #[error("no point `{0}`: `touchbase point list` shows the points there are")]
    PointNotFound(String),
    #[error("a point `{0}` exists already: edit it instead")]
    PointExists(String),
    #[error(transparent)]
    Invalid(#[from] Violations),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often a write is retried when another write got in first.
const ATTEMPTS: usize = 5;

/// The inventory and its version, or `None` for a store never initialized.
pub async fn load(store: &dyn Store) -> Result<Option<Versioned<Inventory>>, StoreError> {
    let Versioned { version, value } = store.entities().await?;
    Ok(change::assemble(value).map(|value| Versioned { version, value }))
}

/// The inventory, or [`InventoryError::NotInitialized`].
pub async fn get(store: &dyn Store) -> Result<Versioned<Inventory>, InventoryError> {
    load(store).await?.ok_or(InventoryError::NotInitialized)
}

/// Creates the inventory of a new organization: its default functions and nothing else.
pub async fn init(
    store: &dyn Store,
    organization: Organization,
) -> Result<Inventory, InventoryError> {
    if let Some(existing) = load(store).await? {
        return Err(InventoryError::AlreadyInitialized(
            existing.value.organization.name,
        ));
    }
    let inventory = Inventory::new(organization);
    validate::check(&inventory)?;
    let changes = change::diff(None, &inventory);
    store.apply(0, &changes).await?;
    Ok(inventory)
}

/// What importing `file` would change, without changing anything.
pub async fn plan_import(
    store: &dyn Store,
    file: &Inventory,
) -> Result<Vec<Change>, InventoryError> {
    let current = load(store).await?;
    Ok(change::diff(current.as_ref().map(|c| &c.value), file))
}

/// Makes the stored inventory equal to `file` (already parsed and checked): entities in the
/// file are added or changed, entities not in it are removed. Returns what changed.
pub async fn import(store: &dyn Store, file: &Inventory) -> Result<Vec<Change>, InventoryError> {
    validate::check(file)?;
    for _ in 0..ATTEMPTS {
        let current = load(store).await?;
        let version = current.as_ref().map_or(0, |c| c.version);
        let changes = change::diff(current.as_ref().map(|c| &c.value), file);
        if changes.is_empty() {
            return Ok(changes);
        }
        match store.apply(version, &changes).await {
            Ok(_) => return Ok(changes),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(contended())
}

/// Applies `edit` to a copy of the inventory, checks the result and writes the difference.
/// Returns what changed.
pub async fn update<F>(store: &dyn Store, mut edit: F) -> Result<Vec<Change>, InventoryError>
where
    F: FnMut(&mut Inventory) -> Result<(), InventoryError>,
{
    for _ in 0..ATTEMPTS {
        let current = get(store).await?;
        let mut next = current.value.clone();
        edit(&mut next)?;
        let next = next.normalized();
        validate::check(&next)?;
        let changes = change::diff(Some(&current.value), &next);
        if changes.is_empty() {
            return Ok(changes);
        }
        match store.apply(current.version, &changes).await {
            Ok(_) => return Ok(changes),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(contended())
}

fn contended() -> InventoryError {
    InventoryError::Store(StoreError::Conflict(format!(
        "the inventory kept changing under this write ({ATTEMPTS} attempts); try again"
    )))
}

/// Adds a new point.
pub async fn add_point(store: &dyn Store, point: Point) -> Result<Vec<Change>, InventoryError> {
    update(store, |inventory| {
        if inventory.point(&point.key).is_some() {
            return Err(InventoryError::PointExists(point.key.clone()));
        }
        inventory.points.push(point.clone());
        Ok(())
    })
    .await
}

/// Replaces a point's definition; `point.key` names the point.
pub async fn put_point(store: &dyn Store, point: Point) -> Result<Vec<Change>, InventoryError> {
    update(store, |inventory| {
        let slot = point_mut(inventory, &point.key)?;
        *slot = point.clone();
        Ok(())
    })
    .await
}

/// Retires a point: it stays in the inventory, with its history, but is no longer live.
pub async fn retire_point(store: &dyn Store, key: &str) -> Result<Vec<Change>, InventoryError> {
    update(store, |inventory| {
        point_mut(inventory, key)?.status = Status::Retired;
        Ok(())
    })
    .await
}

/// The point `key` of an inventory being edited.
pub fn point_mut<'a>(
    inventory: &'a mut Inventory,
    key: &str,
) -> Result<&'a mut Point, InventoryError> {
    inventory
        .points
        .iter_mut()
        .find(|p| p.key == key)
        .ok_or_else(|| InventoryError::PointNotFound(key.to_owned()))
}
