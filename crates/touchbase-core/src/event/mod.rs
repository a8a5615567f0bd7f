//! Interaction events: the wire format v1 (PRODUCT.md) decoded and checked, every broken rule
//! reported with its field and the rule, and the classification of a good event as accepted
//! (its point is live) or held (a well-formed point key that is not live, R8).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::access::hex;
use crate::contract::Contract;
use crate::inventory::{Inventory, Status};
use crate::validate::{check_variable_value, is_key};

mod read;

pub use read::{read, read_tree, typed};

/// One interaction, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The idempotency key: given, or the hash of the event's canonical JSON.
    pub id: String,
    pub point: String,
    /// Microseconds since the Unix epoch, UTC.
    pub at: i64,
    pub party: Option<String>,
    pub channel: Option<String>,
    pub outcomes: Outcomes,
    pub value_company: f64,
    pub value_party: f64,
    pub cost: f64,
    pub duration_s: Option<f64>,
    /// The JSON text of the event's `data` object, as received (or, for an event read the
    /// long way by [`decode`], the object written compactly).
    pub data: Option<String>,
    /// The JSON text of the event's `vars` object, likewise.
    pub vars: Option<String>,
}

/// A decoded event, with its `data` and `vars` parsed for the checks that read them (the data
/// contract, the industry variables). The event alone is what is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub event: Event,
    pub data: Option<Value>,
    pub vars: Option<Map<String, Value>>,
}

/// The outcomes of an interaction (seed 003).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcomes {
    pub intent: Option<String>,
    pub satisfaction: Option<u8>,
    pub knowledge: Option<bool>,
    pub resolved: Option<bool>,
    pub engaged: Option<bool>,
}

/// A broken rule of the wire format: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub rule: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.rule)
        } else {
            write!(f, "{}: {}", self.field, self.rule)
        }
    }
}

pub(crate) fn problem(field: &str, rule: impl Into<String>) -> Problem {
    Problem {
        field: field.to_owned(),
        rule: rule.into(),
    }
}

const TOP_LEVEL: [&str; 11] = [
    "id",
    "point",
    "at",
    "party",
    "channel",
    "outcomes",
    "value",
    "cost",
    "duration_s",
    "data",
    "vars",
];
const OUTCOMES: [&str; 5] = ["intent", "satisfaction", "knowledge", "resolved", "engaged"];

/// The hash id of an event without one: the SHA-256 of its canonical JSON (keys sorted, no
/// white space), so that importing the same file twice adds nothing.
pub fn canonical_id(raw: &Value) -> String {
    format!(
        "h:{}",
        &hex(&Sha256::digest(raw.to_string().as_bytes()))[..40]
    )
}

