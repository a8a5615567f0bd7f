//! The generator on the demo organization: reproducible, valid under the wire format and the
//! inventory, and shaped like real traffic (seasonality, journeys, a share of broken data).

use std::collections::{BTreeMap, BTreeSet};

use touchbase_core::event::{Checker, Disposition, read};
use touchbase_core::{Inventory, Status, file};
use touchbase_synth::{Generator, Options, Period, SynthError};

const DEMO: &str = include_str!("../../touchbase/src/demo/northwind.yaml");

fn demo() -> Inventory {
    file::parse_inventory(DEMO).unwrap()
}

fn ndjson(inventory: &Inventory, events: u64, seed: u64) -> Vec<u8> {
    let options = Options {
        events,
        seed,
        period: Period::default(),
    };
    let mut out = Vec::new();
    let written = Generator::new(inventory, options)
        .unwrap()
        .write_ndjson(&mut out)
        .unwrap();
    assert_eq!(written, events);
    out
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let inventory = demo();
    let a = ndjson(&inventory, 5_000, 42);
    assert_eq!(a, ndjson(&inventory, 5_000, 42));
    assert_ne!(a, ndjson(&inventory, 5_000, 43));
    assert_eq!(a.iter().filter(|b| **b == b'\n').count(), 5_000);
}

/// What 40,000 events of the demo look like once decoded and checked.
struct Seen {
    lines: usize,
    accepted: usize,
    held: usize,
    nonconformant: usize,
    undocumented: BTreeSet<String>,
    held_points: BTreeSet<String>,
    with_party: usize,
    by_weekday: [usize; 7],
    functions_of_party: BTreeMap<String, BTreeSet<String>>,
    at: Vec<i64>,
    by_point: BTreeMap<String, usize>,
}

