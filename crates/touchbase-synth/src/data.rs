//! The `data` of an interaction: values made from the point's data contract (explicit or
//! derived), each element named like what it holds, and — for a share of interactions — a
//! deliberate break of the contract (a missing required element, a wrong JSON type, an
//! undeclared element).

use rand::RngExt;
use rand_pcg::Pcg64Mcg;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::Data;

/// How to make one value.
#[derive(Debug, Clone)]
enum Gen {
    Enum(Vec<Value>),
    Text(TextKind),
    Number {
        min: f64,
        max: f64,
        integer: bool,
        /// A count of items (`qty`, `quantity`): most lines are one or two.
        low: bool,
    },
    Bool,
    Array {
        item: Box<Gen>,
        min_items: u64,
    },
    Object(Vec<Field>),
    /// No type given: something that fits the name.
    Any(TextKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    Party,
    Email,
    Postcode,
    Phone,
    Date,
    Slot,
    Link,
    Name,
    Handle,
    Words(&'static [&'static str]),
    Token(&'static str),
}

#[derive(Debug, Clone)]
struct Field {
    name: Arc<str>,
    how: Gen,
    required: bool,
}

/// A way to break the contract.
#[derive(Debug, Clone)]
enum Break {
    Drop(usize),
    WrongType(usize),
    Undeclared,
}

/// The data plan of one point, compiled once from its contract.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    fields: Vec<Field>,
    breaks: Vec<Break>,
}

/// What an element's value looks like, from its name.
fn text_kind(name: &str) -> TextKind {
    let n = name.to_ascii_lowercase();
    let has = |s: &str| n.contains(s);
    if has("email") {
        TextKind::Email
    } else if has("postcode") || has("address") || has("site") {
        TextKind::Postcode
    } else if n == "phone" || n.ends_with("_phone") {
        TextKind::Phone
    } else if has("date") || n.ends_with("_at") {
        TextKind::Date
    } else if has("slot") || has("window") {
        TextKind::Slot
    } else if has("link") || has("url") {
        TextKind::Link
    } else if n == "name" {
        TextKind::Name
    } else if n == "handle" {
        TextKind::Handle
    } else if has("customer") || has("account") || has("supplier") || has("loyalty") {
        TextKind::Party
    } else if has("reason") {
        TextKind::Words(&[
            "missing item",
            "damaged goods",
            "late delivery",
            "wrong substitution",
            "refund question",
            "account problem",
        ])
    } else if has("message") || has("transcript") {
        TextKind::Words(&[
            "where is my order?",
            "do you have gluten-free bread?",
            "the app will not load my coupons",
            "great service today, thank you",
            "my delivery was late again",
            "can I change my slot?",
        ])
    } else if has("reply") || has("resolution") {
        TextKind::Words(&[
            "refunded",
            "redelivery booked",
            "voucher sent",
            "explained the policy",
            "passed to the store manager",
        ])
    } else if has("compartment") {
        TextKind::Words(&["chilled", "frozen"])
    } else if has("item") || has("sku") || has("barcode") || has("basket") {
        TextKind::Token("sku")
    } else if has("order") || n.starts_with("po_") {
        TextKind::Token("ord")
    } else if has("invoice") {
        TextKind::Token("inv")
    } else if has("token") || has("card") {
        TextKind::Token("tok")
    } else if has("van") || has("route") {
        TextKind::Token("van")
    } else if has("edition") {
        TextKind::Words(&["spring", "summer", "autumn", "winter", "holiday"])
    } else if has("schedule") {
        TextKind::Words(&["weekly", "fortnightly", "monthly"])
    } else {
        TextKind::Token("ref")
    }
}

/// A sensible range for a number, from its name.
fn number_range(name: &str) -> (f64, f64) {
    let n = name.to_ascii_lowercase();
    let has = |s: &str| n.contains(s);
    if has("temperature") {
        (-22.0, 6.0)
    } else if has("fill") || has("share") {
        (0.0, 1.0)
    } else if has("lat") {
        (51.2, 52.8)
    } else if has("lon") {
        (-2.4, 0.3)
    } else if has("stock") || has("units") {
        (0.0, 80.0)
    } else if has("count") || has("quantity") || has("unmatched") {
        (1.0, 8.0)
    } else if has("fee") {
        (20.0, 400.0)
    } else if has("settled") {
        (5_000.0, 90_000.0)
    } else if has("price") {
        (0.5, 180.0)
    } else if has("amount") {
        (2.0, 180.0)
    } else {
        (0.0, 100.0)
    }
}

