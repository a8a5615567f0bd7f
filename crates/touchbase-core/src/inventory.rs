//! The inventory of points of interaction (R1–R4): the organization, its business functions,
//! processes and party types, and every point with what is exchanged there.
//!
//! These types are also the shape of the inventory file (R5) and of the JSON API: the file *is*
//! the canonical form of the inventory, so one set of types serves both (see ARCHITECTURE.md).
//! Field order here is the order fields are written to the file; empty optional fields are left
//! out so that an exported file stays short and diffs cleanly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::governance::Policy;
use crate::portfolio::Settings;

/// The business functions every organization has (seed 001). An organization adds its own.
pub const DEFAULT_FUNCTIONS: [&str; 5] =
    ["marketing", "sales", "fulfillment", "finance", "service"];

/// The whole inventory of one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub organization: Organization,
    /// Business function keys: the five defaults, then the organization's own.
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Process>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<Point>,
    /// The reverse feed's rules (R18), by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::rules::Rule>,
    /// The surveys of key customers (R14), by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surveys: Vec<crate::voice::Survey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Organization {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub industry: String,
    /// ISO 4217 code of the currency all values are given in.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The organization's own typed industry variables (R4), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Variable>,
    /// The sign-off policy (R6): how many executive approvals a proposal needs.
    #[serde(default, skip_serializing_if = "Policy::is_default")]
    pub policy: Policy,
    /// The thresholds of the portfolio and journey rules (METRICS.md).
    #[serde(default, skip_serializing_if = "Settings::is_default")]
    pub settings: Settings,
    /// The organization's IANA time zone (`Europe/London`): standing orders' schedules run in
    /// it unless they name their own. Absent: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

fn default_currency() -> String {
    "USD".to_owned()
}

impl Organization {
    pub fn named(name: impl Into<String>) -> Self {
        Organization {
            name: name.into(),
            industry: String::new(),
            currency: default_currency(),
            variables: BTreeMap::new(),
            policy: Policy::default(),
            settings: Settings::default(),
            timezone: None,
        }
    }
}

/// An industry variable's declaration (R4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(rename = "type")]
    pub kind: VariableKind,
    /// The allowed values of an `enum` variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VariableKind {
    Enum,
    Number,
    Text,
    Bool,
}

/// A business process: the ordered steps in which points of interaction sit (seed 001).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub function: String,
    pub steps: Vec<String>,
}

/// A type of counterparty: anyone with whom value is exchanged (seed 001).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub key: String,
    pub kind: PartyKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PartyKind {
    Individual,
    Organization,
}

/// A point of interaction (R1–R4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// `[a-z0-9][a-z0-9._-]{0,63}`; events name their point by it.
    pub key: String,
    pub name: String,
    /// What is interchanged at this point.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The party type met here.
    pub party: String,
    pub function: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub channel: String,
    pub mode: Mode,
    /// Share of the interaction that is automated, 0..1. Defaults by mode: machine 1, people 0;
    /// a hybrid point must say.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::file::compact::serialize"
    )]
    pub automation: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facets: Vec<Facet>,
    /// The data passed (R2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<DataElement>,
    /// An explicit JSON Schema for the event's `data`; absent, it is derived from `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub contract: Option<Value>,
    /// What each side gets, in words (R3).
    #[serde(default, skip_serializing_if = "ValueExchange::is_empty")]
    pub value: ValueExchange,
    /// What each side gets, in numbers (R3).
    #[serde(default, skip_serializing_if = "Expected::is_empty")]
    pub expected: Expected,
    #[serde(default)]
    pub strategic_value: StrategicValue,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rationale: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
    #[serde(default)]
    pub status: Status,
    /// Industry variables set on this point (R4).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub vars: BTreeMap<String, Value>,
    /// A point that automates another (R19): which manual point's first order becomes a
    /// standing order, and how it is issued again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<crate::standing::Standing>,
    /// Whether its events take part in journeys (METRICS.md, the journey rule); `false` for
    /// telemetry, whose steady readings would make one journey of a device's whole life.
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub journeys: bool,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// How the interface is driven (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Machine,
    People,
    Hybrid,
}

/// What the party experiences at the point (seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Facet {
    Product,
    Service,
    People,
    Environment,
    Process,
    Procedure,
    Policy,
    Attitude,
}

/// One element of the data passed at a point (R2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DataElement {
    pub name: String,
    pub direction: Direction,
    pub class: DataClass,
    /// The JSON type the element must have in an event's `data`, when it matters.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub json_type: Option<JsonType>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// Which way a data element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the party to the organization.
    In,
    /// From the organization to the party.
    Out,
}