fn look(inventory: &Inventory, text: &[u8]) -> Seen {
    let checker = Checker::new(inventory);
    let end = Period::default().end_instant().as_microsecond();
    let start = end - 365 * 86_400_000_000;
    let mut seen = Seen {
        lines: 0,
        accepted: 0,
        held: 0,
        nonconformant: 0,
        undocumented: BTreeSet::new(),
        held_points: BTreeSet::new(),
        with_party: 0,
        by_weekday: [0; 7],
        functions_of_party: BTreeMap::new(),
        at: Vec::new(),
        by_point: BTreeMap::new(),
    };
    let mut ids = BTreeSet::new();
    for line in std::str::from_utf8(text).unwrap().lines() {
        seen.lines += 1;
        let raw: serde_json::Value = serde_json::from_str(line).unwrap();
        // Valid now, and at the end of the period (nothing after it).
        let decoded = read(line, end).unwrap_or_else(|p| panic!("{line}: {p:?}"));
        let event = &decoded.event;
        assert!(raw["at"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(
            (start..end).contains(&event.at),
            "{line} is outside the period"
        );
        assert!(event.id.starts_with("g-"), "{line}");
        assert!(
            ids.insert(event.id.clone()),
            "the id of {line} is not unique"
        );
        seen.at.push(event.at);
        *seen.by_point.entry(event.point.clone()).or_default() += 1;
        let day = event.at.div_euclid(86_400_000_000);
        seen.by_weekday[((day + 3) % 7) as usize] += 1;
        let (disposition, conformance) = checker.check(&decoded);
        match disposition {
            Disposition::Accepted => seen.accepted += 1,
            Disposition::Held => {
                seen.held += 1;
                seen.held_points.insert(event.point.clone());
            }
            Disposition::Rejected(problems) => panic!("{line} rejected: {problems:?}"),
        }
        if !conformance.conforms {
            seen.nonconformant += 1;
        }
        let point = inventory.point(&event.point);
        if point.is_none() {
            seen.undocumented.insert(event.point.clone());
        }
        if let Some(party) = &event.party {
            seen.with_party += 1;
            if let Some(point) = point {
                seen.functions_of_party
                    .entry(party.clone())
                    .or_default()
                    .insert(point.function.clone());
            }
        }
    }
    seen
}

#[test]
fn every_event_is_valid_and_the_broken_share_is_small() {
    let inventory = demo();
    let seen = look(&inventory, &ndjson(&inventory, 40_000, 7));
    assert_eq!(seen.lines, 40_000);
    assert_eq!(seen.accepted + seen.held, 40_000, "nothing is rejected");
    let share = |n: usize| n as f64 / seen.lines as f64;
    // Nonconformant data: a few percent, on purpose.
    assert!(
        (0.01..=0.10).contains(&share(seen.nonconformant)),
        "nonconformant share {}",
        share(seen.nonconformant)
    );
    // Undocumented points: well under 1 %, but there.
    let undocumented: usize = seen.undocumented.iter().map(|k| seen.by_point[k]).sum();
    assert!(
        undocumented > 0 && share(undocumented) < 0.01,
        "{undocumented}"
    );
    assert!(
        seen.undocumented
            .iter()
            .all(|k| inventory.point(k).is_none())
    );
    // Every point that is not live gets events: they are held. The points of standing orders
    // get none: the scheduler and the self-service page make theirs.
    let standing: Vec<&str> = inventory
        .points
        .iter()
        .filter_map(|p| {
            p.standing
                .as_ref()
                .map(|s| [p.key.as_str(), s.edit_point.as_str()])
        })
        .flatten()
        .collect();
    assert_eq!(standing, ["replenishment.auto", "replenishment.edit"]);
    for point in &inventory.points {
        let events = seen.by_point.get(&point.key).copied().unwrap_or(0);
        if standing.contains(&point.key.as_str()) {
            assert_eq!(events, 0, "synthetic events at {}", point.key);
            continue;
        }
        assert!(events > 0, "no events at {}", point.key);
        if !matches!(point.status, Status::Live | Status::UnderReview) {
            assert!(seen.held_points.contains(&point.key), "{}", point.key);
        }
    }
    assert!(share(seen.held) < 0.1, "held share {}", share(seen.held));
    // Most events name their party.
    assert!(share(seen.with_party) > 0.55, "{}", share(seen.with_party));
}

#[test]
fn events_come_out_in_time_order_with_weekly_seasonality() {
    let inventory = demo();
    let seen = look(&inventory, &ndjson(&inventory, 40_000, 11));
    assert!(
        seen.at.windows(2).all(|w| w[0] <= w[1]),
        "not in time order"
    );
    // Spread over the whole year.
    let first = seen.at[0];
    let last = seen.at[seen.at.len() - 1];
    assert!(last - first > 360 * 86_400_000_000);
    // Weekdays and weekends differ (per day: 52 or 53 of each weekday in the year).
    let weekday = seen.by_weekday[..5].iter().sum::<usize>() as f64 / 5.0;
    let weekend = seen.by_weekday[5..].iter().sum::<usize>() as f64 / 2.0;
    let ratio = weekend / weekday;
    assert!(!(0.93..=1.07).contains(&ratio), "weekend/weekday {ratio}");
    // Sundays are quieter than Saturdays (phones closed, fewer deliveries).
    assert!(
        seen.by_weekday[6] < seen.by_weekday[5],
        "{:?}",
        seen.by_weekday
    );
}

#[test]
fn parties_come_back_across_business_functions() {
    let inventory = demo();
    let seen = look(&inventory, &ndjson(&inventory, 40_000, 3));
    let across: usize = seen
        .functions_of_party
        .values()
        .filter(|f| f.len() >= 3)
        .count();
    assert!(across > 100, "{across} parties seen in 3 or more functions");
    // The online order journey: ordered (sales), paid (finance), delivered (fulfillment).
    let journey = seen.functions_of_party.values().any(|f| {
        ["sales", "finance", "fulfillment", "service"]
            .iter()
            .all(|x| f.contains(*x))
    });
    assert!(journey, "no household went from order to service");
}

#[test]
fn an_empty_inventory_or_period_is_refused() {
    let empty = Inventory::new(touchbase_core::Organization::named("x"));
    let options = Options {
        events: 10,
        seed: 1,
        period: Period::default(),
    };
    assert_eq!(
        Generator::new(&empty, options).unwrap_err(),
        SynthError::NoPoints
    );
    assert_eq!(
        Period::new(jiff::civil::date(2026, 1, 1), 0).unwrap_err(),
        SynthError::EmptyPeriod
    );
    let p = Period::default();
    assert_eq!(p.from(), jiff::civil::date(2025, 11, 1));
    assert_eq!(p.end(), jiff::civil::date(2026, 11, 1));
}

#[test]
fn any_inventory_works_and_small_counts_are_exact() {
    let small = file::parse_inventory(include_str!(
        "../../touchbase-store/src/conformance/small.yaml"
    ))
    .unwrap();
    for n in [0, 1, 7, 999] {
        let text = ndjson(&small, n, 5);
        let seen = look(&small, &text);
        assert_eq!(seen.lines as u64, n);
    }
}
