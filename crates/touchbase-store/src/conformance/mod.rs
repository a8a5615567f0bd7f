//! The conformance suite: one body per behaviour, run on every backend by
//! [`conformance_suite!`](crate::conformance_suite). A backend's test binary provides a
//! [`Backend`] that hands out fresh, empty stores (a new file, a new database) and cleans up.

use std::sync::Arc;

use async_trait::async_trait;
use touchbase_core::audit::KeyRing;
use touchbase_core::change::{Action, Kind};
use touchbase_core::{Expected, Inventory, Organization, Point, Status, file};

use crate::inventory::{self, ImportMode, InventoryError};
use crate::{Store, StoreError};
use touchbase_core::Actor;

mod access;
pub use access::{
    a_baseline_after_points_were_recorded_waits_for_sign_off,
    a_later_baseline_is_one_proposal_for_the_whole_batch, admins_administer_but_never_sign_off,
    an_edit_lands_only_over_the_version_it_read, go_live_checks_the_permission_first,
    strategic_value_and_contract_of_a_live_point_wait_for_sign_off,
    tokens_are_long_and_their_last_use_is_recorded,
};
mod measure;
pub use measure::{
    attribution_is_metrics_by_hand, journeys_are_metrics_by_hand, portfolio_is_metrics_by_hand,
    quality_is_metrics_by_hand, released_events_are_measured_by_hand,
    scorecards_are_metrics_by_hand, series_are_metrics_by_hand_and_add_up,
};
mod audit;
pub use audit::{
    a_lagging_head_is_accepted_and_keyless_writers_refused,
    a_recomputed_chain_is_caught_by_its_seals, a_rewritten_chain_is_caught_by_its_head,
    a_sealed_trail_verifies_with_its_head_and_state,
    a_trail_from_before_sealing_is_sealed_by_the_next_write, an_unkeyed_store_says_so,
    entities_added_or_removed_behind_the_stores_back_are_named,
    entities_edited_behind_the_stores_back_are_named,
    removing_the_last_records_is_caught_by_the_head, retired_keys_still_verify_after_rotation,
};
mod rejects;
pub use rejects::{
    long_rejects_keep_their_head_hash_and_length, rejects_come_in_pages_and_are_pruned_by_date,
};
mod check;
pub use check::check_passes_after_ingest_and_names_a_broken_rollup_row;
mod figures;
pub use figures::{
    huge_values_are_rejected_and_move_no_figure, rollups_refuse_a_sum_beyond_a_float,
};
mod links;
mod standing;
pub use links::links_open_until_expired_revoked_or_used;
pub use standing::{
    orders_are_captured_once_and_revised_only_over_the_revision_read, the_life_of_a_standing_order,
};
mod voice;
pub use voice::{
    anonymous_responses_keep_neither_party_nor_instant,
    key_customers_are_invited_once_within_the_contact_rules,
    people_tag_code_and_say_why_customers_buy,
    surveys_live_in_the_inventory_and_new_questions_make_a_new_version,
    themes_are_coded_by_the_latest_codebook_and_cost_what_they_cost,
    voice_figures_are_metrics_by_hand,
};
mod journeys_ahead;
pub use journeys_ahead::{
    journeys_kept_ahead_follow_late_released_events_and_gap_changes,
    points_outside_journeys_take_no_part_and_changing_it_cuts_again,
};
mod outbox;
pub use outbox::{
    a_replayed_delivery_is_due_again_and_audited, a_rules_dry_run_agrees_with_its_live_firings,
    deliveries_are_written_once_claimed_and_moved_on,
    dispatchers_side_by_side_never_claim_the_same_delivery,
    event_rules_fire_once_per_new_event_through_ingest,
    lifecycle_rules_fire_on_proposals_opened_and_points_gone_live,
    max_age_holds_back_backfills_unless_firing_always, new_events_and_changes_write_their_firings,
    rotation_keeps_the_previous_secret_signing_for_the_overlap,
    rule_states_change_only_from_the_state_read, undocumented_points_fire_once_each,
};

fn admin() -> Actor {
    Actor::local_admin()
}

async fn baseline(store: &dyn Store, inventory: &Inventory) -> Vec<touchbase_core::Change> {
    inventory::import(store, &admin(), inventory, ImportMode::Baseline)
        .await
        .unwrap()
}

/// Hands out fresh, empty stores of one backend.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn fresh(&self) -> Arc<dyn Store>;

    /// A fresh, empty store that seals its audit trail with `ring` and keeps the chain's head
    /// in a file of its own (counted with the stores [`Backend::fresh`] hands out).
    async fn fresh_sealed(&self, ring: KeyRing) -> Arc<dyn Store>;

    /// The `n`-th store handed out, opened again with `ring` (or none), with its head file or
    /// without one (another writer that keeps none).
    async fn reopen_sealed(&self, n: usize, ring: Option<KeyRing>, head: bool) -> Arc<dyn Store>;

    /// Tampers with the audit trail of the `n`-th store handed out, behind the store's back:
    /// first checks that a plain UPDATE or DELETE is refused, then gets past that guard (as a
    /// database administrator could) and does it.
    async fn tamper(&self, n: usize, how: Tamper);

    /// Another handle on the `n`-th store handed out, opened as a second server or process
    /// would (a pool or a connection of its own); `None` (the default) where the backend has
    /// no such thing, and the tests share the one handle instead.
    async fn reopen(&self, n: usize) -> Option<Arc<dyn Store>> {
        let _ = n;
        None
    }

    /// Adds one to the count `n` of `point`'s rollup row of `day` in the `n`-th store handed
    /// out, behind the store's back: the rollup no longer equals its events.
    async fn break_rollup(&self, n: usize, point: &str, day: i64);
}