/// The class of a data element; personal and payment data are the sensitive ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataClass {
    Personal,
    Payment,
    Behavioural,
    Transactional,
    Content,
    Location,
    Technical,
}

impl DataClass {
    /// Personal and payment data: adding such an element to a live point is a material change.
    pub fn is_sensitive(self) -> bool {
        matches!(self, DataClass::Personal | DataClass::Payment)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
}

impl JsonType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
        }
    }
}

/// The value exchanged, described for each side (R3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ValueExchange {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub company: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub party: String,
}

impl ValueExchange {
    pub fn is_empty(&self) -> bool {
        self.company.is_empty() && self.party.is_empty()
    }
}

/// The value exchanged, quantified (R3): what the point is expected to achieve.
/// Values are per interaction, in the organization's currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Expected {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::file::compact::serialize"
    )]
    pub volume_per_month: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::file::compact::serialize"
    )]
    pub value_company: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::file::compact::serialize"
    )]
    pub value_party: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::file::compact::serialize"
    )]
    pub cost: Option<f64>,
}

impl Expected {
    pub fn is_empty(&self) -> bool {
        self == &Expected::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StrategicValue {
    #[default]
    None,
    Low,
    Medium,
    High,
}

/// Where a point is in its life (R6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = PointStatus))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Proposed,
    Approved,
    Live,
    UnderReview,
    Retired,
    Rejected,
}

/// The lowercase name an enum has in the file and the API.
pub fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Inventory {
    /// An empty inventory for a new organization: the default functions, nothing else.
    pub fn new(organization: Organization) -> Self {
        Inventory {
            organization,
            functions: Vec::new(),
            processes: Vec::new(),
            parties: Vec::new(),
            points: Vec::new(),
            rules: Vec::new(),
            surveys: Vec::new(),
        }
        .normalized()
    }

    pub fn point(&self, key: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.key == key)
    }

    pub fn process(&self, key: &str) -> Option<&Process> {
        self.processes.iter().find(|p| p.key == key)
    }

    pub fn party(&self, key: &str) -> Option<&Party> {
        self.parties.iter().find(|p| p.key == key)
    }

    /// The points declared `journeys: false`, whose events take part in no journey
    /// (METRICS.md, the journey rule).
    pub fn outside_journeys(&self) -> std::collections::BTreeSet<String> {
        self.points
            .iter()
            .filter(|p| !p.journeys)
            .map(|p| p.key.clone())
            .collect()
    }

    /// The canonical form: default functions first then the organization's own (each once),
    /// processes, parties and points ordered by key, each point's `automation` filled in from
    /// its mode when not given. Two inventories that mean the same normalize to equal values,
    /// which is what makes an export byte-stable.
    pub fn normalized(mut self) -> Self {
        let mut functions: Vec<String> = DEFAULT_FUNCTIONS.iter().map(|f| f.to_string()).collect();
        let mut own: Vec<String> = self
            .functions
            .drain(..)
            .filter(|f| !DEFAULT_FUNCTIONS.contains(&f.as_str()))
            .collect();
        own.sort();
        own.dedup();
        functions.extend(own);
        self.functions = functions;
        self.processes.sort_by(|a, b| a.key.cmp(&b.key));
        self.parties.sort_by(|a, b| a.key.cmp(&b.key));
        self.points.sort_by(|a, b| a.key.cmp(&b.key));
        self.rules.sort_by(|a, b| a.key.cmp(&b.key));
        self.surveys.sort_by(|a, b| a.key.cmp(&b.key));
        for point in &mut self.points {
            point.normalize();
        }
        self
    }
}

impl Point {
    /// The version of this point's stored document, as an HTTP entity tag (RFC 9110, quoted):
    /// the first 128 bits of the SHA-256 of its JSON. Any change to the point changes it; a
    /// write elsewhere in the inventory does not. `PUT /api/points/{key}` and `point edit`
    /// write only over the version they read.
    pub fn etag(&self) -> String {
        use sha2::{Digest, Sha256};
        let doc = serde_json::to_vec(self).expect("a point serializes");
        let hash = crate::access::hex(&Sha256::digest(&doc));
        format!("\"{}\"", &hash[..32])
    }

    /// Fills what a point may leave out and has a definite meaning: `automation` for machine-
    /// and people-driven points.
    pub fn normalize(&mut self) {
        if self.automation.is_none() {
            self.automation = match self.mode {
                Mode::Machine => Some(1.0),
                Mode::People => Some(0.0),
                Mode::Hybrid => None,
            };
        }
    }
}