/// Decodes and checks one event against the wire format v1. `now_us` is the current instant
/// (microseconds since the epoch): an event more than 24 h after it is refused. Every broken
/// rule is reported.
pub fn decode(raw: &Value, now_us: i64) -> Result<Decoded, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(object) = raw.as_object() else {
        return Err(vec![problem(
            "",
            format!("an event must be a JSON object, got {}", kind_of(raw)),
        )]);
    };
    for key in object.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(problem(key, "unknown field; the fields are id, point, at, party, channel, outcomes, value, cost, duration_s, data, vars"));
        }
    }
    let id = match object.get("id") {
        None | Some(Value::Null) => canonical_id(raw),
        Some(Value::String(s)) if id_ok(s) => s.clone(),
        Some(other) => {
            problems.push(problem(
                "id",
                format!(
                    "must be a string of 1 to 128 characters, got {}",
                    shown(other)
                ),
            ));
            String::new()
        }
    };
    let point = match object.get("point") {
        Some(Value::String(s)) if is_key(s) => s.clone(),
        Some(Value::String(s)) => {
            problems.push(problem(
                "point",
                format!(
                    "must match [a-z0-9][a-z0-9._-]{{0,63}}, got {}",
                    shown(&Value::String(s.clone()))
                ),
            ));
            String::new()
        }
        None | Some(Value::Null) => {
            problems.push(problem(
                "point",
                "is required: the key of the point of interaction",
            ));
            String::new()
        }
        Some(other) => {
            problems.push(problem(
                "point",
                format!("must be a string, got {}", shown(other)),
            ));
            String::new()
        }
    };
    let at = match object.get("at") {
        Some(Value::String(s)) => match instant(s, now_us) {
            Ok(at) => at,
            Err(why) => {
                problems.push(problem("at", why));
                0
            }
        },
        None | Some(Value::Null) => {
            problems.push(problem(
                "at",
                "is required: an RFC 3339 instant with its offset, e.g. 2026-03-01T09:30:00Z",
            ));
            0
        }
        Some(other) => {
            problems.push(problem(
                "at",
                format!("must be an RFC 3339 string, got {}", shown(other)),
            ));
            0
        }
    };
    let party = optional_string(object, "party", 128, &mut problems);
    let channel = optional_string(object, "channel", 128, &mut problems);
    let outcomes = decode_outcomes(object.get("outcomes"), &mut problems);
    let (value_company, value_party) = match object.get("value") {
        None | Some(Value::Null) => (0.0, 0.0),
        Some(Value::Object(value)) => {
            for key in value.keys() {
                if key != "company" && key != "party" {
                    problems.push(problem(
                        &format!("value.{key}"),
                        "unknown field; value has company and party",
                    ));
                }
            }
            (
                finite(
                    value.get("company"),
                    "value.company",
                    Bound::Value,
                    &mut problems,
                )
                .unwrap_or(0.0),
                finite(
                    value.get("party"),
                    "value.party",
                    Bound::Value,
                    &mut problems,
                )
                .unwrap_or(0.0),
            )
        }
        Some(other) => {
            problems.push(problem(
                "value",
                format!(
                    "must be an object with company and party, got {}",
                    shown(other)
                ),
            ));
            (0.0, 0.0)
        }
    };
    let cost = finite(object.get("cost"), "cost", Bound::Cost, &mut problems).unwrap_or(0.0);
    let duration_s = finite(
        object.get("duration_s"),
        "duration_s",
        Bound::Duration,
        &mut problems,
    );
    let data = object_of(object.get("data"), "data", &mut problems).map(Value::Object);
    let vars = object_of(object.get("vars"), "vars", &mut problems);
    if problems.is_empty() {
        Ok(Decoded {
            event: Event {
                id,
                point,
                at,
                party,
                channel,
                outcomes,
                value_company,
                value_party,
                cost,
                duration_s,
                data: data.as_ref().map(Value::to_string),
                vars: vars
                    .as_ref()
                    .map(|v| serde_json::to_string(v).unwrap_or_default()),
            },
            data,
            vars,
        })
    } else {
        Err(problems)
    }
}

/// The rule of an event's `id`: 1 to 128 characters, no NUL.
fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 128 && !s.contains('\0')
}

/// The rule of `at`: an RFC 3339 instant (its offset within ±23:59), not before 1970 and at
/// most 24 h after `now_us`; in microseconds.
pub(crate) fn instant(s: &str, now_us: i64) -> Result<i64, String> {
    let at = parse_instant(s)?;
    if at < 0 {
        return Err(format!(
            "must not be before 1970-01-01T00:00:00Z, got \"{s}\""
        ));
    }
    if at > now_us.saturating_add(24 * 3_600_000_000) {
        return Err(format!("is more than 24 h in the future: {s}"));
    }
    Ok(at)
}

/// The rule of an optional text (party, channel, intent): at most `max` characters, no NUL.
pub(crate) fn text_ok(s: &str, max: usize) -> bool {
    !s.contains('\0') && s.chars().count() <= max
}

/// The bounds of the wire format's numbers (PRODUCT.md): no event can make a rollup's sum
/// leave the range of a 64-bit float, nor any figure absurd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// `value.company`, `value.party`: magnitude at most 10¹².
    Value,
    /// `cost`: 0 to 10¹².
    Cost,
    /// `duration_s`: 0 to 10⁹ (about 31 years).
    Duration,
}

impl Bound {
    /// The bound of a field's number, for the fields that have one.
    fn of(field: &str) -> Option<Bound> {
        match field {
            "value.company" | "value.party" => Some(Bound::Value),
            "cost" => Some(Bound::Cost),
            "duration_s" => Some(Bound::Duration),
            _ => None,
        }
    }

