//! Figures nobody can poison: the wire format's bounds keep any one event from moving a sum out
//! of the range of a 64-bit float, and a store refuses to hold such a sum whatever it is given.

use serde_json::json;
use touchbase_core::event::{Checked, Conformance, Event, Outcomes};
use touchbase_core::period::Period;

use super::{Backend, DEMO, SMALL, baseline, ingest, inputs, parse};
use crate::ingest::Status;
use crate::{DayRollup, Store, measure};

/// 2026-03-01, as a rollup's day.
const DAY: i64 = 20_513;

async fn rollups(store: &dyn Store) -> Vec<DayRollup> {
    store.rollups(DAY - 400..DAY + 400).await.unwrap()
}

/// The attack of issue 17: two events with `value.company` = 1.797e308 made the year's
/// organization figures null (the day's sum overflowed to infinity) and flipped a verdict. Now
/// both are rejected by the wire format's bound, and no figure or verdict moves.
pub async fn huge_values_are_rejected_and_move_no_figure(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    let inventory = parse(DEMO);
    baseline(store, &inventory).await;
    let point = inventory
        .points
        .iter()
        .find(|p| p.status == touchbase_core::Status::Live)
        .unwrap();
    let key = point.key.as_str();
    let good = ingest(
        store,
        inputs(&[
            json!({ "id": "g-1", "point": key, "at": "2026-03-01T09:00:00Z", "value": { "company": 12.5 }, "cost": 2 }),
            json!({ "id": "g-2", "point": key, "at": "2026-03-01T10:00:00Z", "value": { "company": -3 }, "cost": 1 }),
        ]),
    )
    .await;
    assert!(
        good.iter().all(|o| o.status == Status::Accepted),
        "{good:?}"
    );
    let year = Period::parse("2026-01-01", "2027-01-01").unwrap();
    let before = (
        rollups(store).await,
        measure::portfolio(store, &inventory, year).await.unwrap(),
    );

    let attack = ingest(
        store,
        inputs(&[
            json!({ "id": "x-1", "point": key, "at": "2026-03-01T11:00:00Z", "value": { "company": 1.797e308 } }),
            json!({ "id": "x-2", "point": key, "at": "2026-03-01T12:00:00Z", "value": { "company": 1.797e308 } }),
            json!({ "id": "x-3", "point": key, "at": "2026-03-01T13:00:00Z", "value": { "party": -1.797e308 }, "cost": 1e300 }),
        ]),
    )
    .await;
    for outcome in &attack {
        assert_eq!(outcome.status, Status::Rejected, "{outcome:?}");
        let reasons = outcome.reasons.join("; ");
        assert!(reasons.contains("must be a finite number"), "{reasons}");
    }
    assert!(
        attack[0].reasons[0].starts_with("value.company: "),
        "{attack:?}"
    );
    assert_eq!(
        attack[2].reasons,
        [
            "value.party: must be a finite number from -10^12 to 10^12, got -1.797e+308",
            "cost: must be a finite number of at most 10^12, got 1e+300",
        ]
    );
    let after = (
        rollups(store).await,
        measure::portfolio(store, &inventory, year).await.unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(after.0[0].tally.value_company, 9.5);
    assert_eq!(store.event_counts().await.unwrap().0, 2);
}

/// An event of the given value, as a store is handed it (past the decoder: a store does not
/// rely on it).
fn checked(id: &str, at: i64, value_company: f64, value_party: f64) -> Checked {
    Checked::new(
        Event {
            id: id.to_owned(),
            point: "web.order".to_owned(),
            at,
            party: None,
            channel: None,
            outcomes: Outcomes::default(),
            value_company,
            value_party,
            cost: 0.0,
            duration_s: None,
            data: None,
            vars: None,
        },
        false,
        Conformance {
            conforms: true,
            failures: Vec::new(),
        },
    )
}

/// A store never holds a rollup sum beyond a 64-bit float: a batch whose own sum leaves the
/// range, or whose sum with the day's row does, is refused whole, and nothing of it is written.
pub async fn rollups_refuse_a_sum_beyond_a_float(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let at = DAY * touchbase_core::period::DAY_US + 3_600_000_000;
    let huge = 1.797e308;
    store
        .write_events(vec![checked("a", at, huge, -1.0)], Vec::new(), at)
        .await
        .unwrap();
    let before = rollups(store).await;
    assert_eq!(before[0].tally.value_company, huge);

    let refused = [
        // Within one batch.
        vec![checked("b", at, 1.0, 0.0), checked("c", at + 1, huge, 0.0)],
        // With the day's row: each alone is finite.
        vec![checked("d", at, huge, 0.0)],
        vec![
            checked("e", at, 0.0, -huge),
            checked("f", at + 1, 0.0, -huge),
        ],
    ];
    for batch in refused {
        let ids: Vec<String> = batch.iter().map(|c| c.event.id.clone()).collect();
        let err = store
            .write_events(batch, Vec::new(), at)
            .await
            .expect_err(&format!("{ids:?}: a sum beyond a float is refused"));
        let message = err.to_string();
        assert!(
            message.contains("beyond what a 64-bit float holds")
                || message.contains("value out of range: overflow"),
            "{ids:?}: {message}"
        );
        assert_eq!(rollups(store).await, before, "{ids:?}");
        assert_eq!(store.event_counts().await.unwrap().0, 1, "{ids:?}");
    }
    // What stays within the range is still taken.
    store
        .write_events(vec![checked("g", at, -huge, 1.0)], Vec::new(), at)
        .await
        .unwrap();
    let after = rollups(store).await;
    assert_eq!((after[0].tally.n, after[0].tally.value_company), (2, 0.0));
}
