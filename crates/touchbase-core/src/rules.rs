//! The reverse feed's rules (R18): when touchbase sends what, and where.
//!
//! A rule is one YAML document (or an entry of the inventory file's `rules:`). Its `when` says
//! what it fires on — an accepted event matching conditions, a scorecard figure over a sliding
//! window, or a lifecycle change — and its `do` the endpoints each firing is delivered to. This
//! module holds the format, its rules ([`check`]), and the pure part of firing: matching an
//! event ([`EventRules::fire`]) and the bodies and ids of the deliveries a firing makes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::event::Event;
use crate::validate::{KEY_RULE, Violation, is_key};

/// A rule of the reverse feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub when: When,
    /// Event rules: events older than this when they arrive do not fire (a backfill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub max_age: Option<Span>,
    /// Metric rules: how often the figure is evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub every: Option<Span>,
    /// Metric rules: how long the breach must hold before it fires.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub for_: Option<Span>,
    /// Metric rules: how long it stays quiet after a firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cooldown: Option<Span>,
    /// The actions: one delivery to each endpoint per firing.
    #[serde(rename = "do")]
    pub actions: Vec<Action>,
    /// A point at which each delivered action is recorded as an interaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_at: Option<String>,
    /// A disabled rule is kept but fires on nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// What a rule fires on: exactly one of `event`, `metric` and `lifecycle`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct When {
    /// An accepted event whose fields meet every condition: `field: value` (equal) or
    /// `field: { eq | ne | lt | lte | gt | gte | in | exists: … }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub event: Option<BTreeMap<String, Value>>,
    /// A scorecard figure over a sliding window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricWhen>,
    /// A change in the inventory's life.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

/// The kind of a rule, by its `when`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Event,
    Metric,
    Lifecycle,
}

impl Rule {
    /// The rule's kind; `None` when its `when` names none or several.
    pub fn kind(&self) -> Option<RuleKind> {
        match (&self.when.event, &self.when.metric, &self.when.lifecycle) {
            (Some(_), None, None) => Some(RuleKind::Event),
            (None, Some(_), None) => Some(RuleKind::Metric),
            (None, None, Some(_)) => Some(RuleKind::Lifecycle),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind() {
            Some(RuleKind::Event) => "event",
            Some(RuleKind::Metric) => "metric",
            Some(RuleKind::Lifecycle) => "lifecycle",
            None => "-",
        }
    }
}

/// A metric rule's condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetricWhen {
    /// The scope: a point's key (absent: the whole organization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// A scorecard figure's name (METRICS.md), e.g. `csat`, `volume`, `resolution_rate`.
    pub figure: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub window: Span,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// Resolution thresholds (hysteresis); default: the threshold itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_above: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_below: Option<f64>,
    /// Fewer interactions than this in the window: not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_volume: Option<u64>,
}

/// The lifecycle changes a rule can fire on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    ProposalOpened,
    ProposalDecided,
    PointLive,
    UndocumentedSeen,
    /// An endpoint was disabled: by an admin, by a `410 Gone`, or after failing everything
    /// for `feed.disable_after` (5 days).
    EndpointDisabled,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::ProposalOpened => "proposal_opened",
            Lifecycle::ProposalDecided => "proposal_decided",
            Lifecycle::PointLive => "point_live",
            Lifecycle::UndocumentedSeen => "undocumented_seen",
            Lifecycle::EndpointDisabled => "endpoint_disabled",
        }
    }
}

/// One action of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RuleAction))]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub endpoint: String,
    /// Hand out an invitation to this survey for the event that fired (event rules only): the
    /// delivery carries it, with its link, or why the party was not invited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<String>,
}

/// A length of time as written (`30s`, `5m`, `24h`, `1d`, `1h30m`, `2w`), kept in that text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    text: String,
    micros: i64,
}

impl Span {
    pub fn parse(text: &str) -> Result<Span, String> {
        let rule = || format!("must be a length of time such as 30s, 5m, 24h or 1d, got `{text}`");
        let mut micros: i64 = 0;
        let mut digits = String::new();
        let mut any = false;
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit: i64 = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(rule()),
            };
            let n: i64 = digits.parse().map_err(|_| rule())?;
            digits.clear();
            micros = n
                .checked_mul(unit * 1_000_000)
                .and_then(|m| micros.checked_add(m))
                .ok_or_else(rule)?;
            any = true;
        }
        if !digits.is_empty() || !any || micros == 0 {
            return Err(rule());
        }
        Ok(Span {
            text: text.to_owned(),
            micros,
        })
    }

    pub fn micros(&self) -> i64 {
        self.micros
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The fields of an event a condition can name (besides `data.…` and `vars.…`).
pub const EVENT_FIELDS: [&str; 12] = [
    "point",
    "party",
    "channel",
    "outcomes.intent",
    "outcomes.satisfaction",
    "outcomes.knowledge",
    "outcomes.resolved",
    "outcomes.engaged",
    "value.company",
    "value.party",
    "cost",
    "duration_s",
];

const OPERATORS: &str = "eq, ne, lt, lte, gt, gte, in, exists";

/// One compiled condition.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    In(Vec<Value>),
    Exists(bool),
}

