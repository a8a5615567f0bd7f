//! Changes to the inventory: what an import would add, change (field by field) and remove, and
//! the unit a store applies in one transaction.

use std::fmt::{self, Write as _};

use serde::Serialize;
use serde_json::Value;

use crate::access::{Token, User};
use crate::endpoint::Endpoint;
use crate::governance::{Proposal, ProposalKind};
use crate::inventory::{Inventory, Organization, Party, Point, Process};
use crate::rules::Rule;
use crate::voice::Survey;

/// One entity of the inventory, as a store keeps it.
// Inventories hold hundreds of entities, not millions: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "entity", rename_all = "lowercase")]
pub enum Entity {
    Organization(Organization),
    Function(String),
    Process(Process),
    Party(Party),
    Point(Point),
    Rule(Rule),
    Survey(Survey),
    Proposal(Proposal),
    User(User),
    /// A token, under the hash of its secret.
    Token(String, Token),
    Endpoint(Endpoint),
}

/// The kind of an inventory entity; also its name in messages and in stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Organization,
    Function,
    Process,
    Party,
    Point,
    Rule,
    Survey,
    Proposal,
    User,
    Token,
    Endpoint,
}

const KINDS: [Kind; 11] = [
    Kind::Organization,
    Kind::Function,
    Kind::Process,
    Kind::Party,
    Kind::Point,
    Kind::Rule,
    Kind::Survey,
    Kind::Proposal,
    Kind::User,
    Kind::Token,
    Kind::Endpoint,
];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::Function => "function",
            Kind::Process => "process",
            Kind::Party => "party",
            Kind::Point => "point",
            Kind::Proposal => "proposal",
            Kind::User => "user",
            Kind::Token => "token",
            Kind::Rule => "rule",
            Kind::Survey => "survey",
            Kind::Endpoint => "endpoint",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.as_str() == s)
    }
}

impl Entity {
    pub fn kind(&self) -> Kind {
        match self {
            Entity::Organization(_) => Kind::Organization,
            Entity::Function(_) => Kind::Function,
            Entity::Process(_) => Kind::Process,
            Entity::Party(_) => Kind::Party,
            Entity::Point(_) => Kind::Point,
            Entity::Proposal(_) => Kind::Proposal,
            Entity::User(_) => Kind::User,
            Entity::Token(..) => Kind::Token,
            Entity::Rule(_) => Kind::Rule,
            Entity::Survey(_) => Kind::Survey,
            Entity::Endpoint(_) => Kind::Endpoint,
        }
    }

    /// The entity's key; the organization has the empty key.
    pub fn key(&self) -> String {
        match self {
            Entity::Organization(_) => String::new(),
            Entity::Function(f) => f.clone(),
            Entity::Process(p) => p.key.clone(),
            Entity::Party(p) => p.key.clone(),
            Entity::Point(p) => p.key.clone(),
            Entity::Proposal(p) => p.id.to_string(),
            Entity::User(u) => u.name.clone(),
            Entity::Token(hash, _) => hash.clone(),
            Entity::Rule(r) => r.key.clone(),
            Entity::Survey(s) => s.key.clone(),
            Entity::Endpoint(e) => e.key.clone(),
        }
    }

    /// The entity as JSON: the document a store keeps.
    pub fn to_doc(&self) -> Value {
        let doc = match self {
            Entity::Organization(o) => serde_json::to_value(o),
            Entity::Function(f) => Ok(Value::String(f.clone())),
            Entity::Process(p) => serde_json::to_value(p),
            Entity::Party(p) => serde_json::to_value(p),
            Entity::Point(p) => serde_json::to_value(p),
            Entity::Proposal(p) => serde_json::to_value(p),
            Entity::User(u) => serde_json::to_value(u),
            Entity::Token(_, t) => serde_json::to_value(t),
            Entity::Rule(r) => serde_json::to_value(r),
            Entity::Survey(s) => serde_json::to_value(s),
            Entity::Endpoint(e) => serde_json::to_value(e),
        };
        doc.expect("inventory entities always serialize")
    }

