//! The conformance suite: one body per behaviour, run on every backend by
//! [`conformance_suite!`](crate::conformance_suite). A backend's test binary provides a
//! [`Backend`] that hands out fresh, empty stores (a new file, a new database) and cleans up.

use std::sync::Arc;

use async_trait::async_trait;
use touchbase_core::change::{Action, Kind};
use touchbase_core::{Expected, Inventory, Organization, Status, file};

use crate::inventory::{self, InventoryError};
use crate::{Store, StoreError};

/// Hands out fresh, empty stores of one backend.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn fresh(&self) -> Arc<dyn Store>;
}

/// The demo organization's inventory (seed 000's grocer).
pub const DEMO: &str = include_str!("../../../touchbase/src/demo/northwind.yaml");

/// A small inventory written by hand, with a function of the organization's own, an explicit
/// contract and industry variables.
pub const SMALL: &str = include_str!("small.yaml");

/// Generates one `#[tokio::test]` per behaviour, each on fresh stores from `$backend` (an
/// expression of a type implementing [`Backend`]).
#[macro_export]
macro_rules! conformance_suite {
    ($backend:expr) => {
        $crate::conformance_suite!(@each $backend;
            fresh_store_is_empty,
            init_creates_the_default_functions,
            init_twice_is_refused,
            demo_inventory_round_trips_byte_for_byte,
            small_inventory_round_trips_byte_for_byte,
            reimport_changes_nothing,
            dry_run_plans_field_changes_and_writes_nothing,
            import_removes_what_the_file_no_longer_has,
            stale_version_is_refused_and_changes_nothing,
            point_add_edit_retire,
            invalid_edit_is_refused_and_changes_nothing,
            concurrent_writes_both_land,
        );
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $backend;
                $crate::conformance::$name(&backend).await;
            }
        )*
    };
}

fn parse(text: &str) -> Inventory {
    file::parse_inventory(text).unwrap_or_else(|e| panic!("test inventory does not parse: {e}"))
}

async fn export(store: &dyn Store) -> String {
    let inventory = inventory::get(store).await.expect("inventory");
    file::render_inventory(&inventory.value)
}

pub async fn fresh_store_is_empty(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let entities = store.entities().await.unwrap();
    assert_eq!(entities.version, 0);
    assert!(entities.value.is_empty());
    assert!(matches!(
        inventory::get(&*store).await,
        Err(InventoryError::NotInitialized)
    ));
}

pub async fn init_creates_the_default_functions(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::init(&*store, Organization::named("Acme"))
        .await
        .unwrap();
    let got = inventory::get(&*store).await.unwrap();
    assert_eq!(got.value.organization.name, "Acme");
    assert_eq!(
        got.value.functions,
        ["marketing", "sales", "fulfillment", "finance", "service"]
    );
    assert!(got.value.points.is_empty());
    assert!(got.version > 0);
}

pub async fn init_twice_is_refused(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::init(&*store, Organization::named("Acme"))
        .await
        .unwrap();
    let err = inventory::init(&*store, Organization::named("Other"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, InventoryError::AlreadyInitialized(name) if name == "Acme"),
        "{err}"
    );
}

async fn round_trip(backend: &dyn Backend, text: &str) {
    let first = backend.fresh().await;
    inventory::import(&*first, &parse(text)).await.unwrap();
    let exported = export(&*first).await;

    let second = backend.fresh().await;
    inventory::import(&*second, &parse(&exported))
        .await
        .unwrap();
    let again = export(&*second).await;
    assert_eq!(
        exported, again,
        "export → import → export must give the same bytes"
    );
    assert_eq!(
        exported,
        export(&*first).await,
        "exporting twice must give the same bytes"
    );
    assert_eq!(
        parse(&exported),
        parse(text),
        "the export holds the same inventory as the file"
    );
}

pub async fn demo_inventory_round_trips_byte_for_byte(backend: &dyn Backend) {
    round_trip(backend, DEMO).await;
}

pub async fn small_inventory_round_trips_byte_for_byte(backend: &dyn Backend) {
    round_trip(backend, SMALL).await;
}

pub async fn reimport_changes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let changes = inventory::import(&*store, &parse(SMALL)).await.unwrap();
    assert!(changes.iter().all(|c| c.action == Action::Add));
    let version = store.entities().await.unwrap().version;
    let again = inventory::import(&*store, &parse(SMALL)).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(store.entities().await.unwrap().version, version);
}