/// What [`Backend::tamper`] does to the audit trail, or to the entities behind it.
#[derive(Debug, Clone, PartialEq)]
pub enum Tamper {
    /// `UPDATE audit SET actor = 'mallory' WHERE seq = ?`
    Alter { seq: u64 },
    /// `DELETE FROM audit WHERE seq = ?`
    Remove { seq: u64 },
    /// `DELETE FROM audit WHERE seq >= ?`: the last records.
    RemoveFrom { seq: u64 },
    /// The whole trail replaced by these records (recomputed by the attacker).
    Rewrite {
        records: Vec<touchbase_core::audit::Record>,
    },
    /// One top-level field of an entity's stored document set to `value` (no trigger guards
    /// entities: nothing to get past).
    EditEntity {
        kind: Kind,
        key: String,
        field: String,
        value: serde_json::Value,
    },
    /// The entity's row deleted.
    DeleteEntity { kind: Kind, key: String },
    /// A row inserted with this document.
    InsertEntity {
        kind: Kind,
        key: String,
        doc: serde_json::Value,
    },
}

/// The demo organization's inventory (seed 000's grocer).
pub const DEMO: &str = include_str!("../../../touchbase/src/demo/northwind.yaml");

/// A small inventory written by hand, with a function of the organization's own, an explicit
/// contract and industry variables.
pub const SMALL: &str = include_str!("small.yaml");

/// Two points to add to [`SMALL`]: `auto.order`, repeating each rider's first `web.order`
/// weekly (standing orders, R19: London time, explicit consent, endpoint `fulfilment`), and
/// `auto.edit`, its self-service page's point.
pub const AUTOMATED: &str = include_str!("automated.yaml");

/// [`SMALL`] with the points of [`AUTOMATED`].
pub fn small_automated() -> String {
    SMALL.replacen("points:\n", &format!("points:\n{AUTOMATED}\n"), 1)
}

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
            sign_off_workflow,
            refusals_of_sign_off,
            audit_trail_records_every_write,
            tampering_with_the_audit_trail_is_caught,
            a_sealed_trail_verifies_with_its_head_and_state,
            an_unkeyed_store_says_so,
            removing_the_last_records_is_caught_by_the_head,
            a_recomputed_chain_is_caught_by_its_seals,
            a_rewritten_chain_is_caught_by_its_head,
            entities_edited_behind_the_stores_back_are_named,
            entities_added_or_removed_behind_the_stores_back_are_named,
            a_lagging_head_is_accepted_and_keyless_writers_refused,
            retired_keys_still_verify_after_rotation,
            a_trail_from_before_sealing_is_sealed_by_the_next_write,
            tokens_authenticate_until_revoked,
            events_are_accepted_held_rejected_or_duplicates,
            held_events_count_once_their_point_goes_live,
            rejects_replay_once_the_cause_is_fixed,
            sign_off_cannot_be_bypassed,
            an_id_is_one_interaction_per_day,
            rollups_add_up_in_one_order_on_every_store,
            huge_values_are_rejected_and_move_no_figure,
            rollups_refuse_a_sum_beyond_a_float,
            rejects_are_kept_once_and_altered_ones_never_replayed,
            long_rejects_keep_their_head_hash_and_length,
            rejects_come_in_pages_and_are_pruned_by_date,
            scorecards_are_metrics_by_hand,
            series_are_metrics_by_hand_and_add_up,
            quality_is_metrics_by_hand,
            portfolio_is_metrics_by_hand,
            journeys_are_metrics_by_hand,
            attribution_is_metrics_by_hand,
            released_events_are_measured_by_hand,
            journeys_kept_ahead_follow_late_released_events_and_gap_changes,
            points_outside_journeys_take_no_part_and_changing_it_cuts_again,
            deliveries_are_written_once_claimed_and_moved_on,
            dispatchers_side_by_side_never_claim_the_same_delivery,
            rule_states_change_only_from_the_state_read,
            new_events_and_changes_write_their_firings,
            event_rules_fire_once_per_new_event_through_ingest,
            max_age_holds_back_backfills_unless_firing_always,
            a_rules_dry_run_agrees_with_its_live_firings,
            lifecycle_rules_fire_on_proposals_opened_and_points_gone_live,
            undocumented_points_fire_once_each,
            rotation_keeps_the_previous_secret_signing_for_the_overlap,
            a_replayed_delivery_is_due_again_and_audited,
            admins_administer_but_never_sign_off,
            a_later_baseline_is_one_proposal_for_the_whole_batch,
            a_baseline_after_points_were_recorded_waits_for_sign_off,
            strategic_value_and_contract_of_a_live_point_wait_for_sign_off,
            go_live_checks_the_permission_first,
            an_edit_lands_only_over_the_version_it_read,
            tokens_are_long_and_their_last_use_is_recorded,
            check_passes_after_ingest_and_names_a_broken_rollup_row,
            links_open_until_expired_revoked_or_used,
            orders_are_captured_once_and_revised_only_over_the_revision_read,
            the_life_of_a_standing_order,
            voice_figures_are_metrics_by_hand,
            anonymous_responses_keep_neither_party_nor_instant,
            surveys_live_in_the_inventory_and_new_questions_make_a_new_version,
            key_customers_are_invited_once_within_the_contact_rules,
            themes_are_coded_by_the_latest_codebook_and_cost_what_they_cost,
            people_tag_code_and_say_why_customers_buy,
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
    inventory::init(&*store, &admin(), Organization::named("Acme"))
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
    inventory::init(&*store, &admin(), Organization::named("Acme"))
        .await
        .unwrap();
    let err = inventory::init(&*store, &admin(), Organization::named("Other"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, InventoryError::AlreadyInitialized(name) if name == "Acme"),
        "{err}"
    );
}

async fn round_trip(backend: &dyn Backend, text: &str) {
    let first = backend.fresh().await;
    baseline(&*first, &parse(text)).await;
    let exported = export(&*first).await;

    let second = backend.fresh().await;
    baseline(&*second, &parse(&exported)).await;
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
    let changes = baseline(&*store, &parse(SMALL)).await;
    assert!(changes.iter().all(|c| c.action == Action::Add));
    let version = store.entities().await.unwrap().version;
    let again = baseline(&*store, &parse(SMALL)).await;
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(store.entities().await.unwrap().version, version);
}

