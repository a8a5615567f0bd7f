//! The rules every write to the inventory must keep. Each broken rule becomes one
//! [`Violation`] that names the entity, the field and the rule, and all of them are reported at
//! once so that a file can be fixed in one pass.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use crate::contract::Contract;
use crate::inventory::{Inventory, Mode, Organization, Point, Variable, VariableKind};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What the rule is about: `organization`, `function sales`, `point store.checkout`, …
    pub subject: String,
    /// The field, as a path within the subject (`data[1].class`).
    pub field: String,
    /// The rule and, where it helps, what was found.
    pub rule: String,
}

impl Violation {
    pub fn new(
        subject: impl Into<String>,
        field: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Violation {
            subject: subject.into(),
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.subject, self.rule)
        } else {
            write!(f, "{}: {}: {}", self.subject, self.field, self.rule)
        }
    }
}

/// Every broken rule of one write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for v in many {
                    write!(f, "\n  - {v}")?;
                }
                Ok(())
            }
        }
    }
}

pub const KEY_RULE: &str = "must match [a-z0-9][a-z0-9._-]{0,63}";

/// Whether `key` is a well-formed key of a point, process, party, function or variable.
pub fn is_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// Checks the whole inventory. It should be [normalized](Inventory::normalized) first.
pub fn check(inventory: &Inventory) -> Result<(), Violations> {
    let mut found = Vec::new();
    check_organization(&inventory.organization, &mut found);

    // Normalization has merged functions listed twice; a default listed again is harmless.
    let functions: BTreeSet<&str> = inventory.functions.iter().map(String::as_str).collect();
    for function in &inventory.functions {
        if !is_key(function) {
            found.push(Violation::new(
                format!("function `{function}`"),
                "key",
                KEY_RULE,
            ));
        }
    }

    let mut seen = BTreeSet::new();
    for process in &inventory.processes {
        let subject = format!("process `{}`", process.key);
        check_key(&subject, &process.key, &mut seen, "process", &mut found);
        if !functions.contains(process.function.as_str()) {
            found.push(unknown(
                &subject,
                "function",
                "business function",
                &process.function,
                &inventory.functions,
            ));
        }
        if process.steps.is_empty() {
            found.push(Violation::new(
                &subject,
                "steps",
                "a process needs at least one step",
            ));
        }
        let mut steps = BTreeSet::new();
        for (i, step) in process.steps.iter().enumerate() {
            if step.trim().is_empty() {
                found.push(Violation::new(
                    &subject,
                    format!("steps[{i}]"),
                    "a step needs a name",
                ));
            } else if !steps.insert(step) {
                found.push(Violation::new(
                    &subject,
                    format!("steps[{i}]"),
                    format!("step `{step}` is listed twice"),
                ));
            }
        }
    }

    let mut seen = BTreeSet::new();
    for party in &inventory.parties {
        check_key(
            &format!("party `{}`", party.key),
            &party.key,
            &mut seen,
            "party",
            &mut found,
        );
    }

    let mut seen = BTreeSet::new();
    for point in &inventory.points {
        let subject = format!("point `{}`", point.key);
        check_key(&subject, &point.key, &mut seen, "point", &mut found);
        check_point(inventory, point, &subject, &mut found);
    }

    let mut seen = BTreeSet::new();
    let point_keys: Vec<String> = inventory.points.iter().map(|p| p.key.clone()).collect();
    for survey in &inventory.surveys {
        let subject = format!("survey `{}`", survey.key);
        check_key(&subject, &survey.key, &mut seen, "survey", &mut found);
        for (field, rule) in survey.problems() {
            found.push(Violation::new(&subject, field, rule));
        }
        for (i, point) in survey.points.iter().enumerate() {
            if inventory.point(point).is_none() {
                found.push(unknown(
                    &subject,
                    &format!("points[{i}]"),
                    "point",
                    point,
                    &point_keys,
                ));
            }
        }
    }

    if found.is_empty() {
        Ok(())
    } else {
        Err(Violations(found))
    }
}

