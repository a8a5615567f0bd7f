//! Sign-off (R6): no new point goes live without the approval of the organization's
//! executives, and a material change to a live point waits for the same approval.
//!
//! [`govern`] takes an inventory as a writer wants it and returns what may be stored now plus
//! the proposals that must be decided first; [`decide`] records an executive's decision and
//! carries out an approved proposal; [`go_live`] is the one way a new point becomes live.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::access::{Actor, Denied, Permission};
use crate::change::field_changes;
use crate::inventory::{Inventory, Point, Status, StrategicValue};
use crate::validate::{Violation, Violations};

/// How many executive approvals a proposal needs (the organization's policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub approvals: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { approvals: 2 }
    }
}

impl Policy {
    pub fn is_default(&self) -> bool {
        *self == Policy::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProposalKind {
    /// A new point of interaction.
    New,
    /// A material change to a live point.
    Change,
    /// Retiring a live point.
    Retire,
    /// A baseline after the store's first import: the points of one batch, never seen before,
    /// recorded as the file has them (live, mostly) once the executives approve.
    Baseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProposalStatus {
    Pending,
    Approved,
    Rejected,
    /// Its point was retired, removed or changed so that the proposal no longer applies.
    Withdrawn,
}

/// The case for a point (R6): why, and what it is projected to give both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BusinessCase {
    pub rationale: String,
    pub strategic_value: StrategicValue,
    pub volume_per_month: Option<f64>,
    pub value_company: Option<f64>,
    pub value_party: Option<f64>,
    pub cost: Option<f64>,
}

impl BusinessCase {
    pub fn of(point: &Point) -> BusinessCase {
        BusinessCase {
            rationale: point.rationale.clone(),
            strategic_value: point.strategic_value,
            volume_per_month: point.expected.volume_per_month,
            value_company: point.expected.value_company,
            value_party: point.expected.value_party,
            cost: point.expected.cost,
        }
    }
}

/// One executive's decision on a proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    pub executive: String,
    pub approve: bool,
    pub comment: String,
    pub at: String,
}

/// A proposal waiting for (or done with) sign-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Proposal {
    pub id: u64,
    pub kind: ProposalKind,
    pub point: String,
    /// The point as it will be once approved (a new point, or a live point changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed: Option<Point>,
    /// For a change: the live point it was proposed against. On approval, the fields that
    /// differ between `base` and `proposed` are applied to the point as it is then, so edits
    /// made meanwhile are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Point>,
    pub business_case: BusinessCase,
    /// For a baseline: the points of the batch as they are recorded once approved (until then
    /// the inventory holds them as `proposed`, and their interactions are held, R8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<Point>,
    /// Why this needs sign-off, for a change: each material difference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    pub proposer: String,
    pub created_at: String,
    pub approvals_required: u32,
    pub status: ProposalStatus,
    #[serde(default)]
    pub decisions: Vec<Decision>,
}

impl Proposal {
    pub fn approvals(&self) -> usize {
        self.decisions.iter().filter(|d| d.approve).count()
    }
}

/// What a write may store now, and the proposals it opens.
#[derive(Debug, Clone, PartialEq)]
pub struct Governed {
    pub inventory: Inventory,
    pub proposals: Vec<Proposal>,
}

/// How a write is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The usual way: the rules of sign-off apply.
    Normal,
    /// Taking the inventory of existing points (seed 000): points the store has never seen are
    /// recorded as the file has them — at once on the store's first import
    /// ([`Write::first_import`]), later as one [`ProposalKind::Baseline`] proposal for the batch.
    Baseline,
}

/// The context of a write.
#[derive(Debug)]
pub struct Write<'a> {
    pub actor: &'a Actor,
    pub mode: Mode,
    /// Point keys the store has ever recorded (from the audit trail).
    pub seen: &'a BTreeSet<String>,
    /// The proposals already on record (for their ids, and to not open one twice).
    pub proposals: &'a [Proposal],
    /// Whether this is the store's first import (no import and no point on record before): the
    /// only time a baseline applies at once (R6).
    pub first_import: bool,
    pub now: &'a str,
}