    /// Whether `v` is within the bound (a non-finite number never is).
    fn holds(self, v: f64) -> bool {
        match self {
            Bound::Value => v.abs() <= 1e12,
            Bound::Cost => (0.0..=1e12).contains(&v),
            Bound::Duration => (0.0..=1e9).contains(&v),
        }
    }

    /// The rule `v` breaks: negative (`below`), or too large.
    fn rule(self, below: bool) -> &'static str {
        match (self, below) {
            (Bound::Value, _) => "must be a finite number from -10^12 to 10^12",
            (Bound::Cost | Bound::Duration, true) => "must be a finite number of at least 0",
            (Bound::Cost, false) => "must be a finite number of at most 10^12",
            (Bound::Duration, false) => "must be a finite number of at most 10^9 (seconds)",
        }
    }
}

/// The rule of `outcomes.satisfaction`: an integer from 1 to 5.
fn satisfaction_ok(v: u64) -> bool {
    (1..=5).contains(&v)
}

/// The `data` or `vars` of an event (`field`): an object, or absent.
fn object_of(
    raw: Option<&Value>,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<Map<String, Value>> {
    match raw {
        None | Some(Value::Null) => None,
        Some(Value::Object(members)) => Some(members.clone()),
        Some(other) => {
            problems.push(problem(
                field,
                format!("must be an object, got {}", shown(other)),
            ));
            None
        }
    }
}

fn decode_outcomes(raw: Option<&Value>, problems: &mut Vec<Problem>) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let object = match raw {
        None | Some(Value::Null) => return outcomes,
        Some(Value::Object(o)) => o,
        Some(other) => {
            problems.push(problem(
                "outcomes",
                format!("must be an object, got {}", shown(other)),
            ));
            return outcomes;
        }
    };
    for key in object.keys() {
        if !OUTCOMES.contains(&key.as_str()) {
            problems.push(problem(
                &format!("outcomes.{key}"),
                "unknown field; outcomes are intent, satisfaction, knowledge, resolved, engaged",
            ));
        }
    }
    let before = problems.len();
    outcomes.intent = optional_string(object, "intent", 64, problems);
    for p in &mut problems[before..] {
        p.field = format!("outcomes.{}", p.field);
    }
    outcomes.satisfaction = match object.get("satisfaction") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(satisfaction_ok) => {
            n.as_u64().map(|v| v as u8)
        }
        Some(other) => {
            problems.push(problem(
                "outcomes.satisfaction",
                format!("must be an integer from 1 to 5, got {}", shown(other)),
            ));
            None
        }
    };
    for (name, slot) in [
        ("knowledge", &mut outcomes.knowledge),
        ("resolved", &mut outcomes.resolved),
        ("engaged", &mut outcomes.engaged),
    ] {
        *slot = match object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                problems.push(problem(
                    &format!("outcomes.{name}"),
                    format!("must be true or false, got {}", shown(other)),
                ));
                None
            }
        };
    }
    outcomes
}

pub(crate) fn optional_string(
    object: &Map<String, Value>,
    field: &str,
    max: usize,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.contains('\0') => {
            problems.push(problem(
                field,
                "must not contain the NUL character (\\u0000)",
            ));
            None
        }
        Some(Value::String(s)) if text_ok(s, max) => Some(s.clone()),
        Some(Value::String(s)) => {
            problems.push(problem(
                field,
                format!(
                    "must be at most {max} characters, got {}",
                    s.chars().count()
                ),
            ));
            None
        }
        Some(other) => {
            problems.push(problem(
                field,
                format!("must be a string, got {}", shown(other)),
            ));
            None
        }
    }
}

fn finite(
    raw: Option<&Value>,
    field: &str,
    bound: Bound,
    problems: &mut Vec<Problem>,
) -> Option<f64> {
    match raw {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if bound.holds(v) => Some(v),
            v => {
                let below = v.is_some_and(|v| v < 0.0);
                problems.push(problem(field, format!("{}, got {n}", bound.rule(below))));
                None
            }
        },
        Some(other) => {
            problems.push(problem(
                field,
                format!("must be a number, got {}", shown(other)),
            ));
            None
        }
    }
}