fn check_organization(org: &Organization, found: &mut Vec<Violation>) {
    if org.name.trim().is_empty() {
        found.push(Violation::new("organization", "name", "must not be empty"));
    }
    if let Some(Err(why)) = org.timezone.as_deref().map(crate::standing::zone_named) {
        found.push(Violation::new("organization", "timezone", why));
    }
    if org.currency.len() != 3 || !org.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        found.push(Violation::new(
            "organization",
            "currency",
            format!(
                "must be a three-letter ISO 4217 code such as USD or EUR, got `{}`",
                org.currency
            ),
        ));
    }
    if org.policy.approvals == 0 {
        found.push(Violation::new(
            "organization",
            "policy.approvals",
            "must be at least 1: every proposal needs an executive's approval",
        ));
    }
    for problem in org.settings.problems() {
        found.push(Violation::new(
            "organization",
            // The file names a setting by its field (`settings.adequacy`).
            format!(
                "settings.{}",
                problem.name.rsplit('.').next().unwrap_or_default()
            ),
            problem.rule,
        ));
    }
    for (name, variable) in &org.variables {
        let field = format!("variables.{name}");
        if !is_key(name) {
            found.push(Violation::new(
                "organization",
                &field,
                format!("a variable's name {KEY_RULE}"),
            ));
        }
        match variable.kind {
            VariableKind::Enum => {
                if variable.values.is_empty() {
                    found.push(Violation::new(
                        "organization",
                        format!("{field}.values"),
                        "an enum variable needs at least one value",
                    ));
                }
                let distinct: BTreeSet<&String> = variable.values.iter().collect();
                if distinct.len() != variable.values.len() {
                    found.push(Violation::new(
                        "organization",
                        format!("{field}.values"),
                        "each value must be listed once",
                    ));
                }
            }
            _ => {
                if !variable.values.is_empty() {
                    found.push(Violation::new(
                        "organization",
                        format!("{field}.values"),
                        "only an enum variable lists values",
                    ));
                }
            }
        }
    }
}

fn check_key(
    subject: &str,
    key: &str,
    seen: &mut BTreeSet<String>,
    what: &str,
    found: &mut Vec<Violation>,
) {
    if !is_key(key) {
        found.push(Violation::new(subject, "key", KEY_RULE));
    }
    if !seen.insert(key.to_owned()) {
        found.push(Violation::new(
            subject,
            "key",
            format!("another {what} has the same key"),
        ));
    }
}

fn unknown(subject: &str, field: &str, what: &str, got: &str, declared: &[String]) -> Violation {
    Violation::new(
        subject,
        field,
        format!(
            "unknown {what} `{got}`; declared: {}",
            list_or_none(declared.iter())
        ),
    )
}