/// Checks a write of the inventory `after` over `before` against the rules of sign-off.
pub fn govern(
    before: &Inventory,
    after: Inventory,
    write: &Write<'_>,
) -> Result<Governed, Violations> {
    let mut found = Vec::new();
    let mut stored = after.clone();
    let mut opened: Vec<Proposal> = Vec::new();
    let policy = after.organization.policy;
    let next_id = |opened: &[Proposal]| {
        write
            .proposals
            .iter()
            .chain(opened)
            .map(|p| p.id)
            .max()
            .unwrap_or(0)
            + 1
    };
    // A pending proposal of this kind for this point (for a change: for this very change).
    let pending = |key: &str, kind: ProposalKind, proposed: Option<&Point>| {
        write.proposals.iter().any(|p| {
            p.point == key
                && p.kind == kind
                && p.status == ProposalStatus::Pending
                && proposed.is_none_or(|x| p.proposed.as_ref() == Some(x))
        })
    };

    // The points of a later baseline, recorded once its one proposal is approved.
    let mut batch: Vec<Point> = Vec::new();
    for point in &after.points {
        let subject = format!("point `{}`", point.key);
        let old = before.point(&point.key);
        // A point of a pending baseline, as the batch has it (the same file again): it stays
        // as stored until the batch is decided.
        if let Some(old) = old
            && let Some(waiting) = pending_baseline(write.proposals, &point.key)
        {
            if waiting == point {
                set_point(&mut stored, old.clone());
                continue;
            }
            if point.status != Status::Proposed {
                found.push(Violation::new(
                    &subject,
                    "status",
                    format!(
                        "the point waits for sign-off in a pending baseline proposal (as `{}`); it is `proposed` until the executives decide",
                        crate::enum_name(&waiting.status)
                    ),
                ));
                continue;
            }
        }
        if let Some(existing) = old
            && write.mode == Mode::Normal
            && !write.actor.owns(existing)
        {
            if existing != point {
                found.push(Violation::new(
                    &subject,
                    "owner",
                    not_owner(write.actor, existing),
                ));
            }
            continue;
        }
        match old {
            None => match point.status {
                Status::Proposed => {
                    if let Err(v) = business_case(point, &subject) {
                        found.extend(v);
                    } else if !pending(&point.key, ProposalKind::New, None) {
                        let id = next_id(&opened);
                        opened.push(new_proposal(id, ProposalKind::New, point, None, Vec::new(), policy.approvals, write));
                    }
                }
                _ if write.mode == Mode::Baseline => {
                    if write.seen.contains(&point.key) {
                        found.push(Violation::new(
                            &subject,
                            "status",
                            "a baseline records only points the store has never seen; this one was on record before, so it needs sign-off",
                        ));
                    } else if !write.first_import {
                        // Only the first import takes a baseline at once (R6): later, the batch
                        // waits as one proposal and its points as `proposed`.
                        batch.push(point.clone());
                        set_point(&mut stored, Point { status: Status::Proposed, ..point.clone() });
                    }
                }
                other => found.push(Violation::new(
                    &subject,
                    "status",
                    format!(
                        "a new point enters as `proposed` and goes live only through sign-off, got `{}`{}",
                        crate::enum_name(&other),
                        if other == Status::Live {
                            "; points that already exist can be recorded by an admin with `inventory import --baseline` (at once on the store's first import, later as one proposal for the batch)"
                        } else {
                            ""
                        }
                    ),
                )),
            },
            Some(old) if old == point => {}
            Some(old) if matches!(old.status, Status::Live | Status::UnderReview) => match point.status {
                status if status == old.status => {
                    let reasons = material_changes(old, point);
                    if !reasons.is_empty() {
                        set_point(&mut stored, old.clone());
                        if !pending(&point.key, ProposalKind::Change, Some(point)) {
                            let id = next_id(&opened);
                            let mut proposal = new_proposal(
                                id,
                                ProposalKind::Change,
                                point,
                                Some(point.clone()),
                                reasons,
                                policy.approvals,
                                write,
                            );
                            proposal.base = Some(old.clone());
                            opened.push(proposal);
                        }
                    }
                }
                Status::Retired => {
                    set_point(&mut stored, old.clone());
                    if !pending(&point.key, ProposalKind::Retire, None) {
                        let id = next_id(&opened);
                        opened.push(new_proposal(id, ProposalKind::Retire, old, None, vec!["retires a live point".into()], policy.approvals, write));
                    }
                }
                other => found.push(Violation::new(
                    &subject,
                    "status",
                    format!(
                        "a live point leaves `live` only by retirement, which needs sign-off; got `{}`",
                        crate::enum_name(&other)
                    ),
                )),
            },
            Some(old) => match (old.status, point.status) {
                (Status::Approved, Status::Approved) => {
                    // An approved point changed materially goes back to sign-off.
                    let reasons = material_changes(old, point);
                    if !reasons.is_empty() {
                        if let Err(v) = business_case(point, &subject) {
                            found.extend(v);
                        } else {
                            set_point(&mut stored, Point { status: Status::Proposed, ..point.clone() });
                            let id = next_id(&opened);
                            opened.push(new_proposal(id, ProposalKind::New, point, None, reasons, policy.approvals, write));
                        }
                    }
                }
                (a, b) if a == b => {}
                (_, Status::Live) => found.push(Violation::new(
                    &subject,
                    "status",
                    format!(
                        "the point is `{}`; it goes live only by its owner's `touchbase point go-live` once its proposal is approved",
                        crate::enum_name(&old.status)
                    ),
                )),
                (_, Status::Approved | Status::Rejected) => found.push(Violation::new(
                    &subject,
                    "status",
                    "only the executives' decisions approve or reject a point: `touchbase proposal approve|reject`",
                )),
                (Status::Rejected | Status::Retired, Status::Proposed) => {
                    if let Err(v) = business_case(point, &subject) {
                        found.extend(v);
                    } else if !pending(&point.key, ProposalKind::New, None) {
                        let id = next_id(&opened);
                        opened.push(new_proposal(id, ProposalKind::New, point, None, Vec::new(), policy.approvals, write));
                    }
                }
                // Withdrawing a point before it goes live.
                (Status::Proposed | Status::Approved, Status::Retired) => {}
                (from, to) => found.push(Violation::new(
                    &subject,
                    "status",
                    format!(
                        "a `{}` point cannot become `{}`",
                        crate::enum_name(&from),
                        crate::enum_name(&to)
                    ),
                )),
            },
        }
    }
    for old in &before.points {
        if after.point(&old.key).is_none()
            && matches!(old.status, Status::Live | Status::UnderReview)
        {
            found.push(Violation::new(
                format!("point `{}`", old.key),
                "",
                "a live point cannot be removed: retire it (status: retired), which needs sign-off",
            ));
        }
    }
    if !batch.is_empty() && found.is_empty() {
        let id = next_id(&opened);
        opened.push(baseline_proposal(id, batch, policy.approvals, write));
    }
    if found.is_empty() {
        Ok(Governed {
            inventory: stored,
            proposals: opened,
        })
    } else {
        Err(Violations(found))
    }
}