/// Whether `s` has the shape of RFC 3339: `YYYY-MM-DDTHH:MM:SS`, an optional fraction, and
/// `Z` or an offset `±HH:MM` (the parser behind it accepts more than the wire format allows).
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let fixed = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// The offset of an RFC 3339 text (`+HH:MM`, `-HH:MM`) when it lies beyond ±23:59 (RFC 3339:
/// hours 00–23, minutes 00–59); `None` for `Z` and for offsets within.
fn offset_beyond(s: &str) -> Option<&str> {
    let offset = s.get(s.len().checked_sub(6)?..)?;
    let b = offset.as_bytes();
    let within = |tens: u8, units: u8, most: u8| (tens - b'0') * 10 + (units - b'0') <= most;
    (matches!(b[0], b'+' | b'-') && !(within(b[1], b[2], 23) && within(b[4], b[5], 59)))
        .then_some(offset)
}

/// Parses an RFC 3339 instant with its offset (within ±23:59) into microseconds since the
/// epoch.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    if !is_rfc3339(s) {
        return Err(format!(
            "must be an RFC 3339 instant with its offset, e.g. 2026-03-01T09:30:00Z, got \"{s}\""
        ));
    }
    if let Some(offset) = offset_beyond(s) {
        return Err(format!(
            "has the offset {offset}: an offset must be within -23:59 to +23:59, got \"{s}\""
        ));
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|_| format!("must be an RFC 3339 instant with its offset, e.g. 2026-03-01T09:30:00Z, got \"{s}\""))
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as a message shows it: short, with its type.
pub(crate) fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        format!("{} …", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Where a checked event goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Its point is live: it counts.
    Accepted,
    /// Its point is not live (unknown to the inventory, proposed, approved, rejected or
    /// retired; a live point under review still counts): kept, not counted, released into the
    /// counts if the point goes live (R8).
    Held,
    /// It breaks a rule that depends on the inventory (an industry variable); kept in the
    /// rejects with its reasons.
    Rejected(Vec<Problem>),
}

/// What the inventory says about an event: accepted, held or rejected, and — for an accepted
/// or held event at a known point — whether its data meets the point's contract (R13).
#[derive(Debug)]
pub struct Checker {
    points: BTreeMap<String, (Status, Contract)>,
    variables: BTreeMap<String, crate::inventory::Variable>,
    /// The enabled event rules (R18).
    rules: crate::rules::EventRules,
    /// The enabled `undocumented_seen` lifecycle rules.
    undocumented: Vec<crate::rules::Rule>,
    firing: Firing,
    /// The live automated points (R19) by the point whose first orders they capture.
    standing: BTreeMap<String, Vec<(String, crate::standing::Standing)>>,
}

/// Whether events fire the reverse feed's rules as they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Firing {
    /// As they arrive: a rule's `max_age` holds back events older than that (backfills).
    #[default]
    Live,
    /// Every matching event fires, whatever its age (`import --fire-rules`).
    Always,
    /// None fires (synthetic history).
    Off,
}

/// The data-contract result of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conformance {
    pub conforms: bool,
    /// Each element that fails, with the rule it breaks.
    pub failures: Vec<String>,
}

impl Checker {
    /// Compiles every point's contract once.
    pub fn new(inventory: &Inventory) -> Checker {
        let points = inventory
            .points
            .iter()
            .filter_map(|p| {
                Contract::compile(p)
                    .ok()
                    .map(|c| (p.key.clone(), (p.status, c)))
            })
            .collect();
        Checker {
            points,
            variables: inventory.organization.variables.clone(),
            rules: crate::rules::EventRules::new(&inventory.rules),
            undocumented: inventory
                .rules
                .iter()
                .filter(|r| {
                    !r.disabled
                        && r.when.lifecycle == Some(crate::rules::Lifecycle::UndocumentedSeen)
                        && r.kind().is_some()
                })
                .cloned()
                .collect(),
            firing: Firing::Live,
            standing: inventory
                .points
                .iter()
                .filter(|p| p.status == Status::Live)
                .filter_map(|p| p.standing.as_ref().map(|s| (p.key.clone(), s.clone())))
                .fold(BTreeMap::new(), |mut by_from, (point, s)| {
                    by_from
                        .entry(s.from.clone())
                        .or_insert_with(Vec::new)
                        .push((point, s));
                    by_from
                }),
        }
    }

