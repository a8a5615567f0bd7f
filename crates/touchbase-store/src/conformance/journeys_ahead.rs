//! The journeys a store cuts ahead of time (from the parties' events it keeps in party order),
//! against the plain definition: events arriving out of time order in batches, duplicates,
//! events without a party, held events released later, the journey gap changed and back.

use std::collections::BTreeMap;

use serde_json::json;
use touchbase_core::attribution::{Attribution, attribute};
use touchbase_core::event::Event;
use touchbase_core::journeys::{self, Filter};
use touchbase_core::period::{DAY_US, Period};

use super::{
    Backend, SMALL, add_users, admin, baseline, ingest, inputs, parse, propose_and_approve,
};
use crate::ingest::Status;
use crate::measure::{self, Days, JourneyQuery, Scope};
use crate::{Store, inventory, settings};

/// A small deterministic generator (SplitMix64), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 2025-01-01T00:00:00Z in microseconds.
const FROM: i64 = 20_089 * DAY_US;
const POINTS: [&str; 3] = ["web.order", "workshop.booking", "app.order"];

fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_microsecond(at)
        .expect("a valid instant")
        .to_string()
}

/// `n` random events, in random order: six parties (some events have none), three points,
/// instants over 400 days (so some gaps exceed the 30-day journey gap), a few on one instant
/// (ties broken by id).
fn random_events(rng: &mut Rng, first_id: usize, n: usize) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::with_capacity(n);
    for i in 0..n {
        let at = if !events.is_empty() && rng.below(8) == 0 {
            events[rng.below(events.len() as u64) as usize].at
        } else {
            // Whole seconds: the wire format's instants.
            FROM + rng.below(400 * 86_400) as i64 * 1_000_000
        };
        let party = (rng.below(10) != 0).then(|| format!("p-{}", rng.below(6)));
        events.push(Event {
            id: format!("e-{:04}", first_id + i),
            point: POINTS[rng.below(3) as usize].to_owned(),
            at,
            party,
            channel: None,
            outcomes: Default::default(),
            // Whole values from −1 to 3: some journeys convert, some do not.
            value_company: rng.below(5) as f64 - 1.0,
            value_party: 0.0,
            cost: 0.0,
            duration_s: None,
            data: None,
            vars: None,
        });
    }
    events
}

fn wire(e: &Event) -> serde_json::Value {
    let mut v = json!({
        "id": e.id, "point": e.point, "at": rfc3339(e.at),
        "value": { "company": e.value_company },
    });
    if let Some(party) = &e.party {
        v["party"] = json!(party);
    }
    v
}

/// Ingests `events` in batches of random sizes, some events sent twice; returns those
/// accepted or held, by id.
async fn send(
    store: &dyn Store,
    rng: &mut Rng,
    events: &[Event],
    kept: &mut BTreeMap<String, Event>,
) {
    let mut rest = events;
    while !rest.is_empty() {
        let take = (1 + rng.below(12) as usize).min(rest.len());
        let (batch, after) = rest.split_at(take);
        rest = after;
        let mut lines: Vec<serde_json::Value> = batch.iter().map(wire).collect();
        if rng.below(3) == 0 {
            lines.push(wire(&batch[0]));
        }
        let outcomes = ingest(store, inputs(&lines)).await;
        for (line, outcome) in lines.iter().zip(&outcomes) {
            assert!(
                matches!(
                    outcome.status,
                    Status::Accepted | Status::Held | Status::Duplicate
                ),
                "{line}: {outcome:?}"
            );
        }
        for e in batch {
            kept.insert(e.id.clone(), e.clone());
        }
    }
}

