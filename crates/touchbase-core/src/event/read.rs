//! Reading an event from its text. Most events are well formed, and for them the text is read
//! straight into the event's fields: no tree of the whole event is built, and `data` and `vars`
//! keep the text they came with (only they are parsed, for the checks that read them). Any
//! event this way cannot take — a broken rule, an unknown or repeated field, a type it does not
//! expect — is read again the long way, by [`decode`](super::decode), which reports every broken
//! rule. Both ways decide the same; the tests below hold them to it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{
    Decoded, Event, Outcomes, Problem, canonical_id, decode, id_ok, instant, is_key, number_ok,
    problem, satisfaction_ok, text_ok,
};

/// Reads one event from its text and checks it against the wire format v1; `now_us` as for
/// [`decode`](super::decode). Text that is not JSON is one problem, with no field.
pub fn read(text: &str, now_us: i64) -> Result<Decoded, Vec<Problem>> {
    if let Some(decoded) = serde_json::from_str::<Object<Wire<'_>>>(text)
        .ok()
        .and_then(|Object(wire)| wire.into_decoded(text, now_us))
    {
        return Ok(decoded);
    }
    let raw: Value =
        serde_json::from_str(text).map_err(|e| vec![problem("", format!("not JSON: {e}"))])?;
    decode(&raw, now_us)
}

/// The fields of the wire format, as the text holds them. Every field the format does not know
/// is refused, and so is a field given twice, as in [`decode`](super::decode)'s reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    id: Option<String>,
    point: String,
    /// Borrowed from the text unless it holds escapes: it is only parsed.
    #[serde(borrow)]
    at: Cow<'a, str>,
    party: Option<String>,
    channel: Option<String>,
    outcomes: Option<Object<WireOutcomes>>,
    value: Option<Object<WireValue>>,
    cost: Option<f64>,
    duration_s: Option<f64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    vars: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireOutcomes {
    intent: Option<String>,
    satisfaction: Option<u64>,
    knowledge: Option<bool>,
    resolved: Option<bool>,
    engaged: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireValue {
    company: Option<f64>,
    party: Option<f64>,
}

impl Wire<'_> {
    /// The event, when every rule holds; `None` sends it the long way.
    fn into_decoded(self, text: &str, now_us: i64) -> Option<Decoded> {
        let text_of = |s: Option<String>, max: usize| match s {
            None => Some(None),
            Some(s) if text_ok(&s, max) => Some(Some(s)),
            Some(_) => None,
        };
        let number = |v: Option<f64>, non_negative: bool| match v {
            Some(v) if !number_ok(v, non_negative) => None,
            v => Some(v),
        };
        if !is_key(&self.point) {
            return None;
        }
        let at = instant(&self.at, now_us).ok()?;
        let party = text_of(self.party, 128)?;
        let channel = text_of(self.channel, 128)?;
        let outcomes = match self.outcomes {
            None => Outcomes::default(),
            Some(Object(o)) => Outcomes {
                intent: text_of(o.intent, 64)?,
                satisfaction: match o.satisfaction {
                    None => None,
                    Some(v) if satisfaction_ok(v) => Some(v as u8),
                    Some(_) => return None,
                },
                knowledge: o.knowledge,
                resolved: o.resolved,
                engaged: o.engaged,
            },
        };
        let (value_company, value_party) = match self.value {
            None => (None, None),
            Some(Object(v)) => (number(v.company, false)?, number(v.party, false)?),
        };
        let cost = number(self.cost, true)?;
        let duration_s = number(self.duration_s, true)?;
        let data = object(self.data)?;
        let vars = object(self.vars)?;
        let id = match self.id {
            Some(id) if id_ok(&id) => id,
            Some(_) => return None,
            // The hash of the canonical JSON needs the whole event as a tree.
            None => canonical_id(&serde_json::from_str(text).ok()?),
        };
        Some(Decoded {
            event: Event {
                id,
                point: self.point,
                at,
                party,
                channel,
                outcomes,
                value_company: value_company.unwrap_or(0.0),
                value_party: value_party.unwrap_or(0.0),
                cost: cost.unwrap_or(0.0),
                duration_s,
                data: data.as_ref().map(|(text, _)| (*text).to_owned()),
                vars: vars.as_ref().map(|(text, _)| (*text).to_owned()),
            },
            data: data.map(|(_, object)| Value::Object(object)),
            vars: vars.map(|(_, object)| object),
        })
    }
}