pub async fn dry_run_plans_field_changes_and_writes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let before = store.entities().await.unwrap();

    let mut edited = parse(SMALL);
    let point = edited
        .points
        .iter_mut()
        .find(|p| p.key == "web.order")
        .unwrap();
    point.description = "Parts ordered on the web shop".into();
    point.channel = "app".into();
    let mut new_point = point.clone();
    new_point.key = "app.order".into();
    edited.points.push(new_point);
    let edited = edited.normalized();

    let plan = inventory::plan_import(&*store, &admin(), &edited, ImportMode::Baseline)
        .await
        .unwrap();
    let summary: Vec<(Action, Kind, &str)> = plan
        .iter()
        .map(|c| (c.action, c.kind, c.key.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (Action::Add, Kind::Point, "app.order"),
            (Action::Change, Kind::Point, "web.order"),
            // A baseline after the first import: the new point waits for one proposal (R6).
            (Action::Add, Kind::Proposal, "2"),
        ]
    );
    let fields: Vec<&str> = plan[1].fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["channel", "description"]);
    assert_eq!(plan[1].fields[0].before, Some(serde_json::json!("web")));
    assert_eq!(plan[1].fields[0].after, Some(serde_json::json!("app")));
    assert_eq!(
        store.entities().await.unwrap(),
        before,
        "a plan writes nothing"
    );
}

pub async fn import_removes_what_the_file_no_longer_has(backend: &dyn Backend) {
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let mut smaller = parse(SMALL);
    smaller.points.retain(|p| p.key != "phone.support");
    let changes = baseline(&*store, &smaller).await;
    let summary: Vec<(Action, Kind, &str)> = changes
        .iter()
        .map(|c| (c.action, c.kind, c.key.as_str()))
        .collect();
    // The removed point's pending proposal is withdrawn with it.
    assert_eq!(
        summary,
        [
            (Action::Remove, Kind::Point, "phone.support"),
            (Action::Change, Kind::Proposal, "1")
        ]
    );
    let got = inventory::get(&*store).await.unwrap().value;
    assert!(got.point("phone.support").is_none());
    assert_eq!(got, smaller);
}

pub async fn stale_version_is_refused_and_changes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let before = store.entities().await.unwrap();
    let mut edited = parse(SMALL);
    edited.organization.name = "Renamed".into();
    let changes = touchbase_core::change::diff(Some(&parse(SMALL)), &edited);
    let err = store
        .apply(before.version - 1, &changes, &[], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(store.entities().await.unwrap(), before);
    let version = store
        .apply(before.version, &changes, &[], &[])
        .await
        .unwrap();
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
    baseline(&*store, &parse(SMALL)).await;
    let mut point = parse(SMALL).point("web.order").unwrap().clone();
    point.key = "kiosk.order".into();
    point.name = "Kiosk order".into();
    point.status = Status::Proposed;
    inventory::add_point(&*store, &admin(), point.clone())
        .await
        .unwrap();
    let err = inventory::add_point(&*store, &admin(), point.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, InventoryError::PointExists(k) if k == "kiosk.order"),
        "{err}"
    );

    point.expected = Expected {
        volume_per_month: Some(10.0),
        ..point.expected.clone()
    };
    // A point not yet live changes at once; its proposal's business case follows it.
    let changes = inventory::put_point(&*store, &admin(), point.clone())
        .await
        .unwrap();
    let kinds: Vec<Kind> = changes.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [Kind::Point, Kind::Proposal]);
    let got = inventory::get(&*store).await.unwrap().value;
    assert_eq!(got.point("kiosk.order"), Some(&point));

    inventory::retire_point(&*store, &admin(), "kiosk.order")
        .await
        .unwrap();
    let got = inventory::get(&*store).await.unwrap().value;
    assert_eq!(got.point("kiosk.order").unwrap().status, Status::Retired);
    let err = inventory::retire_point(&*store, &admin(), "nope")
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::PointNotFound(_)), "{err}");
}

pub async fn invalid_edit_is_refused_and_changes_nothing(backend: &dyn Backend) {
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let before = store.entities().await.unwrap();
    let mut point = parse(SMALL).point("web.order").unwrap().clone();
    point.function = "astrology".into();
    let err = inventory::put_point(&*store, &admin(), point)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("point `web.order`: function: unknown business function `astrology`"),
        "{message}"
    );
    assert_eq!(store.entities().await.unwrap(), before);
}

