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
    Bound, Decoded, Event, OUTCOMES, Outcomes, Problem, TOP_LEVEL, canonical_id, decode, id_ok,
    instant, is_key, problem, satisfaction_ok, text_ok,
};

/// Reads one event from its text and checks it against the wire format v1; `now_us` as for
/// [`decode`](super::decode). Text that is not JSON is one problem, with no field.
pub fn read(text: &str, now_us: i64) -> Result<Decoded, Vec<Problem>> {
    match typed(text, now_us) {
        Some(decoded) => Ok(decoded),
        None => read_tree(text, now_us),
    }
}

/// The fast way of [`read`]: the event when the text is read straight into its fields and
/// every rule holds; `None` when it must go the long way ([`read_tree`]), which then decides.
/// Public so that the two ways can be held to agree from outside (the fuzz targets).
pub fn typed(text: &str, now_us: i64) -> Option<Decoded> {
    let Object(wire) = serde_json::from_str::<Object<Wire<'_>>>(text).ok()?;
    wire.into_decoded(text, now_us)
}

/// The long way of [`read`]: the text parsed into a tree of JSON values, then
/// [`decode`](super::decode)d, every broken rule reported. A number too large for a 64-bit
/// float (`1e400`), which fails the whole parse, is found again in a second reading that keeps
/// it apart, and reported by its field like any other broken rule.
pub fn read_tree(text: &str, now_us: i64) -> Result<Decoded, Vec<Problem>> {
    let not_json = |e: serde_json::Error| vec![problem("", format!("not JSON: {e}"))];
    let e = match serde_json::from_str::<Value>(text) {
        Ok(raw) => return decode(&raw, now_us),
        Err(e) => e,
    };
    if !e.to_string().starts_with("number out of range") {
        return Err(not_json(e));
    }
    let (raw, beyond) = match beyond_range(text) {
        Ok((raw, beyond)) if !beyond.is_empty() => (raw, beyond),
        Ok(_) => return Err(not_json(e)),
        Err(e) => return Err(not_json(e)),
    };
    if beyond.iter().any(|(path, _)| path.is_empty()) {
        return Err(vec![problem(
            "",
            "an event must be a JSON object, got a number",
        )]);
    }
    if !raw.is_object() {
        return decode(&raw, now_us);
    }
    // Each such number is read as null (absent), and its field reported with its rule.
    let mut problems = match decode(&raw, now_us) {
        Ok(_) => Vec::new(),
        Err(problems) => problems,
    };
    let named: Vec<Problem> = beyond
        .iter()
        .filter_map(|(path, literal)| {
            rule_beyond_range(path, literal)
                .map(|rule| problem(path, format!("{rule}, got {literal}")))
        })
        .collect();
    problems.retain(|p| !named.iter().any(|n| n.field == p.field));
    problems.extend(named);
    Err(problems)
}

/// The rule a number too large for a 64-bit float breaks at `path`: the field's own rule, or
/// that of any number; `None` for a field the format does not know (reported as unknown).
fn rule_beyond_range(path: &str, literal: &str) -> Option<&'static str> {
    if let Some(bound) = Bound::of(path) {
        return Some(bound.rule(literal.starts_with('-')));
    }
    let known = |path: &str| match path.split_once('.') {
        None => TOP_LEVEL.contains(&path),
        Some(("value", field)) => field == "company" || field == "party",
        Some(("outcomes", field)) => OUTCOMES.contains(&field),
        Some(("data" | "vars", _)) => true,
        Some(_) => false,
    };
    let field = path.split('[').next().unwrap_or(path);
    if !known(field) {
        return None;
    }
    Some(match path {
        "id" | "point" | "at" | "party" | "channel" | "outcomes.intent" => "must be a string",
        "outcomes.satisfaction" => "must be an integer from 1 to 5",
        "outcomes.knowledge" | "outcomes.resolved" | "outcomes.engaged" => "must be true or false",
        "outcomes" | "value" | "data" | "vars" => "must be an object",
        _ => "must be a number a 64-bit float can hold (magnitude below 1.8e308)",
    })
}

/// The tree of a text in which some number is too large for a 64-bit float: each such number
/// read as null, and listed with its path (`value.company`, `data.n[2]`) and its text. Every
/// object and array is read from its own text, its members kept raw until read in turn; as
/// deeply nested as serde_json allows, and no deeper.
#[allow(clippy::type_complexity)]
fn beyond_range(text: &str) -> Result<(Value, Vec<(String, String)>), serde_json::Error> {
    fn node(
        raw: &RawValue,
        path: &str,
        depth: usize,
        beyond: &mut Vec<(String, String)>,
    ) -> Result<Value, serde_json::Error> {
        let text = raw.get();
        let nested = matches!(text.as_bytes().first(), Some(b'{' | b'['));
        if nested && depth >= MOST_NESTED {
            return Err(serde::de::Error::custom("recursion limit exceeded"));
        }
        match text.as_bytes().first() {
            Some(b'{') => {
                let Members(members) = serde_json::from_str(text)?;
                let mut object = Map::new();
                for (key, value) in members {
                    let inner = match path {
                        "" => key.clone(),
                        _ => format!("{path}.{key}"),
                    };
                    let value = node(value, &inner, depth + 1, beyond)?;
                    object.insert(key, value);
                }
                Ok(Value::Object(object))
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text)?;
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| node(item, &format!("{path}[{i}]"), depth + 1, beyond))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            Some(b'-' | b'0'..=b'9') => match serde_json::from_str::<Value>(text) {
                Ok(value) => Ok(value),
                Err(_) => {
                    beyond.push((path.to_owned(), text.to_owned()));
                    Ok(Value::Null)
                }
            },
            _ => serde_json::from_str(text),
        }
    }

    let raw: &RawValue = serde_json::from_str(text)?;
    let mut beyond = Vec::new();
    let value = node(raw, "", 0, &mut beyond)?;
    Ok((value, beyond))
}