/// The point `key` as a pending baseline proposal's batch has it.
fn pending_baseline<'a>(proposals: &'a [Proposal], key: &str) -> Option<&'a Point> {
    proposals
        .iter()
        .filter(|p| p.kind == ProposalKind::Baseline && p.status == ProposalStatus::Pending)
        .find_map(|p| p.batch.iter().find(|b| b.key == key))
}

/// One proposal for a later baseline's whole batch: its case is the batch's (the highest
/// strategic value, the volumes added up; each point's own figures are in `batch`).
fn baseline_proposal(id: u64, batch: Vec<Point>, approvals: u32, write: &Write<'_>) -> Proposal {
    let keys: Vec<&str> = batch.iter().map(|p| p.key.as_str()).collect();
    let volumes: Vec<f64> = batch
        .iter()
        .filter_map(|p| p.expected.volume_per_month)
        .collect();
    let business_case = BusinessCase {
        rationale: format!(
            "a baseline of {} points that exist already, to be recorded as they are: {}",
            batch.len(),
            keys.join(", ")
        ),
        strategic_value: batch
            .iter()
            .map(|p| p.strategic_value)
            .max()
            .unwrap_or_default(),
        volume_per_month: (!volumes.is_empty()).then(|| volumes.iter().sum()),
        value_company: None,
        value_party: None,
        cost: None,
    };
    let reasons = batch
        .iter()
        .map(|p| {
            format!(
                "records point `{}` as `{}` (a baseline after the store's first import)",
                p.key,
                crate::enum_name(&p.status)
            )
        })
        .collect();
    Proposal {
        id,
        kind: ProposalKind::Baseline,
        point: String::new(),
        proposed: None,
        base: None,
        business_case,
        batch,
        reasons,
        proposer: write.actor.name.clone(),
        created_at: write.now.to_owned(),
        approvals_required: approvals,
        status: ProposalStatus::Pending,
        decisions: Vec::new(),
    }
}