pub async fn concurrent_writes_both_land(backend: &dyn Backend) {
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let mut template = parse(SMALL).point("web.order").unwrap().clone();
    template.status = Status::Proposed;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = Arc::clone(&store);
        let mut point = template.clone();
        point.key = format!("parallel.{i}");
        tasks.push(tokio::spawn(async move {
            inventory::add_point(&*store, &admin(), point).await
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

fn user(name: &str, role: touchbase_core::Role, teams: &[&str]) -> Actor {
    Actor {
        name: name.into(),
        role,
        teams: teams.iter().map(|t| t.to_string()).collect(),
    }
}

async fn add_users(store: &dyn Store) {
    use touchbase_core::Role::*;
    for (name, role, teams) in [
        ("olga", Owner, vec!["ecommerce"]),
        ("erin", Executive, vec![]),
        ("ed", Executive, vec![]),
        ("vic", Viewer, vec![]),
    ] {
        crate::access::add_user(
            store,
            &admin(),
            name,
            role,
            teams.into_iter().map(String::from).collect(),
        )
        .await
        .unwrap();
    }
}

fn proposed_point(key: &str) -> touchbase_core::Point {
    let mut point = parse(SMALL).point("web.order").unwrap().clone();
    point.key = key.into();
    point.status = Status::Proposed;
    point
}

fn point_of(store_inventory: &Inventory, key: &str) -> touchbase_core::Point {
    store_inventory
        .point(key)
        .unwrap_or_else(|| panic!("no point {key}"))
        .clone()
}

/// Propose, approve twice, go live, change materially, retire — R6 end to end.
pub async fn sign_off_workflow(backend: &dyn Backend) {
    use crate::proposals;
    use touchbase_core::Role::*;
    use touchbase_core::governance::{ProposalKind, ProposalStatus};
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let (olga, erin, ed) = (
        user("olga", Owner, &["ecommerce"]),
        user("erin", Executive, &[]),
        user("ed", Executive, &[]),
    );

    inventory::add_point(store, &olga, proposed_point("app.order"))
        .await
        .unwrap();
    let opened = proposals::list(store, &olga).await.unwrap();
    let proposal = opened
        .iter()
        .find(|p| p.point == "app.order")
        .unwrap()
        .clone();
    assert_eq!(
        (proposal.kind, proposal.status, proposal.proposer.as_str()),
        (ProposalKind::New, ProposalStatus::Pending, "olga")
    );
    assert_eq!(proposal.approvals_required, 2);
    assert_eq!(proposal.business_case.cost, Some(0.35));

    let after_one = proposals::decide(store, &erin, proposal.id, true, "fits the app strategy")
        .await
        .unwrap();
    assert_eq!(after_one.status, ProposalStatus::Pending);
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order").status,
        Status::Proposed
    );
    let after_two = proposals::decide(store, &ed, proposal.id, true, "agreed")
        .await
        .unwrap();
    assert_eq!(after_two.status, ProposalStatus::Approved);
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order").status,
        Status::Approved
    );

    inventory::go_live(store, &olga, "app.order").await.unwrap();
    let live = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    assert_eq!(live.status, Status::Live);

    // A material change waits for sign-off; the live point keeps its definition meanwhile.
    let mut changed = live.clone();
    changed.data.push(touchbase_core::DataElement {
        name: "phone".into(),
        direction: touchbase_core::Direction::In,
        class: touchbase_core::DataClass::Personal,
        json_type: None,
        required: false,
    });
    changed.expected.cost = Some(0.5);
    inventory::put_point(store, &olga, changed.clone())
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order"),
        live
    );
    let change = proposals::list(store, &olga)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.kind == ProposalKind::Change)
        .unwrap();
    assert_eq!(
        change.reasons,
        [
            "passes personal data `phone`",
            "changes expected.cost: 0.35 → 0.5"
        ]
    );

    // A change that is not material applies at once.
    let mut renamed = live.clone();
    renamed.name = "Order in the app".into();
    renamed.description = "Parts ordered in the app".into();
    inventory::put_point(store, &olga, renamed.clone())
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order"),
        renamed
    );

    proposals::decide(store, &erin, change.id, true, "needed for delivery calls")
        .await
        .unwrap();
    proposals::decide(store, &ed, change.id, true, "ok")
        .await
        .unwrap();
    let after_change = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    // The approved change lands on the point as it is now: fields the change did not touch keep
    // what was done meanwhile.
    assert_eq!(
        after_change,
        Point {
            name: renamed.name.clone(),
            description: renamed.description.clone(),
            ..changed.clone()
        }
    );

    // Two pending changes of the same field: the second to be approved would undo the first,
    // so it is refused and must be proposed again.
    let mut cheaper = after_change.clone();
    cheaper.expected.cost = Some(0.4);
    inventory::put_point(store, &olga, cheaper).await.unwrap();
    let mut busier = after_change.clone();
    busier.expected.volume_per_month = Some(2000.0);
    inventory::put_point(store, &olga, busier).await.unwrap();
    let pending: Vec<u64> = proposals::list(store, &olga)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.status == ProposalStatus::Pending && p.point == "app.order")
        .map(|p| p.id)
        .collect();
    assert_eq!(pending.len(), 2);
    proposals::decide(store, &erin, pending[1], true, "more volume")
        .await
        .unwrap();
    proposals::decide(store, &ed, pending[1], true, "ok")
        .await
        .unwrap();
    proposals::decide(store, &erin, pending[0], true, "cheaper")
        .await
        .unwrap();
    let err = proposals::decide(store, &ed, pending[0], true, "ok")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`expected` changed since this change was proposed"),
        "{err}"
    );
    let now = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    assert_eq!(
        (now.expected.cost, now.expected.volume_per_month),
        (Some(0.5), Some(2000.0))
    );
    proposals::decide(store, &ed, pending[0], false, "propose it again")
        .await
        .unwrap();

    inventory::retire_point(store, &olga, "app.order")
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order").status,
        Status::Live
    );
    let retire = proposals::list(store, &olga)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.kind == ProposalKind::Retire)
        .unwrap();
    proposals::decide(store, &erin, retire.id, true, "replaced by the new app")
        .await
        .unwrap();
    proposals::decide(store, &ed, retire.id, true, "ok")
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order").status,
        Status::Retired
    );

    // One rejection rejects.
    inventory::add_point(store, &olga, proposed_point("fax.order"))
        .await
        .unwrap();
    let fax = proposals::list(store, &olga)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.point == "fax.order")
        .unwrap();
    let rejected = proposals::decide(store, &ed, fax.id, false, "nobody faxes")
        .await
        .unwrap();
    assert_eq!(rejected.status, ProposalStatus::Rejected);
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "fax.order").status,
        Status::Rejected
    );
}