/// The members of a JSON object in the order written, their values as text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(Visitor)
    }
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
        let number = |v: Option<f64>, bound: Bound| match v {
            Some(v) if !bound.holds(v) => None,
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
            Some(Object(v)) => (
                number(v.company, Bound::Value)?,
                number(v.party, Bound::Value)?,
            ),
        };
        let cost = number(self.cost, Bound::Cost)?;
        let duration_s = number(self.duration_s, Bound::Duration)?;
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
        let long = read_tree(text, NOW);
        let read = read(text, NOW);
        // The fast way takes only what the long way takes (what it does not, goes the long way).
        if let Some(fast) = typed(text, NOW) {
            assert!(
                long.is_ok(),
                "{text}: the fast way took what the long way refuses"
            );
            assert_eq!(Ok(&fast), read.as_ref(), "{text}");
        }
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

    fn problems(text: &str) -> Vec<String> {
        assert_same(text);
        match read(text, NOW) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    /// A number too large for a 64-bit float fails serde_json's whole parse; it is found again
    /// and reported by its field, with the field's rule, beside every other broken rule.
    #[test]
    fn a_number_beyond_a_float_is_named_by_its_field() {
        let at = r#""at":"2026-03-01T09:30:00Z""#;
        assert_eq!(
            problems(&format!(
                r#"{{"point":"a",{at},"value":{{"company":1e400}}}}"#
            )),
            ["value.company: must be a finite number from -10^12 to 10^12, got 1e400"]
        );
        assert_eq!(
            problems(&format!(
                r#"{{"point":"a",{at},"cost":-1e400,"duration_s":{}}}"#,
                "9".repeat(400)
            )),
            [
                "cost: must be a finite number of at least 0, got -1e400".to_owned(),
                format!(
                    "duration_s: must be a finite number of at most 10^9 (seconds), got {}",
                    "9".repeat(400)
                ),
            ]
        );
        assert_eq!(
            problems(&format!(
                r#"{{"point":1e400,{at},"colour":2e999,"outcomes":{{"satisfaction":1E+309,"mood":-1e309}},
                    "data":{{"n":[1,{{"m":2e308}}]}},"cost":-1}}"#
            )),
            [
                "colour: unknown field; the fields are id, point, at, party, channel, outcomes, value, cost, duration_s, data, vars",
                "outcomes.mood: unknown field; outcomes are intent, satisfaction, knowledge, resolved, engaged",
                "cost: must be a finite number of at least 0, got -1",
                "point: must be a string, got 1e400",
                "outcomes.satisfaction: must be an integer from 1 to 5, got 1E+309",
                "data.n[1].m: must be a number a 64-bit float can hold (magnitude below 1.8e308), got 2e308",
            ]
        );
        assert_eq!(
            problems("1e400"),
            ["an event must be a JSON object, got a number"]
        );
        assert_eq!(
            problems(" [1e400] "),
            ["an event must be a JSON object, got an array"]
        );
        // Whatever else is not JSON is still said so, before or after the number.
        for text in [
            format!(r#"{{"point":"a",{at},"cost":1e400,"#),
            format!(r#"{{"point":"a",{at},"cost":1e400}} x"#),
            format!(r#"{{"point":"a",{at},"cost":1e400,"party":"\ud800"}}"#),
        ] {
            let got = problems(&text);
            assert_eq!(got.len(), 1, "{text}: {got:?}");
            assert!(got[0].starts_with("not JSON: "), "{text}: {got:?}");
        }
        // As deeply nested as the whole text may be, and no deeper.
        let nested = |levels: usize| {
            format!(
                r#"{{"point":"a",{at},"cost":1e400,"data":{{"a":{}{}}}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        assert_eq!(
            problems(&nested(125)),
            ["cost: must be a finite number of at most 10^12, got 1e400"]
        );
        assert_eq!(
            problems(&nested(126)),
            ["not JSON: recursion limit exceeded"]
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
                        json!("1969-12-31T23:59:59Z"),
                        json!("2026-03-01T09:30:00+24:00"),
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
                        json!({"company": 1.797e308, "party": -1e12}),
                        json!({"party": -1.5e12}),
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
                        json!(1e12),
                        json!(1e12 + 0.5),
                    ],
                ),
                (
                    "duration_s",
                    vec![json!(30), json!(-0.5), json!(null), json!(true), json!(2e9)],
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
