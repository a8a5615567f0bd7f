//! Standing orders on every store: a capture writes revision 1 once (a second capture of the
//! same party's order finds it there), each change lands only over the revision it read (of
//! two at once exactly one wins), and the history of revisions is kept.

use std::sync::Arc;

use touchbase_core::rules::Span;
use touchbase_core::standing::{self, Consent, Item, OrderStatus, Standing};

use super::Backend;
use crate::standing::{OrderFilter, OrderRevision};

fn section() -> Standing {
    Standing {
        from: "web.order".to_owned(),
        items: "data.items".to_owned(),
        schedule: "FREQ=WEEKLY".to_owned(),
        timezone: None,
        cutoff: Span::parse("24h").unwrap(),
        consent: Consent::Explicit,
        endpoint: "fulfilment".to_owned(),
        edit_point: "auto.edit".to_owned(),
    }
}

fn item(sku: &str, qty: f64) -> Item {
    Item {
        sku: sku.to_owned(),
        qty,
        price: 2.0,
        only: None,
    }
}

fn revision(order: &standing::Order, n: u32, actor: &str, note: &str) -> OrderRevision {
    OrderRevision {
        revision: n,
        at: 1_800_000_000_000_000 + i64::from(n),
        actor: actor.to_owned(),
        note: note.to_owned(),
        order: standing::Order {
            revision: n,
            ..order.clone()
        },
    }
}

pub async fn orders_are_captured_once_and_revised_only_over_the_revision_read(
    backend: &dyn Backend,
) {
    let store: Arc<dyn crate::Store> = backend.fresh().await;
    let first = standing::capture(
        &section(),
        "auto.order",
        "hh-1",
        "e-1",
        1_790_000_000_000_000,
        vec![item("milk", 2.0)],
    );
    assert!(
        store
            .put_order(&revision(&first, 1, "capture", "first order e-1"))
            .await
            .unwrap()
    );
    // The same first order again (a retry, a backfill): the order is there already.
    let again = standing::capture(&section(), "auto.order", "hh-1", "e-9", 0, vec![]);
    assert!(
        !store
            .put_order(&revision(&again, 1, "capture", "again"))
            .await
            .unwrap()
    );
    assert_eq!(store.order(&first.id).await.unwrap(), Some(first.clone()));

    // The party confirms; then two edits read revision 2 and race: one lands.
    let mut confirmed = first.clone();
    confirmed.status = OrderStatus::Active;
    assert!(
        store
            .put_order(&revision(&confirmed, 2, "party:hh-1", "confirmed"))
            .await
            .unwrap()
    );
    let mut more = confirmed.clone();
    more.items.push(item("bread", 1.0));
    let mut less = confirmed.clone();
    less.items[0].qty = 1.0;
    let (a, b) = tokio::join!(
        {
            let (s, r) = (
                store.clone(),
                revision(&more, 3, "party:hh-1", "adds bread"),
            );
            async move { s.put_order(&r).await.unwrap() }
        },
        {
            let (s, r) = (store.clone(), revision(&less, 3, "ada", "one milk"));
            async move { s.put_order(&r).await.unwrap() }
        }
    );
    assert!(
        a ^ b,
        "exactly one of two edits over revision 2 lands: {a} {b}"
    );
    // Skipping a revision is refused too.
    assert!(
        !store
            .put_order(&revision(&confirmed, 5, "ada", "too far"))
            .await
            .unwrap()
    );

    let stored = store.order(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.revision, 3);
    assert_eq!(stored.items.len(), if a { 2 } else { 1 });
    let history = store.order_revisions(&first.id).await.unwrap();
    let numbers: Vec<u32> = history.iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(history[0].order, first);
    assert_eq!(history[1].actor, "party:hh-1");
    assert_eq!(history[2].order, stored);

    // Lists narrow by party, point and status.
    let other = standing::capture(
        &section(),
        "auto.order",
        "hh-2",
        "e-2",
        0,
        vec![item("eggs", 6.0)],
    );
    assert!(
        store
            .put_order(&revision(&other, 1, "capture", "first order e-2"))
            .await
            .unwrap()
    );
    let ids = |orders: Vec<standing::Order>| -> Vec<String> {
        orders.into_iter().map(|o| o.party).collect()
    };
    assert_eq!(
        ids(store.orders(&OrderFilter::default()).await.unwrap()).len(),
        2
    );
    let by_party = OrderFilter {
        party: Some("hh-2".to_owned()),
        ..OrderFilter::default()
    };
    assert_eq!(ids(store.orders(&by_party).await.unwrap()), ["hh-2"]);
    let active = OrderFilter {
        status: Some(OrderStatus::Active),
        ..OrderFilter::default()
    };
    assert_eq!(ids(store.orders(&active).await.unwrap()), ["hh-1"]);
    let elsewhere = OrderFilter {
        point: Some("other.point".to_owned()),
        ..OrderFilter::default()
    };
    assert!(store.orders(&elsewhere).await.unwrap().is_empty());
    assert!(store.order("so_none").await.unwrap().is_none());
}