pub async fn refusals_of_sign_off(backend: &dyn Backend) {
    use crate::proposals;
    use touchbase_core::Role::*;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let (olga, erin, vic) = (
        user("olga", Owner, &["ecommerce"]),
        user("erin", Executive, &[]),
        user("vic", Viewer, &[]),
    );
    let message = |e: InventoryError| e.to_string();

    let mut no_case = proposed_point("bare.point");
    no_case.rationale.clear();
    no_case.expected.cost = None;
    let err = message(
        inventory::add_point(store, &olga, no_case)
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("point `bare.point`: rationale: a proposal needs its strategic rationale"),
        "{err}"
    );
    assert!(
        err.contains("point `bare.point`: expected: a proposal needs its business case"),
        "{err}"
    );
    assert!(err.contains("missing: cost"), "{err}");

    let mut live = proposed_point("sneaky.point");
    live.status = Status::Live;
    let err = message(
        inventory::add_point(store, &olga, live.clone())
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains(
            "a new point enters as `proposed` and goes live only through sign-off, got `live`"
        ),
        "{err}"
    );
    let mut file = parse(SMALL);
    file.points.push(live);
    let err = message(
        inventory::import(store, &admin(), &file.normalized(), ImportMode::Normal)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("inventory import --baseline"), "{err}");
    // A live point is not removed, not even by a baseline.
    let mut seen_again = parse(SMALL);
    seen_again.points.retain(|p| p.key != "web.order");
    let err = message(
        inventory::import(store, &admin(), &seen_again, ImportMode::Baseline)
            .await
            .unwrap_err(),
    );
    assert!(err.contains("a live point cannot be removed"), "{err}");
    // A baseline takes only points the store has never seen.
    let mut without = parse(SMALL);
    without.points.retain(|p| p.key != "phone.support");
    inventory::import(store, &admin(), &without, ImportMode::Normal)
        .await
        .unwrap();
    let mut back = parse(SMALL);
    back.points
        .iter_mut()
        .find(|p| p.key == "phone.support")
        .unwrap()
        .status = Status::Live;
    let err = message(
        inventory::import(store, &admin(), &back, ImportMode::Baseline)
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains(
            "point `phone.support`: status: a baseline records only points the store has never seen"
        ),
        "{err}"
    );

    inventory::add_point(store, &erin, proposed_point("exec.point"))
        .await
        .unwrap();
    let own = proposals::list(store, &erin)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.point == "exec.point")
        .unwrap();
    let err = message(
        proposals::decide(store, &erin, own.id, true, "mine")
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err,
        format!(
            "proposal {}: proposer: erin proposed it; nobody approves or rejects their own proposal",
            own.id
        )
    );
    let err = message(
        proposals::decide(store, &vic, own.id, true, "me too")
            .await
            .unwrap_err(),
    );
    assert_eq!(
        err,
        "this needs the role executive; vic has the role viewer"
    );
    let err = message(
        proposals::decide(store, &olga, own.id, true, "")
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("this needs the role executive; olga has the role owner"),
        "{err}"
    );
    let ed = user("ed", Executive, &[]);
    let err = message(
        proposals::decide(store, &ed, own.id, false, " ")
            .await
            .unwrap_err(),
    );
    assert!(err.contains("comment: a decision needs a comment"), "{err}");

    // A proposed point retired before the decision withdraws its proposal.
    inventory::add_point(store, &olga, proposed_point("twin.point"))
        .await
        .unwrap();
    inventory::retire_point(store, &olga, "twin.point")
        .await
        .unwrap();
    let twin = proposals::list(store, &erin)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.point == "twin.point")
        .unwrap();
    assert_eq!(
        twin.status,
        touchbase_core::governance::ProposalStatus::Withdrawn
    );
    let err = message(
        proposals::decide(store, &ed, twin.id, true, "too late")
            .await
            .unwrap_err(),
    );
    assert!(err.contains("status: is already withdrawn"), "{err}");
    // Editing a proposal's business case clears the approvals given on the old one.
    let mut case = point_of(&inventory::get(store).await.unwrap().value, "exec.point");
    proposals::decide(store, &ed, own.id, true, "good case")
        .await
        .unwrap();
    case.expected.volume_per_month = Some(1.0);
    inventory::put_point(store, &admin(), case).await.unwrap();
    let own_now = proposals::get(store, &erin, own.id).await.unwrap();
    assert_eq!(
        (
            own_now.business_case.volume_per_month,
            own_now.decisions.len()
        ),
        (Some(1.0), 0)
    );

    // Nobody takes a point live that is not approved, and only its owner does.
    let oscar = user("oscar", Owner, &[]);
    let err = message(
        inventory::go_live(store, &oscar, "exec.point")
            .await
            .unwrap_err(),
    );
    assert!(err.contains("owner: only its owner"), "{err}");
    let err = message(
        inventory::go_live(store, &admin(), "exec.point")
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("is `proposed`; only an approved point goes live"),
        "{err}"
    );
    let mut bypass = point_of(&inventory::get(store).await.unwrap().value, "exec.point");
    bypass.status = Status::Live;
    let err = message(
        inventory::put_point(store, &admin(), bypass)
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("it goes live only by its owner's `touchbase point go-live` once its proposal is approved"),
        "{err}"
    );
    // An owner edits only the points they own.
    let mut other = point_of(
        &inventory::get(store).await.unwrap().value,
        "workshop.booking",
    );
    other.name = "Mine now".into();
    let err = message(inventory::put_point(store, &olga, other).await.unwrap_err());
    assert!(
        err.contains("only its owner `workshop` (or an admin) may change this point"),
        "{err}"
    );
    let err = message(
        inventory::add_point(store, &vic, proposed_point("viewer.point"))
            .await
            .unwrap_err(),
    );
    assert!(
        err.contains("this needs the role owner or executive or admin; vic has the role viewer"),
        "{err}"
    );
}

pub async fn audit_trail_records_every_write(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let olga = user("olga", touchbase_core::Role::Owner, &["ecommerce"]);
    let mut renamed = parse(SMALL).point("web.order").unwrap().clone();
    renamed.name = "Web shop order".into();
    inventory::put_point(store, &olga, renamed).await.unwrap();

    let records = store.audit().await.unwrap();
    let verified = crate::audit::verify(store, &admin()).await.unwrap();
    assert!(verified.intact, "{verified:?}");
    assert_eq!(verified.records, records.len() as u64);
    let filter = crate::audit::Filter {
        point: Some("web.order".into()),
        ..Default::default()
    };
    let history = crate::audit::log(store, &admin(), &filter).await.unwrap();
    let actions: Vec<(&str, &str)> = history
        .iter()
        .map(|r| (r.actor.as_str(), r.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("local-admin", "inventory.baseline"),
            ("olga", "point.edit")
        ]
    );
    assert_eq!(history[1].before.as_ref().unwrap()["name"], "Online order");
    assert_eq!(history[1].after.as_ref().unwrap()["name"], "Web shop order");
    let by_olga = crate::audit::Filter {
        actor: Some("olga".into()),
        ..Default::default()
    };
    assert_eq!(
        crate::audit::log(store, &admin(), &by_olga)
            .await
            .unwrap()
            .len(),
        1
    );
    let tokens = records
        .iter()
        .filter(|r| r.action == "user.add" && r.subject.starts_with("token "))
        .count();
    assert_eq!(tokens, 4, "every token issued is on record");
    let vic = user("vic", touchbase_core::Role::Viewer, &[]);
    let err = crate::audit::log(store, &vic, &filter)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("this needs the role analyst"), "{err}");
}