    /// Reads back a document a store kept under `key`.
    pub fn from_doc(kind: Kind, key: &str, doc: Value) -> Result<Entity, serde_json::Error> {
        Ok(match kind {
            Kind::Organization => Entity::Organization(serde_json::from_value(doc)?),
            Kind::Function => Entity::Function(serde_json::from_value(doc)?),
            Kind::Process => Entity::Process(serde_json::from_value(doc)?),
            Kind::Party => Entity::Party(serde_json::from_value(doc)?),
            Kind::Point => Entity::Point(serde_json::from_value(doc)?),
            Kind::Proposal => Entity::Proposal(serde_json::from_value(doc)?),
            Kind::User => Entity::User(serde_json::from_value(doc)?),
            Kind::Token => Entity::Token(key.to_owned(), serde_json::from_value(doc)?),
            Kind::Rule => Entity::Rule(serde_json::from_value(doc)?),
            Kind::Survey => Entity::Survey(serde_json::from_value(doc)?),
            Kind::Endpoint => Entity::Endpoint(serde_json::from_value(doc)?),
        })
    }
}

/// Everything a store keeps besides events and the audit trail: the inventory (absent in a
/// store never initialized), the proposals, the users and their tokens (by hash), and the
/// reverse feed's endpoints (the rules are part of the inventory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub inventory: Option<Inventory>,
    pub proposals: Vec<Proposal>,
    pub users: Vec<User>,
    pub tokens: Vec<(String, Token)>,
    pub endpoints: Vec<Endpoint>,
}

impl State {
    pub fn proposal(&self, id: u64) -> Option<&Proposal> {
        self.proposals.iter().find(|p| p.id == id)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn endpoint(&self, key: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.key == key)
    }

    /// Every broken rule of the reverse feed's rules and endpoints, against the inventory's
    /// points and the endpoints declared (the inventory's own rules are `validate::check`'s).
    pub fn feed_violations(&self) -> Vec<crate::Violation> {
        let points: Vec<&str> = self
            .inventory
            .iter()
            .flat_map(|i| i.points.iter().map(|p| p.key.as_str()))
            .collect();
        let endpoints: Vec<&str> = self.endpoints.iter().map(|e| e.key.as_str()).collect();
        let surveys: Vec<&str> = self
            .inventory
            .iter()
            .flat_map(|i| i.surveys.iter().map(|s| s.key.as_str()))
            .collect();
        let mut out: Vec<crate::Violation> = self
            .endpoints
            .iter()
            .flat_map(crate::endpoint::check)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for rule in self.rules() {
            if !seen.insert(rule.key.as_str()) {
                out.push(crate::Violation::new(
                    format!("rule `{}`", rule.key),
                    "key",
                    "is given twice: rule keys are unique",
                ));
            }
            out.extend(crate::rules::check(rule, &points, &endpoints));
            out.extend(crate::rules::check_invites(rule, &surveys));
        }
        out
    }

    /// The inventory's rules (none in a store never initialized).
    pub fn rules(&self) -> &[Rule] {
        self.inventory.as_ref().map_or(&[], |i| &i.rules)
    }
}