fn not_owner(actor: &Actor, point: &Point) -> String {
    format!(
        "only its owner `{}` (or an admin) may change this point; {} owns {}",
        point.owner,
        actor.name,
        if actor.teams.is_empty() {
            "no team's points".to_owned()
        } else {
            actor.teams.join(", ")
        }
    )
}

fn set_point(inventory: &mut Inventory, point: Point) {
    if let Some(slot) = inventory.points.iter_mut().find(|p| p.key == point.key) {
        *slot = point;
    }
}

fn new_proposal(
    id: u64,
    kind: ProposalKind,
    point: &Point,
    proposed: Option<Point>,
    reasons: Vec<String>,
    approvals: u32,
    write: &Write<'_>,
) -> Proposal {
    Proposal {
        id,
        kind,
        point: point.key.clone(),
        base: None,
        // A new point's proposal keeps the point as proposed, so later material edits show.
        proposed: proposed.or_else(|| (kind == ProposalKind::New).then(|| point.clone())),
        business_case: BusinessCase::of(point),
        batch: Vec::new(),
        reasons,
        proposer: write.actor.name.clone(),
        created_at: write.now.to_owned(),
        approvals_required: approvals,
        status: ProposalStatus::Pending,
        decisions: Vec::new(),
    }
}

/// A proposal needs its rationale and its business case in numbers.
fn business_case(point: &Point, subject: &str) -> Result<(), Vec<Violation>> {
    let mut found = Vec::new();
    if point.rationale.trim().is_empty() {
        found.push(Violation::new(
            subject,
            "rationale",
            "a proposal needs its strategic rationale",
        ));
    }
    let e = &point.expected;
    let missing: Vec<&str> = [
        ("volume_per_month", e.volume_per_month),
        ("value_company", e.value_company),
        ("value_party", e.value_party),
        ("cost", e.cost),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        found.push(Violation::new(
            subject,
            "expected",
            format!(
                "a proposal needs its business case: projected volume per month, value per interaction to the organization and to the party, and cost per interaction; missing: {}",
                missing.join(", ")
            ),
        ));
    }
    if found.is_empty() { Ok(()) } else { Err(found) }
}

/// Why a change to a live point needs sign-off (R6): each new personal or payment data element,
/// each changed expectation, a changed strategic value (it moves the portfolio's verdict) and a
/// changed data contract (it decides what counts as conforming data, R13). Empty when the change
/// may be made at once.
pub fn material_changes(old: &Point, new: &Point) -> Vec<String> {
    let mut reasons = Vec::new();
    for element in &new.data {
        let before = old.data.iter().find(|d| d.name == element.name);
        if element.class.is_sensitive() && before.is_none_or(|b| !b.class.is_sensitive()) {
            reasons.push(format!(
                "passes {} data `{}`",
                crate::enum_name(&element.class),
                element.name
            ));
        }
    }
    let old_expected = serde_json::to_value(&old.expected).unwrap_or_default();
    let new_expected = serde_json::to_value(&new.expected).unwrap_or_default();
    for change in field_changes(&old_expected, &new_expected) {
        let show =
            |v: &Option<serde_json::Value>| v.as_ref().map_or("none".to_owned(), |v| v.to_string());
        reasons.push(format!(
            "changes expected.{}: {} → {}",
            change.field,
            show(&change.before),
            show(&change.after)
        ));
    }
    if old.strategic_value != new.strategic_value {
        reasons.push(format!(
            "changes strategic_value: {} → {}",
            crate::enum_name(&old.strategic_value),
            crate::enum_name(&new.strategic_value)
        ));
    }
    if old.standing != new.standing {
        let show = |s: &Option<crate::standing::Standing>| match s {
            None => "none".to_owned(),
            Some(s) => serde_json::to_string(s).unwrap_or_default(),
        };
        reasons.push(format!(
            "changes what it automates (standing): {} → {}",
            show(&old.standing),
            show(&new.standing)
        ));
    }
    if old.contract != new.contract {
        let show = |c: &Option<serde_json::Value>| match c {
            None => "the one derived from `data`".to_owned(),
            Some(v) => v.to_string(),
        };
        reasons.push(format!(
            "changes its data contract: {} → {}",
            show(&old.contract),
            show(&new.contract)
        ));
    }
    reasons
}