pub async fn tampering_with_the_audit_trail_is_caught(backend: &dyn Backend) {
    use touchbase_core::audit::Break;
    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    let count = store.audit().await.unwrap().len() as u64;
    assert!(count > 5);
    backend.tamper(0, Tamper::Alter { seq: 3 }).await;
    let verified = crate::audit::verify(&*store, &admin()).await.unwrap();
    assert_eq!(verified.problem, Some(Break::Altered { seq: 3 }.problem()));
    assert!(!verified.intact);

    let store = backend.fresh().await;
    baseline(&*store, &parse(SMALL)).await;
    backend.tamper(1, Tamper::Remove { seq: 4 }).await;
    let verified = crate::audit::verify(&*store, &admin()).await.unwrap();
    assert_eq!(
        verified.problem,
        Some(
            Break::Removed {
                after: 3,
                found: 5,
                missing: 4
            }
            .problem()
        )
    );
}

pub async fn tokens_authenticate_until_revoked(backend: &dyn Backend) {
    use crate::access;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let issued = access::add_user(
        store,
        &admin(),
        "ana",
        touchbase_core::Role::Analyst,
        vec![],
    )
    .await
    .unwrap();
    assert!(issued.secret.starts_with("tb_") && issued.id.starts_with("tk_"));
    let actor = access::authenticate(store, &issued.secret).await.unwrap();
    assert_eq!(
        (actor.name.as_str(), actor.role),
        ("ana", touchbase_core::Role::Analyst)
    );
    // Only the hash is kept.
    let (_, tokens) = access::list(store, &admin()).await.unwrap();
    let everything = format!(
        "{:?}{:?}",
        store.entities().await.unwrap(),
        store.audit().await.unwrap()
    );
    assert!(
        !everything.contains(&issued.secret),
        "the secret must not be stored"
    );
    assert_eq!(tokens.len(), 1);

    let second = access::issue_token(store, &admin(), "ana").await.unwrap();
    access::revoke_token(store, &admin(), &issued.id)
        .await
        .unwrap();
    let err = access::authenticate(store, &issued.secret)
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::Unauthenticated(_)), "{err}");
    assert!(access::authenticate(store, &second.secret).await.is_ok());
    assert!(access::authenticate(store, "tb_not-a-token").await.is_err());
    let err = access::add_user(store, &admin(), "ana", touchbase_core::Role::Viewer, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, InventoryError::UserExists(_)), "{err}");
}

fn inputs(lines: &[serde_json::Value]) -> Vec<crate::ingest::Input> {
    lines
        .iter()
        .map(|v| crate::ingest::Input::new(v.to_string(), "test"))
        .collect()
}

async fn ingest(store: &dyn Store, raw: Vec<crate::ingest::Input>) -> Vec<crate::ingest::Outcome> {
    let checker = crate::ingest::checker(store).await.unwrap();
    crate::ingest::ingest(store, &admin(), &checker, &raw)
        .await
        .unwrap()
}

pub async fn events_are_accepted_held_rejected_or_duplicates(backend: &dyn Backend) {
    use crate::ingest::Status::*;
    use serde_json::json;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let good = json!({ "id": "o-1", "point": "web.order", "at": "2026-03-01T09:30:00Z",
        "outcomes": { "satisfaction": 5 }, "value": { "company": 6.5 }, "cost": 0.3,
        "data": { "basket": ["chain"], "email": "a@b.c" } });
    let anonymous =
        json!({ "point": "web.order", "at": "2026-03-01T10:00:00+01:00", "party": "p-9" });
    let mut raw = inputs(&[
        good.clone(),
        good.clone(),
        anonymous.clone(),
        anonymous,
        json!({ "point": "phone.support", "at": "2026-03-02T08:00:00Z" }),
        json!({ "point": "sms.promo", "at": "2026-03-02T08:00:00Z" }),
        json!({ "point": "sms.promo", "at": "2026-03-05T08:00:00Z" }),
        json!({ "point": "web.order", "at": "2026-03-01T09:30:00Z", "outcomes": { "satisfaction": 7 } }),
        json!({ "point": "web.order", "at": "2026-03-01T09:30:00Z", "vars": { "colour": "red" } }),
        // Missing the required email: a data-quality finding, still accepted (R13).
        json!({ "point": "web.order", "at": "2026-03-03T09:30:00Z", "data": { "basket": [] } }),
    ]);
    raw.push(crate::ingest::Input::new("{not json\0", "test"));
    let outcomes = ingest(store, raw).await;
    let statuses: Vec<_> = outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        [
            Accepted, Duplicate, Accepted, Duplicate, Held, Held, Held, Rejected, Rejected,
            Accepted, Rejected
        ]
    );
    assert_eq!(outcomes[0].id.as_deref(), Some("o-1"));
    assert!(outcomes[2].id.as_ref().unwrap().starts_with("h:"));
    assert_eq!(
        outcomes[7].reasons,
        ["outcomes.satisfaction: must be an integer from 1 to 5, got 7"]
    );
    assert_eq!(
        outcomes[8].reasons,
        ["vars.colour: is not an industry variable the organization declares"]
    );
    assert!(
        outcomes[10].reasons[0].starts_with("not JSON"),
        "{:?}",
        outcomes[10]
    );
    assert_eq!(store.event_counts().await.unwrap(), (3, 3));

    let held = store.held().await.unwrap();
    let summary: Vec<(&str, u64)> = held.iter().map(|h| (h.point.as_str(), h.volume)).collect();
    assert_eq!(summary, [("phone.support", 1), ("sms.promo", 2)]);
    assert_eq!(
        held[1].first_at,
        touchbase_core::event::parse_instant("2026-03-02T08:00:00Z").unwrap()
    );
    assert_eq!(
        held[1].last_at,
        touchbase_core::event::parse_instant("2026-03-05T08:00:00Z").unwrap()
    );

    let rejects = store.rejects().await.unwrap();
    assert_eq!(rejects.len(), 3);
    assert_eq!(
        rejects[2].raw, "{not json\u{2400}",
        "a NUL is kept visibly, on every store"
    );
    assert_eq!(rejects[0].reasons, outcomes[7].reasons);
    assert!(
        rejects
            .iter()
            .all(|r| r.replayed_at.is_none() && r.source == "test")
    );

    // The same batch again adds nothing but rejects.
    let again = ingest(store, inputs(&[good])).await;
    assert_eq!(again[0].status, Duplicate);
    assert_eq!(store.event_counts().await.unwrap(), (3, 3));
}

