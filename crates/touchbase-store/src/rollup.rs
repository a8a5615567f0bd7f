//! The daily rollups: per point and UTC day, the sums and counts the scorecards of METRICS.md
//! add up. Computed here, once for every store, so that all stores hold the same numbers for
//! the same events: each day's figures are added in a fixed order (the events' order in the
//! batch written, or (`at`, `id`) for released events), never by a database's `SUM`.

use std::collections::BTreeMap;

use touchbase_core::event::Event;
pub use touchbase_core::metrics::Tally;
pub use touchbase_core::period::{DAY_US, day_of};

/// What a set of counted events adds to the rollups, by (point, day), each day's events added
/// in the order given. The map's order (point, then day) is the order in which a store
/// updates the rows, so that concurrent writers take their locks in one order.
pub fn tally<'a>(
    events: impl IntoIterator<Item = (&'a Event, bool)>,
) -> BTreeMap<(String, i64), Tally> {
    // Keyed by the events' own point keys: one copy per (point, day), not one per event.
    let mut days: BTreeMap<(&str, i64), Tally> = BTreeMap::new();
    for (event, conforms) in events {
        days.entry((event.point.as_str(), day_of(event.at)))
            .or_default()
            .add_event(event, conforms);
    }
    days.into_iter()
        .map(|((point, day), tally)| ((point.to_owned(), day), tally))
        .collect()
}

/// Adds a counted event to `days`, which a store fills in (point, day) order, each day's
/// events in (`at`, `id`) order: into the last day when the event is of it, else as a new day.
pub fn add_in_order(days: &mut Vec<crate::DayRollup>, event: &Event, conforms: bool) {
    let day = day_of(event.at);
    match days.last_mut() {
        Some(last) if last.day == day && last.point == event.point => {
            last.tally.add_event(event, conforms);
        }
        _ => days.push(crate::DayRollup {
            point: event.point.clone(),
            day,
            tally: Tally::of(event, conforms),
        }),
    }
}

#[cfg(test)]
mod tests {
    use touchbase_core::event::Outcomes;

    use super::*;

    fn event(point: &str, at: i64, value: f64, satisfaction: Option<u8>) -> Event {
        Event {
            id: format!("{point}-{at}"),
            point: point.into(),
            at,
            party: None,
            channel: None,
            outcomes: Outcomes {
                satisfaction,
                resolved: satisfaction.map(|s| s >= 3),
                ..Outcomes::default()
            },
            value_company: value,
            value_party: 0.0,
            cost: 1.0,
            duration_s: None,
            data: None,
            vars: None,
        }
    }

    #[test]
    fn events_add_up_by_point_and_utc_day() {
        let a1 = event("a", 10, 2.5, Some(5));
        let a2 = event("a", DAY_US - 1, 1.0, Some(3));
        let a3 = event("a", DAY_US, 4.0, None);
        let b = event("b", -1, 1.0, Some(1));
        let days = tally([(&a1, true), (&a2, false), (&a3, true), (&b, true)]);
        let keys: Vec<_> = days.keys().cloned().collect();
        assert_eq!(keys, [("a".into(), 0), ("a".into(), 1), ("b".into(), -1)]);
        let day0 = &days[&("a".to_owned(), 0)];
        assert_eq!(
            *day0,
            Tally {
                n: 2,
                value_company: 3.5,
                value_party: 0.0,
                cost: 2.0,
                intent_n: 0,
                satisfaction_n: 2,
                satisfaction_sum: 8,
                csat_n: 1,
                knowledge_n: 0,
                resolved_n: 2,
                resolved_true_n: 2,
                engaged_n: 0,
                conforms_n: 1,
            }
        );
        assert_eq!(days[&("a".to_owned(), 1)].satisfaction_n, 0);
        assert_eq!(days[&("b".to_owned(), -1)].resolved_true_n, 0);
    }
}