fn compile_value(name: &str, schema: &Value) -> Gen {
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.is_empty()
    {
        return Gen::Enum(values.clone());
    }
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Gen::Text(text_kind(name)),
        Some(t @ ("number" | "integer")) => {
            let (mut min, mut max) = number_range(name);
            let integer = t == "integer";
            let lo = bound("minimum").or(bound("exclusiveMinimum").map(|m| {
                if integer {
                    m + 1.0
                } else {
                    m + (max - min).abs().max(1.0) * 1e-3
                }
            }));
            let hi = bound("maximum").or(bound("exclusiveMaximum").map(|m| {
                if integer {
                    m - 1.0
                } else {
                    m - (max - min).abs().max(1.0) * 1e-3
                }
            }));
            if let Some(lo) = lo {
                min = min.max(lo);
            }
            if let Some(hi) = hi {
                max = max.min(hi);
            }
            if min > max {
                (min, max) = (lo.unwrap_or(max), hi.unwrap_or(min).max(lo.unwrap_or(min)));
            }
            let n = name.to_ascii_lowercase();
            let low = n == "qty" || n.contains("quantity");
            Gen::Number {
                min,
                max,
                integer,
                low,
            }
        }
        Some("boolean") => Gen::Bool,
        Some("array") => {
            let item_name = name.trim_end_matches('s');
            let item = match schema.get("items") {
                Some(items @ Value::Object(_)) if !items.as_object().is_some_and(Map::is_empty) => {
                    compile_value(item_name, items)
                }
                _ => Gen::Text(text_kind(item_name)),
            };
            Gen::Array {
                item: Box::new(item),
                min_items: schema.get("minItems").and_then(Value::as_u64).unwrap_or(0),
            }
        }
        Some("object") => {
            let fields = compile_fields(schema);
            if fields.is_empty() {
                Gen::Object(vec![
                    Field {
                        name: Arc::from("lat"),
                        how: compile_value("lat", &json!({"type": "number"})),
                        required: true,
                    },
                    Field {
                        name: Arc::from("lon"),
                        how: compile_value("lon", &json!({"type": "number"})),
                        required: true,
                    },
                ])
            } else {
                Gen::Object(fields)
            }
        }
        _ => Gen::Any(text_kind(name)),
    }
}

fn compile_fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, sub)| Field {
            name: Arc::from(name.as_str()),
            how: compile_value(name, sub),
            required: required.contains(&name.as_str()),
        })
        .collect()
}

impl Plan {
    /// The plan for data that meets `schema` (a point's contract).
    pub(crate) fn compile(schema: &Value) -> Plan {
        let fields = compile_fields(schema);
        let mut breaks = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if f.required {
                breaks.push(Break::Drop(i));
            }
            if !matches!(f.how, Gen::Any(_)) {
                breaks.push(Break::WrongType(i));
            }
        }
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            breaks.push(Break::Undeclared);
        }
        Plan { fields, breaks }
    }

    /// The plan of a point the inventory does not know: a little free-form data.
    pub(crate) fn free_form() -> Plan {
        Plan {
            fields: vec![Field {
                name: Arc::from("ref"),
                how: Gen::Text(TextKind::Token("ref")),
                required: true,
            }],
            breaks: Vec::new(),
        }
    }

    /// Makes the data of one interaction; `broken` asks for data that breaks the contract (when
    /// the contract can be broken). `party` is the event's party, `day` its day since the epoch.
    pub(crate) fn make(
        &self,
        rng: &mut Pcg64Mcg,
        broken: bool,
        party: Option<&str>,
        day: i64,
    ) -> Data {
        let chosen = if broken && !self.breaks.is_empty() {
            Some(&self.breaks[rng.random_range(0..self.breaks.len())])
        } else {
            None
        };
        let mut data = Vec::with_capacity(self.fields.len() + 1);
        for (i, f) in self.fields.iter().enumerate() {
            match chosen {
                Some(Break::Drop(j)) if *j == i => continue,
                Some(Break::WrongType(j)) if *j == i => {
                    data.push((Arc::clone(&f.name), wrong_type(&f.how)));
                    continue;
                }
                _ => {}
            }
            if !f.required && !rng.random_bool(0.65) {
                continue;
            }
            data.push((Arc::clone(&f.name), make(&f.how, rng, party, day)));
        }
        if let Some(Break::Undeclared) = chosen {
            data.push((Arc::from("note"), Value::String("keyed by hand".into())));
        }
        Data(data)
    }
}

/// A value of the wrong JSON type for `how`.
fn wrong_type(how: &Gen) -> Value {
    match how {
        Gen::Text(_) | Gen::Enum(_) => json!(42),
        Gen::Number { .. } => json!("n/a"),
        Gen::Bool => json!("yes"),
        Gen::Array { .. } | Gen::Object(_) => json!("see attachment"),
        Gen::Any(_) => Value::Null,
    }
}