/// Proposes point `key` as olga (an owner) and has erin and ed (executives) approve it; it is
/// approved, not yet live. Returns olga, who takes it live. Needs `add_users`.
async fn propose_and_approve(store: &dyn Store, key: &str) -> Actor {
    let olga = user("olga", touchbase_core::Role::Owner, &["ecommerce"]);
    inventory::add_point(store, &olga, proposed_point(key))
        .await
        .unwrap();
    let id = crate::proposals::list(store, &olga)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    for exec in ["erin", "ed"] {
        let exec = user(exec, touchbase_core::Role::Executive, &[]);
        crate::proposals::decide(store, &exec, id, true, "yes")
            .await
            .unwrap();
    }
    olga
}

pub async fn held_events_count_once_their_point_goes_live(backend: &dyn Backend) {
    use serde_json::json;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let held = inputs(&[
        json!({ "point": "app.order", "at": "2026-03-01T09:30:00Z" }),
        json!({ "point": "app.order", "at": "2026-03-02T09:30:00Z" }),
    ]);
    ingest(store, held).await;
    assert_eq!(store.event_counts().await.unwrap(), (0, 2));

    let olga = propose_and_approve(store, "app.order").await;
    assert_eq!(
        store.event_counts().await.unwrap(),
        (0, 2),
        "approved is not live yet"
    );
    let before = crate::ingest::checker(store).await.unwrap();
    inventory::go_live(store, &olga, "app.order").await.unwrap();
    assert_eq!(store.event_counts().await.unwrap(), (2, 0));
    assert!(store.held().await.unwrap().is_empty());

    // A checker made before the point went live holds its events; the write reads the store's
    // new version, and they are counted at once.
    let late = inputs(&[json!({ "point": "app.order", "at": "2026-03-03T09:30:00Z" })]);
    let written = crate::ingest::commit(store, crate::ingest::prepare_batch(&before, &late))
        .await
        .unwrap();
    assert_eq!(written.value[0].status, crate::ingest::Status::Held);
    assert_eq!(written.version, store.version().await.unwrap());
    assert_ne!(written.version, before.version);
    assert_eq!(store.event_counts().await.unwrap(), (3, 0));
}

pub async fn rejects_replay_once_the_cause_is_fixed(backend: &dyn Backend) {
    use serde_json::json;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let raw = inputs(&[
        json!({ "point": "web.order", "at": "2026-03-01T09:30:00Z", "vars": { "season": "winter" } }),
        json!({ "point": "web.order", "at": "2026-03-01T09:30:00Z", "cost": -1 }),
    ]);
    ingest(store, raw).await;
    assert_eq!(store.rejects().await.unwrap().len(), 2);
    let nothing = crate::ingest::replay(store, &admin(), None).await.unwrap();
    assert_eq!((nothing.taken, nothing.still_rejected), (0, 2));

    // The organization declares the variable: the first reject now passes.
    let mut file = parse(SMALL);
    file.organization.variables.insert(
        "season".into(),
        touchbase_core::Variable {
            kind: touchbase_core::VariableKind::Text,
            values: vec![],
            description: String::new(),
        },
    );
    inventory::import(store, &admin(), &file, ImportMode::Normal)
        .await
        .unwrap();
    let replayed = crate::ingest::replay(store, &admin(), None).await.unwrap();
    assert_eq!((replayed.taken, replayed.still_rejected), (1, 1));
    assert_eq!(store.event_counts().await.unwrap(), (1, 0));
    let rejects = store.rejects().await.unwrap();
    assert_eq!(rejects.len(), 2, "a replay records no new rejects");
    assert!(rejects[0].replayed_at.is_some() && rejects[1].replayed_at.is_none());
    let again = crate::ingest::replay(store, &admin(), None).await.unwrap();
    assert_eq!((again.taken, again.still_rejected), (0, 1));
}

