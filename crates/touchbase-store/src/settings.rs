//! The organization's settings for the portfolio and journey rules (METRICS.md): read them and
//! change one, audited like every other change to the inventory.

use touchbase_core::portfolio::Settings;
use touchbase_core::{Actor, Permission};

use crate::{OpError, Store, update};

/// The organization's settings.
pub async fn get(store: &dyn Store) -> Result<Settings, OpError> {
    Ok(crate::inventory::get(store)
        .await?
        .value
        .organization
        .settings)
}

/// Sets the setting `name` (e.g. `portfolio.quality_threshold`) to `value`, as typed; admins
/// only. Returns the settings as they now are.
pub async fn set(
    store: &dyn Store,
    actor: &Actor,
    name: &str,
    value: &str,
) -> Result<Settings, OpError> {
    actor.require(Permission::Administer)?;
    let mut after = Settings::default();
    update(store, actor, "settings.set", |state, _| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        inventory.organization.settings.set(name, value)?;
        after = inventory.organization.settings;
        Ok(())
    })
    .await?;
    Ok(after)
}