    /// The standing orders an accepted event would capture (R19): one per live automated point
    /// whose `from` is the event's point, when the event has a party and its items read. The
    /// store writes each only if the party has no order there yet: its first order wins.
    pub fn captures(&self, decoded: &Decoded, held: bool) -> Vec<crate::standing::Order> {
        let event = &decoded.event;
        let (false, Some(party), Some(automated)) = (
            held,
            event.party.as_deref(),
            self.standing.get(&event.point),
        ) else {
            return Vec::new();
        };
        automated
            .iter()
            .filter_map(|(point, standing)| {
                let items = crate::standing::items_of(standing, decoded.data.as_ref()).ok()?;
                Some(crate::standing::capture(
                    standing, point, party, &event.id, event.at, items,
                ))
            })
            .collect()
    }

    /// The same checker, firing rules as `firing` says.
    pub fn firing(mut self, firing: Firing) -> Checker {
        self.firing = firing;
        self
    }

    /// The deliveries an event fires when it is written (new) at `now`: an accepted event the
    /// event rules it meets; a held event at a point the inventory does not list, the
    /// `undocumented_seen` rules (once per point: the firing's id is the point's).
    pub fn fire(&self, event: &Event, held: bool, now: i64) -> Vec<crate::rules::Firing> {
        let max_age = match self.firing {
            Firing::Off => return Vec::new(),
            Firing::Live => true,
            Firing::Always => false,
        };
        if !held {
            return self.rules.fire(event, now, max_age);
        }
        if self.undocumented.is_empty() || self.points.contains_key(&event.point) {
            return Vec::new();
        }
        self.undocumented
            .iter()
            .flat_map(|r| {
                crate::rules::firings(
                    r,
                    "lifecycle.undocumented_seen",
                    (
                        "subject",
                        serde_json::json!({ "point": event.point, "first_event": crate::rules::event_json(event) }),
                    ),
                    // Once per point, whenever first seen: the id must not depend on when.
                    (&format!("undocumented {}", event.point), 0),
                    now,
                )
            })
            .collect()
    }