/// No door around sign-off: a status that counts (`under_review`) cannot be set by an edit,
/// and an approved point changed materially goes back to sign-off instead of going live as
/// changed.
pub async fn sign_off_cannot_be_bypassed(backend: &dyn Backend) {
    use crate::proposals;
    use touchbase_core::Role::*;
    use touchbase_core::governance::{ProposalKind, ProposalStatus};
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let (olga, erin, ed) = (
        user("olga", Owner, &["ecommerce"]),
        user("erin", Executive, &[]),
        user("ed", Executive, &[]),
    );
    inventory::add_point(store, &olga, proposed_point("app.order"))
        .await
        .unwrap();

    let mut sneaky = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    sneaky.status = Status::UnderReview;
    let err = inventory::put_point(store, &olga, sneaky)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a `proposed` point cannot become `under_review`"),
        "{err}"
    );

    let id = proposals::list(store, &olga)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    // A material edit between the approvals voids the first one.
    proposals::decide(store, &erin, id, true, "yes")
        .await
        .unwrap();
    let mut more_data = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    more_data.data.push(touchbase_core::DataElement {
        name: "card".into(),
        direction: touchbase_core::Direction::In,
        class: touchbase_core::DataClass::Payment,
        json_type: None,
        required: false,
    });
    inventory::put_point(store, &olga, more_data.clone())
        .await
        .unwrap();
    let proposal = proposals::get(store, &olga, id).await.unwrap();
    assert!(
        proposal.decisions.is_empty(),
        "the approval was given on another point"
    );
    proposals::decide(store, &erin, id, true, "yes, with the card")
        .await
        .unwrap();
    proposals::decide(store, &ed, id, true, "yes")
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "app.order").status,
        Status::Approved
    );

    // Approved, then changed materially: back to proposed, with a new proposal.
    let mut pricier = more_data.clone();
    pricier.status = Status::Approved;
    pricier.expected.cost = Some(99.0);
    inventory::put_point(store, &olga, pricier.clone())
        .await
        .unwrap();
    let now = point_of(&inventory::get(store).await.unwrap().value, "app.order");
    assert_eq!(
        (now.status, now.expected.cost),
        (Status::Proposed, Some(99.0))
    );
    let reopened = proposals::list(store, &olga)
        .await
        .unwrap()
        .into_iter()
        .last()
        .unwrap();
    assert_eq!(
        (reopened.kind, reopened.status),
        (ProposalKind::New, ProposalStatus::Pending)
    );
    let err = inventory::go_live(store, &olga, "app.order")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("only an approved point goes live"), "{err}");
    let mut live = now.clone();
    live.status = Status::Live;
    let err = inventory::put_point(store, &olga, live)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("goes live only by its owner's `touchbase point go-live`"),
        "{err}"
    );
}

/// The idempotency rule: an id is one interaction on the UTC day of its `at`, in one batch or
/// across batches; the same id on another day is another interaction (see the events table).
pub async fn an_id_is_one_interaction_per_day(backend: &dyn Backend) {
    use crate::ingest::Status::*;
    use serde_json::json;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let monday = json!({ "id": "e-1", "point": "web.order", "at": "2026-03-02T00:00:00Z" });
    let monday_late = json!({ "id": "e-1", "point": "web.order", "at": "2026-03-02T23:59:59Z" });
    let tuesday = json!({ "id": "e-1", "point": "web.order", "at": "2026-03-03T00:00:00Z" });
    let first = ingest(
        store,
        inputs(&[monday.clone(), monday_late, tuesday.clone()]),
    )
    .await;
    let statuses: Vec<_> = first.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [Accepted, Duplicate, Accepted]);
    let again = ingest(store, inputs(&[tuesday, monday])).await;
    assert!(again.iter().all(|o| o.status == Duplicate), "{again:?}");
    assert_eq!(store.event_counts().await.unwrap(), (2, 0));
}

/// Rollups hold the same numbers on every store: each day's figures are added in one order
/// (the batch's order as written; (`at`, `id`) for released events), never by a database's
/// own `SUM`. With 1e12 (the wire format's largest value), the order shows: 1e12 + 0.00005 is
/// 1e12 in floating point.
pub async fn rollups_add_up_in_one_order_on_every_store(backend: &dyn Backend) {
    use serde_json::json;
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let batch = |point: &str| {
        inputs(&[
            json!({ "id": format!("{point}-a"), "point": point, "at": "2026-03-01T10:00:00Z", "value": { "company": 1e12 } }),
            json!({ "id": format!("{point}-b"), "point": point, "at": "2026-03-01T11:00:00Z", "value": { "company": -1e12 } }),
            json!({ "id": format!("{point}-c"), "point": point, "at": "2026-03-01T09:00:00Z", "value": { "company": 0.00005 },
                "outcomes": { "satisfaction": 4, "resolved": false } }),
            json!({ "id": format!("{point}-d"), "point": point, "at": "2026-03-02T09:00:00Z", "cost": 2.5 }),
        ])
    };
    // Live: added as written, a, b, c: (1e12 - 1e12) + 0.00005.
    ingest(store, batch("web.order")).await;
    // Held, then released: added by (at, id), c, a, b: (0.00005 + 1e12) - 1e12.
    ingest(store, batch("app.order")).await;
    let olga = propose_and_approve(store, "app.order").await;
    inventory::go_live(store, &olga, "app.order").await.unwrap();

    let day = crate::rollup::day_of(1_772_323_200_000_000); // 2026-03-01
    let rollups = store.rollups(day - 1..day + 2).await.unwrap();
    let summary: Vec<_> = rollups
        .iter()
        .map(|r| {
            let t = &r.tally;
            (
                r.point.as_str(),
                r.day - day,
                t.n,
                t.value_company,
                t.cost,
                t.satisfaction_n,
                t.csat_n,
                t.resolved_n,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("app.order", 0, 3, 0.0, 0.0, 1, 1, 1),
            ("app.order", 1, 1, 0.0, 2.5, 0, 0, 0),
            ("web.order", 0, 3, 0.00005, 0.0, 1, 1, 1),
            ("web.order", 1, 1, 0.0, 2.5, 0, 0, 0),
        ]
    );
    assert!(store.rollups(day + 2..day + 9).await.unwrap().is_empty());
}

/// A bad input sent again (a file imported twice) is kept once; an input whose text could not
/// be kept exactly (NUL characters) is kept to be read but never replayed.
pub async fn rejects_are_kept_once_and_altered_ones_never_replayed(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let bad = |raw: &str| crate::ingest::Input::new(raw, "test");
    let batch = vec![
        bad(r#"{"point": "web.order"}"#),
        bad("{\"point\": \"web.order\", \"at\": \"2026-03-01T09:00:00Z\", \"party\": \"a\u{0}b\"}"),
    ];
    ingest(store, batch.clone()).await;
    ingest(store, batch).await;
    let rejects = store.rejects().await.unwrap();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(rejects[0].replayable);
    assert!(!rejects[1].replayable);
    assert!(rejects[1].raw.contains("a\u{2400}b"));
    let replay = crate::ingest::replay(store, &admin(), None).await.unwrap();
    assert_eq!(
        (replay.taken, replay.still_rejected, replay.not_replayable),
        (0, 1, 1)
    );
    assert_eq!(store.event_counts().await.unwrap(), (0, 0));
}