/// The journeys measured from the store against the plain definition, over the whole time, a
/// part of it, and with each filter.
async fn check(store: &dyn Store, counted: &[Event], when: &str) {
    let inventory = inventory::get(store).await.unwrap().value;
    let gap_us = inventory.organization.settings.journey_gap_us();
    let all_journeys = journeys::of_events(counted, gap_us, &inventory.outside_journeys());
    let periods = [
        Period::new(FROM - DAY_US, FROM + 401 * DAY_US).unwrap(),
        Period::new(FROM + 100 * DAY_US + 3_600_000_000, FROM + 250 * DAY_US).unwrap(),
    ];
    let filters = [
        (None, None),
        (Some("rider".to_owned()), None),
        (None, Some("workshop.booking".to_owned())),
    ];
    for period in periods {
        let days = Days::read(store, &inventory, period).await.unwrap();
        let scopes: Vec<Scope> = inventory
            .points
            .iter()
            .map(|p| Scope::Point(p.key.clone()))
            .collect();
        let effectiveness = measure::cards(&inventory, &days, &scopes, None)
            .unwrap()
            .into_iter()
            .filter_map(|c| Some((c.key?, c.scorecard.effectiveness)))
            .collect();
        let facts = journeys::facts(&inventory, &effectiveness);
        for (party_type, start) in filters.clone() {
            for top in [None, Some(0), Some(1), Some(2)] {
                let query = JourneyQuery {
                    period,
                    party_type: party_type.clone(),
                    start: start.clone(),
                    top,
                };
                let got = measure::journeys(store, &inventory, &query).await.unwrap();
                let filter = Filter {
                    period: Some(period),
                    party_type: party_type.clone(),
                    start: start.clone(),
                };
                let want = journeys::summarize(&all_journeys, &filter, &facts, top);
                assert_eq!(got, want, "{when}: journeys of {query:?}");
            }
        }
        // Each point's attribution from the whole organization's journeys of the period.
        let in_period: Vec<(Vec<String>, f64)> = all_journeys
            .iter()
            .filter(|j| period.contains(j.first_at()))
            .map(|j| (j.points(), j.value()))
            .collect();
        let want = attribute(in_period.iter().map(|(p, v)| (p.as_slice(), *v)));
        let cards = measure::cards(&inventory, &days, &scopes, None).unwrap();
        for card in cards {
            let key = card.key.clone().unwrap();
            let got = card.scorecard.attribution;
            let want = want.get(&key).copied().unwrap_or_default();
            assert!(
                same_attribution(&got, &want),
                "{when}: attribution of {key} over {period:?}: {got:?}, by the definition {want:?}"
            );
        }
    }
}

/// Two attributions alike but for the rounding of adding in another order.
fn same_attribution(a: &Attribution, b: &Attribution) -> bool {
    let near = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    };
    a.journeys_through == b.journeys_through
        && near(a.value_through, b.value_through)
        && near(a.attributed_value_linear, b.attributed_value_linear)
        && near(a.removal_effect, b.removal_effect)
        && near(a.attributed_value_markov, b.attributed_value_markov)
}