/// The shelf price of an item within `[min, max]`: the demo's price list, else one drawn from
/// the SKU itself, so that it never changes.
fn shelf_price(sku: &str, min: f64, max: f64) -> f64 {
    let price = crate::model::shelf_price(sku).unwrap_or_else(|| {
        let unit = (crate::model::key_hash(sku) % 10_000) as f64 / 10_000.0;
        min + (max - min) * unit
    });
    round(price.clamp(min, max), 2)
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

fn make(how: &Gen, rng: &mut Pcg64Mcg, party: Option<&str>, day: i64) -> Value {
    match how {
        Gen::Enum(values) => values[rng.random_range(0..values.len())].clone(),
        Gen::Text(kind) => Value::String(text(*kind, rng, party, day)),
        Gen::Number {
            min,
            max,
            integer,
            low,
        } => {
            let x = if max > min && *low {
                let u: f64 = rng.random();
                min + (max - min) * u * u
            } else if max > min {
                rng.random_range(*min..=*max)
            } else {
                *min
            };
            if *integer {
                json!(x.round() as i64)
            } else {
                json!(round(x, 2))
            }
        }
        Gen::Bool => Value::Bool(rng.random_bool(0.5)),
        Gen::Array { item, min_items } => {
            let n = rng.random_range((*min_items).max(1)..=(*min_items).max(1) + 4);
            let mut lines: Vec<Value> = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let line = make(item, rng, party, day);
                // A basket lists each item once.
                let sku = line.get("sku");
                if sku.is_some() && lines.iter().any(|l| l.get("sku") == sku) {
                    continue;
                }
                lines.push(line);
            }
            Value::Array(lines)
        }
        Gen::Object(fields) => {
            let mut object = Map::new();
            for f in fields {
                if f.required || rng.random_bool(0.5) {
                    object.insert(f.name.to_string(), make(&f.how, rng, party, day));
                }
            }
            // A line of a basket: the item costs its shelf price, the same in every order.
            if let Some(Value::String(sku)) = object.get("sku")
                && object.contains_key("price")
                && let Some(Gen::Number { min, max, .. }) =
                    fields.iter().find(|f| &*f.name == "price").map(|f| &f.how)
            {
                let price = shelf_price(sku, *min, *max);
                object.insert("price".to_owned(), json!(price));
            }
            Value::Object(object)
        }
        Gen::Any(kind) => Value::String(text(*kind, rng, party, day)),
    }
}

/// `prefix` then `n` zero-padded to `width` digits.
fn numbered(prefix: &str, n: u32, width: usize) -> String {
    let mut text = String::with_capacity(prefix.len() + width.max(6));
    text.push_str(prefix);
    crate::push_number(&mut text, u64::from(n), width);
    text
}

fn text(kind: TextKind, rng: &mut Pcg64Mcg, party: Option<&str>, day: i64) -> String {
    match kind {
        TextKind::Party => match party {
            Some(p) => p.to_owned(),
            None => format!("anon-{:06}", rng.random_range(0..1_000_000u32)),
        },
        TextKind::Email => format!(
            "{}@mail.example",
            party.unwrap_or("guest").replace(['.', ' '], "-")
        ),
        TextKind::Postcode => {
            const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
            let a = LETTERS[rng.random_range(0..LETTERS.len())] as char;
            let b = LETTERS[rng.random_range(0..LETTERS.len())] as char;
            format!(
                "NW{} {}{a}{b}",
                rng.random_range(1..=40u32),
                rng.random_range(1..=9u32)
            )
        }
        TextKind::Phone => numbered("+1555", rng.random_range(0..10_000_000u32), 7),
        TextKind::Date => crate::time::date_text(day + rng.random_range(0..=14i64)),
        TextKind::Slot => {
            let h = rng.random_range(7..=20u32);
            format!("{h:02}:00-{:02}:00", h + 1)
        }
        TextKind::Link => format!("https://nw.example/t/{:08x}", rng.random::<u32>()),
        TextKind::Name => numbered("Customer ", rng.random_range(1..100_000u32), 1),
        TextKind::Handle => numbered("@shopper", rng.random_range(1..100_000u32), 1),
        TextKind::Words(words) => words[rng.random_range(0..words.len())].to_owned(),
        TextKind::Token(prefix) => {
            let mut token = String::with_capacity(prefix.len() + 7);
            token.push_str(prefix);
            token.push('-');
            crate::push_number(&mut token, u64::from(rng.random_range(0..1_000_000u32)), 6);
            token
        }
    }
}
