//! `touchbase check` on every store: intact after ingest, and a rollup row broken behind the
//! store's back is named.

use serde_json::json;

use super::{Backend, SMALL, admin, baseline, ingest, inputs, parse};
use crate::check;

pub async fn check_passes_after_ingest_and_names_a_broken_rollup_row(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let mut events = Vec::new();
    for i in 0..40 {
        events.push(json!({ "id": format!("o-{i}"), "point": if i % 3 == 0 { "workshop.booking" } else { "web.order" },
            "at": format!("2026-03-0{}T{:02}:15:00Z", 1 + i % 4, 8 + i % 9),
            "party": format!("rider-{}", i % 5), "value": { "company": 0.1 * f64::from(i) },
            "outcomes": { "satisfaction": 1 + i % 5 }, "cost": 0.35,
            "data": { "basket": ["chain"], "email": "a@b.c", "bike": "road" } }));
    }
    // Held (phone.support is proposed) and rejected inputs too.
    events.push(json!({ "point": "phone.support", "at": "2026-03-02T08:00:00Z" }));
    events.push(json!({ "point": "web.order", "at": "2026-03-01T09:30:00Z", "outcomes": { "satisfaction": 7 } }));
    // In two batches, so that rows are added to.
    let (first, second) = events.split_at(25);
    ingest(store, inputs(first)).await;
    ingest(store, inputs(second)).await;
    let report = check::check(store, &admin()).await.unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.checked.counted_events, 40);
    assert_eq!(report.checked.held_events, 1);
    assert_eq!(report.checked.rejects, 1);
    assert_eq!(report.checked.rollup_rows, 8);
    assert!(report.checked.journeys > 0);
    assert!(report.checked.audit_records > 0);

    // 2026-03-02 is day 20,514.
    backend.break_rollup(0, "web.order", 20_514).await;
    let report = check::check(store, &admin()).await.unwrap();
    assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
    let row = &report.problems[0];
    assert_eq!(
        (row.kind, row.subject.as_str()),
        ("rollup", "rollup web.order 2026-03-02")
    );
    assert!(row.detail.contains("n 8 (events: 7)"), "{}", row.detail);
    assert!(
        report.problems[1]
            .detail
            .contains("the rollups count 41 events; 40"),
        "{:?}",
        report.problems[1]
    );
}