pub async fn journeys_kept_ahead_follow_late_released_events_and_gap_changes(
    backend: &dyn Backend,
) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    // Approved, not live: its events are held until it goes live.
    let olga = propose_and_approve(store, "app.order").await;
    let mut rng = Rng(0x7475_6368);
    let mut kept = BTreeMap::new();

    check(store, &[], "with no events").await;
    for round in 0..3 {
        let when = format!("after batch {round}");
        send_and_check(store, &mut rng, &mut kept, round * 40, false, &when).await;
    }
    // Held events released after the catch-up has passed them, and some not yet caught up.
    let late = random_events(&mut rng, 120, 30);
    send(store, &mut rng, &late, &mut kept).await;
    inventory::go_live(store, &olga, "app.order").await.unwrap();
    check(store, &counted(&kept, true), "after the release").await;
    for round in 0..2 {
        let when = format!("after late batch {round}");
        send_and_check(store, &mut rng, &mut kept, 150 + round * 40, true, &when).await;
    }
    // Another gap cuts other journeys; events that arrive meanwhile join them; and back.
    for (gap_s, round) in [("86400", 0), ("2592000", 1)] {
        settings::set(store, &admin(), "journeys.journey_gap_s", gap_s)
            .await
            .unwrap();
        check(
            store,
            &counted(&kept, true),
            &format!("with a gap of {gap_s} s"),
        )
        .await;
        let when = format!("after a batch with a gap of {gap_s} s");
        send_and_check(store, &mut rng, &mut kept, 230 + round * 40, true, &when).await;
    }
    // Events after every one held, within the gap of the last (as a catch-up in `seq` order
    // meets them): cut onto each party's last journey, and some begin new ones.
    for round in 0..3 {
        let latest = kept.values().map(|e| e.at).max().unwrap_or(FROM);
        let events: Vec<Event> = random_events(&mut rng, 310 + round * 40, 40)
            .into_iter()
            .enumerate()
            .map(|(i, e)| Event {
                // An hour apart, a few 40 days apart (over the gap).
                at: latest + (i as i64 + 1) * 3_600_000_000 + (i as i64 / 15) * 40 * DAY_US,
                ..e
            })
            .collect();
        send(store, &mut rng, &events, &mut kept).await;
        let when = format!("after events that all come after the held ones, round {round}");
        check(store, &counted(&kept, true), &when).await;
    }
}

/// The counted events of `kept`: `app.order`'s only once `released`.
fn counted(kept: &BTreeMap<String, Event>, released: bool) -> Vec<Event> {
    kept.values()
        .filter(|e| released || e.point != "app.order")
        .cloned()
        .collect()
}

/// Sends 40 random events from id number `first` on, then checks the journeys.
async fn send_and_check(
    store: &dyn Store,
    rng: &mut Rng,
    kept: &mut BTreeMap<String, Event>,
    first: usize,
    released: bool,
    when: &str,
) {
    let events = random_events(rng, first, 40);
    send(store, rng, &events, kept).await;
    check(store, &counted(kept, released), when).await;
}

/// A point declared `journeys: false` takes no part in journeys: its events neither join nor
/// bridge them, and declaring it so, or back, cuts every journey again, with events arriving
/// in between.
pub async fn points_outside_journeys_take_no_part_and_changing_it_cuts_again(
    backend: &dyn Backend,
) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let olga = propose_and_approve(store, "app.order").await;
    inventory::go_live(store, &olga, "app.order").await.unwrap();
    let mut rng = Rng(0x6f75_7473);
    let mut kept = BTreeMap::new();
    send_and_check(
        store,
        &mut rng,
        &mut kept,
        0,
        true,
        "all points in journeys",
    )
    .await;
    for (round, outside) in [(1, false), (2, true), (3, false)] {
        let mut point = inventory::get(store)
            .await
            .unwrap()
            .value
            .point("workshop.booking")
            .unwrap()
            .clone();
        point.journeys = !outside;
        inventory::put_point(store, &admin(), point).await.unwrap();
        let inventory = inventory::get(store).await.unwrap().value;
        assert_eq!(inventory.outside_journeys().len(), usize::from(outside));
        let when = format!("workshop.booking outside journeys: {outside}");
        check(store, &counted(&kept, true), &when).await;
        let summary = measure::journeys(store, &inventory, &all()).await.unwrap();
        let names_it = summary
            .edges
            .iter()
            .any(|e| e.from.as_str() == "workshop.booking" || e.to.as_str() == "workshop.booking");
        assert_eq!(names_it, !outside, "{when}: its edges");
        // Events arriving while it is outside (or back in) join the journeys as the cut says.
        send_and_check(store, &mut rng, &mut kept, 40 * round, true, &when).await;
    }
}

/// Every journey on record.
fn all() -> JourneyQuery {
    JourneyQuery {
        period: Period::new(FROM - DAY_US, FROM + 401 * DAY_US).unwrap(),
        party_type: None,
        start: None,
        top: None,
    }
}