/// A field of the event and the tests its value must pass.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    field: String,
    tests: Vec<Test>,
}

fn compile_condition(field: &str, spec: &Value) -> Result<Condition, String> {
    let known = EVENT_FIELDS.contains(&field)
        || field
            .strip_prefix("data.")
            .or_else(|| field.strip_prefix("vars."))
            .is_some_and(|rest| !rest.is_empty() && rest.split('.').all(|p| !p.is_empty()));
    if !known {
        return Err(format!(
            "is not a field of an event: use one of {}, or data.NAME or vars.NAME",
            EVENT_FIELDS.join(", ")
        ));
    }
    let tests = match spec {
        Value::Object(ops) => {
            if ops.is_empty() {
                return Err(format!("needs at least one of {OPERATORS}"));
            }
            let mut tests = Vec::new();
            for (op, v) in ops {
                let ordered = |v: &Value| -> Result<Value, String> {
                    if v.is_number() || v.is_string() {
                        Ok(v.clone())
                    } else {
                        Err(format!(
                            "{op}: must compare with a number or a string, got {v}"
                        ))
                    }
                };
                tests.push(match op.as_str() {
                    "eq" => Test::Eq(v.clone()),
                    "ne" => Test::Ne(v.clone()),
                    "lt" => Test::Lt(ordered(v)?),
                    "lte" => Test::Lte(ordered(v)?),
                    "gt" => Test::Gt(ordered(v)?),
                    "gte" => Test::Gte(ordered(v)?),
                    "in" => match v {
                        Value::Array(values) => Test::In(values.clone()),
                        _ => return Err(format!("in: must be a list of values, got {v}")),
                    },
                    "exists" => match v {
                        Value::Bool(b) => Test::Exists(*b),
                        _ => return Err(format!("exists: must be true or false, got {v}")),
                    },
                    other => {
                        return Err(format!(
                            "`{other}` is not an operator; use one of {OPERATORS}"
                        ));
                    }
                });
            }
            tests
        }
        Value::Array(_) => {
            return Err(format!(
                "a list is not a condition: use {{ in: [...] }} or one of {OPERATORS}"
            ));
        }
        scalar => vec![Test::Eq(scalar.clone())],
    };
    Ok(Condition {
        field: field.to_owned(),
        tests,
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Test {
    fn passes(&self, value: Option<&Value>) -> bool {
        use std::cmp::Ordering::*;
        let present = value.filter(|v| !v.is_null());
        match self {
            Test::Exists(want) => present.is_some() == *want,
            Test::Eq(v) => present.is_some_and(|x| same(x, v)),
            Test::Ne(v) => !present.is_some_and(|x| same(x, v)),
            Test::In(vs) => present.is_some_and(|x| vs.iter().any(|v| same(x, v))),
            Test::Lt(v) => present.and_then(|x| order(x, v)) == Some(Less),
            Test::Lte(v) => matches!(present.and_then(|x| order(x, v)), Some(Less | Equal)),
            Test::Gt(v) => present.and_then(|x| order(x, v)) == Some(Greater),
            Test::Gte(v) => matches!(present.and_then(|x| order(x, v)), Some(Greater | Equal)),
        }
    }
}

/// Every broken rule of one rule, each naming the rule, the field and what is wrong.
/// `points` are the inventory's point keys, `endpoints` the endpoints declared.
pub fn check(rule: &Rule, points: &[&str], endpoints: &[&str]) -> Vec<Violation> {
    let subject = format!("rule `{}`", rule.key);
    let mut out = Vec::new();
    let mut bad = |field: &str, why: String| out.push(Violation::new(&subject, field, why));
    if !is_key(&rule.key) {
        bad("key", KEY_RULE.to_owned());
    }
    let when = &rule.when;
    match (rule.kind(), &when.event, &when.metric, &when.lifecycle) {
        (None, ..) => bad(
            "when",
            "needs exactly one of event, metric and lifecycle".to_owned(),
        ),
        (_, Some(conditions), None, None) => {
            if conditions.is_empty() {
                bad(
                    "when.event",
                    "needs at least one condition (e.g. point: web.order)".to_owned(),
                );
            }
            for (field, spec) in conditions {
                if let Err(why) = compile_condition(field, spec) {
                    bad(&format!("when.event.{field}"), why);
                }
            }
            for (name, present) in [
                ("every", rule.every.is_some()),
                ("for", rule.for_.is_some()),
                ("cooldown", rule.cooldown.is_some()),
            ] {
                if present {
                    bad(name, "applies to metric rules only".to_owned());
                }
            }
        }
        (_, None, Some(m), None) => {
            if !METRIC_FIGURES.contains(&m.figure.as_str()) {
                bad(
                    "when.metric.figure",
                    format!(
                        "is not a scorecard figure; use one of {}",
                        METRIC_FIGURES.join(", ")
                    ),
                );
            }
            match (m.below, m.above) {
                (None, None) => bad(
                    "when.metric",
                    "needs a threshold: below or above".to_owned(),
                ),
                (Some(_), Some(_)) => bad(
                    "when.metric",
                    "takes one threshold, below or above, not both".to_owned(),
                ),
                _ => {}
            }
            if let (Some(below), Some(r)) = (m.below, m.resolve_above)
                && r < below
            {
                bad(
                    "when.metric.resolve_above",
                    format!("must be at least the threshold below: {below}"),
                );
            }
            if let (Some(above), Some(r)) = (m.above, m.resolve_below)
                && r > above
            {
                bad(
                    "when.metric.resolve_below",
                    format!("must be at most the threshold above: {above}"),
                );
            }
            if let Some(p) = &m.point
                && !points.contains(&p.as_str())
            {
                bad("when.metric.point", format!("unknown point `{p}`"));
            }
            if rule.max_age.is_some() {
                bad("max_age", "applies to event rules only".to_owned());
            }
        }
        _ => {
            for (name, present) in [
                ("max_age", rule.max_age.is_some()),
                ("every", rule.every.is_some()),
                ("for", rule.for_.is_some()),
                ("cooldown", rule.cooldown.is_some()),
            ] {
                if present {
                    bad(name, "does not apply to lifecycle rules".to_owned());
                }
            }
        }
    }
    if rule.actions.is_empty() {
        bad(
            "do",
            "needs at least one action: { endpoint: KEY }".to_owned(),
        );
    }
    for (i, action) in rule.actions.iter().enumerate() {
        if !endpoints.contains(&action.endpoint.as_str()) {
            bad(
                &format!("do[{i}].endpoint"),
                format!(
                    "unknown endpoint `{}`; declared: {}",
                    action.endpoint,
                    if endpoints.is_empty() {
                        "none (an admin adds one with `touchbase endpoint add`)".to_owned()
                    } else {
                        endpoints.join(", ")
                    }
                ),
            );
        }
    }
    if let Some(p) = &rule.record_at
        && !points.contains(&p.as_str())
    {
        bad("record_at", format!("unknown point `{p}`"));
    }
    out
}

/// The broken rules of a rule's `invite` actions: a survey of the inventory (`surveys`), on an
/// event rule (an invitation is about the event that fired).
pub fn check_invites(rule: &Rule, surveys: &[&str]) -> Vec<Violation> {
    let subject = format!("rule `{}`", rule.key);
    let mut out = Vec::new();
    for (i, action) in rule.actions.iter().enumerate() {
        let Some(survey) = &action.invite else {
            continue;
        };
        let field = format!("do[{i}].invite");
        if rule.when.event.is_none() {
            out.push(Violation::new(
                &subject,
                &field,
                "applies to event rules only: an invitation is about the event that fired",
            ));
        }
        if !surveys.contains(&survey.as_str()) {
            out.push(Violation::new(
                &subject,
                &field,
                format!(
                    "unknown survey `{survey}`; the surveys are {}",
                    if surveys.is_empty() {
                        "none".to_owned()
                    } else {
                        surveys.join(", ")
                    }
                ),
            ));
        }
    }
    out
}

/// The scorecard figures a metric rule can watch (the scorecard's own names, METRICS.md).
pub const METRIC_FIGURES: [&str; 18] = [
    "volume",
    "volume_attainment",
    "value_company",
    "value_party",
    "cost",
    "net_value",
    "value_company_per",
    "cost_per",
    "net_value_per",
    "intent_rate",
    "satisfaction_avg",
    "csat",
    "knowledge_rate",
    "resolution_rate",
    "engagement_rate",
    "effectiveness",
    "efficiency",
    "conformance_rate",
];

/// A rule's delivery of one firing to one endpoint, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Stable across retries and replays: the same firing gets the same id.
    pub id: String,
    pub rule: String,
    pub endpoint: String,
    /// Microseconds since the epoch.
    pub fired_at: i64,
    /// The JSON body sent.
    pub body: String,
}

/// The id of a rule's firing on `subject` (what it fired on: an event's id and instant, a
/// metric's breach, a lifecycle change) delivered to its `action`-th endpoint. It starts with
/// the subject's instant `at` (milliseconds, 13 hex digits), so that ids written together sort
/// together: a store's index on them takes new ids at its end instead of on a random page
/// each (a random id made a 10,000-event import write its whole index again per batch).
pub fn firing_id(rule: &str, subject: &str, at: i64, action: usize) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(subject.as_bytes());
    h.update([0]);
    h.update(action.to_le_bytes());
    let ms = (at.max(0) / 1000) as u64;
    format!("msg_{ms:013x}{}", &crate::access::hex(&h.finalize())[..13])
}

/// RFC 3339 in UTC, microsecond precision, of microseconds since the epoch.
pub fn instant(us: i64) -> String {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The firings of `rule` on `subject` (of the instant `subject_at`): one per action, each
/// with its body `{type, rule, fired_at, <what>: …}`.
pub fn firings(
    rule: &Rule,
    kind: &str,
    what: (&str, Value),
    subject: (&str, i64),
    fired_at: i64,
) -> Vec<Firing> {
    firings_of_text(rule, kind, (what.0, &what.1.to_string()), subject, fired_at)
}

/// [`firings`] with what it fired on given as JSON text already (an event's, written without
/// a tree of values: this is on the path of every firing event).
pub fn firings_of_text(
    rule: &Rule,
    kind: &str,
    what: (&str, &str),
    subject: (&str, i64),
    fired_at: i64,
) -> Vec<Firing> {
    let (subject, subject_at) = subject;
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let body = format!(
        "{{\"type\":{},\"rule\":{},\"fired_at\":\"{}\",{}:{}}}",
        quoted(kind),
        quoted(&rule.key),
        instant(fired_at),
        quoted(what.0),
        what.1
    );
    rule.actions
        .iter()
        .enumerate()
        .map(|(i, a)| Firing {
            id: firing_id(&rule.key, subject, subject_at, i),
            rule: rule.key.clone(),
            endpoint: a.endpoint.clone(),
            fired_at,
            body: body.clone(),
        })
        .collect()
}

/// An event in the wire format v1, as a delivery's body carries it.
pub fn event_json(e: &Event) -> Value {
    serde_json::from_str(&event_text(e)).expect("an event's text is JSON")
}

/// [`event_json`] as text, written straight from the event: `data` and `vars` are copied as
/// the text they were received as.
pub fn event_text(e: &Event) -> String {
    use serde_json::value::RawValue;
    #[derive(Serialize)]
    struct Wire<'a> {
        id: &'a str,
        point: &'a str,
        at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        party: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        channel: Option<&'a str>,
        #[serde(skip_serializing_if = "Outcomes::is_empty")]
        outcomes: Outcomes<'a>,
        value: Values,
        cost: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        duration_s: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        vars: Option<&'a RawValue>,
    }
    #[derive(Serialize)]
    struct Outcomes<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        intent: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        satisfaction: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        knowledge: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resolved: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        engaged: Option<bool>,
    }
    impl Outcomes<'_> {
        fn is_empty(&self) -> bool {
            self.intent.is_none()
                && self.satisfaction.is_none()
                && self.knowledge.is_none()
                && self.resolved.is_none()
                && self.engaged.is_none()
        }
    }
    #[derive(Serialize)]
    struct Values {
        company: f64,
        party: f64,
    }
    fn raw(t: &Option<String>) -> Option<&RawValue> {
        t.as_deref()
            .and_then(|t| serde_json::from_str::<&RawValue>(t).ok())
    }
    let o = &e.outcomes;
    let wire = Wire {
        id: &e.id,
        point: &e.point,
        at: instant(e.at),
        party: e.party.as_deref(),
        channel: e.channel.as_deref(),
        outcomes: Outcomes {
            intent: o.intent.as_deref(),
            satisfaction: o.satisfaction,
            knowledge: o.knowledge,
            resolved: o.resolved,
            engaged: o.engaged,
        },
        value: Values {
            company: e.value_company,
            party: e.value_party,
        },
        cost: e.cost,
        duration_s: e.duration_s,
        data: raw(&e.data),
        vars: raw(&e.vars),
    };
    serde_json::to_string(&wire).expect("an event serializes")
}