/// Puts stored entities back together; the inventory comes out normalized, proposals by id,
/// users by name, tokens by user then id.
pub fn assemble(entities: impl IntoIterator<Item = Entity>) -> State {
    let mut organization = None;
    let mut inventory = Inventory::new(Organization::named(""));
    let mut state = State::default();
    for entity in entities {
        match entity {
            Entity::Organization(o) => organization = Some(o),
            Entity::Function(f) => inventory.functions.push(f),
            Entity::Process(p) => inventory.processes.push(p),
            Entity::Party(p) => inventory.parties.push(p),
            Entity::Point(p) => inventory.points.push(p),
            Entity::Proposal(p) => state.proposals.push(p),
            Entity::User(u) => state.users.push(u),
            Entity::Token(hash, t) => state.tokens.push((hash, t)),
            Entity::Rule(r) => inventory.rules.push(r),
            Entity::Survey(s) => inventory.surveys.push(s),
            Entity::Endpoint(e) => state.endpoints.push(e),
        }
    }
    state.inventory = organization.map(|organization| {
        Inventory {
            organization,
            ..inventory
        }
        .normalized()
    });
    state.proposals.sort_by_key(|p| p.id);
    state.endpoints.sort_by(|a, b| a.key.cmp(&b.key));
    state.users.sort_by(|a, b| a.name.cmp(&b.name));
    state
        .tokens
        .sort_by(|a, b| (&a.1.user, &a.1.id).cmp(&(&b.1.user, &b.1.id)));
    state
}

/// The entities of an inventory, in its order.
pub fn entities(inventory: &Inventory) -> Vec<Entity> {
    let mut all = vec![Entity::Organization(inventory.organization.clone())];
    all.extend(inventory.functions.iter().cloned().map(Entity::Function));
    all.extend(inventory.processes.iter().cloned().map(Entity::Process));
    all.extend(inventory.parties.iter().cloned().map(Entity::Party));
    all.extend(inventory.points.iter().cloned().map(Entity::Point));
    all.extend(inventory.rules.iter().cloned().map(Entity::Rule));
    all.extend(inventory.surveys.iter().cloned().map(Entity::Survey));
    all
}

/// Every entity of a state.
pub fn state_entities(state: &State) -> Vec<Entity> {
    let mut all = state.inventory.as_ref().map(entities).unwrap_or_default();
    all.extend(state.proposals.iter().cloned().map(Entity::Proposal));
    all.extend(state.users.iter().cloned().map(Entity::User));
    all.extend(
        state
            .tokens
            .iter()
            .cloned()
            .map(|(h, t)| Entity::Token(h, t)),
    );
    all.extend(state.endpoints.iter().cloned().map(Entity::Endpoint));
    all
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangeAction))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
}

/// One field that differs, by its path within the entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
}

/// One entity added, changed or removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    pub action: Action,
    pub kind: Kind,
    pub key: String,
    /// For a change: each field that differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The entity after the change; `None` for a removal.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub after: Option<Entity>,
}

impl Change {
    pub fn put(entity: Entity, before: Option<&Entity>) -> Change {
        let (action, fields) = match before {
            None => (Action::Add, Vec::new()),
            Some(before) => (
                Action::Change,
                field_changes(&before.to_doc(), &entity.to_doc()),
            ),
        };
        Change {
            action,
            kind: entity.kind(),
            key: entity.key().to_owned(),
            fields,
            after: Some(entity),
        }
    }

    pub fn remove(kind: Kind, key: &str) -> Change {
        Change {
            action: Action::Remove,
            kind,
            key: key.to_owned(),
            fields: Vec::new(),
            after: None,
        }
    }
}

/// What it takes to turn `before` into `after` (both normalized): entities added, changed field
/// by field, and removed. An empty list means they are the same.
pub fn diff(before: Option<&Inventory>, after: &Inventory) -> Vec<Change> {
    diff_entities(&before.map(entities).unwrap_or_default(), &entities(after))
}

/// [`diff`] over whole states: inventory, proposals, users and tokens.
pub fn diff_states(before: &State, after: &State) -> Vec<Change> {
    diff_entities(&state_entities(before), &state_entities(after))
}