    /// Decides where a decoded event goes, and checks its data against its point's contract.
    pub fn check(&self, decoded: &Decoded) -> (Disposition, Conformance) {
        let event = &decoded.event;
        let mut problems = Vec::new();
        if let Some(vars) = &decoded.vars {
            for (name, value) in vars {
                match self.variables.get(name) {
                    None => problems.push(problem(
                        &format!("vars.{name}"),
                        "is not an industry variable the organization declares",
                    )),
                    Some(variable) => {
                        if let Err(rule) = check_variable_value(variable, value) {
                            problems.push(problem(&format!("vars.{name}"), rule));
                        }
                    }
                }
            }
        }
        let conformance = match self.points.get(&event.point) {
            None => Conformance {
                conforms: true,
                failures: Vec::new(),
            },
            Some((_, contract)) => {
                let failures =
                    contract.failures(decoded.data.as_ref().unwrap_or(&Value::Object(Map::new())));
                Conformance {
                    conforms: failures.is_empty(),
                    failures,
                }
            }
        };
        if !problems.is_empty() {
            return (Disposition::Rejected(problems), conformance);
        }
        let counted = matches!(
            self.points.get(&event.point),
            Some((Status::Live | Status::UnderReview, _))
        );
        (
            if counted {
                Disposition::Accepted
            } else {
                Disposition::Held
            },
            conformance,
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_780_000_000_000_000;

    fn check(raw: Value, expected: &[&str]) {
        let got: Vec<String> = match decode(&raw, NOW) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        };
        assert_eq!(got, expected, "{raw}");
        // Reading the text decides the same, with or without an id.
        assert_eq!(
            read(&raw.to_string(), NOW).map(|d| d.event),
            decode(&raw, NOW).map(|d| d.event),
            "{raw}"
        );
        let mut with_id = raw.clone();
        if let Some(object) = with_id.as_object_mut() {
            object.entry("id").or_insert_with(|| json!("x-1"));
        }
        assert_eq!(
            read(&with_id.to_string(), NOW).map(|d| d.event),
            decode(&with_id, NOW).map(|d| d.event),
            "{with_id}"
        );
    }

    #[test]
    fn every_rule_of_the_wire_format() {
        check(
            json!({ "point": "web.order", "at": "2026-03-01T09:30:00Z" }),
            &[],
        );
        check(
            json!({ "at": "2026-03-01T09:30:00Z" }),
            &["point: is required: the key of the point of interaction"],
        );
        check(
            json!({ "point": "Web Order", "at": "2026-03-01T09:30:00Z" }),
            &["point: must match [a-z0-9][a-z0-9._-]{0,63}, got \"Web Order\""],
        );
        check(
            json!({ "point": "a" }),
            &["at: is required: an RFC 3339 instant with its offset, e.g. 2026-03-01T09:30:00Z"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01 09:30" }),
            &[
                "at: must be an RFC 3339 instant with its offset, e.g. 2026-03-01T09:30:00Z, got \"2026-03-01 09:30\"",
            ],
        );
        check(
            json!({ "point": "a", "at": "2036-03-01T09:30:00Z" }),
            &["at: is more than 24 h in the future: 2036-03-01T09:30:00Z"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "outcomes": { "satisfaction": 7 } }),
            &["outcomes.satisfaction: must be an integer from 1 to 5, got 7"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "outcomes": { "satisfaction": 4.5 } }),
            &["outcomes.satisfaction: must be an integer from 1 to 5, got 4.5"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "outcomes": { "resolved": "yes" } }),
            &["outcomes.resolved: must be true or false, got \"yes\""],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "outcomes": { "mood": 1 } }),
            &[
                "outcomes.mood: unknown field; outcomes are intent, satisfaction, knowledge, resolved, engaged",
            ],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "outcomes": { "intent": "x".repeat(65) } }),
            &["outcomes.intent: must be at most 64 characters, got 65"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "cost": -1 }),
            &["cost: must be a finite number of at least 0, got -1"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "value": { "company": "4" } }),
            &["value.company: must be a number, got \"4\""],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "colour": "red" }),
            &[
                "colour: unknown field; the fields are id, point, at, party, channel, outcomes, value, cost, duration_s, data, vars",
            ],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "id": "" }),
            &["id: must be a string of 1 to 128 characters, got \"\""],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "party": 12 }),
            &["party: must be a string, got 12"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "party": "a\0b" }),
            &["party: must not contain the NUL character (\\u0000)"],
        );
        check(
            json!({ "point": "a", "at": "2026-03-01T09:30:00Z", "data": [1] }),
            &["data: must be an object, got [1]"],
        );
        check(
            json!([1, 2]),
            &["an event must be a JSON object, got an array"],
        );
        check(
            json!({ "point": 1, "at": 2, "duration_s": -3 }),
            &[
                "point: must be a string, got 1",
                "at: must be an RFC 3339 string, got 2",
                "duration_s: must be a finite number of at least 0, got -3",
            ],
        );
    }

    /// The wire format's bounds (PRODUCT.md): magnitudes of 10¹² for values and cost, 10⁹ for
    /// durations, and an instant from 1970 on with an offset within ±23:59.
    #[test]
    fn numbers_and_instants_within_their_bounds() {
        let at = "2026-03-01T09:30:00Z";
        for taken in [
            json!({ "point": "a", "at": at, "value": { "company": 1e12, "party": -1e12 } }),
            json!({ "point": "a", "at": at, "cost": 1e12, "duration_s": 1e9 }),
            json!({ "point": "a", "at": at, "cost": 0, "duration_s": 0 }),
            json!({ "point": "a", "at": "1970-01-01T00:00:00Z" }),
            json!({ "point": "a", "at": "1970-01-01T00:30:00-00:30" }),
            json!({ "point": "a", "at": "2026-03-01T09:30:00+23:59" }),
            json!({ "point": "a", "at": "2026-03-01T09:30:00-23:59" }),
        ] {
            check(taken, &[]);
        }
        check(
            json!({ "point": "a", "at": at, "value": { "company": 1.797e308, "party": -1.000001e12 } }),
            &[
                "value.company: must be a finite number from -10^12 to 10^12, got 1.797e+308",
                "value.party: must be a finite number from -10^12 to 10^12, got -1000001000000.0",
            ],
        );
        check(
            json!({ "point": "a", "at": at, "cost": 1e12 + 1.0, "duration_s": 1e9 + 1.0 }),
            &[
                "cost: must be a finite number of at most 10^12, got 1000000000001.0",
                "duration_s: must be a finite number of at most 10^9 (seconds), got 1000000001.0",
            ],
        );
        check(
            json!({ "point": "a", "at": at, "cost": 12_345_678_901_234_567_890_u64 }),
            &["cost: must be a finite number of at most 10^12, got 12345678901234567890"],
        );
        check(
            json!({ "point": "a", "at": "1969-12-31T23:59:59.999999Z" }),
            &["at: must not be before 1970-01-01T00:00:00Z, got \"1969-12-31T23:59:59.999999Z\""],
        );
        check(
            json!({ "point": "a", "at": "1970-01-01T00:30:00+01:00" }),
            &["at: must not be before 1970-01-01T00:00:00Z, got \"1970-01-01T00:30:00+01:00\""],
        );
        check(
            json!({ "point": "a", "at": "0000-01-01T00:00:00Z" }),
            &["at: must not be before 1970-01-01T00:00:00Z, got \"0000-01-01T00:00:00Z\""],
        );
        for offset in ["+24:00", "-24:00", "+25:59", "+00:60", "-12:99"] {
            let at = format!("2026-03-01T09:30:00{offset}");
            check(
                json!({ "point": "a", "at": at }),
                &[&format!(
                    "at: has the offset {offset}: an offset must be within -23:59 to +23:59, got \"{at}\""
                )],
            );
        }
    }

    #[test]
    fn the_instant_is_stored_in_utc_and_the_id_defaults_to_the_canonical_hash() {
        let a = decode(
            &json!({ "point": "a", "at": "2026-03-01T10:30:00+01:00", "cost": 1 }),
            NOW,
        )
        .unwrap()
        .event;
        let b = decode(
            &json!({ "cost": 1, "at": "2026-03-01T10:30:00+01:00", "point": "a" }),
            NOW,
        )
        .unwrap()
        .event;
        assert_eq!(a.at, parse_instant("2026-03-01T09:30:00Z").unwrap());
        assert_eq!(a.id, b.id, "key order does not change the canonical id");
        assert!(a.id.starts_with("h:"));
        let c = decode(
            &json!({ "point": "a", "at": "2026-03-01T10:30:00+01:00", "cost": 2 }),
            NOW,
        )
        .unwrap()
        .event;
        assert_ne!(a.id, c.id);
        let given = decode(
            &json!({ "id": "ord-1", "point": "a", "at": "2026-03-01T09:30:00Z" }),
            NOW,
        )
        .unwrap()
        .event;
        assert_eq!(given.id, "ord-1");
    }
}

