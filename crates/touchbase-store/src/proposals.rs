//! Proposals and the executives' decisions on them (R6). Reading them needs
//! [`Permission::Export`] (they hold the business cases); deciding needs
//! [`Permission::Decide`], which only executives have.

use touchbase_core::governance::{self, Proposal, ProposalKind, ProposalStatus};
use touchbase_core::{Actor, Permission};

use crate::{OpError, Store, update};

/// Every proposal, oldest first.
pub async fn list(store: &dyn Store, actor: &Actor) -> Result<Vec<Proposal>, OpError> {
    actor.require(Permission::Export)?;
    Ok(crate::load(store).await?.value.proposals)
}

/// One proposal.
pub async fn get(store: &dyn Store, actor: &Actor, id: u64) -> Result<Proposal, OpError> {
    actor.require(Permission::Export)?;
    crate::load(store)
        .await?
        .value
        .proposal(id)
        .cloned()
        .ok_or(OpError::ProposalNotFound(id))
}

/// Records an executive's approval or rejection; a proposal with enough approvals is carried
/// out (a new point becomes approved, a change is applied, a retirement takes effect).
pub async fn decide(
    store: &dyn Store,
    actor: &Actor,
    id: u64,
    approve: bool,
    comment: &str,
) -> Result<Proposal, OpError> {
    actor.require(Permission::Decide)?;
    let action = if approve {
        "proposal.approve"
    } else {
        "proposal.reject"
    };
    update(store, actor, action, |state, now| {
        let inventory = state.inventory.as_mut().ok_or(OpError::NotInitialized)?;
        let proposal = state
            .proposals
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or(OpError::ProposalNotFound(id))?;
        governance::decide(inventory, proposal, actor, approve, comment, now)?;
        // What the decision carried out may make other pending proposals moot (a retirement
        // withdraws the point's pending changes).
        governance::reconcile(inventory, &mut state.proposals);
        Ok(())
    })
    .await?;
    let decided = get(store, actor, id).await?;
    if decided.kind == ProposalKind::Baseline && decided.status == ProposalStatus::Approved {
        // The batch's points are live now: what was held for them counts (R8).
        crate::ingest::release_live(store).await?;
    }
    Ok(decided)
}