fn diff_entities(old: &[Entity], new: &[Entity]) -> Vec<Change> {
    use std::collections::HashMap;
    let index = |list: &[Entity]| -> HashMap<(Kind, String), usize> {
        list.iter()
            .enumerate()
            .map(|(i, e)| ((e.kind(), e.key()), i))
            .collect()
    };
    let (old_index, new_index) = (index(old), index(new));
    let mut changes = Vec::new();
    for entity in new {
        match old_index
            .get(&(entity.kind(), entity.key()))
            .map(|&i| &old[i])
        {
            Some(existing) if existing == entity => {}
            existing => changes.push(Change::put(entity.clone(), existing)),
        }
    }
    for entity in old {
        if !new_index.contains_key(&(entity.kind(), entity.key())) {
            changes.push(Change::remove(entity.kind(), &entity.key()));
        }
    }
    changes.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    changes
}

/// Leaf-by-leaf differences between two JSON documents; objects and arrays are walked.
pub fn field_changes(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (before, after) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(&join(key), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (a, b) => out.push(FieldChange {
            field: path.to_owned(),
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

/// What an import did (or, in a dry run, would do): counts and every change.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportSummary {
    pub dry_run: bool,
    /// Inventory entities added, changed and removed.
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    /// Proposals the import opened (new points, material changes to live points): they wait
    /// for sign-off.
    pub proposals_opened: usize,
    /// A baseline after the store's first import (R6): the one proposal its batch waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_proposal: Option<BaselinePlan>,
    /// Each entity added, changed (with each field) or removed, proposals included.
    pub changes: Vec<Change>,
}

/// The proposal a later baseline opened (or, in a dry run, would open) for its whole batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselinePlan {
    pub proposal: u64,
    /// The points recorded once it is approved; `proposed` until then.
    pub points: Vec<String>,
    pub approvals_required: u32,
}

impl ImportSummary {
    pub fn new(dry_run: bool, changes: Vec<Change>) -> Self {
        let count = |a, proposal: bool| {
            changes
                .iter()
                .filter(|c| c.action == a && (c.kind == Kind::Proposal) == proposal)
                .count()
        };
        let baseline_proposal = changes
            .iter()
            .filter(|c| c.action == Action::Add)
            .find_map(|c| match &c.after {
                Some(Entity::Proposal(p)) if p.kind == ProposalKind::Baseline => {
                    Some(BaselinePlan {
                        proposal: p.id,
                        points: p.batch.iter().map(|b| b.key.clone()).collect(),
                        approvals_required: p.approvals_required,
                    })
                }
                _ => None,
            });
        ImportSummary {
            dry_run,
            added: count(Action::Add, false),
            changed: count(Action::Change, false),
            removed: count(Action::Remove, false),
            proposals_opened: count(Action::Add, true),
            baseline_proposal,
            changes,
        }
    }
}

/// A list of changes as a person reads it: `+` added, `~` changed (with each field), `-` removed.
pub fn render_plan(summary: &ImportSummary) -> String {
    let changes = &summary.changes;
    if changes.is_empty() {
        return "no changes: the store already holds this inventory\n".to_owned();
    }
    let mut out = String::new();
    for change in changes {
        let sign = match change.action {
            Action::Add => '+',
            Action::Change => '~',
            Action::Remove => '-',
        };
        let label = format!("{} {}", change.kind.as_str(), change.key);
        let _ = writeln!(out, "{sign} {}", label.trim_end());
        for f in &change.fields {
            let _ = writeln!(
                out,
                "    {}: {} → {}",
                f.field,
                Shown(&f.before),
                Shown(&f.after)
            );
        }
    }
    let verb = if summary.dry_run { "would be" } else { "were" };
    let _ = writeln!(
        out,
        "{} {verb} added, {} changed, {} removed",
        summary.added, summary.changed, summary.removed
    );
    if let Some(b) = &summary.baseline_proposal {
        let _ = writeln!(
            out,
            "the baseline's {} new points ({}) {} `proposed` until proposal {} has {} approvals",
            b.points.len(),
            b.points.join(", "),
            if summary.dry_run {
                "would stay"
            } else {
                "stay"
            },
            b.proposal,
            b.approvals_required
        );
    }
    out
}

struct Shown<'a>(&'a Option<Value>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("(none)"),
            Some(v) => write!(f, "{v}"),
        }
    }
}