/// The value of a field of an event, as a condition sees it.
fn field_value(e: &Event, field: &str, data: &mut Parsed, vars: &mut Parsed) -> Option<Value> {
    let o = &e.outcomes;
    Some(match field {
        "point" => json!(e.point),
        "party" => json!(e.party.as_ref()?),
        "channel" => json!(e.channel.as_ref()?),
        "outcomes.intent" => json!(o.intent.as_ref()?),
        "outcomes.satisfaction" => json!(o.satisfaction?),
        "outcomes.knowledge" => json!(o.knowledge?),
        "outcomes.resolved" => json!(o.resolved?),
        "outcomes.engaged" => json!(o.engaged?),
        "value.company" => json!(e.value_company),
        "value.party" => json!(e.value_party),
        "cost" => json!(e.cost),
        "duration_s" => json!(e.duration_s?),
        other => {
            let (text, parsed, path) = if let Some(path) = other.strip_prefix("data.") {
                (&e.data, data, path)
            } else {
                (&e.vars, vars, other.strip_prefix("vars.")?)
            };
            let root = parsed.get(text.as_deref())?;
            let mut v = root;
            for part in path.split('.') {
                v = v.get(part)?;
            }
            v.clone()
        }
    })
}

/// An object's text parsed on first use.
#[derive(Default)]
struct Parsed(Option<Option<Value>>);

