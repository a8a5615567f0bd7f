//! What the fuzz targets share: the instant they read events at, and the properties every
//! event taken must have.

use serde_json::Value;
use touchbase_core::event::{Decoded, Event};

/// The instant events are read at (2026-05-28): an event after NOW + 24 h is refused.
pub const NOW: i64 = 1_780_000_000_000_000;

/// The `data` or `vars` text of an event, parsed (they keep the text they came with, which
/// may differ in form from another reading's, not in what it holds).
fn parsed(text: &Option<String>) -> Option<Value> {
    text.as_deref().map(|t| {
        serde_json::from_str::<Value>(t)
            .unwrap_or_else(|e| panic!("an event's data or vars is not JSON ({e}): {t}"))
    })
}

/// The event without its `data` and `vars` texts.
fn bare(d: &Decoded) -> Event {
    Event {
        data: None,
        vars: None,
        ..d.event.clone()
    }
}

/// Panics unless `a` and `b` are the same reading of one event: the same fields (numbers to
/// the bit), the same `data` and `vars`.
pub fn assert_same(a: &Decoded, b: &Decoded, text: &str) {
    assert_eq!(bare(a), bare(b), "{text}");
    for (x, y) in [
        (a.event.value_company, b.event.value_company),
        (a.event.value_party, b.event.value_party),
        (a.event.cost, b.event.cost),
        (
            a.event.duration_s.unwrap_or(0.0),
            b.event.duration_s.unwrap_or(0.0),
        ),
    ] {
        assert_eq!(x.to_bits(), y.to_bits(), "{text}: {x} and {y}");
    }
    assert_eq!(parsed(&a.event.data), parsed(&b.event.data), "{text}");
    assert_eq!(parsed(&a.event.vars), parsed(&b.event.vars), "{text}");
    assert_eq!((&a.data, &a.vars), (&b.data, &b.vars), "{text}");
}

/// Panics unless an event taken keeps every rule of the wire format v1 (PRODUCT.md), and
/// reads back the same from the text the reverse feed writes of it.
pub fn assert_within_the_format(d: &Decoded, text: &str) {
    let e = &d.event;
    let chars = |s: &str| s.chars().count();
    assert!(
        (1..=128).contains(&chars(&e.id)) && !e.id.contains('\0'),
        "id {:?}: {text}",
        e.id
    );
    assert!(touchbase_core::validate::is_key(&e.point), "{text}");
    assert!(
        (0..=NOW + 24 * 3_600_000_000).contains(&e.at),
        "at {}: {text}",
        e.at
    );
    for (s, most) in [(&e.party, 128), (&e.channel, 128), (&e.outcomes.intent, 64)] {
        if let Some(s) = s {
            assert!(chars(s) <= most && !s.contains('\0'), "{s:?}: {text}");
        }
    }
    if let Some(s) = e.outcomes.satisfaction {
        assert!((1..=5).contains(&s), "{text}");
    }
    assert!(e.value_company.abs() <= 1e12, "{text}");
    assert!(e.value_party.abs() <= 1e12, "{text}");
    assert!((0.0..=1e12).contains(&e.cost), "{text}");
    if let Some(s) = e.duration_s {
        assert!((0.0..=1e9).contains(&s), "{text}");
    }
    // `data` and `vars` are objects, as parsed and as kept.
    assert_eq!(parsed(&e.data), d.data, "{text}");
    assert!(d.data.as_ref().is_none_or(Value::is_object), "{text}");
    assert_eq!(parsed(&e.vars), d.vars.clone().map(Value::Object), "{text}");
    // The text the reverse feed writes of the event is the event again.
    let written = touchbase_core::rules::event_text(e);
    match touchbase_core::event::read(&written, NOW) {
        Ok(again) => assert_same(d, &again, &format!("{text} written as {written}")),
        Err(problems) => panic!("{text} written as {written} is refused: {problems:?}"),
    }
}
