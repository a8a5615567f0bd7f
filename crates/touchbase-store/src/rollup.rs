//! The daily rollups: per point and UTC day, the sums and counts the scorecards of METRICS.md
//! add up. Computed here, once for every store, so that all stores hold the same numbers for
//! the same events: each day's figures are added in a fixed order (the events' order in the
//! batch written, or (`at`, `id`) for released events), never by a database's `SUM`.

use std::collections::BTreeMap;

use touchbase_core::event::Event;
pub use touchbase_core::metrics::Tally;
pub use touchbase_core::period::{DAY_US, day_of};

/// A rollup's sum that would leave the range of a 64-bit float (an infinity, which the
/// figures would show as nothing). The write is refused whole: a store never holds such a sum.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the rollup of point `{point}` on {date} would hold a {field} sum of {sum}, beyond what a \
     64-bit float holds: nothing was written. The wire format bounds each value to 10^12, so \
     only events recorded before that bound can do this: correct or remove them"
)]
pub struct NonFiniteSum {
    pub point: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// `value.company`, `value.party` or `cost`.
    pub field: &'static str,
    pub sum: f64,
}

/// Refuses a (point, day)'s sums when one is not finite: the check every store makes on what
/// it is about to add, and on the row's sums after adding.
pub fn finite_sums(
    point: &str,
    day: i64,
    [value_company, value_party, cost]: [f64; 3],
) -> Result<(), NonFiniteSum> {
    let fields = [
        ("value.company", value_company),
        ("value.party", value_party),
        ("cost", cost),
    ];
    match fields.into_iter().find(|(_, sum)| !sum.is_finite()) {
        None => Ok(()),
        Some((field, sum)) => Err(NonFiniteSum {
            point: point.to_owned(),
            date: jiff::Timestamp::from_microsecond(day.saturating_mul(DAY_US))
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_else(|_| format!("day {day}")),
            field,
            sum,
        }),
    }
}

/// What a set of counted events adds to the rollups, by (point, day), each day's events added
/// in the order given. The map's order (point, then day) is the order in which a store
/// updates the rows, so that concurrent writers take their locks in one order. A sum that
/// leaves the range of a 64-bit float is refused ([`NonFiniteSum`]).
pub fn tally<'a>(
    events: impl IntoIterator<Item = (&'a Event, bool)>,
) -> Result<BTreeMap<(String, i64), Tally>, NonFiniteSum> {
    // Keyed by the events' own point keys: one copy per (point, day), not one per event.
    let mut days: BTreeMap<(&str, i64), Tally> = BTreeMap::new();
    for (event, conforms) in events {
        days.entry((event.point.as_str(), day_of(event.at)))
            .or_default()
            .add_event(event, conforms);
    }
    days.into_iter()
        .map(|((point, day), t)| {
            finite_sums(point, day, [t.value_company, t.value_party, t.cost])?;
            Ok(((point.to_owned(), day), t))
        })
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
        let days = tally([(&a1, true), (&a2, false), (&a3, true), (&b, true)]).unwrap();
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

    #[test]
    fn a_sum_beyond_a_float_is_refused() {
        let a = event("a", DAY_US * 20_513, 1.797e308, None);
        let b = event("a", DAY_US * 20_513 + 1, 1.797e308, None);
        let err = tally([(&a, true), (&b, true)]).unwrap_err();
        assert_eq!(
            (err.point.as_str(), err.date.as_str(), err.field, err.sum),
            ("a", "2026-03-01", "value.company", f64::INFINITY)
        );
        assert!(
            err.to_string().starts_with(
                "the rollup of point `a` on 2026-03-01 would hold a value.company sum of inf"
            ),
            "{err}"
        );
        // Apart, each is finite (a store then refuses the row's sum instead).
        assert!(tally([(&a, true)]).is_ok());
        assert!(finite_sums("a", 0, [1.0, f64::NEG_INFINITY, 0.0]).is_err());
        assert!(finite_sums("a", 0, [1.0, 2.0, f64::NAN]).is_err());
    }
}