impl Parsed {
    fn get(&mut self, text: Option<&str>) -> Option<&Value> {
        self.0
            .get_or_insert_with(|| text.and_then(|t| serde_json::from_str(t).ok()))
            .as_ref()
    }
}

/// One enabled event rule, compiled.
#[derive(Debug, Clone)]
struct EventRule {
    rule: Rule,
    /// The point it is limited to, when its conditions say `point: KEY` (a fast pre-filter).
    point: Option<String>,
    conditions: Vec<Condition>,
}

/// The enabled event rules of an inventory, compiled once for many events.
#[derive(Debug, Clone, Default)]
pub struct EventRules {
    rules: Vec<EventRule>,
}

impl EventRules {
    /// The enabled event rules among `rules` (rules that break a rule are left out: every
    /// write checks them, so none is stored).
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> EventRules {
        let rules = rules
            .into_iter()
            .filter(|r| !r.disabled)
            .filter_map(|r| {
                let conditions = r.when.event.as_ref()?;
                let conditions: Vec<Condition> = conditions
                    .iter()
                    .map(|(f, v)| compile_condition(f, v))
                    .collect::<Result<_, _>>()
                    .ok()?;
                let point =
                    conditions
                        .iter()
                        .find_map(|c| match (c.field.as_str(), &c.tests[..]) {
                            ("point", [Test::Eq(Value::String(p))]) => Some(p.clone()),
                            _ => None,
                        });
                Some(EventRule {
                    rule: r.clone(),
                    point,
                    conditions,
                })
            })
            .collect();
        EventRules { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The firings of every rule `event` meets, fired at `now` (microseconds since the
    /// epoch). With `max_age`, a rule's `max_age` holds back an event older than that at
    /// `now` (a backfill); without, every matching event fires (on purpose, or a dry run over
    /// history, each event as if it had just arrived).
    pub fn fire(&self, event: &Event, now: i64, max_age: bool) -> Vec<Firing> {
        let mut out = Vec::new();
        let (mut data, mut vars) = (Parsed::default(), Parsed::default());
        for r in &self.rules {
            if r.point.as_deref().is_some_and(|p| p != event.point) {
                continue;
            }
            if let Some(max) = r.rule.max_age.as_ref().filter(|_| max_age)
                && now - event.at > max.micros()
            {
                continue;
            }
            let meets = r.conditions.iter().all(|c| {
                let v = field_value(event, &c.field, &mut data, &mut vars);
                c.tests.iter().all(|t| t.passes(v.as_ref()))
            });
            if meets {
                let subject = format!("event {} {}", event.id, event.at);
                out.extend(firings_of_text(
                    &r.rule,
                    "event",
                    ("event", &event_text(event)),
                    (&subject, event.at),
                    now,
                ));
            }
        }
        out
    }
}

/// The deliveries the lifecycle rules of `after` fire on the write from `before` to `after`
/// (its `changes`), at `now`: a proposal opened, a proposal decided (approved or rejected), a
/// point gone live, an endpoint disabled.
pub fn lifecycle_firings(
    before: &crate::change::State,
    after: &crate::change::State,
    changes: &[crate::change::Change],
    now: i64,
) -> Vec<Firing> {
    use crate::change::{Entity, Kind};
    use crate::governance::ProposalStatus;
    let rules: Vec<&Rule> = after
        .rules()
        .iter()
        .filter(|r| !r.disabled && r.kind() == Some(RuleKind::Lifecycle))
        .collect();
    if rules.is_empty() {
        return Vec::new();
    }
    let mut seen: Vec<(Lifecycle, String, Value)> = Vec::new();
    for change in changes {
        let Some(entity) = &change.after else {
            continue;
        };
        match (change.kind, entity) {
            (Kind::Proposal, Entity::Proposal(p)) => {
                let old = before.proposal(p.id);
                if old.is_none() {
                    seen.push((
                        Lifecycle::ProposalOpened,
                        format!("proposal {} opened", p.id),
                        entity.to_doc(),
                    ));
                }
                let was_pending = old.is_none_or(|o| o.status == ProposalStatus::Pending);
                if was_pending && p.status != ProposalStatus::Pending {
                    seen.push((
                        Lifecycle::ProposalDecided,
                        format!(
                            "proposal {} {}",
                            p.id,
                            crate::inventory::enum_name(&p.status)
                        ),
                        entity.to_doc(),
                    ));
                }
            }
            (Kind::Point, Entity::Point(p)) => {
                let was_live = before
                    .inventory
                    .as_ref()
                    .and_then(|i| i.points.iter().find(|o| o.key == p.key))
                    .is_some_and(|o| o.status == crate::inventory::Status::Live);
                if p.status == crate::inventory::Status::Live && !was_live {
                    seen.push((
                        Lifecycle::PointLive,
                        format!("point {} live {now}", p.key),
                        entity.to_doc(),
                    ));
                }
            }
            (Kind::Endpoint, Entity::Endpoint(e)) => {
                let was = before.endpoint(&e.key).and_then(|o| o.disabled.as_ref());
                if let (Some(d), None) = (&e.disabled, was) {
                    seen.push((
                        Lifecycle::EndpointDisabled,
                        format!("endpoint {} disabled {}", e.key, d.at),
                        entity.to_doc(),
                    ));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (what, subject, doc) in seen {
        for r in rules.iter().filter(|r| r.when.lifecycle == Some(what)) {
            let kind = format!("lifecycle.{}", what.as_str());
            let body = json!({ "kind": what.as_str(), "entity": doc });
            out.extend(firings(r, &kind, ("subject", body), (&subject, now), now));
        }
    }
    out
}

/// Where a metric rule stands, kept by the store between evaluations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricState {
    /// `ok`, `pending` (breached, not yet for `for`) or `breached` (fired).
    pub state: String,
    /// Since when it has been in that state (microseconds since the epoch).
    pub since: i64,
    /// When it last fired on a breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<i64>,
    /// The figure and volume at the last evaluation, and when that was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub volume: u64,
    pub evaluated_at: i64,
}

/// A metric rule's evaluation: its new state and what it fires (a breach or a resolution).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStep {
    pub state: MetricState,
    pub firings: Vec<Firing>,
}

/// The default interval between evaluations of a metric rule.
pub const DEFAULT_EVERY_US: i64 = 300_000_000;

/// Whether a metric rule is due for evaluation at `now`.
pub fn metric_due(rule: &Rule, state: Option<&MetricState>, now: i64) -> bool {
    let every = rule.every.as_ref().map_or(DEFAULT_EVERY_US, Span::micros);
    state.is_none_or(|s| now - s.evaluated_at >= every)
}

/// One evaluation of a metric rule at `now`, the figure being `value` over the window with
/// `volume` interactions in it: breached when below (above) the threshold; fires when it has
/// been breached for `for` (at once without one), unless a firing was less than `cooldown`
/// ago; resolves, firing again, when the figure is back at or above `resolve_above` (at or
/// below `resolve_below`), which default to the threshold. Fewer interactions than
/// `min_volume`, or no figure: nothing changes but the time of evaluation.
pub fn metric_step(
    rule: &Rule,
    prev: Option<&MetricState>,
    value: Option<f64>,
    volume: u64,
    now: i64,
) -> MetricStep {
    let Some(m) = rule.when.metric.as_ref() else {
        return MetricStep {
            state: prev.cloned().unwrap_or_default(),
            firings: Vec::new(),
        };
    };
    let mut state = prev.cloned().unwrap_or(MetricState {
        state: "ok".to_owned(),
        since: now,
        ..MetricState::default()
    });
    state.evaluated_at = now;
    state.value = value;
    state.volume = volume;
    let enough = m.min_volume.is_none_or(|min| volume >= min);
    let Some(v) = value.filter(|_| enough) else {
        return MetricStep {
            state,
            firings: Vec::new(),
        };
    };
    let breached = match (m.below, m.above) {
        (Some(t), _) => v < t,
        (_, Some(t)) => v > t,
        _ => false,
    };
    let resolved = match (m.below, m.above) {
        (Some(t), _) => v >= m.resolve_above.unwrap_or(t),
        (_, Some(t)) => v <= m.resolve_below.unwrap_or(t),
        _ => true,
    };
    let hold = rule.for_.as_ref().map_or(0, Span::micros);
    let quiet = rule.cooldown.as_ref().map_or(0, Span::micros);
    let metric = |kind: &str| {
        json!({
            "state": kind,
            "point": m.point,
            "figure": m.figure,
            "window": m.window.as_str(),
            "value": v,
            "volume": volume,
            "threshold": m.below.or(m.above),
            "direction": if m.below.is_some() { "below" } else { "above" },
        })
    };
    let mut firings = Vec::new();
    match state.state.as_str() {
        "breached" => {
            if resolved {
                let subject = format!("metric resolved {}", state.since);
                firings = self::firings(
                    rule,
                    "metric.resolved",
                    ("metric", metric("resolved")),
                    (&subject, state.since),
                    now,
                );
                state.state = "ok".to_owned();
                state.since = now;
            }
        }
        current => {
            if !breached {
                if current != "ok" {
                    state.state = "ok".to_owned();
                    state.since = now;
                }
            } else {
                if current == "ok" {
                    state.state = "pending".to_owned();
                    state.since = now;
                }
                let held = now - state.since >= hold;
                let cooled = state.fired_at.is_none_or(|f| now - f >= quiet);
                if held && cooled {
                    let subject = format!("metric breached {}", state.since);
                    firings = self::firings(
                        rule,
                        "metric.breached",
                        ("metric", metric("breached")),
                        (&subject, state.since),
                        now,
                    );
                    state.state = "breached".to_owned();
                    state.fired_at = Some(now);
                }
            }
        }
    }
    MetricStep { state, firings }
}

/// Parses a rules file: one rule per YAML document (`---` between them), or a JSON object.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    crate::file::nesting::check(text).map_err(|e| e.to_string())?;
    let mut rules = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(doc)
            .map_err(|e| format!("document {}: {e}", i + 1))?;
        if value.is_null() {
            continue;
        }
        let rule: Rule = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                format!("document {}: {}", i + 1, e.inner())
            } else {
                format!("document {}: {path}: {}", i + 1, e.inner())
            }
        })?;
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err("holds no rule: write one rule per YAML document".to_owned());
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcomes;

    fn event(point: &str, satisfaction: Option<u8>, data: Option<&str>) -> Event {
        Event {
            id: "e1".into(),
            point: point.into(),
            at: 1_700_000_000_000_000,
            party: Some("p1".into()),
            channel: None,
            outcomes: Outcomes {
                satisfaction,
                ..Outcomes::default()
            },
            value_company: 12.5,
            value_party: 0.0,
            cost: 1.0,
            duration_s: None,
            data: data.map(str::to_owned),
            vars: None,
        }
    }

    fn rule(yaml: &str) -> Rule {
        parse_rules(yaml).unwrap().remove(0)
    }

    const UNHAPPY: &str = "key: unhappy-caller\nwhen:\n  event: { point: phone.care, \"outcomes.satisfaction\": { lte: 2 } }\nmax_age: 1d\ndo: [ { endpoint: crm } ]\n";

    #[test]
    fn the_format_example_parses_and_round_trips() {
        let r = rule(UNHAPPY);
        assert_eq!(r.max_age.as_ref().unwrap().micros(), 86_400_000_000);
        let text = serde_yaml_ng::to_string(&r).unwrap();
        assert_eq!(rule(&text), r);
        assert!(check(&r, &["phone.care"], &["crm"]).is_empty());
    }

    #[test]
    fn conditions_decide_who_fires() {
        let rules = EventRules::new([&rule(UNHAPPY)]);
        let now = 1_700_000_000_000_000 + 3_600_000_000;
        assert_eq!(
            rules
                .fire(&event("phone.care", Some(1), None), now, true)
                .len(),
            1
        );
        assert_eq!(
            rules
                .fire(&event("phone.care", Some(2), None), now, true)
                .len(),
            1
        );
        assert!(
            rules
                .fire(&event("phone.care", Some(3), None), now, true)
                .is_empty()
        );
        assert!(
            rules
                .fire(&event("phone.care", None, None), now, true)
                .is_empty()
        );
        assert!(
            rules
                .fire(&event("web.chat", Some(1), None), now, true)
                .is_empty()
        );
        // Older than max_age on arrival: a backfill; the dry run takes it.
        let late = now + 2 * 86_400_000_000;
        assert!(
            rules
                .fire(&event("phone.care", Some(1), None), late, true)
                .is_empty()
        );
        assert_eq!(
            rules
                .fire(&event("phone.care", Some(1), None), late, false)
                .len(),
            1
        );
    }

    #[test]
    fn every_operator_and_data_paths() {
        let r = rule(
            "key: r\nwhen:\n  event:\n    data.basket.total: { gt: 10, lt: 100 }\n    channel: { exists: false }\n    party: { in: [p1, p2] }\n    value.company: { gte: 12.5, ne: 13 }\ndo: [{ endpoint: e }]\n",
        );
        assert!(check(&r, &[], &["e"]).is_empty());
        let rules = EventRules::new([&r]);
        let hit = event("x", None, Some(r#"{"basket":{"total":50}}"#));
        assert_eq!(rules.fire(&hit, 0, false).len(), 1);
        let miss = event("x", None, Some(r#"{"basket":{"total":500}}"#));
        assert!(rules.fire(&miss, 0, false).is_empty());
        assert!(rules.fire(&event("x", None, None), 0, false).is_empty());
    }

    #[test]
    fn broken_rules_are_named() {
        let r = rule(
            "key: Bad Key\nwhen:\n  event: { colour: red, cost: { about: 3 }, party: [a] }\nevery: 5m\ndo: [{ endpoint: nowhere }]\nrecord_at: nope\n",
        );
        let v: Vec<String> = check(&r, &["a"], &["crm"])
            .iter()
            .map(ToString::to_string)
            .collect();
        let all = v.join("\n");
        for needle in [
            "key: must match",
            "when.event.colour: is not a field of an event",
            "when.event.cost: `about` is not an operator",
            "when.event.party: a list is not a condition",
            "every: applies to metric rules only",
            "do[0].endpoint: unknown endpoint `nowhere`; declared: crm",
            "record_at: unknown point `nope`",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        assert!(
            parse_rules("key: x\nwhen: { event: {} }\ndo: []\nsurprise: 1\n")
                .unwrap_err()
                .contains("surprise")
        );
        assert!(Span::parse("5 minutes").is_err());
        assert_eq!(Span::parse("1h30m").unwrap().micros(), 5_400_000_000);
    }

    #[test]
    fn metric_rules_hold_fire_resolve_with_hysteresis_and_cool_down() {
        let r = rule(
            "key: chat\nwhen:\n  metric: { point: web.chat, figure: csat, window: 24h, below: 0.6, resolve_above: 0.7, min_volume: 30 }\nevery: 5m\nfor: 1h\ncooldown: 24h\ndo: [{ endpoint: ops }]\n",
        );
        assert!(check(&r, &["web.chat"], &["ops"]).is_empty());
        let m = 60_000_000i64;
        let mut s = metric_step(&r, None, Some(0.8), 100, 0).state;
        assert_eq!(s.state, "ok");
        // Too few interactions: not judged.
        let step = metric_step(&r, Some(&s), Some(0.1), 10, 5 * m);
        assert_eq!((step.state.state.as_str(), step.firings.len()), ("ok", 0));
        // Breached, but not yet for an hour.
        s = metric_step(&r, Some(&s), Some(0.5), 100, 10 * m).state;
        assert_eq!(s.state, "pending");
        s = metric_step(&r, Some(&s), Some(0.5), 100, 60 * m).state;
        assert_eq!(s.state, "pending");
        let step = metric_step(&r, Some(&s), Some(0.5), 100, 70 * m);
        assert_eq!(step.firings.len(), 1);
        let body: Value = serde_json::from_str(&step.firings[0].body).unwrap();
        assert_eq!(body["type"], "metric.breached");
        assert_eq!(body["metric"]["value"], 0.5);
        s = step.state;
        // 0.65 is above the threshold but below resolve_above: still breached.
        let step = metric_step(&r, Some(&s), Some(0.65), 100, 80 * m);
        assert!(step.firings.is_empty());
        assert_eq!(step.state.state, "breached");
        let step = metric_step(&r, Some(&step.state), Some(0.75), 100, 90 * m);
        assert_eq!(step.firings.len(), 1);
        assert!(step.firings[0].body.contains("metric.resolved"));
        s = step.state;
        // Breached again within the cooldown: held back until it is over.
        s = metric_step(&r, Some(&s), Some(0.4), 100, 100 * m).state;
        let step = metric_step(&r, Some(&s), Some(0.4), 100, 200 * m);
        assert!(step.firings.is_empty(), "cooling down");
        let step = metric_step(&r, Some(&step.state), Some(0.4), 100, 70 * m + 24 * 60 * m);
        assert_eq!(step.firings.len(), 1, "after the cooldown");
        assert!(metric_due(
            &r,
            Some(&step.state),
            step.state.evaluated_at + 5 * m
        ));
        assert!(!metric_due(
            &r,
            Some(&step.state),
            step.state.evaluated_at + m
        ));
    }

    #[test]
    fn firing_ids_are_stable_and_distinct() {
        let a = firing_id("r", "event e1 1", 1, 0);
        assert_eq!(a, firing_id("r", "event e1 1", 1, 0));
        assert_ne!(a, firing_id("r", "event e1 1", 1, 1));
        assert_ne!(a, firing_id("r", "event e1 2", 1, 0));
        assert_ne!(a, firing_id("s", "event e1 1", 1, 0));
        // Ids sort by the subject's instant.
        let (early, late) = (firing_id("z", "x", 5_000, 0), firing_id("a", "y", 6_000, 0));
        assert!(early < late, "{early} {late}");
        assert_eq!(early.len(), 30);
    }
}