/// A checked event ready to be written: where it goes and whether its data conforms.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub event: Event,
    /// Held (R8) rather than counted.
    pub held: bool,
    pub conformance: Conformance,
    /// The deliveries the event fires if it is new (the reverse feed's rules, R18): written in
    /// the event's own transaction, and not at all when it is a duplicate.
    pub firings: Vec<crate::rules::Firing>,
    /// The standing orders the event captures if it is new ([`Checker::captures`]): written in
    /// its transaction unless the party has an order at that automated point already.
    pub captures: Vec<crate::standing::Order>,
    /// [`id_key`] of the event's id, worked out where the event is checked rather than where
    /// it is written (the writer is the busier side of an import).
    key: i64,
}

impl Checked {
    pub fn new(event: Event, held: bool, conformance: Conformance) -> Checked {
        Checked {
            key: id_key(&event.id),
            event,
            held,
            conformance,
            firings: Vec::new(),
            captures: Vec::new(),
        }
    }

    /// The key the event's id is found by ([`id_key`]).
    pub fn key(&self) -> i64 {
        self.key
    }
}

/// The most bytes of a rejected input that are kept: its head. A longer input is kept as its
/// first [`REJECT_HEAD`] bytes, its length and the SHA-256 of the whole, and is never replayed
/// (what was cut off is gone).
pub const REJECT_HEAD: usize = 64 * 1024;

