//! Surveys as operations (R14): added or replaced one at a time (`touchbase survey add`,
//! `POST /api/surveys`) through the inventory's write path, so each change is checked (its
//! points exist), versioned (new questions, a new version) and audited like any other.

use touchbase_core::voice::Survey;
use touchbase_core::{Actor, Permission};

use crate::write::update;
use crate::{OpError, Store};

/// Adds `survey`, or replaces the survey with its key (owners, executives, admins). Returns the
/// survey as stored (with its version).
pub async fn put(store: &dyn Store, actor: &Actor, survey: &Survey) -> Result<Survey, OpError> {
    actor.require(Permission::Propose)?;
    update(store, actor, "survey.put", |state, _| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        let mut next = survey.clone();
        if let Some(old) = inventory.surveys.iter().find(|s| s.key == survey.key) {
            // The version follows the stored one; the write raises it for new questions.
            next.version = old.version;
        }
        inventory.surveys.retain(|s| s.key != survey.key);
        inventory.surveys.push(next);
        Ok(())
    })
    .await?;
    get(store, actor, &survey.key).await
}

/// Every survey, by key.
pub async fn list(store: &dyn Store, actor: &Actor) -> Result<Vec<Survey>, OpError> {
    actor.require(Permission::Read)?;
    Ok(crate::load(store)
        .await?
        .value
        .inventory
        .map(|i| i.surveys)
        .unwrap_or_default())
}

/// The survey `key`.
pub async fn get(store: &dyn Store, actor: &Actor, key: &str) -> Result<Survey, OpError> {
    list(store, actor)
        .await?
        .into_iter()
        .find(|s| s.key == key)
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "survey `{key}`: does not exist; `touchbase survey list` shows them"
            ))
        })
}