/// A JSON object read into `T`. serde's derived structs also take an array of their fields in
/// order, which the wire format does not: `Object` takes only an object.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Members<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(Members(std::marker::PhantomData))
            .map(Object)
    }
}

/// How deeply serde_json nests arrays and objects in one text, at most.
const MOST_NESTED: usize = 127;

/// An optional object: its text and its members. `Some(None)` when absent, `None` when it is
/// not an object, or when it is nested so deeply that the whole event would not parse (it is
/// one level inside the event; read alone, it has the whole depth to itself).
#[allow(clippy::option_option)]
fn object(raw: Option<&RawValue>) -> Option<Option<(&str, Map<String, Value>)>> {
    let Some(raw) = raw else {
        return Some(None);
    };
    let text = raw.get();
    if !text.starts_with('{') {
        return None;
    }
    let map: Map<String, Value> = serde_json::from_str(text).ok()?;
    let deepest = map.values().map(depth).max().unwrap_or(0);
    (1 + 1 + deepest <= MOST_NESTED).then_some(Some((text, map)))
}

/// How many arrays and objects deep `value` is (a number: 0, `[]`: 1).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_780_000_000_000_000;

    /// Whether both ways decided the same: the same problems, or the same event with the same
    /// `data` and `vars` (their texts may differ in form, not in what they hold).
    fn assert_same(text: &str) -> bool {
        let long = serde_json::from_str::<Value>(text)
            .map_err(|e| vec![problem("", format!("not JSON: {e}"))])
            .and_then(|raw| decode(&raw, NOW));
        let read = read(text, NOW);
        match (&read, &long) {
            (Ok(a), Ok(b)) => {
                let parsed = |t: &Option<String>| {
                    t.as_deref()
                        .map(|t| serde_json::from_str::<Value>(t).unwrap())
                };
                assert_eq!(parsed(&a.event.data), parsed(&b.event.data), "{text}");
                assert_eq!(parsed(&a.event.vars), parsed(&b.event.vars), "{text}");
                let bare = |d: &Decoded| Event {
                    data: None,
                    vars: None,
                    ..d.event.clone()
                };
                assert_eq!(bare(a), bare(b), "{text}");
                assert_eq!((&a.data, &a.vars), (&b.data, &b.vars), "{text}");
            }
            _ => assert_eq!(read, long, "{text}"),
        }
        read.is_ok()
    }

    #[test]
    fn the_data_keeps_the_text_it_came_with() {
        let text = r#"{"id":"e-1","point":"web.order","at":"2026-03-01T09:30:00Z","data":{ "b": 1, "a": "x" }}"#;
        let decoded = read(text, NOW).unwrap();
        assert_eq!(
            decoded.event.data.as_deref(),
            Some(r#"{ "b": 1, "a": "x" }"#)
        );
        assert_eq!(decoded.data, Some(json!({"a": "x", "b": 1})));
        assert!(assert_same(text));
    }

    #[test]
    fn a_field_given_twice_is_read_the_long_way_and_the_last_one_counts() {
        let text = r#"{"point":"a","at":"2026-03-01T09:30:00Z","cost":1,"cost":2}"#;
        assert_eq!(read(text, NOW).unwrap().event.cost, 2.0);
        assert!(assert_same(text));
    }

    /// serde would read a struct from an array of its fields in order; the wire format wants
    /// objects, and both ways refuse the arrays alike.
    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        let event =
            r#"[null,"web.order","2026-03-01T09:30:00Z",null,null,null,null,null,null,null,null]"#;
        assert!(read(event, NOW).is_err());
        assert_same(event);
        let base = r#"{"id":"e-1","point":"a","at":"2026-03-01T09:30:00Z""#;
        for field in [
            r#""outcomes":["buy",4,true,false,true]"#,
            r#""value":[1.5,-2]"#,
        ] {
            let text = format!("{base},{field}}}");
            assert!(read(&text, NOW).is_err(), "{text}");
            assert_same(&text);
        }
    }

    /// `data` nested as deeply as a whole event may be is taken; one level more, and neither
    /// way takes the event.
    #[test]
    fn data_nested_too_deeply_is_refused_as_the_whole_text_is() {
        let nested = |levels: usize| {
            format!(
                r#"{{"id":"e-1","point":"a","at":"2026-03-01T09:30:00Z","data":{{"a":{}{}}}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        // The event, `data` and 125 arrays: 127 levels, serde_json's most.
        assert!(assert_same(&nested(125)));
        assert!(!assert_same(&nested(126)));
    }

    #[test]
    fn text_that_is_not_json_is_one_problem() {
        let problems = read("{\"point\":", NOW).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().starts_with("not JSON: "),
            "{problems:?}"
        );
    }

    /// Events with every field, each at times broken or of another type, written compactly or
    /// spread out: both ways agree on every one.
    #[test]
    fn both_ways_decide_the_same() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut taken = 0;
        let texts = [
            json!("x"),
            json!("a\u{0}b"),
            json!("é".repeat(129)),
            json!(""),
            json!(3),
        ];
        for n in 0..4_000 {
            let mut event = Map::new();
            let fields: [(&str, Vec<Value>); 11] = [
                (
                    "id",
                    vec![
                        json!(format!("e-{n}")),
                        json!(null),
                        texts[3].clone(),
                        json!(7),
                        json!("x".repeat(129)),
                    ],
                ),
                (
                    "point",
                    vec![
                        json!("web.order"),
                        json!("Web Order"),
                        json!(1),
                        json!(null),
                    ],
                ),
                (
                    "at",
                    vec![
                        json!("2026-03-01T09:30:00Z"),
                        json!("2026-03-01T10:30:00.5+01:00"),
                        json!("2036-03-01T09:30:00Z"),
                        json!("yesterday"),
                        json!(5),
                    ],
                ),
                ("party", texts.to_vec()),
                ("channel", vec![json!("web"), json!(null), json!(["web"])]),
                (
                    "outcomes",
                    vec![
                        json!({"intent": "buy", "satisfaction": 4, "knowledge": true, "resolved": false, "engaged": true}),
                        json!({"satisfaction": 0}),
                        json!({"satisfaction": 4.0}),
                        json!({"satisfaction": null}),
                        json!({"intent": "x".repeat(65)}),
                        json!({"mood": 1}),
                        json!({"engaged": "yes"}),
                        json!([]),
                        json!(["buy", 4, true, false, true]),
                    ],
                ),
                (
                    "value",
                    vec![
                        json!({"company": 1.5, "party": -2}),
                        json!({"company": "4"}),
                        json!({"other": 1}),
                        json!({}),
                        json!(3),
                        json!([1.5, -2]),
                    ],
                ),
                (
                    "cost",
                    vec![
                        json!(0.25),
                        json!(-1),
                        json!(12_345_678_901_234_567_890_u64),
                        json!("1"),
                    ],
                ),
                (
                    "duration_s",
                    vec![json!(30), json!(-0.5), json!(null), json!(true)],
                ),
                (
                    "data",
                    vec![
                        json!({"sku": "a-1", "n": [1, 2, {"x": null}]}),
                        json!({}),
                        json!([1]),
                        json!("x"),
                        json!(null),
                    ],
                ),
                (
                    "vars",
                    vec![json!({"region": "eu"}), json!({}), json!(1), json!(null)],
                ),
            ];
            for (name, choices) in fields {
                // Most fields are usually present and well formed, so that many events pass.
                if rng.random_range(0..8) > 0 {
                    let value = if rng.random_range(0..6) > 0 {
                        choices[0].clone()
                    } else {
                        choices[rng.random_range(0..choices.len())].clone()
                    };
                    event.insert(name.to_owned(), value);
                }
            }
            if rng.random_range(0..20) == 0 {
                event.insert("colour".to_owned(), json!("red"));
            }
            let event = Value::Object(event);
            taken += usize::from(assert_same(&event.to_string()));
            assert_same(&serde_json::to_string_pretty(&event).unwrap());
        }
        // Enough of them pass for the agreement on events taken to mean something.
        assert!(taken > 800, "{taken} of 4,000 taken");
    }
}