/// Records `actor`'s decision on proposal `id` and, once the proposal is decided, carries it
/// out on `inventory`.
pub fn decide(
    inventory: &mut Inventory,
    proposal: &mut Proposal,
    actor: &Actor,
    approve: bool,
    comment: &str,
    now: &str,
) -> Result<(), DecideError> {
    actor.require(Permission::Decide)?;
    let subject = format!("proposal {}", proposal.id);
    let refuse = |field: &str, rule: String| {
        DecideError::Refused(Violations(vec![Violation::new(&subject, field, rule)]))
    };
    if proposal.status != ProposalStatus::Pending {
        return Err(refuse(
            "status",
            format!("is already {}", crate::enum_name(&proposal.status)),
        ));
    }
    if proposal.proposer == actor.name {
        return Err(refuse(
            "proposer",
            format!(
                "{} proposed it; nobody approves or rejects their own proposal",
                actor.name
            ),
        ));
    }
    if proposal.decisions.iter().any(|d| d.executive == actor.name) {
        return Err(refuse(
            "decisions",
            format!("{} has decided on it already", actor.name),
        ));
    }
    if comment.trim().is_empty() {
        return Err(refuse(
            "comment",
            "a decision needs a comment saying why".to_owned(),
        ));
    }
    proposal.decisions.push(Decision {
        executive: actor.name.clone(),
        approve,
        comment: comment.to_owned(),
        at: now.to_owned(),
    });
    if proposal.kind == ProposalKind::Baseline {
        let done = proposal.approvals() >= proposal.approvals_required as usize;
        if !approve || done {
            proposal.status = if approve {
                ProposalStatus::Approved
            } else {
                ProposalStatus::Rejected
            };
            // The batch's points that still wait take the status the baseline gives them (or
            // `rejected`); any other was changed meanwhile and is left as it is.
            for wanted in &proposal.batch {
                if let Some(point) = inventory
                    .points
                    .iter_mut()
                    .find(|p| p.key == wanted.key && p.status == Status::Proposed)
                {
                    point.status = if approve {
                        wanted.status
                    } else {
                        Status::Rejected
                    };
                }
            }
        }
        return Ok(());
    }
    let point = inventory
        .points
        .iter_mut()
        .find(|p| p.key == proposal.point);
    if !approve {
        proposal.status = ProposalStatus::Rejected;
        if let (ProposalKind::New, Some(point)) = (proposal.kind, point) {
            point.status = Status::Rejected;
        }
        return Ok(());
    }
    if proposal.approvals() < proposal.approvals_required as usize {
        return Ok(());
    }
    proposal.status = ProposalStatus::Approved;
    match (proposal.kind, point) {
        (ProposalKind::Baseline, _) => unreachable!("a baseline is decided above"),
        (ProposalKind::New, Some(point)) => point.status = Status::Approved,
        (ProposalKind::Change, Some(point)) => {
            if let (Some(base), Some(proposed)) = (&proposal.base, &proposal.proposed) {
                match merge_change(point, base, proposed) {
                    Ok(merged) => *point = merged,
                    Err(why) => {
                        proposal.status = ProposalStatus::Pending;
                        proposal.decisions.pop();
                        return Err(refuse("proposed", why));
                    }
                }
            }
        }
        (ProposalKind::Retire, Some(point)) => point.status = Status::Retired,
        (_, None) => {
            return Err(refuse(
                "point",
                format!(
                    "the point `{}` is no longer in the inventory",
                    proposal.point
                ),
            ));
        }
    }
    Ok(())
}

/// `current` with every top-level field that differs between `base` and `proposed` set as
/// `proposed` has it: the approved change, on top of whatever else changed meanwhile.
fn merge_change(current: &Point, base: &Point, proposed: &Point) -> Result<Point, String> {
    let (base, proposed) = (serde_json::to_value(base), serde_json::to_value(proposed));
    let mut merged = serde_json::to_value(current).expect("a point serializes");
    if let (Ok(serde_json::Value::Object(base)), Ok(serde_json::Value::Object(proposed))) =
        (base, proposed)
    {
        let object = merged.as_object_mut().expect("a point is an object");
        let keys: BTreeSet<&String> = base.keys().chain(proposed.keys()).collect();
        let now = serde_json::to_value(current).expect("a point serializes");
        for key in keys {
            if key == "status" || base.get(key) == proposed.get(key) {
                continue;
            }
            if now.get(key) != base.get(key) {
                return Err(format!(
                    "`{key}` changed since this change was proposed; propose the change again on the point as it is now"
                ));
            }
            match proposed.get(key) {
                Some(value) => object.insert(key.clone(), value.clone()),
                None => object.remove(key),
            };
        }
    }
    Ok(serde_json::from_value(merged).unwrap_or_else(|_| current.clone()))
}

