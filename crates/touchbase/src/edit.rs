//! `point edit --set FIELD=VALUE`: set one field of a point, named by a dotted path, to a value
//! written as YAML. The edited point is decoded again, so every rule still applies.

use serde_json::{Map, Value};

/// Sets `assignment` (`expected.cost=0.9`) in `doc`, creating objects along the path.
pub fn set(doc: &mut Value, assignment: &str) -> Result<(), String> {
    let (path, raw) = assignment
        .split_once('=')
        .ok_or_else(|| format!("`{assignment}`: write FIELD=VALUE, e.g. expected.cost=0.9"))?;
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(format!(
            "`{assignment}`: the field must be a dotted path such as expected.cost"
        ));
    }
    if path == "key" {
        return Err(
            "`key`: a point's key cannot change; add a new point and retire this one".into(),
        );
    }
    let value: Value = if raw.is_empty() {
        Value::Null
    } else {
        serde_yaml_ng::from_str(raw)
            .map_err(|e| format!("`{path}`: the value `{raw}` is not valid YAML: {e}"))?
    };
    let mut target = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let object = match target {
            Value::Object(map) => map,
            other => {
                *other = Value::Object(Map::new());
                other.as_object_mut().expect("just made an object")
            }
        };
        if parts.peek().is_none() {
            if value.is_null() {
                object.remove(part);
            } else {
                object.insert(part.to_owned(), value);
            }
            return Ok(());
        }
        target = object
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::set;

    fn check(assignment: &str, expected: serde_json::Value) {
        let mut doc = json!({ "name": "A", "expected": { "cost": 1 } });
        set(&mut doc, assignment).unwrap();
        assert_eq!(doc, expected, "{assignment}");
    }

    #[test]
    fn sets_nested_fields_with_yaml_values() {
        check(
            "expected.cost=0.9",
            json!({ "name": "A", "expected": { "cost": 0.9 } }),
        );
        check(
            "name=Kiosk order",
            json!({ "name": "Kiosk order", "expected": { "cost": 1 } }),
        );
        check(
            "facets=[people, process]",
            json!({ "name": "A", "expected": { "cost": 1 }, "facets": ["people", "process"] }),
        );
        check(
            "vars.ebike=true",
            json!({ "name": "A", "expected": { "cost": 1 }, "vars": { "ebike": true } }),
        );
        check("expected.cost=", json!({ "name": "A", "expected": {} }));
    }

    #[test]
    fn refuses_malformed_assignments() {
        let mut doc = json!({});
        assert!(set(&mut doc, "name").unwrap_err().contains("FIELD=VALUE"));
        assert!(set(&mut doc, "a..b=1").unwrap_err().contains("dotted path"));
        assert!(
            set(&mut doc, "key=x")
                .unwrap_err()
                .contains("cannot change")
        );
    }
}
