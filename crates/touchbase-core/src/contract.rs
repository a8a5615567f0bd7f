//! The data contract of a point (R2, R13): the JSON Schema an interaction's `data` is checked
//! against. A point either gives one explicitly (`contract`) or it is derived from `data`: an
//! object whose properties are the declared elements, the `required` ones required, and no
//! undeclared property (PRODUCT.md, inventory file).

use serde_json::{Map, Value, json};

use crate::inventory::Point;

/// The contract's schema, explicit or derived.
pub fn schema(point: &Point) -> Value {
    if let Some(explicit) = &point.contract {
        return explicit.clone();
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for element in &point.data {
        let property = match element.json_type {
            Some(t) => json!({ "type": t.as_str() }),
            None => json!({}),
        };
        properties.insert(element.name.clone(), property);
        if element.required {
            required.push(Value::String(element.name.clone()));
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A point's contract, compiled once and reused for every event.
#[derive(Debug)]
pub struct Contract {
    validator: jsonschema::Validator,
}

impl Contract {
    /// Compiles a point's contract. The error names what is wrong with the schema.
    pub fn compile(point: &Point) -> Result<Contract, String> {
        let schema = schema(point);
        jsonschema::meta::validate(&schema).map_err(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            }
        })?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        Ok(Contract { validator })
    }

    /// The elements of `data` that break the contract, each with the rule it breaks; empty when
    /// the data conforms.
    pub fn failures(&self, data: &Value) -> Vec<String> {
        // Most data conforms, and saying so is quicker than gathering no errors.
        if self.validator.is_valid(data) {
            return Vec::new();
        }
        self.validator
            .iter_errors(data)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect()
    }
}