/// Keeps pending proposals true to the inventory after a write: a proposal whose point was
/// removed, whose new point is no longer `proposed`, or whose live point is no longer live, is
/// withdrawn; a new point's business case follows the point, and when it changes, approvals
/// given on the old case are cleared.
pub fn reconcile(inventory: &Inventory, proposals: &mut [Proposal]) {
    for proposal in proposals
        .iter_mut()
        .filter(|p| p.status == ProposalStatus::Pending)
    {
        if proposal.kind == ProposalKind::Baseline {
            reconcile_baseline(inventory, proposal);
            continue;
        }
        match (proposal.kind, inventory.point(&proposal.point)) {
            (_, None) => proposal.status = ProposalStatus::Withdrawn,
            (ProposalKind::New, Some(point)) if point.status != Status::Proposed => {
                proposal.status = ProposalStatus::Withdrawn;
            }
            (ProposalKind::Change | ProposalKind::Retire, Some(point))
                if point.status != Status::Live =>
            {
                proposal.status = ProposalStatus::Withdrawn;
            }
            (ProposalKind::New, Some(point)) => {
                let case = BusinessCase::of(point);
                let changed = proposal
                    .proposed
                    .as_ref()
                    .is_some_and(|p| !material_changes(p, point).is_empty());
                if case != proposal.business_case || changed {
                    // Approvals were given on another case: they no longer hold.
                    proposal.business_case = case;
                    proposal.proposed = Some(point.clone());
                    proposal.decisions.clear();
                }
            }
            _ => {}
        }
    }
}

/// A pending baseline follows its points: withdrawn once none of them waits (`proposed`) any
/// more; a point edited meanwhile is taken into the batch as it is now, and the approvals given
/// on the old batch are cleared.
fn reconcile_baseline(inventory: &Inventory, proposal: &mut Proposal) {
    let mut waiting = 0;
    let mut changed = false;
    for wanted in &mut proposal.batch {
        let Some(point) = inventory.point(&wanted.key) else {
            continue;
        };
        if point.status != Status::Proposed {
            continue;
        }
        waiting += 1;
        let now = Point {
            status: wanted.status,
            ..point.clone()
        };
        if now != *wanted {
            *wanted = now;
            changed = true;
        }
    }
    if waiting == 0 {
        proposal.status = ProposalStatus::Withdrawn;
    } else if changed {
        proposal.decisions.clear();
    }
}

/// Takes an approved point live: its owner's (or an admin's) step after sign-off.
pub fn go_live(inventory: &mut Inventory, key: &str, actor: &Actor) -> Result<(), DecideError> {
    actor.require(Permission::Propose)?;
    let subject = format!("point `{key}`");
    let point = inventory
        .points
        .iter_mut()
        .find(|p| p.key == key)
        .ok_or_else(|| {
            DecideError::Refused(Violations(vec![Violation::new(
                &subject,
                "",
                "no such point",
            )]))
        })?;
    require_owner(actor, point)?;
    if point.status != Status::Approved {
        return Err(DecideError::Refused(Violations(vec![Violation::new(
            &subject,
            "status",
            format!(
                "is `{}`; only an approved point goes live",
                crate::enum_name(&point.status)
            ),
        )])));
    }
    point.status = Status::Live;
    Ok(())
}

/// `Ok` when `actor` may act on `point` as its owner (or an admin), else the refusal naming
/// its owner.
pub fn require_owner(actor: &Actor, point: &Point) -> Result<(), DecideError> {
    if actor.owns(point) {
        Ok(())
    } else {
        Err(DecideError::Refused(Violations(vec![Violation::new(
            format!("point `{}`", point.key),
            "owner",
            not_owner(actor, point),
        )])))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Refused(Violations),
}
