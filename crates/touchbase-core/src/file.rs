//! The inventory file (R5): YAML in, YAML out, and JSON bodies of the same shapes.
//!
//! Decoding errors are turned into [`Violation`]s that name the entity (found by its `key` in
//! the raw document), the field and the rule, so a broken enum value in the 40th point reads
//! `point `store.checkout`: data[1].direction: unknown variant ...`, not just a line number.

pub mod nesting;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::inventory::{Inventory, Point};
use crate::validate::{self, Violation, Violations};

/// Why an inventory file or body could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("not valid YAML: {0}")]
    Syntax(String),
    /// Nested deeper than [`nesting::MAX_DEPTH`]: refused before the parser sees it.
    #[error("{0}")]
    TooDeep(#[from] nesting::TooDeep),
    #[error(transparent)]
    Invalid(#[from] Violations),
}

/// Parses and checks an inventory file. The result is normalized (see [`Inventory::normalized`]).
pub fn parse_inventory(text: &str) -> Result<Inventory, FileError> {
    nesting::check(text)?;
    let raw: Value = serde_yaml_ng::from_str(text).map_err(|e| FileError::Syntax(e.to_string()))?;
    let inventory: Inventory = serde_path_to_error::deserialize(
        serde_yaml_ng::Deserializer::from_str(text),
    )
    .map_err(|e| {
        let v = decode_violation(&raw, "", e.path(), e.inner().to_string());
        FileError::Invalid(Violations(vec![v]))
    })?;
    let inventory = inventory.normalized();
    validate::check(&inventory)?;
    Ok(inventory)
}

/// Writes the inventory as a file. The same inventory always gives the same bytes.
pub fn render_inventory(inventory: &Inventory) -> String {
    let body = serde_yaml_ng::to_string(inventory).expect("an inventory always serializes");
    format!(
        "# touchbase inventory. Apply changes with: touchbase inventory import FILE --dry-run\n{body}"
    )
}

/// Decodes one point from YAML or JSON text (YAML is a superset of JSON).
pub fn parse_point(text: &str) -> Result<Point, FileError> {
    nesting::check(text)?;
    let raw: Value = serde_yaml_ng::from_str(text).map_err(|e| FileError::Syntax(e.to_string()))?;
    decode_value(raw)
}

/// Decodes a value of the inventory's types from JSON, with errors that name the field.
/// `raw` is the document as JSON; for a point, errors name the point by its `key`.
pub fn decode_value<T: DeserializeOwned>(raw: Value) -> Result<T, FileError> {
    let subject = match raw.get("key").and_then(Value::as_str) {
        Some(key) => format!("point `{key}`"),
        None => "body".to_owned(),
    };
    serde_path_to_error::deserialize(&raw).map_err(|e| {
        let v = decode_violation(&raw, &subject, e.path(), e.inner().to_string());
        FileError::Invalid(Violations(vec![v]))
    })
}

/// Decodes one survey (R14) from YAML or JSON text, checked alone (that its points exist is
/// the inventory's check, on the write): errors name the survey by its key and the field.
pub fn parse_survey(text: &str) -> Result<crate::voice::Survey, FileError> {
    nesting::check(text)?;
    let raw: Value = serde_yaml_ng::from_str(text).map_err(|e| FileError::Syntax(e.to_string()))?;
    let subject = match raw.get("key").and_then(Value::as_str) {
        Some(key) => format!("survey `{key}`"),
        None => "survey".to_owned(),
    };
    let survey: crate::voice::Survey = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let v = decode_violation(&raw, &subject, e.path(), e.inner().to_string());
        FileError::Invalid(Violations(vec![v]))
    })?;
    let mut found: Vec<Violation> = survey
        .problems()
        .into_iter()
        .map(|(field, rule)| Violation::new(&subject, field, rule))
        .collect();
    if !crate::validate::is_key(&survey.key) {
        found.insert(
            0,
            Violation::new(&subject, "key", crate::validate::KEY_RULE),
        );
    }
    if found.is_empty() {
        Ok(survey)
    } else {
        Err(FileError::Invalid(Violations(found)))
    }
}

fn decode_violation(
    raw: &Value,
    subject: &str,
    path: &serde_path_to_error::Path,
    rule: String,
) -> Violation {
    use serde_path_to_error::Segment;
    // Some decoders (YAML) start their message with the path, or with the path of the
    // enclosing value; the violation names it already.
    let shown = path.to_string();
    let rule = match rule.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') && shown.starts_with(prefix) => {
            rest.to_owned()
        }
        _ => rule,
    };
    let segments: Vec<&Segment> = path.iter().collect();
    let (subject, rest) = match segments.as_slice() {
        [
            Segment::Map { key: list },
            Segment::Seq { index },
            rest @ ..,
        ] if matches!(
            list.as_str(),
            "points" | "processes" | "parties" | "surveys"
        ) =>
        {
            let what = match list.as_str() {
                "points" => "point",
                "processes" => "process",
                "surveys" => "survey",
                _ => "party",
            };
            let key = raw
                .get(list)
                .and_then(|l| l.get(index))
                .and_then(|item| item.get("key"))
                .and_then(Value::as_str);
            let subject = match key {
                Some(key) => format!("{what} `{key}`"),
                None => format!("{list}[{index}]"),
            };
            (subject, rest)
        }
        [Segment::Map { key }, rest @ ..] if key == "organization" => {
            ("organization".to_owned(), rest)
        }
        all if !subject.is_empty() => (subject.to_owned(), all),
        all => ("inventory".to_owned(), all),
    };
    let mut field = String::new();
    for segment in rest {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                field.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    Violation::new(subject, field, rule)
}

/// Serializes whole numbers without a fraction (`120000`, not `120000.0`), so that exported files
/// read as people write them.
pub(crate) mod compact {
    use serde::Serializer;

    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

    pub fn serialize<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) if v.fract() == 0.0 && v.abs() < EXACT => s.serialize_i64(*v as i64),
            Some(v) => s.serialize_f64(*v),
            None => s.serialize_none(),
        }
    }
}