pub async fn dry_run_plans_field_changes_and_writes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::import(&*store, &parse(SMALL)).await.unwrap();
    let before = store.entities().await.unwrap();

    let mut edited = parse(SMALL);
    let point = edited
        .points
        .iter_mut()
        .find(|p| p.key == "web.order")
        .unwrap();
    point.expected.cost = Some(0.5);
    point.channel = "app".into();
    let mut new_point = point.clone();
    new_point.key = "app.order".into();
    edited.points.push(new_point);
    let edited = edited.normalized();

    let plan = inventory::plan_import(&*store, &edited).await.unwrap();
    let summary: Vec<(Action, Kind, &str)> = plan
        .iter()
        .map(|c| (c.action, c.kind, c.key.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (Action::Add, Kind::Point, "app.order"),
            (Action::Change, Kind::Point, "web.order")
        ]
    );
    let fields: Vec<&str> = plan[1].fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["channel", "expected.cost"]);
    assert_eq!(plan[1].fields[1].before, Some(serde_json::json!(0.35)));
    assert_eq!(plan[1].fields[1].after, Some(serde_json::json!(0.5)));
    assert_eq!(
        store.entities().await.unwrap(),
        before,
        "a plan writes nothing"
    );
}

pub async fn import_removes_what_the_file_no_longer_has(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::import(&*store, &parse(SMALL)).await.unwrap();
    let mut smaller = parse(SMALL);
    smaller.points.retain(|p| p.key != "phone.support");
    let changes = inventory::import(&*store, &smaller).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].action, changes[0].key.as_str()),
        (Action::Remove, "phone.support")
    );
    let got = inventory::get(&*store).await.unwrap().value;
    assert!(got.point("phone.support").is_none());
    assert_eq!(got, smaller);
}

pub async fn stale_version_is_refused_and_changes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::import(&*store, &parse(SMALL)).await.unwrap();
    let before = store.entities().await.unwrap();
    let mut edited = parse(SMALL);
    edited.organization.name = "Renamed".into();
    let changes = touchbase_core::change::diff(Some(&parse(SMALL)), &edited);
    let err = store.apply(before.version - 1, &changes).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(store.entities().await.unwrap(), before);
    let version = store.apply(before.version, &changes).await.unwrap();
    assert_eq!(version, before.version + 1);
    assert_eq!(
        inventory::get(&*store)
            .await
            .unwrap()
            .value
            .organization
            .name,
        "Renamed"
    );
}

pub async fn point_add_edit_retire(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::import(&*store, &parse(SMALL)).await.unwrap();
    let mut point = parse(SMALL).point("web.order").unwrap().clone();
    point.key = "kiosk.order".into();
    point.name = "Kiosk order".into();
    inventory::add_point(&*store, point.clone()).await.unwrap();
    let err = inventory::add_point(&*store, point.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, InventoryError::PointExists(k) if k == "kiosk.order"),
        "{err}"
    );

    point.expected = Expected {
        volume_per_month: Some(10.0),
        ..Expected::default()
    };
    let changes = inventory::put_point(&*store, point.clone()).await.unwrap();
    assert_eq!(changes.len(), 1);
    let got = inventory::get(&*store).await.unwrap().value;
    assert_eq!(got.point("kiosk.order"), Some(&point));

    inventory::retire_point(&*store, "kiosk.order")
        .await
        .unwrap();
    let got = inventory::get(&*store).await.unwrap().value;
    assert_eq!(got.point("kiosk.order").unwrap().status, Status::Retired);
    let err = inventory::retire_point(&*store, "nope").await.unwrap_err();
    assert!(matches!(err, InventoryError::PointNotFound(_)), "{err}");
}

pub async fn invalid_edit_is_refused_and_changes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::import(&*store, &parse(SMALL)).await.unwrap();
    let before = store.entities().await.unwrap();
    let mut point = parse(SMALL).point("web.order").unwrap().clone();
    point.function = "astrology".into();
    let err = inventory::put_point(&*store, point).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("point `web.order`: function: unknown business function `astrology`"),
        "{message}"
    );
    assert_eq!(store.entities().await.unwrap(), before);
}

pub async fn concurrent_writes_both_land(backend: &dyn Backend) {
    let store = backend.fresh().await;
    inventory::import(&*store, &parse(SMALL)).await.unwrap();
    let template = parse(SMALL).point("web.order").unwrap().clone();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = Arc::clone(&store);
        let mut point = template.clone();
        point.key = format!("parallel.{i}");
        tasks.push(tokio::spawn(async move {
            inventory::add_point(&*store, point).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let got = inventory::get(&*store).await.unwrap().value;
    for i in 0..4 {
        assert!(
            got.point(&format!("parallel.{i}")).is_some(),
            "parallel.{i} was lost"
        );
    }
}