/// An input that could not be taken, kept with its reasons so it can be replayed (R9).
#[derive(Debug, Clone, PartialEq)]
pub struct NewReject {
    /// Where it came from: `http`, `file:NAME:LINE`, `mqtt:TOPIC`, …
    pub source: String,
    /// The input as received (one event's text, or the whole line), or its first
    /// [`REJECT_HEAD`] bytes.
    pub raw: String,
    pub reasons: Vec<String>,
    /// Whether `raw` is exactly what was received. It is not when the input was not UTF-8 or
    /// held NUL characters (which not every store keeps), shown replaced, or was cut to its
    /// head: such a reject is never replayed, since that could take an event that was never
    /// sent.
    pub replayable: bool,
    /// How many bytes were received: more than `raw` holds when it was cut to its head.
    pub length: u64,
    /// The SHA-256 of the whole text received (hex), before it was cut: the same input
    /// rejected again (a file imported twice) is kept once.
    pub sha256: String,
}

impl NewReject {
    /// A reject of the bytes received: kept as text, with what text cannot hold shown
    /// (invalid UTF-8 as U+FFFD, NUL as `␀`) and said in the reasons; cut to its first
    /// [`REJECT_HEAD`] bytes when longer.
    pub fn new(source: &str, raw: &[u8], mut reasons: Vec<String>) -> NewReject {
        let (mut text, mut replayable) = match std::str::from_utf8(raw) {
            Ok(text) => (text.to_owned(), true),
            Err(e) => {
                reasons.push(format!(
                    "not UTF-8: invalid byte at offset {}; shown as \u{FFFD}, and not replayable",
                    e.valid_up_to()
                ));
                (String::from_utf8_lossy(raw).into_owned(), false)
            }
        };
        if text.contains('\0') {
            text = text.replace('\0', "\u{2400}");
            reasons.push(
                "the input held NUL characters, shown as \u{2400}; it is not replayable".to_owned(),
            );
            replayable = false;
        }
        let sha256 = hex(&Sha256::digest(text.as_bytes()));
        if text.len() > REJECT_HEAD {
            let mut head = REJECT_HEAD;
            while !text.is_char_boundary(head) {
                head -= 1;
            }
            text.truncate(head);
            reasons.push(format!(
                "the input is {} bytes long; only its first {head} are kept (with the SHA-256 \
                 of the whole), so it is not replayable: send it again once the cause is fixed",
                raw.len()
            ));
            replayable = false;
        }
        NewReject {
            source: source.replace('\0', "\u{2400}"),
            raw: text,
            reasons,
            replayable,
            length: raw.len() as u64,
            sha256,
        }
    }

    /// The reject's fingerprint: the SHA-256 of its whole text. The same input rejected again
    /// (a file imported twice) is kept once.
    pub fn digest(&self) -> String {
        self.sha256.clone()
    }
}

/// A rejected input on record.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reject {
    pub id: i64,
    /// Microseconds since the epoch.
    pub received_at: i64,
    pub source: String,
    /// The input as received, or its first 65,536 bytes when `truncated`.
    pub raw: String,
    pub reasons: Vec<String>,
    /// When a replay took it (microseconds since the epoch).
    pub replayed_at: Option<i64>,
    /// False when `raw` is not exactly what was received (see [`NewReject::replayable`]).
    pub replayable: bool,
    /// How many bytes were received.
    pub length: u64,
    /// The SHA-256 of the whole text received (hex).
    pub sha256: String,
    /// Whether `raw` holds only the head of what was received (see [`REJECT_HEAD`]).
    pub truncated: bool,
}

/// The 64-bit key an event id is found by: the first eight bytes of its SHA-256. Two ids with
/// one key are told apart by the stores (the key narrows the search; the id decides).
pub fn id_key(id: &str) -> i64 {
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// What became of one event written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Written {
    Accepted,
    Held,
    /// An event with this id is on record already; nothing was added.
    Duplicate,
}

/// Interactions held at one point that is not live (R8): an undocumented point of interaction.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldPoint {
    pub point: String,
    pub volume: u64,
    /// Microseconds since the epoch of the first and last interaction seen.
    pub first_at: i64,
    pub last_at: i64,
    /// One of its events, as stored (its id).
    pub sample_id: String,
}