fn list_or_none<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.map(String::as_str).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn check_point(inventory: &Inventory, point: &Point, subject: &str, found: &mut Vec<Violation>) {
    if let Some(standing) = &point.standing {
        let points: Vec<&str> = inventory.points.iter().map(|p| p.key.as_str()).collect();
        found.extend(crate::standing::check(
            standing, &point.key, &points, subject,
        ));
    }
    if point.name.trim().is_empty() {
        found.push(Violation::new(subject, "name", "must not be empty"));
    }
    if inventory.party(&point.party).is_none() {
        let parties: Vec<String> = inventory.parties.iter().map(|p| p.key.clone()).collect();
        found.push(unknown(
            subject,
            "party",
            "party type",
            &point.party,
            &parties,
        ));
    }
    if !inventory.functions.contains(&point.function) {
        found.push(unknown(
            subject,
            "function",
            "business function",
            &point.function,
            &inventory.functions,
        ));
    }
    match (&point.process, &point.step) {
        (Some(key), step) => match inventory.process(key) {
            None => {
                let processes: Vec<String> =
                    inventory.processes.iter().map(|p| p.key.clone()).collect();
                found.push(unknown(
                    subject,
                    "process",
                    "business process",
                    key,
                    &processes,
                ));
            }
            Some(process) => {
                if let Some(step) = step
                    && !process.steps.contains(step)
                {
                    found.push(Violation::new(
                        subject,
                        "step",
                        format!(
                            "process `{key}` has no step `{step}`; its steps: {}",
                            process.steps.join(", ")
                        ),
                    ));
                }
            }
        },
        (None, Some(_)) => {
            found.push(Violation::new(
                subject,
                "step",
                "a step needs its `process`",
            ));
        }
        (None, None) => {}
    }
    if point.channel.trim().is_empty() {
        found.push(Violation::new(subject, "channel", "must not be empty"));
    }
    match point.automation {
        None if point.mode == Mode::Hybrid => {
            found.push(Violation::new(
                subject,
                "automation",
                "a hybrid point must say which share is automated (0 to 1)",
            ));
        }
        Some(a) if !(0.0..=1.0).contains(&a) => {
            found.push(Violation::new(
                subject,
                "automation",
                format!("must be between 0 and 1, got {a}"),
            ));
        }
        _ => {}
    }
    let mut facets = BTreeSet::new();
    for (i, facet) in point.facets.iter().enumerate() {
        if !facets.insert(facet) {
            found.push(Violation::new(
                subject,
                format!("facets[{i}]"),
                "each facet must be listed once",
            ));
        }
    }
    let mut names = BTreeSet::new();
    for (i, element) in point.data.iter().enumerate() {
        if element.name.trim().is_empty() {
            found.push(Violation::new(
                subject,
                format!("data[{i}].name"),
                "must not be empty",
            ));
        } else if !names.insert(&element.name) {
            found.push(Violation::new(
                subject,
                format!("data[{i}].name"),
                format!("data element `{}` is declared twice", element.name),
            ));
        }
    }
    if let Err(why) = Contract::compile(point) {
        let field = if point.contract.is_some() {
            "contract"
        } else {
            "data"
        };
        found.push(Violation::new(
            subject,
            field,
            format!("the data contract is not a valid JSON Schema: {why}"),
        ));
    }
    let expected = &point.expected;
    for (field, value) in [
        ("expected.volume_per_month", expected.volume_per_month),
        ("expected.cost", expected.cost),
    ] {
        if let Some(v) = value
            && (!v.is_finite() || v < 0.0)
        {
            found.push(Violation::new(
                subject,
                field,
                format!("must be a finite number of at least 0, got {v}"),
            ));
        }
    }
    for (field, value) in [
        ("expected.value_company", expected.value_company),
        ("expected.value_party", expected.value_party),
    ] {
        if let Some(v) = value
            && !v.is_finite()
        {
            found.push(Violation::new(
                subject,
                field,
                format!("must be a finite number, got {v}"),
            ));
        }
    }
    if point.owner.trim().is_empty() {
        found.push(Violation::new(subject, "owner", "must not be empty"));
    }
    for (name, value) in &point.vars {
        let field = format!("vars.{name}");
        match inventory.organization.variables.get(name) {
            None => {
                let declared: Vec<String> =
                    inventory.organization.variables.keys().cloned().collect();
                found.push(unknown(
                    subject,
                    &field,
                    "industry variable",
                    name,
                    &declared,
                ));
            }
            Some(variable) => {
                if let Err(rule) = check_variable_value(variable, value) {
                    found.push(Violation::new(subject, field, rule));
                }
            }
        }
    }
}

/// Whether `value` is a value of the declared variable; the error says what it must be.
pub fn check_variable_value(variable: &Variable, value: &Value) -> Result<(), String> {
    match (variable.kind, value) {
        (VariableKind::Enum, Value::String(s)) if variable.values.contains(s) => Ok(()),
        (VariableKind::Enum, _) => Err(format!(
            "must be one of {}, got {value}",
            variable.values.join(", ")
        )),
        (VariableKind::Number, Value::Number(_)) => Ok(()),
        (VariableKind::Number, _) => Err(format!("must be a number, got {value}")),
        (VariableKind::Text, Value::String(_)) => Ok(()),
        (VariableKind::Text, _) => Err(format!("must be text, got {value}")),
        (VariableKind::Bool, Value::Bool(_)) => Ok(()),
        (VariableKind::Bool, _) => Err(format!("must be true or false, got {value}")),
    }
}
